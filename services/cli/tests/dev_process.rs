//! End to end, as a user runs it: the `switchboard` binary as a process. `switchboard dev`
//! prints its addresses and the development project's API key, the key works, SIGTERM stops it
//! cleanly, a restart keeps the same key, `switchboard admin` works against it, and a broken
//! toolkit file stops it before it listens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_proto::v1::{
    catalog_service_client::CatalogServiceClient, session_service_client::SessionServiceClient,
    CreateSessionRequest, GetToolkitRequest, ListSessionsRequest,
};
use tonic::metadata::MetadataValue;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

struct Prefixes {
    redis: String,
    stream: String,
    subject: String,
}

impl Prefixes {
    fn new() -> Prefixes {
        let u = ulid::Ulid::new().to_string().to_lowercase();
        Prefixes {
            redis: format!("sbt-dev-{u}"),
            stream: format!("SBT_DEV_{}", u.to_uppercase()),
            subject: format!("sbtdev{u}"),
        }
    }

    fn command(&self, data_dir: &Path) -> Command {
        let mut cmd = Command::new(BIN);
        let toolkits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../toolkits");
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SWITCHBOARD_GATEWAY__GRPC_ADDR", "127.0.0.1:0")
            .env("SWITCHBOARD_GATEWAY__HTTP_ADDR", "127.0.0.1:0")
            .env("SWITCHBOARD_TRIGGERS__HTTP_ADDR", "127.0.0.1:0")
            .env("SWITCHBOARD_REDIS__KEY_PREFIX", &self.redis)
            .env("SWITCHBOARD_NATS__STREAM_PREFIX", &self.stream)
            .env("SWITCHBOARD_NATS__SUBJECT_PREFIX", &self.subject)
            .env("SWITCHBOARD_CATALOG__DIR", toolkits)
            .env("SWITCHBOARD_DEV__DATA_DIR", data_dir)
            .env("SWITCHBOARD_TELEMETRY__LOG_FORMAT", "json");
        if let Ok(url) = std::env::var("SWITCHBOARD_TEST_REDIS_URL") {
            cmd.env("SWITCHBOARD_REDIS__URL", url);
        }
        if let Ok(url) = std::env::var("SWITCHBOARD_TEST_NATS_URL") {
            cmd.env("SWITCHBOARD_NATS__URL", url);
        }
        cmd
    }

    async fn cleanup(&self) {
        let redis = std::env::var("SWITCHBOARD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        if let Ok(store) = switchboard_store::Store::connect(&redis, &self.redis).await {
            let _ = store.purge_prefix().await;
        }
        let nats = std::env::var("SWITCHBOARD_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let names = switchboard_bus::Names {
            stream_prefix: self.stream.clone(),
            subject_prefix: self.subject.clone(),
        };
        if let Ok(bus) = switchboard_bus::Bus::connect(&nats, names, Duration::from_secs(5)).await {
            bus.delete_streams().await;
        }
    }
}

/// A running `switchboard dev` and what it printed.
struct Dev {
    child: Child,
    grpc: String,
    api_key: String,
    banner: String,
}

