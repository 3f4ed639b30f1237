//! The triggers service: webhook intake and polling listeners that publish events for one
//! connected account onto `<prefix>_EVENTS`.
//!
//! Listeners arrive with the triggers issue; today the service joins the bus, makes sure the
//! streams exist, and stops on shutdown, so `switchboard dev` already runs it in its place.

use std::time::Duration;

use switchboard_bus::{Bus, BusError, Names};
use switchboard_config::Config;
use tokio_util::sync::CancellationToken;

/// Why the triggers service stopped.
#[derive(Debug, thiserror::Error)]
pub enum TriggersError {
    #[error("nats: {0}")]
    Bus(#[from] BusError),
}

/// Runs the triggers service until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), TriggersError> {
    let names = Names {
        stream_prefix: config.nats.stream_prefix.clone(),
        subject_prefix: config.nats.subject_prefix.clone(),
    };
    let bus = Bus::connect(&config.nats.url, names, Duration::from_secs(10)).await?;
    bus.ensure_streams(config.executions.max_queued_jobs)
        .await?;
    tracing::info!(stream = %bus.names.events_stream(), "triggers service joined the bus");
    shutdown.cancelled().await;
    tracing::info!("triggers service stopped");
    Ok(())
}
