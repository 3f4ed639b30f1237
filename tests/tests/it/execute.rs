//! ExecuteTool end to end: gateway → NATS JetStream → worker → a local stand-in of the
//! provider that checks the exact request → Redis → reply. Sync and async calls, the execution
//! log, idempotency keys, a payload on the job subject that is no job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use switchboard_proto::v1::*;
use switchboard_testkit::build::*;
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_e2e_token_0123456789";

struct World {
    stack: Stack,
    workers: Workers,
    project: TestProject,
    session: Session,
    account: ConnectedAccount,
}

async fn world(github: &MockServer) -> World {
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    let stack = Stack::spawn_with(config).await;
    let workers = Workers::spawn(&stack.config, 1);
    let project = stack.project().await;
    let (account, session) =
        github_account_session(&stack, &project, "pat", "user_1", "work", TOKEN).await;
    World {
        stack,
        workers,
        project,
        session,
        account,
    }
}

fn create_issue(session: &Session, mode: ExecutionMode) -> ExecuteToolRequest {
    ExecuteToolRequest {
        session_id: session.id.clone(),
        tool_slug: "GITHUB_CREATE_ISSUE".into(),
        arguments_json:
            r#"{"owner": "acme", "repo": "api", "title": "Crash on start", "labels": ["bug"]}"#
                .into(),
        mode: mode as i32,
        ..Default::default()
    }
}

