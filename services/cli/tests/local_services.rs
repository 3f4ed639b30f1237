//! `scripts/ensure-services.sh`, as on a newcomer's machine: a NATS that answers but has
//! JetStream off (what Debian's packaged service runs), a Redis that needs a password, a port
//! held by some other program. None of them is used or touched: private servers start on other
//! ports, `scripts/with-services.sh` points the platform at them, `switchboard dev` runs a tool
//! end to end through them, and `scripts/stop-services.sh` (`make stop`) stops exactly what the
//! script started.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_proto::v1::{
    session_service_client::SessionServiceClient, CreateSessionRequest, ExecuteToolRequest,
    ExecutionStatus,
};
use tonic::metadata::MetadataValue;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod common;
use common::{Dev, Prefixes, BIN};

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_millis(500),
    )
    .is_ok()
}

fn wait_open(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !port_open(port) {
        assert!(Instant::now() < deadline, "nothing answers on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// The Redis the rest of the suite uses; the script finds it usable.
fn test_redis_port() -> u16 {
    port_of(
        &std::env::var("SWITCHBOARD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
    )
}

/// A server process of the test's own, killed when dropped.
struct Server(Child);

impl Server {
    fn spawn(program: &str, args: &[&str], port: u16) -> Server {
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        wait_open(port);
        Server(child)
    }

    fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `SWITCHBOARD_LOCAL_DIR` of the test's own; what the script started there is stopped when
/// dropped, even when the test fails.
struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn new() -> Local {
        Local {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn ensure(&self, nats_port: u16, redis_port: u16) -> Output {
        let out = Command::new(scripts().join("ensure-services.sh"))
            .env("SWITCHBOARD_LOCAL_DIR", self.path())
            .env("NATS_PORT", nats_port.to_string())
            .env("REDIS_PORT", redis_port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ensure-services failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn stop(&self) -> Output {
        Command::new(scripts().join("stop-services.sh"))
            .env("SWITCHBOARD_LOCAL_DIR", self.path())
            .output()
            .unwrap()
    }

    /// What services.env says: SWITCHBOARD_LOCAL_NATS_URL, SWITCHBOARD_LOCAL_REDIS_URL.
    fn env(&self) -> HashMap<String, String> {
        std::fs::read_to_string(self.path().join("services.env"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_without_jetstream_is_left_alone_and_the_platform_runs_on_a_private_one() {
    // What Debian's nats-server package starts: host and port, no JetStream.
    let port = free_port();
    let mut plain = Server::spawn(
        "nats-server",
        &["-a", "127.0.0.1", "-p", &port.to_string()],
        port,
    );
    let local = Local::new();
    let out = local.ensure(port, test_redis_port());
    let log = said(&out);
    assert!(
        log.contains(&format!(
            "127.0.0.1:{port} is not usable as nats (no-jetstream)"
        )),
        "{log}"
    );
    let env = local.env();
    let nats = env["SWITCHBOARD_LOCAL_NATS_URL"].clone();
    let redis = env["SWITCHBOARD_LOCAL_REDIS_URL"].clone();
    let private = port_of(&nats);
    assert_ne!(private, port, "{log}");
    assert_eq!(port_of(&redis), test_redis_port(), "{log}");

    // `make run`: switchboard dev through the wrapper, which points it at what the script found.
    let provider = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/fact"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"fact": "42"})))
        .expect(1)
        .mount(&provider)
        .await;
    let catalog = switchboard_testkit::catalogs::catalog_with_extras();
    let prefixes = Prefixes::new();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = prefixes.command_without_servers(
        Command::new(scripts().join("with-services.sh")),
        data.path(),
    );
    cmd.arg(BIN)
        .arg("dev")
        .env("SWITCHBOARD_LOCAL_DIR", local.path())
        .env("SWITCHBOARD_CATALOG__DIR", catalog.path())
        .env("SWITCHBOARD_CATALOG__BASE_URLS__PUBLICAPI", provider.uri());
    let dev = Dev::spawn(cmd);
    dev.wait_serving().await;

    let channel = tonic::transport::Channel::from_shared(format!("http://{}", dev.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let key = MetadataValue::try_from(dev.api_key.as_str()).unwrap();
    let mut sessions =
        SessionServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("x-api-key", key.clone());
            Ok(r)
        });
    let session = sessions
        .create_session(CreateSessionRequest {
            user_id: "user_1".into(),
            config: None,
        })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    let execution = sessions
        .execute_tool(ExecuteToolRequest {
            session_id: session.id,
            tool_slug: "PUBLICAPI_GET_FACT".into(),
            arguments_json: "{}".into(),
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
    assert_eq!(
        switchboard_proto::value_to_json(execution.data.as_ref().unwrap()),
        json!({"fact": "42"})
    );
    // The job went through the private server's JetStream.
    let names = switchboard_bus::Names {
        stream_prefix: prefixes.stream.clone(),
        subject_prefix: prefixes.subject.clone(),
    };
    let bus = switchboard_bus::Bus::connect(&nats, names.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        bus.has_streams().await,
        "no job or event stream on the private NATS"
    );

    assert!(dev.terminate().await.success());
    prefixes.cleanup_on(&redis, &nats).await;
    provider.verify().await;

    // `make stop` stops the private server and leaves the other one (not ours) running.
    let stopped = local.stop();
    assert!(stopped.status.success(), "{}", said(&stopped));
    assert!(said(&stopped).contains(&format!("stopping nats-{private}")));
    assert!(!port_open(private), "the private NATS still answers");
    assert!(
        plain.running() && port_open(port),
        "a server make did not start was stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_needs_a_password_and_a_port_held_by_another_program_are_not_used() {
    let redis_port = free_port();
    let mut locked = Server::spawn(
        "redis-server",
        &[
            "--bind",
            "127.0.0.1",
            "--port",
            &redis_port.to_string(),
            "--requirepass",
            "not-ours-to-use",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        redis_port,
    );
    // Some other program on the NATS port: it accepts connections and says nothing.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();

    let local = Local::new();
    let log = said(&local.ensure(other_port, redis_port));
    assert!(
        log.contains(&format!(
            "127.0.0.1:{redis_port} is not usable as redis (auth)"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "127.0.0.1:{other_port} is not usable as nats (not-nats)"
        )),
        "{log}"
    );
    let env = local.env();
    let (nats, redis) = (
        env["SWITCHBOARD_LOCAL_NATS_URL"].clone(),
        env["SWITCHBOARD_LOCAL_REDIS_URL"].clone(),
    );
    assert_ne!(port_of(&nats), other_port);
    assert_ne!(port_of(&redis), redis_port);

    // Both are usable as the platform uses them: JetStream streams, Redis writes.
    let store = switchboard_store::Store::connect(&redis, "sbt-local")
        .await
        .unwrap();
    assert!(store.ping().await);
    let names = switchboard_bus::Names {
        stream_prefix: "SBT_LOCAL".into(),
        subject_prefix: "sbtlocal".into(),
    };
    let bus = switchboard_bus::Bus::connect(&nats, names, Duration::from_secs(5))
        .await
        .unwrap();
    bus.ensure_streams(100, 1).await.unwrap();

    // A second run finds the private servers it started and keeps them.
    let again = said(&local.ensure(other_port, redis_port));
    assert!(again.contains("started earlier"), "{again}");
    assert_eq!(local.env()["SWITCHBOARD_LOCAL_NATS_URL"], nats);
    assert_eq!(local.env()["SWITCHBOARD_LOCAL_REDIS_URL"], redis);

    let stopped = local.stop();
    assert!(stopped.status.success(), "{}", said(&stopped));
    assert!(!port_open(port_of(&nats)) && !port_open(port_of(&redis)));
    assert!(locked.running() && port_open(redis_port));
    assert!(!local.path().join("services.env").exists());
    drop(other);
}
