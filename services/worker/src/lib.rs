//! The worker: pulls execution jobs from `<prefix>_JOBS` through the one durable consumer all
//! workers share, runs each against the toolkit's API with the account's credential, stores the
//! result, replies to the waiting gateway, then acknowledges the job. Any number of replicas
//! may run; none holds state of its own.
//!
//! SIGTERM: stop fetching, finish and acknowledge what is in flight (within the grace period),
//! exit. Jobs fetched but not started are left unacknowledged and go to another worker.

mod job;
pub mod provider;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use switchboard_bus::{Bus, BusError, Names};
use switchboard_catalog::{Catalog, LoadOptions};
use switchboard_config::Config;
use switchboard_crypto::Sealer;
use switchboard_store::Store;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Catalog(#[from] switchboard_catalog::CatalogError),
    #[error("redis: {0}")]
    Redis(String),
    #[error("crypto: {0} (set crypto.keys and crypto.current_key)")]
    Crypto(String),
    #[error("http client: {0}")]
    Http(String),
    #[error("nats: {0}")]
    Consume(String),
}

/// What every job handler shares.
pub(crate) struct Context {
    pub config: Config,
    pub catalog: Arc<Catalog>,
    pub store: Store,
    pub bus: Bus,
    pub sealer: Sealer,
    pub http: reqwest::Client,
    /// Refreshes OAuth tokens (one refresh at a time per account across replicas).
    pub oauth: switchboard_oauth::OAuth,
    pub worker_id: String,
}

/// Runs the worker until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), WorkerError> {
    let catalog = Catalog::load_dir(
        std::path::Path::new(&config.catalog.dir),
        &LoadOptions {
            base_url_overrides: config.catalog.base_urls.clone(),
        },
    )?;
    let store = Store::connect(&config.redis.url, &config.redis.key_prefix)
        .await
        .map_err(|e| WorkerError::Redis(e.to_string()))?;
    let sealer = Sealer::new(&config.crypto.keys, &config.crypto.current_key)
        .map_err(|e| WorkerError::Crypto(e.to_string()))?;
    let names = Names {
        stream_prefix: config.nats.stream_prefix.clone(),
        subject_prefix: config.nats.subject_prefix.clone(),
    };
    let bus = Bus::connect(&config.nats.url, names, Duration::from_secs(10)).await?;
    bus.ensure_streams(config.executions.max_queued_jobs)
        .await?;
    let concurrency = config.worker.concurrency;
    let consumer = bus
        .jobs_consumer(
            Duration::from_secs(config.worker.ack_wait_secs),
            config.worker.max_deliver,
            // Room for every worker replica's in-flight jobs.
            i64::try_from(concurrency * 64).unwrap_or(i64::MAX),
        )
        .await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| WorkerError::Http(e.to_string()))?;
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let catalog = Arc::new(catalog);
    let callback = config
        .gateway
        .public_url
        .as_deref()
        .map(|u| format!("{}/oauth/callback", u.trim_end_matches('/')))
        .unwrap_or_default();
    let oauth = switchboard_oauth::OAuth::new(
        config.oauth.clone(),
        Arc::clone(&catalog),
        store.clone(),
        sealer.clone(),
        bus.clone(),
        callback,
    )
    .map_err(WorkerError::Http)?;
    let context = Arc::new(Context {
        config,
        catalog,
        store,
        bus,
        sealer,
        http,
        oauth,
        worker_id: ulid::Ulid::new().to_string().to_lowercase(),
    });
    tracing::info!(worker_id = %context.worker_id, concurrency, "worker pulling jobs");

    let mut messages = consumer
        .stream()
        .max_messages_per_batch(concurrency)
        .messages()
        .await
        .map_err(|e| WorkerError::Consume(e.to_string()))?;
    let permits = Arc::new(Semaphore::new(concurrency));
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            m = messages.next() => m,
        };
        match message {
            Some(Ok(message)) => {
                let context = Arc::clone(&context);
                tokio::spawn(async move {
                    job::handle(&context, message).await;
                    drop(permit);
                });
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "failed to pull jobs; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None => {
                tracing::warn!("the job stream ended; stopping");
                break;
            }
        }
    }
    // Stop fetching, then wait for the jobs in flight.
    drop(messages);
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    match tokio::time::timeout(grace, permits.acquire_many(all)).await {
        Ok(_) => tracing::info!("worker stopped; every job in flight finished"),
        Err(_) => {
            tracing::warn!("grace period over with jobs still running; they will be redelivered")
        }
    }
    Ok(())
}
