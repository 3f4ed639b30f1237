//! The browser side of connecting an account, on the gateway's HTTP listener (the steps
//! themselves are in [`crate::app::links`]; this module renders them):
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
use serde::Deserialize;
use switchboard_core::accounts::ACTIVE;

use crate::app::links::{self, CallbackAnswer, Ended, Opened, Refusal, SecretAnswer};
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
fn finished(ended: &Ended) -> Response {
    let Ended {
        record,
        status,
        reason_code,
        message,
    } = ended;
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
    if *status == ACTIVE {
        message_page(StatusCode::OK, "Connected", message)
    } else {
        message_page(StatusCode::BAD_REQUEST, "Not connected", message)
    }
}

/// The page for a step that did not go on.
fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::UnknownLink => unknown_link(),
        Refusal::Expired => message_page(
            StatusCode::GONE,
            "Link expired",
            "This Connect Link has expired. Ask the app for a new one.",
        ),
        Refusal::AlreadyDone => message_page(
            StatusCode::CONFLICT,
            "Already done",
            "This connection has already been completed or has failed. Ask the app for a new link if needed.",
        ),
        Refusal::EndedMeanwhile => message_page(
            StatusCode::CONFLICT,
            "Already done",
            "This connection has already been completed or has failed.",
        ),
        Refusal::NoLongerPossible => message_page(
            StatusCode::GONE,
            "Not available",
            "This connection can no longer be made. Ask the app for a new link.",
        ),
        Refusal::AppNotSetUp => message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not available",
            "This app's connection to the provider is not set up. Tell the app's developers.",
        ),
        Refusal::FormExpired => message_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form is no longer valid. Open the Connect Link again.",
        ),
        Refusal::CheckForm(why) => message_page(
            StatusCode::BAD_REQUEST,
            "Check the form",
            &format!("{why}. Go back and try again."),
        ),
        Refusal::BadState => message_page(
            StatusCode::BAD_REQUEST,
            "Link not valid",
            "This sign-in answer is not valid: it is unknown, was already used, or has expired. Start again from the app.",
        ),
        Refusal::Internal(message) => message_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            &message,
        ),
        Refusal::StoreUnavailable => message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The service is briefly unavailable. Reload this page in a moment.",
        ),
    }
}

/// `GET /connect/{token}`.
pub async fn open_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match links::open(&state, &token).await {
        Ok(Opened::Provider(location)) => redirect(&location),
        Ok(Opened::SecretForm {
            toolkit_name,
            scheme,
            csrf,
        }) => {
            let mut response = secret_form(&toolkit_name, &scheme, &csrf);
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
        Err(refusal) => refused(refusal),
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
    let cookie = cookie_value(&headers, CSRF_COOKIE).unwrap_or_default();
    let answer = SecretAnswer {
        csrf: form.csrf,
        api_key: form.api_key,
        token: form.token,
        username: form.username,
        password: form.password,
    };
    match links::submit(&state, &token, &cookie, answer).await {
        Ok(ended) => finished(&ended),
        Err(refusal) => refused(refusal),
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

/// `GET /oauth/callback`.
pub async fn oauth_callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let answer = CallbackAnswer {
        code: query.code,
        state: query.state,
        error: query.error,
    };
    match links::oauth_callback(&state, answer).await {
        Ok(ended) => finished(&ended),
        Err(refusal) => refused(refusal),
    }
}
