//! Why the gateway could not start or serve.

/// A start-up or serving failure.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("failed to bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    /// Loading the catalog, connecting to Redis or NATS, or the sealing keys failed.
    #[error(transparent)]
    Platform(#[from] switchboard_platform::PlatformError),
    /// A setting that is unusable as it stands, e.g. a TLS file that cannot be read.
    #[error(transparent)]
    Config(#[from] switchboard_config::ConfigError),
    #[error("reflection: {0}")]
    Reflection(String),
    #[error("server: {0}")]
    Serve(String),
}
