//! The multi-replica fault run, with processes: 2 gateways, 3 workers and 2 triggers processes
//! (this package's `switchboard` binary) over a 3-node NATS JetStream cluster (streams R3) and
//! a 3-master Redis Cluster, both private to the run (`scripts/clusters.sh`). A load of
//! executions (a non-idempotent GitHub call each) and of signed webhook deliveries runs while
//! one gateway, one worker, one triggers process and one NATS node are killed with SIGKILL.
//! Then: every accepted execution ended in a terminal state, no provider call happened twice,
//! and a durable subscriber got every accepted delivery's event exactly once. The run prints
//! what it did and what it counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use switchboard_proto::v1::admin_service_client::AdminServiceClient;
use switchboard_proto::v1::connection_service_client::ConnectionServiceClient;
use switchboard_proto::v1::session_service_client::SessionServiceClient;
use switchboard_proto::v1::trigger_service_client::TriggerServiceClient;
use switchboard_proto::v1::*;
use tonic::transport::Channel;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
const TOKEN: &str = "ghp_fault_run_token_55";
const EXECUTIONS: usize = 240;
const DELIVERIES: usize = 160;

fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The clustered engines of this run (started here unless the environment gives them).
struct Clusters {
    dir: Option<String>,
    env: HashMap<String, String>,
}

impl Clusters {
    fn start() -> Clusters {
        let out = Command::new(repo_root().join("scripts/clusters.sh"))
            .arg("start")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "clusters did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut env = HashMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
                env.insert(k.to_owned(), v.trim_matches('"').to_owned());
            }
        }
        Clusters {
            dir: env.get("SB_CLUSTERS_DIR").cloned(),
            env,
        }
    }

    fn nats_pids(&self) -> Vec<u32> {
        self.env["SB_CLUSTER_NATS_PIDS"]
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect()
    }
}

impl Drop for Clusters {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = Command::new(repo_root().join("scripts/clusters.sh"))
                .args(["stop", dir])
                .status();
        }
    }
}

/// A service process, SIGKILLed when dropped.
struct Proc {
    name: String,
    child: Option<Child>,
}

