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

use switchboard_bus::events::Envelope;
use switchboard_bus::{Bus, BusError};
use switchboard_catalog::Catalog;
use switchboard_config::Config;
use switchboard_crypto::Sealer;
use switchboard_platform::Platform;
use switchboard_proto::v1::Trigger;
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why the triggers service stopped.
#[derive(Debug, thiserror::Error)]
pub enum TriggersError {
    /// Loading the catalog, connecting to Redis or NATS, or the sealing keys failed.
    #[error(transparent)]
    Platform(#[from] switchboard_platform::PlatformError),
    #[error("nats: {0}")]
    Bus(#[from] BusError),
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
    pub config: Arc<Config>,
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
        self.bus
            .announce_triggers_stopped(project, &[stopped], auth_config_id, reason)
            .await;
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

/// The triggers service's listener: provider webhook deliveries on `triggers.http_addr`.
pub struct Listeners {
    pub http: TcpListener,
}

impl Listeners {
    /// Binds `triggers.http_addr` (port 0 picks a free port).
    pub async fn bind(config: &Config) -> Result<Listeners, TriggersError> {
        let http = TcpListener::bind(&config.triggers.http_addr)
            .await
            .map_err(|source| TriggersError::Bind {
                addr: config.triggers.http_addr.clone(),
                source,
            })?;
        Ok(Listeners { http })
    }
}

/// Runs the triggers service on `platform` until `shutdown` is cancelled, then drains:
/// the webhook listener stops accepting, and deliveries, polls and outgoing webhooks in flight
/// finish within the grace period.
pub async fn run(
    platform: Platform,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), TriggersError> {
    let oauth = platform.oauth(String::new())?;
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(|e| TriggersError::Serve(e.to_string()))?;
    let grace = platform.grace();
    let context = Arc::new(Context {
        config: Arc::clone(&platform.config),
        catalog: Arc::clone(&platform.catalog),
        store: platform.store.clone(),
        bus: platform.bus.clone(),
        sealer: platform.sealer.clone(),
        oauth,
        http,
        id: ulid::Ulid::new().to_string().to_lowercase(),
    });
    let listener = listeners.http;
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
    let all = async { tokio::join!(server, polling, dispatching) };
    match switchboard_platform::shutdown::drain(&shutdown, grace, all).await {
        Some((served, polled, dispatched)) => {
            served?;
            polled?;
            dispatched?;
            tracing::info!("triggers service stopped");
        }
        None => tracing::warn!(
            grace_secs = grace.as_secs(),
            "grace period over; stopping with work still in flight"
        ),
    }
    if let Err(e) = context.bus.flush().await {
        tracing::warn!(error = %e, "could not flush the last acknowledgements to NATS");
    }
    Ok(())
}
