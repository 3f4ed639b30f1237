//! ExecuteTool's checks as a caller sees them: the scope rules (isolation between projects,
//! users, pinned accounts, disabled accounts, session filters, explicit account selection), bad
//! input, back-pressure (no worker in time, a full job stream, a provider slower than the call's
//! deadline) and provider errors. A refused call publishes no job, stores no execution and
//! reaches no provider: every test checks the job stream, the execution log and the stand-in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use switchboard_config::Config;
use switchboard_proto::v1::*;
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use tonic::Code;
use tonic_types::StatusExt;
use wiremock::matchers::{any, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_checks_work_0123456789";
const OTHER_TOKEN: &str = "ghp_checks_other_9876543210";

// ---------------------------------------------------------------------------------------------
// Set-up and probes
// ---------------------------------------------------------------------------------------------

/// A stack whose GitHub is `github`, with `workers` workers and one project.
struct World {
    stack: Stack,
    workers: Workers,
    project: TestProject,
    /// The project's BEARER_TOKEN auth config for GitHub.
    auth_config: String,
}

async fn world(github: &MockServer, workers: usize, tweak: impl FnOnce(&mut Config)) -> World {
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    tweak(&mut config);
    let stack = Stack::spawn_with(config).await;
    let workers = Workers::spawn(&stack.config, workers);
    let project = stack.project().await;
    let auth_config = github_auth_config(&stack, &project).await;
    World {
        stack,
        workers,
        project,
        auth_config,
    }
}

async fn github_auth_config(stack: &Stack, project: &TestProject) -> String {
    stack
        .connections(Some(&project.api_key))
        .create_auth_config(CreateAuthConfigRequest {
            toolkit: "github".into(),
            scheme: "BEARER_TOKEN".into(),
            name: "pat".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_config
        .unwrap()
        .id
}

impl World {
    fn sessions(&self) -> Sessions {
        self.stack.sessions(Some(&self.project.api_key))
    }

    /// Connects a GitHub account for `user` with `token`.
    async fn account(&self, user: &str, alias: &str, token: &str) -> ConnectedAccount {
        connect_account(
            &self.stack,
            &self.project,
            &self.auth_config,
            user,
            alias,
            token,
        )
        .await
    }

    async fn session(&self, user: &str, config: SessionConfig) -> Session {
        create_session(&mut self.sessions(), user, config).await
    }

    async fn stop(self, github: &MockServer) {
        self.workers.stop().await;
        self.stack.stop().await;
        github.verify().await;
    }
}

async fn connect_account(
    stack: &Stack,
    project: &TestProject,
    auth_config: &str,
    user: &str,
    alias: &str,
    token: &str,
) -> ConnectedAccount {
    stack
        .connections(Some(&project.api_key))
        .create_connected_account(CreateConnectedAccountRequest {
            user_id: user.into(),
            auth_config_id: auth_config.into(),
            alias: alias.into(),
            credential: Some(create_connected_account_request::Credential::BearerToken(
                BearerTokenCredential {
                    token: token.into(),
                },
            )),
        })
        .await
        .unwrap()
        .into_inner()
        .connected_account
        .unwrap()
}

/// Any request to the stand-in fails the test (at `verify`): mount it after the mocks a test
/// does expect, which then take precedence.
async fn no_other_calls(github: &MockServer) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(599))
        .expect(0)
        .named("any request the test did not expect")
        .mount(github)
        .await;
}

const ISSUE_ARGS: &str =
    r#"{"owner": "acme", "repo": "api", "title": "Crash on start", "labels": ["bug"]}"#;

fn create_issue(session: &Session) -> ExecuteToolRequest {
    ExecuteToolRequest {
        session_id: session.id.clone(),
        tool_slug: "GITHUB_CREATE_ISSUE".into(),
        arguments_json: ISSUE_ARGS.into(),
        mode: ExecutionMode::Sync as i32,
        ..Default::default()
    }
}

fn get_issue(session: &Session, number: u64) -> ExecuteToolRequest {
    ExecuteToolRequest {
        session_id: session.id.clone(),
        tool_slug: "GITHUB_GET_ISSUE".into(),
        arguments_json: format!(r#"{{"owner": "acme", "repo": "api", "issue_number": {number}}}"#),
        mode: ExecutionMode::Sync as i32,
        ..Default::default()
    }
}

/// The stand-in's create-issue endpoint as GitHub documents it, answering only `token`.
async fn mock_create_issue(github: &MockServer, token: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            serde_json::json!({"number": 7, "title": "Crash on start", "state": "open"}),
        ))
        .expect(times)
        .named(format!("create issue as {token}"))
        .mount(github)
        .await;
}

