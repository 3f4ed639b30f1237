#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `switchboard_provider::call` against local stand-ins of the providers (wiremock), with the real toolkit
//! files: each test checks the exact request the provider documents (method, path, query,
//! Authorization and other headers, body) and how the answer is mapped. Every failure is also
//! checked not to contain the credential.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use serde_json::{json, Value};
use switchboard_catalog::{Catalog, LoadOptions};
use switchboard_core::Credential;
use switchboard_provider::{
    self as provider, CallPolicy, CallResult, Outcome, INVALID_REQUEST, PROVIDER_ERROR,
    PROVIDER_TIMEOUT, PROVIDER_UNAVAILABLE,
};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The hand-written toolkits, which the shipped catalog holds unchanged (and loads fast).
const TOOLKITS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../toolkits");
const GITHUB_TOKEN: &str = "ghp_SECRETgithubtoken0123456789";
const SLACK_TOKEN: &str = "xoxb-SECRET-slack-token-42";
const GOOGLE_TOKEN: &str = "ya29.SECRET-google-access-token";
const LINEAR_KEY: &str = "lin_api_SECRETlinearkey0123";
const NOTION_TOKEN: &str = "secret_SECRETnotiontoken";

/// The real toolkit files, every base URL pointing at `base`.
fn starter_catalog(base: &str) -> Catalog {
    let overrides = ["github", "slack", "gmail", "linear", "notion"]
        .into_iter()
        .map(|slug| (slug.to_owned(), base.to_owned()))
        .collect();
    let options = LoadOptions {
        base_url_overrides: overrides,
    };
    Catalog::load_dir(Path::new(TOOLKITS_DIR), &options).expect("toolkits load")
}

/// Small toolkits for the schemes no starter toolkit uses, with base URLs pointing at `base`.
fn scheme_catalog(base: &str) -> Catalog {
    let sources = [
        ("widgets", WIDGETS_YAML),
        ("legacy", LEGACY_YAML),
        ("weather", WEATHER_YAML),
    ];
    let sources: Vec<(PathBuf, String)> = sources
        .iter()
        .map(|(slug, text)| (PathBuf::from(format!("{slug}.yaml")), (*text).to_owned()))
        .collect();
    let options = LoadOptions {
        base_url_overrides: ["widgets", "legacy", "weather"]
            .into_iter()
            .map(|slug| (slug.to_owned(), base.to_owned()))
            .collect(),
    };
    Catalog::from_sources(&sources, &options).expect("test toolkits load")
}

/// API_KEY without a placement: `Authorization: Bearer <key>`. Also maps a header argument.
const WIDGETS_YAML: &str = r#"
slug: widgets
name: Widgets
description: An API-key API.
base_url: https://widgets.example.com/api
auth: {schemes: [API_KEY]}
tools:
  - slug: WIDGETS_GET_WIDGET
    name: Get a widget
    description: Fetches a widget.
    tags: [readOnlyHint]
    input_schema:
      type: object
      properties:
        id: {type: string}
        expand: {type: array, items: {type: string}}
        request_id: {type: string}
      required: [id]
    output_schema: {type: object}
    http:
      method: GET
      path: /widgets/{id}
      query: [expand]
      headers: {X-Request-Id: request_id}
"#;

/// BASIC with a form-encoded body.
const LEGACY_YAML: &str = r#"
slug: legacy
name: Legacy
description: A form-encoded API behind HTTP Basic auth.
base_url: https://legacy.example.com
auth: {schemes: [BASIC]}
tools:
  - slug: LEGACY_CREATE_TICKET
    name: Create a ticket
    description: Opens a ticket in a queue.
    input_schema:
      type: object
      properties:
        queue: {type: string}
        subject: {type: string}
        tags: {type: array, items: {type: string}}
        priority: {type: integer, default: 3}
      required: [queue, subject]
    output_schema: {type: object}
    http:
      method: POST
      path: /queues/{queue}/tickets
      body: {encoding: form, params: [subject, tags, priority]}
