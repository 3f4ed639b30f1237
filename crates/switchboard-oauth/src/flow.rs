//! The HTTP side of OAuth 2.0: the authorization request (RFC 6749 4.1.1 with PKCE, RFC 7636),
//! the token requests (code exchange 4.1.3, refresh 6) with the app's client authentication
//! (2.3.1), the identity call and revocation. Nothing here logs a token, code, verifier or
//! secret, and provider error text is cut down to a short, redacted sentence.

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_catalog::spec::{ClientAuth, RevokeStyle};
use switchboard_core::credential::OAuthTokens;
use switchboard_core::time::now_ms;

use crate::app::App;

/// A random URL-safe secret of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// SHA-256 of a secret, hex: what the store keeps of link tokens and states.
pub fn digest(secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(secret.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A PKCE code verifier (RFC 7636 4.1): 32 random bytes, base64url, 43 characters.
pub fn pkce_verifier() -> String {
    random_token(32)
}

/// The S256 challenge of a verifier (RFC 7636 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The provider URL the user is sent to.
pub fn authorize_url(
    app: &App,
    state: &str,
    scopes: &[String],
    challenge: Option<&str>,
) -> Result<String, String> {
    let mut url = url::Url::parse(&app.authorize_url)
        .map_err(|_| format!("the {} authorize URL is not a URL", app.toolkit))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &app.client_id)
            .append_pair("redirect_uri", &app.redirect_uri);
        if !scopes.is_empty() {
            query.append_pair("scope", &scopes.join(&app.scope_separator));
        }
        query.append_pair("state", state);
        if let Some(challenge) = challenge {
            query
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
        for (name, value) in &app.authorize_params {
            query.append_pair(name, value);
        }
    }
    Ok(url.into())
}

/// Why a token request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The provider answered with an OAuth error (`invalid_grant`, `access_denied`…): asking
    /// again will not help.
    Rejected { code: String, description: String },
    /// The provider could not be reached or failed (5xx, 429, timeout): worth retrying.
    Transient(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Rejected { code, description } if description.is_empty() => {
                write!(f, "the token endpoint refused: {code}")
            }
            TokenError::Rejected { code, description } => {
                write!(f, "the token endpoint refused: {code} ({description})")
            }
            TokenError::Transient(message) => write!(f, "{message}"),
        }
    }
}

/// A successful token answer.
#[derive(Debug, Clone)]
pub struct Granted {
    pub tokens: OAuthTokens,
    /// Granted scopes, when the provider says (else the ones asked for).
    pub scopes: Option<Vec<String>>,
}

/// Keeps provider-supplied text short and printable, without any of `secrets`.
pub fn sanitize(text: &str, secrets: &[&str]) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    for secret in secrets {
        if secret.len() >= 4 {
            out = out.replace(secret, "<redacted>");
        }
    }
    out
}

/// Form-urlencodes one value (for HTTP Basic client credentials, RFC 6749 2.3.1).
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn basic_credentials(app: &App) -> String {
    let pair = format!(
        "{}:{}",
        form_encode(&app.client_id),
        form_encode(&app.client_secret.0)
    );
    format!("Basic {}", STANDARD.encode(pair))
}

/// Posts a token request with the app's client authentication and reads the answer.
async fn token_request(
    http: &reqwest::Client,
    app: &App,
    mut form: Vec<(&'static str, String)>,
    timeout: Duration,
    secrets: &[&str],
) -> Result<Granted, TokenError> {
    let mut request = http
        .post(&app.token_url)
        .timeout(timeout)
        .header(reqwest::header::ACCEPT, "application/json");
    match app.client_auth {
        ClientAuth::ClientSecretBasic => {
            let mut value = reqwest::header::HeaderValue::from_str(&basic_credentials(app))
                .map_err(|_| {
                    TokenError::Transient("the client credentials are not valid header text".into())
                })?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        ClientAuth::ClientSecretPost => {
            form.push(("client_id", app.client_id.clone()));
            form.push(("client_secret", app.client_secret.0.clone()));
        }
    }
    let mut all_secrets: Vec<&str> = secrets.to_vec();
    all_secrets.push(&app.client_secret.0);
    let response = request.form(&form).send().await.map_err(|e| {
        TokenError::Transient(if e.is_timeout() {
            "the token endpoint did not answer in time".to_owned()
        } else {
            "the token endpoint could not be reached".to_owned()
        })
    })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|_| TokenError::Transient("the token endpoint's answer was cut off".into()))?;
    let json: Option<Value> = serde_json::from_slice(&body)
        .ok()
        .or_else(|| parse_form(&body));
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(TokenError::Transient(format!(
            "the token endpoint failed with HTTP {}",
            status.as_u16()
        )));
    }
    let Some(json) = json else {
        return Err(TokenError::Rejected {
            code: "invalid_response".into(),
            description: format!("HTTP {} with a body that is not JSON", status.as_u16()),
        });
    };
    if let Some(code) = json.get("error").and_then(Value::as_str) {
        let code: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .take(64)
            .collect();
        let description = json
            .get("error_description")
            .and_then(Value::as_str)
            .map(|d| sanitize(d, &all_secrets))
            .unwrap_or_default();
        return Err(TokenError::Rejected { code, description });
    }
    let access_token = json
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let (true, Some(access_token)) = (status.is_success(), access_token) else {
        return Err(TokenError::Rejected {
            code: "invalid_response".into(),
            description: format!("HTTP {} without an access_token", status.as_u16()),
        });
    };
    let expires_in = json.get("expires_in").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let scopes = json.get("scope").and_then(Value::as_str).map(|s| {
        s.split([' ', ','])
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    });
    Ok(Granted {
        tokens: OAuthTokens {
            access_token: access_token.to_owned(),
            refresh_token: json
                .get("refresh_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            expires_at_ms: expires_in
                .filter(|s| *s > 0)
                .map(|s| now_ms().saturating_add(s.saturating_mul(1000))),
        },
        scopes,
    })
}

/// Some providers answer `application/x-www-form-urlencoded` (GitHub without `Accept`).
fn parse_form(body: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains('=') || text.trim_start().starts_with('<') {
        return None;
    }
    let map: serde_json::Map<String, Value> = url::form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    Some(Value::Object(map))
}

/// Exchanges an authorization code (RFC 6749 4.1.3), with the PKCE verifier when one was used.
pub async fn exchange_code(
    http: &reqwest::Client,
    app: &App,
    code: &str,
    verifier: Option<&str>,
    timeout: Duration,
) -> Result<Granted, TokenError> {
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", app.redirect_uri.clone()),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v.to_owned()));
    }
    let secrets: Vec<&str> = [Some(code), verifier].into_iter().flatten().collect();
    token_request(http, app, form, timeout, &secrets).await
}

