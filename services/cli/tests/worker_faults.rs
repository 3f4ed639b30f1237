//! Faults, with workers as processes (`switchboard worker`: the built `switchboard` binary,
//! which starts a worker the way `switchboard-worker` does) beside an in-process gateway (the
//! test kit's `Stack`):
//!
//! - `kill -9` of a worker in the middle of calls: its jobs are redelivered to another worker;
//!   a call of a tool that is not idempotent is not repeated (OUTCOME_UNKNOWN, saying so), an
//!   idempotent one runs again, and jobs it never started run once;
//! - a private nats-server killed and restarted during a run: every accepted execution reaches
//!   a terminal state, and calls refused meanwhile are refused promptly;
//! - a private redis-server stopped: calls are refused with UNAVAILABLE / STORE_UNAVAILABLE
//!   promptly, and the same session works again once it is back;
//! - a job a busy worker fetched but could not start within its acknowledgement time is handed
//!   to another worker: it runs once and succeeds (the late copy leaves it alone).
//!
//! Every wait is bounded. `TEST_LOG=1` shows the processes' logs; `FAULTS_LOG_DIR=<dir>` writes
//! each process's log to a file there instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_config::Config;
use switchboard_proto::v1::*;
use switchboard_testkit::*;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_faults_token_0123456789";
/// How long the private nats-server stays down.
const OUTAGE: Duration = Duration::from_secs(6);

fn test_log() -> bool {
    std::env::var("TEST_LOG").is_ok_and(|v| v == "1")
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("addr").port()
}

/// A child process, killed (SIGKILL) when dropped.
struct Proc {
    name: String,
    child: Option<Child>,
}

impl Proc {
    fn spawn(name: &str, mut command: Command) -> Proc {
        if let Ok(dir) = std::env::var("FAULTS_LOG_DIR") {
            let file =
                std::fs::File::create(format!("{dir}/{name}-{}.log", ulid::Ulid::new())).unwrap();
            command.stdout(Stdio::null()).stderr(file);
        } else if test_log() {
            command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        } else {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child: Some(child),
        }
    }

    /// `kill -9`, and reap it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Panics when the process has exited (it should be running).
    fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("started");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{} exited: {status}", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `check` gives a value, polling every 20 ms for at most `within`.
async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < until, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_listening(port: u16, what: &str) {
    eventually(what, Duration::from_secs(15), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
}

/// `switchboard worker` with `config` as `SWITCHBOARD_*` variables (and nothing of the test's
/// own `SWITCHBOARD_*` environment), plus `extra`.
fn worker(name: &str, config: &Config, extra: &[(&str, &str)]) -> Proc {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.arg("worker");
    for (key, _) in std::env::vars() {
        if key.starts_with("SWITCHBOARD_") {
            command.env_remove(key);
        }
    }
    command.envs(config.to_env()).env(
        "SWITCHBOARD_TELEMETRY__LOG_FILTER",
        "info,switchboard_worker=debug",
    );
    for (key, value) in extra {
        command.env(key, value);
    }
    Proc::spawn(name, command)
}

/// A private nats-server with JetStream on `port`, storing under `dir`.
fn nats_server(port: u16, dir: &Path) -> Proc {
    let mut command = Command::new("nats-server");
    command
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir);
    Proc::spawn("nats-server", command)
}

/// A private redis-server on `port` with an append-only file under `dir` (synced on every
/// write), so what it stored survives a kill.
fn redis_server(port: u16, dir: &Path) -> Proc {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ])
        .arg("--dir")
        .arg(dir);
    Proc::spawn("redis-server", command)
}

async fn wait_redis(port: u16) {
    wait_listening(port, "redis-server listening").await;
    let client = redis_client(&format!("redis://127.0.0.1:{port}"));
    eventually(
        "redis-server answering PING",
        Duration::from_secs(15),
        || {
            let client = client.clone();
            async move {
                let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                redis_cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .ok()
                    .map(|_| ())
            }
        },
    )
    .await;
}

