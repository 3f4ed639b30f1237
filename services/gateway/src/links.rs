//! The browser side of connecting an account, on the gateway's HTTP listener:
//!
//! - `GET /connect/{token}`: the Connect Link. OAuth 2.0: a redirect to the provider's
//!   authorization endpoint with a fresh single-use `state` bound to the request and a PKCE
//!   S256 challenge. Static schemes: a small form for the secret, protected by a CSRF token
//!   (in the form and in a `SameSite=Strict` cookie, its digest bound to the request).
//! - `POST /connect/{token}`: the form's answer.
//! - `GET /oauth/callback?code&state`: takes the `state` (once), exchanges the code, seals the
//!   tokens, names the upstream account, and activates it.
//!
//! The browser only ever goes back to the `callback_url` the backend set on the request
//! (validated then); nothing in a query string chooses where it goes. Every page is
//! `no-store`, unframeable and without referrer. No token, code, verifier or secret is logged.

use axum::extract::{Form, Path, Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use switchboard_catalog::spec::AuthScheme;
use switchboard_core::accounts::ACTIVE;
use switchboard_core::time::now_ms;
use switchboard_core::time::timestamp_of_ms;
use switchboard_core::Error;
use switchboard_oauth::flow::{self, digest, random_token};
use switchboard_proto::v1::create_connected_account_request::Credential as CredentialInput;
use switchboard_proto::v1::{ApiKeyCredential, BasicCredential, BearerTokenCredential};
use switchboard_store::{Finish, LinkRecord};

use crate::connect::{
    self, end_unsuccessfully, token_project, EXPIRED, FAILED, INITIATED, LINK_EXPIRED,
};
use crate::state::AppState;

const CSRF_COOKIE: &str = "sb_csrf";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
}

/// A small HTML page.
fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.4rem}}button{{margin-top:1rem;padding:.5rem 1rem}}</style>\
</head><body><h1>{t}</h1>{body_html}</body></html>",
        t = escape(title)
    );
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    secure_headers(response.headers_mut());
    response
}

fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, title, &format!("<p>{}</p>", escape(message)))
}

fn unknown_link() -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "This Connect Link is not valid: it may have been used already or have expired. Ask the app for a new one.",
    )
}

fn store_failed(e: &Error) -> Response {
    tracing::warn!(error = %e, "a Connect Link page could not reach the store");
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "The service is briefly unavailable. Reload this page in a moment.",
    )
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::FOUND.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            secure_headers(response.headers_mut());
            response
        }
        Err(_) => message_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The redirect address is not valid.",
        ),
    }
}

/// Where the browser goes when a request ended: the backend's callback URL with the outcome
/// in its query, or a result page.
fn finished(record: &LinkRecord, status: &str, reason_code: &str, message: &str) -> Response {
    if !record.callback_url.is_empty() {
        if let Ok(mut url) = url::Url::parse(&record.callback_url) {
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("status", status)
                    .append_pair("connected_account_id", &record.account_id)
                    .append_pair("connection_request_id", &record.id);
                if !reason_code.is_empty() {
                    query.append_pair("reason", reason_code);
                }
            }
            return redirect(url.as_str());
        }
    }
    if status == ACTIVE {
        message_page(StatusCode::OK, "Connected", message)
    } else {
        message_page(StatusCode::BAD_REQUEST, "Not connected", message)
    }
}

/// The live request a link token leads to, or the page to show instead.
async fn live_request(state: &AppState, token: &str) -> Result<(String, LinkRecord), Response> {
    let Some(project) = token_project(token) else {
        return Err(unknown_link());
    };
    let record = match state.store.link_by_token(project, &digest(token)).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(unknown_link()),
        Err(e) => return Err(store_failed(&e)),
    };
    check_live(state, project, record)
        .await
        .map(|r| (project.to_owned(), r))
}

/// A request that is still INITIATED and in time, or the page to show.
async fn check_live(
    state: &AppState,
    project: &str,
    record: LinkRecord,
) -> Result<LinkRecord, Response> {
    if record.is_expired(now_ms()) {
        if let Err(e) = end_unsuccessfully(state, project, &record, EXPIRED, LINK_EXPIRED).await {
            return Err(store_failed(&e));
        }
        return Err(message_page(
            StatusCode::GONE,
            "Link expired",
            "This Connect Link has expired. Ask the app for a new one.",
        ));
    }
    if record.status != INITIATED {
        return Err(message_page(StatusCode::CONFLICT, "Already done", "This connection has already been completed or has failed. Ask the app for a new link if needed."));
    }
    Ok(record)
}

