//! TriggerService: trigger instances (upsert per account, type and config; GitHub repository
//! hooks registered and removed with them, through `switchboard_provider::github`), outgoing
//! webhook subscriptions, and the event stream (SubscribeEvents) over the JetStream event
//! stream, filtered to one project and optionally one user.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures::Stream;
use sha2::{Digest, Sha256};
use switchboard_bus::events::{self, Envelope};
use switchboard_catalog::TriggerType;
use switchboard_core::accounts::{self, ACTIVE};
use switchboard_core::ids::new_id;
use switchboard_core::page::{decode_token, encode_token, page_size};
use switchboard_core::session_config::validate_user_id;
use switchboard_core::time::now_ms;
use switchboard_core::Error;
use switchboard_proto::v1::trigger_service_server::TriggerService;
use switchboard_proto::v1::*;
use switchboard_provider::github::{self, HookError, HookRegistration};
use switchboard_store::{route_key, Route, TriggerFilter};
use tonic::{Request, Response, Status};

use crate::auth;
use crate::grpc::required;
use crate::state::AppState;

/// Why a trigger is disabled after DisableTrigger.
const DISABLED_BY_API: &str = "disabled by the API";

fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(std::time::SystemTime::now())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct TriggerApi {
    state: AppState,
    http: reqwest::Client,
}

impl TriggerApi {
    pub fn new(state: AppState) -> TriggerApi {
        TriggerApi {
            state,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
        }
    }

