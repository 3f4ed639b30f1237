//! TriggerService: trigger instances (upsert per account, type and config; GitHub repository
//! hooks registered and removed with them, through `switchboard_provider::github`), outgoing
//! webhook subscriptions, and the event stream (SubscribeEvents) over the JetStream event
//! stream, filtered to one project and optionally one user.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use switchboard_bus::events::{self, Envelope};
use switchboard_catalog::TriggerType;
use switchboard_core::accounts::{self, ACTIVE};
use switchboard_core::ids::new_id;
use switchboard_core::page::{decode_token, encode_token, page_size};
use switchboard_core::session_config::validate_user_id;
use switchboard_core::time::now_ms;
use switchboard_core::Error;
use switchboard_proto::v1::*;
use switchboard_provider::github::{self, HookError, HookRegistration};
use switchboard_store::{route_key, Route, TriggerFilter};

use crate::app::required;
use crate::state::AppState;

/// Why a trigger is disabled after DisableTrigger.
const DISABLED_BY_API: &str = "disabled by the API";

fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(std::time::SystemTime::now())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn trigger_type(state: &AppState, slug: &str) -> Result<Arc<TriggerType>, Error> {
    required(slug, "type")?;
    state.catalog.trigger_type(slug).cloned().ok_or_else(|| {
        Error::invalid(
            switchboard_core::reason::UNKNOWN_TRIGGER_TYPE,
            "type",
            format!("unknown trigger type {slug:?}; see CatalogService.ListTriggerTypes"),
        )
    })
}

/// The account a new trigger uses: the named one (the user's own, of the toolkit) or the
/// user's default; it must be ACTIVE.
async fn account_for(
    state: &AppState,
    project: &str,
    user_id: &str,
    toolkit: &str,
    named: &str,
) -> Result<ConnectedAccount, Error> {
    let user_accounts = state.store.user_accounts(project, user_id).await?;
    let account = if named.is_empty() {
        let no_session = SessionConfig::default();
        accounts::default_account(&no_session, &user_accounts, toolkit)
            .cloned()
            .ok_or_else(|| Error::FailedPrecondition {
                reason: switchboard_core::reason::NO_CONNECTED_ACCOUNT,
                message: format!("user has no ACTIVE {toolkit} account; connect one first"),
            })?
    } else {
        // Another user's or project's account, or another toolkit's: not found.
        user_accounts
            .iter()
            .find(|a| a.id == named && a.toolkit == toolkit)
            .cloned()
            .ok_or_else(|| {
                Error::not_found(
                    switchboard_core::reason::CONNECTED_ACCOUNT_NOT_FOUND,
                    format!("the user has no {toolkit} account {named:?}"),
                )
            })?
    };
    if account.status != ACTIVE {
        return Err(Error::FailedPrecondition {
            reason: switchboard_core::reason::ACCOUNT_NOT_ACTIVE,
            message: format!("account {} is {}", account.id, account.status),
        });
    }
    Ok(account)
}

/// Registers (or widens) the GitHub repository hook a trigger needs; its route id.
async fn github_route(
    state: &AppState,
    project: &str,
    account: &ConnectedAccount,
    config: &serde_json::Value,
    event: &str,
) -> Result<String, Error> {
    let owner = config["owner"].as_str().unwrap_or_default();
    let repo = config["repo"].as_str().unwrap_or_default();
    let target = format!("{owner}/{repo}").to_lowercase();
    let key = route_key("github", &account.id, &target);
    let mut secret_bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret_bytes);
    let secret = hex(&secret_bytes);
    let fresh = Route {
        id: new_id("rt"),
        toolkit: "github".into(),
        account_id: account.id.clone(),
        target: target.clone(),
        provider_hook_id: String::new(),
        events: Vec::new(),
    };
    let sealed = state
        .sealer
        .seal(secret.as_bytes(), &fresh.id)
        .map_err(|e| Error::Internal(format!("sealing a hook secret failed: {e}")))?;
    let (mut route, created) = state
        .store
        .route_for(project, &key, &fresh, &sealed)
        .await?;
    if route.events.iter().any(|e| e == event) && !route.provider_hook_id.is_empty() {
        return Ok(route.id);
    }
    let secret = if created {
        secret
    } else {
        let (_, sealed) = state
            .store
            .get_route(project, &route.id)
            .await?
            .ok_or_else(|| Error::Internal("route vanished".into()))?;
        let plain = state
            .sealer
            .open(&sealed, &route.id)
            .map_err(|e| Error::Internal(format!("a hook secret cannot be opened: {e}")))?;
        String::from_utf8_lossy(&plain).into_owned()
    };
    let mut wanted = route.events.clone();
    wanted.push(event.to_owned());
    wanted.sort();
    wanted.dedup();
    let registered = register_github_hook(
        state, project, account, owner, repo, &route, &wanted, &secret,
    )
    .await;
    match registered {
        Ok(hook_id) => {
            route.provider_hook_id = hook_id;
            route.events = wanted;
            state.store.put_route(project, &route).await?;
            Ok(route.id)
        }
        Err(e) => {
            if created {
                let _ = state.store.delete_route(project, &route, &key).await;
            }
            Err(e)
        }
    }
}

