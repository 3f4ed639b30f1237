//! Connecting accounts: SessionService.Authorize and WaitForConnection, and what the Connect
//! Link pages (`links.rs`) share with them — ending a request and announcing its end.
//!
//! A connection request belongs to one session (so to one project and one user): its account
//! is that user's, whatever the browser that follows the link does, and any other project,
//! user or session sees NOT_FOUND.

use std::time::Duration;

use futures::StreamExt;
use switchboard_catalog::spec::AuthScheme;
use switchboard_catalog::Toolkit;
use switchboard_core::accounts::ACTIVE;
use switchboard_core::ids::new_id;
use switchboard_core::scope::Scope;
use switchboard_core::time::now_ms;
use switchboard_core::time::timestamp_of_ms;
use switchboard_core::Error;
use switchboard_oauth::flow::{digest, random_token};
use switchboard_proto::v1::{
    AuthConfig, AuthorizeRequest, ConnectedAccount, ConnectionRequest, Session,
    WaitForConnectionRequest, WaitForConnectionResponse,
};
use switchboard_store::{Finish, LinkRecord};

use crate::app::connections::input::check_alias;
use crate::app::required;
use crate::state::AppState;

/// Request and account statuses of the flow.
pub use switchboard_core::accounts::{EXPIRED, FAILED, INITIATED};
/// Why a request whose link ran out ended.
pub const LINK_EXPIRED: &str = "the Connect Link expired before the account was connected";

const DEFAULT_WAIT: Duration = Duration::from_secs(60);
const MAX_WAIT: Duration = Duration::from_secs(600);
const MAX_SCOPES: usize = 50;

/// A secret that also names its project, so the link and callback handlers find the right
/// keys: `<project id>.<32 random bytes, base64url>`.
pub fn project_token(project: &str) -> String {
    format!("{project}.{}", random_token(32))
}

/// The project a link token or state names, when it is well formed.
pub fn token_project(token: &str) -> Option<&str> {
    let (project, secret) = token.split_once('.')?;
    (switchboard_core::ids::is_id("prj", project) && secret.len() >= 32).then_some(project)
}

/// Checks a callback URL: absolute http(s) with a host, no user-info, at most 2,048 bytes.
pub fn check_callback_url(url: &str, field: &str) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::invalid(
            switchboard_core::reason::INVALID_CALLBACK_URL,
            field,
            why.to_owned(),
        )
    };
    if url.len() > 2048 {
        return Err(bad("must be at most 2048 bytes"));
    }
    let parsed = url::Url::parse(url).map_err(|_| bad("must be an absolute http(s) URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("must be an absolute http(s) URL with a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry a user name or password"));
    }
    Ok(())
}

/// Checks OAuth scopes: at most 50, each 1–256 printable characters without spaces.
pub fn check_scopes(scopes: &[String], field: &str) -> Result<(), Error> {
    if scopes.len() > MAX_SCOPES {
        return Err(Error::invalid(
            switchboard_core::reason::TOO_MANY_SCOPES,
            field,
            format!("at most {MAX_SCOPES} scopes"),
        ));
    }
    for (i, scope) in scopes.iter().enumerate() {
        if scope.is_empty()
            || scope.len() > 256
            || scope
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
        {
            return Err(Error::invalid(
                switchboard_core::reason::INVALID_SCOPE,
                format!("{field}[{i}]"),
                "a scope is 1–256 printable characters without spaces, quotes or backslashes",
            ));
        }
    }
    Ok(())
}

/// The public view of a request; `redirect_url` only when the caller just made it.
pub fn request_view(
    state: &AppState,
    record: &LinkRecord,
    redirect_url: String,
) -> ConnectionRequest {
    let expired = record.is_expired(state.clock.now_ms());
    ConnectionRequest {
        id: record.id.clone(),
        connected_account_id: record.account_id.clone(),
        status: if expired {
            EXPIRED.to_owned()
        } else {
            record.status.clone()
        },
        status_reason: if expired {
            LINK_EXPIRED.to_owned()
        } else {
            record.status_reason.clone()
        },
        redirect_url,
        expire_time: Some(timestamp_of_ms(record.expire_ms)),
        toolkit: record.toolkit.clone(),
        user_id: record.user_id.clone(),
        session_id: record.session_id.clone(),
        auth_config_id: record.auth_config_id.clone(),
        create_time: Some(timestamp_of_ms(record.create_ms)),
    }
}

