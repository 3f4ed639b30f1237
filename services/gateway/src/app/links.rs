//! Connecting an account in the browser, without the HTML: the steps of a Connect Link and
//! the OAuth callback. [`crate::http::links`] turns what these return into pages, redirects
//! and cookies.
//!
//! - [`open`]: OAuth 2.0 gets the provider's authorization URL with a fresh single-use
//!   `state` bound to the request and a PKCE S256 challenge; static schemes get a form
//!   protected by a CSRF token whose digest is bound to the request.
//! - [`submit`]: the form's answer (checked against the CSRF token, single use).
//! - [`oauth_callback`]: takes the `state` (once), exchanges the code, seals the tokens,
//!   names the upstream account, and activates it.
//!
//! No token, code, verifier or secret is logged.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use switchboard_catalog::spec::AuthScheme;
use switchboard_core::accounts::ACTIVE;
use switchboard_core::time::{now_ms, timestamp_of_ms};
use switchboard_core::Error;
use switchboard_oauth::flow::{self, digest, random_token};
use switchboard_proto::v1::create_connected_account_request::Credential as CredentialInput;
use switchboard_proto::v1::{ApiKeyCredential, BasicCredential, BearerTokenCredential};
use switchboard_store::{Finish, LinkRecord};

use crate::app::connect::{
    self, end_unsuccessfully, token_project, EXPIRED, FAILED, INITIATED, LINK_EXPIRED,
};
use crate::state::AppState;

/// Why a step did not go on: what the browser is told instead.
#[derive(Debug)]
pub enum Refusal {
    /// The link or its request does not exist (or was used up).
    UnknownLink,
    /// The request's time ran out (it is now EXPIRED).
    Expired,
    /// The request already ended.
    AlreadyDone,
    /// The request ended while this step ran.
    EndedMeanwhile,
    /// The request's auth config was deleted (it is now FAILED).
    NoLongerPossible,
    /// The OAuth app behind the request cannot be used.
    AppNotSetUp,
    /// The form's CSRF token is missing, wrong or used.
    FormExpired,
    /// The form's answer breaks a rule; the message names the field, never the value.
    CheckForm(String),
    /// The OAuth callback's `state` is unknown, used or expired.
    BadState,
    /// Something failed on our side; the message is safe to show.
    Internal(String),
    /// The store did not answer.
    StoreUnavailable,
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        match e {
            Error::NotFound { .. } => Refusal::UnknownLink,
            e => {
                tracing::warn!(error = %e, "a Connect Link step could not reach the store");
                Refusal::StoreUnavailable
            }
        }
    }
}

/// What opening a live link leads to.
#[derive(Debug)]
pub enum Opened {
    /// OAuth 2.0: the provider's authorization URL.
    Provider(String),
    /// A static scheme: the form asking for the secret, with its CSRF token.
    SecretForm {
        toolkit_name: String,
        scheme: String,
        csrf: String,
    },
}

/// How a request ended, for the browser: the backend's callback URL (with the outcome in its
/// query) when it gave one, else a result page with the message.
#[derive(Debug)]
pub struct Ended {
    pub record: LinkRecord,
    pub status: &'static str,
    pub reason_code: String,
    pub message: String,
}

/// The secret form's answer.
#[derive(Debug, Default)]
pub struct SecretAnswer {
    pub csrf: String,
    pub api_key: String,
    pub token: String,
    pub username: String,
    pub password: String,
}

/// The provider's redirect back to `/oauth/callback`.
#[derive(Debug, Default)]
pub struct CallbackAnswer {
    pub code: String,
    pub state: String,
    pub error: String,
}

/// The live request a link token leads to.
async fn live_request(state: &AppState, token: &str) -> Result<(String, LinkRecord), Refusal> {
    let project = token_project(token).ok_or(Refusal::UnknownLink)?;
    let record = state
        .store
        .link_by_token(project, &digest(token))
        .await?
        .ok_or(Refusal::UnknownLink)?;
    let record = check_live(state, project, record).await?;
    Ok((project.to_owned(), record))
}

