//! Outgoing webhooks, Standard Webhooks style: every event of a project goes to each of its
//! enabled subscriptions whose event types match, as `POST <url>` with the event JSON and the
//! headers `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body" under the secret>`). One durable consumer serves every replica. A failed
//! delivery is retried with backoff (the message comes back after a delay; subscriptions that
//! already took it are not sent it again); after `triggers.webhook_max_failures` consecutive
//! failures a subscription is disabled and a `webhook_subscription.disabled` event says so.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures::StreamExt;
use switchboard_bus::events::{envelope, Envelope, Metadata, WEBHOOK_DISABLED};
use switchboard_proto::v1::WebhookSubscription;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::{Context, TriggersError};

const CONSUMER: &str = "webhooks";
/// Deliveries of one event before it is given up (each retry waits longer).
const MAX_DELIVER: i64 = 12;
const IN_FLIGHT: usize = 32;

/// The signature headers of a delivery.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(switchboard_crypto::hmac_sha256(&key, &message))
    ))
}

pub async fn run(context: Arc<Context>, shutdown: CancellationToken) -> Result<(), TriggersError> {
    let consumer = switchboard_bus::with_retries("setting up the webhook consumer", || {
        context
            .bus
            .dispatch_consumer(CONSUMER, Duration::from_secs(60), MAX_DELIVER)
    })
    .await?;
    let mut messages = consumer
        .deliveries(IN_FLIGHT)
        .await
        .map_err(|e| TriggersError::Serve(e.to_string()))?;
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            p = Arc::clone(&permits).acquire_owned() => match p { Ok(p) => p, Err(_) => return Ok(()) },
        };
        let message = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            m = messages.next() => m,
        };
        let message = match message {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "webhook dispatcher pull failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            None => return Ok(()),
        };
        let context = Arc::clone(&context);
        tokio::spawn(async move {
            let attempt = message.delivered();
            let retry = match message.event() {
                Ok(event) => deliver_event(&context, &event).await,
                Err(e) => {
                    // Never deliverable: given up at once. The error carries no payload.
                    tracing::warn!(error = %e, sequence = message.stream_sequence(), "undecodable event; not delivered");
                    false
                }
            };
            if retry && attempt < MAX_DELIVER {
                let delay = Duration::from_millis(250u64.saturating_mul(1 << attempt.clamp(0, 8)))
                    .min(Duration::from_secs(60));
                let _ = message.retry(Some(delay)).await;
            } else {
                let _ = message.ack().await;
            }
            drop(permit);
        });
    }
}

/// Sends one event to every matching subscription of its project; true when one failed and
/// should be tried again.
async fn deliver_event(context: &Context, event: &Envelope) -> bool {
    let project = &event.metadata.project_id;
    if project.is_empty() {
        return false;
    }
    // What every subscription is sent: the event as JSON, the same bytes each time.
    let Ok(body) = event.webhook_body() else {
        return false;
    };
    let body = body.as_slice();
    let subscriptions = match context.store.webhook_subscriptions(project).await {
        Ok(s) => s,
        Err(_) => return true,
    };
    let mut retry = false;
    for (subscription, sealed) in subscriptions {
        if !subscription.enabled
            || !(subscription.event_types.is_empty()
                || subscription.event_types.contains(&event.kind))
        {
            continue;
        }
        let marker = format!("whd:{}:{}", subscription.id, event.id);
        if context
            .store
            .was_seen(project, &marker)
            .await
            .unwrap_or(false)
        {
            continue;
        }
        let Ok(secret) = context.sealer.open(&sealed, &subscription.id) else {
            continue;
        };
        let secret = String::from_utf8_lossy(&secret).into_owned();
        let ok = post(context, &subscription, &secret, event, body).await;
        switchboard_metrics::webhook_delivery(ok);
        if ok {
            switchboard_metrics::trigger_event_delivered("webhook");
            let _ = context
                .store
                .first_seen(project, &marker, Duration::from_secs(7 * 24 * 3600))
                .await;
            if subscription.consecutive_failures > 0 {
                let mut healthy = subscription.clone();
                healthy.consecutive_failures = 0;
                let _ = context
                    .store
                    .put_webhook_subscription(project, &healthy)
                    .await;
            }
        } else {
            retry |= failed(context, project, subscription).await;
        }
    }
    retry
}

async fn post(
    context: &Context,
    subscription: &WebhookSubscription,
    secret: &str,
    event: &Envelope,
    body: &[u8],
) -> bool {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let Some(signature) = sign(secret, &event.id, timestamp, body) else {
        return false;
    };
    let sent = context
        .http
        .post(&subscription.url)
        .timeout(Duration::from_millis(
            context.config.triggers.webhook_timeout_ms,
        ))
        .header("content-type", "application/json")
        .header("user-agent", "switchboard-webhooks")
        .header("webhook-id", &event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            tracing::info!(subscription_id = %subscription.id, status = r.status().as_u16(), "webhook delivery refused");
            false
        }
        Err(_) => {
            tracing::info!(subscription_id = %subscription.id, "webhook target unreachable");
            false
        }
    }
}

/// Counts a failure; disables the subscription at the limit. True when it should be retried.
async fn failed(context: &Context, project: &str, mut subscription: WebhookSubscription) -> bool {
    subscription.consecutive_failures += 1;
    let limit = context.config.triggers.webhook_max_failures;
    if subscription.consecutive_failures < limit {
        let _ = context
            .store
            .put_webhook_subscription(project, &subscription)
            .await;
        return true;
    }
    subscription.enabled = false;
    subscription.status_reason = format!("disabled after {limit} consecutive failed deliveries");
    if context
        .store
        .put_webhook_subscription(project, &subscription)
        .await
        .is_err()
    {
        return false;
    }
    tracing::warn!(project_id = project, subscription_id = %subscription.id, "webhook subscription disabled");
    let event = envelope(
        WEBHOOK_DISABLED,
        Metadata {
            project_id: project.to_owned(),
            ..Default::default()
        },
        serde_json::json!({
            "subscription_id": subscription.id,
            "url": subscription.url,
            "reason": subscription.status_reason,
        }),
    );
    let _ = context.publish(&event).await;
    false
}
