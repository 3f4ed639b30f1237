//! Scale-out: two gateways and three workers on the same prefixes share one job stream and one
//! store. A thousand calls of a tool that is not idempotent, spread over both gateways, all
//! succeed, and the provider receives each of them exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use switchboard_proto::v1::*;
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_scale_token_0123456789";
const CALLS: usize = 1_000;
const CONCURRENCY: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_and_three_workers_run_a_thousand_calls_each_exactly_once() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"number": 1, "state": "open"})),
        )
        .mount(&github)
        .await;

    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    // Two gateways on the same prefixes: any replica serves any session.
    let first = Stack::spawn_with(config.clone()).await;
    let second = Stack::spawn_with(config.clone()).await;
    let workers = Workers::spawn(&config, 3);

    let project = first.project().await;
    let (_, session) =
        github_account_session(&first, &project, "pat", "user_1", "work", TOKEN).await;

    let gateways = [
        first.sessions(Some(&project.api_key)),
        second.sessions(Some(&project.api_key)),
    ];
    let started = Instant::now();
    let results: Vec<(String, Result<Execution, tonic::Status>)> = futures::stream::iter(0..CALLS)
        .map(|i| {
            let mut sessions = gateways[i % 2].clone();
            let title = format!("scale issue {i}");
            let request = ExecuteToolRequest {
                session_id: session.id.clone(),
                tool_slug: "GITHUB_CREATE_ISSUE".into(),
                arguments_json: serde_json::json!({
                    "owner": "acme", "repo": "api", "title": title,
                })
                .to_string(),
                mode: ExecutionMode::Sync as i32,
                ..Default::default()
            };
            async move {
                let result =
                    tokio::time::timeout(Duration::from_secs(60), sessions.execute_tool(request))
                        .await
                        .unwrap_or_else(|_| panic!("{title}: no answer within 60 s"))
                        .map(|r| r.into_inner().execution.expect("execution"));
                (title, result)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    println!(
        "{CALLS} executions over 2 gateways and 3 workers at concurrency {CONCURRENCY}: {:.2} s ({:.0}/s)",
        elapsed.as_secs_f64(),
        CALLS as f64 / elapsed.as_secs_f64()
    );

    let mut failures = Vec::new();
    for (title, result) in &results {
        match result {
            Ok(e) if e.status() == ExecutionStatus::Succeeded && e.attempts == 1 => {}
            other => failures.push(format!("{title}: {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CALLS} calls did not succeed at the first attempt; first ones: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // The provider received each title exactly once, and nothing else.
    let received = github.received_requests().await.expect("recording is on");
    let mut titles: HashMap<String, usize> = HashMap::new();
    for request in &received {
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json body");
        *titles
            .entry(body["title"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert_eq!(received.len(), CALLS, "provider calls");
    for i in 0..CALLS {
        let title = format!("scale issue {i}");
        assert_eq!(titles.get(&title), Some(&1), "provider calls for {title:?}");
    }

    // Both gateways' logs are the same log.
    let mut listed = 0;
    let mut page_token = String::new();
    loop {
        let page = gateways[1]
            .clone()
            .list_executions(ListExecutionsRequest {
                session_id: session.id.clone(),
                page_size: 500,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        listed += page.executions.len();
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(listed, CALLS, "executions in the session's log");

    workers.stop().await;
    second.stop_keep_data().await;
    first.stop().await;
}