/// A request that is still INITIATED and in time.
async fn check_live(
    state: &AppState,
    project: &str,
    record: LinkRecord,
) -> Result<LinkRecord, Refusal> {
    if record.is_expired(state.clock.now_ms()) {
        end_unsuccessfully(state, project, &record, EXPIRED, LINK_EXPIRED)
            .await
            .map_err(store_unavailable)?;
        return Err(Refusal::Expired);
    }
    if record.status != INITIATED {
        return Err(Refusal::AlreadyDone);
    }
    Ok(record)
}

/// A store failure where "not found" is no answer either.
fn store_unavailable(e: Error) -> Refusal {
    tracing::warn!(error = %e, "a Connect Link step could not reach the store");
    Refusal::StoreUnavailable
}

/// `GET /connect/{token}`: binds a fresh OAuth `state` (or CSRF token) to the request.
pub async fn open(state: &AppState, token: &str) -> Result<Opened, Refusal> {
    let (project, mut record) = live_request(state, token).await?;
    let auth_config = match state
        .store
        .get_auth_config(&project, &record.auth_config_id)
        .await
    {
        Ok(c) => c,
        Err(Error::NotFound { .. }) => {
            let _ = end_unsuccessfully(
                state,
                &project,
                &record,
                FAILED,
                "the auth config was deleted",
            )
            .await;
            return Err(Refusal::NoLongerPossible);
        }
        Err(e) => return Err(store_unavailable(e)),
    };
    let ttl = std::time::Duration::from_millis(
        u64::try_from(record.expire_ms - state.clock.now_ms())
            .unwrap_or(1)
            .max(1),
    );
    let previous = std::mem::take(&mut record.state_hash);
    if auth_config.scheme == AuthScheme::Oauth2.as_str() {
        let app = state
            .oauth
            .app_for(&project, &auth_config)
            .await
            .map_err(|e| {
                tracing::warn!(project_id = %project, connection_request_id = %record.id, error = %e, "OAuth app unusable");
                Refusal::AppNotSetUp
            })?;
        let oauth_state = connect::project_token(&project);
        record.state_hash = digest(&oauth_state);
        let verifier = app.pkce.then(flow::pkce_verifier);
        record.sealed_verifier = match &verifier {
            Some(v) => state
                .sealer
                .seal(v.as_bytes(), &record.id)
                .map(|sealed| STANDARD.encode(sealed))
                .map_err(|_| Refusal::Internal("Please try again.".into()))?,
            None => String::new(),
        };
        let scopes = if record.scopes.is_empty() {
            app.scopes.clone()
        } else {
            record.scopes.clone()
        };
        let challenge = verifier.as_deref().map(flow::pkce_challenge);
        let location = flow::authorize_url(&app, &oauth_state, &scopes, challenge.as_deref())
            .map_err(Refusal::Internal)?;
        bind_state(state, &project, &record, &previous, ttl).await?;
        Ok(Opened::Provider(location))
    } else {
        let csrf = random_token(32);
        record.state_hash = digest(&csrf);
        bind_state(state, &project, &record, &previous, ttl).await?;
        let catalog = state.catalogs.for_project(&project).await?;
        let toolkit_name = catalog
            .toolkit(&record.toolkit)
            .map_or(record.toolkit.clone(), |t| t.spec.name.clone());
        Ok(Opened::SecretForm {
            toolkit_name,
            scheme: auth_config.scheme,
            csrf,
        })
    }
}

/// Stores the request's new state digest in place of `previous` (false: it changed meanwhile).
async fn bind_state(
    state: &AppState,
    project: &str,
    record: &LinkRecord,
    previous: &str,
    ttl: std::time::Duration,
) -> Result<(), Refusal> {
    match state
        .store
        .set_link_state(project, record, previous, ttl)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(Refusal::UnknownLink),
        Err(e) => Err(store_unavailable(e)),
    }
}

