//! One tool call through the whole platform (gateway → JetStream → worker → provider stand-in)
//! for each authentication scheme and for each starter toolkit's most-used tool. The stand-in
//! checks the exact request the provider documents: method, path, Authorization and the other
//! headers it requires, and the body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use serde_json::json;
use switchboard_proto::v1::create_connected_account_request::Credential;
use switchboard_proto::v1::*;
use switchboard_testkit::build::*;
use switchboard_testkit::catalogs::catalog_with_extras;
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

struct Case {
    toolkit: &'static str,
    scheme: &'static str,
    credential: Option<Credential>,
    tool: &'static str,
    arguments: serde_json::Value,
    expect: MockBuilder,
    answer: serde_json::Value,
}

fn bearer(token: &str) -> Option<Credential> {
    Some(Credential::BearerToken(BearerTokenCredential {
        token: token.into(),
    }))
}

fn cases() -> Vec<Case> {
    let basic = base64::engine::general_purpose::STANDARD.encode("robot:hunter2");
    vec![
        Case {
            toolkit: "github",
            scheme: "BEARER_TOKEN",
            credential: bearer("ghp_case_token"),
            tool: "GITHUB_CREATE_ISSUE",
            arguments: json!({"owner": "acme", "repo": "api", "title": "Crash", "body": "Steps…"}),
            expect: Mock::given(method("POST"))
                .and(path("/repos/acme/api/issues"))
                .and(header("authorization", "Bearer ghp_case_token"))
                .and(header("accept", "application/vnd.github+json"))
                .and(header("x-github-api-version", "2022-11-28"))
                .and(body_json(json!({"title": "Crash", "body": "Steps…"}))),
            answer: json!({"number": 1}),
        },
        Case {
            toolkit: "slack",
            scheme: "BEARER_TOKEN",
            credential: bearer("xoxb-case-token"),
            tool: "SLACK_SEND_MESSAGE",
            arguments: json!({"channel": "C0123ABCD", "text": "Deploy finished"}),
            expect: Mock::given(method("POST"))
                .and(path("/chat.postMessage"))
                .and(header("authorization", "Bearer xoxb-case-token"))
                .and(body_partial_json(json!({"channel": "C0123ABCD", "text": "Deploy finished"}))),
            answer: json!({"ok": true, "channel": "C0123ABCD", "ts": "1700000000.000100"}),
        },
        Case {
            toolkit: "gmail",
            scheme: "BEARER_TOKEN",
            credential: bearer("ya29.case-token"),
            tool: "GMAIL_SEND_EMAIL",
            arguments: json!({"recipient_email": "ana@example.com", "subject": "Hello", "body": "Hi Ana"}),
            expect: Mock::given(method("POST"))
                .and(path("/gmail/v1/users/me/messages/send"))
                .and(header("authorization", "Bearer ya29.case-token")),
            answer: json!({"id": "18c1", "threadId": "18c1", "labelIds": ["SENT"]}),
        },
        Case {
            toolkit: "linear",
            scheme: "API_KEY",
            credential: Some(Credential::ApiKey(ApiKeyCredential { api_key: "lin_api_case".into() })),
            tool: "LINEAR_CREATE_ISSUE",
            arguments: json!({"teamId": "team_1", "title": "Broken link"}),
            expect: Mock::given(method("POST"))
                .and(path("/graphql"))
                .and(header("authorization", "lin_api_case"))
                .and(body_partial_json(json!({"variables": {"teamId": "team_1", "title": "Broken link"}}))),
            answer: json!({"data": {"issueCreate": {"success": true}}}),
        },
        Case {
            toolkit: "notion",
            scheme: "BEARER_TOKEN",
            credential: bearer("secret_case_notion"),
            tool: "NOTION_CREATE_PAGE",
            arguments: json!({"parent": {"page_id": "p1"}, "properties": {"title": {"title": [{"text": {"content": "Notes"}}]}}}),
            expect: Mock::given(method("POST"))
                .and(path("/v1/pages"))
                .and(header("authorization", "Bearer secret_case_notion"))
                .and(header("notion-version", "2022-06-28"))
                .and(body_json(json!({"parent": {"page_id": "p1"}, "properties": {"title": {"title": [{"text": {"content": "Notes"}}]}}}))),
            answer: json!({"object": "page", "id": "page_1"}),
        },
        Case {
            toolkit: "basicapp",
            scheme: "BASIC",
            credential: Some(Credential::Basic(BasicCredential { username: "robot".into(), password: "hunter2".into() })),
            tool: "BASICAPP_LIST_THINGS",
            arguments: json!({}),
            expect: Mock::given(method("GET")).and(path("/things")).and(header("authorization", format!("Basic {basic}").as_str())),
            answer: json!({"things": []}),
        },
        Case {
            toolkit: "publicapi",
            scheme: "NO_AUTH",
            credential: None,
            tool: "PUBLICAPI_GET_FACT",
            arguments: json!({}),
            expect: Mock::given(method("GET")).and(path("/fact")),
            answer: json!({"fact": "honey never spoils"}),
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scheme_and_each_starter_toolkit_runs_end_to_end() {
    let provider = MockServer::start().await;
    let catalog = catalog_with_extras();
    let mut config = test_config();
    config.catalog.dir = catalog.path().to_owned();
    for toolkit in [
        "github",
        "slack",
        "gmail",
        "linear",
        "notion",
        "basicapp",
        "publicapi",
    ] {
        config
            .catalog
            .base_urls
            .insert(toolkit.into(), provider.uri());
    }
    let stack = Stack::spawn_with(config).await;
    let workers = Workers::spawn(&stack.config, 1);
    let project = stack.project().await;
    let mut connections = stack.connections(Some(&project.api_key));
    let mut sessions = stack.sessions(Some(&project.api_key));
    let session = sessions
        .create_session(create_req("user_1", SessionConfig::default()))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();

    for case in cases() {
        case.expect
            .respond_with(ResponseTemplate::new(200).set_body_json(case.answer.clone()))
            .expect(1)
            .named(case.tool)
            .mount(&provider)
            .await;
        if case.scheme != "NO_AUTH" {
            let ac = connections
                .create_auth_config(CreateAuthConfigRequest {
                    toolkit: case.toolkit.into(),
                    scheme: case.scheme.into(),
                    name: String::new(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .auth_config
                .unwrap();
            connections
                .create_connected_account(CreateConnectedAccountRequest {
                    user_id: "user_1".into(),
                    auth_config_id: ac.id,
                    alias: String::new(),
                    credential: case.credential.clone(),
                })
                .await
                .unwrap();
        }
        let execution = sessions
            .execute_tool(ExecuteToolRequest {
                session_id: session.id.clone(),
                tool_slug: case.tool.into(),
                arguments_json: case.arguments.to_string(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .execution
            .unwrap();
        assert_eq!(
            execution.status(),
            ExecutionStatus::Succeeded,
            "{}: {:?}",
            case.tool,
            execution.error
        );
        assert_eq!(
            switchboard_proto::value_to_json(execution.data.as_ref().unwrap()),
            case.answer,
            "{}",
            case.tool
        );
        assert_eq!(
            execution.account.is_some(),
            case.scheme != "NO_AUTH",
            "{}",
            case.tool
        );
    }
    // The Gmail message is a real RFC 822 message for the recipient.
    let sent = provider
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/gmail/v1/users/me/messages/send")
        .unwrap();
    let raw: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
    let message = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw["raw"].as_str().unwrap().trim_end_matches('='))
        .unwrap();
    let message = String::from_utf8(message).unwrap();
    assert!(
        message.contains("To: ana@example.com\r\n")
            && message.contains("Subject: Hello\r\n")
            && message.contains("Hi Ana"),
        "{message}"
    );

    workers.stop().await;
    stack.stop().await;
    provider.verify().await;
}