/// Creates the repository hook, or updates its event list; the hook id.
#[allow(clippy::too_many_arguments)]
async fn register_github_hook(
    state: &AppState,
    project: &str,
    account: &ConnectedAccount,
    owner: &str,
    repo: &str,
    route: &Route,
    events: &[String],
    secret: &str,
) -> Result<String, Error> {
    let credential = state
        .oauth
        .credential_for(project, &account.id)
        .await
        .map_err(|m| Error::FailedPrecondition {
            reason: switchboard_core::reason::ACCOUNT_NOT_ACTIVE,
            message: m,
        })?;
    let token = github::bearer_token(&credential).ok_or_else(|| Error::FailedPrecondition {
        reason: switchboard_core::reason::UNSUPPORTED_CREDENTIAL,
        message: "a GitHub hook needs a token credential".into(),
    })?;
    let base = state
        .catalog
        .toolkit("github")
        .map(|t| t.base_url.clone())
        .unwrap_or_else(|| "https://api.github.com".into());
    let hook_url = format!(
        "{}/webhooks/github/{project}/{}",
        state.config.triggers.public_base(),
        route.id
    );
    let hook = HookRegistration {
        owner,
        repo,
        hook_id: &route.provider_hook_id,
        events,
        url: &hook_url,
        secret,
    };
    github::register_hook(&state.provider_http, &base, &token, &hook)
        .await
        .map_err(|e| match e {
            HookError::Unreachable => Error::Unavailable {
                reason: switchboard_core::reason::PROVIDER_UNAVAILABLE,
                message: e.to_string(),
            },
            HookError::Refused { .. } => Error::FailedPrecondition {
                reason: switchboard_core::reason::HOOK_REGISTRATION_FAILED,
                message: e.to_string(),
            },
        })
}

/// Removes a route's provider hook (best effort) and the route, once no trigger uses it.
async fn drop_route(state: &AppState, project: &str, route_id: &str) {
    let Ok(Some((route, _))) = state.store.get_route(project, route_id).await else {
        return;
    };
    if route.toolkit == "github" && !route.provider_hook_id.is_empty() {
        if let Ok(credential) = state.oauth.credential_for(project, &route.account_id).await {
            let token = github::bearer_token(&credential);
            if let (Some(token), Some((owner, repo))) = (token, route.target.split_once('/')) {
                let base = state
                    .catalog
                    .toolkit("github")
                    .map(|t| t.base_url.clone())
                    .unwrap_or_default();
                let ok = github::remove_hook(
                    &state.provider_http,
                    &base,
                    &token,
                    owner,
                    repo,
                    &route.provider_hook_id,
                )
                .await;
                tracing::info!(route_id, ok, "GitHub hook removed");
            }
        }
    }
    let key = route_key(&route.toolkit, &route.account_id, &route.target);
    let _ = state.store.delete_route(project, &route, &key).await;
}

/// The route of a Slack channel (shared by every trigger watching it).
async fn slack_route(
    state: &AppState,
    project: &str,
    account: &ConnectedAccount,
    channel: &str,
) -> Result<String, Error> {
    let key = route_key("slack", &account.id, channel);
    let fresh = Route {
        id: new_id("rt"),
        toolkit: "slack".into(),
        account_id: account.id.clone(),
        target: channel.to_owned(),
        provider_hook_id: String::new(),
        events: vec!["message".into()],
    };
    let (route, _) = state.store.route_for(project, &key, &fresh, b"").await?;
    Ok(route.id)
}

/// The upsert identity of a trigger.
fn upsert_digest(account_id: &str, slug: &str, config: &serde_json::Value) -> String {
    hex(&Sha256::digest(format!("{account_id}|{slug}|{config}")))
}

fn next_token(more: bool, last: Option<&str>) -> String {
    match (more, last) {
        (true, Some(last)) => encode_token(last),
        _ => String::new(),
    }
}