"#;

/// NO_AUTH.
const WEATHER_YAML: &str = r#"
slug: weather
name: Weather
description: A public API.
base_url: https://weather.example.com
auth: {schemes: [NO_AUTH]}
tools:
  - slug: WEATHER_GET_FORECAST
    name: Get a forecast
    description: Forecast for a city.
    tags: [readOnlyHint]
    input_schema:
      type: object
      properties:
        city: {type: string}
        days: {type: integer}
        metric: {type: boolean}
      required: [city]
    output_schema: {type: object}
    http:
      method: GET
      path: /v1/forecast
      query: [city, days, metric]
"#;

fn policy() -> CallPolicy {
    CallPolicy {
        timeout: Duration::from_secs(10),
        max_retries: 3,
        deadline: Instant::now() + Duration::from_secs(30),
    }
}

async fn run(catalog: &Catalog, slug: &str, args: Value, credential: &Credential) -> CallResult {
    run_with(catalog, slug, args, credential, &policy()).await
}

async fn run_with(
    catalog: &Catalog,
    slug: &str,
    args: Value,
    credential: &Credential,
    policy: &CallPolicy,
) -> CallResult {
    let tool = catalog.tool(slug).expect("tool exists");
    let toolkit = catalog.toolkit(&tool.toolkit).expect("toolkit exists");
    let client = reqwest::Client::new();
    provider::call(&client, toolkit, tool, &args, credential, policy).await
}

/// Answers every request with `response`.
async fn answer(server: &MockServer, response: ResponseTemplate) {
    Mock::given(wiremock::matchers::any())
        .respond_with(response)
        .mount(server)
        .await;
}

/// The one request the stand-in received.
async fn only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.expect("recording is on");
    assert_eq!(requests.len(), 1, "expected exactly one provider request");
    requests.remove(0)
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}

fn body_json(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

fn success(result: &CallResult) -> &Value {
    match &result.outcome {
        Outcome::Success(value) => value,
        failed => panic!("expected success, got {failed:?}"),
    }
}

/// Asserts a failure with `code` and `status`, whose message holds no secret; returns it.
fn failed(result: &CallResult, code: &str, status: u16) -> String {
    let Outcome::Failed {
        code: got,
        message,
        provider_status,
    } = &result.outcome
    else {
        panic!("expected {code}, got {:?}", result.outcome);
    };
    assert_eq!((*got, *provider_status), (code, status), "{message}");
    assert!(
        !message.contains("SECRET"),
        "credential in message: {message}"
    );
    message.clone()
}

// ---------------------------------------------------------------------------------------------
// Auth schemes

#[tokio::test]
async fn api_key_with_linears_bare_placement_and_graphql_body() {
    let server = MockServer::start().await;
    let data = json!({"data": {"issueCreate": {"success": true,
        "issue": {"id": "i1", "identifier": "ENG-1", "url": "https://linear.app/x/issue/ENG-1"}}}});
    answer(&server, ResponseTemplate::new(200).set_body_json(&data)).await;
    let catalog = starter_catalog(&server.uri());

    let args = json!({"teamId": "team-uuid", "title": "Fix login", "priority": 2,
                      "labelIds": ["l1", "l2"]});
    let result = run(
        &catalog,
        "LINEAR_CREATE_ISSUE",
        args,
        &Credential::ApiKey(LINEAR_KEY.into()),
    )
    .await;
    assert_eq!(success(&result), &data);
    assert_eq!(result.attempts, 1);

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/graphql");
    assert_eq!(request.url.query(), None);
    assert_eq!(header(&request, "authorization"), Some(LINEAR_KEY));
    assert_eq!(
        header(&request, "content-type"),
        Some("application/json; charset=utf-8")
    );
    let document = catalog
        .tool("LINEAR_CREATE_ISSUE")
        .unwrap()
        .spec
        .http
        .as_ref()
        .unwrap();
    let document = document.body.as_ref().unwrap().graphql.clone().unwrap();
    assert!(document.contains("issueCreate"));
    assert_eq!(
        body_json(&request),
        json!({"query": document, "variables": {
            "teamId": "team-uuid", "title": "Fix login", "priority": 2, "labelIds": ["l1", "l2"]}})
    );
}

#[tokio::test]
async fn bearer_token_on_linear_uses_the_bearer_prefix() {
    let server = MockServer::start().await;
    answer(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"data": {}})),
    )
    .await;
    let catalog = starter_catalog(&server.uri());
    let token = "lin_oauth_SECRET_token";
    let args = json!({"teamId": "t", "title": "x"});
    let result = run(
        &catalog,
        "LINEAR_CREATE_ISSUE",
        args,
        &Credential::BearerToken(token.into()),
    )
    .await;
    success(&result);
    let request = only_request(&server).await;
    assert_eq!(
        header(&request, "authorization"),
        Some(format!("Bearer {token}").as_str())
    );
}