/// `GET /connect/{token}`.
pub async fn open_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (project, mut record) = match live_request(&state, &token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let auth_config = match state
        .store
        .get_auth_config(&project, &record.auth_config_id)
        .await
    {
        Ok(c) => c,
        Err(Error::NotFound { .. }) => {
            let _ = end_unsuccessfully(
                &state,
                &project,
                &record,
                FAILED,
                "the auth config was deleted",
            )
            .await;
            return message_page(
                StatusCode::GONE,
                "Not available",
                "This connection can no longer be made. Ask the app for a new link.",
            );
        }
        Err(e) => return store_failed(&e),
    };
    let ttl = std::time::Duration::from_millis(
        u64::try_from(record.expire_ms - now_ms())
            .unwrap_or(1)
            .max(1),
    );
    let previous = std::mem::take(&mut record.state_hash);
    if auth_config.scheme == AuthScheme::Oauth2.as_str() {
        let app = match state.oauth.app_for(&project, &auth_config).await {
            Ok(app) => app,
            Err(e) => {
                tracing::warn!(project_id = %project, connection_request_id = %record.id, error = %e, "OAuth app unusable");
                return message_page(StatusCode::SERVICE_UNAVAILABLE, "Not available", "This app's connection to the provider is not set up. Tell the app's developers.");
            }
        };
        let oauth_state = connect::project_token(&project);
        record.state_hash = digest(&oauth_state);
        let verifier = app.pkce.then(flow::pkce_verifier);
        record.sealed_verifier = match &verifier {
            Some(v) => match state.sealer.seal(v.as_bytes(), &record.id) {
                Ok(sealed) => STANDARD.encode(sealed),
                Err(_) => {
                    return message_page(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong",
                        "Please try again.",
                    )
                }
            },
            None => String::new(),
        };
        let scopes = if record.scopes.is_empty() {
            app.scopes.clone()
        } else {
            record.scopes.clone()
        };
        let challenge = verifier.as_deref().map(flow::pkce_challenge);
        let location = match flow::authorize_url(&app, &oauth_state, &scopes, challenge.as_deref())
        {
            Ok(l) => l,
            Err(why) => {
                return message_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    &why,
                )
            }
        };
        match state
            .store
            .set_link_state(&project, &record, &previous, ttl)
            .await
        {
            Ok(true) => redirect(&location),
            Ok(false) => unknown_link(),
            Err(e) => store_failed(&e),
        }
    } else {
        let csrf = random_token(32);
        record.state_hash = digest(&csrf);
        match state
            .store
            .set_link_state(&project, &record, &previous, ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => return unknown_link(),
            Err(e) => return store_failed(&e),
        }
        let toolkit_name = state
            .catalog
            .toolkit(&record.toolkit)
            .map_or(record.toolkit.clone(), |t| t.spec.name.clone());
        let mut response = secret_form(&toolkit_name, &auth_config.scheme, &csrf);
        let cookie = format!(
            "{CSRF_COOKIE}={csrf}; Path=/connect/; HttpOnly; SameSite=Strict{}",
            if state.public_url.starts_with("https://") {
                "; Secure"
            } else {
                ""
            }
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        response
    }
}

fn secret_form(toolkit_name: &str, scheme: &str, csrf: &str) -> Response {
    let fields = match scheme {
        "API_KEY" => "<label for=\"api_key\">API key</label><input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"off\" required>",
        "BEARER_TOKEN" => "<label for=\"token\">Token</label><input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required>",
        _ => "<label for=\"username\">User name</label><input id=\"username\" name=\"username\" autocomplete=\"off\" required><label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"off\">",
    };
    page(
        StatusCode::OK,
        &format!("Connect {toolkit_name}"),
        &format!(
            "<p>Enter your {} credential. It is stored encrypted and used only for this app's calls on your behalf.</p><form method=\"post\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{fields}<button type=\"submit\">Connect</button></form>",
            escape(toolkit_name),
            escape(csrf)
        ),
    )
}

/// The secret form's fields.
#[derive(Deserialize)]
pub struct SecretForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `POST /connect/{token}`.
pub async fn submit_form(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SecretForm>,
) -> Response {
    let (project, record) = match live_request(&state, &token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let forbidden = || {
        message_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form is no longer valid. Open the Connect Link again.",
        )
    };
    let cookie = cookie_value(&headers, CSRF_COOKIE).unwrap_or_default();
    if form.csrf.is_empty()
        || cookie != form.csrf
        || record.state_hash.is_empty()
        || digest(&form.csrf) != record.state_hash
    {
        return forbidden();
    }
    let input = match record.scheme.as_str() {
        "API_KEY" => CredentialInput::ApiKey(ApiKeyCredential {
            api_key: form.api_key,
        }),
        "BEARER_TOKEN" => CredentialInput::BearerToken(BearerTokenCredential { token: form.token }),
        "BASIC" => CredentialInput::Basic(BasicCredential {
            username: form.username,
            password: form.password,
        }),
        _ => return forbidden(),
    };
    let credential = match crate::grpc::connection::input::credential(
        &record.scheme,
        &record.auth_config_id,
        Some(input),
    ) {
        Ok(c) => c,
        Err(e) => {
            // The message names the field and the rule, never the value.
            return message_page(
                StatusCode::BAD_REQUEST,
                "Check the form",
                &format!("{e}. Go back and try again."),
            );
        }
    };
    // Single use: only the first valid answer goes on.
    match state.store.take_state(&project, &record.state_hash).await {
        Ok(Some(taken)) if taken.id == record.id => {}
        Ok(_) => return forbidden(),
        Err(e) => return store_failed(&e),
    }
    let account = match state.store.get_account(&project, &record.account_id).await {
        Ok(s) => s.account,
        Err(Error::NotFound { .. }) => return unknown_link(),
        Err(e) => return store_failed(&e),
    };
    let sealed = match state.sealer.seal(&credential.to_bytes(), &account.id) {
        Ok(s) => s,
        Err(_) => {
            return message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            )
        }
    };
    activate(
        &state,
        &project,
        &record,
        account,
        &sealed,
        None,
        Vec::new(),
        None,
    )
    .await
}