/// A test config whose GitHub is `github`.
/// A GitHub stand-in that creates issues (for this test's token) after `delay`.
async fn slow_github(delay: Duration) -> MockServer {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"number": 1}))
                .set_delay(delay),
        )
        .mount(&github)
        .await;
    github
}

fn config_for(github: &MockServer) -> Config {
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    config
}

/// A project, a BEARER_TOKEN GitHub account for `user_1`, and a GitHub session for them.
async fn github_session(stack: &Stack) -> (TestProject, Session) {
    let project = stack.project().await;
    let (_, session) =
        github_account_session(stack, &project, "pat", "user_1", "work", TOKEN).await;
    (project, session)
}

fn call(session: &Session, tool: &str, arguments: serde_json::Value) -> ExecuteToolRequest {
    ExecuteToolRequest {
        session_id: session.id.clone(),
        tool_slug: tool.into(),
        arguments_json: arguments.to_string(),
        mode: ExecutionMode::Async as i32,
        ..Default::default()
    }
}

fn create_issue(session: &Session, title: &str) -> ExecuteToolRequest {
    call(
        session,
        "GITHUB_CREATE_ISSUE",
        serde_json::json!({"owner": "acme", "repo": "api", "title": title}),
    )
}

/// An async call that must be accepted: its execution id.
async fn submit(sessions: &mut Sessions, request: ExecuteToolRequest) -> String {
    let execution = tokio::time::timeout(Duration::from_secs(10), sessions.execute_tool(request))
        .await
        .expect("ExecuteTool answered")
        .expect("ExecuteTool accepted the call")
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(execution.status(), ExecutionStatus::Queued);
    execution.id
}

fn is_terminal(e: &Execution) -> bool {
    matches!(
        e.status(),
        ExecutionStatus::Succeeded
            | ExecutionStatus::Failed
            | ExecutionStatus::TimedOut
            | ExecutionStatus::OutcomeUnknown
    )
}

/// The execution as GetExecution gives it now.
async fn current(sessions: &Sessions, session: &str, execution_id: &str) -> Execution {
    let request = GetExecutionRequest {
        session_id: session.to_owned(),
        execution_id: execution_id.to_owned(),
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        sessions.clone().get_execution(request),
    )
    .await
    .expect("GetExecution answered")
    .expect("GetExecution")
    .into_inner()
    .execution
    .expect("execution")
}

/// Polls the execution until it is terminal, for at most `within`.
async fn finished(
    sessions: &Sessions,
    session: &str,
    execution_id: &str,
    within: Duration,
) -> Execution {
    eventually(
        &format!("execution {execution_id} terminal"),
        within,
        || {
            let mut sessions = sessions.clone();
            let request = GetExecutionRequest {
                session_id: session.to_owned(),
                execution_id: execution_id.to_owned(),
            };
            async move {
                let e =
                    tokio::time::timeout(Duration::from_secs(5), sessions.get_execution(request))
                        .await
                        .ok()?
                        .ok()?
                        .into_inner()
                        .execution?;
                is_terminal(&e).then_some(e)
            }
        },
    )
    .await
}

