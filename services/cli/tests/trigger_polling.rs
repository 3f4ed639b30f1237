//! Polling with two listener processes (`switchboard triggers`: the built `switchboard` binary,
//! which starts the triggers service the way `switchboard-triggers` does) on one trigger: each new item is published once; the
//! one holding the trigger's lease is killed (`kill -9`) in the middle of a poll, the other
//! takes over after the lease runs out, and nothing is lost or doubled. Also Gmail's history
//! API poller, and SIGTERM with a delivery in flight: the grace period bounds the drain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use switchboard_config::Config;
use switchboard_proto::v1::*;
use switchboard_testkit::calls::*;
use switchboard_testkit::procs::{with_config, Proc};
use switchboard_testkit::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "ghp_polling_token_31";

/// GitHub's repository issue list, newest first, as the test makes it grow; optionally slow.
#[derive(Clone, Default)]
struct Issues {
    items: Arc<Mutex<Vec<Value>>>,
    delay: Arc<Mutex<Duration>>,
    calls: Arc<Mutex<usize>>,
}

impl Issues {
    fn add(&self, number: u64) {
        self.items.lock().unwrap().insert(
            0,
            json!({"id": 1000 + number, "number": number, "title": format!("Issue {number}"), "state": "open",
                   "html_url": format!("https://github.com/acme/api/issues/{number}"), "user": {"login": "octocat"}}),
        );
    }

    fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }
}

impl Respond for Issues {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        *self.calls.lock().unwrap() += 1;
        let authorized = request
            .headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap() == format!("Bearer {TOKEN}"));
        if !authorized {
            return ResponseTemplate::new(401);
        }
        ResponseTemplate::new(200)
            .set_body_json(Value::Array(self.items.lock().unwrap().clone()))
            .set_delay(*self.delay.lock().unwrap())
    }
}

/// `switchboard triggers` with `config` as `SWITCHBOARD_*` variables, JSON logs.
fn triggers(config: &Config) -> std::process::Command {
    let mut command = with_config(env!("CARGO_BIN_EXE_switchboard"), config);
    command.arg("triggers");
    command
}

async fn eventually<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads events into `seen` (item number → times) in the background.
fn collect(mut stream: tonic::Streaming<Event>) -> Arc<Mutex<HashMap<u64, usize>>> {
    let seen: Arc<Mutex<HashMap<u64, usize>>> = Arc::default();
    let out = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok(Some(event)) = stream.message().await {
            let data = switchboard_proto::struct_to_json(event.data.as_ref().unwrap());
            if let Some(n) = data["number"].as_u64() {
                *out.lock().unwrap().entry(n).or_insert(0) += 1;
            }
        }
    });
    seen
}

