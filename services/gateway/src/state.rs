//! What every request handler shares.

use std::sync::Arc;

use switchboard_bus::Bus;
use switchboard_catalog::meta::MetaTools;
use switchboard_catalog::Catalog;
use switchboard_config::Config;
use switchboard_crypto::Sealer;
use switchboard_store::Store;

/// Shared, cheaply cloned gateway state.
#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

pub struct Inner {
    pub config: Arc<Config>,
    /// The built-in catalog (trigger types; a project's view is `catalogs`).
    pub catalog: Arc<Catalog>,
    /// Each project's view of the catalog: its custom toolkits over the built-in ones.
    pub catalogs: Arc<switchboard_platform::catalogs::Catalogs>,
    /// The meta tools under the configured prefix, built once.
    pub meta: MetaTools,
    pub store: Store,
    pub bus: Bus,
    /// Seals credentials before they are stored.
    pub sealer: Sealer,
    /// Routes worker replies to waiting sync calls.
    pub results: crate::app::results::Results,
    /// Public base URL of the HTTP side, without a trailing slash.
    pub public_url: String,
    /// OAuth flows, refresh and revocation.
    pub oauth: switchboard_oauth::OAuth,
    /// Cancelled when the gateway stops: long-lived streams end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The sessions ExecuteTool last read (confirmed whenever one is used).
    pub sessions: crate::app::session_cache::SessionCache,
    /// The time expiry is decided by (the platform's).
    pub clock: switchboard_core::time::Clock,
    /// Calls to providers the gateway makes itself (webhook registration at GitHub).
    pub provider_http: reqwest::Client,
}

impl AppState {
    /// The state for one gateway on `platform`'s shared handles.
    pub fn new(
        platform: &switchboard_platform::Platform,
        results: crate::app::results::Results,
        public_url: String,
        oauth: switchboard_oauth::OAuth,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                meta: MetaTools::new(&platform.config.sessions.meta_tool_prefix),
                config: Arc::clone(&platform.config),
                catalog: Arc::clone(&platform.catalog),
                catalogs: Arc::clone(&platform.catalogs),
                store: platform.store.clone(),
                bus: platform.bus.clone(),
                sealer: platform.sealer.clone(),
                results,
                public_url,
                oauth,
                shutdown,
                sessions: Default::default(),
                clock: platform.clock.clone(),
                provider_http: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(15))
                    .build()
                    .unwrap_or_default(),
            }),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}
