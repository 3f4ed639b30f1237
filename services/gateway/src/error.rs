//! Why the gateway could not start or serve.

/// A start-up or serving failure.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("failed to bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] switchboard_catalog::CatalogError),
    /// A setting that is unusable as it stands, e.g. a TLS file that cannot be read.
    #[error(transparent)]
    Config(#[from] switchboard_config::ConfigError),
    #[error("redis: {0}")]
    Redis(String),
    #[error(transparent)]
    Bus(#[from] switchboard_bus::BusError),
    #[error("crypto: {0} (set crypto.keys and crypto.current_key)")]
    Crypto(String),
    #[error("reflection: {0}")]
    Reflection(String),
    #[error("server: {0}")]
    Serve(String),
}
