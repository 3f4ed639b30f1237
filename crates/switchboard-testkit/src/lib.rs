//! The test kit: [`Stack::spawn`] starts the gateway in-process on port 0 against the real
//! Redis and NATS on loopback, with a private Redis key prefix and NATS stream/subject prefix,
//! so tests run in parallel without seeing each other. `TEST_LOG=1` turns logs on.
//!
//! Environment: `SWITCHBOARD_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) and
//! `SWITCHBOARD_TEST_NATS_URL` (default `nats://127.0.0.1:4222`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use switchboard_config::Config;
use switchboard_core::time::Clock;
use switchboard_proto::v1::{
    admin_service_client::AdminServiceClient, catalog_service_client::CatalogServiceClient,
    session_service_client::SessionServiceClient, CreateApiKeyRequest, CreateProjectRequest,
};
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use switchboard_core::error::status_reason;

pub mod build;
pub mod calls;
pub mod catalogs;
pub mod inspect;
pub mod oauth_provider;
pub mod pki;
pub mod procs;
pub mod triggers;
pub mod workers;

pub use build::*;
pub use calls::*;

/// Adds a bearer credential to every call.
#[derive(Clone)]
pub struct Bearer(pub Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Sessions = SessionServiceClient<InterceptedService<Channel, Bearer>>;
pub type Catalog = CatalogServiceClient<InterceptedService<Channel, Bearer>>;
pub type Triggers = switchboard_proto::v1::trigger_service_client::TriggerServiceClient<
    InterceptedService<Channel, Bearer>,
>;
pub type Admin = AdminServiceClient<InterceptedService<Channel, Bearer>>;
pub type Connections = switchboard_proto::v1::connection_service_client::ConnectionServiceClient<
    InterceptedService<Channel, Bearer>,
>;

/// A project with one API key.
#[derive(Clone, Debug)]
pub struct TestProject {
    pub id: String,
    pub api_key: String,
    pub key_id: String,
}

/// A running gateway with private prefixes.
pub struct Stack {
    pub config: Config,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub channel: Channel,
    /// The gateway's clock: [`Clock::advance`] it to make Connect Links expire without waiting.
    pub clock: Clock,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), switchboard_gateway::GatewayError>>>,
}

/// Starts a process's way: [`Platform::connect`] for `config`, then the gateway on it.
pub async fn run_gateway(
    config: Config,
    listeners: switchboard_gateway::Listeners,
    shutdown: CancellationToken,
) -> Result<(), switchboard_gateway::GatewayError> {
    run_gateway_on_clock(config, listeners, shutdown, Clock::system()).await
}

/// [`run_gateway`] deciding expiry by `clock`.
pub async fn run_gateway_on_clock(
    config: Config,
    listeners: switchboard_gateway::Listeners,
    shutdown: CancellationToken,
    clock: Clock,
) -> Result<(), switchboard_gateway::GatewayError> {
    let platform = switchboard_platform::Platform::connect(config)
        .await?
        .with_clock(clock);
    switchboard_gateway::run(platform, listeners, shutdown).await
}

/// The catalog the kit's stacks load: the hand-written toolkits of `toolkits/` (github,
/// gmail, slack, linear, notion with their triggers and OAuth blocks), whose tools the shipped
/// catalog holds unchanged. The full generated catalog (`toolkits/*.yaml`, 40 toolkits and
/// ~4,600 tools) takes seconds to load in a debug build, too long for the ~150 stacks of a test
/// run; `switchboard-catalog`'s `full_catalog` test loads and searches it.
pub fn toolkits_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../toolkits")
}