/// What the stand-in received, one key per request: the issue title of a POST, else
/// `METHOD path`.
async fn received(github: &MockServer) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for request in github.received_requests().await.expect("recording is on") {
        let key = if request.method.as_str() == "POST" {
            let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
            body["title"].as_str().unwrap_or_default().to_owned()
        } else {
            format!("{} {}", request.method, request.url.path())
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_call_leaves_no_second_call_of_a_non_idempotent_tool() {
    let github = MockServer::start().await;
    // The provider takes a while, so the worker is killed while its calls are in flight.
    let delay = Duration::from_secs(2);
    let bearer = format!("Bearer {TOKEN}");
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"number": 1, "state": "open"}))
                .set_delay(delay),
        )
        .mount(&github)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/repos/acme/api/issues/\d+$"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"number": 11, "state": "open"}))
                .set_delay(delay),
        )
        .mount(&github)
        .await;
    Mock::given(method("PUT"))
        .and(path("/user/starred/acme/api"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(204).set_delay(delay))
        .mount(&github)
        .await;

    let config = config_for(&github);
    let stack = Stack::spawn_with(config.clone()).await;
    let (project, session) = github_session(&stack).await;
    let mut sessions = stack.sessions(Some(&project.api_key));
    // Five jobs at a time, redelivered 2 s after the last (in-progress) acknowledgement.
    let env = [
        ("SWITCHBOARD_WORKER__CONCURRENCY", "5"),
        ("SWITCHBOARD_WORKER__ACK_WAIT_SECS", "2"),
    ];
    let mut a = worker("worker A", &config, &env);

    // Five calls A starts: three not idempotent, two idempotent.
    let mut sent = Vec::new();
    for title in ["sent 0", "sent 1", "sent 2"] {
        sent.push((
            title.to_owned(),
            submit(&mut sessions, create_issue(&session, title)).await,
        ));
    }
    let get_issue = submit(
        &mut sessions,
        call(
            &session,
            "GITHUB_GET_ISSUE",
            serde_json::json!({"owner": "acme", "repo": "api", "issue_number": 11}),
        ),
    )
    .await;
    let star = submit(
        &mut sessions,
        call(
            &session,
            "GITHUB_STAR_REPOSITORY",
            serde_json::json!({"owner": "acme", "repo": "api"}),
        ),
    )
    .await;
    let until = Instant::now() + Duration::from_secs(30);
    while received(&github).await.values().sum::<usize>() < 5 {
        a.assert_running();
        assert!(
            Instant::now() < until,
            "worker A did not send five calls within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Three more that wait behind them: A has no free slot, so it never starts them.
    let mut waiting = Vec::new();
    for title in ["waiting 0", "waiting 1", "waiting 2"] {
        waiting.push((
            title.to_owned(),
            submit(&mut sessions, create_issue(&session, title)).await,
        ));
    }
    a.kill();
    let at_kill = received(&github).await;
    assert_eq!(
        at_kill.values().sum::<usize>(),
        5,
        "calls A made before it was killed: {at_kill:?}"
    );

    let b = worker("worker B", &config, &env);
    let within = Duration::from_secs(60);
    for (title, id) in &sent {
        let e = finished(&sessions, &session.id, id, within).await;
        assert_eq!(
            e.status(),
            ExecutionStatus::OutcomeUnknown,
            "{title}: {e:?}"
        );
        let error = e.error.as_ref().expect("an error");
        assert_eq!(error.code, "OUTCOME_UNKNOWN");
        assert!(
            error.message.contains("not repeated"),
            "{title}: {}",
            error.message
        );
    }
    for (what, id) in [("get issue", &get_issue), ("star", &star)] {
        let e = finished(&sessions, &session.id, id, within).await;
        assert_eq!(e.status(), ExecutionStatus::Succeeded, "{what}: {e:?}");
        assert_eq!(e.attempts, 2, "{what}: run by A, then again by B");
    }
    for (title, id) in &waiting {
        let e = finished(&sessions, &session.id, id, within).await;
        assert_eq!(e.status(), ExecutionStatus::Succeeded, "{title}: {e:?}");
        assert_eq!(e.attempts, 1, "{title}");
    }

    let calls = received(&github).await;
    for (title, _) in sent.iter().chain(&waiting) {
        assert_eq!(calls.get(title), Some(&1), "provider calls of {title:?}");
    }
    assert_eq!(calls.get("GET /repos/acme/api/issues/11"), Some(&2));
    assert_eq!(calls.get("PUT /user/starred/acme/api"), Some(&2));
    assert_eq!(calls.values().sum::<usize>(), 10, "{calls:?}");

    drop(b);
    stack.stop().await;
}

/// The outcome of one call of the load during the nats-server restart.
#[derive(Debug)]
struct Sent {
    title: String,
    took: Duration,
    result: Result<String, tonic::Status>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_call_ends_after_nats_server_restarts() {
    let github = slow_github(Duration::from_millis(50)).await;

    let store_dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut nats = nats_server(port, store_dir.path());
    wait_listening(port, "nats-server listening").await;

    let mut config = config_for(&github);
    config.nats.url = format!("nats://127.0.0.1:{port}");
    let stack = Stack::spawn_with(config.clone()).await;
    let (project, session) = github_session(&stack).await;
    let sessions = stack.sessions(Some(&project.api_key));
    let mut worker = worker(
        "worker",
        &config,
        &[("SWITCHBOARD_WORKER__ACK_WAIT_SECS", "2")],
    );

    // The worker is up and pulling: a first call comes back.
    let mut warm_up = create_issue(&session, "warm-up");
    warm_up.mode = ExecutionMode::Sync as i32;
    let first = tokio::time::timeout(
        Duration::from_secs(30),
        sessions.clone().execute_tool(warm_up),
    )
    .await
    .expect("the first call answered within 30 s")
    .expect("the first call")
    .into_inner()
    .execution
    .unwrap();
    assert_eq!(first.status(), ExecutionStatus::Succeeded, "{first:?}");

    // Four callers send async calls until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(Mutex::new(Vec::<Sent>::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, accepted, log, next) = (
                Arc::clone(&stop),
                Arc::clone(&accepted),
                Arc::clone(&log),
                Arc::clone(&next),
            );
            let mut sessions = sessions.clone();
            let session = session.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let title = format!("restart {}", next.fetch_add(1, Ordering::SeqCst));
                    let started = Instant::now();
                    let answer = tokio::time::timeout(
                        Duration::from_secs(20),
                        sessions.execute_tool(create_issue(&session, &title)),
                    )
                    .await
                    .unwrap_or_else(|_| panic!("{title}: ExecuteTool hung for 20 s"));
                    let result = answer.map(|r| r.into_inner().execution.unwrap().id);
                    if result.is_ok() {
                        accepted.fetch_add(1, Ordering::SeqCst);
                    } else {
                        // Refused: don't spin while the bus is away.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    log.lock().unwrap().push(Sent {
                        title,
                        took: started.elapsed(),
                        result,
                    });
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();

    let accepted_at = |n: usize, what: &'static str| {
        let accepted = Arc::clone(&accepted);
        async move {
            eventually(what, Duration::from_secs(60), || {
                let accepted = Arc::clone(&accepted);
                async move { (accepted.load(Ordering::SeqCst) >= n).then_some(()) }
            })
            .await
        }
    };
    accepted_at(40, "calls accepted before the restart").await;
    nats.kill();
    let before = accepted.load(Ordering::SeqCst);
    // Away for longer than a publish waits for the stream's acknowledgement (5 s), so some
    // calls are refused; the ones sent near the end go out once the client reconnects.
    tokio::time::sleep(OUTAGE).await;
    let nats = nats_server(port, store_dir.path());
    wait_listening(port, "nats-server listening again").await;
    let restarted = Instant::now();
    accepted_at(before + 40, "calls accepted after the restart").await;
    println!(
        "accepted again {:.2} s after nats-server restarted",
        restarted.elapsed().as_secs_f64()
    );
    stop.store(true, Ordering::SeqCst);
    for caller in callers {
        tokio::time::timeout(Duration::from_secs(30), caller)
            .await
            .expect("caller stops")
            .expect("caller did not panic");
    }
    worker.assert_running();

    let log = std::mem::take(&mut *log.lock().unwrap());
    let refused: Vec<&Sent> = log.iter().filter(|s| s.result.is_err()).collect();
    let slowest_refusal = refused.iter().map(|s| s.took).max().unwrap_or_default();
    println!(
        "{} calls: {} accepted, {} refused (slowest refusal {:.2} s)",
        log.len(),
        log.len() - refused.len(),
        refused.len(),
        slowest_refusal.as_secs_f64()
    );
    for sent in &refused {
        let status = sent.result.as_ref().unwrap_err();
        assert_eq!(
            status.code(),
            tonic::Code::Unavailable,
            "{}: {status:?}",
            sent.title
        );
        assert!(
            sent.took < Duration::from_secs(10),
            "{} refused only after {:?}",
            sent.title,
            sent.took
        );
    }

    // Every accepted call ends; each ran at most once, and a refused one not at all.
    let mut ended: HashMap<String, Execution> = HashMap::new();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let mut pending = Vec::new();
        for sent in &log {
            let Ok(id) = &sent.result else { continue };
            if ended.contains_key(&sent.title) {
                continue;
            }
            let e = current(&sessions, &session.id, id).await;
            if is_terminal(&e) {
                ended.insert(sent.title.clone(), e);
            } else {
                pending.push(e);
            }
        }
        if pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < until,
            "{} accepted executions still not terminal after 60 s: {pending:#?}",
            pending.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut statuses: HashMap<&'static str, usize> = HashMap::new();
    for e in ended.values() {
        *statuses.entry(e.status().as_str_name()).or_default() += 1;
    }
    println!("accepted calls ended: {statuses:?}");
    let calls = received(&github).await;
    for sent in &log {
        let n = calls.get(&sent.title).copied().unwrap_or(0);
        match ended.get(&sent.title) {
            Some(e) if e.status() == ExecutionStatus::Succeeded => {
                assert_eq!(n, 1, "provider calls of {}", sent.title)
            }
            Some(e) => assert!(n <= 1, "{}: {n} provider calls, {e:?}", sent.title),
            None => assert_eq!(n, 0, "{} was refused but reached the provider", sent.title),
        }
    }

    drop(worker);
    stack.stop().await;
    drop(nats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_refused_while_redis_is_away_and_the_same_session_works_after() {
    let github = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/issues/11"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"number": 11, "state": "open"})),
        )
        .mount(&github)
        .await;

    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut redis = redis_server(port, dir.path());
    wait_redis(port).await;

    let mut config = config_for(&github);
    config.redis.url = format!("redis://127.0.0.1:{port}");
    let stack = Stack::spawn_with(config.clone()).await;
    let (project, session) = github_session(&stack).await;
    let mut sessions = stack.sessions(Some(&project.api_key));
    let mut worker = worker("worker", &config, &[]);
    let mut get_issue = call(
        &session,
        "GITHUB_GET_ISSUE",
        serde_json::json!({"owner": "acme", "repo": "api", "issue_number": 11}),
    );
    get_issue.mode = ExecutionMode::Sync as i32;
    let run = |mut sessions: Sessions, request: ExecuteToolRequest| async move {
        let started = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(20), sessions.execute_tool(request))
            .await
            .expect("ExecuteTool answered within 20 s");
        (
            answer.map(|r| r.into_inner().execution.unwrap()),
            started.elapsed(),
        )
    };
    let (first, _) = run(sessions.clone(), get_issue.clone()).await;
    assert_eq!(first.unwrap().status(), ExecutionStatus::Succeeded);

    redis.kill();
    let (refused, took) = run(sessions.clone(), get_issue.clone()).await;
    let status = refused.expect_err("refused while Redis is away");
    assert_refused(
        &status,
        tonic::Code::Unavailable,
        "STORE_UNAVAILABLE",
        "",
        "ExecuteTool without Redis",
    );
    assert!(took < Duration::from_secs(10), "refused after {took:?}");
    let started = Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(20),
        sessions.create_session(create_req("user_1", toolkits_config(&["github"]))),
    )
    .await
    .expect("CreateSession answered within 20 s")
    .expect_err("refused while Redis is away");
    assert_refused(
        &status,
        tonic::Code::Unavailable,
        "STORE_UNAVAILABLE",
        "",
        "CreateSession without Redis",
    );
    let took_create = started.elapsed();
    assert!(
        took_create < Duration::from_secs(10),
        "refused after {took_create:?}"
    );
    println!(
        "refused without Redis after {:.2} s (ExecuteTool) and {:.2} s (CreateSession)",
        took.as_secs_f64(),
        took_create.as_secs_f64()
    );
    assert_eq!(
        github.received_requests().await.unwrap().len(),
        1,
        "no provider call while Redis is away"
    );

    // Back on the same port and data: the same session works again.
    let mut redis = redis_server(port, dir.path());
    wait_redis(port).await;
    let restarted = Instant::now();
    let again = eventually(
        "ExecuteTool works again after Redis is back",
        Duration::from_secs(30),
        || {
            let (sessions, request) = (sessions.clone(), get_issue.clone());
            async move {
                match run(sessions, request).await.0 {
                    Ok(e) => Some(e),
                    Err(status) => {
                        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                        None
                    }
                }
            }
        },
    )
    .await;
    println!(
        "calls work again {:.2} s after Redis restarted",
        restarted.elapsed().as_secs_f64()
    );
    assert_eq!(again.status(), ExecutionStatus::Succeeded, "{again:?}");
    assert_eq!(again.session_id, session.id);
    sessions
        .create_session(create_req("user_1", toolkits_config(&["github"])))
        .await
        .expect("CreateSession works again");
    worker.assert_running();

    drop(worker);
    stack.stop().await;
    redis.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_redelivered_from_a_busy_worker_to_an_idle_one_runs_once_and_succeeds() {
    let github = slow_github(Duration::from_secs(4)).await;
    let config = config_for(&github);
    let stack = Stack::spawn_with(config.clone()).await;
    let (project, session) = github_session(&stack).await;
    let mut sessions = stack.sessions(Some(&project.api_key));
    // One job at a time; a job not acknowledged for 2 s goes to another worker.
    let env = [
        ("SWITCHBOARD_WORKER__CONCURRENCY", "2"),
        ("SWITCHBOARD_WORKER__ACK_WAIT_SECS", "2"),
    ];
    let mut x = worker("worker X", &config, &env);
    let mut ids = Vec::new();
    for title in ["first", "second"] {
        ids.push((
            title,
            submit(&mut sessions, create_issue(&session, title)).await,
        ));
    }
    let until = Instant::now() + Duration::from_secs(30);
    while received(&github).await.len() < 2 {
        x.assert_running();
        assert!(Instant::now() < until, "worker X did not start two calls");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // X is busy for 4 s; it fetches the third job but cannot start it before its
    // acknowledgement time is over, so the stream hands it to Y meanwhile.
    ids.push((
        "third",
        submit(&mut sessions, create_issue(&session, "third")).await,
    ));
    let _y = worker("worker Y", &config, &env);
    let within = Duration::from_secs(60);
    for (title, id) in &ids {
        let e = finished(&sessions, &session.id, id, within).await;
        assert_eq!(e.status(), ExecutionStatus::Succeeded, "{title}: {e:?}");
    }
    let calls = received(&github).await;
    for (title, _) in &ids {
        assert_eq!(calls.get(*title), Some(&1), "{title}");
    }
    drop(x);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_worker_finish_and_acknowledge_its_calls_then_exit() {
    let github = slow_github(Duration::from_millis(1500)).await;
    let config = config_for(&github);
    let stack = Stack::spawn_with(config.clone()).await;
    let (project, session) = github_session(&stack).await;
    let mut sessions = stack.sessions(Some(&project.api_key));
    let mut w = worker("worker", &config, &[]);
    let mut ids = Vec::new();
    for title in ["one", "two"] {
        ids.push(submit(&mut sessions, create_issue(&session, title)).await);
    }
    let until = Instant::now() + Duration::from_secs(30);
    while received(&github).await.len() < 2 {
        w.assert_running();
        assert!(
            Instant::now() < until,
            "the worker did not start both calls"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Both calls are in flight: SIGTERM now.
    let pid = w.child.as_ref().expect("started").id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = eventually(
        "the worker exits after SIGTERM",
        Duration::from_secs(30),
        || {
            let status = w.child.as_mut().expect("started").try_wait().ok().flatten();
            async move { status }
        },
    )
    .await;
    assert!(status.success(), "the worker exited with {status}");
    // It finished what it held before exiting: both calls succeeded, once each, and nothing is
    // left on the job stream for another worker to run again.
    for id in &ids {
        let e = current(&sessions, &session.id, id).await;
        assert_eq!(e.status(), ExecutionStatus::Succeeded, "{e:?}");
        assert_eq!(e.attempts, 1);
    }
    let calls = received(&github).await;
    assert_eq!((calls.get("one"), calls.get("two")), (Some(&1), Some(&1)));
    assert_eq!(
        jobs_held(&config.nats).await,
        0,
        "every job was acknowledged"
    );
    stack.stop().await;
}
