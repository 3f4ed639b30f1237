//! Polling listeners. The schedule is a sorted set of due times; each replica looks for due
//! triggers every half second and polls one only while it holds that trigger's lease in Redis
//! (set-if-absent with an expiry), so exactly one listener polls a trigger at a time, and when
//! the holder dies its lease expires and another listener takes over within one lease period.
//! New items are published first (with ids derived from the trigger and the item, so a
//! repeat after a crash is dropped by the stream), then the cursor moves, then the next poll is
//! scheduled. Provider errors back off exponentially.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchboard_bus::events::{envelope, trigger_metadata, TRIGGER_MESSAGE};
use switchboard_catalog::{INTERVAL_CONFIG_FIELD, MIN_POLL_INTERVAL_SECS};
use switchboard_core::time::now_ms;
use switchboard_core::Credential;
use switchboard_proto::v1::Trigger;
use switchboard_provider::{self as provider, gmail, CallPolicy, Outcome};
use tokio_util::sync::CancellationToken;

use crate::{Context, TriggersError};

/// Seen item ids kept per generic polling trigger.
const SEEN_CAP: usize = 1000;
/// Longest backoff after provider errors.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

fn item_event_id(trigger_id: &str, item: &str) -> String {
    let digest = Sha256::digest(format!("poll|{trigger_id}|{item}"));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("ev_{}", &hex[..26])
}

/// What one poll found.
struct Found {
    /// (item id, payload), oldest first.
    items: Vec<(String, Value)>,
    /// The cursor to store once they are published.
    cursor: String,
}

/// Runs the polling loop until `shutdown`.
pub async fn run(context: Arc<Context>, shutdown: CancellationToken) -> Result<(), TriggersError> {
    let failures: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let in_flight: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let due = match context.store.due_polls(now_ms(), 100).await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the polling schedule");
                continue;
            }
        };
        for (project, trigger_id) in due {
            let key = format!("{project}/{trigger_id}");
            if !in_flight
                .lock()
                .map(|mut s| s.insert(key.clone()))
                .unwrap_or(false)
            {
                continue;
            }
            let lease = Duration::from_secs(context.config.triggers.poll_lease_secs);
            let owner = format!("{}:{}", context.id, ulid::Ulid::new());
            let taken = context
                .store
                .try_poll_lease(&project, &trigger_id, &owner, lease)
                .await
                .unwrap_or(false);
            if !taken {
                if let Ok(mut s) = in_flight.lock() {
                    s.remove(&key);
                }
                continue;
            }
            let (context, failures, in_flight) = (
                Arc::clone(&context),
                Arc::clone(&failures),
                Arc::clone(&in_flight),
            );
            tokio::spawn(async move {
                poll_leased(&context, &project, &trigger_id, &owner, lease, &failures).await;
                let _ = context
                    .store
                    .release_poll_lease(&project, &trigger_id, &owner)
                    .await;
                if let Ok(mut s) = in_flight.lock() {
                    s.remove(&key);
                }
            });
        }
    }
}

/// Polls one trigger while holding its lease (renewed while the poll runs), then schedules
/// the next poll.
async fn poll_leased(
    context: &Context,
    project: &str,
    trigger_id: &str,
    owner: &str,
    lease: Duration,
    failures: &Mutex<HashMap<String, u32>>,
) {
    let renew = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            if !context
                .store
                .renew_poll_lease(project, trigger_id, owner, lease)
                .await
                .unwrap_or(false)
            {
                return;
            }
        }
    };
    let outcome = tokio::select! {
        r = poll_once(context, project, trigger_id) => r,
        () = renew => Err("the poll lease was lost".into()),
    };
    let key = format!("{project}/{trigger_id}");
    match outcome {
        Ok(Some(interval)) => {
            if let Ok(mut f) = failures.lock() {
                f.remove(&key);
            }
            let next = now_ms() + i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
            let _ = context.store.schedule_poll(project, trigger_id, next).await;
        }
        // Stopped or deleted: not scheduled again.
        Ok(None) => {}
        Err(why) => {
            let n = failures
                .lock()
                .map(|mut f| {
                    let n = f.entry(key).or_insert(0);
                    *n += 1;
                    *n
                })
                .unwrap_or(1);
            let backoff = Duration::from_secs(2u64.saturating_pow(n.min(12))).min(MAX_BACKOFF);
            tracing::info!(project_id = project, trigger_id, failures = n, backoff_secs = backoff.as_secs(), reason = %why, "poll failed; backing off");
            let next = now_ms() + i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX);
            let _ = context.store.schedule_poll(project, trigger_id, next).await;
        }
    }
}