/// `POST /connect/{token}`: the secret, checked against the CSRF token in the form and in the
/// browser's cookie (`cookie_csrf`), sealed and stored; the account becomes ACTIVE.
pub async fn submit(
    state: &AppState,
    token: &str,
    cookie_csrf: &str,
    answer: SecretAnswer,
) -> Result<Ended, Refusal> {
    let (project, record) = live_request(state, token).await?;
    if answer.csrf.is_empty()
        || cookie_csrf != answer.csrf
        || record.state_hash.is_empty()
        || digest(&answer.csrf) != record.state_hash
    {
        return Err(Refusal::FormExpired);
    }
    let input = match record.scheme.as_str() {
        "API_KEY" => CredentialInput::ApiKey(ApiKeyCredential {
            api_key: answer.api_key,
        }),
        "BEARER_TOKEN" => CredentialInput::BearerToken(BearerTokenCredential {
            token: answer.token,
        }),
        "BASIC" => CredentialInput::Basic(BasicCredential {
            username: answer.username,
            password: answer.password,
        }),
        _ => return Err(Refusal::FormExpired),
    };
    let credential = crate::app::connections::input::credential(
        &record.scheme,
        &record.auth_config_id,
        Some(input),
    )
    .map_err(|e| Refusal::CheckForm(e.to_string()))?;
    // Single use: only the first valid answer goes on.
    match state.store.take_state(&project, &record.state_hash).await {
        Ok(Some(taken)) if taken.id == record.id => {}
        Ok(_) => return Err(Refusal::FormExpired),
        Err(e) => return Err(store_unavailable(e)),
    }
    let account = state
        .store
        .get_account(&project, &record.account_id)
        .await?;
    let sealed = state
        .sealer
        .seal(&credential.to_bytes(), &account.account.id)
        .map_err(|_| Refusal::Internal("Please try again.".into()))?;
    activate(
        state,
        &project,
        &record,
        account.account,
        &sealed,
        Granted::default(),
    )
    .await
}

/// What an OAuth grant adds to an activated account.
#[derive(Default)]
struct Granted {
    identity: Option<String>,
    scopes: Vec<String>,
    token_expire_ms: Option<i64>,
}

/// Makes the request's account ACTIVE with its new sealed credential.
async fn activate(
    state: &AppState,
    project: &str,
    record: &LinkRecord,
    mut account: switchboard_proto::v1::ConnectedAccount,
    sealed: &[u8],
    granted: Granted,
) -> Result<Ended, Refusal> {
    let mut ended = record.clone();
    ended.status = ACTIVE.to_owned();
    ended.status_reason = String::new();
    account.status = ACTIVE.to_owned();
    account.status_reason = String::new();
    account.identity = granted.identity.unwrap_or_default();
    account.granted_scopes = granted.scopes;
    account.token_expire_time = granted.token_expire_ms.map(timestamp_of_ms);
    account.link_expire_time = None;
    account.update_time = Some(timestamp_of_ms(now_ms()));
    let done = state
        .store
        .finish_link(
            project,
            Finish {
                record: &ended,
                account: Some(&account),
                sealed: Some(sealed),
            },
        )
        .await?;
    if !done {
        return Err(Refusal::EndedMeanwhile);
    }
    tracing::info!(project_id = project, connection_request_id = %record.id, account_id = %account.id, toolkit = %record.toolkit, "account connected");
    connect::announce(state, project, &record.id).await;
    let name = if account.identity.is_empty() {
        String::new()
    } else {
        format!(" as {}", account.identity)
    };
    Ok(Ended {
        record: record.clone(),
        status: ACTIVE,
        reason_code: String::new(),
        message: format!(
            "Your {} account is connected{name}. You can close this window.",
            record.toolkit
        ),
    })
}