#[tokio::test]
async fn api_key_without_placement_is_a_bearer_header_and_header_args_are_sent() {
    let server = MockServer::start().await;
    answer(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"id": "w 1"})),
    )
    .await;
    let catalog = scheme_catalog(&server.uri());
    let args = json!({"id": "w 1/2", "expand": ["parts", "owner"], "request_id": "req-7"});
    let key = Credential::ApiKey("wk_SECRET_key".into());
    let result = run(&catalog, "WIDGETS_GET_WIDGET", args, &key).await;
    assert_eq!(success(&result), &json!({"id": "w 1"}));

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), "/widgets/w%201%2F2");
    assert_eq!(request.url.query(), Some("expand=parts&expand=owner"));
    assert_eq!(
        header(&request, "authorization"),
        Some("Bearer wk_SECRET_key")
    );
    assert_eq!(header(&request, "x-request-id"), Some("req-7"));
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn basic_credentials_and_a_form_body() {
    let server = MockServer::start().await;
    answer(
        &server,
        ResponseTemplate::new(201).set_body_json(json!({"id": 9})),
    )
    .await;
    let catalog = scheme_catalog(&server.uri());
    let basic = Credential::Basic {
        username: "agent@example.com".into(),
        password: "SECRET-pass:word".into(),
    };
    let args = json!({"queue": "support", "subject": "Printer on fire & smoke",
                      "tags": ["hw", "urgent"]});
    let result = run(&catalog, "LEGACY_CREATE_TICKET", args, &basic).await;
    assert_eq!(success(&result), &json!({"id": 9}));

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/queues/support/tickets");
    let expected = format!(
        "Basic {}",
        STANDARD.encode("agent@example.com:SECRET-pass:word")
    );
    assert_eq!(header(&request, "authorization"), Some(expected.as_str()));
    assert_eq!(
        header(&request, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(request.body.clone()).unwrap(),
        "subject=Printer+on+fire+%26+smoke&tags=hw&tags=urgent&priority=3"
    );
}

#[tokio::test]
async fn no_auth_sends_no_credential_and_scalars_as_text() {
    let server = MockServer::start().await;
    answer(&server, ResponseTemplate::new(200).set_body_string("sunny")).await;
    let catalog = scheme_catalog(&server.uri());
    let args = json!({"city": "São Paulo", "days": 3, "metric": true});
    let result = run(&catalog, "WEATHER_GET_FORECAST", args, &Credential::None).await;
    // A body that is not JSON comes back as a string.
    assert_eq!(success(&result), &json!("sunny"));

    let request = only_request(&server).await;
    assert_eq!(request.url.path(), "/v1/forecast");
    assert_eq!(
        request.url.query(),
        Some("city=S%C3%A3o+Paulo&days=3&metric=true")
    );
    assert_eq!(header(&request, "authorization"), None);
}

// ---------------------------------------------------------------------------------------------
// The starter toolkits' most-used tools

#[tokio::test]
async fn github_create_issue() {
    let server = MockServer::start().await;
    let issue = json!({"id": 1, "number": 347, "title": "Found a bug", "state": "open"});
    answer(&server, ResponseTemplate::new(201).set_body_json(&issue)).await;
    let catalog = starter_catalog(&server.uri());
    let args = json!({"owner": "octocat", "repo": "hello-world", "title": "Found a bug",
                      "body": "I'm having a problem with this.", "labels": ["bug"],
                      "assignees": ["octocat"], "milestone": 1});
    let credential = Credential::BearerToken(GITHUB_TOKEN.into());
    let result = run(&catalog, "GITHUB_CREATE_ISSUE", args, &credential).await;
    assert_eq!(success(&result), &issue);

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/repos/octocat/hello-world/issues");
    assert_eq!(request.url.query(), None);
    let bearer = format!("Bearer {GITHUB_TOKEN}");
    assert_eq!(header(&request, "authorization"), Some(bearer.as_str()));
    assert_eq!(
        header(&request, "accept"),
        Some("application/vnd.github+json")
    );
    assert_eq!(header(&request, "x-github-api-version"), Some("2022-11-28"));
    assert!(header(&request, "user-agent").is_some_and(|ua| ua.starts_with("switchboard/")));
    assert_eq!(
        header(&request, "content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        body_json(&request),
        json!({"title": "Found a bug", "body": "I'm having a problem with this.",
               "labels": ["bug"], "assignees": ["octocat"], "milestone": 1})
    );
}

#[tokio::test]
async fn github_star_repository_sends_an_empty_put_and_maps_204_to_null() {
    let server = MockServer::start().await;
    answer(&server, ResponseTemplate::new(204)).await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GITHUB_TOKEN.into());
    let args = json!({"owner": "rust-lang", "repo": "rust"});
    let result = run(&catalog, "GITHUB_STAR_REPOSITORY", args, &credential).await;
    assert_eq!(success(&result), &Value::Null);

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "PUT");
    assert_eq!(request.url.path(), "/user/starred/rust-lang/rust");
    let lengths: Vec<_> = request.headers.get_all("content-length").iter().collect();
    assert_eq!(lengths, ["0"]);
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn slack_send_message() {
    let server = MockServer::start().await;
    let reply = json!({"ok": true, "channel": "C123ABC456", "ts": "1503435956.000247",
                       "message": {"text": "Hello world"}});
    answer(&server, ResponseTemplate::new(200).set_body_json(&reply)).await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(SLACK_TOKEN.into());
    let args = json!({"channel": "C123ABC456", "text": "Hello world"});
    let result = run(&catalog, "SLACK_SEND_MESSAGE", args, &credential).await;
    assert_eq!(success(&result), &reply);

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/chat.postMessage");
    let bearer = format!("Bearer {SLACK_TOKEN}");
    assert_eq!(header(&request, "authorization"), Some(bearer.as_str()));
    assert_eq!(
        header(&request, "content-type"),
        Some("application/json; charset=utf-8")
    );
    // Schema defaults (mrkdwn, reply_broadcast) are filled in for absent arguments.
    assert_eq!(
        body_json(&request),
        json!({"channel": "C123ABC456", "text": "Hello world",
               "mrkdwn": true, "reply_broadcast": false})
    );
}

#[tokio::test]
async fn slack_ok_false_is_a_provider_error() {
    let server = MockServer::start().await;
    let reply = json!({"ok": false, "error": "channel_not_found"});
    answer(&server, ResponseTemplate::new(200).set_body_json(reply)).await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(SLACK_TOKEN.into());
    let args = json!({"channel": "C404", "text": "hi"});
    let result = run(&catalog, "SLACK_SEND_MESSAGE", args, &credential).await;
    let message = failed(&result, PROVIDER_ERROR, 200);
    assert!(message.contains("channel_not_found"), "{message}");
    assert_eq!(result.attempts, 1);
}

/// Splits an RFC 822 message into its headers (unfolded) and body.
fn parse_rfc822(raw: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .expect("blank line after headers");
    let headers = head
        .replace("\r\n ", " ")
        .split("\r\n")
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("header line");
            (name.to_owned(), value.to_owned())
        })
        .collect();
    (headers, body.to_owned())
}

