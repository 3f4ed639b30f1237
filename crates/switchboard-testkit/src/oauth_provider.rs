//! A local OAuth 2.0 authorization server and protected API, standing in for a provider such as
//! GitHub in integration tests of the platform's OAuth flow.
//!
//! It enforces RFC 6749 (authorization code and refresh grants, client authentication, error
//! responses) and RFC 7636 (PKCE with S256) strictly, so that a platform that bends the rules
//! fails its tests instead of working against a lenient stand-in. Everything it receives is
//! recorded for the tests to inspect, and a few knobs simulate what real providers do: users
//! who deny access, expired and revoked tokens, transient failures and slow answers.
//!
//! The server runs on `127.0.0.1:0` in the test's tokio runtime and stops when the
//! [`OAuthProvider`] is dropped.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use percent_encoding::percent_decode_str;
use rand::Rng as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const AUTHORIZE_PATH: &str = "/login/oauth/authorize";
const TOKEN_PATH: &str = "/login/oauth/access_token";
const REVOKE_PATH: &str = "/revoke";
/// How long an authorization code can be exchanged (RFC 6749 4.1.2 recommends at most 10 min).
const CODE_TTL: Duration = Duration::from_secs(60);
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// How the client must authenticate at the token and revocation endpoints (RFC 6749 2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-urlencoded client id and secret.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// How the stand-in behaves; fixed when it starts.
#[derive(Clone, Debug)]
pub struct ProviderOptions {
    pub client_id: String,
    pub client_secret: String,
    pub client_auth: ClientAuthMethod,
    /// When true, PKCE S256 is required (an authorize request without code_challenge is refused
    /// with error=invalid_request); when false the server does not support PKCE and IGNORES
    /// code_challenge / code_verifier (but records whether they were sent).
    pub pkce: bool,
    /// The one registered redirect URI; must match exactly (string equality).
    pub redirect_uri: String,
    /// expires_in of issued access tokens, seconds. None = omit expires_in.
    pub access_token_ttl_secs: Option<u64>,
    /// Issue a new refresh token on each refresh and invalidate the old one.
    pub rotate_refresh_tokens: bool,
    /// Delay before the token endpoint answers (to widen refresh races).
    pub token_delay: Duration,
}

impl ProviderOptions {
    /// Basic client authentication, PKCE required, one-hour access tokens, rotating refresh
    /// tokens, no delay.
    pub fn new(client_id: &str, client_secret: &str, redirect_uri: &str) -> Self {
        ProviderOptions {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            client_auth: ClientAuthMethod::Basic,
            pkce: true,
            redirect_uri: redirect_uri.to_owned(),
            access_token_ttl_secs: Some(3600),
            rotate_refresh_tokens: true,
            token_delay: Duration::ZERO,
        }
    }
}

/// What the simulated user answers at the authorize endpoint.
#[derive(Clone, Debug)]
pub enum Decision {
    Grant { login: String },
    Deny,
}

/// One request to the protected API.
#[derive(Clone, Debug)]
pub struct ApiCall {
    pub method: String,
    pub path: String,
    /// The login of the token's owner, or "" when the request was refused.
    pub login: String,
    /// The bearer token as sent ("" when there was none).
    pub access_token: String,
}