/// One poll: the interval until the next one, `None` when the trigger is no longer polled.
async fn poll_once(
    context: &Context,
    project: &str,
    trigger_id: &str,
) -> Result<Option<Duration>, String> {
    let trigger = match context.store.get_trigger(project, trigger_id).await {
        Ok(t) => t.trigger,
        Err(switchboard_core::Error::NotFound { .. }) => {
            let _ = context.store.unschedule_poll(project, trigger_id).await;
            return Ok(None);
        }
        Err(e) => return Err(e.to_string()),
    };
    if !trigger.enabled {
        let _ = context.store.unschedule_poll(project, trigger_id).await;
        return Ok(None);
    }
    let Some(kind) = context.catalog.trigger_type(&trigger.r#type).cloned() else {
        return Err(format!(
            "trigger type {} is not in the catalog",
            trigger.r#type
        ));
    };
    let Some(spec) = kind.spec.poll.clone() else {
        let _ = context.store.unschedule_poll(project, trigger_id).await;
        return Ok(None);
    };
    let Some(auth_config_id) = context.usable_account(project, &trigger).await else {
        return Ok(None);
    };
    let config = trigger
        .config
        .as_ref()
        .map(switchboard_proto::struct_to_json)
        .unwrap_or_else(|| json!({}));
    let interval = config
        .get(INTERVAL_CONFIG_FIELD)
        .and_then(Value::as_u64)
        .unwrap_or(spec.interval_secs)
        .max(MIN_POLL_INTERVAL_SECS)
        .min(
            context
                .config
                .triggers
                .max_poll_interval_secs
                .unwrap_or(u64::MAX)
                .max(1),
        );
    let credential = context
        .oauth
        .credential_for(project, &trigger.connected_account_id)
        .await?;
    let cursor = context
        .store
        .poll_cursor(project, trigger_id)
        .await
        .map_err(|e| e.to_string())?;
    let found = match (spec.native.as_deref(), spec.tool.as_deref()) {
        (Some("gmail_history"), _) => {
            gmail_history(context, &trigger, &config, &credential, cursor.as_deref()).await?
        }
        (_, Some(tool)) => {
            generic(
                context,
                &trigger,
                tool,
                &spec.items_path,
                &spec.id_field,
                &config,
                &credential,
                cursor.as_deref(),
            )
            .await?
        }
        _ => return Err("the trigger type has no poller".into()),
    };
    for (item, data) in &found.items {
        let mut event = envelope(
            TRIGGER_MESSAGE,
            trigger_metadata(project, &trigger, &auth_config_id),
            data.clone(),
        );
        event.id = item_event_id(&trigger.id, item);
        context.publish(&event).await?;
        switchboard_metrics::trigger_event_in(&trigger.toolkit, "poll");
    }
    // Only now: a crash before this line publishes the same items again, under the same ids.
    context
        .store
        .set_poll_cursor(project, trigger_id, &found.cursor)
        .await
        .map_err(|e| e.to_string())?;
    if !found.items.is_empty() {
        tracing::debug!(
            project_id = project,
            trigger_id,
            events = found.items.len(),
            "poll published events"
        );
    }
    Ok(Some(Duration::from_secs(interval)))
}

fn policy(context: &Context) -> CallPolicy {
    let timeout = Duration::from_secs(context.config.triggers.poll_lease_secs.max(2) / 2);
    CallPolicy {
        timeout,
        max_retries: 1,
        deadline: tokio::time::Instant::now() + timeout * 2,
    }
}

/// Generic polling over a read-only list tool: the cursor is the ids already seen (the first
/// poll only records them).
#[allow(clippy::too_many_arguments)]
async fn generic(
    context: &Context,
    trigger: &Trigger,
    tool_slug: &str,
    items_path: &str,
    id_field: &str,
    config: &Value,
    credential: &Credential,
    cursor: Option<&str>,
) -> Result<Found, String> {
    let (Some(tool), Some(toolkit)) = (
        context.catalog.tool(tool_slug),
        context.catalog.toolkit(&trigger.toolkit),
    ) else {
        return Err(format!("tool {tool_slug} is not in the catalog"));
    };
    let mut arguments = config.clone();
    if let Some(map) = arguments.as_object_mut() {
        map.remove(INTERVAL_CONFIG_FIELD);
    }
    let result = provider::call(
        &context.http,
        toolkit,
        tool,
        &arguments,
        credential,
        &policy(context),
    )
    .await;
    let data = match result.outcome {
        Outcome::Success(data) => data,
        Outcome::Failed {
            code,
            message,
            provider_status,
        } => return Err(format!("{code} (HTTP {provider_status}): {message}")),
    };
    let mut items = &data;
    for part in items_path.split('.').filter(|p| !p.is_empty()) {
        items = items.get(part).unwrap_or(&Value::Null);
    }
    let items: Vec<(String, Value)> = items
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|item| {
                    let id = match item.get(id_field)? {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => return None,
                    };
                    Some((id, item.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let seen: Vec<String> = cursor
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    let first = cursor.is_none();
    let seen_set: std::collections::HashSet<&str> = seen.iter().map(String::as_str).collect();
    // Lists come newest first: publish the new ones oldest first.
    let mut new: Vec<(String, Value)> = items
        .iter()
        .filter(|(id, _)| !seen_set.contains(id.as_str()))
        .cloned()
        .collect();
    new.reverse();
    let mut all: Vec<String> = new.iter().map(|(id, _)| id.clone()).collect();
    all.extend(seen.iter().cloned());
    all.truncate(SEEN_CAP);
    // The very first poll only learns what already exists.
    let cursor = serde_json::to_string(&all).map_err(|e| e.to_string())?;
    Ok(Found {
        items: if first { Vec::new() } else { new },
        cursor,
    })
}

/// Gmail: the history API from the stored `historyId` (the first poll only records the
/// mailbox's current one).
async fn gmail_history(
    context: &Context,
    trigger: &Trigger,
    config: &Value,
    credential: &Credential,
    cursor: Option<&str>,
) -> Result<Found, String> {
    let base = context
        .catalog
        .toolkit(&trigger.toolkit)
        .map(|t| t.base_url.clone())
        .ok_or("gmail is not in the catalog")?;
    let labels: Vec<String> = config["label_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let history = gmail::poll_history(
        &context.http,
        &base,
        credential,
        policy(context).timeout,
        cursor,
        &labels,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(Found {
        items: history.messages,
        cursor: history.cursor,
    })
}
