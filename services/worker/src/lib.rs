//! The worker: pulls execution jobs from `<prefix>_JOBS` through the one durable consumer all
//! workers share, runs each against the toolkit's API with the account's credential, stores the
//! result, replies to the waiting gateway, then acknowledges the job. Any number of replicas
//! may run; none holds state of its own.
//!
//! SIGTERM: stop fetching, finish and acknowledge what is in flight (within the grace period),
//! exit. Jobs fetched but not started are left unacknowledged and go to another worker.

mod job;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use switchboard_bus::{Bus, BusError};
use switchboard_config::Config;
use switchboard_crypto::Sealer;
use switchboard_platform::Platform;
use switchboard_store::Store;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Loading the catalog, connecting to Redis or NATS, or the sealing keys failed.
    #[error(transparent)]
    Platform(#[from] switchboard_platform::PlatformError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("http client: {0}")]
    Http(String),
    #[error("nats: {0}")]
    Consume(String),
    #[error("metrics listener {addr}: {source}")]
    Metrics {
        addr: String,
        source: std::io::Error,
    },
}

/// What every job handler shares.
pub(crate) struct Context {
    pub config: Arc<Config>,
    /// Each project's view of the catalog (its custom toolkits over the built-in ones).
    pub catalogs: Arc<switchboard_platform::catalogs::Catalogs>,
    pub store: Store,
    pub bus: Bus,
    pub sealer: Sealer,
    pub http: reqwest::Client,
    /// Refreshes OAuth tokens (one refresh at a time per account across replicas).
    pub oauth: switchboard_oauth::OAuth,
    pub worker_id: String,
}

/// The worker's listener: `/metrics` and `/healthz` on `worker.metrics_addr`, when set.
pub struct Listeners {
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds `worker.metrics_addr` (port 0 picks a free port), if set.
    pub async fn bind(config: &Config) -> Result<Listeners, WorkerError> {
        let metrics = match &config.worker.metrics_addr {
            Some(addr) => {
                Some(
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| WorkerError::Metrics {
                            addr: addr.clone(),
                            source,
                        })?,
                )
            }
            None => None,
        };
        Ok(Listeners { metrics })
    }

    /// None: no metrics listener.
    pub fn none() -> Listeners {
        Listeners { metrics: None }
    }
}

/// Runs the worker on `platform` until `shutdown` is cancelled, then lets the jobs in flight
/// finish within the grace period.
pub async fn run(
    platform: Platform,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    let config = Arc::clone(&platform.config);
    let bus = platform.bus.clone();
    let concurrency = config.worker.concurrency;
    let consumer = switchboard_bus::with_retries("setting up the job consumer", || {
        bus.jobs_consumer(
            Duration::from_secs(config.worker.ack_wait_secs),
            config.worker.max_deliver,
            // Room for every worker replica's in-flight jobs.
            i64::try_from(concurrency * 64).unwrap_or(i64::MAX),
        )
    })
    .await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| WorkerError::Http(e.to_string()))?;
    let grace = platform.grace();
    let callback = config
        .gateway
        .public_url
        .as_deref()
        .map(|u| format!("{}/oauth/callback", u.trim_end_matches('/')))
        .unwrap_or_default();
    let oauth = platform.oauth(callback)?;
    let context = Arc::new(Context {
        config,
        catalogs: Arc::clone(&platform.catalogs),
        store: platform.store.clone(),
        bus,
        sealer: platform.sealer.clone(),
        http,
        oauth,
        worker_id: ulid::Ulid::new().to_string().to_lowercase(),
    });
    tokio::spawn(Arc::clone(&platform.catalogs).listen(platform.bus.clone(), shutdown.clone()));
    // Metrics and the backlog refresher stop with the worker, however it stops.
    let metrics_stop = shutdown.child_token();
    if let Some(listener) = listeners.metrics {
        serve_metrics(listener, metrics_stop.clone())?;
    }
    tokio::spawn(refresh_backlog(consumer.clone(), metrics_stop.clone()));
    tracing::info!(worker_id = %context.worker_id, concurrency, "worker pulling jobs");

    let mut messages = consumer
        .deliveries(concurrency)
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
    // After a shutdown the jobs in flight get the grace period; after the job stream ended
    // on its own, they run to their end (each is bounded by its own timeout).
    match switchboard_platform::shutdown::drain(&shutdown, grace, permits.acquire_many(all)).await {
        Some(_) => tracing::info!("worker stopped; every job in flight finished"),
        None => {
            tracing::warn!("grace period over with jobs still running; they will be redelivered")
        }
    }
    if let Err(e) = platform.bus.flush().await {
        tracing::warn!(error = %e, "could not flush the last acknowledgements to NATS");
    }
    metrics_stop.cancel();
    Ok(())
}

/// Serves `/metrics` and `/healthz` on `listener` until `stop`; the address it serves.
fn serve_metrics(
    listener: TcpListener,
    stop: CancellationToken,
) -> Result<std::net::SocketAddr, WorkerError> {
    let bound = listener
        .local_addr()
        .map_err(|source| WorkerError::Metrics {
            addr: "the metrics listener".into(),
            source,
        })?;
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(switchboard_metrics::handler))
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    });
    tracing::info!(addr = %bound, "serving metrics");
    Ok(bound)
}

/// Keeps `switchboard_job_backlog` current: every replica reads the one shared consumer, so
/// each reports the same figure (aggregate with `max`, not `sum`).
async fn refresh_backlog(mut consumer: switchboard_bus::Consumer, stop: CancellationToken) {
    loop {
        match consumer.backlog().await {
            Some(backlog) => switchboard_metrics::set_job_backlog(backlog),
            None => tracing::debug!("job consumer info unavailable"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn metrics_are_served_on_the_configured_address() {
        let stop = CancellationToken::new();
        let config = Config {
            worker: switchboard_config::WorkerConfig {
                metrics_addr: Some("127.0.0.1:0".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let listeners = Listeners::bind(&config).await.unwrap();
        let addr = serve_metrics(listeners.metrics.unwrap(), stop.clone()).unwrap();
        switchboard_metrics::job_redelivered();
        let response = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            switchboard_metrics::CONTENT_TYPE
        );
        let text = response.text().await.unwrap();
        assert!(
            text.contains("switchboard_job_redeliveries_total "),
            "{text}"
        );
        let health = reqwest::get(format!("http://{addr}/healthz"))
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        stop.cancel();
    }

    #[tokio::test]
    async fn a_bad_metrics_address_stops_the_start() {
        let config = Config {
            worker: switchboard_config::WorkerConfig {
                metrics_addr: Some("not an address".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let err = Listeners::bind(&config).await.err().unwrap();
        assert!(matches!(err, WorkerError::Metrics { .. }), "{err}");
        assert!(err.to_string().contains("not an address"), "{err}");
    }
}