/// A running stand-in; the server stops when this is dropped.
pub struct OAuthProvider {
    addr: SocketAddr,
    shared: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OAuthProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OAuthProvider {
    /// Binds `127.0.0.1:0` and serves in the background. Panics when it cannot bind: a test
    /// cannot go on without its provider.
    pub async fn start(options: ProviderOptions) -> OAuthProvider {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(error) => panic!("oauth stand-in: failed to bind 127.0.0.1:0: {error}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(error) => panic!("oauth stand-in: no local address: {error}"),
        };
        let shared = Arc::new(Mutex::new(Inner::new(options)));
        let router = Router::new()
            .route(AUTHORIZE_PATH, get(authorize))
            .route(TOKEN_PATH, post(token))
            .route(REVOKE_PATH, post(revoke))
            .fallback(api)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("oauth stand-in: server failed: {error}");
            }
        });
        OAuthProvider { addr, shared, task }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.shared)
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn authorize_url(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.url())
    }

    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.url())
    }

    pub fn revoke_url(&self) -> String {
        format!("{}{REVOKE_PATH}", self.url())
    }

    /// What the simulated user answers at the authorize endpoint from now on (default
    /// `Grant { login: "octocat" }`).
    pub fn set_decision(&self, decision: Decision) {
        self.lock().decision = decision;
    }

    /// Registers a different redirect URI (for a client whose callback address is known
    /// only after the provider started).
    pub fn set_redirect_uri(&self, redirect_uri: &str) {
        self.lock().options.redirect_uri = redirect_uri.to_owned();
    }

    /// Token requests with grant_type=authorization_code, refused ones included.
    pub fn code_exchanges(&self) -> usize {
        self.lock().code_exchanges
    }

    /// Token requests with grant_type=refresh_token, refused ones included.
    pub fn refresh_calls(&self) -> usize {
        self.lock().refresh_calls
    }

    /// Refresh requests that issued a new access token.
    pub fn successful_refreshes(&self) -> usize {
        self.lock().successful_refreshes
    }

    /// Every access token issued so far is from now on refused by the API (401), as if expired.
    /// Tokens issued later are valid.
    pub fn expire_access_tokens(&self) {
        for token in self.lock().access_tokens.values_mut() {
            token.valid = false;
        }
    }

    /// Every refresh token issued so far is from now on refused with invalid_grant. Tokens
    /// issued later (after a new authorization) are valid.
    pub fn revoke_all_refresh_tokens(&self) {
        for token in self.lock().refresh_tokens.values_mut() {
            token.valid = false;
        }
    }

    /// The next `n` token endpoint requests answer 503 with a JSON error body.
    pub fn fail_token_requests(&self, n: usize) {
        self.lock().failures_left = n;
    }

    /// Query parameters of every authorize request received, in order (for a repeated
    /// parameter, its first value).
    pub fn authorize_requests(&self) -> Vec<BTreeMap<String, String>> {
        self.lock().authorize_requests.clone()
    }

    /// Form parameters of every token request received, in order, secrets as sent (for a
    /// repeated parameter, its first value).
    pub fn token_requests(&self) -> Vec<BTreeMap<String, String>> {
        self.lock().token_requests.clone()
    }

    /// Every call to the protected API, refused ones included.
    pub fn api_calls(&self) -> Vec<ApiCall> {
        self.lock().api_calls.clone()
    }

    /// Tokens received in authenticated requests at the revocation endpoint.
    pub fn revoked(&self) -> Vec<String> {
        self.lock().revoked.clone()
    }

    /// Every authorization code, access token and refresh token issued so far.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.lock().issued_secrets.clone()
    }
}

/// The provider's state. Handlers lock it briefly and never across an await.
struct Inner {
    options: ProviderOptions,
    decision: Decision,
    codes: HashMap<String, Code>,
    access_tokens: HashMap<String, Token>,
    refresh_tokens: HashMap<String, Token>,
    failures_left: usize,
    code_exchanges: usize,
    refresh_calls: usize,
    successful_refreshes: usize,
    authorize_requests: Vec<BTreeMap<String, String>>,
    token_requests: Vec<BTreeMap<String, String>>,
    api_calls: Vec<ApiCall>,
    revoked: Vec<String>,
    issued_secrets: Vec<String>,
}

/// An authorization code and what it is bound to.
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    scope: String,
    login: String,
    issued: Instant,
    used: bool,
}

/// An access or refresh token. `grant` is the code the token descends from, so that reusing a
/// code or revoking a refresh token can invalidate everything issued from the same grant.
struct Token {
    client_id: String,
    login: String,
    scope: String,
    grant: String,
    valid: bool,
}