/// A config for a private stack: port 0, unique prefixes, the workspace catalog.
pub fn test_config() -> Config {
    let unique = ulid::Ulid::new().to_string().to_lowercase();
    let mut config = Config::default();
    config.gateway.grpc_addr = "127.0.0.1:0".into();
    config.gateway.http_addr = "127.0.0.1:0".into();
    config.gateway.admin_token = Some(format!("admin-{unique}"));
    config.redis.url = std::env::var("SWITCHBOARD_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    config.redis.key_prefix = format!("sbt-{unique}");
    config.nats.url = std::env::var("SWITCHBOARD_TEST_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    // `scripts/clusters.sh test` points the suite at a 3-node NATS cluster (streams R3) and a
    // 3-master Redis Cluster with these.
    if let Some(replicas) = std::env::var("SWITCHBOARD_TEST_NATS_REPLICAS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.nats.replicas = replicas;
    }
    config.redis.cluster = std::env::var("SWITCHBOARD_TEST_REDIS_CLUSTER").is_ok_and(|v| v == "1");
    config.nats.stream_prefix = format!("SBT_{}", unique.to_uppercase());
    config.nats.subject_prefix = format!("sbt{unique}");
    config.catalog.dir = toolkits_dir();
    config
        .crypto
        .keys
        .insert("test".into(), switchboard_crypto::generate_key());
    config.crypto.current_key = "test".into();
    config
}

fn init_logs() {
    // The guard lives as long as the test binary: dropping it would shut tracing down.
    static GUARD: std::sync::OnceLock<Option<switchboard_telemetry::Guard>> =
        std::sync::OnceLock::new();
    GUARD.get_or_init(|| {
        std::env::var("TEST_LOG").is_ok_and(|v| v == "1").then(|| {
            switchboard_telemetry::init(&switchboard_config::TelemetryConfig {
                log_filter: "debug,h2=info,tower=info,hyper=info,async_nats=info".into(),
                ..Default::default()
            })
        })
    });
}

impl Stack {
    /// Starts a gateway with [`test_config`].
    pub async fn spawn() -> Stack {
        Stack::spawn_with(test_config()).await
    }

    /// Starts a gateway with `config` (listeners on its addresses).
    pub async fn spawn_with(config: Config) -> Stack {
        init_logs();
        let listeners = switchboard_gateway::Listeners::bind(&config)
            .await
            .expect("bind listeners");
        let grpc_addr = listeners.grpc_addr().expect("grpc addr");
        let http_addr = listeners.http_addr().expect("http addr");
        let shutdown = CancellationToken::new();
        let clock = Clock::adjustable();
        let task = tokio::spawn(run_gateway_on_clock(
            config.clone(),
            listeners,
            shutdown.clone(),
            clock.clone(),
        ));
        let channel = Channel::from_shared(format!("http://{grpc_addr}"))
            .expect("uri")
            .connect_lazy();
        let stack = Stack {
            config,
            grpc_addr,
            http_addr,
            channel,
            clock,
            shutdown,
            task: Some(task),
        };
        stack.wait_ready().await;
        stack
    }

    async fn wait_ready(&self) {
        let url = format!("http://{}/readyz", self.http_addr);
        for _ in 0..200 {
            if let Some(task) = &self.task {
                assert!(!task.is_finished(), "gateway exited during start-up");
            }
            if http_get(&url)
                .await
                .is_some_and(|(status, _)| status == 200)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gateway did not become ready at {url}");
    }

    fn bearer(token: Option<&str>) -> Bearer {
        Bearer(token.map(|t| format!("Bearer {t}").parse().expect("ascii token")))
    }

    /// Session API as the holder of `api_key` (None: no credential).
    pub fn sessions(&self, api_key: Option<&str>) -> Sessions {
        sessions_on(self.channel.clone(), api_key)
    }

    /// Connection API (auth configs, connected accounts) as the holder of `api_key`.
    pub fn triggers(&self, api_key: Option<&str>) -> Triggers {
        switchboard_proto::v1::trigger_service_client::TriggerServiceClient::with_interceptor(
            self.channel.clone(),
            Stack::bearer(api_key),
        )
    }

    pub fn connections(&self, api_key: Option<&str>) -> Connections {
        switchboard_proto::v1::connection_service_client::ConnectionServiceClient::with_interceptor(
            self.channel.clone(),
            Stack::bearer(api_key),
        )
    }

    pub fn catalog(&self, api_key: Option<&str>) -> Catalog {
        CatalogServiceClient::with_interceptor(self.channel.clone(), Stack::bearer(api_key))
    }

    /// Admin API with the stack's admin token.
    pub fn admin(&self) -> Admin {
        self.admin_with(self.config.gateway.admin_token.as_deref())
    }

    pub fn admin_with(&self, token: Option<&str>) -> Admin {
        AdminServiceClient::with_interceptor(self.channel.clone(), Stack::bearer(token))
    }

    /// Starts a gateway with [`test_config`] and one project: the stack, the project, and the
    /// session API as the holder of the project's key.
    pub async fn spawn_sessions() -> (Stack, TestProject, Sessions) {
        let stack = Stack::spawn().await;
        let p = stack.project().await;
        let s = stack.sessions(Some(&p.api_key));
        (stack, p, s)
    }

    /// Like [`Stack::spawn_sessions`], with the catalog API as the holder of the project's key.
    pub async fn spawn_catalog() -> (Stack, TestProject, Catalog) {
        let stack = Stack::spawn().await;
        let p = stack.project().await;
        let catalog = stack.catalog(Some(&p.api_key));
        (stack, p, catalog)
    }

    /// The name of the meta tool `action` (`SEARCH_TOOLS`, …) with the configured prefix.
    pub fn meta_tool(&self, action: &str) -> String {
        format!("{}{action}", self.config.sessions.meta_tool_prefix)
    }

    /// Creates a project and an API key through the admin API.
    pub async fn project(&self) -> TestProject {
        let mut admin = self.admin();
        let project = admin
            .create_project(CreateProjectRequest {
                name: "test".into(),
            })
            .await
            .expect("create project")
            .into_inner()
            .project
            .expect("project");
        let key = admin
            .create_api_key(CreateApiKeyRequest {
                project_id: project.id.clone(),
                name: "test".into(),
            })
            .await
            .expect("create key")
            .into_inner();
        TestProject {
            id: project.id,
            api_key: key.secret,
            key_id: key.api_key.expect("key").id,
        }
    }

    /// A store handle on the stack's Redis prefix, to inspect what was written.
    pub async fn store(&self) -> switchboard_store::Store {
        switchboard_store::Store::from_config(&self.config.redis)
            .await
            .expect("store")
    }

    /// Number of Redis keys under the stack's prefix.
    pub async fn key_count(&self) -> usize {
        self.keys().await.len()
    }

    /// The Redis keys under the stack's prefix, as SCAN gives them (on every node of a
    /// cluster: the test config lists all its masters).
    pub async fn keys(&self) -> Vec<String> {
        let mut all = Vec::new();
        for url in self.config.redis.url.split(',') {
            all.extend(scan_node(&self.config.redis, url.trim(), false).await);
        }
        all
    }

    /// Stops the gateway and leaves what it stored: for a second gateway on the same prefixes
    /// as another stack that is stopped (and purges) later.
    pub async fn stop_keep_data(mut self) {
        self.stop_gateway().await;
    }

    async fn stop_gateway(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(10), task).await;
            assert!(
                matches!(result, Ok(Ok(Ok(())))),
                "gateway did not stop cleanly: {result:?}"
            );
        }
    }

    /// Stops the gateway and removes everything under the stack's prefixes.
    pub async fn stop(mut self) {
        self.stop_gateway().await;
        for url in self.config.redis.url.split(',') {
            scan_node(&self.config.redis, url.trim(), true).await;
        }
        if let Ok(bus) =
            switchboard_bus::Bus::from_config(&self.config.nats, Duration::from_secs(5)).await
        {
            bus.delete_streams().await;
        }
    }
}

/// The keys under `redis.key_prefix` on the Redis node at `url` (unlinked when `delete`), with
/// the TLS settings of `redis`.
async fn scan_node(
    redis: &switchboard_config::RedisConfig,
    url: &str,
    delete: bool,
) -> Vec<String> {
    let prefix = &redis.key_prefix;
    let Ok(client) = switchboard_store::client_for(redis, url) else {
        return Vec::new();
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return Vec::new();
    };
    let mut cursor: u64 = 0;
    let mut all = Vec::new();
    loop {
        let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis_cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
        else {
            return all;
        };
        if delete {
            for key in &keys {
                let _: Result<i64, _> = redis_cmd("UNLINK").arg(key).query_async(&mut conn).await;
            }
        }
        all.extend(keys);
        if next == 0 {
            return all;
        }
        cursor = next;
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Session API over `channel` as the holder of `api_key` (None: no credential).
pub fn sessions_on(channel: Channel, api_key: Option<&str>) -> Sessions {
    SessionServiceClient::with_interceptor(channel, Stack::bearer(api_key))
}

/// A channel to `addr` on a connection of its own, connected before it is returned.
pub async fn connect(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

pub use redis_shim::{redis_client, redis_cmd};

/// A plain NATS client on the stack's servers (one URL, or a cluster's comma-separated seeds).
pub async fn nats_client(urls: &str) -> async_nats::Client {
    let servers: Vec<async_nats::ServerAddr> = urls
        .split(',')
        .map(|u| u.trim().parse().expect("nats url"))
        .collect();
    async_nats::connect(servers).await.expect("connect to NATS")
}

/// The messages the job stream of `nats`'s prefix holds now (a worker's ack removes one).
pub async fn jobs_held(nats: &switchboard_config::NatsConfig) -> u64 {
    let jetstream = async_nats::jetstream::new(nats_client(&nats.url).await);
    let names = switchboard_bus::Names::from_config(nats);
    let mut stream = jetstream
        .get_stream(names.jobs_stream())
        .await
        .expect("the job stream exists");
    stream.info().await.expect("stream info").state.messages
}

mod redis_shim {
    //! Raw Redis access for tests, through the store crate's dependency.
    pub fn redis_client(url: &str) -> switchboard_store::redis::Client {
        switchboard_store::redis::Client::open(url).expect("redis url")
    }
    pub fn redis_cmd(name: &str) -> switchboard_store::redis::Cmd {
        switchboard_store::redis::cmd(name)
    }
}

/// A minimal HTTP/1.1 GET over a raw TCP stream: (status, body). None when nothing answers.
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// The reason and field of an error status, asserting its code.
pub fn expect_error(status: &tonic::Status, code: tonic::Code) -> (String, String) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let (reason, field) = status_reason(status);
    (reason.unwrap_or_default(), field.unwrap_or_default())
}

/// Asserts that `status` refuses with `code`, `reason` and `field` (empty: no field), naming
/// the case `what` when it does not.
pub fn assert_refused(
    status: &tonic::Status,
    code: tonic::Code,
    reason: &str,
    field: &str,
    what: &str,
) {
    assert_eq!(status.code(), code, "{what}: {status:?}");
    let (got_reason, got_field) = status_reason(status);
    assert_eq!(got_reason.as_deref(), Some(reason), "{what}");
    assert_eq!(got_field.unwrap_or_default(), field, "{what}");
}

#[cfg(test)]
mod tests {
    /// The kit's stacks load the workspace's curated catalog: `test_config` points at
    /// `toolkits/` wherever this crate sits in the workspace.
    #[test]
    fn test_config_points_at_the_workspace_toolkits() {
        let dir = super::test_config().catalog.dir;
        let yaml = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|x| x == "yaml"))
            .count();
        assert!(yaml > 0, "no toolkit file in {}", dir.display());
    }
}