    fn trigger_type(&self, slug: &str) -> Result<Arc<TriggerType>, Error> {
        required(slug, "type")?;
        self.state
            .catalog
            .trigger_type(slug)
            .cloned()
            .ok_or_else(|| {
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
        &self,
        project: &str,
        user_id: &str,
        toolkit: &str,
        named: &str,
    ) -> Result<ConnectedAccount, Error> {
        let user_accounts = self.state.store.user_accounts(project, user_id).await?;
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
        &self,
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
        let sealed = self
            .state
            .sealer
            .seal(secret.as_bytes(), &fresh.id)
            .map_err(|e| Error::Internal(format!("sealing a hook secret failed: {e}")))?;
        let (mut route, created) = self
            .state
            .store
            .route_for(project, &key, &fresh, &sealed)
            .await?;
        if route.events.iter().any(|e| e == event) && !route.provider_hook_id.is_empty() {
            return Ok(route.id);
        }
        let secret = if created {
            secret
        } else {
            let (_, sealed) = self
                .state
                .store
                .get_route(project, &route.id)
                .await?
                .ok_or_else(|| Error::Internal("route vanished".into()))?;
            let plain = self
                .state
                .sealer
                .open(&sealed, &route.id)
                .map_err(|e| Error::Internal(format!("a hook secret cannot be opened: {e}")))?;
            String::from_utf8_lossy(&plain).into_owned()
        };
        let mut wanted = route.events.clone();
        wanted.push(event.to_owned());
        wanted.sort();
        wanted.dedup();
        let registered = self
            .register_github_hook(project, account, owner, repo, &route, &wanted, &secret)
            .await;
        match registered {
            Ok(hook_id) => {
                route.provider_hook_id = hook_id;
                route.events = wanted;
                self.state.store.put_route(project, &route).await?;
                Ok(route.id)
            }
            Err(e) => {
                if created {
                    let _ = self.state.store.delete_route(project, &route, &key).await;
                }
                Err(e)
            }
        }
    }

    /// Creates the repository hook, or updates its event list; the hook id.
    #[allow(clippy::too_many_arguments)]
    async fn register_github_hook(
        &self,
        project: &str,
        account: &ConnectedAccount,
        owner: &str,
        repo: &str,
        route: &Route,
        events: &[String],
        secret: &str,
    ) -> Result<String, Error> {
        let credential = self
            .state
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
        let base = self
            .state
            .catalog
            .toolkit("github")
            .map(|t| t.base_url.clone())
            .unwrap_or_else(|| "https://api.github.com".into());
        let hook_url = format!(
            "{}/webhooks/github/{project}/{}",
            self.state.config.triggers.public_base(),
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
        github::register_hook(&self.http, &base, &token, &hook)
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
    async fn drop_route(&self, project: &str, route_id: &str) {
        let Ok(Some((route, _))) = self.state.store.get_route(project, route_id).await else {
            return;
        };
        if route.toolkit == "github" && !route.provider_hook_id.is_empty() {
            if let Ok(credential) = self
                .state
                .oauth
                .credential_for(project, &route.account_id)
                .await
            {
                let token = github::bearer_token(&credential);
                if let (Some(token), Some((owner, repo))) = (token, route.target.split_once('/')) {
                    let base = self
                        .state
                        .catalog
                        .toolkit("github")
                        .map(|t| t.base_url.clone())
                        .unwrap_or_default();
                    let ok = github::remove_hook(
                        &self.http,
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
        let _ = self.state.store.delete_route(project, &route, &key).await;
    }
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

type EventStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl TriggerService for TriggerApi {
    async fn create_trigger(
        &self,
        request: Request<CreateTriggerRequest>,
    ) -> Result<Response<CreateTriggerResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let req = request.into_inner();
        let trigger_type = self.trigger_type(&req.r#type)?;
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
        let account = self
            .account_for(
                &project,
                &req.user_id,
                &trigger_type.toolkit,
                &req.connected_account_id,
            )
            .await?;
        let digest = upsert_digest(&account.id, &trigger_type.slug, &config);
        let route_id = match (&trigger_type.spec.webhook, trigger_type.toolkit.as_str()) {
            (Some(hook), "github") => {
                self.github_route(&project, &account, &config, &hook.event)
                    .await?
            }
            (Some(_), "slack") => {
                let channel = config["channel"].as_str().unwrap_or_default();
                slack_route(&self.state, &project, &account, channel).await?
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
        match self
            .state
            .store
            .create_trigger(&project, &trigger, &digest, &route_id)
            .await?
        {
            Some(existing) => {
                let stored = self.state.store.get_trigger(&project, &existing).await?;
                Ok(Response::new(CreateTriggerResponse {
                    trigger: Some(stored.trigger),
                    created: false,
                }))
            }
            None => {
                if trigger_type.spec.poll.is_some() {
                    self.state
                        .store
                        .schedule_poll(&project, &trigger.id, now_ms())
                        .await?;
                }
                tracing::info!(project_id = %project, trigger_id = %trigger.id, r#type = %trigger.r#type, "trigger created");
                Ok(Response::new(CreateTriggerResponse {
                    trigger: Some(trigger),
                    created: true,
                }))
            }
        }
    }

    async fn get_trigger(
        &self,
        request: Request<GetTriggerRequest>,
    ) -> Result<Response<GetTriggerResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let id = required(&request.get_ref().trigger_id, "trigger_id")?;
        let stored = self.state.store.get_trigger(&project, id).await?;
        Ok(Response::new(GetTriggerResponse {
            trigger: Some(stored.trigger),
        }))
    }

    async fn list_triggers(
        &self,
        request: Request<ListTriggersRequest>,
    ) -> Result<Response<ListTriggersResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let req = request.into_inner();
        let size = page_size(req.page_size, "page_size")?;
        let after = decode_token(&req.page_token, "page_token")?;
        if !req.user_id.is_empty() {
            validate_user_id(&req.user_id, "user_id")?;
        }
        if !req.r#type.is_empty() {
            self.trigger_type(&req.r#type)?;
        }
        let filter = TriggerFilter {
            user_id: (!req.user_id.is_empty()).then_some(req.user_id.as_str()),
            account_id: (!req.connected_account_id.is_empty())
                .then_some(req.connected_account_id.as_str()),
            trigger_type: (!req.r#type.is_empty()).then_some(req.r#type.as_str()),
            include_disabled: req.include_disabled,
        };
        let (triggers, more) = self
            .state
            .store
            .list_triggers(&project, &filter, after.as_deref(), size)
            .await?;
        let next_page_token = next_token(more, triggers.last().map(|t| t.id.as_str()));
        Ok(Response::new(ListTriggersResponse {
            triggers,
            next_page_token,
        }))
    }

    async fn enable_trigger(
        &self,
        request: Request<EnableTriggerRequest>,
    ) -> Result<Response<EnableTriggerResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let id = required(&request.get_ref().trigger_id, "trigger_id")?;
        let mut trigger = self.state.store.get_trigger(&project, id).await?.trigger;
        let account = self
            .state
            .store
            .get_account(&project, &trigger.connected_account_id)
            .await?;
        if account.account.status != ACTIVE {
            return Err(Error::FailedPrecondition {
                reason: switchboard_core::reason::ACCOUNT_NOT_ACTIVE,
                message: format!(
                    "its account {} is {}; reconnect it first",
                    account.account.id, account.account.status
                ),
            }
            .into());
        }
        trigger.enabled = true;
        trigger.status_reason = String::new();
        trigger.update_time = Some(now());
        self.state.store.put_trigger(&project, &trigger).await?;
        let polled = self
            .state
            .catalog
            .trigger_type(&trigger.r#type)
            .is_some_and(|t| t.spec.poll.is_some());
        if polled {
            self.state
                .store
                .schedule_poll(&project, &trigger.id, now_ms())
                .await?;
        }
        Ok(Response::new(EnableTriggerResponse {
            trigger: Some(trigger),
        }))
    }

    async fn disable_trigger(
        &self,
        request: Request<DisableTriggerRequest>,
    ) -> Result<Response<DisableTriggerResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let id = required(&request.get_ref().trigger_id, "trigger_id")?;
        let mut trigger = self.state.store.get_trigger(&project, id).await?.trigger;
        if trigger.enabled {
            trigger.enabled = false;
            trigger.status_reason = DISABLED_BY_API.to_owned();
            trigger.update_time = Some(now());
            self.state.store.put_trigger(&project, &trigger).await?;
            self.state
                .store
                .unschedule_poll(&project, &trigger.id)
                .await?;
        }
        Ok(Response::new(DisableTriggerResponse {
            trigger: Some(trigger),
        }))
    }

    async fn delete_trigger(
        &self,
        request: Request<DeleteTriggerRequest>,
    ) -> Result<Response<DeleteTriggerResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let id = required(&request.get_ref().trigger_id, "trigger_id")?;
        let (stored, left) = self.state.store.delete_trigger(&project, id).await?;
        if left == Some(0) {
            self.drop_route(&project, &stored.route_id).await;
        }
        tracing::info!(project_id = %project, trigger_id = %id, "trigger deleted");
        Ok(Response::new(DeleteTriggerResponse {}))
    }

    type SubscribeEventsStream = EventStream;

    async fn subscribe_events(
        &self,
        request: Request<SubscribeEventsRequest>,
    ) -> Result<Response<Self::SubscribeEventsStream>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let req = request.into_inner();
        let stream = crate::subscribe::open(&self.state, &project, req).await?;
        Ok(Response::new(stream))
    }

    async fn create_webhook_subscription(
        &self,
        request: Request<CreateWebhookSubscriptionRequest>,
    ) -> Result<Response<CreateWebhookSubscriptionResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let req = request.into_inner();
        check_webhook_url(&req.url, self.state.config.triggers.allow_loopback_webhooks)?;
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
                )
                .into());
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
        let sealed = self
            .state
            .sealer
            .seal(secret.as_bytes(), &subscription.id)
            .map_err(|e| Error::Internal(format!("sealing a webhook secret failed: {e}")))?;
        self.state
            .store
            .create_webhook_subscription(&project, &subscription, &sealed)
            .await?;
        Ok(Response::new(CreateWebhookSubscriptionResponse {
            subscription: Some(subscription),
            secret,
        }))
    }

    async fn list_webhook_subscriptions(
        &self,
        request: Request<ListWebhookSubscriptionsRequest>,
    ) -> Result<Response<ListWebhookSubscriptionsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let subscriptions = self
            .state
            .store
            .webhook_subscriptions(&project)
            .await?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        Ok(Response::new(ListWebhookSubscriptionsResponse {
            subscriptions,
        }))
    }

    async fn delete_webhook_subscription(
        &self,
        request: Request<DeleteWebhookSubscriptionRequest>,
    ) -> Result<Response<DeleteWebhookSubscriptionResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let id = required(&request.get_ref().subscription_id, "subscription_id")?;
        self.state
            .store
            .delete_webhook_subscription(&project, id)
            .await?;
        Ok(Response::new(DeleteWebhookSubscriptionResponse {}))
    }
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