impl Inner {
    fn new(options: ProviderOptions) -> Inner {
        Inner {
            options,
            decision: Decision::Grant {
                login: "octocat".into(),
            },
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            failures_left: 0,
            code_exchanges: 0,
            refresh_calls: 0,
            successful_refreshes: 0,
            authorize_requests: Vec::new(),
            token_requests: Vec::new(),
            api_calls: Vec::new(),
            revoked: Vec::new(),
            issued_secrets: Vec::new(),
        }
    }

    fn invalidate_grant(&mut self, grant: &str) {
        let tokens = self.access_tokens.values_mut();
        for token in tokens.chain(self.refresh_tokens.values_mut()) {
            if token.grant == grant {
                token.valid = false;
            }
        }
    }

    /// Issues an access token (and a refresh token when `with_refresh`) and builds the token
    /// response (RFC 6749 5.1).
    fn issue(&mut self, login: &str, scope: &str, grant: &str, with_refresh: bool) -> Value {
        let client_id = self.options.client_id.clone();
        let token = || Token {
            client_id: client_id.clone(),
            login: login.to_owned(),
            scope: scope.to_owned(),
            grant: grant.to_owned(),
            valid: true,
        };
        let access = random_secret("gho_");
        self.access_tokens.insert(access.clone(), token());
        self.issued_secrets.push(access.clone());
        let mut reply = json!({"access_token": access, "token_type": "bearer", "scope": scope});
        if let Some(ttl) = self.options.access_token_ttl_secs {
            reply["expires_in"] = json!(ttl);
        }
        if with_refresh {
            let refresh = random_secret("ghr_");
            self.refresh_tokens.insert(refresh.clone(), token());
            self.issued_secrets.push(refresh.clone());
            reply["refresh_token"] = json!(refresh);
        }
        reply
    }
}

fn lock(shared: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A test that panicked while holding the lock left nothing half-written that matters here.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `prefix` and 32 random bytes, base64url.
fn random_secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Request parameters (query or form). RFC 6749 3.1: a parameter sent without a value is
/// treated as omitted, and no parameter may appear more than once.
struct Params {
    values: BTreeMap<String, String>,
    duplicates: Vec<String>,
}

impl Params {
    fn new(pairs: Vec<(String, String)>) -> Params {
        let mut values = BTreeMap::new();
        let mut duplicates = Vec::new();
        for (name, value) in pairs {
            match values.entry(name) {
                Entry::Occupied(entry) => duplicates.push(entry.key().clone()),
                Entry::Vacant(entry) => {
                    entry.insert(value);
                }
            }
        }
        Params { values, duplicates }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn repeated(&self, name: &str) -> bool {
        self.duplicates.iter().any(|d| d == name)
    }

    fn check_no_duplicates(&self) -> Result<(), OAuthError> {
        match self.duplicates.first() {
            Some(name) => Err(OAuthError::request(format!("parameter {name} is repeated"))),
            None => Ok(()),
        }
    }
}

/// Parses an application/x-www-form-urlencoded body the way the WHATWG URL standard does.
fn form_decode(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode_component(name), form_decode_component(value))
        })
        .collect()
}

fn form_decode_component(s: &str) -> String {
    // `+` first: a literal plus arrives as %2B and must survive.
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Encodes a value for an application/x-www-form-urlencoded query.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE))
}

/// An RFC 6749 5.2 error response.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Answer with a Basic challenge (the client tried the Authorization header).
    basic_challenge: bool,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn request(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_request", description)
    }

    fn grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_grant", description)
    }

    fn client(description: impl Into<String>, basic_challenge: bool) -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            basic_challenge,
            ..OAuthError::new("invalid_client", description)
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = token_reply(self.status, body);
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"stand-in\""),
            );
        }
        response
    }
}

/// A JSON reply from the token endpoint, never cached (RFC 6749 5.1).
fn token_reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