impl Proc {
    fn spawn(name: &str, service: &str, config: &Path, env: &[(&str, String)]) -> Proc {
        let mut command = Command::new(BIN);
        for (key, _) in std::env::vars() {
            if key.starts_with("SWITCHBOARD_") {
                command.env_remove(key);
            }
        }
        command
            .arg("--config")
            .arg(config)
            .arg(service)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
            command.stderr(Stdio::inherit());
        } else {
            command.stderr(Stdio::null());
        }
        for (k, v) in env {
            command.env(k, v);
        }
        Proc {
            name: name.to_owned(),
            child: Some(command.spawn().unwrap()),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            println!("  killed {} (SIGKILL)", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Counts create-issue calls per title (each execution has its own title).
#[derive(Clone, Default)]
struct Issues(Arc<Mutex<HashMap<String, usize>>>);

impl Respond for Issues {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let title = body["title"].as_str().unwrap_or("").to_owned();
        *self.0.lock().unwrap().entry(title).or_insert(0) += 1;
        ResponseTemplate::new(201)
            .set_body_json(json!({"number": 1}))
            .set_delay(Duration::from_millis(20))
    }
}

#[derive(Clone)]
struct Key(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Key {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

fn bearer(token: &str) -> Key {
    Key(format!("Bearer {token}").parse().unwrap())
}

async fn channel(addr: &str) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

async fn wait_ready(url: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not become ready");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_three_workers_two_triggers_survive_kill_9_of_one_each_and_a_nats_node() {
    let clusters = Clusters::start();
    let github = MockServer::start().await;
    let issues = Issues::default();
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .respond_with(issues.clone())
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/hooks"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7})))
        .mount(&github)
        .await;

    // One config file for every process; addresses per process in the environment.
    let unique = ulid::Ulid::new().to_string().to_lowercase();
    let admin_token = format!("admin-{unique}");
    let (t1_port, t2_port) = (free_port(), free_port());
    let config = json!({
        "gateway": {"admin_token": admin_token},
        "nats": {"url": clusters.env["SWITCHBOARD_TEST_NATS_URL"], "replicas": 3,
                 "stream_prefix": format!("SBF_{}", unique.to_uppercase()), "subject_prefix": format!("sbf{unique}")},
        "redis": {"url": clusters.env["SWITCHBOARD_TEST_REDIS_URL"], "cluster": true, "key_prefix": format!("sbf-{unique}")},
        "catalog": {"dir": repo_root().join("toolkits"), "base_urls": {"github": github.uri()}},
        "crypto": {"keys": {"k1": switchboard_crypto::generate_key()}, "current_key": "k1"},
        "worker": {"ack_wait_secs": 4, "concurrency": 16},
        "triggers": {"public_url": format!("http://127.0.0.1:{t1_port}"), "poll_lease_secs": 3},
        "telemetry": {"log_filter": "warn"},
        "shutdown_grace_secs": 5
    });
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(file.path(), serde_yaml_ng::to_string(&config).unwrap()).unwrap();
    let cfg = file.path();

    let gw = |n: u16| {
        let (grpc, http) = (free_port(), free_port());
        (grpc, http, n)
    };
    let gateways: Vec<(u16, u16, u16)> = vec![gw(1), gw(2)];
    let mut procs: BTreeMap<String, Proc> = BTreeMap::new();
    for (grpc, http, n) in &gateways {
        procs.insert(
            format!("gateway-{n}"),
            Proc::spawn(
                &format!("gateway-{n}"),
                "gateway",
                cfg,
                &[
                    (
                        "SWITCHBOARD_GATEWAY__GRPC_ADDR",
                        format!("127.0.0.1:{grpc}"),
                    ),
                    (
                        "SWITCHBOARD_GATEWAY__HTTP_ADDR",
                        format!("127.0.0.1:{http}"),
                    ),
                ],
            ),
        );
    }
    for n in 1..=3 {
        procs.insert(
            format!("worker-{n}"),
            Proc::spawn(&format!("worker-{n}"), "worker", cfg, &[]),
        );
    }
    for (n, port) in [(1, t1_port), (2, t2_port)] {
        procs.insert(
            format!("triggers-{n}"),
            Proc::spawn(
                &format!("triggers-{n}"),
                "triggers",
                cfg,
                &[(
                    "SWITCHBOARD_TRIGGERS__HTTP_ADDR",
                    format!("127.0.0.1:{port}"),
                )],
            ),
        );
    }
    for (_, http, _) in &gateways {
        wait_ready(&format!("http://127.0.0.1:{http}/readyz")).await;
    }
    for port in [t1_port, t2_port] {
        wait_ready(&format!("http://127.0.0.1:{port}/healthz")).await;
    }
    println!(
        "fault run: 2 gateways, 3 workers, 2 triggers over NATS {} (R3) and Redis Cluster {}",
        clusters.env["SWITCHBOARD_TEST_NATS_URL"], clusters.env["SWITCHBOARD_TEST_REDIS_URL"]
    );

    // A project, a user with a GitHub account, a session and a trigger — through gateway 1.
    let g1 = channel(&format!("127.0.0.1:{}", gateways[0].0)).await;
    let g2 = channel(&format!("127.0.0.1:{}", gateways[1].0)).await;
    let mut admin = AdminServiceClient::with_interceptor(g1.clone(), bearer(&admin_token));
    let project = admin
        .create_project(CreateProjectRequest {
            name: "fault".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    let api_key = admin
        .create_api_key(CreateApiKeyRequest {
            project_id: project.id.clone(),
            name: "k".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    let key = bearer(&api_key);
    let mut connections = ConnectionServiceClient::with_interceptor(g1.clone(), key.clone());
    let auth_config = connections
        .create_auth_config(CreateAuthConfigRequest {
            toolkit: "github".into(),
            scheme: "BEARER_TOKEN".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_config
        .unwrap();
    connections
        .create_connected_account(CreateConnectedAccountRequest {
            user_id: "ada".into(),
            auth_config_id: auth_config.id,
            credential: Some(create_connected_account_request::Credential::BearerToken(
                BearerTokenCredential {
                    token: TOKEN.into(),
                },
            )),
            ..Default::default()
        })
        .await
        .unwrap();
    let session = SessionServiceClient::with_interceptor(g1.clone(), key.clone())
        .create_session(CreateSessionRequest {
            user_id: "ada".into(),
            config: Some(SessionConfig {
                toolkits: Some(ToolkitFilter {
                    enable: Some(SlugList {
                        slugs: vec!["github".into()],
                    }),
                    disable: None,
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    TriggerServiceClient::with_interceptor(g1.clone(), key.clone())
        .create_trigger(CreateTriggerRequest {
            r#type: "GITHUB_ISSUE_OPENED".into(),
            user_id: "ada".into(),
            connected_account_id: String::new(),
            config: Some(switchboard_proto::json_to_struct(
                &json!({"owner": "acme", "repo": "api"}),
            )),
        })
        .await
        .unwrap();
    let hook = github
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/repos/acme/api/hooks")
        .unwrap();
    let hook: Value = serde_json::from_slice(&hook.body).unwrap();
    let secret = hook["config"]["secret"].as_str().unwrap().to_owned();
    let hook_path = hook["config"]["url"]
        .as_str()
        .unwrap()
        .split_once(&format!("127.0.0.1:{t1_port}"))
        .unwrap()
        .1
        .to_owned();

    // The durable subscriber, on gateway 2 (which stays up).
    let received: Arc<Mutex<HashMap<u64, usize>>> = Arc::default();
    {
        let received = Arc::clone(&received);
        let mut triggers = TriggerServiceClient::with_interceptor(g2.clone(), key.clone());
        let mut stream = triggers
            .subscribe_events(SubscribeEventsRequest {
                user_id: "ada".into(),
                durable_name: "fault-run".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        tokio::spawn(async move {
            while let Ok(Some(event)) = stream.message().await {
                let data = switchboard_proto::struct_to_json(event.data.as_ref().unwrap());
                if let Some(n) = data["issue"]["number"].as_u64() {
                    *received.lock().unwrap().entry(n).or_insert(0) += 1;
                }
            }
        });
    }

    // The load: executions through both gateways (a refused or cut call is retried on the
    // other gateway with the same idempotency key), deliveries to both triggers processes (a
    // failed one is sent again to the other, as a provider retries).
    let clients = [g1.clone(), g2.clone()];
    let alive = Arc::new(Mutex::new([true, true]));
    let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let delivered: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let http = reqwest::Client::new();
    let bases = [
        format!("http://127.0.0.1:{t1_port}"),
        format!("http://127.0.0.1:{t2_port}"),
    ];
    let triggers_alive = Arc::new(Mutex::new([true, true]));
    let load = {
        let (accepted, alive, session_id, key) = (
            Arc::clone(&accepted),
            Arc::clone(&alive),
            session.id.clone(),
            key.clone(),
        );
        async move {
            let tasks = futures::stream::iter(0..EXECUTIONS).map(|i| {
                let (clients, accepted, alive, session_id, key) = (clients.clone(), Arc::clone(&accepted), Arc::clone(&alive), session_id.clone(), key.clone());
                async move {
                    for attempt in 0..6 {
                        let g = (i + attempt) % 2;
                        if !alive.lock().unwrap()[g] {
                            continue;
                        }
                        let mut sessions = SessionServiceClient::with_interceptor(clients[g].clone(), key.clone());
                        let request = ExecuteToolRequest {
                            session_id: session_id.clone(),
                            tool_slug: "GITHUB_CREATE_ISSUE".into(),
                            arguments_json: json!({"owner": "acme", "repo": "api", "title": format!("fault-{i}")}).to_string(),
                            idempotency_key: format!("k-{i}"),
                            mode: ExecutionMode::Async as i32,
                            ..Default::default()
                        };
                        match tokio::time::timeout(Duration::from_secs(10), sessions.execute_tool(request)).await {
                            Ok(Ok(r)) => {
                                accepted.lock().unwrap().insert(r.into_inner().execution.unwrap().id);
                                // Paced, so the faults land in the middle of the load.
                                tokio::time::sleep(Duration::from_millis(40)).await;
                                return;
                            }
                            _ => tokio::time::sleep(Duration::from_millis(200)).await,
                        }
                    }
                }
            });
            tasks.for_each_concurrent(16, |t| t).await;
        }
    };
    let deliveries = {
        let (delivered, triggers_alive, http, secret, hook_path) = (
            Arc::clone(&delivered),
            Arc::clone(&triggers_alive),
            http.clone(),
            secret.clone(),
            hook_path.clone(),
        );
        async move {
            let tasks = futures::stream::iter(1..=DELIVERIES as u64).map(|n| {
                let (delivered, triggers_alive, http, secret, hook_path, bases) = (Arc::clone(&delivered), Arc::clone(&triggers_alive), http.clone(), secret.clone(), hook_path.clone(), bases.clone());
                async move {
                    let body = serde_json::to_vec(&json!({"action": "opened", "issue": {"number": n, "title": "x"}, "repository": {"full_name": "acme/api"}})).unwrap();
                    let signature = format!("sha256={}", hex(&switchboard_crypto::hmac_sha256(secret.as_bytes(), &body)));
                    for attempt in 0..30u64 {
                        let t = usize::try_from((n + attempt) % 2).unwrap();
                        if !triggers_alive.lock().unwrap()[t] {
                            continue;
                        }
                        let sent = http
                            .post(format!("{}{hook_path}", bases[t]))
                            .timeout(Duration::from_secs(10))
                            .header("content-type", "application/json")
                            .header("x-github-event", "issues")
                            .header("x-github-delivery", format!("fault-{n}"))
                            .header("x-hub-signature-256", &signature)
                            .body(body.clone())
                            .send()
                            .await;
                        if sent.is_ok_and(|r| r.status().is_success()) {
                            delivered.lock().unwrap().insert(n);
                            tokio::time::sleep(Duration::from_millis(60)).await;
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                }
            });
            tasks.for_each_concurrent(8, |t| t).await;
        }
    };
    let chaos = {
        let (alive, triggers_alive) = (Arc::clone(&alive), Arc::clone(&triggers_alive));
        let nats = clusters.nats_pids();
        let accepted = Arc::clone(&accepted);
        let delivered_now = Arc::clone(&delivered);
        async move {
            while accepted.lock().unwrap().len() < EXECUTIONS / 3 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            println!(
                "  chaos at {} accepted executions and {} accepted deliveries:",
                accepted.lock().unwrap().len(),
                delivered_now.lock().unwrap().len()
            );
            alive.lock().unwrap()[0] = false;
            procs.get_mut("gateway-1").unwrap().kill();
            procs.get_mut("worker-1").unwrap().kill();
            triggers_alive.lock().unwrap()[0] = false;
            procs.get_mut("triggers-1").unwrap().kill();
            let _ = Command::new("kill")
                .args(["-9", &nats[2].to_string()])
                .status();
            println!("  killed nats node 3 (SIGKILL)");
            procs
        }
    };
    let started = Instant::now();
    let ((), (), procs) = tokio::join!(load, deliveries, chaos);
    println!(
        "  load done in {:.1} s: {} executions accepted of {EXECUTIONS}, {} deliveries accepted of {DELIVERIES}",
        started.elapsed().as_secs_f64(),
        accepted.lock().unwrap().len(),
        delivered.lock().unwrap().len()
    );

    // Every accepted execution ends in a terminal state (read through the surviving gateway).
    let mut sessions = SessionServiceClient::with_interceptor(g2.clone(), key.clone());
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let ids: Vec<String> = accepted.lock().unwrap().iter().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    for id in &ids {
        loop {
            let execution = sessions
                .get_execution(GetExecutionRequest {
                    execution_id: id.clone(),
                    session_id: session.id.clone(),
                })
                .await
                .unwrap()
                .into_inner()
                .execution
                .unwrap();
            let status = execution.status();
            if !matches!(status, ExecutionStatus::Queued | ExecutionStatus::Running) {
                *statuses.entry(format!("{status:?}")).or_insert(0) += 1;
                break;
            }
            assert!(Instant::now() < deadline, "execution {id} still {status:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!("  executions by final status: {statuses:?}");
    let calls = issues.0.lock().unwrap().clone();
    let doubled: Vec<_> = calls.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "  provider calls: {} distinct issues created, {} created twice",
        calls.len(),
        doubled.len()
    );
    assert!(
        doubled.is_empty(),
        "a non-idempotent call happened twice: {doubled:?}"
    );
    assert!(
        ids.len() >= EXECUTIONS * 9 / 10,
        "most executions were accepted: {}",
        ids.len()
    );

    // Every accepted delivery reaches the durable subscriber exactly once.
    let wanted: HashSet<u64> = delivered.lock().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = received.lock().unwrap().clone();
        if wanted.iter().all(|n| got.contains_key(n)) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = received.lock().unwrap().clone();
    let missing: Vec<_> = wanted.iter().filter(|n| !got.contains_key(n)).collect();
    let twice: Vec<_> = got.iter().filter(|(_, c)| **c > 1).collect();
    println!("  events: {} deliveries accepted, {} received by the durable subscriber, {} missing, {} twice", wanted.len(), got.len(), missing.len(), twice.len());
    assert!(missing.is_empty(), "events lost: {missing:?}");
    assert!(twice.is_empty(), "events doubled: {twice:?}");
    drop(procs);
}
