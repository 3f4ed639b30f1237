//! The triggers service: turns what happens in a user's accounts into events for that one
//! connected account on `<prefix>_EVENTS`, and delivers the project's events to its signed
//! webhook subscriptions. Any number of replicas may run:
//!
//! - **webhook intake** (`intake`): GitHub and Slack deliveries, signature checked first,
//!   de-duplicated by the provider's delivery id, routed to every matching trigger, answered
//!   2xx only once every event is acknowledged by the stream;
//! - **polling** (`poll`): a lease per trigger in Redis, so one listener polls it at a time
//!   and another takes over within one lease period when it dies; the cursor moves only after
//!   the events are published;
//! - **outgoing webhooks** (`dispatch`): Standard Webhooks signatures, retries with backoff,
//!   a subscription disabled (with an event) after repeated failures.

mod dispatch;
mod intake;
mod poll;

use std::sync::Arc;
use std::time::Duration;

use switchboard_bus::events::Envelope;
use switchboard_bus::{Bus, BusError};
use switchboard_catalog::{Catalog, LoadOptions};
use switchboard_config::Config;
use switchboard_crypto::Sealer;
use switchboard_proto::v1::Trigger;
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why the triggers service stopped.
#[derive(Debug, thiserror::Error)]
pub enum TriggersError {
    #[error("nats: {0}")]
    Bus(#[from] BusError),
    #[error(transparent)]
    Catalog(#[from] switchboard_catalog::CatalogError),
    #[error("redis: {0}")]
    Redis(String),
    #[error("crypto: {0} (set crypto.keys and crypto.current_key)")]
    Crypto(String),
    #[error("failed to listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Serve(String),
}

/// What every part shares.
pub(crate) struct Context {
    pub config: Config,
    pub catalog: Arc<Catalog>,
    pub store: Store,
    pub bus: Bus,
    pub sealer: Sealer,
    pub oauth: switchboard_oauth::OAuth,
    pub http: reqwest::Client,
    /// Names this replica in poll leases.
    pub id: String,
}

impl Context {
    /// Publishes an event and waits for the stream to acknowledge it.
    pub async fn publish(&self, event: &Envelope) -> Result<(), String> {
        self.bus
            .publish_envelope(event)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Stops a trigger whose account can no longer be used, saying why with
    /// `trigger.disabled`.
    pub async fn stop_trigger(
        &self,
        project: &str,
        trigger: &Trigger,
        auth_config_id: &str,
        reason: &str,
    ) {
        let mut stopped = trigger.clone();
        stopped.enabled = false;
        stopped.status_reason = reason.to_owned();
        stopped.update_time = Some(prost_types::Timestamp::from(std::time::SystemTime::now()));
        if self.store.put_trigger(project, &stopped).await.is_err() {
            return;
        }
        let _ = self.store.unschedule_poll(project, &trigger.id).await;
        let event =
            switchboard_bus::events::trigger_disabled(project, &stopped, auth_config_id, reason);
        if let Err(e) = self.publish(&event).await {
            tracing::warn!(trigger_id = %trigger.id, error = %e, "could not publish trigger.disabled");
        }
        tracing::info!(project_id = project, trigger_id = %trigger.id, reason, "trigger stopped");
    }

    /// The auth config id of a trigger's account and whether the account is ACTIVE; stops the
    /// trigger when it is not (expired, disabled or deleted).
    pub async fn usable_account(&self, project: &str, trigger: &Trigger) -> Option<String> {
        match self
            .store
            .get_account(project, &trigger.connected_account_id)
            .await
        {
            Ok(stored) if stored.account.status == switchboard_core::accounts::ACTIVE => {
                Some(stored.account.auth_config_id)
            }
            Ok(stored) => {
                let reason = format!(
                    "its connected account {} is {}",
                    stored.account.id, stored.account.status
                );
                self.stop_trigger(project, trigger, &stored.account.auth_config_id, &reason)
                    .await;
                None
            }
            Err(switchboard_core::Error::NotFound { .. }) => {
                let reason = format!(
                    "its connected account {} was deleted",
                    trigger.connected_account_id
                );
                self.stop_trigger(project, trigger, "", &reason).await;
                None
            }
            Err(e) => {
                tracing::warn!(trigger_id = %trigger.id, error = %e, "could not read a trigger's account");
                None
            }
        }
    }
}

/// Binds `triggers.http_addr` and runs until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), TriggersError> {
    let listener = TcpListener::bind(&config.triggers.http_addr)
        .await
        .map_err(|source| TriggersError::Bind {
            addr: config.triggers.http_addr.clone(),
            source,
        })?;
    run_with_listener(config, listener, shutdown).await
}

/// Runs with an already bound webhook listener (tests bind port 0 first).
pub async fn run_with_listener(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), TriggersError> {
    let catalog = Arc::new(Catalog::load_dir(
        std::path::Path::new(&config.catalog.dir),
        &LoadOptions {
            base_url_overrides: config.catalog.base_urls.clone(),
        },
    )?);
    let store = Store::from_config(&config.redis)
        .await
        .map_err(|e| TriggersError::Redis(e.to_string()))?;
    let sealer = Sealer::new(&config.crypto.keys, &config.crypto.current_key)
        .map_err(|e| TriggersError::Crypto(e.to_string()))?;
    let bus = Bus::from_config(&config.nats, Duration::from_secs(10)).await?;
    switchboard_bus::with_retries("setting up the streams", || {
        bus.ensure_streams(config.executions.max_queued_jobs, config.nats.replicas)
    })
    .await?;
    let oauth = switchboard_oauth::OAuth::new(
        config.oauth.clone(),
        Arc::clone(&catalog),
        store.clone(),
        sealer.clone(),
        bus.clone(),
        String::new(),
    )
    .map_err(TriggersError::Serve)?;
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(|e| TriggersError::Serve(e.to_string()))?;
    let context = Arc::new(Context {
        config,
        catalog,
        store,
        bus,
        sealer,
        oauth,
        http,
        id: ulid::Ulid::new().to_string().to_lowercase(),
    });
    let addr = listener.local_addr().ok();
    tracing::info!(http = ?addr, replica = %context.id, "triggers service listening");
    let app = intake::router(Arc::clone(&context));
    let serve_shutdown = shutdown.clone();
    let server = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { serve_shutdown.cancelled().await })
            .await
            .map_err(|e| TriggersError::Serve(e.to_string()))
    };
    let polling = poll::run(Arc::clone(&context), shutdown.clone());
    let dispatching = dispatch::run(Arc::clone(&context), shutdown.clone());
    let (served, polled, dispatched) = tokio::join!(server, polling, dispatching);
    served?;
    polled?;
    dispatched?;
    tracing::info!("triggers service stopped");
    Ok(())
}