/// Refreshes an access token (RFC 6749 6). A reply without a refresh token keeps the old one.
pub async fn refresh(
    http: &reqwest::Client,
    app: &App,
    refresh_token: &str,
    timeout: Duration,
) -> Result<Granted, TokenError> {
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.to_owned()),
    ];
    let mut granted = token_request(http, app, form, timeout, &[refresh_token]).await?;
    if granted.tokens.refresh_token.is_none() {
        granted.tokens.refresh_token = Some(refresh_token.to_owned());
    }
    Ok(granted)
}

/// Names the upstream account with the toolkit's identity call; `None` when it has none or
/// the call fails (the account still connects; the reason goes to the log).
pub async fn identity(
    http: &reqwest::Client,
    app: &App,
    access_token: &str,
    timeout: Duration,
) -> Option<String> {
    let spec = app.identity.as_ref()?;
    let url = format!("{}{}", app.base_url.trim_end_matches('/'), spec.path);
    let mut auth =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {access_token}")).ok()?;
    auth.set_sensitive(true);
    let mut request = http.get(url);
    for (name, value) in &app.api_headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request
        .timeout(timeout)
        .header(reqwest::header::AUTHORIZATION, auth)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::USER_AGENT, "switchboard")
        .send()
        .await;
    let response = match response {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            tracing::warn!(toolkit = %app.toolkit, status = r.status().as_u16(), "identity call refused; the account has no upstream name");
            return None;
        }
        Err(_) => {
            tracing::warn!(toolkit = %app.toolkit, "identity call failed; the account has no upstream name");
            return None;
        }
    };
    let json: Value = response.json().await.ok()?;
    let mut value = &json;
    for part in spec.field.split('.') {
        value = value.get(part)?;
    }
    match value {
        Value::String(s) if !s.is_empty() => Some(sanitize(s, &[access_token])),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Revokes a grant at the provider (best effort): true when the provider accepted it.
pub async fn revoke(
    http: &reqwest::Client,
    app: &App,
    tokens: &OAuthTokens,
    timeout: Duration,
) -> bool {
    let Some((url, style)) = &app.revoke else {
        return false;
    };
    let request = match style {
        RevokeStyle::Rfc7009 => {
            let (token, hint) = match &tokens.refresh_token {
                Some(r) => (r.clone(), "refresh_token"),
                None => (tokens.access_token.clone(), "access_token"),
            };
            let mut form = vec![("token", token), ("token_type_hint", hint.to_owned())];
            let mut request = http.post(url);
            match app.client_auth {
                ClientAuth::ClientSecretBasic => {
                    request =
                        request.header(reqwest::header::AUTHORIZATION, basic_credentials(app));
                }
                ClientAuth::ClientSecretPost => {
                    form.push(("client_id", app.client_id.clone()));
                    form.push(("client_secret", app.client_secret.0.clone()));
                }
            }
            request.form(&form)
        }
        RevokeStyle::GithubGrant => http
            .delete(url)
            .basic_auth(&app.client_id, Some(&app.client_secret.0))
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header(reqwest::header::USER_AGENT, "switchboard")
            .json(&serde_json::json!({"access_token": tokens.access_token})),
        RevokeStyle::Bearer => http.post(url).bearer_auth(&tokens.access_token),
    };
    match request.timeout(timeout).send().await {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            tracing::warn!(toolkit = %app.toolkit, status = r.status().as_u16(), "the provider refused to revoke a grant");
            false
        }
        Err(_) => {
            tracing::warn!(toolkit = %app.toolkit, "the provider's revocation endpoint could not be reached");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = pkce_verifier();
        assert_eq!(v.len(), 43);
        assert_ne!(v, pkce_verifier());
    }

    #[test]
    fn provider_text_is_cut_and_redacted() {
        let long = "x".repeat(500);
        assert_eq!(sanitize(&long, &[]).len(), 200);
        assert_eq!(
            sanitize("bad code abcd1234\n", &["abcd1234"]),
            "bad code <redacted>"
        );
    }

    #[test]
    fn form_bodies_parse() {
        let v = parse_form(b"access_token=gho_1&scope=repo%2Cuser&token_type=bearer").unwrap();
        assert_eq!(v["access_token"], "gho_1");
        assert_eq!(v["scope"], "repo,user");
        assert!(parse_form(b"<html>").is_none());
    }
}