/// A page for the user: errors that must not redirect (RFC 6749 4.1.2.1).
fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!("oauth stand-in: {message}\n"),
    )
        .into_response()
}

/// A 302 to `redirect_uri` with `params` added to its query.
fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut location = redirect_uri.to_owned();
    let mut separator = if redirect_uri.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        let _ = write!(location, "{separator}{name}={}", form_encode(value));
        separator = '&';
    }
    match HeaderValue::from_str(&location) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => error_page("redirect_uri cannot be used in a Location header"),
    }
}

async fn authorize(
    State(shared): State<Arc<Mutex<Inner>>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let Ok(Query(pairs)) = query else {
        return error_page("malformed query string");
    };
    let params = Params::new(pairs);
    let mut inner = lock(&shared);
    inner.authorize_requests.push(params.values.clone());
    authorize_in(&mut inner, &params)
}

fn authorize_in(inner: &mut Inner, params: &Params) -> Response {
    let options = inner.options.clone();
    if params.repeated("client_id") || params.repeated("redirect_uri") {
        return error_page("client_id or redirect_uri is repeated");
    }
    if params.get("client_id") != Some(options.client_id.as_str()) {
        return error_page("unknown client_id");
    }
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return error_page("redirect_uri is missing");
    };
    if redirect_uri != options.redirect_uri {
        return error_page("redirect_uri is not the registered one");
    }
    let state = params.get("state");
    let fail = |error: &str, description: &str| {
        let mut query = vec![("error", error), ("error_description", description)];
        query.extend(state.map(|s| ("state", s)));
        redirect(redirect_uri, &query)
    };
    if let Err(error) = params.check_no_duplicates() {
        return fail(error.error, &error.description);
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => return fail("unsupported_response_type", "response_type must be code"),
        None => return fail("invalid_request", "response_type is missing"),
    }
    let Some(state) = state else {
        return fail("invalid_request", "this provider requires state");
    };
    let challenge = if options.pkce {
        let Some(challenge) = params.get("code_challenge") else {
            return fail(
                "invalid_request",
                "PKCE is required: code_challenge is missing",
            );
        };
        if params.get("code_challenge_method") != Some("S256") {
            return fail("invalid_request", "code_challenge_method must be S256");
        }
        if !is_s256_challenge(challenge) {
            return fail(
                "invalid_request",
                "code_challenge is not a base64url SHA-256",
            );
        }
        Some(challenge.to_owned())
    } else {
        None
    };
    let login = match inner.decision.clone() {
        Decision::Grant { login } => login,
        Decision::Deny => return fail("access_denied", "The user denied access"),
    };
    let code = random_secret("");
    inner.codes.insert(
        code.clone(),
        Code {
            client_id: options.client_id,
            redirect_uri: redirect_uri.to_owned(),
            challenge,
            scope: params.get("scope").unwrap_or_default().to_owned(),
            login,
            issued: Instant::now(),
            used: false,
        },
    );
    inner.issued_secrets.push(code.clone());
    redirect(redirect_uri, &[("code", &code), ("state", state)])
}

fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 4.1: 43 to 128 unreserved characters.
fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn token(
    State(shared): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::new(form_decode(&String::from_utf8_lossy(&body)));
    let (fail, delay) = {
        let mut inner = lock(&shared);
        inner.token_requests.push(params.values.clone());
        match params.get("grant_type") {
            Some("authorization_code") => inner.code_exchanges += 1,
            Some("refresh_token") => inner.refresh_calls += 1,
            _ => {}
        }
        let fail = inner.failures_left > 0;
        inner.failures_left = inner.failures_left.saturating_sub(1);
        (fail, inner.options.token_delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if fail {
        let body = json!({
            "error": "temporarily_unavailable",
            "error_description": "the stand-in was told to fail this request",
        });
        return token_reply(StatusCode::SERVICE_UNAVAILABLE, body);
    }
    if !is_form(&headers) {
        return OAuthError::request(format!("content type must be {FORM_CONTENT_TYPE}"))
            .into_response();
    }
    let mut inner = lock(&shared);
    match token_in(&mut inner, &headers, &params) {
        Ok(reply) => token_reply(StatusCode::OK, reply),
        Err(error) => error.into_response(),
    }
}

fn token_in(inner: &mut Inner, headers: &HeaderMap, params: &Params) -> Result<Value, OAuthError> {
    params.check_no_duplicates()?;
    authenticate(&inner.options, headers, params)?;
    match params.get("grant_type") {
        Some("authorization_code") => exchange_code(inner, params),
        Some("refresh_token") => refresh(inner, params),
        Some(other) => Err(OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type {other} is not supported"),
        )),
        None => Err(OAuthError::request("grant_type is missing")),
    }
}

/// Client authentication with exactly the configured method (RFC 6749 2.3).
fn authenticate(
    options: &ProviderOptions,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(), OAuthError> {
    let header = headers.get(header::AUTHORIZATION);
    let tried_header = header.is_some();
    if tried_header && params.get("client_secret").is_some() {
        return Err(OAuthError::request(
            "more than one client authentication method",
        ));
    }
    match options.client_auth {
        ClientAuthMethod::Basic => {
            let Some((id, secret)) = header.and_then(parse_basic) else {
                return Err(OAuthError::client(
                    "client authentication with HTTP Basic is required",
                    tried_header,
                ));
            };
            if id != options.client_id || secret != options.client_secret {
                return Err(OAuthError::client("bad client credentials", true));
            }
            if params
                .get("client_id")
                .is_some_and(|b| b != options.client_id)
            {
                return Err(OAuthError::client(
                    "client_id in the body differs from the authenticated client",
                    true,
                ));
            }
        }
        ClientAuthMethod::Post => {
            if tried_header {
                return Err(OAuthError::client(
                    "this client authenticates with client_secret in the body",
                    true,
                ));
            }
            let id = params.get("client_id");
            let secret = params.get("client_secret");
            if id != Some(options.client_id.as_str())
                || secret != Some(options.client_secret.as_str())
            {
                return Err(OAuthError::client("bad client credentials", false));
            }
        }
    }
    Ok(())
}

/// The client id and secret of a Basic header, form-urldecoded (RFC 6749 2.3.1).
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let (scheme, encoded) = value.to_str().ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode_component(id), form_decode_component(secret)))
}

fn exchange_code(inner: &mut Inner, params: &Params) -> Result<Value, OAuthError> {
    let options = inner.options.clone();
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::request("code is missing"))?;
    let Some(grant) = inner.codes.get_mut(code) else {
        return Err(OAuthError::grant("unknown authorization code"));
    };
    if grant.used {
        inner.invalidate_grant(code);
        return Err(OAuthError::grant(
            "authorization code already used; tokens issued from it are revoked",
        ));
    }
    if grant.issued.elapsed() > CODE_TTL {
        return Err(OAuthError::grant("authorization code expired"));
    }
    if grant.client_id != options.client_id {
        return Err(OAuthError::grant("code was issued to another client"));
    }
    match params.get("redirect_uri") {
        None => return Err(OAuthError::request("redirect_uri is missing")),
        Some(uri) if uri != grant.redirect_uri => {
            return Err(OAuthError::grant(
                "redirect_uri differs from the authorization request",
            ))
        }
        Some(_) => {}
    }
    if let Some(challenge) = grant.challenge.as_deref() {
        let Some(verifier) = params.get("code_verifier") else {
            return Err(OAuthError::grant("code_verifier is missing"));
        };
        if !is_valid_verifier(verifier) {
            return Err(OAuthError::grant("code_verifier is malformed"));
        }
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != challenge {
            return Err(OAuthError::grant(
                "code_verifier does not match code_challenge",
            ));
        }
    }
    grant.used = true;
    let (login, scope) = (grant.login.clone(), grant.scope.clone());
    Ok(inner.issue(&login, &scope, code, true))
}