/// Announces that a request ended (WaitForConnection listens; it re-reads the store).
pub async fn announce(state: &AppState, project: &str, request_id: &str) {
    if let Err(e) = state
        .bus
        .announce_connection_ended(project, request_id)
        .await
    {
        tracing::warn!(connection_request_id = request_id, error = %e, "could not announce a finished connection");
    }
}

/// Ends an INITIATED request as FAILED or EXPIRED. A new account takes that status; a
/// reconnected one that was ACTIVE keeps working as it was. False when it had already ended.
pub async fn end_unsuccessfully(
    state: &AppState,
    project: &str,
    record: &LinkRecord,
    status: &str,
    reason: &str,
) -> Result<bool, Error> {
    let mut ended = record.clone();
    ended.status = status.to_owned();
    ended.status_reason = reason.to_owned();
    let account = match state.store.get_account(project, &record.account_id).await {
        Ok(stored) => Some(stored.account),
        Err(Error::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let changed = account
        .filter(|a| !(record.reconnect && a.status == ACTIVE))
        .map(|mut a| {
            a.status = status.to_owned();
            a.status_reason = reason.to_owned();
            a.link_expire_time = None;
            a.update_time = Some(timestamp_of_ms(now_ms()));
            a
        });
    let done = state
        .store
        .finish_link(
            project,
            Finish {
                record: &ended,
                account: changed.as_ref(),
                sealed: None,
            },
        )
        .await;
    let done = match done {
        Err(Error::NotFound { .. }) => {
            // The account was deleted meanwhile: end the request alone.
            state
                .store
                .finish_link(
                    project,
                    Finish {
                        record: &ended,
                        account: None,
                        sealed: None,
                    },
                )
                .await?
        }
        other => other?,
    };
    if done {
        tracing::info!(project_id = project, connection_request_id = %record.id, status, "connection request ended");
        announce(state, project, &record.id).await;
    }
    Ok(done)
}

/// The auth config a new connection of `toolkit` uses: the session's, else the project's
/// oldest for the toolkit, else a managed OAuth one made now when the server has the app.
async fn choose_auth_config(
    state: &AppState,
    project: &str,
    config: &switchboard_proto::v1::SessionConfig,
    toolkit: &Toolkit,
) -> Result<AuthConfig, Error> {
    if let Some(id) = config.auth_configs.get(&toolkit.slug) {
        return state.store.get_auth_config(project, id).await;
    }
    let (configs, _) = state
        .store
        .list_auth_configs(project, Some(&toolkit.slug), None, 1)
        .await?;
    if let Some(found) = configs.into_iter().next() {
        return Ok(found);
    }
    let oauth = toolkit.spec.auth.schemes.contains(&AuthScheme::Oauth2);
    if oauth && switchboard_oauth::app::has_managed_app(&state.config.oauth, &toolkit.slug) {
        let now = timestamp_of_ms(now_ms());
        let managed = AuthConfig {
            id: new_id("ac"),
            toolkit: toolkit.slug.clone(),
            scheme: AuthScheme::Oauth2.as_str().to_owned(),
            name: format!("{} (managed)", toolkit.spec.name),
            is_managed: true,
            create_time: Some(now),
            update_time: Some(now),
            ..Default::default()
        };
        state
            .store
            .create_auth_config(project, &managed, None)
            .await?;
        tracing::info!(project_id = project, auth_config_id = %managed.id, toolkit = %toolkit.slug, "managed auth config created");
        return Ok(managed);
    }
    Err(Error::FailedPrecondition {
        reason: switchboard_core::reason::NO_AUTH_CONFIG,
        message: format!(
            "this project has no auth config for {}; create one with ConnectionService.CreateAuthConfig",
            toolkit.slug
        ),
    })
}

/// SessionService.Authorize.
pub async fn authorize(
    state: &AppState,
    project: &str,
    req: AuthorizeRequest,
) -> Result<ConnectionRequest, Error> {
    let session_id = required(&req.session_id, "session_id")?;
    let session = state.store.get_session(project, session_id).await?;
    let slug = required(&req.toolkit, "toolkit")?;
    let catalog = state.catalogs.for_project(project).await?;
    let toolkit = catalog.toolkit(slug).ok_or_else(|| {
        Error::invalid(
            switchboard_core::reason::UNKNOWN_TOOLKIT,
            "toolkit",
            format!("unknown toolkit {slug:?}"),
        )
    })?;
    let config = session.config.clone().unwrap_or_default();
    if !Scope::new(&config, &catalog).toolkit_enabled(slug) {
        return Err(Error::PermissionDenied {
            reason: switchboard_core::reason::TOOLKIT_NOT_IN_SESSION,
            message: format!("toolkit {slug} is not enabled in this session"),
        });
    }
    if toolkit.is_no_auth() {
        return Err(Error::FailedPrecondition {
            reason: switchboard_core::reason::NO_AUTH_TOOLKIT,
            message: format!("{slug} needs no account; its tools run without one"),
        });
    }
    check_alias(&req.alias)?;
    let callback_url = if req.callback_url.is_empty() {
        config
            .manage_connections
            .as_ref()
            .map(|m| m.callback_url.clone())
            .unwrap_or_default()
    } else {
        check_callback_url(&req.callback_url, "callback_url")?;
        req.callback_url.clone()
    };
    check_scopes(&req.scopes, "scopes")?;

    let accounts = state.store.user_accounts(project, &session.user_id).await?;
    let existing = (!req.alias.is_empty())
        .then(|| {
            accounts
                .iter()
                .find(|a| a.toolkit == slug && a.alias == req.alias)
        })
        .flatten();
    let auth_config = match existing {
        Some(account) => {
            state
                .store
                .get_auth_config(project, &account.auth_config_id)
                .await?
        }
        None => choose_auth_config(state, project, &config, toolkit).await?,
    };
    check_auth_config(state, project, &auth_config, &req.scopes).await?;
    check_account_room(existing, &accounts, slug, &config)?;

    let now = state.clock.now_ms();
    let ttl = Duration::from_secs(state.config.oauth.link_ttl_secs);
    let expire_ms = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let token = project_token(project);
    let account_id = existing.map_or_else(|| new_id("ca"), |a| a.id.clone());
    let record = LinkRecord {
        id: new_id("cr"),
        session_id: session.id.clone(),
        user_id: session.user_id.clone(),
        toolkit: slug.to_owned(),
        auth_config_id: auth_config.id.clone(),
        account_id: account_id.clone(),
        scheme: auth_config.scheme.clone(),
        status: INITIATED.to_owned(),
        status_reason: String::new(),
        callback_url,
        scopes: req.scopes.clone(),
        create_ms: now,
        expire_ms,
        reconnect: existing.is_some(),
        link_hash: digest(&token),
        state_hash: String::new(),
        sealed_verifier: String::new(),
    };
    let new_account = existing.is_none().then(|| ConnectedAccount {
        id: account_id,
        user_id: session.user_id.clone(),
        toolkit: slug.to_owned(),
        auth_config_id: auth_config.id.clone(),
        alias: if switchboard_core::ids::is_id("ca", &req.alias) {
            String::new()
        } else {
            req.alias.clone()
        },
        status: INITIATED.to_owned(),
        status_reason: "waiting for the user to follow the Connect Link".to_owned(),
        scheme: auth_config.scheme.clone(),
        create_time: Some(timestamp_of_ms(now)),
        update_time: Some(timestamp_of_ms(now)),
        link_expire_time: Some(timestamp_of_ms(expire_ms)),
        ..Default::default()
    });
    state
        .store
        .start_link(project, &record, ttl, new_account.as_ref())
        .await?;
    tracing::info!(project_id = project, connection_request_id = %record.id, account_id = %record.account_id, toolkit = slug, "connection request started");
    Ok(request_view(
        state,
        &record,
        format!("{}/connect/{token}", state.public_url),
    ))
}

/// Whether `auth_config` can connect an account with `scopes`: not NO_AUTH, an OAuth app that
/// is complete (checked now rather than on the user's screen), scopes only for OAuth 2.0.
async fn check_auth_config(
    state: &AppState,
    project: &str,
    auth_config: &AuthConfig,
    scopes: &[String],
) -> Result<(), Error> {
    if auth_config.scheme == AuthScheme::NoAuth.as_str() {
        return Err(Error::FailedPrecondition {
            reason: switchboard_core::reason::NO_AUTH_TOOLKIT,
            message: format!("auth config {} needs no account", auth_config.id),
        });
    }
    if auth_config.scheme == AuthScheme::Oauth2.as_str() {
        // Fail now, not on the user's screen, when the app is incomplete.
        state.oauth.app_for(project, auth_config).await?;
    } else if !scopes.is_empty() {
        return Err(Error::invalid(
            switchboard_core::reason::SCOPES_NOT_APPLICABLE,
            "scopes",
            format!("{} auth configs have no scopes", auth_config.scheme),
        ));
    }
    Ok(())
}

/// Whether the user may connect (or reconnect) an account of `slug`: a reconnected account is
/// not disabled; a new one stays within the session's accounts per toolkit.
fn check_account_room(
    existing: Option<&ConnectedAccount>,
    accounts: &[ConnectedAccount],
    slug: &str,
    config: &switchboard_proto::v1::SessionConfig,
) -> Result<(), Error> {
    if let Some(account) = existing {
        if account.status == switchboard_core::accounts::DISABLED {
            return Err(Error::FailedPrecondition {
                reason: switchboard_core::reason::ACCOUNT_DISABLED,
                message: format!(
                    "account {} is disabled; enable it before reconnecting",
                    account.id
                ),
            });
        }
    } else {
        let active = accounts
            .iter()
            .filter(|a| a.toolkit == slug && a.status == ACTIVE)
            .count();
        let limit = match config.multi_account.as_ref().filter(|m| m.enable) {
            Some(m) => usize::try_from(m.max_accounts_per_toolkit.unwrap_or(5)).unwrap_or(5),
            None => 1,
        };
        if active >= limit {
            return Err(Error::FailedPrecondition {
                reason: switchboard_core::reason::ACCOUNT_LIMIT_REACHED,
                message: if limit == 1 {
                    format!("the user already has a {slug} account; reconnect it by its alias, or enable multi_account in the session")
                } else {
                    format!("the user already has {active} {slug} accounts, this session's limit")
                },
            });
        }
    }
    Ok(())
}

/// SessionService.WaitForConnection.
pub async fn wait(
    state: &AppState,
    project: &str,
    req: WaitForConnectionRequest,
) -> Result<WaitForConnectionResponse, Error> {
    let session_id = required(&req.session_id, "session_id")?;
    let session: Session = state.store.get_session(project, session_id).await?;
    let id = required(&req.connection_request_id, "connection_request_id")?;
    let timeout = match req.timeout {
        None => DEFAULT_WAIT,
        Some(d) if d.seconds < 0 || d.nanos < 0 => {
            return Err(Error::invalid(
                switchboard_core::reason::OUT_OF_RANGE,
                "timeout",
                "must not be negative",
            ))
        }
        Some(d) => Duration::new(
            u64::try_from(d.seconds).unwrap_or(0),
            u32::try_from(d.nanos).unwrap_or(0),
        )
        .min(MAX_WAIT),
    };
    let not_found = || {
        Error::not_found(
            switchboard_core::reason::CONNECTION_REQUEST_NOT_FOUND,
            format!("connection request {id:?} not found"),
        )
    };
    // Listen first, then read: an end announced in between is not missed.
    let mut ended = state
        .bus
        .connection_endings(project, Some(id))
        .await
        .map_err(|e| Error::Unavailable {
            reason: switchboard_core::reason::BUS_UNAVAILABLE,
            message: format!("cannot wait now: {e}"),
        })?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let record = match state.store.get_link(project, id).await {
            Ok(r) if r.session_id == session.id => r,
            Ok(_) | Err(Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => return Err(e),
        };
        let now = state.clock.now_ms();
        if record.is_expired(now) {
            end_unsuccessfully(state, project, &record, EXPIRED, LINK_EXPIRED).await?;
            continue;
        }
        if record.status != INITIATED {
            let account = match state.store.get_account(project, &record.account_id).await {
                Ok(s) => Some(s.account),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            return Ok(WaitForConnectionResponse {
                connection_request: Some(request_view(state, &record, String::new())),
                connected_account: account,
            });
        }
        let until_expiry =
            Duration::from_millis(u64::try_from(record.expire_ms - now).unwrap_or(0));
        let wake =
            deadline.min(tokio::time::Instant::now() + until_expiry + Duration::from_millis(5));
        tokio::select! {
            _ = ended.next() => {}
            () = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::DeadlineExceeded {
                        reason: switchboard_core::reason::CONNECTION_PENDING,
                        message: format!("connection request {id} is still INITIATED: the user has not finished connecting"),
                        execution_id: String::new(),
                    });
                }
            }
        }
    }
}
