//! Provider webhook intake: `POST /webhooks/github/{project}/{route}` (a repository hook the
//! platform registered, `X-Hub-Signature-256` with the hook's own secret) and
//! `POST /webhooks/slack/{project}` (the Events API, `v0` signature with the Slack app's signing
//! secret and a 5-minute timestamp window; the `url_verification` challenge answered). The
//! signature is checked before anything else (by `switchboard_provider`'s `github` and `slack`
//! modules): a forged or stale one is 401 and nothing is published. A delivery is taken once (by its delivery id), routed to every matching enabled
//! trigger, and answered 2xx only after every event is acknowledged by the stream, and only then
//! recorded as received; when a publish fails the delivery id is released, and when the intake
//! stops mid-way its hold lapses after a few seconds, so the provider's retry goes through.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchboard_bus::events::{envelope, trigger_metadata, Envelope, TRIGGER_MESSAGE};
use switchboard_core::ids::is_id;
use switchboard_proto::v1::Trigger;
use switchboard_provider::{github, slack};
use switchboard_store::DeliveryClaim;

use crate::Context;

/// How long a delivery id is remembered.
const DEDUP_WINDOW: Duration = Duration::from_secs(72 * 3600);
/// How long a delivery is held by the intake publishing it; if that intake stops, a retry after
/// this goes through.
const IN_HAND: Duration = Duration::from_secs(5);

pub fn router(context: Arc<Context>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        // This port faces the providers: expose only `/webhooks/` publicly (ingress paths or a
        // NetworkPolicy), so `/metrics` stays with the scraper.
        .route("/metrics", get(switchboard_metrics::handler))
        .route("/webhooks/github/{project}/{route}", post(github))
        .route("/webhooks/slack/{project}", post(slack))
        .with_state(context)
}

fn answer(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"message": message}))).into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A trigger's event id for one delivery: the same delivery and trigger always give the same
/// id, so a repeated publish is dropped by the stream.
fn event_id(source: &str, trigger_id: &str) -> String {
    let digest = Sha256::digest(format!("{source}|{trigger_id}"));
    format!("ev_{}", &hex(&digest)[..26])
}

/// Publishes the event of every trigger; false when one failed.
async fn publish_all(
    context: &Context,
    project: &str,
    source: &str,
    matched: Vec<(Trigger, String)>,
    data: &Value,
) -> Result<usize, String> {
    let mut published = 0;
    for (trigger, auth_config_id) in matched {
        let mut event: Envelope = envelope(
            TRIGGER_MESSAGE,
            trigger_metadata(project, &trigger, &auth_config_id),
            data.clone(),
        );
        event.id = event_id(source, &trigger.id);
        context.publish(&event).await?;
        switchboard_metrics::trigger_event_in(&trigger.toolkit, "webhook");
        published += 1;
    }
    Ok(published)
}

/// The enabled triggers of a route that match, with their accounts' auth config ids (a
/// trigger whose account went away is stopped instead).
async fn matching(
    context: &Context,
    project: &str,
    route_id: &str,
    event: &str,
    action: Option<&str>,
) -> Result<Vec<(Trigger, String)>, String> {
    let triggers = context
        .store
        .route_triggers(project, route_id)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for trigger in triggers.into_iter().filter(|t| t.enabled) {
        let Some(kind) = context.catalog.trigger_type(&trigger.r#type) else {
            continue;
        };
        let Some(hook) = &kind.spec.webhook else {
            continue;
        };
        let action_ok =
            hook.actions.is_empty() || action.is_some_and(|a| hook.actions.iter().any(|x| x == a));
        if hook.event != event || !action_ok {
            continue;
        }
        if let Some(auth_config_id) = context.usable_account(project, &trigger).await {
            out.push((trigger, auth_config_id));
        }
    }
    Ok(out)
}

async fn deliver(
    context: &Context,
    project: &str,
    dedup_key: &str,
    route_id: &str,
    event: &str,
    action: Option<&str>,
    data: &Value,
) -> Response {
    let provider = if dedup_key.starts_with("slack:") {
        "slack"
    } else {
        "github"
    };
    match context
        .store
        .claim_delivery(project, dedup_key, IN_HAND)
        .await
    {
        Ok(DeliveryClaim::New) => {}
        Ok(DeliveryClaim::Done) => {
            switchboard_metrics::webhook_intake(provider, "duplicate");
            return answer(StatusCode::OK, "already received");
        }
        Ok(DeliveryClaim::InHand) => {
            // Another intake is publishing it, or stopped while it did: the provider's retry
            // after the mark lapses publishes it (again: the event's id, its message id on the
            // stream, keeps a second copy out).
            switchboard_metrics::webhook_intake(provider, "in_hand");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "being received; try again");
        }
        Err(_) => {
            switchboard_metrics::webhook_intake(provider, "error");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "try again");
        }
    }
    let outcome = match matching(context, project, route_id, event, action).await {
        Ok(matched) => publish_all(context, project, dedup_key, matched, data).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(n) => {
            if let Err(e) = context
                .store
                .delivery_done(project, dedup_key, DEDUP_WINDOW)
                .await
            {
                // Published: a repeat within the stream's duplicate window is still dropped.
                tracing::warn!(project_id = project, delivery = dedup_key, error = %e, "delivery published but not recorded as done");
            }
            switchboard_metrics::webhook_intake(provider, "accepted");
            tracing::debug!(
                project_id = project,
                delivery = dedup_key,
                events = n,
                "delivery routed"
            );
            (StatusCode::OK, Json(json!({"events": n}))).into_response()
        }
        Err(e) => {
            switchboard_metrics::webhook_intake(provider, "error");
            tracing::warn!(project_id = project, delivery = dedup_key, error = %e, "delivery not published; the provider will retry");
            let _ = context.store.forget_seen(project, dedup_key).await;
            answer(StatusCode::SERVICE_UNAVAILABLE, "try again")
        }
    }
}