fn decode_encoded_words(value: &str) -> String {
    let bytes: Vec<u8> = value
        .split(' ')
        .flat_map(|word| {
            let inner = word.strip_prefix("=?UTF-8?B?").unwrap().strip_suffix("?=");
            STANDARD.decode(inner.unwrap()).unwrap()
        })
        .collect();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn gmail_send_email_posts_a_base64url_rfc822_message() {
    let server = MockServer::start().await;
    let sent = json!({"id": "18c1", "threadId": "18c1", "labelIds": ["SENT"]});
    answer(&server, ResponseTemplate::new(200).set_body_json(&sent)).await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GOOGLE_TOKEN.into());
    let args = json!({"recipient_email": "alice@example.com", "cc": ["bob@example.com",
                      "carol@example.com"], "bcc": ["dave@example.com"],
                      "subject": "Café meeting ☕", "body": "Hi Alice,\nsee you at 10.",
                      "is_html": false});
    let result = run(&catalog, "GMAIL_SEND_EMAIL", args, &credential).await;
    assert_eq!(success(&result), &sent);

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/gmail/v1/users/me/messages/send");
    let bearer = format!("Bearer {GOOGLE_TOKEN}");
    assert_eq!(header(&request, "authorization"), Some(bearer.as_str()));
    assert_eq!(
        header(&request, "content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = body_json(&request);
    assert_eq!(body.as_object().unwrap().len(), 1, "only raw: {body}");
    let raw = URL_SAFE.decode(body["raw"].as_str().unwrap()).unwrap();
    let (headers, text) = parse_rfc822(&String::from_utf8(raw).unwrap());
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("To"), Some("alice@example.com"));
    assert_eq!(get("Cc"), Some("bob@example.com, carol@example.com"));
    assert_eq!(get("Bcc"), Some("dave@example.com"));
    assert_eq!(
        decode_encoded_words(get("Subject").unwrap()),
        "Café meeting ☕"
    );
    assert_eq!(get("MIME-Version"), Some("1.0"));
    assert_eq!(get("Content-Type"), Some("text/plain; charset=\"UTF-8\""));
    assert_eq!(text, "Hi Alice,\r\nsee you at 10.");
}

#[tokio::test]
async fn gmail_create_draft_wraps_the_message() {
    let server = MockServer::start().await;
    answer(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({"id": "r1"})),
    )
    .await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GOOGLE_TOKEN.into());
    let args = json!({"subject": "Draft", "body": "<p>Hello</p>", "is_html": true});
    let result = run(&catalog, "GMAIL_CREATE_EMAIL_DRAFT", args, &credential).await;
    success(&result);

    let request = only_request(&server).await;
    assert_eq!(request.url.path(), "/gmail/v1/users/me/drafts");
    let body = body_json(&request);
    let raw = URL_SAFE
        .decode(body["message"]["raw"].as_str().unwrap())
        .unwrap();
    let (headers, text) = parse_rfc822(&String::from_utf8(raw).unwrap());
    assert!(!headers.iter().any(|(n, _)| n == "To"));
    assert!(headers.contains(&("Subject".into(), "Draft".into())));
    assert!(headers.contains(&("Content-Type".into(), "text/html; charset=\"UTF-8\"".into())));
    assert_eq!(text, "<p>Hello</p>");
}

