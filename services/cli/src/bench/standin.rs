//! A stand-in for the provider that answers at once: `POST /repos/{owner}/{repo}/issues` gets
//! 201 and a small JSON document, whoever calls it (the worker, or the bench's direct calls);
//! `POST /repos/{owner}/{repo}/hooks` registers a repository hook and keeps its URL and secret
//! for the bench to sign deliveries with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use tokio_util::sync::CancellationToken;

/// The running stand-in.
pub struct StandIn {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    hits: Arc<AtomicU64>,
    hook: Hook,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn create_issue(
    State(hits): State<Arc<AtomicU64>>,
    _body: axum::body::Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    hits.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::CREATED,
        Json(serde_json::json!({"number": 1, "state": "open"})),
    )
}

/// The last registered hook: (url, secret).
type Hook = Arc<std::sync::Mutex<Option<(String, String)>>>;

async fn create_hook(
    State(hook): State<Hook>,
    Json(body): Json<serde_json::Value>,
) -> (StatusCode, Json<serde_json::Value>) {
    let url = body["config"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let secret = body["config"]["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if let Ok(mut h) = hook.lock() {
        *h = Some((url, secret));
    }
    (
        StatusCode::CREATED,
        Json(serde_json::json!({"id": 1, "active": true})),
    )
}

impl StandIn {
    /// The registered hook's URL and secret.
    pub fn hook(&self) -> Option<(String, String)> {
        self.hook.lock().ok().and_then(|h| h.clone())
    }

    /// Listens on a free loopback port.
    pub async fn start() -> anyhow::Result<StandIn> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("failed to bind the provider stand-in")?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(AtomicU64::new(0));
        let hook: Hook = Arc::default();
        let app = Router::new()
            .route("/repos/{owner}/{repo}/issues", post(create_issue))
            .with_state(Arc::clone(&hits))
            .merge(
                Router::new()
                    .route("/repos/{owner}/{repo}/hooks", post(create_hook))
                    .with_state(Arc::clone(&hook)),
            );
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                eprintln!("provider stand-in stopped: {e}");
            }
        });
        Ok(StandIn {
            url: format!("http://{addr}"),
            hits,
            hook,
            shutdown,
            task,
        })
    }

    /// Requests answered so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        // Keep-alive connections from the direct client may hold it open; don't wait long.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.task).await;
    }
}
