//! The HTTP side: `/healthz` (the process is up) and `/readyz` (NATS and Redis answer now).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
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