#[tokio::test]
async fn gmail_list_messages_fills_user_id_and_repeats_label_ids() {
    let server = MockServer::start().await;
    let list = json!({"messages": [{"id": "m1", "threadId": "t1"}], "resultSizeEstimate": 1});
    answer(&server, ResponseTemplate::new(200).set_body_json(&list)).await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GOOGLE_TOKEN.into());
    let args = json!({"q": "from:alice is:unread", "labelIds": ["INBOX", "UNREAD"]});
    let result = run(&catalog, "GMAIL_LIST_MESSAGES", args, &credential).await;
    assert_eq!(success(&result), &list);

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), "/gmail/v1/users/me/messages");
    assert_eq!(
        request.url.query(),
        Some(
            "q=from%3Aalice+is%3Aunread&maxResults=100&labelIds=INBOX&labelIds=UNREAD\
             &includeSpamTrash=false"
        )
    );
}

#[tokio::test]
async fn notion_create_page() {
    let server = MockServer::start().await;
    let page = json!({"object": "page", "id": "p1", "url": "https://www.notion.so/p1"});
    answer(&server, ResponseTemplate::new(200).set_body_json(&page)).await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(NOTION_TOKEN.into());
    let args = json!({
        "parent": {"page_id": "494c87d0-72c4-4cf6-960f-55f8427f7692"},
        "properties": {"title": [{"text": {"content": "Meeting notes"}}]},
        "children": [{"object": "block", "type": "paragraph",
                      "paragraph": {"rich_text": [{"text": {"content": "Hello"}}]}}]});
    let result = run(&catalog, "NOTION_CREATE_PAGE", args.clone(), &credential).await;
    assert_eq!(success(&result), &page);

    let request = only_request(&server).await;
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/v1/pages");
    let bearer = format!("Bearer {NOTION_TOKEN}");
    assert_eq!(header(&request, "authorization"), Some(bearer.as_str()));
    assert_eq!(header(&request, "notion-version"), Some("2022-06-28"));
    assert_eq!(
        header(&request, "content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(body_json(&request), args);
}

// ---------------------------------------------------------------------------------------------
// Errors, retries and timeouts

#[tokio::test]
async fn not_found_is_a_provider_error_with_githubs_message() {
    let server = MockServer::start().await;
    let body = json!({"message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository"});
    answer(&server, ResponseTemplate::new(404).set_body_json(body)).await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GITHUB_TOKEN.into());
    let args = json!({"owner": "octocat", "repo": "missing"});
    let result = run(&catalog, "GITHUB_GET_REPOSITORY", args, &credential).await;
    let message = failed(&result, PROVIDER_ERROR, 404);
    assert!(message.contains("Not Found"), "{message}");
    // A 4xx is never retried, even for an idempotent tool.
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn an_echoed_credential_is_redacted_from_the_message() {
    let server = MockServer::start().await;
    let body = json!({"message": format!("Bad credentials: {GITHUB_TOKEN}")});
    answer(&server, ResponseTemplate::new(401).set_body_json(body)).await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GITHUB_TOKEN.into());
    let args = json!({"owner": "octocat", "repo": "hello-world"});
    let result = run(&catalog, "GITHUB_GET_REPOSITORY", args, &credential).await;
    let message = failed(&result, PROVIDER_ERROR, 401);
    assert!(message.contains("Bad credentials: <redacted>"), "{message}");
}

#[tokio::test]
async fn graphql_errors_are_a_provider_error() {
    let server = MockServer::start().await;
    let body = json!({"data": null, "errors": [{"message": "Entity not found: Team",
                      "extensions": {"code": "INVALID_INPUT"}}]});
    answer(&server, ResponseTemplate::new(200).set_body_json(body)).await;
    let catalog = starter_catalog(&server.uri());
    let args = json!({"teamId": "nope", "title": "x"});
    let key = Credential::ApiKey(LINEAR_KEY.into());
    let result = run(&catalog, "LINEAR_CREATE_ISSUE", args, &key).await;
    let message = failed(&result, PROVIDER_ERROR, 200);
    assert!(message.contains("Entity not found: Team"), "{message}");
}

#[tokio::test]
async fn rate_limited_idempotent_call_waits_retry_after_and_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/octocat/hello-world"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let repo = json!({"id": 1296269, "full_name": "octocat/hello-world"});
    Mock::given(method("GET"))
        .and(path("/repos/octocat/hello-world"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&repo))
        .expect(1)
        .mount(&server)
        .await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GITHUB_TOKEN.into());
    let started = Instant::now();
    let args = json!({"owner": "octocat", "repo": "hello-world"});
    let result = run(&catalog, "GITHUB_GET_REPOSITORY", args, &credential).await;
    assert_eq!(success(&result), &repo);
    assert_eq!(result.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
}

