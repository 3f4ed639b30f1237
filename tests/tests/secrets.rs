//! Credentials never leak: a run that connects accounts with three kinds of credential, calls
//! tools that succeed and fail (one stand-in even echoes the Authorization header back in its
//! error), and then searches everything a user or operator could see — every reply and error,
//! the execution records, every Redis value, every message on the bus, and the logs at debug
//! level — for the secrets. None may appear.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use futures::StreamExt;
use switchboard_proto::v1::*;
use switchboard_testkit::build::*;
use switchboard_testkit::inspect::{contains, redis_dump};
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const GITHUB_TOKEN: &str = "ghp_SECRET_github_token_5f1e";
const LINEAR_KEY: &str = "lin_api_SECRET_linear_key_77aa";
const NOTION_TOKEN: &str = "secret_SECRET_notion_token_9c";

/// Collects every log line.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Answers 401 with the request's Authorization header in the body, as a careless provider might.
struct EchoAuth;

impl Respond for EchoAuth {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        ResponseTemplate::new(401)
            .set_body_json(serde_json::json!({"message": format!("Bad credentials: {auth}")}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_appears_in_replies_errors_records_store_bus_or_logs() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug,h2=info,hyper=info,tower=info,async_nats=info,wiremock=info")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let providers = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"number": 1})))
        .mount(&providers)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/issues/404"))
        .respond_with(EchoAuth)
        .mount(&providers)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"data": {"issueCreate": {"success": true}}})),
        )
        .mount(&providers)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/search"))
        .respond_with(EchoAuth)
        .mount(&providers)
        .await;

    let mut config = test_config();
    for toolkit in ["github", "linear", "notion"] {
        config
            .catalog
            .base_urls
            .insert(toolkit.into(), providers.uri());
    }
    let stack = Stack::spawn_with(config).await;
    let workers = Workers::spawn(&stack.config, 1);
    let project = stack.project().await;
    let mut connections = stack.connections(Some(&project.api_key));
    let mut sessions = stack.sessions(Some(&project.api_key));

    // Everything a caller is handed, as text.
    let mut seen: Vec<String> = Vec::new();
    // Everything published on the bus under the stack's subject prefix.
    let mut bus_messages = {
        let client = nats_client(&stack.config.nats.url).await;
        client
            .subscribe(format!("{}.>", stack.config.nats.subject_prefix))
            .await
            .unwrap()
    };

    let mut accounts = Vec::new();
    for (toolkit, scheme, credential) in [
        (
            "github",
            "BEARER_TOKEN",
            create_connected_account_request::Credential::BearerToken(BearerTokenCredential {
                token: GITHUB_TOKEN.into(),
            }),
        ),
        (
            "linear",
            "API_KEY",
            create_connected_account_request::Credential::ApiKey(ApiKeyCredential {
                api_key: LINEAR_KEY.into(),
            }),
        ),
        (
            "notion",
            "BEARER_TOKEN",
            create_connected_account_request::Credential::BearerToken(BearerTokenCredential {
                token: NOTION_TOKEN.into(),
            }),
        ),
    ] {
        let ac = connections
            .create_auth_config(CreateAuthConfigRequest {
                toolkit: toolkit.into(),
                scheme: scheme.into(),
                name: String::new(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.push(format!("{ac:?}"));
        let ac = ac.auth_config.unwrap();
        let created = connections
            .create_connected_account(CreateConnectedAccountRequest {
                user_id: "user_1".into(),
                auth_config_id: ac.id.clone(),
                alias: "main".into(),
                credential: Some(credential.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        seen.push(format!("{created:?}"));
        accounts.push(created.connected_account.unwrap());
        // A second account with the same alias is refused: the error must not carry the secret.
        let refused = connections
            .create_connected_account(CreateConnectedAccountRequest {
                user_id: "user_1".into(),
                auth_config_id: ac.id,
                alias: "main".into(),
                credential: Some(credential),
            })
            .await
            .unwrap_err();
        seen.push(format!("{refused:?}"));
    }
    let listed = connections
        .list_connected_accounts(ListConnectedAccountsRequest {
            user_id: "user_1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    seen.push(format!("{listed:?}"));
    for account in &accounts {
        let got = connections
            .get_connected_account(GetConnectedAccountRequest {
                connected_account_id: account.id.clone(),
            })
            .await
            .unwrap();
        seen.push(format!("{got:?}"));
    }

    let session = sessions
        .create_session(create_req("user_1", SessionConfig::default()))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    let calls = [
        (
            "GITHUB_CREATE_ISSUE",
            r#"{"owner": "acme", "repo": "api", "title": "t"}"#,
        ),
        (
            "GITHUB_GET_ISSUE",
            r#"{"owner": "acme", "repo": "api", "issue_number": 404}"#,
        ),
        (
            "LINEAR_CREATE_ISSUE",
            r#"{"teamId": "team_1", "title": "t"}"#,
        ),
        ("NOTION_SEARCH", r#"{"query": "x"}"#),
        ("GITHUB_CREATE_ISSUE", r#"{"owner": "acme"}"#),
    ];
    for (tool, args) in calls {
        let result = sessions
            .execute_tool(ExecuteToolRequest {
                session_id: session.id.clone(),
                tool_slug: tool.into(),
                arguments_json: args.into(),
                ..Default::default()
            })
            .await;
        seen.push(format!("{result:?}"));
    }
    let log = sessions
        .list_executions(ListExecutionsRequest {
            session_id: session.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        log.executions.len(),
        4,
        "four calls ran (the last had bad arguments)"
    );
    assert!(
        log.executions.iter().any(|e| e
            .error
            .as_ref()
            .is_some_and(|err| err.provider_status == 401)),
        "the echoing stand-in answered: {:?}",
        log.executions
    );
    seen.push(format!("{log:?}"));
    let toolkits = sessions
        .list_session_toolkits(ListSessionToolkitsRequest {
            session_id: session.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    seen.push(format!("{toolkits:?}"));

    workers.stop().await;
    let mut published = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), bus_messages.next()).await
    {
        published.push(message.payload.to_vec());
        if let Some(headers) = &message.headers {
            published.push(format!("{headers:?}").into_bytes());
        }
    }
    assert!(
        !published.is_empty(),
        "jobs and replies were observed on the bus"
    );
    let store = redis_dump(&stack).await;
    assert!(
        store.iter().any(|(k, _)| k.contains(":ca:")),
        "accounts are in the store"
    );
    let logged = logs.0.lock().unwrap().clone();
    assert!(contains(&logged, b"execution"), "debug logs were captured");

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x:{GITHUB_TOKEN}"));
    for secret in [GITHUB_TOKEN, LINEAR_KEY, NOTION_TOKEN, basic.as_str()] {
        let needle = secret.as_bytes();
        for text in &seen {
            assert!(
                !contains(text.as_bytes(), needle),
                "a reply or error carries {secret}: {text}"
            );
        }
        for (key, values) in &store {
            for value in values {
                assert!(!contains(value, needle), "Redis key {key} holds {secret}");
            }
        }
        for message in &published {
            assert!(!contains(message, needle), "a bus message carries {secret}");
        }
        assert!(!contains(&logged, needle), "the logs carry {secret}");
    }
    stack.stop().await;

    oauth_secrets_stay_hidden(&logs).await;
}

/// The OAuth side: a whole Connect Link flow with PKCE, a call, a refresh after a 401 — then
/// no access or refresh token, code, verifier or client secret in replies, Redis, the bus or
/// the logs.
async fn oauth_secrets_stay_hidden(logs: &Logs) {
    use switchboard_testkit::oauth_provider::{ClientAuthMethod, OAuthProvider, ProviderOptions};
    const CLIENT_SECRET: &str = "cs_SECRET_oauth_client_31c9";
    let mut options = ProviderOptions::new("client-1", CLIENT_SECRET, "http://unset.invalid/");
    options.client_auth = ClientAuthMethod::Post;
    let provider = OAuthProvider::start(options).await;
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), provider.url());
    config.oauth.providers.insert(
        "github".into(),
        switchboard_config::OAuthProviderConfig {
            client_id: Some("client-1".into()),
            client_secret: Some(CLIENT_SECRET.into()),
            authorize_url: Some(provider.authorize_url()),
            token_url: Some(provider.token_url()),
            revoke_url: None,
        },
    );
    let stack = Stack::spawn_with(config).await;
    provider.set_redirect_uri(&format!("http://{}/oauth/callback", stack.http_addr));
    let workers = Workers::spawn(&stack.config, 1);
    let project = stack.project().await;
    let mut sessions = stack.sessions(Some(&project.api_key));
    let nats = nats_client(&stack.config.nats.url).await;
    let mut bus_messages = nats
        .subscribe(format!("{}.>", stack.config.nats.subject_prefix))
        .await
        .unwrap();
    let mut seen: Vec<String> = Vec::new();
    let session = create_session(&mut sessions, "ada", toolkits_config(&["github"])).await;
    let request = sessions
        .authorize(AuthorizeRequest {
            session_id: session.id.clone(),
            toolkit: "github".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    seen.push(format!("{request:?}"));
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = request
        .connection_request
        .as_ref()
        .unwrap()
        .redirect_url
        .clone();
    for _ in 0..5 {
        let response = browser.get(&url).send().await.unwrap();
        let next = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        seen.push(response.text().await.unwrap_or_default());
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    let waited = sessions
        .wait_for_connection(WaitForConnectionRequest {
            session_id: session.id.clone(),
            connection_request_id: request.connection_request.unwrap().id,
            timeout: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(waited.connected_account.as_ref().unwrap().status, "ACTIVE");
    seen.push(format!("{waited:?}"));
    provider.expire_access_tokens();
    let executed = sessions
        .execute_tool(ExecuteToolRequest {
            session_id: session.id.clone(),
            tool_slug: "GITHUB_GET_AUTHENTICATED_USER".into(),
            arguments_json: "{}".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        executed.execution.as_ref().unwrap().status(),
        ExecutionStatus::Succeeded
    );
    assert_eq!(provider.refresh_calls(), 1, "refreshed after the 401");
    seen.push(format!("{executed:?}"));
    workers.stop().await;

    let mut published = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), bus_messages.next()).await
    {
        published.push(message.payload.to_vec());
    }
    let store = redis_dump(&stack).await;
    let logged = logs.0.lock().unwrap().clone();
    let mut secrets = provider.issued_secrets();
    secrets.push(CLIENT_SECRET.into());
    for request in provider.token_requests() {
        secrets.extend(request.get("code_verifier").cloned());
    }
    assert!(
        secrets.len() >= 6,
        "codes, tokens, verifier and secret: {}",
        secrets.len()
    );
    for secret in &secrets {
        let needle = secret.as_bytes();
        for text in &seen {
            assert!(
                !contains(text.as_bytes(), needle),
                "a reply or page carries an OAuth secret: {text}"
            );
        }
        for (key, values) in &store {
            for value in values {
                assert!(
                    !contains(value, needle),
                    "Redis key {key} holds an OAuth secret"
                );
            }
        }
        for message in &published {
            assert!(
                !contains(message, needle),
                "a bus message carries an OAuth secret"
            );
        }
        assert!(!contains(&logged, needle), "the logs carry an OAuth secret");
    }
    stack.stop().await;
}
