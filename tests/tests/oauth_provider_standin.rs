//! The OAuth stand-in itself: it must accept a client that follows RFC 6749 and RFC 7636 to the
//! letter and refuse one that does not, or the platform's OAuth tests prove nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::Rng as _;
use reqwest::header::{HeaderMap, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use switchboard_testkit::oauth_provider::{
    ClientAuthMethod, Decision, OAuthProvider, ProviderOptions,
};

const CLIENT_ID: &str = "sb client";
/// Characters that change under form-urlencoding, so a client that skips it is caught.
const CLIENT_SECRET: &str = "s3cr:et+/=&%x";
const REDIRECT_URI: &str = "http://127.0.0.1:9/oauth/callback";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `pairs` as an application/x-www-form-urlencoded string.
fn form(pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse("http://x/").unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

fn form_encode(value: &str) -> String {
    form(&[("v", value)])["v=".len()..].to_owned()
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let bytes: [u8; 48] = rand::rng().random();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

async fn start(auth: ClientAuthMethod) -> OAuthProvider {
    let mut options = ProviderOptions::new(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI);
    options.client_auth = auth;
    OAuthProvider::start(options).await
}

async fn authorize(provider: &OAuthProvider, pairs: &[(&str, &str)]) -> reqwest::Response {
    let mut url = Url::parse(&provider.authorize_url()).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    http().get(url).send().await.unwrap()
}

/// The query parameters of the redirect in `response`, asserting it is one to `redirect_uri`.
fn redirected(response: &reqwest::Response, redirect_uri: &str) -> BTreeMap<String, String> {
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[LOCATION].to_str().unwrap();
    let base = redirect_uri.split('?').next().unwrap();
    assert!(location.starts_with(base), "{location}");
    Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Runs the authorize step as a correct client and returns the code.
async fn code(provider: &OAuthProvider, challenge: &str) -> String {
    let response = authorize(
        provider,
        &[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "repo read:user"),
            ("state", "st 1/+"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let params = redirected(&response, REDIRECT_URI);
    assert_eq!(params["state"], "st 1/+");
    params["code"].clone()
}

#[derive(Clone, Copy)]
enum Auth {
    Basic,
    /// Basic without form-urlencoding the id and secret first.
    RawBasic,
    Post,
    Both,
}

/// A token endpoint request: status, headers, JSON body.
async fn token(
    provider: &OAuthProvider,
    auth: Auth,
    pairs: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut pairs = pairs.to_vec();
    let mut request = http().post(provider.token_url());
    let basic = match auth {
        Auth::Basic | Auth::Both => Some(format!(
            "{}:{}",
            form_encode(CLIENT_ID),
            form_encode(CLIENT_SECRET)
        )),
        Auth::RawBasic => Some(format!("{CLIENT_ID}:{CLIENT_SECRET}")),
        Auth::Post => None,
    };
    if let Some(credentials) = basic {
        request = request.header(
            AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(credentials)),
        );
    }
    if matches!(auth, Auth::Post | Auth::Both) {
        pairs.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
    }
    let response = request
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap();
    (status, headers, body)
}

async fn exchange(
    provider: &OAuthProvider,
    auth: Auth,
    code: &str,
    verifier: &str,
) -> (StatusCode, HeaderMap, Value) {
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    token(provider, auth, &pairs).await
}

async fn refresh(provider: &OAuthProvider, refresh_token: &str) -> (StatusCode, Value) {
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    let (status, _, body) = token(provider, Auth::Basic, &pairs).await;
    (status, body)
}

/// GET /user with `access_token`: status and body.
async fn user(provider: &OAuthProvider, access_token: &str) -> (StatusCode, Value) {
    let response = http()
        .get(format!("{}/user", provider.url()))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, error: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (want_status, Some(error)),
        "{body}"
    );
}

#[tokio::test]
async fn full_grant_with_pkce_and_basic() {
    let provider = start(ClientAuthMethod::Basic).await;
    let (verifier, challenge) = pkce();
    let code = code(&provider, &challenge).await;
    let (status, headers, body) = exchange(&provider, Auth::Basic, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "repo read:user");
    assert_eq!(body["expires_in"], 3600);
    let access = body["access_token"].as_str().unwrap();
    let refresh_token = body["refresh_token"].as_str().unwrap();
    assert!(access.starts_with("gho_") && refresh_token.starts_with("ghr_"));

    let (status, me) = user(&provider, access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["login"], "octocat");
    assert!(me["id"].is_u64());

    let response = http()
        .post(format!("{}/repos/o/r/issues", provider.url()))
        .bearer_auth(access)
        .json(&json!({"title": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let issue: Value = response.json().await.unwrap();
    assert_eq!(
        (&issue["number"], &issue["title"], &issue["body"]["title"]),
        (&json!(1), &json!("hello"), &json!("hello"))
    );

    let calls = provider.api_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("GET", "/user")
    );
    assert_eq!(
        (calls[1].login.as_str(), calls[1].access_token.as_str()),
        ("octocat", access)
    );
    assert_eq!(provider.code_exchanges(), 1);
    let sent = &provider.token_requests()[0];
    assert_eq!(sent["code_verifier"], verifier);
    assert!(!sent.contains_key("client_secret"));
    assert_eq!(
        provider.authorize_requests()[0]["code_challenge"],
        challenge
    );
    let secrets = provider.issued_secrets();
    for secret in [code.as_str(), access, refresh_token] {
        assert!(secrets.iter().any(|s| s == secret));
    }
}

#[tokio::test]
async fn full_grant_with_pkce_and_post_appends_to_redirect_query() {
    let redirect_uri = "http://127.0.0.1:9/cb?tenant=a";
    let mut options = ProviderOptions::new(CLIENT_ID, CLIENT_SECRET, redirect_uri);
    options.client_auth = ClientAuthMethod::Post;
    options.access_token_ttl_secs = None;
    let provider = OAuthProvider::start(options).await;
    let (verifier, challenge) = pkce();
    let response = authorize(
        &provider,
        &[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", redirect_uri),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("access_type", "offline"),
        ],
    )
    .await;
    let params = redirected(&response, redirect_uri);
    assert_eq!(params["tenant"], "a");
    assert_eq!(provider.authorize_requests()[0]["access_type"], "offline");
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, _, body) = token(&provider, Auth::Post, &pairs).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("expires_in").is_none());
    assert_eq!(provider.token_requests()[0]["client_secret"], CLIENT_SECRET);
    let (status, me) = user(&provider, body["access_token"].as_str().unwrap()).await;
    assert_eq!((status, &me["login"]), (StatusCode::OK, &json!("octocat")));
}

#[tokio::test]
async fn pkce_verifier_must_match() {
    let provider = start(ClientAuthMethod::Basic).await;
    let (verifier, challenge) = pkce();
    let code = code(&provider, &challenge).await;
    let (other, _) = pkce();
    for wrong in [other.as_str(), "", "short"] {
        let (status, _, body) = exchange(&provider, Auth::Basic, &code, wrong).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    }
    // Refused attempts do not consume the code.
    let (status, _, body) = exchange(&provider, Auth::Basic, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(provider.code_exchanges(), 4);
}

#[tokio::test]
async fn code_reuse_is_refused_and_revokes_its_tokens() {
    let provider = start(ClientAuthMethod::Basic).await;
    let (verifier, challenge) = pkce();
    let code = code(&provider, &challenge).await;
    let (status, _, first) = exchange(&provider, Auth::Basic, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = exchange(&provider, Auth::Basic, &code, &verifier).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, body) = user(&provider, first["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, &body["message"]),
        (StatusCode::UNAUTHORIZED, &json!("Bad credentials"))
    );
    let (status, body) = refresh(&provider, first["refresh_token"].as_str().unwrap()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(provider.api_calls()[0].login, "");
}

#[tokio::test]
async fn authorize_refuses_without_redirecting_on_bad_client_or_redirect_uri() {
    let provider = start(ClientAuthMethod::Basic).await;
    let (_, challenge) = pkce();
    let base = [
        ("response_type", "code"),
        ("state", "s"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let cases = [
        [
            ("client_id", CLIENT_ID),
            ("redirect_uri", "http://127.0.0.1:9/other"),
        ],
        [
            ("client_id", CLIENT_ID),
            ("redirect_uri", "http://127.0.0.1:9/oauth/callback/"),
        ],
        [("client_id", "someone"), ("redirect_uri", REDIRECT_URI)],
        [("client_id", CLIENT_ID), ("redirect_uri", "")],
    ];
    for case in cases {
        let mut pairs = base.to_vec();
        pairs.extend(case);
        let response = authorize(&provider, &pairs).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case:?}");
        assert!(response.headers().get(LOCATION).is_none(), "{case:?}");
    }

    // With a good client and redirect URI, protocol errors go back to the client.
    let good = [("client_id", CLIENT_ID), ("redirect_uri", REDIRECT_URI)];
    let without = |name: &str, method: Option<&'static str>| {
        let mut pairs: Vec<(&str, &str)> =
            base.iter().copied().filter(|(k, _)| *k != name).collect();
        pairs.extend(good);
        if let Some(method) = method {
            pairs.retain(|(k, _)| *k != "code_challenge_method");
            pairs.push(("code_challenge_method", method));
        }
        pairs
    };
    for (pairs, error) in [
        (without("code_challenge", None), "invalid_request"),
        (without("", Some("plain")), "invalid_request"),
        (without("code_challenge_method", None), "invalid_request"),
        (without("state", None), "invalid_request"),
        (without("response_type", None), "invalid_request"),
    ] {
        let params = redirected(&authorize(&provider, &pairs).await, REDIRECT_URI);
        assert_eq!(params["error"], error, "{pairs:?}");
        assert!(!params.contains_key("code"));
        let has_state = pairs.iter().any(|(k, _)| *k == "state");
        assert_eq!(params.contains_key("state"), has_state);
    }
    let mut token_flow = without("response_type", None);
    token_flow.push(("response_type", "token"));
    let params = redirected(&authorize(&provider, &token_flow).await, REDIRECT_URI);
    assert_eq!(params["error"], "unsupported_response_type");
}

#[tokio::test]
async fn client_must_authenticate_with_the_configured_method() {
    let basic = start(ClientAuthMethod::Basic).await;
    let post = start(ClientAuthMethod::Post).await;
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", "whatever"),
        ("redirect_uri", REDIRECT_URI),
    ];
    let (status, _, body) = token(&basic, Auth::Post, &pairs).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
    let (status, headers, body) = token(&basic, Auth::RawBasic, &pairs).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(headers["www-authenticate"], "Basic realm=\"stand-in\"");
    let (status, _, body) = token(&post, Auth::Basic, &pairs).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
    for provider in [&basic, &post] {
        let (status, _, body) = token(provider, Auth::Both, &pairs).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    }
    // Authenticated, the made-up code is the next thing refused.
    let (status, _, body) = token(&post, Auth::Post, &pairs).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(basic.code_exchanges() + post.code_exchanges(), 6);

    let response = http()
        .post(basic.token_url())
        .basic_auth(form_encode(CLIENT_ID), Some(form_encode(CLIENT_SECRET)))
        .json(&json!({"grant_type": "authorization_code", "code": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn refresh_rotates_and_old_refresh_tokens_are_refused() {
    let provider = start(ClientAuthMethod::Basic).await;
    let (verifier, challenge) = pkce();
    let code = code(&provider, &challenge).await;
    let (_, _, first) = exchange(&provider, Auth::Basic, &code, &verifier).await;
    let old_refresh = first["refresh_token"].as_str().unwrap();

    provider.expire_access_tokens();
    let (status, _) = user(&provider, first["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, second) = refresh(&provider, old_refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let new_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, old_refresh);
    assert_eq!(second["scope"], "repo read:user");
    let (status, me) = user(&provider, second["access_token"].as_str().unwrap()).await;
    assert_eq!((status, &me["login"]), (StatusCode::OK, &json!("octocat")));

    let (status, body) = refresh(&provider, old_refresh).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    provider.fail_token_requests(1);
    let (status, body) = refresh(&provider, new_refresh).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    );
    let (status, third) = refresh(&provider, new_refresh).await;
    assert_eq!(status, StatusCode::OK, "{third}");

    provider.revoke_all_refresh_tokens();
    let (status, body) = refresh(&provider, third["refresh_token"].as_str().unwrap()).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(
        (provider.refresh_calls(), provider.successful_refreshes()),
        (5, 2)
    );
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_refresh_token() {
    let mut options = ProviderOptions::new(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI);
    options.rotate_refresh_tokens = false;
    let provider = OAuthProvider::start(options).await;
    let (verifier, challenge) = pkce();
    let code = code(&provider, &challenge).await;
    let (_, _, first) = exchange(&provider, Auth::Basic, &code, &verifier).await;
    for _ in 0..2 {
        let (status, body) = refresh(&provider, first["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("refresh_token").is_none());
    }
}

#[tokio::test]
async fn without_pkce_support_challenge_and_verifier_are_ignored() {
    let mut options = ProviderOptions::new(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI);
    options.pkce = false;
    let provider = OAuthProvider::start(options).await;
    let (_, challenge) = pkce();
    let code = code(&provider, &challenge).await;
    let (status, _, body) = exchange(&provider, Auth::Basic, &code, "not-the-verifier").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn denied_consent_redirects_with_access_denied_and_state() {
    let provider = start(ClientAuthMethod::Basic).await;
    provider.set_decision(Decision::Deny);
    let (_, challenge) = pkce();
    let response = authorize(
        &provider,
        &[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("state", "xyz"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!(
            "{REDIRECT_URI}?error=access_denied&error_description=The+user+denied+access&state=xyz"
        )
    );
}

#[tokio::test]
async fn revocation_invalidates_the_token() {
    let provider = start(ClientAuthMethod::Basic).await;
    let (verifier, challenge) = pkce();
    let code = code(&provider, &challenge).await;
    let (_, _, tokens) = exchange(&provider, Auth::Basic, &code, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap();
    let revoke = |credentials: (String, String)| {
        http()
            .post(provider.revoke_url())
            .basic_auth(credentials.0, Some(credentials.1))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[
                ("token", access),
                ("token_type_hint", "access_token"),
            ]))
            .send()
    };
    let bad = revoke((CLIENT_ID.into(), "nope".into())).await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(provider.revoked().is_empty());
    let good = revoke((form_encode(CLIENT_ID), form_encode(CLIENT_SECRET)))
        .await
        .unwrap();
    assert_eq!(good.status(), StatusCode::OK);
    assert_eq!(provider.revoked(), vec![access.to_owned()]);
    let (status, _) = user(&provider, access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
