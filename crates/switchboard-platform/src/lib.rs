//! One way to start a service. Every service (gateway, worker, triggers) and `switchboard dev`
//! starts the same way:
//!
//! 1. [`ServiceArgs`] reads the configuration (defaults → `--config` file → `SWITCHBOARD_*`
//!    environment → `--set` flags) — the same flags for every binary;
//! 2. [`Platform::connect`] loads the catalog, connects to Redis and NATS (with their TLS
//!    settings), sets up the streams and builds the sealer — once per process, so
//!    `switchboard dev` shares one catalog, one Redis pool and one NATS connection between the
//!    three services it runs;
//! 3. the service's `run(platform, listeners, shutdown)` serves until [`shutdown::on_signals`]
//!    (or a test) cancels `shutdown`, then drains within the grace period ([`shutdown::drain`]).

pub mod args;
pub mod catalogs;
pub mod shutdown;
#[cfg(feature = "test-support")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use switchboard_bus::{Bus, BusError};
use switchboard_catalog::{Catalog, CatalogError, LoadOptions};
use switchboard_config::Config;
use switchboard_crypto::Sealer;
use switchboard_store::Store;

pub use args::ServiceArgs;

/// How long a service keeps trying to reach NATS at start.
const NATS_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// A toolkit file is malformed (the error names the file, the tool and the problem).
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("redis: cannot connect to {url}: {source}")]
    Redis {
        /// The configured URL without its password.
        url: String,
        source: switchboard_core::Error,
    },
    #[error("nats: {0}")]
    Bus(#[from] BusError),
    #[error("crypto: {0} (set crypto.keys and crypto.current_key)")]
    Crypto(#[from] switchboard_crypto::CryptoError),
    #[error("oauth: {0}")]
    OAuth(#[from] switchboard_oauth::OAuthError),
}

/// The handles every service shares: cheap to clone (each is a handle onto a shared pool or an
/// `Arc`), built once per process by [`Platform::connect`].
#[derive(Clone)]
pub struct Platform {
    pub config: Arc<Config>,
    pub catalog: Arc<Catalog>,
    pub store: Store,
    pub bus: Bus,
    pub sealer: Sealer,
    /// The time expiry is decided by: the wall clock, or a test's adjustable one.
    pub clock: switchboard_core::time::Clock,
    /// Each project's view of the catalog (its custom toolkits over `catalog`).
    pub catalogs: Arc<catalogs::Catalogs>,
}

impl Platform {
    /// Loads the catalog (first: a broken toolkit file fails before anything connects),
    /// builds the sealer, connects to Redis and NATS and sets up the streams.
    pub async fn connect(config: Config) -> Result<Platform, PlatformError> {
        let catalog = Arc::new(load_catalog(&config)?);
        let sealer = Sealer::new(&config.crypto.keys, &config.crypto.current_key)?;
        let store =
            Store::from_config(&config.redis)
                .await
                .map_err(|source| PlatformError::Redis {
                    url: redact_url(&config.redis.url),
                    source,
                })?;
        let bus = Bus::from_config(&config.nats, NATS_CONNECT_TIMEOUT).await?;
        switchboard_bus::with_retries("setting up the streams", || {
            bus.ensure_streams(config.executions.max_queued_jobs, config.nats.replicas)
        })
        .await?;
        let catalogs = Arc::new(catalogs::Catalogs::new(
            Arc::clone(&catalog),
            store.clone(),
            Duration::from_millis(config.catalog.custom_toolkits_recheck_ms),
        ));
        Ok(Platform {
            config: Arc::new(config),
            catalogs,
            catalog,
            store,
            bus,
            sealer,
            clock: switchboard_core::time::Clock::system(),
        })
    }

    /// The same platform deciding expiry by `clock` (tests advance it instead of sleeping).
    pub fn with_clock(mut self, clock: switchboard_core::time::Clock) -> Platform {
        self.clock = clock;
        self
    }

    /// The OAuth client (flows, refresh, revocation) with `redirect_uri` as its callback: the
    /// gateway's public `/oauth/callback`, or empty where no flow starts (triggers).
    pub fn oauth(&self, redirect_uri: String) -> Result<switchboard_oauth::OAuth, PlatformError> {
        switchboard_oauth::OAuth::new(
            self.config.oauth.clone(),
            Arc::clone(&self.catalog),
            self.store.clone(),
            self.sealer.clone(),
            self.bus.clone(),
            redirect_uri,
        )
        .map_err(PlatformError::OAuth)
    }

    /// The grace period a stopping service gives the work in flight (`shutdown_grace_secs`).
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.config.shutdown_grace_secs)
    }
}

/// Loads the catalog the config names; a malformed toolkit file is an error naming the file,
/// the tool and the problem.
pub fn load_catalog(config: &Config) -> Result<Catalog, CatalogError> {
    let options = LoadOptions {
        base_url_overrides: config.catalog.base_urls.clone(),
    };
    Catalog::load_dir(std::path::Path::new(&config.catalog.dir), &options)
}

/// A URL without its user-info part, so a password in it never reaches an error or a log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_redacted() {
        assert_eq!(
            redact_url("redis://:hunter2@redis.internal:6379"),
            "redis://***@redis.internal:6379"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