async fn mock_create_issue(github: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(body_json(
            serde_json::json!({"title": "Crash on start", "labels": ["bug"]}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            serde_json::json!({"number": 7, "title": "Crash on start", "state": "open"}),
        ))
        .expect(times)
        .mount(github)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_call_runs_once_with_the_users_credential_and_is_logged() {
    let github = MockServer::start().await;
    mock_create_issue(&github, 1).await;
    let w = world(&github).await;
    let mut sessions = w.stack.sessions(Some(&w.project.api_key));

    let execution = sessions
        .execute_tool(create_issue(&w.session, ExecutionMode::Sync))
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(
        execution.status(),
        ExecutionStatus::Succeeded,
        "{execution:?}"
    );
    let data = switchboard_proto::value_to_json(execution.data.as_ref().unwrap());
    assert_eq!(data["number"], 7);
    let account = execution.account.clone().unwrap();
    assert_eq!(
        (account.id.as_str(), account.alias.as_str()),
        (w.account.id.as_str(), "work")
    );
    assert_eq!(execution.attempts, 1);
    assert_eq!(execution.trace_id.len(), 32);
    assert!(execution.start_time.is_some() && execution.end_time.is_some());

    // The gateway's /metrics counts it (the registry is per process: at least this call).
    let (status, metrics) = http_get(&format!("http://{}/metrics", w.stack.http_addr))
        .await
        .unwrap();
    assert_eq!(status, 200);
    for line in [
        "switchboard_executions_accepted_total{toolkit=\"github\"}",
        "switchboard_executions_total{status=\"SUCCEEDED\",tool=\"GITHUB_CREATE_ISSUE\",toolkit=\"github\"}",
        "switchboard_provider_call_duration_seconds_bucket{outcome=\"ok\",tool=\"GITHUB_CREATE_ISSUE\",toolkit=\"github\"",
        "switchboard_execution_duration_seconds_count{mode=\"sync\",toolkit=\"github\"}",
    ] {
        assert!(metrics.contains(line), "/metrics lacks {line}");
    }
    assert!(!metrics.contains(TOKEN), "no credential in metrics");

    // The execution log.
    let got = sessions
        .get_execution(GetExecutionRequest {
            session_id: w.session.id.clone(),
            execution_id: execution.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(got, execution);
    let log = sessions
        .list_executions(ListExecutionsRequest {
            session_id: w.session.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(log.executions, vec![execution.clone()]);
    // Not from another session, nor another project.
    let other = sessions
        .create_session(create_req("user_1", SessionConfig::default()))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    let err = sessions
        .get_execution(GetExecutionRequest {
            session_id: other.id.clone(),
            execution_id: execution.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        expect_error(&err, tonic::Code::NotFound).0,
        "EXECUTION_NOT_FOUND"
    );
    let stranger = w.stack.project().await;
    let err = w
        .stack
        .sessions(Some(&stranger.api_key))
        .get_execution(GetExecutionRequest {
            session_id: w.session.id.clone(),
            execution_id: execution.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        expect_error(&err, tonic::Code::NotFound).0,
        "SESSION_NOT_FOUND"
    );

    w.workers.stop().await;
    w.stack.stop().await;
    github.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_on_the_job_subject_that_is_no_job_is_dropped_and_calls_go_on() {
    let github = MockServer::start().await;
    mock_create_issue(&github, 1).await;
    let w = world(&github).await;
    // Bytes no gateway published, on the subject the worker consumes.
    let jetstream = async_nats::jetstream::new(nats_client(&w.stack.config.nats.url).await);
    let names = switchboard_bus::Names::from_config(&w.stack.config.nats);
    for garbage in [
        &b"\xff\xfe not a job"[..],
        br#"{"project_id":"x","execution_id":"y"}"#,
    ] {
        jetstream
            .publish(names.job_subject("github"), garbage.to_vec().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // The worker refuses them for good (not left for redelivery) and goes on.
    let start = std::time::Instant::now();
    while jobs_held(&w.stack.config.nats).await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a payload that is no job stays on the job stream"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let execution = w
        .stack
        .sessions(Some(&w.project.api_key))
        .execute_tool(create_issue(&w.session, ExecutionMode::Sync))
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(
        execution.status(),
        ExecutionStatus::Succeeded,
        "{execution:?}"
    );
    w.workers.stop().await;
    w.stack.stop().await;
    github.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_call_returns_at_once_and_finishes_in_the_log() {
    let github = MockServer::start().await;
    mock_create_issue(&github, 1).await;
    let w = world(&github).await;
    let mut sessions = w.stack.sessions(Some(&w.project.api_key));
    let queued = sessions
        .execute_tool(create_issue(&w.session, ExecutionMode::Async))
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(queued.status(), ExecutionStatus::Queued);
    let mut finished = None;
    for _ in 0..200 {
        let e = sessions
            .get_execution(GetExecutionRequest {
                session_id: w.session.id.clone(),
                execution_id: queued.id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .execution
            .unwrap();
        if e.status() == ExecutionStatus::Succeeded {
            finished = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let finished = finished.expect("the async execution finished");
    assert_eq!(
        switchboard_proto::value_to_json(finished.data.as_ref().unwrap())["number"],
        7
    );
    w.workers.stop().await;
    w.stack.stop().await;
    github.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_gives_the_same_execution_without_a_second_call() {
    let github = MockServer::start().await;
    mock_create_issue(&github, 1).await;
    let w = world(&github).await;
    let mut sessions = w.stack.sessions(Some(&w.project.api_key));
    let mut request = create_issue(&w.session, ExecutionMode::Sync);
    request.idempotency_key = "order-42".into();
    let first = sessions
        .execute_tool(request.clone())
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    // Same arguments, keys in another order: the same execution.
    let mut again = request.clone();
    again.arguments_json =
        r#"{"labels": ["bug"], "title": "Crash on start", "repo": "api", "owner": "acme"}"#.into();
    let second = sessions
        .execute_tool(again)
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(second.status(), ExecutionStatus::Succeeded);
    // Other arguments with the same key: refused.
    let mut different = request.clone();
    different.arguments_json = r#"{"owner": "acme", "repo": "api", "title": "Another"}"#.into();
    let err = sessions.execute_tool(different).await.unwrap_err();
    assert_eq!(
        expect_error(&err, tonic::Code::FailedPrecondition).0,
        "IDEMPOTENCY_KEY_REUSED"
    );
    let log = sessions
        .list_executions(ListExecutionsRequest {
            session_id: w.session.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(log.executions.len(), 1);
    w.workers.stop().await;
    w.stack.stop().await;
    github.verify().await;
}