fn refresh(inner: &mut Inner, params: &Params) -> Result<Value, OAuthError> {
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::request("refresh_token is missing"))?;
    let Some(token) = inner.refresh_tokens.get(presented).filter(|t| t.valid) else {
        return Err(OAuthError::grant(
            "refresh token is invalid, revoked or rotated",
        ));
    };
    if token.client_id != inner.options.client_id {
        return Err(OAuthError::grant(
            "refresh token was issued to another client",
        ));
    }
    if let Some(requested) = params.get("scope") {
        let granted: Vec<&str> = scope_words(&token.scope).collect();
        if let Some(extra) = scope_words(requested).find(|s| !granted.contains(s)) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("scope {extra} was not granted"),
            ));
        }
    }
    let (login, scope, grant) = (
        token.login.clone(),
        token.scope.clone(),
        token.grant.clone(),
    );
    inner.successful_refreshes += 1;
    let rotate = inner.options.rotate_refresh_tokens;
    if rotate {
        if let Some(old) = inner.refresh_tokens.get_mut(presented) {
            old.valid = false;
        }
    }
    Ok(inner.issue(&login, &scope, &grant, rotate))
}

fn scope_words(scope: &str) -> impl Iterator<Item = &str> {
    scope.split([' ', ',']).filter(|s| !s.is_empty())
}

/// RFC 7009 token revocation.
async fn revoke(
    State(shared): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form(&headers) {
        return OAuthError::request(format!("content type must be {FORM_CONTENT_TYPE}"))
            .into_response();
    }
    let params = Params::new(form_decode(&String::from_utf8_lossy(&body)));
    let mut inner = lock(&shared);
    let checked = params
        .check_no_duplicates()
        .and_then(|()| authenticate(&inner.options, &headers, &params))
        .and_then(|()| {
            params
                .get("token")
                .ok_or_else(|| OAuthError::request("token is missing"))
        });
    let token = match checked {
        Ok(token) => token,
        Err(error) => return error.into_response(),
    };
    inner.revoked.push(token.to_owned());
    if let Some(access) = inner.access_tokens.get_mut(token) {
        access.valid = false;
    }
    // RFC 7009 2.1: revoking a refresh token also revokes the access tokens of its grant.
    if let Some(grant) = inner.refresh_tokens.get(token).map(|t| t.grant.clone()) {
        inner.invalidate_grant(&grant);
    }
    StatusCode::OK.into_response()
}

/// The protected API: every path not served above.
async fn api(
    State(shared): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .map(|(_, token)| token.to_owned())
        .unwrap_or_default();
    let path = uri.path().to_owned();
    let login = {
        let mut inner = lock(&shared);
        let login = inner
            .access_tokens
            .get(&presented)
            .filter(|t| t.valid)
            .map(|t| t.login.clone());
        inner.api_calls.push(ApiCall {
            method: method.to_string(),
            path: path.clone(),
            login: login.clone().unwrap_or_default(),
            access_token: presented,
        });
        login
    };
    let Some(login) = login else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    };
    if method == Method::GET && path == "/user" {
        let id = stable_id(&login);
        return Json(json!({"login": login, "id": id})).into_response();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut reply =
        json!({"login": login, "method": method.as_str(), "path": path, "body": body.clone()});
    let status = if method == Method::POST {
        if path.ends_with("/issues") {
            reply["number"] = json!(1);
            reply["title"] = body.get("title").cloned().unwrap_or(Value::Null);
        }
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(reply)).into_response()
}

/// A user id derived from the login (FNV-1a), the same in every run.
fn stable_id(login: &str) -> u64 {
    let hash = login.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    // Keep it within JavaScript's safe integers, like real provider ids.
    hash % 1_000_000_000
}
