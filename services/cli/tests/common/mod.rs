//! The `switchboard dev` process harness the CLI's process tests share: unique prefixes, the
//! command with a clean environment, the banner it prints, SIGTERM.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_proto::v1::{catalog_service_client::CatalogServiceClient, GetToolkitRequest};
use tonic::metadata::MetadataValue;

pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

pub struct Prefixes {
    pub redis: String,
    pub stream: String,
    pub subject: String,
}

impl Prefixes {
    pub fn new() -> Prefixes {
        let u = ulid::Ulid::new().to_string().to_lowercase();
        Prefixes {
            redis: format!("sbt-dev-{u}"),
            stream: format!("SBT_DEV_{}", u.to_uppercase()),
            subject: format!("sbtdev{u}"),
        }
    }

    /// `switchboard` with this test's prefixes and the test NATS and Redis.
    pub fn command(&self, data_dir: &Path) -> Command {
        let mut cmd = self.command_without_servers(Command::new(BIN), data_dir);
        if let Ok(url) = std::env::var("SWITCHBOARD_TEST_REDIS_URL") {
            cmd.env("SWITCHBOARD_REDIS__URL", url);
        }
        if let Ok(url) = std::env::var("SWITCHBOARD_TEST_NATS_URL") {
            cmd.env("SWITCHBOARD_NATS__URL", url);
        }
        cmd
    }

    /// `cmd` (switchboard, or a wrapper that runs it) with a clean environment, this test's
    /// prefixes and free ports, and no NATS or Redis address.
    pub fn command_without_servers(&self, mut cmd: Command, data_dir: &Path) -> Command {
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
        cmd
    }

    /// Deletes this test's keys and streams on the test NATS and Redis.
    pub async fn cleanup(&self) {
        let redis = std::env::var("SWITCHBOARD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let nats = std::env::var("SWITCHBOARD_TEST_NATS_URL")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        self.cleanup_on(&redis, &nats).await;
    }

    /// Deletes this test's keys and streams on the given NATS and Redis.
    pub async fn cleanup_on(&self, redis: &str, nats: &str) {
        if let Ok(store) = switchboard_store::Store::connect(redis, &self.redis).await {
            let _ = store.purge_prefix().await;
        }
        let names = switchboard_bus::Names {
            stream_prefix: self.stream.clone(),
            subject_prefix: self.subject.clone(),
        };
        if let Ok(bus) = switchboard_bus::Bus::connect(nats, names, Duration::from_secs(5)).await {
            bus.delete_streams().await;
        }
    }
}

/// A running `switchboard dev` and what it printed.
pub struct Dev {
    pub child: Child,
    pub grpc: String,
    pub api_key: String,
    pub banner: String,
}

impl Dev {
    pub fn start(prefixes: &Prefixes, data_dir: &Path) -> Dev {
        let mut cmd = prefixes.command(data_dir);
        cmd.arg("dev");
        Dev::spawn(cmd)
    }

    /// Spawns `cmd` (which runs `switchboard dev`) and reads its banner.
    pub fn spawn(mut cmd: Command) -> Dev {
        let mut child = cmd
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

    pub async fn wait_serving(&self) {
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
    pub async fn terminate(mut self) -> std::process::ExitStatus {
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