async fn github(
    State(context): State<Arc<Context>>,
    Path((project, route_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_id("prj", &project) || !is_id("rt", &route_id) {
        return answer(StatusCode::NOT_FOUND, "unknown hook");
    }
    let route = match context.store.get_route(&project, &route_id).await {
        Ok(Some(found)) => found,
        Ok(None) => return answer(StatusCode::NOT_FOUND, "unknown hook"),
        Err(_) => return answer(StatusCode::SERVICE_UNAVAILABLE, "try again"),
    };
    let (route, sealed) = route;
    let Ok(secret) = context.sealer.open(&sealed, &route.id) else {
        switchboard_metrics::webhook_intake("github", "bad_signature");
        return answer(StatusCode::UNAUTHORIZED, "signature does not match");
    };
    let given = header(&headers, github::SIGNATURE_HEADER);
    if !github::signature_matches(&secret, &body, given) {
        tracing::info!(project_id = %project, route_id = %route.id, "GitHub delivery with a bad signature refused");
        switchboard_metrics::webhook_intake("github", "bad_signature");
        return answer(StatusCode::UNAUTHORIZED, "signature does not match");
    }
    let event = header(&headers, "x-github-event").to_owned();
    let delivery = header(&headers, "x-github-delivery").to_owned();
    if event == "ping" {
        return answer(StatusCode::OK, "pong");
    }
    if event.is_empty() || delivery.is_empty() || delivery.len() > 128 {
        return answer(
            StatusCode::BAD_REQUEST,
            "X-GitHub-Event and X-GitHub-Delivery are required",
        );
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return answer(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .map(str::to_owned);
    deliver(
        &context,
        &project,
        &format!("github:{delivery}"),
        &route.id,
        &event,
        action.as_deref(),
        &payload,
    )
    .await
}

async fn slack(
    State(context): State<Arc<Context>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_id("prj", &project) {
        return answer(StatusCode::NOT_FOUND, "unknown project");
    }
    let Some(secret) = context.config.triggers.slack_signing_secret.as_deref() else {
        switchboard_metrics::webhook_intake("slack", "bad_signature");
        return answer(
            StatusCode::UNAUTHORIZED,
            "no Slack signing secret is configured",
        );
    };
    if let Err(refused) = slack::verify(
        secret,
        header(&headers, slack::TIMESTAMP_HEADER),
        header(&headers, slack::SIGNATURE_HEADER),
        &body,
    ) {
        switchboard_metrics::webhook_intake("slack", "bad_signature");
        return answer(StatusCode::UNAUTHORIZED, &refused.to_string());
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return answer(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    match payload.get("type").and_then(Value::as_str) {
        Some("url_verification") => {
            let challenge = payload
                .get("challenge")
                .and_then(Value::as_str)
                .unwrap_or("");
            return (StatusCode::OK, Json(json!({"challenge": challenge}))).into_response();
        }
        Some("event_callback") => {}
        _ => return answer(StatusCode::OK, "ignored"),
    }
    let event_id = payload
        .get("event_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let inner = payload.get("event").cloned().unwrap_or(Value::Null);
    let kind = inner
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let channel = inner
        .get("channel")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if event_id.is_empty() || kind.is_empty() {
        return answer(
            StatusCode::BAD_REQUEST,
            "event_id and event.type are required",
        );
    }
    let key = switchboard_store::route_key("slack", "", &channel);
    let route = match context.store.route_by_key(&project, &key).await {
        Ok(Some(r)) => r,
        Ok(None) => return answer(StatusCode::OK, "no trigger watches this channel"),
        Err(_) => return answer(StatusCode::SERVICE_UNAVAILABLE, "try again"),
    };
    deliver(
        &context,
        &project,
        &format!("slack:{event_id}"),
        &route.id,
        &kind,
        None,
        &inner,
    )
    .await
}