pub async fn create_trigger(
    state: &AppState,
    project: &str,
    req: CreateTriggerRequest,
) -> Result<CreateTriggerResponse, Error> {
    let trigger_type = trigger_type(state, &req.r#type)?;
    validate_user_id(&req.user_id, "user_id")?;
    let config = req
        .config
        .as_ref()
        .map(switchboard_proto::struct_to_json)
        .unwrap_or_else(|| serde_json::json!({}));
    trigger_type
        .validate_config(&config)
        .map_err(|(field, rule)| {
            Error::invalid(switchboard_core::reason::INVALID_CONFIG, field, rule)
        })?;
    let account = account_for(
        state,
        project,
        &req.user_id,
        &trigger_type.toolkit,
        &req.connected_account_id,
    )
    .await?;
    let digest = upsert_digest(&account.id, &trigger_type.slug, &config);
    let route_id = match (&trigger_type.spec.webhook, trigger_type.toolkit.as_str()) {
        (Some(hook), "github") => {
            github_route(state, project, &account, &config, &hook.event).await?
        }
        (Some(_), "slack") => {
            let channel = config["channel"].as_str().unwrap_or_default();
            slack_route(state, project, &account, channel).await?
        }
        _ => String::new(),
    };
    let created = now();
    let trigger = Trigger {
        id: new_id("ti"),
        r#type: trigger_type.slug.clone(),
        toolkit: trigger_type.toolkit.clone(),
        user_id: req.user_id.clone(),
        connected_account_id: account.id.clone(),
        config: Some(switchboard_proto::json_to_struct(&config)),
        enabled: true,
        status_reason: String::new(),
        create_time: Some(created),
        update_time: Some(created),
    };
    match state
        .store
        .create_trigger(project, &trigger, &digest, &route_id)
        .await?
    {
        Some(existing) => {
            let stored = state.store.get_trigger(project, &existing).await?;
            Ok(CreateTriggerResponse {
                trigger: Some(stored.trigger),
                created: false,
            })
        }
        None => {
            if trigger_type.spec.poll.is_some() {
                state
                    .store
                    .schedule_poll(project, &trigger.id, now_ms())
                    .await?;
            }
            tracing::info!(project_id = %project, trigger_id = %trigger.id, r#type = %trigger.r#type, "trigger created");
            Ok(CreateTriggerResponse {
                trigger: Some(trigger),
                created: true,
            })
        }
    }
}

pub async fn get_trigger(
    state: &AppState,
    project: &str,
    request: GetTriggerRequest,
) -> Result<GetTriggerResponse, Error> {
    let id = required(&request.trigger_id, "trigger_id")?;
    let stored = state.store.get_trigger(project, id).await?;
    Ok(GetTriggerResponse {
        trigger: Some(stored.trigger),
    })
}

pub async fn list_triggers(
    state: &AppState,
    project: &str,
    req: ListTriggersRequest,
) -> Result<ListTriggersResponse, Error> {
    let size = page_size(req.page_size, "page_size")?;
    let after = decode_token(&req.page_token, "page_token")?;
    if !req.user_id.is_empty() {
        validate_user_id(&req.user_id, "user_id")?;
    }
    if !req.r#type.is_empty() {
        trigger_type(state, &req.r#type)?;
    }
    let filter = TriggerFilter {
        user_id: (!req.user_id.is_empty()).then_some(req.user_id.as_str()),
        account_id: (!req.connected_account_id.is_empty())
            .then_some(req.connected_account_id.as_str()),
        trigger_type: (!req.r#type.is_empty()).then_some(req.r#type.as_str()),
        include_disabled: req.include_disabled,
    };
    let (triggers, more) = state
        .store
        .list_triggers(project, &filter, after.as_deref(), size)
        .await?;
    let next_page_token = next_token(more, triggers.last().map(|t| t.id.as_str()));
    Ok(ListTriggersResponse {
        triggers,
        next_page_token,
    })
}

pub async fn enable_trigger(
    state: &AppState,
    project: &str,
    request: EnableTriggerRequest,
) -> Result<EnableTriggerResponse, Error> {
    let id = required(&request.trigger_id, "trigger_id")?;
    let mut trigger = state.store.get_trigger(project, id).await?.trigger;
    let account = state
        .store
        .get_account(project, &trigger.connected_account_id)
        .await?;
    if account.account.status != ACTIVE {
        return Err(Error::FailedPrecondition {
            reason: switchboard_core::reason::ACCOUNT_NOT_ACTIVE,
            message: format!(
                "its account {} is {}; reconnect it first",
                account.account.id, account.account.status
            ),
        });
    }
    trigger.enabled = true;
    trigger.status_reason = String::new();
    trigger.update_time = Some(now());
    state.store.put_trigger(project, &trigger).await?;
    let polled = state
        .catalog
        .trigger_type(&trigger.r#type)
        .is_some_and(|t| t.spec.poll.is_some());
    if polled {
        state
            .store
            .schedule_poll(project, &trigger.id, now_ms())
            .await?;
    }
    Ok(EnableTriggerResponse {
        trigger: Some(trigger),
    })
}

pub async fn disable_trigger(
    state: &AppState,
    project: &str,
    request: DisableTriggerRequest,
) -> Result<DisableTriggerResponse, Error> {
    let id = required(&request.trigger_id, "trigger_id")?;
    let mut trigger = state.store.get_trigger(project, id).await?.trigger;
    if trigger.enabled {
        trigger.enabled = false;
        trigger.status_reason = DISABLED_BY_API.to_owned();
        trigger.update_time = Some(now());
        state.store.put_trigger(project, &trigger).await?;
        state.store.unschedule_poll(project, &trigger.id).await?;
    }
    Ok(DisableTriggerResponse {
        trigger: Some(trigger),
    })
}

pub async fn delete_trigger(
    state: &AppState,
    project: &str,
    request: DeleteTriggerRequest,
) -> Result<DeleteTriggerResponse, Error> {
    let id = required(&request.trigger_id, "trigger_id")?;
    let (stored, left) = state.store.delete_trigger(project, id).await?;
    if left == Some(0) {
        drop_route(state, project, &stored.route_id).await;
    }
    tracing::info!(project_id = %project, trigger_id = %id, "trigger deleted");
    Ok(DeleteTriggerResponse {})
}

pub async fn create_webhook_subscription(
    state: &AppState,
    project: &str,
    req: CreateWebhookSubscriptionRequest,
) -> Result<CreateWebhookSubscriptionResponse, Error> {
    check_webhook_url(&req.url, state.config.triggers.allow_loopback_webhooks)?;
    for (i, kind) in req.event_types.iter().enumerate() {
        if ![
            events::TRIGGER_MESSAGE,
            events::TRIGGER_DISABLED,
            events::ACCOUNT_EXPIRED,
            events::WEBHOOK_DISABLED,
        ]
        .contains(&kind.as_str())
        {
            return Err(Error::invalid(
                switchboard_core::reason::UNKNOWN_EVENT_TYPE,
                format!("event_types[{i}]"),
                format!("{kind:?} is not an event type"),
            ));
        }
    }
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
    let secret = format!("whsec_{}", STANDARD.encode(raw));
    let subscription = WebhookSubscription {
        id: new_id("whs"),
        url: req.url,
        event_types: req.event_types,
        enabled: true,
        status_reason: String::new(),
        consecutive_failures: 0,
        create_time: Some(now()),
    };
    let sealed = state
        .sealer
        .seal(secret.as_bytes(), &subscription.id)
        .map_err(|e| Error::Internal(format!("sealing a webhook secret failed: {e}")))?;
    state
        .store
        .create_webhook_subscription(project, &subscription, &sealed)
        .await?;
    Ok(CreateWebhookSubscriptionResponse {
        subscription: Some(subscription),
        secret,
    })
}

pub async fn list_webhook_subscriptions(
    state: &AppState,
    project: &str,
) -> Result<ListWebhookSubscriptionsResponse, Error> {
    let subscriptions = state
        .store
        .webhook_subscriptions(project)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    Ok(ListWebhookSubscriptionsResponse { subscriptions })
}

pub async fn delete_webhook_subscription(
    state: &AppState,
    project: &str,
    request: DeleteWebhookSubscriptionRequest,
) -> Result<DeleteWebhookSubscriptionResponse, Error> {
    let id = required(&request.subscription_id, "subscription_id")?;
    state.store.delete_webhook_subscription(project, id).await?;
    Ok(DeleteWebhookSubscriptionResponse {})
}

/// An outgoing webhook target: https, or http on loopback when allowed (tests).
fn check_webhook_url(url: &str, allow_loopback: bool) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::invalid(
            switchboard_core::reason::INVALID_WEBHOOK_URL,
            "url",
            why.to_owned(),
        )
    };
    let parsed = url::Url::parse(url).map_err(|_| bad("must be an absolute https URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry a user name or password"));
    }
    let host = parsed.host_str().unwrap_or_default();
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1");
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback && allow_loopback => Ok(()),
        _ => Err(bad("must be an https URL")),
    }
}

/// The envelope of a stream message, as the API's `Event`.
pub fn to_event(envelope: &Envelope, sequence: u64) -> Event {
    let m = &envelope.metadata;
    Event {
        id: envelope.id.clone(),
        r#type: envelope.kind.clone(),
        time: envelope.timestamp.parse().ok(),
        metadata: Some(EventMetadata {
            trigger_slug: m.trigger_slug.clone(),
            trigger_id: m.trigger_id.clone(),
            connected_account_id: m.connected_account_id.clone(),
            auth_config_id: m.auth_config_id.clone(),
            user_id: m.user_id.clone(),
            toolkit: m.toolkit.clone(),
        }),
        data: match &envelope.data {
            serde_json::Value::Object(_) => Some(switchboard_proto::json_to_struct(&envelope.data)),
            other => Some(switchboard_proto::json_to_struct(
                &serde_json::json!({"value": other}),
            )),
        },
        sequence,
    }
}
