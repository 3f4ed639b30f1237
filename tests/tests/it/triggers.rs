//! Triggers end to end: a GitHub repository hook registered at trigger creation, signed
//! deliveries (the real example payloads and headers GitHub sends) routed to every matching
//! trigger and streamed to the right subscribers only; forged signatures and repeated
//! deliveries; durable subscriptions; Slack's Events API; triggers stopping with their account;
//! bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_proto::v1::*;
use switchboard_testkit::calls::*;
use switchboard_testkit::triggers::Listener;
use switchboard_testkit::*;
use tonic::Code;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_trigger_test_token_77";

/// A real example payload of GitHub's `event` with `action` (an excerpt of
/// `@octokit/webhooks-examples` committed in `tests/fixtures/`).
fn github_example(event: &str, action: &str) -> Value {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/github/webhook-examples.json");
    let all: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    all.into_iter()
        .find(|e| e["name"] == event)
        .and_then(|e| {
            e["examples"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| action.is_empty() || x["action"] == action)
                .cloned()
        })
        .unwrap_or_else(|| panic!("no example for {event}/{action}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct World {
    stack: Stack,
    triggers: switchboard_testkit::triggers::Running,
    github: MockServer,
    project: TestProject,
}

impl World {
    async fn start() -> World {
        World::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut switchboard_config::Config)) -> World {
        let github = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/repos/acme/api/hooks"))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(json!({"id": 42, "active": true})),
            )
            .mount(&github)
            .await;
        Mock::given(method("PATCH"))
            .and(path("/repos/acme/api/hooks/42"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 42})))
            .mount(&github)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/repos/acme/api/hooks/42"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&github)
            .await;
        let mut config = test_config();
        config
            .catalog
            .base_urls
            .insert("github".into(), github.uri());
        config.triggers.slack_signing_secret = Some("slack-signing-secret-123".into());
        tweak(&mut config);
        let listener = Listener::bind(&mut config).await;
        let stack = Stack::spawn_with(config).await;
        let triggers = listener.spawn(&stack.config);
        triggers.ready().await;
        let project = stack.project().await;
        World {
            stack,
            triggers,
            github,
            project,
        }
    }

    async fn account(&self, user: &str) -> ConnectedAccount {
        github_account_session(
            &self.stack,
            &self.project,
            &format!("gh-{user}"),
            user,
            "",
            TOKEN,
        )
        .await
        .0
    }

    async fn create(
        &self,
        kind: &str,
        user: &str,
        config: Value,
    ) -> Result<CreateTriggerResponse, tonic::Status> {
        self.stack
            .triggers(Some(&self.project.api_key))
            .create_trigger(CreateTriggerRequest {
                r#type: kind.into(),
                user_id: user.into(),
                connected_account_id: String::new(),
                config: Some(switchboard_proto::json_to_struct(&config)),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// The secret and URL the platform registered the repository hook with.
    async fn hook(&self) -> (String, String, Vec<String>) {
        let requests = self.github.received_requests().await.unwrap();
        let register = requests
            .iter()
            .find(|r| r.method.as_str() == "POST" && r.url.path() == "/repos/acme/api/hooks")
            .expect("a hook was registered");
        let body: Value = serde_json::from_slice(&register.body).unwrap();
        let events = requests
            .iter()
            .filter(|r| r.url.path().starts_with("/repos/acme/api/hooks"))
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .next_back()
            .map(|b| {
                b["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        (
            body["config"]["secret"].as_str().unwrap().to_owned(),
            body["config"]["url"].as_str().unwrap().to_owned(),
            events,
        )
    }

    async fn subscribe(&self, api_key: &str, user: &str, durable: &str) -> tonic::Streaming<Event> {
        self.stack
            .triggers(Some(api_key))
            .subscribe_events(SubscribeEventsRequest {
                user_id: user.into(),
                durable_name: durable.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    }
}

async fn deliver(url: &str, secret: &str, event: &str, delivery: &str, payload: &Value) -> u16 {
    let body = serde_json::to_vec(payload).unwrap();
    let signature = format!(
        "sha256={}",
        hex(&switchboard_crypto::hmac_sha256(secret.as_bytes(), &body))
    );
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature)
        .header("user-agent", "GitHub-Hookshot/abc123")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn next_event(stream: &mut tonic::Streaming<Event>, wait: Duration) -> Option<Event> {
    match tokio::time::timeout(wait, stream.message()).await {
        Ok(Ok(Some(e))) => Some(e),
        _ => None,
    }
}

/// An intake that stopped after taking a delivery but before publishing it (simulated by
/// taking the delivery id in the store) holds it only briefly: the provider's retry is asked to
/// come back, then published once; a later repeat is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_held_by_a_stopped_intake_goes_through_on_a_later_retry() {
    let world = World::start().await;
    world.account("ada").await;
    world
        .create(
            "GITHUB_ISSUE_OPENED",
            "ada",
            json!({"owner": "acme", "repo": "api"}),
        )
        .await
        .unwrap();
    let (secret, url, _) = world.hook().await;
    let mut ada = world.subscribe(&world.project.api_key, "ada", "").await;
    let store = world.stack.store().await;
    let taken = store
        .claim_delivery(
            &world.project.id,
            "github:d-held",
            Duration::from_millis(1500),
        )
        .await
        .unwrap();
    assert_eq!(taken, switchboard_store::DeliveryClaim::New);
    let payload = github_example("issues", "opened");
    assert_eq!(
        deliver(&url, &secret, "issues", "d-held", &payload).await,
        503,
        "held by the stopped intake"
    );
    assert!(next_event(&mut ada, Duration::from_millis(300))
        .await
        .is_none());
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        deliver(&url, &secret, "issues", "d-held", &payload).await,
        200,
        "the retry after the hold lapsed"
    );
    let event = next_event(&mut ada, Duration::from_secs(5))
        .await
        .expect("the event, once");
    assert_eq!(event.r#type, "trigger.message");
    assert_eq!(
        deliver(&url, &secret, "issues", "d-held", &payload).await,
        200,
        "a repeat"
    );
    assert!(next_event(&mut ada, Duration::from_millis(500))
        .await
        .is_none());
    assert_eq!(
        store
            .claim_delivery(&world.project.id, "github:d-held", Duration::from_secs(5))
            .await
            .unwrap(),
        switchboard_store::DeliveryClaim::Done
    );
    world.triggers.stop().await;
    world.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_github_delivery_reaches_that_users_subscriber_only() {
    let world = World::start().await;
    world.account("ada").await;
    world.account("bob").await;
    let opened = world
        .create(
            "GITHUB_ISSUE_OPENED",
            "ada",
            json!({"owner": "acme", "repo": "api"}),
        )
        .await
        .unwrap();
    assert!(opened.created);
    let trigger = opened.trigger.unwrap();
    let (secret, url, events) = world.hook().await;
    assert!(
        url.starts_with(&format!(
            "{}/webhooks/github/{}/rt_",
            world.triggers.url, world.project.id
        )),
        "{url}"
    );
    assert_eq!(events, ["issues"]);
    // A second kind on the same repository widens the same hook: every registered kind is
    // forwarded, not only the first.
    let commented = world
        .create(
            "GITHUB_ISSUE_COMMENTED",
            "ada",
            json!({"owner": "acme", "repo": "api"}),
        )
        .await
        .unwrap()
        .trigger
        .unwrap();
    assert_eq!(world.hook().await.2, ["issue_comment", "issues"]);
    // The same request again is the same trigger.
    let again = world
        .create(
            "GITHUB_ISSUE_OPENED",
            "ada",
            json!({"owner": "acme", "repo": "api"}),
        )
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.trigger.unwrap().id, trigger.id);

    let other_project = world.stack.project().await;
    let mut ada = world.subscribe(&world.project.api_key, "ada", "").await;
    let mut bob = world.subscribe(&world.project.api_key, "bob", "").await;
    let mut elsewhere = world.subscribe(&other_project.api_key, "ada", "").await;

    let payload = github_example("issues", "opened");
    assert_eq!(
        deliver(&url, &secret, "issues", "d-0001", &payload).await,
        200
    );
    let event = next_event(&mut ada, Duration::from_secs(5))
        .await
        .expect("ada's subscriber gets the event");
    assert_eq!(event.r#type, "trigger.message");
    let metadata = event.metadata.unwrap();
    assert_eq!(
        (
            metadata.trigger_id.as_str(),
            metadata.user_id.as_str(),
            metadata.trigger_slug.as_str()
        ),
        (trigger.id.as_str(), "ada", "GITHUB_ISSUE_OPENED")
    );
    let data = switchboard_proto::struct_to_json(event.data.as_ref().unwrap());
    assert_eq!(data["action"], "opened");
    assert_eq!(data["issue"]["number"], payload["issue"]["number"]);

    // The same delivery again: one event.
    assert_eq!(
        deliver(&url, &secret, "issues", "d-0001", &payload).await,
        200
    );
    // A forged signature: 401, nothing published.
    assert_eq!(
        deliver(&url, "not-the-secret", "issues", "d-0002", &payload).await,
        401
    );
    // A comment goes to the comment trigger.
    let comment = github_example("issue_comment", "created");
    assert_eq!(
        deliver(&url, &secret, "issue_comment", "d-0003", &comment).await,
        200
    );
    let event = next_event(&mut ada, Duration::from_secs(5))
        .await
        .expect("the comment event");
    assert_eq!(
        event.metadata.unwrap().trigger_id,
        commented.id,
        "not a repeat of d-0001"
    );
    assert!(
        next_event(&mut ada, Duration::from_millis(500))
            .await
            .is_none(),
        "nothing else"
    );
    assert!(
        next_event(&mut bob, Duration::from_millis(300))
            .await
            .is_none(),
        "bob sees nothing"
    );
    assert!(
        next_event(&mut elsewhere, Duration::from_millis(300))
            .await
            .is_none(),
        "another project sees nothing"
    );

    // Deleting both triggers removes the hook.
    let mut api = world.stack.triggers(Some(&world.project.api_key));
    for id in [&trigger.id, &commented.id] {
        api.delete_trigger(DeleteTriggerRequest {
            trigger_id: id.clone(),
        })
        .await
        .unwrap();
    }
    let requests = world.github.received_requests().await.unwrap();
    assert!(requests
        .iter()
        .any(|r| r.method.as_str() == "DELETE" && r.url.path() == "/repos/acme/api/hooks/42"));
    assert_eq!(
        deliver(&url, &secret, "issues", "d-0004", &payload).await,
        404
    );
    world.triggers.stop().await;
    world.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_subscriber_gets_every_missed_event_once() {
    let world = World::start().await;
    world.account("ada").await;
    world
        .create(
            "GITHUB_ISSUE_OPENED",
            "ada",
            json!({"owner": "acme", "repo": "api"}),
        )
        .await
        .unwrap();
    let (secret, url, _) = world.hook().await;
    let payload = github_example("issues", "opened");
    let mut first = world
        .subscribe(&world.project.api_key, "ada", "backend-1")
        .await;
    assert_eq!(
        deliver(&url, &secret, "issues", "dd-1", &payload).await,
        200
    );
    assert!(next_event(&mut first, Duration::from_secs(5))
        .await
        .is_some());
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 2..=4 {
        assert_eq!(
            deliver(&url, &secret, "issues", &format!("dd-{i}"), &payload).await,
            200
        );
    }
    let mut again = world
        .subscribe(&world.project.api_key, "ada", "backend-1")
        .await;
    let mut ids = Vec::new();
    while let Some(event) = next_event(&mut again, Duration::from_secs(3)).await {
        ids.push(event.id);
    }
    assert_eq!(ids.len(), 3, "every missed event, once: {ids:?}");
    // The same name with another user filter is refused.
    let status = world
        .stack
        .triggers(Some(&world.project.api_key))
        .subscribe_events(SubscribeEventsRequest {
            user_id: "bob".into(),
            durable_name: "backend-1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    world.triggers.stop().await;
    world.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_events_api_challenge_signature_and_messages() {
    let world = World::start().await;
    let (stack, project) = (&world.stack, &world.project);
    let auth_config = stack
        .connections(Some(&project.api_key))
        .create_auth_config(CreateAuthConfigRequest {
            toolkit: "slack".into(),
            scheme: "BEARER_TOKEN".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_config
        .unwrap();
    stack
        .connections(Some(&project.api_key))
        .create_connected_account(CreateConnectedAccountRequest {
            user_id: "ada".into(),
            auth_config_id: auth_config.id,
            credential: Some(create_connected_account_request::Credential::BearerToken(
                BearerTokenCredential {
                    token: "xoxb-slack".into(),
                },
            )),
            ..Default::default()
        })
        .await
        .unwrap();
    let trigger = world
        .create(
            "SLACK_MESSAGE_POSTED",
            "ada",
            json!({"channel": "C024BE91L"}),
        )
        .await
        .unwrap()
        .trigger
        .unwrap();
    let mut ada = world.subscribe(&project.api_key, "ada", "").await;
    let url = format!("{}/webhooks/slack/{}", world.triggers.url, project.id);
    let send = |body: Value, age_secs: i64, secret: &'static str| {
        let url = url.clone();
        async move {
            let ts = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                - age_secs)
                .to_string();
            let body = body.to_string();
            let signature = format!(
                "v0={}",
                hex(&switchboard_crypto::hmac_sha256(
                    secret.as_bytes(),
                    format!("v0:{ts}:{body}").as_bytes()
                ))
            );
            let response = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .header("x-slack-request-timestamp", ts)
                .header("x-slack-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let secret = "slack-signing-secret-123";
    let (status, body) = send(json!({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "token": "x"}), 0, secret).await;
    assert_eq!(
        (status, body["challenge"].as_str()),
        (
            200,
            Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        )
    );
    let message = json!({
        "type": "event_callback", "team_id": "T061EG9R6", "api_app_id": "A0PNCHHK2", "event_id": "Ev0PV52K21", "event_time": 1355517523,
        "event": {"type": "message", "channel": "C024BE91L", "user": "U2147483697", "text": "Live long and prospect.", "ts": "1355517523.000005", "event_ts": "1355517523.000005", "channel_type": "channel"}
    });
    assert_eq!(send(message.clone(), 0, secret).await.0, 200);
    let event = next_event(&mut ada, Duration::from_secs(5))
        .await
        .expect("the message event");
    assert_eq!(event.metadata.unwrap().trigger_id, trigger.id);
    assert_eq!(
        switchboard_proto::struct_to_json(event.data.as_ref().unwrap())["text"],
        "Live long and prospect."
    );
    // Stale (older than 5 minutes) or forged: 401, nothing published.
    let mut later = message.clone();
    later["event_id"] = json!("Ev0PV52K22");
    assert_eq!(send(later.clone(), 6 * 60, secret).await.0, 401);
    assert_eq!(send(later, 0, "wrong-secret").await.0, 401);
    // A repeated event id: one event.
    assert_eq!(send(message, 0, secret).await.0, 200);
    assert!(next_event(&mut ada, Duration::from_millis(500))
        .await
        .is_none());
    world.triggers.stop().await;
    world.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_stops_when_its_account_is_disabled_and_says_why() {
    let world = World::start().await;
    let account = world.account("ada").await;
    let trigger = world
        .create(
            "GITHUB_ISSUE_OPENED",
            "ada",
            json!({"owner": "acme", "repo": "api"}),
        )
        .await
        .unwrap()
        .trigger
        .unwrap();
    let mut ada = world.subscribe(&world.project.api_key, "ada", "").await;
    world
        .stack
        .connections(Some(&world.project.api_key))
        .disable_connected_account(DisableConnectedAccountRequest {
            connected_account_id: account.id.clone(),
        })
        .await
        .unwrap();
    let event = next_event(&mut ada, Duration::from_secs(5))
        .await
        .expect("trigger.disabled");
    assert_eq!(event.r#type, "trigger.disabled");
    assert_eq!(event.metadata.as_ref().unwrap().trigger_id, trigger.id);
    let reason = switchboard_proto::struct_to_json(event.data.as_ref().unwrap())["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("disabled"), "{reason}");
    let stored = world
        .stack
        .triggers(Some(&world.project.api_key))
        .get_trigger(GetTriggerRequest {
            trigger_id: trigger.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .trigger
        .unwrap();
    assert!(!stored.enabled);
    // Deliveries for it are no longer published.
    let (secret, url, _) = world.hook().await;
    assert_eq!(
        deliver(
            &url,
            &secret,
            "issues",
            "x-1",
            &github_example("issues", "opened")
        )
        .await,
        200
    );
    assert!(next_event(&mut ada, Duration::from_millis(500))
        .await
        .is_none());
    // Enabling it again needs an ACTIVE account.
    let status = world
        .stack
        .triggers(Some(&world.project.api_key))
        .enable_trigger(EnableTriggerRequest {
            trigger_id: trigger.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    world.triggers.stop().await;
    world.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_triggers_are_refused_and_nothing_is_stored() {
    let world = World::start().await;
    let ada = world.account("ada").await;
    let bob = world.account("bob").await;
    let before = world.stack.key_count().await;
    let mut api = world.stack.triggers(Some(&world.project.api_key));
    let request = |kind: &str, account: &str, config: Value| CreateTriggerRequest {
        r#type: kind.into(),
        user_id: "ada".into(),
        connected_account_id: account.into(),
        config: Some(switchboard_proto::json_to_struct(&config)),
    };
    let cases = [
        (
            "unknown type",
            request("GITHUB_NOPE", "", json!({})),
            Code::InvalidArgument,
            "UNKNOWN_TRIGGER_TYPE",
            "type",
        ),
        (
            "config missing repo",
            request("GITHUB_ISSUE_OPENED", "", json!({"owner": "acme"})),
            Code::InvalidArgument,
            "INVALID_CONFIG",
            "config",
        ),
        (
            "config of the wrong type",
            request(
                "GITHUB_ISSUE_OPENED",
                "",
                json!({"owner": "acme", "repo": 5}),
            ),
            Code::InvalidArgument,
            "INVALID_CONFIG",
            "config.repo",
        ),
        (
            "another user's account",
            request(
                "GITHUB_ISSUE_OPENED",
                &bob.id,
                json!({"owner": "acme", "repo": "api"}),
            ),
            Code::NotFound,
            "CONNECTED_ACCOUNT_NOT_FOUND",
            "",
        ),
        (
            "a user without an account",
            CreateTriggerRequest {
                user_id: "carol".into(),
                ..request(
                    "GITHUB_ISSUE_OPENED",
                    "",
                    json!({"owner": "acme", "repo": "api"}),
                )
            },
            Code::FailedPrecondition,
            "NO_CONNECTED_ACCOUNT",
            "",
        ),
    ];
    for (what, req, code, reason, field) in cases {
        let status = api.create_trigger(req).await.unwrap_err();
        let (got_reason, got_field) = expect_error(&status, code);
        assert_eq!(got_reason, reason, "{what}");
        if !field.is_empty() {
            assert_eq!(got_field, field, "{what}");
        }
    }
    world
        .stack
        .connections(Some(&world.project.api_key))
        .disable_connected_account(DisableConnectedAccountRequest {
            connected_account_id: ada.id.clone(),
        })
        .await
        .unwrap();
    let status = api
        .create_trigger(request(
            "GITHUB_ISSUE_OPENED",
            &ada.id,
            json!({"owner": "acme", "repo": "api"}),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        expect_error(&status, Code::FailedPrecondition).0,
        "ACCOUNT_NOT_ACTIVE"
    );
    assert!(
        world.github.received_requests().await.unwrap().is_empty(),
        "no hook registered"
    );
    let after = world.stack.key_count().await;
    // Disabling the account rewrote its record only.
    assert_eq!(after, before, "nothing stored");

    // Another project's trigger does not exist here.
    let other = world.stack.project().await;
    let mut other_api = world.stack.triggers(Some(&other.api_key));
    for status in [
        other_api
            .get_trigger(GetTriggerRequest {
                trigger_id: "ti_01jzzzzzzzzzzzzzzzzzzzzzzz".into(),
            })
            .await
            .unwrap_err(),
        other_api
            .delete_trigger(DeleteTriggerRequest {
                trigger_id: "ti_01jzzzzzzzzzzzzzzzzzzzzzzz".into(),
            })
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::NotFound);
    }
    world.triggers.stop().await;
    world.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_are_the_projects_own() {
    let world = World::start().await;
    world.account("ada").await;
    let trigger = world
        .create(
            "GITHUB_ISSUE_OPENED",
            "ada",
            json!({"owner": "acme", "repo": "api"}),
        )
        .await
        .unwrap()
        .trigger
        .unwrap();
    let other = world.stack.project().await;
    let mut other_api = world.stack.triggers(Some(&other.api_key));
    let id = trigger.id.clone();
    assert_eq!(
        other_api
            .get_trigger(GetTriggerRequest {
                trigger_id: id.clone()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        other_api
            .disable_trigger(DisableTriggerRequest {
                trigger_id: id.clone()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        other_api
            .delete_trigger(DeleteTriggerRequest {
                trigger_id: id.clone()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let listed = other_api
        .list_triggers(ListTriggersRequest {
            include_disabled: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.triggers.is_empty());
    let mut api = world.stack.triggers(Some(&world.project.api_key));
    let mine = api
        .list_triggers(ListTriggersRequest {
            user_id: "ada".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.triggers.len(), 1);
    assert!(api
        .list_triggers(ListTriggersRequest {
            user_id: "bob".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .triggers
        .is_empty());
    api.disable_trigger(DisableTriggerRequest {
        trigger_id: id.clone(),
    })
    .await
    .unwrap();
    assert!(api
        .list_triggers(ListTriggersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .triggers
        .is_empty());
    assert_eq!(
        api.list_triggers(ListTriggersRequest {
            include_disabled: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .triggers
        .len(),
        1
    );
    world.triggers.stop().await;
    world.stack.stop().await;
}

/// Verifies a received webhook with the `standardwebhooks` library from PyPI.
fn verify_with_standardwebhooks(
    secret: &str,
    request: &wiremock::Request,
    body: &str,
) -> Result<Value, String> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-mcp/bin/python");
    assert!(
        python.exists(),
        "standardwebhooks is missing: run `make deps`"
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("webhooks/verify.py");
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|h| {
                (
                    h.to_string(),
                    json!(request
                        .headers
                        .get(*h)
                        .map(|v| v.to_str().unwrap())
                        .unwrap_or("")),
                )
            })
            .collect();
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(secret)
        .arg(json!({"headers": headers, "body": body}).to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if out.status.success() {
        Ok(serde_json::from_str(text.trim()).unwrap())
    } else {
        Err(text)
    }
}

async fn received(server: &MockServer, at_least: usize) -> Vec<wiremock::Request> {
    for _ in 0..200 {
        let requests = server.received_requests().await.unwrap();
        if requests.len() >= at_least {
            return requests;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.received_requests().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_outgoing_webhooks_verify_with_standardwebhooks_and_failing_ones_are_disabled() {
    let world = World::start_with(|c| {
        c.triggers.allow_loopback_webhooks = true;
        c.triggers.webhook_max_failures = 3;
    })
    .await;
    world.account("ada").await;
    let trigger = world
        .create(
            "GITHUB_ISSUE_OPENED",
            "ada",
            json!({"owner": "acme", "repo": "api"}),
        )
        .await
        .unwrap()
        .trigger
        .unwrap();
    let healthy = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&healthy)
        .await;
    let failing = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&failing)
        .await;
    let mut api = world.stack.triggers(Some(&world.project.api_key));
    // Bad targets first.
    for (url, what) in [
        ("ftp://127.0.0.1/x", "not https"),
        ("http://example.com/hooks", "plain http off loopback"),
        ("https://u:p@example.com/", "credentials in the URL"),
    ] {
        let status = api
            .create_webhook_subscription(CreateWebhookSubscriptionRequest {
                url: url.into(),
                event_types: vec![],
            })
            .await
            .unwrap_err();
        assert_eq!(
            expect_error(&status, Code::InvalidArgument).0,
            "INVALID_WEBHOOK_URL",
            "{what}"
        );
    }
    let created = api
        .create_webhook_subscription(CreateWebhookSubscriptionRequest {
            url: format!("{}/hooks", healthy.uri()),
            event_types: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(created.secret.starts_with("whsec_"));
    let broken = api
        .create_webhook_subscription(CreateWebhookSubscriptionRequest {
            url: format!("{}/hooks", failing.uri()),
            event_types: vec!["trigger.message".into()],
        })
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap();

    let (secret, url, _) = world.hook().await;
    assert_eq!(
        deliver(
            &url,
            &secret,
            "issues",
            "w-1",
            &github_example("issues", "opened")
        )
        .await,
        200
    );
    let requests = received(&healthy, 1).await;
    let request = &requests[0];
    let body = String::from_utf8(request.body.clone()).unwrap();
    let payload = verify_with_standardwebhooks(&created.secret, request, &body)
        .expect("standardwebhooks accepts it");
    assert_eq!(payload["type"], "trigger.message");
    assert_eq!(payload["metadata"]["trigger_id"], trigger.id.as_str());
    assert_eq!(payload["metadata"]["trigger_slug"], "GITHUB_ISSUE_OPENED");
    assert_eq!(payload["metadata"]["user_id"], "ada");
    assert!(payload["metadata"]["connected_account_id"]
        .as_str()
        .unwrap()
        .starts_with("ca_"));
    assert!(payload["metadata"]["auth_config_id"]
        .as_str()
        .unwrap()
        .starts_with("ac_"));
    assert_eq!(payload["data"]["action"], "opened");
    assert!(payload["id"].as_str().unwrap().starts_with("ev_") && payload["timestamp"].is_string());
    // The verifier is real: a changed body or another secret is refused.
    assert!(verify_with_standardwebhooks(
        &created.secret,
        request,
        &body.replace("opened", "closed")
    )
    .is_err());
    assert!(
        verify_with_standardwebhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", request, &body)
            .is_err()
    );

    // The failing receiver is retried with backoff, then disabled, and an event says so.
    let attempts = received(&failing, 3).await;
    assert!(attempts.len() >= 3, "retried: {}", attempts.len());
    let mut disabled = None;
    for _ in 0..100 {
        let listed = api
            .list_webhook_subscriptions(ListWebhookSubscriptionsRequest {})
            .await
            .unwrap()
            .into_inner();
        disabled = listed
            .subscriptions
            .into_iter()
            .find(|s| s.id == broken.id && !s.enabled);
        if disabled.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let disabled = disabled.expect("the failing subscription is disabled");
    assert_eq!(disabled.consecutive_failures, 3);
    assert!(
        disabled.status_reason.contains("3 consecutive"),
        "{}",
        disabled.status_reason
    );
    let notices = received(&healthy, 2).await;
    let notice: Value = serde_json::from_slice(&notices[1].body).unwrap();
    assert_eq!(notice["type"], "webhook_subscription.disabled");
    assert_eq!(notice["data"]["subscription_id"], broken.id.as_str());
    // One delivery to the healthy receiver per event: nothing doubled by the retries.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(healthy.received_requests().await.unwrap().len(), 2);
    world.triggers.stop().await;
    world.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_types_subscriptions_and_webhook_subscriptions_refuse_bad_input_and_stay_in_their_project(
) {
    let world = World::start_with(|c| c.triggers.allow_loopback_webhooks = true).await;
    let key = world.project.api_key.clone();
    // Trigger types in the catalog API.
    let mut catalog = world.stack.catalog(Some(&key));
    let github = catalog
        .list_trigger_types(ListTriggerTypesRequest {
            toolkits: vec!["github".into()],
        })
        .await
        .unwrap()
        .into_inner()
        .trigger_types;
    assert!(github
        .iter()
        .any(|t| t.slug == "GITHUB_ISSUE_OPENED" && t.kind == "webhook"));
    assert!(github.iter().all(|t| t.toolkit == "github"));
    let one = catalog
        .get_trigger_type(GetTriggerTypeRequest {
            slug: "GMAIL_NEW_MESSAGE".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .trigger_type
        .unwrap();
    assert_eq!(one.kind, "poll");
    assert!(one.config_schema.is_some() && one.payload_schema.is_some());
    let status = catalog
        .get_trigger_type(GetTriggerTypeRequest {
            slug: "NOPE".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        expect_error(&status, Code::NotFound).0,
        "TRIGGER_TYPE_NOT_FOUND"
    );
    let status = catalog
        .list_trigger_types(ListTriggerTypesRequest {
            toolkits: vec!["nope".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(
        expect_error(&status, Code::InvalidArgument),
        ("UNKNOWN_TOOLKIT".to_owned(), "toolkits[0]".to_owned())
    );

    // SubscribeEvents input.
    let mut api = world.stack.triggers(Some(&key));
    for (req, reason, field) in [
        (
            SubscribeEventsRequest {
                durable_name: "no spaces allowed".into(),
                ..Default::default()
            },
            "INVALID_DURABLE_NAME",
            "durable_name",
        ),
        (
            SubscribeEventsRequest {
                trigger_types: vec!["NOPE".into()],
                ..Default::default()
            },
            "UNKNOWN_TRIGGER_TYPE",
            "trigger_types[0]",
        ),
        (
            SubscribeEventsRequest {
                user_id: "a\u{0}b".into(),
                ..Default::default()
            },
            "INVALID_USER_ID",
            "user_id",
        ),
    ] {
        let status = api.subscribe_events(req).await.unwrap_err();
        let (got_reason, got_field) = expect_error(&status, Code::InvalidArgument);
        assert_eq!((got_reason.as_str(), got_field.as_str()), (reason, field));
    }

    // A webhook subscription belongs to its project.
    let created = api
        .create_webhook_subscription(CreateWebhookSubscriptionRequest {
            url: "http://127.0.0.1:9/hooks".into(),
            event_types: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .subscription
        .unwrap();
    let status = api
        .create_webhook_subscription(CreateWebhookSubscriptionRequest {
            url: "https://example.com/h".into(),
            event_types: vec!["nope".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(
        expect_error(&status, Code::InvalidArgument),
        ("UNKNOWN_EVENT_TYPE".to_owned(), "event_types[0]".to_owned())
    );
    let other = world.stack.project().await;
    let mut other_api = world.stack.triggers(Some(&other.api_key));
    assert!(other_api
        .list_webhook_subscriptions(ListWebhookSubscriptionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .subscriptions
        .is_empty());
    let status = other_api
        .delete_webhook_subscription(DeleteWebhookSubscriptionRequest {
            subscription_id: created.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    api.delete_webhook_subscription(DeleteWebhookSubscriptionRequest {
        subscription_id: created.id,
    })
    .await
    .unwrap();
    assert!(api
        .list_webhook_subscriptions(ListWebhookSubscriptionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .subscriptions
        .is_empty());
    world.triggers.stop().await;
    world.stack.stop().await;
}