/// A provider's error text as a reason code: letters, digits and `_`, at most 64.
fn reason_code(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

/// Ends the request as FAILED with `code`, for the browser.
async fn fail(
    state: &AppState,
    project: &str,
    record: &LinkRecord,
    code: String,
    message: String,
) -> Result<Ended, Refusal> {
    end_unsuccessfully(state, project, record, FAILED, &message)
        .await
        .map_err(store_unavailable)?;
    Ok(Ended {
        record: record.clone(),
        status: FAILED,
        reason_code: code,
        message: format!("The account was not connected: {message}."),
    })
}

/// `GET /oauth/callback`: the provider's answer for the request its `state` is bound to.
pub async fn oauth_callback(state: &AppState, answer: CallbackAnswer) -> Result<Ended, Refusal> {
    let project = token_project(&answer.state)
        .map(str::to_owned)
        .ok_or(Refusal::BadState)?;
    // The state is single-use: whoever takes it first is the only one to go on.
    let record = state
        .store
        .take_state(&project, &digest(&answer.state))
        .await
        .map_err(store_unavailable)?
        .ok_or(Refusal::BadState)?;
    let record = check_live(state, &project, record).await?;
    if record.scheme != AuthScheme::Oauth2.as_str() {
        return Err(Refusal::BadState);
    }
    if !answer.error.is_empty() {
        let code = reason_code(&answer.error);
        let message = format!("the provider answered {code}");
        return fail(state, &project, &record, code, message).await;
    }
    if answer.code.is_empty() {
        return fail(
            state,
            &project,
            &record,
            "invalid_request".into(),
            "the provider sent no authorization code".into(),
        )
        .await;
    }
    let auth_config = match state
        .store
        .get_auth_config(&project, &record.auth_config_id)
        .await
    {
        Ok(c) => c,
        Err(Error::NotFound { .. }) => {
            return fail(
                state,
                &project,
                &record,
                "auth_config_deleted".into(),
                "the auth config was deleted".into(),
            )
            .await
        }
        Err(e) => return Err(store_unavailable(e)),
    };
    let app = match state.oauth.app_for(&project, &auth_config).await {
        Ok(a) => a,
        Err(e) => {
            let message = format!("the OAuth app is unusable ({})", e.reason());
            return fail(
                state,
                &project,
                &record,
                "app_not_configured".into(),
                message,
            )
            .await;
        }
    };
    let verifier = if record.sealed_verifier.is_empty() {
        None
    } else {
        let opened = STANDARD
            .decode(&record.sealed_verifier)
            .ok()
            .and_then(|sealed| state.sealer.open(&sealed, &record.id).ok())
            .and_then(|plain| String::from_utf8(plain.to_vec()).ok());
        match opened {
            Some(v) => Some(v),
            None => {
                let message = "the sign-in could not be checked".to_owned();
                return fail(state, &project, &record, "internal".into(), message).await;
            }
        }
    };
    let granted = match flow::exchange_code(
        state.oauth.http(),
        &app,
        &answer.code,
        verifier.as_deref(),
        state.oauth.timeout(),
    )
    .await
    {
        Ok(g) => g,
        Err(e) => {
            let code = match &e {
                flow::TokenError::Rejected { code, .. } => reason_code(code),
                flow::TokenError::Transient(_) => "token_endpoint_unavailable".to_owned(),
            };
            tracing::info!(project_id = %project, connection_request_id = %record.id, reason = %code, "token exchange failed");
            return fail(state, &project, &record, code, e.to_string()).await;
        }
    };
    let identity = flow::identity(
        state.oauth.http(),
        &app,
        &granted.tokens.access_token,
        state.oauth.timeout(),
    )
    .await;
    let account = state
        .store
        .get_account(&project, &record.account_id)
        .await?;
    let sealed = state
        .oauth
        .seal_tokens(&granted.tokens, &account.account.id)
        .map_err(|_| Refusal::Internal("Please try again.".into()))?;
    let scopes = granted.scopes.clone().unwrap_or_else(|| {
        if record.scopes.is_empty() {
            app.scopes.clone()
        } else {
            record.scopes.clone()
        }
    });
    activate(
        state,
        &project,
        &record,
        account.account,
        &sealed,
        Granted {
            identity,
            scopes,
            token_expire_ms: granted.tokens.expires_at_ms,
        },
    )
    .await
}