/// The replica id a triggers process logged at start.
fn replica_of(process: &Proc) -> Option<String> {
    process.logs().lines().find_map(|line| {
        let v: Value = serde_json::from_str(line).ok()?;
        v["fields"]["replica"].as_str().map(str::to_owned)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_listeners_publish_each_item_once_and_survive_kill_9_of_the_lease_holder() {
    let github = MockServer::start().await;
    let issues = Issues::default();
    issues.add(1);
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/issues"))
        .respond_with(issues.clone())
        .mount(&github)
        .await;
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    config.triggers.http_addr = "127.0.0.1:0".into();
    config.triggers.poll_lease_secs = 2;
    config.triggers.max_poll_interval_secs = Some(1);
    let stack = Stack::spawn_with(config).await;
    let project = stack.project().await;
    github_account_session(&stack, &project, "pat", "ada", "", TOKEN).await;
    let events = stack
        .triggers(Some(&project.api_key))
        .subscribe_events(SubscribeEventsRequest {
            user_id: "ada".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let seen = collect(events);
    let trigger = stack
        .triggers(Some(&project.api_key))
        .create_trigger(CreateTriggerRequest {
            r#type: "GITHUB_NEW_ISSUE_POLL".into(),
            user_id: "ada".into(),
            connected_account_id: String::new(),
            config: Some(switchboard_proto::json_to_struct(
                &json!({"owner": "acme", "repo": "api", "interval_seconds": 10}),
            )),
        })
        .await
        .unwrap()
        .into_inner()
        .trigger
        .unwrap();

    let mut a = Proc::spawn("triggers-a", triggers(&stack.config));
    let mut b = Proc::spawn("triggers-b", triggers(&stack.config));
    // The first poll only learns what exists (issue 1 is history, not news).
    eventually("the first poll", Duration::from_secs(20), || {
        (issues.calls() >= 1).then_some(())
    })
    .await;
    for n in 2..=4 {
        issues.add(n);
    }
    eventually("issues 2–4", Duration::from_secs(20), || {
        let s = seen.lock().unwrap();
        (2..=4).all(|n| s.contains_key(&n)).then_some(())
    })
    .await;

    // Slow the provider so a poll is in flight, and kill its listener while it holds the lease.
    *issues.delay.lock().unwrap() = Duration::from_millis(1500);
    issues.add(5);
    issues.add(6);
    let lease_key = format!(
        "{}:{{{}}}:ti:{}:lease",
        stack.config.redis.key_prefix, project.id, trigger.id
    );
    let client = redis_client(&stack.config.redis.url);
    let holder: String = {
        let start = std::time::Instant::now();
        loop {
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let owner: Option<String> = redis_cmd("GET")
                .arg(&lease_key)
                .query_async(&mut conn)
                .await
                .unwrap();
            if let Some(owner) = owner {
                break owner;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no listener took the lease"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (ra, rb) = (
        replica_of(&a).expect("a's replica id"),
        replica_of(&b).expect("b's replica id"),
    );
    if holder.starts_with(&ra) {
        a.kill();
    } else {
        assert!(
            holder.starts_with(&rb),
            "the lease holder {holder} is a or b"
        );
        b.kill();
    }
    *issues.delay.lock().unwrap() = Duration::ZERO;
    eventually(
        "the survivor publishing 5 and 6",
        Duration::from_secs(20),
        || {
            let s = seen.lock().unwrap();
            (5..=6).all(|n| s.contains_key(&n)).then_some(())
        },
    )
    .await;
    issues.add(7);
    eventually("issue 7", Duration::from_secs(20), || {
        seen.lock().unwrap().contains_key(&7).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = seen.lock().unwrap().clone();
    let mut numbers: Vec<(u64, usize)> = seen.into_iter().collect();
    numbers.sort();
    assert_eq!(
        numbers,
        (2..=7).map(|n| (n, 1)).collect::<Vec<_>>(),
        "each new issue once, none lost, issue 1 never"
    );
    drop(a);
    drop(b);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_new_messages_come_from_the_history_api_after_the_stored_cursor() {
    let gmail = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/profile"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"emailAddress": "ada@example.com", "historyId": "1000"})),
        )
        .mount(&gmail)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/history"))
        .and(wiremock::matchers::query_param("startHistoryId", "1000"))
        .and(wiremock::matchers::query_param("historyTypes", "messageAdded"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "history": [
                {"id": "1001", "messagesAdded": [{"message": {"id": "m1", "threadId": "t1", "labelIds": ["INBOX", "UNREAD"]}}]},
                {"id": "1002", "messagesAdded": [{"message": {"id": "m2", "threadId": "t2", "labelIds": ["SENT"]}}]}
            ],
            "historyId": "1002"
        })))
        .mount(&gmail)
        .await;
    Mock::given(method("GET"))
        .and(path("/gmail/v1/users/me/history"))
        .and(wiremock::matchers::query_param("startHistoryId", "1002"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"historyId": "1002"})))
        .mount(&gmail)
        .await;
    let mut config = test_config();
    config.catalog.base_urls.insert("gmail".into(), gmail.uri());
    config.triggers.http_addr = "127.0.0.1:0".into();
    config.triggers.max_poll_interval_secs = Some(1);
    let stack = Stack::spawn_with(config).await;
    let project = stack.project().await;
    let auth_config = stack
        .connections(Some(&project.api_key))
        .create_auth_config(CreateAuthConfigRequest {
            toolkit: "gmail".into(),
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
                    token: "ya29.gmail".into(),
                },
            )),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut events = stack
        .triggers(Some(&project.api_key))
        .subscribe_events(SubscribeEventsRequest {
            user_id: "ada".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    stack
        .triggers(Some(&project.api_key))
        .create_trigger(CreateTriggerRequest {
            r#type: "GMAIL_NEW_MESSAGE".into(),
            user_id: "ada".into(),
            connected_account_id: String::new(),
            config: Some(switchboard_proto::json_to_struct(
                &json!({"label_ids": ["INBOX"]}),
            )),
        })
        .await
        .unwrap();
    let process = Proc::spawn("triggers", triggers(&stack.config));
    let event = tokio::time::timeout(Duration::from_secs(20), events.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let data = switchboard_proto::struct_to_json(event.data.as_ref().unwrap());
    assert_eq!(data["id"], "m1", "only the INBOX message");
    assert!(
        tokio::time::timeout(Duration::from_secs(3), events.message())
            .await
            .is_err(),
        "m2 is not in INBOX and m1 comes once"
    );
    drop(process);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_delivery_in_flight_stops_the_process_after_the_grace_period() {
    let mut config = test_config();
    config.triggers.http_addr = "127.0.0.1:0".into();
    config.shutdown_grace_secs = 1;
    let mut process = Proc::spawn("triggers", triggers(&config));
    let addr = eventually("the webhook listener", Duration::from_secs(20), || {
        process.logs().lines().find_map(|line| {
            let v: Value = serde_json::from_str(line).ok()?;
            let http = v["fields"]["http"].as_str()?;
            Some(
                http.trim_start_matches("Some(")
                    .trim_end_matches(')')
                    .to_owned(),
            )
        })
    })
    .await;
    // A delivery whose body never finishes arriving: the request stays in flight.
    let mut delivery = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut delivery,
        b"POST /webhooks/github/prj_x/rt_x HTTP/1.1\r\nhost: a\r\ncontent-length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let exit = process
        .terminate(Duration::from_secs(20))
        .expect("the process stops although a delivery is still arriving");
    let logs = process.logs();
    assert!(exit.success(), "{exit:?}: {logs}");
    assert!(logs.contains("grace period over"), "{logs}");
    drop(delivery);
}