impl Dev {
    fn start(prefixes: &Prefixes, data_dir: &Path) -> Dev {
        let mut child = prefixes
            .command(data_dir)
            .arg("dev")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn switchboard dev");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = String::new();
        let (mut grpc, mut api_key) = (String::new(), String::new());
        let deadline = Instant::now() + Duration::from_secs(60);
        while api_key.is_empty() || grpc.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("switchboard dev printed no API key; got:\n{banner}"));
            banner.push_str(&line);
            banner.push('\n');
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["gRPC", addr, ..] => grpc = (*addr).to_owned(),
                ["API", "key", key, ..] => api_key = (*key).to_owned(),
                _ => {}
            }
        }
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Dev {
            child,
            grpc,
            api_key,
            banner,
        }
    }

    async fn wait_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(channel) =
                tonic::transport::Channel::from_shared(format!("http://{}", self.grpc))
                    .unwrap()
                    .connect()
                    .await
            {
                let mut client = CatalogServiceClient::new(channel);
                let mut req = tonic::Request::new(GetToolkitRequest {
                    slug: "github".into(),
                });
                req.metadata_mut().insert(
                    "x-api-key",
                    MetadataValue::try_from(self.api_key.as_str()).unwrap(),
                );
                if client.get_toolkit(req).await.is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "switchboard dev at {} never served",
                self.grpc
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then the exit status. Async, so this test's own clients keep running and can
    /// answer the gateway's GOAWAY while it drains.
    async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("switchboard dev did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn dev_prints_a_working_key_stops_on_sigterm_and_keeps_the_key_across_restarts() {
    let prefixes = Prefixes::new();
    let data = tempfile::tempdir().unwrap();

    let first = Dev::start(&prefixes, data.path());
    assert!(first.banner.contains("(created)"), "{}", first.banner);
    assert!(first.api_key.starts_with("sk_"), "{}", first.banner);
    first.wait_serving().await;

    // The key works for the Sessions API.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", first.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let key = MetadataValue::try_from(first.api_key.as_str()).unwrap();
    let mut sessions =
        SessionServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("x-api-key", key.clone());
            Ok(r)
        });
    let created = sessions
        .create_session(CreateSessionRequest {
            user_id: "user_123".into(),
            config: None,
        })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();

    // The admin CLI finds the gateway and the token dev keeps.
    let out = prefixes
        .command(data.path())
        .args([
            "admin",
            "--gateway",
            &format!("http://{}", first.grpc),
            "create-project",
            "--name",
            "acme",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\tacme\t"));
    let wrong = prefixes
        .command(data.path())
        .args([
            "admin",
            "--gateway",
            &format!("http://{}", first.grpc),
            "--admin-token",
            "not-the-token-at-all",
            "list-projects",
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("Unauthenticated"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );

    // `sessions` keeps its connection open, as a backend would.
    let status = first.terminate().await;
    assert!(
        status.success(),
        "switchboard dev exited with {status} after SIGTERM"
    );
    // The key is kept; it is stored on disk only in the 0600 state file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("dev.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let second = Dev::start(&prefixes, data.path());
    assert!(
        second.banner.contains("(kept from the last run)"),
        "{}",
        second.banner
    );
    let first_key = created.id.clone();
    second.wait_serving().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", second.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let key = MetadataValue::try_from(second.api_key.as_str()).unwrap();
    let mut sessions =
        SessionServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("x-api-key", key.clone());
            Ok(r)
        });
    let listed = sessions
        .list_sessions(ListSessionsRequest {
            user_id: "user_123".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(
        listed.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![first_key]
    );
    let stopping = Instant::now();
    assert!(second.terminate().await.success());
    println!("second dev stopped {:?} after SIGTERM", stopping.elapsed());
    prefixes.cleanup().await;
}

#[tokio::test]
async fn a_broken_toolkit_file_stops_dev_with_the_file_tool_and_problem() {
    let prefixes = Prefixes::new();
    let data = tempfile::tempdir().unwrap();
    let toolkits = tempfile::tempdir().unwrap();
    std::fs::write(
        toolkits.path().join("demo.yaml"),
        "slug: demo\nname: Demo\ndescription: d\nbase_url: https://example.com\nauth: {schemes: [NO_AUTH]}\ntools:\n  - slug: DEMO_GET\n    name: Get\n    description: d\n    input_schema: {type: object, properties: {}}\n    output_schema: {type: object}\n    http: {method: GET, path: \"/things/{id}\"}\n",
    )
    .unwrap();
    let out = prefixes
        .command(data.path())
        .env("SWITCHBOARD_CATALOG__DIR", toolkits.path())
        .arg("dev")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("demo.yaml") && stderr.contains("DEMO_GET") && stderr.contains("\"id\""),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("gRPC"),
        "it must not start listening"
    );
    prefixes.cleanup().await;
}

#[test]
fn dump_config_shows_layers_and_hides_the_admin_token() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("c.toml");
    std::fs::write(
        &file,
        "[gateway]\ngrpc_addr = \"127.0.0.1:7001\"\nadmin_token = \"a-secret-admin-token-123\"\n",
    )
    .unwrap();
    let out = Prefixes::new()
        .command(data.path())
        .env("SWITCHBOARD_CONFIG", &file)
        .args([
            "--dump-config",
            "--set",
            "redis.key_prefix=from-flag",
            "dev",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // The environment sets grpc_addr to port 0 over the file; the flag wins over the env.
    assert!(text.contains("grpc_addr: 127.0.0.1:0"), "{text}");
    assert!(text.contains("key_prefix: from-flag"), "{text}");
    assert!(!text.contains("a-secret-admin-token-123"), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
}