/// Makes the request's account ACTIVE with its new sealed credential.
#[allow(clippy::too_many_arguments)]
async fn activate(
    state: &AppState,
    project: &str,
    record: &LinkRecord,
    mut account: switchboard_proto::v1::ConnectedAccount,
    sealed: &[u8],
    identity: Option<String>,
    granted_scopes: Vec<String>,
    token_expire_ms: Option<i64>,
) -> Response {
    let mut ended = record.clone();
    ended.status = ACTIVE.to_owned();
    ended.status_reason = String::new();
    account.status = ACTIVE.to_owned();
    account.status_reason = String::new();
    account.identity = identity.unwrap_or_default();
    account.granted_scopes = granted_scopes;
    account.token_expire_time = token_expire_ms.map(timestamp_of_ms);
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
        .await;
    match done {
        Ok(true) => {
            tracing::info!(project_id = project, connection_request_id = %record.id, account_id = %account.id, toolkit = %record.toolkit, "account connected");
            connect::announce(state, project, &record.id).await;
            let name = if account.identity.is_empty() {
                String::new()
            } else {
                format!(" as {}", account.identity)
            };
            finished(
                record,
                ACTIVE,
                "",
                &format!(
                    "Your {} account is connected{name}. You can close this window.",
                    record.toolkit
                ),
            )
        }
        Ok(false) => message_page(
            StatusCode::CONFLICT,
            "Already done",
            "This connection has already been completed or has failed.",
        ),
        Err(Error::NotFound { .. }) => unknown_link(),
        Err(e) => store_failed(&e),
    }
}

/// The provider's redirect back.
#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

fn reason_code(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

/// `GET /oauth/callback`.
pub async fn oauth_callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let bad_state = || {
        message_page(StatusCode::BAD_REQUEST, "Link not valid", "This sign-in answer is not valid: it is unknown, was already used, or has expired. Start again from the app.")
    };
    let Some(project) = token_project(&query.state).map(str::to_owned) else {
        return bad_state();
    };
    // The state is single-use: whoever takes it first is the only one to go on.
    let record = match state
        .store
        .take_state(&project, &digest(&query.state))
        .await
    {
        Ok(Some(r)) => r,
        Ok(None) => return bad_state(),
        Err(e) => return store_failed(&e),
    };
    let record = match check_live(&state, &project, record).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    if record.scheme != AuthScheme::Oauth2.as_str() {
        return bad_state();
    }
    let fail = |code: String, message: String| {
        let state = state.clone();
        let project = project.clone();
        let record = record.clone();
        async move {
            match end_unsuccessfully(&state, &project, &record, FAILED, &message).await {
                Ok(_) => finished(
                    &record,
                    FAILED,
                    &code,
                    &format!("The account was not connected: {message}."),
                ),
                Err(e) => store_failed(&e),
            }
        }
    };
    if !query.error.is_empty() {
        let code = reason_code(&query.error);
        return fail(code.clone(), format!("the provider answered {code}")).await;
    }
    if query.code.is_empty() {
        return fail(
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
                "auth_config_deleted".into(),
                "the auth config was deleted".into(),
            )
            .await
        }
        Err(e) => return store_failed(&e),
    };
    let app = match state.oauth.app_for(&project, &auth_config).await {
        Ok(a) => a,
        Err(e) => {
            return fail(
                "app_not_configured".into(),
                format!("the OAuth app is unusable ({})", e.reason()),
            )
            .await
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
                return fail("internal".into(), "the sign-in could not be checked".into()).await
            }
        }
    };
    let granted = match flow::exchange_code(
        state.oauth.http(),
        &app,
        &query.code,
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
            return fail(code, e.to_string()).await;
        }
    };
    let identity = flow::identity(
        state.oauth.http(),
        &app,
        &granted.tokens.access_token,
        state.oauth.timeout(),
    )
    .await;
    let account = match state.store.get_account(&project, &record.account_id).await {
        Ok(s) => s.account,
        Err(Error::NotFound { .. }) => return unknown_link(),
        Err(e) => return store_failed(&e),
    };
    let sealed = match state.oauth.seal_tokens(&granted.tokens, &account.id) {
        Ok(s) => s,
        Err(_) => {
            return message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            )
        }
    };
    let scopes = granted.scopes.clone().unwrap_or_else(|| {
        if record.scopes.is_empty() {
            app.scopes.clone()
        } else {
            record.scopes.clone()
        }
    });
    activate(
        &state,
        &project,
        &record,
        account,
        &sealed,
        identity,
        scopes,
        granted.tokens.expires_at_ms,
    )
    .await
}
