//! The HTTP side: `/healthz` (the process is up), `/readyz` (NATS and Redis answer now),
//! `/metrics` (Prometheus), and the Connect Link pages and OAuth callback (`links.rs`).
//!
//! `/metrics` is public like `/healthz`: keep it off the public ingress, or let only the
//! scraper reach it (a NetworkPolicy), since it shows traffic per toolkit and tool.

pub mod links;

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

pub fn router(state: AppState, shutdown: tokio_util::sync::CancellationToken) -> Router {
    Router::new()
        .merge(crate::mcp::router(state.clone(), shutdown))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(switchboard_metrics::handler))
        .route(
            "/connect/{token}",
            get(links::open_link).post(links::submit_form),
        )
        .route("/oauth/callback", get(links::oauth_callback))
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let (redis, nats) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(2), state.store.ping()),
        state.bus.ping(Duration::from_secs(2)),
    );
    let redis = matches!(redis, Ok(true));
    let code = if redis && nats {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({"ready": redis && nats, "redis": redis, "nats": nats})),
    )
}