#[tokio::test]
async fn unavailable_non_idempotent_call_is_sent_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .expect(1)
        .mount(&server)
        .await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GITHUB_TOKEN.into());
    let args = json!({"owner": "octocat", "repo": "hello-world", "title": "t"});
    let result = run(&catalog, "GITHUB_CREATE_ISSUE", args, &credential).await;
    let message = failed(&result, PROVIDER_UNAVAILABLE, 503);
    assert!(message.contains("upstream down"), "{message}");
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn unavailable_idempotent_call_stops_after_max_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502))
        .expect(3)
        .mount(&server)
        .await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GITHUB_TOKEN.into());
    let policy = CallPolicy {
        max_retries: 2,
        ..policy()
    };
    let args = json!({"owner": "octocat", "repo": "hello-world"});
    let result = run_with(
        &catalog,
        "GITHUB_GET_REPOSITORY",
        args,
        &credential,
        &policy,
    )
    .await;
    failed(&result, PROVIDER_UNAVAILABLE, 502);
    assert_eq!(result.attempts, 3);
}

#[tokio::test]
async fn no_retry_waits_past_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GITHUB_TOKEN.into());
    let args = json!({"owner": "octocat", "repo": "hello-world"});
    let result = run(&catalog, "GITHUB_GET_REPOSITORY", args, &credential).await;
    failed(&result, PROVIDER_UNAVAILABLE, 429);
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn a_slow_provider_is_a_timeout() {
    let server = MockServer::start().await;
    answer(
        &server,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(30)),
    )
    .await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(SLACK_TOKEN.into());
    let policy = CallPolicy {
        timeout: Duration::from_millis(200),
        ..policy()
    };
    let args = json!({"channel": "C1", "text": "hi"});
    let result = run_with(&catalog, "SLACK_SEND_MESSAGE", args, &credential, &policy).await;
    failed(&result, PROVIDER_TIMEOUT, 0);
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn an_unreachable_provider_is_unavailable() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let catalog = starter_catalog(&base);
    let credential = Credential::BearerToken(NOTION_TOKEN.into());
    let args = json!({"parent": {"page_id": "p"}, "properties": {}});
    let result = run(&catalog, "NOTION_CREATE_PAGE", args, &credential).await;
    failed(&result, PROVIDER_UNAVAILABLE, 0);
    assert_eq!(result.attempts, 1);
}

#[tokio::test]
async fn a_dot_segment_path_argument_is_refused_without_a_request() {
    let server = MockServer::start().await;
    answer(&server, ResponseTemplate::new(200)).await;
    let catalog = starter_catalog(&server.uri());
    let credential = Credential::BearerToken(GITHUB_TOKEN.into());
    let args = json!({"owner": "octocat", "repo": ".."});
    let result = run(&catalog, "GITHUB_GET_REPOSITORY", args, &credential).await;
    failed(&result, INVALID_REQUEST, 0);
    assert_eq!(result.attempts, 0);
    assert!(server.received_requests().await.unwrap().is_empty());
}