/// Jobs ever published on the stack's job stream (its last sequence: a worker's ack removes a
/// message from the work queue, but never lowers this) and jobs it holds now.
async fn jobs(stack: &Stack) -> (u64, u64) {
    let jetstream = async_nats::jetstream::new(nats_client(&stack.config.nats.url).await);
    let names = switchboard_bus::Names::from_config(&stack.config.nats);
    let stream = jetstream
        .get_stream(names.jobs_stream())
        .await
        .expect("the job stream exists");
    let info = stream.get_info().await.expect("stream info");
    (info.state.last_sequence, info.state.messages)
}

/// Waits until a worker is pulling from the job stream (its pull request is waiting), so a
/// job published now is taken at once.
async fn wait_for_worker(stack: &Stack) {
    let jetstream = async_nats::jetstream::new(nats_client(&stack.config.nats.url).await);
    let names = switchboard_bus::Names::from_config(&stack.config.nats);
    let start = Instant::now();
    loop {
        if let Ok(stream) = jetstream.get_stream(names.jobs_stream()).await {
            if let Ok(info) = stream
                .consumer_info(switchboard_bus::WORKERS_CONSUMER)
                .await
            {
                if info.num_waiting > 0 {
                    return;
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no worker is pulling jobs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn jobs_published(stack: &Stack) -> u64 {
    jobs(stack).await.0
}

async fn log(sessions: &mut Sessions, session: &Session) -> Vec<Execution> {
    sessions
        .list_executions(ListExecutionsRequest {
            session_id: session.id.clone(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .executions
}

async fn get_execution(sessions: &mut Sessions, session: &Session, id: &str) -> Execution {
    sessions
        .get_execution(GetExecutionRequest {
            session_id: session.id.clone(),
            execution_id: id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap()
}

/// Polls the execution until it is in a terminal state (at most `within`).
async fn wait_terminal(
    sessions: &mut Sessions,
    session: &Session,
    id: &str,
    within: Duration,
) -> Execution {
    let start = Instant::now();
    loop {
        let e = get_execution(sessions, session, id).await;
        if !matches!(
            e.status(),
            ExecutionStatus::Queued | ExecutionStatus::Running
        ) {
            return e;
        }
        assert!(
            start.elapsed() < within,
            "execution {id} not finished after {within:?}: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The execution id an error status carries in its ErrorInfo metadata.
fn execution_id_of(status: &tonic::Status) -> String {
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    info.metadata
        .get("execution_id")
        .cloned()
        .unwrap_or_else(|| panic!("no execution_id in the ErrorInfo of {status:?}"))
}

/// Runs `request` and returns its refusal, failing when it was accepted.
async fn refused(
    sessions: &mut Sessions,
    request: ExecuteToolRequest,
    what: &str,
) -> tonic::Status {
    match sessions.execute_tool(request).await {
        Ok(r) => panic!("{what}: accepted: {:?}", r.into_inner()),
        Err(status) => status,
    }
}

// ---------------------------------------------------------------------------------------------
// Isolation
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_scope_calls_are_refused_without_a_job_a_record_or_a_provider_call() {
    let github = MockServer::start().await;
    // The one call this test expects to run is the control at the end, as user_1's "work".
    mock_create_issue(&github, TOKEN, 1).await;
    no_other_calls(&github).await;
    // A worker runs, so a job that was published would reach the stand-in.
    let w = world(&github, 1, |_| {}).await;
    let mut sessions = w.sessions();

    let work = w.account("user_1", "work", TOKEN).await;
    let personal = w.account("user_1", "personal", OTHER_TOKEN).await;
    let theirs = w.account("user_2", "theirs", OTHER_TOKEN).await;
    let disabled = w.account("user_3", "old", OTHER_TOKEN).await;
    w.stack
        .connections(Some(&w.project.api_key))
        .disable_connected_account(DisableConnectedAccountRequest {
            connected_account_id: disabled.id.clone(),
        })
        .await
        .unwrap();

    let github_only = toolkits_config(&["github"]);
    let s1 = w.session("user_1", github_only.clone()).await;
    let pinned = w
        .session(
            "user_1",
            SessionConfig {
                connected_accounts: accounts("github", &[&personal.id]),
                ..github_only.clone()
            },
        )
        .await;
    let s3 = w.session("user_3", github_only.clone()).await;
    let s4 = w.session("user_4", github_only.clone()).await;
    let slack_only = w.session("user_1", toolkits_config(&["slack"])).await;
    let tool_disabled = w
        .session(
            "user_1",
            SessionConfig {
                tools: tools_map("github", tool_filter("disable", &["GITHUB_CREATE_ISSUE"])),
                ..github_only.clone()
            },
        )
        .await;

    // Another project: the session does not exist for it, nor do this project's accounts.
    let stranger = w.stack.project().await;
    let mut strangers = w.stack.sessions(Some(&stranger.api_key));
    let err = refused(
        &mut strangers,
        create_issue(&s1),
        "another project's session",
    )
    .await;
    assert_refused(
        &err,
        Code::NotFound,
        "SESSION_NOT_FOUND",
        "",
        "another project's session",
    );
    let _ = github_auth_config(&w.stack, &stranger).await;
    let stranger_session = create_session(&mut strangers, "user_1", github_only.clone()).await;
    for named in [work.id.as_str(), "work"] {
        let mut request = create_issue(&stranger_session);
        request.account = named.into();
        let err = refused(&mut strangers, request, "another project's account").await;
        assert_refused(
            &err,
            Code::NotFound,
            "ACCOUNT_NOT_FOUND",
            "",
            &format!("another project's account named {named:?}"),
        );
    }

    // Another user's account, by id and by alias.
    for named in [theirs.id.as_str(), "theirs"] {
        let mut request = create_issue(&s1);
        request.account = named.into();
        let err = refused(&mut sessions, request, "another user's account").await;
        assert_refused(
            &err,
            Code::NotFound,
            "ACCOUNT_NOT_FOUND",
            "",
            &format!("another user's account named {named:?}"),
        );
        assert!(
            !err.message().contains(OTHER_TOKEN),
            "the error carries a credential: {err:?}"
        );
    }

    // The user's own account, outside the session's pins.
    for named in [work.id.as_str(), "work"] {
        let mut request = create_issue(&pinned);
        request.account = named.into();
        let err = refused(&mut sessions, request, "outside the pins").await;
        assert_refused(
            &err,
            Code::NotFound,
            "ACCOUNT_NOT_FOUND",
            "",
            &format!("an account outside the pins named {named:?}"),
        );
    }

    // A disabled account: by default and by name.
    for named in ["", "old", disabled.id.as_str()] {
        let mut request = create_issue(&s3);
        request.account = named.into();
        let err = refused(&mut sessions, request, "a disabled account").await;
        assert_refused(
            &err,
            Code::FailedPrecondition,
            "ACCOUNT_NOT_ACTIVE",
            "",
            &format!("a disabled account named {named:?}"),
        );
    }

    // No account at all.
    let err = refused(&mut sessions, create_issue(&s4), "no account").await;
    assert_refused(
        &err,
        Code::FailedPrecondition,
        "NO_CONNECTED_ACCOUNT",
        "",
        "no account",
    );

    // Tools outside the session's filters: toolkit not enabled, tool disabled.
    for (session, what) in [
        (&slack_only, "a github tool in a slack session"),
        (&tool_disabled, "a disabled tool"),
    ] {
        let err = refused(&mut sessions, create_issue(session), what).await;
        assert_refused(
            &err,
            Code::PermissionDenied,
            "TOOL_NOT_IN_SESSION",
            "",
            what,
        );
    }

    // Nothing was published or stored for any of them.
    assert_eq!(
        jobs_published(&w.stack).await,
        0,
        "a refused call published a job"
    );
    for session in [&s1, &pinned, &s3, &s4, &slack_only, &tool_disabled] {
        assert_eq!(log(&mut sessions, session).await, vec![], "{}", session.id);
    }
    assert_eq!(log(&mut strangers, &stranger_session).await, vec![]);

    // Control: the same probes see an accepted call (user_1's default account is "work").
    let ok = sessions
        .execute_tool(create_issue(&s1))
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(ok.status(), ExecutionStatus::Succeeded, "{ok:?}");
    assert_eq!(ok.account.as_ref().unwrap().id, work.id);
    assert_eq!(jobs_published(&w.stack).await, 1);
    assert_eq!(log(&mut sessions, &s1).await.len(), 1);

    w.stop(&github).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_selection_lists_the_choices_and_a_named_account_is_the_one_used() {
    let github = MockServer::start().await;
    mock_create_issue(&github, OTHER_TOKEN, 1).await;
    mock_create_issue(&github, TOKEN, 1).await;
    no_other_calls(&github).await;
    let w = world(&github, 1, |_| {}).await;
    let mut sessions = w.sessions();
    let work = w.account("user_1", "work", TOKEN).await;
    let personal = w.account("user_1", "personal", OTHER_TOKEN).await;
    let session = w
        .session(
            "user_1",
            SessionConfig {
                multi_account: Some(MultiAccount {
                    enable: true,
                    max_accounts_per_toolkit: None,
                    require_explicit_selection: true,
                }),
                ..toolkits_config(&["github"])
            },
        )
        .await;

    let err = refused(&mut sessions, create_issue(&session), "no account named").await;
    assert_refused(
        &err,
        Code::FailedPrecondition,
        "ACCOUNT_SELECTION_REQUIRED",
        "",
        "no account named",
    );
    for choice in [
        &work.id,
        &personal.id,
        &"work".to_owned(),
        &"personal".to_owned(),
    ] {
        assert!(
            err.message().contains(choice.as_str()),
            "the choices do not list {choice}: {:?}",
            err.message()
        );
    }
    assert!(!err.message().contains(TOKEN) && !err.message().contains(OTHER_TOKEN));
    assert_eq!(jobs_published(&w.stack).await, 0);
    assert_eq!(log(&mut sessions, &session).await, vec![]);

    // Named by alias: runs with that account's credential (the stand-in only answers it).
    let mut request = create_issue(&session);
    request.account = "personal".into();
    let ran = sessions
        .execute_tool(request)
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(ran.status(), ExecutionStatus::Succeeded, "{ran:?}");
    assert_eq!(
        ran.account,
        Some(ExecutionAccount {
            id: personal.id.clone(),
            alias: "personal".into()
        })
    );
    // Named by id: the other one.
    let mut request = create_issue(&session);
    request.account = work.id.clone();
    let ran = sessions
        .execute_tool(request)
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(ran.status(), ExecutionStatus::Succeeded, "{ran:?}");
    assert_eq!(ran.account.as_ref().unwrap().id, work.id);
    assert_eq!(jobs_published(&w.stack).await, 2);

    w.stop(&github).await;
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_invalid_argument_with_the_field_and_nothing_is_stored_or_published() {
    let github = MockServer::start().await;
    no_other_calls(&github).await;
    let w = world(&github, 1, |_| {}).await;
    let mut sessions = w.sessions();
    w.account("user_1", "work", TOKEN).await;
    let session = w.session("user_1", toolkits_config(&["github"])).await;
    // Anything the first authenticated read writes is there before counting.
    assert_eq!(log(&mut sessions, &session).await, vec![]);
    let keys_before = w.stack.keys().await;

    let args = |json: &str| ExecuteToolRequest {
        arguments_json: json.into(),
        ..create_issue(&session)
    };
    let big = format!(
        r#"{{"owner": "acme", "repo": "api", "title": "t", "body": "{}"}}"#,
        "x".repeat((1 << 20) + 1)
    );
    let big_struct = switchboard_proto::json_to_struct(&serde_json::from_str(&big).unwrap());
    // (request, reason, field, words the message must contain)
    let cases: Vec<(ExecuteToolRequest, &str, &str, Vec<&str>)> = vec![
        (
            ExecuteToolRequest {
                tool_slug: "GITHUB_NO_SUCH_TOOL".into(),
                ..create_issue(&session)
            },
            "UNKNOWN_TOOL",
            "tool_slug",
            vec!["GITHUB_NO_SUCH_TOOL"],
        ),
        (
            args(r#"{"owner": "acme", "repo": "api", "title": 5}"#),
            "ARGUMENTS_INVALID",
            "arguments.title",
            vec!["rule: type"],
        ),
        (
            args(r#"{"owner": "acme", "repo": "api", "title": "t", "labels": ["bug", 2]}"#),
            "ARGUMENTS_INVALID",
            "arguments.labels[1]",
            vec!["rule: type"],
        ),
        (
            struct_only(ExecuteToolRequest {
                arguments: Some(switchboard_proto::json_to_struct(&serde_json::json!(
                    {"owner": "acme", "repo": "api", "title": true}
                ))),
                ..create_issue(&session)
            }),
            "ARGUMENTS_INVALID",
            "arguments.title",
            vec!["rule: type"],
        ),
        (
            args(r#"{"owner": "acme", "repo": "api"}"#),
            "ARGUMENTS_INVALID",
            "arguments",
            vec!["title", "rule: required"],
        ),
        (
            args(r#"{"owner": "acme", "repo": "api", "title": "t", "colour": "red"}"#),
            "ARGUMENTS_INVALID",
            "arguments",
            vec!["colour", "rule: additionalProperties"],
        ),
        (
            args(&big),
            "ARGUMENTS_TOO_LARGE",
            "arguments_json",
            vec!["1048576"],
        ),
        (
            struct_only(ExecuteToolRequest {
                arguments: Some(big_struct),
                ..create_issue(&session)
            }),
            "ARGUMENTS_TOO_LARGE",
            "arguments",
            vec!["1048576"],
        ),
        (
            args(r#"{"owner": "acme", "repo": "#),
            "MALFORMED_JSON",
            "arguments_json",
            vec!["not valid JSON"],
        ),
        (
            args(r#"[{"owner": "acme"}]"#),
            "NOT_AN_OBJECT",
            "arguments_json",
            vec!["object"],
        ),
        (
            ExecuteToolRequest {
                arguments: Some(switchboard_proto::json_to_struct(
                    &serde_json::from_str(ISSUE_ARGS).unwrap(),
                )),
                ..create_issue(&session)
            },
            "CONFLICTING_ARGUMENTS",
            "arguments",
            vec!["not both"],
        ),
        (
            ExecuteToolRequest {
                session_id: String::new(),
                ..create_issue(&session)
            },
            "REQUIRED",
            "session_id",
            vec![],
        ),
        (
            ExecuteToolRequest {
                tool_slug: String::new(),
                ..create_issue(&session)
            },
            "REQUIRED",
            "tool_slug",
            vec![],
        ),
        (
            ExecuteToolRequest {
                timeout_ms: 300_001,
                ..create_issue(&session)
            },
            "OUT_OF_RANGE",
            "timeout_ms",
            vec!["300000"],
        ),
        (
            ExecuteToolRequest {
                mode: 7,
                ..create_issue(&session)
            },
            "INVALID_MODE",
            "mode",
            vec![],
        ),
    ];
    for (request, reason, field, words) in cases {
        let what = format!("{reason} on {field}");
        let err = refused(&mut sessions, request, &what).await;
        assert_refused(&err, Code::InvalidArgument, reason, field, &what);
        for word in words {
            assert!(
                err.message().contains(word),
                "{what}: the message does not say {word:?}: {:?}",
                err.message()
            );
        }
        // A bad value is not echoed back (the big one would be a megabyte of error).
        assert!(
            err.message().len() < 1000,
            "{what}: {} bytes",
            err.message().len()
        );
    }

    // No API key at all.
    let err = refused(
        &mut w.stack.sessions(None),
        create_issue(&session),
        "no API key",
    )
    .await;
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");

    assert_eq!(
        jobs_published(&w.stack).await,
        0,
        "bad input published a job"
    );
    assert_eq!(log(&mut sessions, &session).await, vec![]);
    let mut keys_after = w.stack.keys().await;
    let mut keys_before = keys_before;
    keys_before.sort();
    keys_after.sort();
    assert_eq!(keys_after, keys_before, "bad input stored something");

    w.stop(&github).await;
}

/// `request` with its arguments only in the Struct field.
fn struct_only(mut request: ExecuteToolRequest) -> ExecuteToolRequest {
    request.arguments_json.clear();
    request
}

// ---------------------------------------------------------------------------------------------
// Back-pressure
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_worker_in_time_is_deadline_exceeded_and_the_job_never_runs_later() {
    let github = MockServer::start().await;
    no_other_calls(&github).await;
    let w = world(&github, 0, |_| {}).await;
    let mut sessions = w.sessions();
    w.account("user_1", "work", TOKEN).await;
    let session = w.session("user_1", toolkits_config(&["github"])).await;

    let started = Instant::now();
    let err = refused(
        &mut sessions,
        ExecuteToolRequest {
            timeout_ms: 300,
            ..create_issue(&session)
        },
        "no worker",
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "waited {waited:?}"
    );
    let id = execution_id_of(&err);
    assert!(err.message().contains(&id), "{err:?}");
    let timed_out = get_execution(&mut sessions, &session, &id).await;
    assert_eq!(
        timed_out.status(),
        ExecutionStatus::TimedOut,
        "{timed_out:?}"
    );
    assert_eq!(timed_out.error.as_ref().unwrap().code, "TIMED_OUT");
    assert!(timed_out.end_time.is_some());
    assert_eq!(jobs(&w.stack).await, (1, 1), "the job waits in the stream");

    // A worker that comes later takes the job off the stream without running it.
    let workers = Workers::spawn(&w.stack.config, 1);
    let start = Instant::now();
    while jobs(&w.stack).await.1 != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the worker never took the job"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let after = get_execution(&mut sessions, &session, &id).await;
    assert_eq!(after, timed_out, "the worker changed a timed-out execution");
    assert_eq!(after.attempts, 0);
    workers.stop().await;
    w.stop(&github).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_job_stream_is_resource_exhausted_at_once_and_the_execution_ends() {
    let github = MockServer::start().await;
    no_other_calls(&github).await;
    let w = world(&github, 0, |c| c.executions.max_queued_jobs = 2).await;
    let mut sessions = w.sessions();
    w.account("user_1", "work", TOKEN).await;
    let session = w.session("user_1", toolkits_config(&["github"])).await;
    let call = |mode: ExecutionMode| ExecuteToolRequest {
        mode: mode as i32,
        ..create_issue(&session)
    };

    let mut queued = Vec::new();
    for _ in 0..2 {
        let e = sessions
            .execute_tool(call(ExecutionMode::Async))
            .await
            .unwrap()
            .into_inner()
            .execution
            .unwrap();
        assert_eq!(e.status(), ExecutionStatus::Queued);
        queued.push(e.id);
    }
    for mode in [ExecutionMode::Async, ExecutionMode::Sync] {
        let started = Instant::now();
        let err = tokio::time::timeout(
            Duration::from_secs(5),
            refused(&mut sessions, call(mode), "a full queue"),
        )
        .await
        .expect("a call on a full queue hangs");
        // A sync call does not wait out its 30 s deadline either.
        assert!(started.elapsed() < Duration::from_secs(2), "{mode:?}");
        assert_refused(
            &err,
            Code::ResourceExhausted,
            "QUEUE_FULL",
            "",
            &format!("{mode:?} on a full queue"),
        );
        let id = execution_id_of(&err);
        assert!(!queued.contains(&id));
        let ended = get_execution(&mut sessions, &session, &id).await;
        assert_eq!(ended.status(), ExecutionStatus::Failed, "{ended:?}");
        assert_eq!(ended.error.as_ref().unwrap().code, "NOT_ACCEPTED");
        assert!(ended.end_time.is_some());
    }
    // The two accepted ones are still queued, in the stream.
    assert_eq!(jobs(&w.stack).await, (2, 2));
    for id in &queued {
        assert_eq!(
            get_execution(&mut sessions, &session, id).await.status(),
            ExecutionStatus::Queued
        );
    }
    assert_eq!(log(&mut sessions, &session).await.len(), 4);
    w.stop(&github).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_slower_than_the_deadline_is_deadline_exceeded_then_finishes_in_the_log() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"number": 8}))
                .set_delay(Duration::from_millis(1500)),
        )
        .expect(1)
        .mount(&github)
        .await;
    no_other_calls(&github).await;
    let w = world(&github, 1, |_| {}).await;
    let mut sessions = w.sessions();
    w.account("user_1", "work", TOKEN).await;
    let session = w.session("user_1", toolkits_config(&["github"])).await;
    // The worker takes the job well within the deadline; the provider is what is slow.
    wait_for_worker(&w.stack).await;

    let started = Instant::now();
    let err = refused(
        &mut sessions,
        ExecuteToolRequest {
            timeout_ms: 500,
            ..create_issue(&session)
        },
        "a slow provider",
    )
    .await;
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1450),
        "{:?}",
        started.elapsed()
    );
    assert!(err.message().contains("still running"), "{err:?}");
    let id = execution_id_of(&err);
    let finished = wait_terminal(&mut sessions, &session, &id, Duration::from_secs(5)).await;
    assert_eq!(
        finished.status(),
        ExecutionStatus::Succeeded,
        "{finished:?}"
    );
    assert_eq!(
        switchboard_proto::value_to_json(finished.data.as_ref().unwrap())["number"],
        8
    );
    assert_eq!(finished.attempts, 1);
    w.stop(&github).await;
}

// ---------------------------------------------------------------------------------------------
// Provider errors
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_404_is_a_failed_execution_not_a_failed_call() {
    let github = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/issues/999"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/issues/issues#get-an-issue",
            "status": "404"
        })))
        .expect(1)
        .mount(&github)
        .await;
    no_other_calls(&github).await;
    let w = world(&github, 1, |_| {}).await;
    let mut sessions = w.sessions();
    w.account("user_1", "work", TOKEN).await;
    let session = w.session("user_1", toolkits_config(&["github"])).await;

    let execution = sessions
        .execute_tool(get_issue(&session, 999))
        .await
        .expect("the call itself succeeds")
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Failed, "{execution:?}");
    let error = execution.error.clone().unwrap();
    assert_eq!(error.code, "PROVIDER_ERROR");
    assert_eq!(error.provider_status, 404);
    assert!(error.message.contains("Not Found"), "{error:?}");
    assert!(!error.message.contains(TOKEN));
    assert_eq!(execution.data, None);
    // A 404 is an answer: not retried, even for an idempotent tool.
    assert_eq!(execution.attempts, 1);
    assert_eq!(
        get_execution(&mut sessions, &session, &execution.id).await,
        execution
    );
    w.stop(&github).await;
}
