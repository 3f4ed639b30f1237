//! A provider call longer than the job's ack wait: the worker's in-progress acks keep the job
//! from being redelivered, so a non-idempotent tool runs once and succeeds instead of a second
//! delivery finding it "abandoned".

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use switchboard_proto::v1::*;
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
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

/// While a call runs, GetExecution and ListExecutions show it RUNNING with its start time and
/// one attempt; once done, the final record keeps that start time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_call_reads_as_running() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"number": 4}))
                .set_delay(Duration::from_millis(1500)),
        )
        .expect(1)
        .mount(&github)
        .await;
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    let stack = Stack::spawn_with(config).await;
    let workers = Workers::spawn(&stack.config, 1);
    let project = stack.project().await;
    let (_, session) = github_account_session(&stack, &project, "", "user_1", "", "ghp_x").await;
    let mut sessions = stack.sessions(Some(&project.api_key));
    let queued = sessions
        .execute_tool(ExecuteToolRequest {
            session_id: session.id.clone(),
            tool_slug: "GITHUB_CREATE_ISSUE".into(),
            arguments_json: r#"{"owner": "acme", "repo": "api", "title": "slow"}"#.into(),
            mode: ExecutionMode::Async as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(queued.status(), ExecutionStatus::Queued);
    assert!(queued.start_time.is_none());

    let get = |sessions: &mut Sessions| {
        let mut sessions = sessions.clone();
        let (session_id, execution_id) = (session.id.clone(), queued.id.clone());
        async move {
            sessions
                .get_execution(GetExecutionRequest {
                    session_id,
                    execution_id,
                })
                .await
                .unwrap()
                .into_inner()
                .execution
                .unwrap()
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let running = loop {
        let e = get(&mut sessions).await;
        if e.status() == ExecutionStatus::Running {
            break e;
        }
        assert_eq!(e.status(), ExecutionStatus::Queued, "{e:?}");
        assert!(std::time::Instant::now() < deadline, "never RUNNING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(running.attempts, 1);
    let started = running.start_time.expect("a start time while running");
    assert!(running.end_time.is_none());
    let listed = sessions
        .list_executions(ListExecutionsRequest {
            session_id: session.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .executions;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status(), ExecutionStatus::Running);
    assert_eq!(listed[0].start_time.as_ref(), Some(&started));
    assert_eq!(listed[0].attempts, 1);

    let finished = loop {
        let e = get(&mut sessions).await;
        if e.status() != ExecutionStatus::Running {
            break e;
        }
        assert!(std::time::Instant::now() < deadline, "never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        finished.status(),
        ExecutionStatus::Succeeded,
        "{finished:?}"
    );
    assert_eq!(finished.start_time.as_ref(), Some(&started));
    assert_eq!(finished.attempts, 1);
    assert!(finished.end_time.is_some());
    workers.stop().await;
    stack.stop().await;
    github.verify().await;
}
