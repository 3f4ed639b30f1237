//! A provider call longer than the job's ack wait: the worker's in-progress acks keep the job
//! from being redelivered, so a non-idempotent tool runs once and succeeds instead of a second
//! delivery finding it "abandoned".

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use switchboard_proto::v1::*;
use switchboard_tests::workers::Workers;
use switchboard_tests::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_longer_than_the_ack_wait_runs_once() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"number": 3}))
                .set_delay(Duration::from_millis(4500)),
        )
        .expect(1)
        .mount(&github)
        .await;
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    config.worker.ack_wait_secs = 2;
    let stack = Stack::spawn_with(config).await;
    // Two workers, so a redelivered job would have somewhere to go.
    let workers = Workers::spawn(&stack.config, 2);
    let project = stack.project().await;
    let (_, session) = github_account_session(&stack, &project, "", "user_1", "", "ghp_x").await;
    let mut sessions = stack.sessions(Some(&project.api_key));
    let execution = sessions
        .execute_tool(ExecuteToolRequest {
            session_id: session.id,
            tool_slug: "GITHUB_CREATE_ISSUE".into(),
            arguments_json: r#"{"owner": "acme", "repo": "api", "title": "slow"}"#.into(),
            timeout_ms: 20_000,
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
        "{:?}",
        execution.error
    );
    assert_eq!(execution.attempts, 1);
    workers.stop().await;
    stack.stop().await;
    github.verify().await;
}
