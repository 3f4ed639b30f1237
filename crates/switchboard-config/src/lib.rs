//! Layered configuration shared by every service: defaults → file (TOML or YAML) →
//! `SWITCHBOARD_*` environment (`__` separates levels) → flags → [`Config::validate`].
//!
//! Tests pass the environment as a map ([`Sources::env`]) instead of touching the process
//! environment.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to load configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {field}: {problem}")]
    Invalid { field: String, problem: String },
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub gateway: GatewayConfig,
    pub nats: NatsConfig,
    pub redis: RedisConfig,
    pub catalog: CatalogConfig,
    pub sessions: SessionsConfig,
    pub telemetry: TelemetryConfig,
    pub dev: DevConfig,
    pub crypto: CryptoConfig,
    pub executions: ExecutionsConfig,
    pub worker: WorkerConfig,
    pub oauth: OAuthConfig,
    pub triggers: TriggersConfig,
    /// Seconds a service may take to finish in-flight work after SIGTERM.
    pub shutdown_grace_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            gateway: GatewayConfig::default(),
            nats: NatsConfig::default(),
            redis: RedisConfig::default(),
            catalog: CatalogConfig::default(),
            sessions: SessionsConfig::default(),
            telemetry: TelemetryConfig::default(),
            dev: DevConfig::default(),
            crypto: CryptoConfig::default(),
            executions: ExecutionsConfig::default(),
            worker: WorkerConfig::default(),
            oauth: OAuthConfig::default(),
            triggers: TriggersConfig::default(),
            shutdown_grace_secs: 30,
        }
    }
}

/// The gateway's listeners and operator settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// gRPC listen address (port 0 picks a free port).
    pub grpc_addr: String,
    /// HTTP listen address: health, MCP, Connect Links, OAuth callback.
    pub http_addr: String,
    /// Public base URL of the HTTP side, used in MCP URLs and Connect Links. Default: derived
    /// from the bound HTTP address.
    pub public_url: Option<String>,
    /// Token that guards AdminService. Admin calls are refused while it is unset.
    pub admin_token: Option<String>,
    /// TLS on the gRPC listener (the HTTP side is unaffected). Default: plain text.
    pub tls: ServerTlsConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            grpc_addr: "127.0.0.1:50051".into(),
            http_addr: "127.0.0.1:8080".into(),
            public_url: None,
            admin_token: None,
            tls: ServerTlsConfig::default(),
        }
    }
}

/// NATS JetStream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// One server URL, or several separated by commas (a cluster's seed servers).
    pub url: String,
    /// Prefix of stream names (`<prefix>_JOBS`, `<prefix>_EVENTS`).
    pub stream_prefix: String,
    /// Prefix of subjects (`<prefix>.jobs.<toolkit>`).
    pub subject_prefix: String,
    /// Copies of each JetStream stream (1, or 3 on a 3-node cluster).
    pub replicas: usize,
    /// TLS towards the servers. `tls://` URLs always use TLS (trusting the system's roots
    /// unless `ca_file` is set); with any file set here TLS is required for `nats://` URLs too.
    pub tls: ClientTlsConfig,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            stream_prefix: "SB".into(),
            subject_prefix: "sb".into(),
            replicas: 1,
            tls: ClientTlsConfig::default(),
        }
    }
}

/// Redis.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// One server URL; with `cluster`, one or more seed nodes separated by commas.
    pub url: String,
    /// Prefix of every key (`<prefix>:{prj_…}:…`).
    pub key_prefix: String,
    /// Talk to a Redis Cluster (a project's keys share one hash slot).
    pub cluster: bool,
    /// TLS towards the server(s): `rediss://` URLs use TLS, trusting the bundled web PKI roots
    /// unless `ca_file` is set. Any file set here needs `rediss://` URLs.
    pub tls: ClientTlsConfig,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "sb".into(),
            cluster: false,
            tls: ClientTlsConfig::default(),
        }
    }
}

/// TLS towards a server (Redis, NATS): which certificate authority to trust, and the client
/// certificate to present to a server that asks for one (mutual TLS). Files are PEM, read at
/// start; a missing or unreadable one stops the service with an error naming the setting.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTlsConfig {
    /// CA certificate(s) that signed the server's certificate, trusted instead of the default
    /// roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Client certificate (chain) to present; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key; needs `cert_file`.
    pub key_file: Option<PathBuf>,
}

impl ClientTlsConfig {
    /// Whether any file is set.
    pub fn is_set(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Reads the files; `section` is where these settings live (`redis.tls`), for errors.
    pub fn load(&self, section: &str) -> Result<ClientTlsFiles, ConfigError> {
        let ca = self
            .ca_file
            .as_deref()
            .map(|path| read_pem(&format!("{section}.ca_file"), path, "CERTIFICATE"))
            .transpose()?;
        let identity = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some(Identity {
                cert: read_pem(&format!("{section}.cert_file"), cert, "CERTIFICATE")?,
                key: read_pem(&format!("{section}.key_file"), key, "PRIVATE KEY")?,
            }),
            (None, None) => None,
            (Some(_), None) => return Err(invalid_pair(section, "key_file")),
            (None, Some(_)) => return Err(invalid_pair(section, "cert_file")),
        };
        Ok(ClientTlsFiles { ca, identity })
    }
}

/// TLS on a listener: the server's own certificate, and optionally a CA whose certificates
/// clients must present (mutual TLS). Files are PEM, read at start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// The server's certificate (chain). With `key_file`, the listener serves TLS only.
    pub cert_file: Option<PathBuf>,
    /// The server certificate's private key.
    pub key_file: Option<PathBuf>,
    /// CA certificate(s): when set, every client must present a certificate signed by it.
    pub client_ca_file: Option<PathBuf>,
}

impl ServerTlsConfig {
    /// Whether the listener serves TLS.
    pub fn is_enabled(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Reads the files (None: plain text); `section` is where these settings live.
    pub fn load(&self, section: &str) -> Result<Option<ServerTlsFiles>, ConfigError> {
        let identity = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Identity {
                cert: read_pem(&format!("{section}.cert_file"), cert, "CERTIFICATE")?,
                key: read_pem(&format!("{section}.key_file"), key, "PRIVATE KEY")?,
            },
            (None, None) if self.client_ca_file.is_some() => {
                return Err(ConfigError::Invalid {
                    field: format!("{section}.client_ca_file"),
                    problem: "needs cert_file and key_file (the server's own certificate)".into(),
                })
            }
            (None, None) => return Ok(None),
            (Some(_), None) => return Err(invalid_pair(section, "key_file")),
            (None, Some(_)) => return Err(invalid_pair(section, "cert_file")),
        };
        let client_ca = self
            .client_ca_file
            .as_deref()
            .map(|path| read_pem(&format!("{section}.client_ca_file"), path, "CERTIFICATE"))
            .transpose()?;
        Ok(Some(ServerTlsFiles {
            identity,
            client_ca,
        }))
    }
}

/// A certificate (chain) and its private key, PEM. Debug output never shows the key.
#[derive(Clone)]
pub struct Identity {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cert", &format_args!("{} bytes", self.cert.len()))
            .field("key", &"<redacted>")
            .finish()
    }
}

/// What [`ClientTlsConfig::load`] read.
#[derive(Debug, Clone)]
pub struct ClientTlsFiles {
    /// CA certificates (PEM) to trust instead of the default roots.
    pub ca: Option<Vec<u8>>,
    /// The client certificate and key.
    pub identity: Option<Identity>,
}

/// What [`ServerTlsConfig::load`] read.
#[derive(Debug, Clone)]
pub struct ServerTlsFiles {
    pub identity: Identity,
    /// CA certificates (PEM) that client certificates must chain to.
    pub client_ca: Option<Vec<u8>>,
}

fn invalid_pair(section: &str, missing: &str) -> ConfigError {
    ConfigError::Invalid {
        field: format!("{section}.{missing}"),
        problem: "cert_file and key_file must be set together".into(),
    }
}

/// Reads the PEM file that the setting `field` names and checks that it holds a `label` block
/// (`CERTIFICATE`, `PRIVATE KEY`). Its content never appears in an error. Start-up only: a
/// blocking read of a small file.
pub fn read_pem(field: &str, path: &Path, label: &str) -> Result<Vec<u8>, ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid {
        field: field.to_owned(),
        problem,
    };
    let bytes =
        std::fs::read(path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let has_block = String::from_utf8_lossy(&bytes)
        .lines()
        .any(|line| line.starts_with("-----BEGIN ") && line.contains(label));
    if !has_block {
        return Err(invalid(format!(
            "{} holds no PEM {label} block",
            path.display()
        )));
    }
    Ok(bytes)
}

/// The toolkit catalog.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// Directory of toolkit files.
    pub dir: PathBuf,
    /// Base URL per toolkit slug, replacing the toolkit file's (e.g. a proxy or a stand-in).
    pub base_urls: BTreeMap<String, String>,
    /// Most custom toolkits (CatalogService.CreateToolkit) one project may have.
    pub custom_toolkits_per_project: usize,
    /// Most tools one custom toolkit may have.
    pub custom_toolkit_max_tools: usize,
    /// Let custom toolkits call loopback, private and link-local addresses (and plain http):
    /// only for a deployment whose projects call its own network, or for tests.
    pub allow_private_base_urls: bool,
    /// How old a replica's copy of a project's custom toolkits may get before it is checked
    /// against the store even without a change announced on the bus (milliseconds).
    pub custom_toolkits_recheck_ms: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            dir: PathBuf::from("toolkits"),
            base_urls: BTreeMap::new(),
            custom_toolkits_per_project: 20,
            custom_toolkit_max_tools: 500,
            allow_private_base_urls: false,
            custom_toolkits_recheck_ms: 2000,
        }
    }
}

/// Session behaviour.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Prefix of meta tool names.
    pub meta_tool_prefix: String,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            meta_tool_prefix: "SWITCHBOARD_".into(),
        }
    }
}

/// Log output and trace export.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `pretty` or `json`.
    pub log_format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info,switchboard_gateway=debug`.
    pub log_filter: String,
    /// OTLP/gRPC collector that receives traces, an http(s) URL such as
    /// `http://127.0.0.1:4317` (`https://` uses TLS with the bundled web PKI roots). Unset (the
    /// default): traces are not exported, but every span still gets real W3C trace and span ids,
    /// which travel to the workers in the job's `traceparent` header and are stored as the
    /// execution's `trace_id`.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_format: LogFormat::Pretty,
            log_filter: "info".into(),
            otlp_endpoint: None,
        }
    }
}

/// Log format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `switchboard dev`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DevConfig {
    /// Where the development project's id and API key are kept across restarts.
    pub data_dir: PathBuf,
}

impl Default for DevConfig {
    fn default() -> Self {
        DevConfig {
            data_dir: PathBuf::from(".switchboard"),
        }
    }
}

/// Sealing keys for credentials at rest (AES-256-GCM).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct CryptoConfig {
    /// Key id → 32 random bytes, base64. Keep old keys while values sealed with them remain.
    pub keys: BTreeMap<String, String>,
    /// The key new values are sealed with.
    pub current_key: String,
}

/// Tool executions at the gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionsConfig {
    /// Sync deadline when the call gives none, in milliseconds.
    pub default_timeout_ms: u32,
    /// Largest sync deadline a call may ask for.
    pub max_timeout_ms: u32,
    /// Most jobs the job stream holds; past it new calls get RESOURCE_EXHAUSTED.
    pub max_queued_jobs: i64,
    /// Largest arguments document, in bytes.
    pub max_argument_bytes: usize,
}

impl Default for ExecutionsConfig {
    fn default() -> Self {
        ExecutionsConfig {
            default_timeout_ms: 30_000,
            max_timeout_ms: 300_000,
            max_queued_jobs: 100_000,
            max_argument_bytes: 1 << 20,
        }
    }
}

/// The worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Jobs one worker runs at once.
    pub concurrency: usize,
    /// Seconds before an unacknowledged job is redelivered (in-progress acks extend it).
    pub ack_wait_secs: u64,
    /// Deliveries of one job before it is given up.
    pub max_deliver: i64,
    /// Timeout of one provider call, in milliseconds.
    pub provider_timeout_ms: u64,
    /// Retries of an idempotent tool after 429 or 5xx.
    pub max_retries: u32,
    /// Where the worker serves Prometheus `/metrics` (none when unset; `switchboard dev`
    /// serves every service's metrics on the gateway's HTTP side).
    pub metrics_addr: Option<String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 64,
            ack_wait_secs: 30,
            max_deliver: 5,
            provider_timeout_ms: 30_000,
            max_retries: 3,
            metrics_addr: None,
        }
    }
}

/// OAuth 2.0: Connect Links, token refresh, and per toolkit the platform's managed app and
/// endpoint overrides.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthConfig {
    /// How long a Connect Link (and its OAuth `state`) works, in seconds.
    pub link_ttl_secs: u64,
    /// A token is refreshed when it expires within this many seconds.
    pub refresh_margin_secs: u64,
    /// Timeout of one call to a token, identity or revocation endpoint, in milliseconds.
    pub timeout_ms: u64,
    /// Toolkit slug → managed app credentials and endpoint overrides.
    pub providers: BTreeMap<String, OAuthProviderConfig>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            link_ttl_secs: 600,
            refresh_margin_secs: 300,
            timeout_ms: 10_000,
            providers: BTreeMap::new(),
        }
    }
}

/// The triggers service: webhook intake, polling, outgoing webhooks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TriggersConfig {
    /// Where the triggers service takes provider webhooks.
    pub http_addr: String,
    /// The URL providers post to (GitHub hooks are registered with it); default
    /// `http://<http_addr>`.
    pub public_url: Option<String>,
    /// The Slack app's signing secret (Events API requests are verified with it).
    pub slack_signing_secret: Option<String>,
    /// Seconds a polling lease lasts: another listener takes a trigger over within this.
    pub poll_lease_secs: u64,
    /// Consecutive failed deliveries before an outgoing webhook subscription is disabled.
    pub webhook_max_failures: u32,
    /// Timeout of one outgoing webhook delivery, in milliseconds.
    pub webhook_timeout_ms: u64,
    /// Accept `http://` webhook targets on loopback (tests and local development only).
    pub allow_loopback_webhooks: bool,
    /// Caps every polling trigger's interval, in seconds (development and tests; unset in
    /// production).
    pub max_poll_interval_secs: Option<u64>,
}

impl Default for TriggersConfig {
    fn default() -> Self {
        TriggersConfig {
            http_addr: "127.0.0.1:8090".into(),
            public_url: None,
            slack_signing_secret: None,
            poll_lease_secs: 15,
            webhook_max_failures: 5,
            webhook_timeout_ms: 5_000,
            allow_loopback_webhooks: false,
            max_poll_interval_secs: None,
        }
    }
}

impl TriggersConfig {
    /// The base URL providers post to.
    pub fn public_base(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.http_addr))
            .trim_end_matches('/')
            .to_owned()
    }
}

/// One toolkit's OAuth settings on this server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthProviderConfig {
    /// The platform's managed app: auth configs without their own client use it.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Replace the catalog's endpoints (a provider's enterprise host, or a test stand-in).
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub revoke_url: Option<String>,
}

/// An empty path (e.g. a variable set to nothing) is an error naming the setting.
fn check_tls_files(section: &str, files: &[(&str, &Option<PathBuf>)]) -> Result<(), ConfigError> {
    for (name, file) in files {
        if file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
            return Err(ConfigError::Invalid {
                field: format!("{section}.{name}"),
                problem: "must be a file path".into(),
            });
        }
    }
    Ok(())
}

fn invalid(field: &str, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

fn check_socket_addr(field: &str, addr: &str) -> Result<(), ConfigError> {
    addr.parse::<std::net::SocketAddr>()
        .map(|_| ())
        .map_err(|_| invalid(field, "must be an ip:port socket address"))
}

fn check_http_url(field: &str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(field, "must be an http(s) URL"))
    }
}

/// The first URL of a comma-separated list that has none of `schemes`.
fn bad_url<'a>(urls: &'a str, schemes: &[&str]) -> Option<&'a str> {
    urls.split(',')
        .map(str::trim)
        .find(|u| !schemes.iter().any(|s| u.starts_with(s)))
}

/// `cert_file` and `key_file` come together.
fn check_pair(
    section: &str,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
) -> Result<(), ConfigError> {
    match (cert.is_some(), key.is_some()) {
        (true, false) => Err(invalid_pair(section, "key_file")),
        (false, true) => Err(invalid_pair(section, "cert_file")),
        _ => Ok(()),
    }
}

impl GatewayConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_socket_addr("gateway.grpc_addr", &self.grpc_addr)?;
        check_socket_addr("gateway.http_addr", &self.http_addr)?;
        if let Some(url) = &self.public_url {
            check_http_url("gateway.public_url", url)?;
        }
        if self.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(invalid(
                "gateway.admin_token",
                "must be at least 16 characters",
            ));
        }
        self.tls.validate("gateway.tls")
    }
}

impl NatsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if bad_url(&self.url, &["nats://", "tls://"]).is_some() {
            return Err(invalid("nats.url", "must be a nats:// or tls:// URL"));
        }
        if self.stream_prefix.is_empty()
            || !self
                .stream_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(
                "nats.stream_prefix",
                "must be letters, digits, '_' or '-'",
            ));
        }
        if self.subject_prefix.is_empty()
            || self
                .subject_prefix
                .chars()
                .any(|c| c.is_whitespace() || c == '*' || c == '>')
        {
            return Err(invalid(
                "nats.subject_prefix",
                "must be a non-empty subject token without spaces or wildcards",
            ));
        }
        self.tls.validate("nats.tls")
    }
}

impl RedisConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if bad_url(&self.url, &["redis://", "rediss://", "unix://"]).is_some() {
            return Err(invalid(
                "redis.url",
                "must be a redis://, rediss:// or unix:// URL",
            ));
        }
        self.tls.validate("redis.tls")?;
        if let Some(name) = self.tls.first_set() {
            if bad_url(&self.url, &["rediss://"]).is_some() {
                return Err(invalid(
                    &format!("redis.tls.{name}"),
                    "TLS settings need rediss:// URLs in redis.url",
                ));
            }
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}', ' ']) {
            return Err(invalid(
                "redis.key_prefix",
                "must be non-empty, without braces or spaces",
            ));
        }
        Ok(())
    }
}

impl ClientTlsConfig {
    /// The name of the first file setting that is set.
    fn first_set(&self) -> Option<&'static str> {
        [
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ]
        .into_iter()
        .find_map(|(name, file)| file.is_some().then_some(name))
    }

    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        check_tls_files(
            section,
            &[
                ("ca_file", &self.ca_file),
                ("cert_file", &self.cert_file),
                ("key_file", &self.key_file),
            ],
        )?;
        check_pair(section, &self.cert_file, &self.key_file)
    }
}

impl ServerTlsConfig {
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        check_tls_files(
            section,
            &[
                ("cert_file", &self.cert_file),
                ("key_file", &self.key_file),
                ("client_ca_file", &self.client_ca_file),
            ],
        )?;
        check_pair(section, &self.cert_file, &self.key_file)?;
        if self.client_ca_file.is_some() && self.cert_file.is_none() {
            return Err(invalid(
                &format!("{section}.client_ca_file"),
                "needs cert_file and key_file (the server's own certificate)",
            ));
        }
        Ok(())
    }
}

impl OAuthConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.link_ttl_secs == 0 || self.timeout_ms == 0 {
            return Err(invalid(
                "oauth.link_ttl_secs",
                "link_ttl_secs and timeout_ms must be at least 1",
            ));
        }
        for (slug, provider) in &self.providers {
            for (name, url) in [
                ("authorize_url", &provider.authorize_url),
                ("token_url", &provider.token_url),
                ("revoke_url", &provider.revoke_url),
            ] {
                if let Some(url) = url {
                    check_http_url(&format!("oauth.providers.{slug}.{name}"), url)?;
                }
            }
            if provider.client_id.is_some() != provider.client_secret.is_some() {
                return Err(invalid(
                    &format!("oauth.providers.{slug}.client_secret"),
                    "a managed app needs both client_id and client_secret",
                ));
            }
        }
        Ok(())
    }
}

/// Where configuration comes from, lowest precedence first.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// A TOML or YAML file.
    pub file: Option<PathBuf>,
    /// Environment variables; only `SWITCHBOARD_*` ones are read.
    pub env: HashMap<String, String>,
    /// Flag overrides as `dotted.key = value`.
    pub overrides: Vec<(String, String)>,
}

/// `SWITCHBOARD_*` variables that are not settings: the config file's path, the admin CLI's
/// token, the local services' directory. Variables starting `SWITCHBOARD_TEST_` are skipped too.
pub const NON_SETTING_ENV: [&str; 3] = [
    "SWITCHBOARD_CONFIG",
    "SWITCHBOARD_ADMIN_TOKEN",
    "SWITCHBOARD_LOCAL_DIR",
];

fn is_setting_env(key: &str) -> bool {
    key.starts_with("SWITCHBOARD_")
        && !key.starts_with("SWITCHBOARD_TEST_")
        && !NON_SETTING_ENV.contains(&key)
}

impl Sources {
    /// The process environment, and the file named by `SWITCHBOARD_CONFIG` if set.
    pub fn from_process_env() -> Sources {
        let env: HashMap<String, String> = std::env::vars().collect();
        Sources {
            file: env.get("SWITCHBOARD_CONFIG").map(PathBuf::from),
            env,
            ..Sources::default()
        }
    }
}

impl Config {
    /// Loads and validates the layered configuration.
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let defaults = config::Config::try_from(&Config::default())?;
        let mut builder = config::Config::builder().add_source(defaults);
        if let Some(file) = &sources.file {
            builder = builder.add_source(config::File::from(file.as_path()).required(true));
        }
        let env: HashMap<String, String> = sources
            .env
            .iter()
            .filter(|(k, _)| is_setting_env(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("SWITCHBOARD")
                .prefix_separator("_")
                .separator("__")
                .source(Some(env)),
        );
        for (key, value) in &sources.overrides {
            builder = builder.set_override(key.as_str(), value.as_str())?;
        }
        let config: Config = builder.build()?.try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values no type can express, section by section; the first problem is the error,
    /// naming its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.gateway.validate()?;
        self.nats.validate()?;
        self.redis.validate()?;
        if let Some(url) = &self.telemetry.otlp_endpoint {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
                return Err(invalid(
                    "telemetry.otlp_endpoint",
                    "must be an http(s) URL with a host, e.g. http://127.0.0.1:4317",
                ));
            }
        }
        for (slug, url) in &self.catalog.base_urls {
            check_http_url(&format!("catalog.base_urls.{slug}"), url)?;
        }
        if self.catalog.custom_toolkit_max_tools == 0 {
            return Err(invalid(
                "catalog.custom_toolkit_max_tools",
                "must be at least 1",
            ));
        }
        if !self.crypto.current_key.is_empty()
            && !self.crypto.keys.contains_key(&self.crypto.current_key)
        {
            return Err(invalid("crypto.current_key", "names no key in crypto.keys"));
        }
        self.validate_limits()?;
        self.oauth.validate()?;
        let prefix = &self.sessions.meta_tool_prefix;
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(invalid(
                "sessions.meta_tool_prefix",
                "must be uppercase letters, digits and underscores",
            ));
        }
        Ok(())
    }

    /// Timeouts, queue sizes, concurrency and the triggers' schedule.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        if self.executions.default_timeout_ms == 0
            || self.executions.default_timeout_ms > self.executions.max_timeout_ms
        {
            return Err(invalid(
                "executions.default_timeout_ms",
                "must be between 1 and executions.max_timeout_ms",
            ));
        }
        if self.executions.max_queued_jobs < 1 {
            return Err(invalid("executions.max_queued_jobs", "must be at least 1"));
        }
        if self.worker.concurrency == 0 {
            return Err(invalid("worker.concurrency", "must be at least 1"));
        }
        if self.worker.ack_wait_secs == 0 || self.worker.max_deliver < 1 {
            return Err(invalid(
                "worker.ack_wait_secs",
                "ack_wait_secs and max_deliver must be at least 1",
            ));
        }
        check_socket_addr("triggers.http_addr", &self.triggers.http_addr)?;
        if self.triggers.poll_lease_secs < 2 || self.triggers.webhook_max_failures == 0 {
            return Err(invalid(
                "triggers.poll_lease_secs",
                "poll_lease_secs must be at least 2 and webhook_max_failures at least 1",
            ));
        }
        Ok(())
    }

    /// The effective configuration as YAML, secrets redacted (`--dump-config`).
    pub fn dump(&self) -> String {
        let mut shown = self.clone();
        if shown.gateway.admin_token.is_some() {
            shown.gateway.admin_token = Some("<redacted>".into());
        }
        if shown.triggers.slack_signing_secret.is_some() {
            shown.triggers.slack_signing_secret = Some("<redacted>".into());
        }
        for provider in shown.oauth.providers.values_mut() {
            if provider.client_secret.is_some() {
                provider.client_secret = Some("<redacted>".into());
            }
        }
        for key in shown.crypto.keys.values_mut() {
            *key = "<redacted>".into();
        }
        serde_yaml_ng::to_string(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// Every setting as a `SWITCHBOARD_*` variable (`__` between levels), such that
    /// [`Config::load`] of those variables alone gives this configuration back: how a test or a
    /// supervisor hands a whole configuration to a process it spawns. Unset options are left
    /// out. The values include secrets (keys, tokens): pass them to a child process only.
    pub fn to_env(&self) -> Vec<(String, String)> {
        fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
            match value {
                serde_json::Value::Object(fields) => {
                    for (name, field) in fields {
                        walk(
                            &format!("{prefix}__{}", name.to_ascii_uppercase()),
                            field,
                            out,
                        );
                    }
                }
                serde_json::Value::Null => {}
                serde_json::Value::String(text) => out.push((prefix.to_owned(), text.clone())),
                other => out.push((prefix.to_owned(), other.to_string())),
            }
        }
        let mut out = Vec::new();
        // Every field is a string, number, bool, option or map: serialising cannot fail.
        if let Ok(serde_json::Value::Object(sections)) = serde_json::to_value(self) {
            for (name, section) in &sections {
                walk(
                    &format!("SWITCHBOARD_{}", name.to_ascii_uppercase()),
                    section,
                    &mut out,
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn to_env_round_trips_every_setting() {
        let mut config = Config::default();
        config.gateway.grpc_addr = "127.0.0.1:7100".into();
        config.gateway.public_url = Some("https://sb.example.com".into());
        config.gateway.admin_token = Some("an-admin-token-of-length".into());
        config.nats.url = "tls://a:4222,tls://b:4222".into();
        config.nats.tls.ca_file = Some("/tls/ca.crt".into());
        config.redis.key_prefix = "t9".into();
        config.redis.cluster = true;
        config.shutdown_grace_secs = 3;
        config
            .catalog
            .base_urls
            .insert("github".into(), "http://127.0.0.1:9/gh".into());
        config.crypto.keys.insert("k1".into(), "a2V5".into());
        config.crypto.current_key = "k1".into();
        config.oauth.providers.insert(
            "github".into(),
            OAuthProviderConfig {
                client_id: Some("cid".into()),
                client_secret: Some("csecret".into()),
                ..Default::default()
            },
        );
        let vars = config.to_env();
        assert!(vars.iter().all(|(k, _)| k.starts_with("SWITCHBOARD_")));
        assert!(vars.contains(&("SWITCHBOARD_REDIS__CLUSTER".into(), "true".into())));
        let back = Config::load(&Sources {
            env: vars.into_iter().collect(),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(back, config);
        let defaults = Config::load(&Sources {
            env: Config::default().to_env().into_iter().collect(),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(defaults, Config::default());
    }

    fn env(pairs: &[(&str, &str)]) -> Sources {
        Sources {
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Sources::default()
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(
            Config::load(&Sources::default()).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn environment_overrides_nested_fields_and_maps() {
        let config = Config::load(&env(&[
            ("SWITCHBOARD_GATEWAY__GRPC_ADDR", "127.0.0.1:7000"),
            ("SWITCHBOARD_REDIS__KEY_PREFIX", "t1"),
            (
                "SWITCHBOARD_CATALOG__BASE_URLS__GITHUB",
                "http://127.0.0.1:9",
            ),
            ("OTHER_VAR", "ignored"),
        ]))
        .unwrap();
        assert_eq!(config.gateway.grpc_addr, "127.0.0.1:7000");
        assert_eq!(config.redis.key_prefix, "t1");
        assert_eq!(
            config.catalog.base_urls.get("github").map(String::as_str),
            Some("http://127.0.0.1:9")
        );
    }

    #[test]
    fn variables_that_are_not_settings_are_ignored() {
        let config = Config::load(&env(&[
            ("SWITCHBOARD_CONFIG", "/nonexistent.toml"),
            ("SWITCHBOARD_ADMIN_TOKEN", "x"),
            ("SWITCHBOARD_TEST_REDIS_URL", "redis://elsewhere"),
        ]))
        .unwrap();
        assert_eq!(config, Config::default());
        let err = Config::load(&env(&[("SWITCHBOARD_NO_SUCH_SETTING", "1")])).unwrap_err();
        assert!(err.to_string().contains("no_such_setting"), "{err}");
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = std::env::temp_dir().join(format!("sbcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[gateway]\ngrpc_addr = \"127.0.0.1:1\"\nhttp_addr = \"127.0.0.1:2\"\n",
        )
        .unwrap();
        let mut sources = env(&[("SWITCHBOARD_GATEWAY__HTTP_ADDR", "127.0.0.1:3")]);
        sources.file = Some(file);
        sources.overrides = vec![("telemetry.log_format".into(), "json".into())];
        let config = Config::load(&sources).unwrap();
        assert_eq!(config.gateway.grpc_addr, "127.0.0.1:1");
        assert_eq!(config.gateway.http_addr, "127.0.0.1:3");
        assert_eq!(config.telemetry.log_format, LogFormat::Json);
    }

    #[test]
    fn invalid_values_name_the_field() {
        let err = Config::load(&env(&[("SWITCHBOARD_GATEWAY__GRPC_ADDR", "nope")])).unwrap_err();
        assert!(err.to_string().contains("gateway.grpc_addr"), "{err}");
        let err = Config::load(&env(&[("SWITCHBOARD_GATEWAY__ADMIN_TOKEN", "short")])).unwrap_err();
        assert!(err.to_string().contains("gateway.admin_token"), "{err}");
    }

    #[test]
    fn otlp_endpoint_is_optional_and_must_be_an_http_url() {
        assert_eq!(Config::default().telemetry.otlp_endpoint, None);
        let config = Config::load(&env(&[(
            "SWITCHBOARD_TELEMETRY__OTLP_ENDPOINT",
            "http://127.0.0.1:4317",
        )]))
        .unwrap();
        assert_eq!(
            config.telemetry.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4317")
        );
        for bad in [
            "127.0.0.1:4317",
            "grpc://collector:4317",
            "http://",
            "https:///x",
        ] {
            let err =
                Config::load(&env(&[("SWITCHBOARD_TELEMETRY__OTLP_ENDPOINT", bad)])).unwrap_err();
            assert!(
                err.to_string().contains("telemetry.otlp_endpoint"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn tls_settings_are_off_by_default_and_load_from_the_environment() {
        let config = Config::default();
        assert!(!config.redis.tls.is_set() && !config.nats.tls.is_set());
        assert!(!config.gateway.tls.is_enabled());
        let config = Config::load(&env(&[
            ("SWITCHBOARD_REDIS__URL", "rediss://redis.internal:6380"),
            ("SWITCHBOARD_REDIS__TLS__CA_FILE", "/tls/ca.crt"),
            ("SWITCHBOARD_REDIS__TLS__CERT_FILE", "/tls/client.crt"),
            ("SWITCHBOARD_REDIS__TLS__KEY_FILE", "/tls/client.key"),
            ("SWITCHBOARD_NATS__URL", "tls://nats.internal:4222"),
            ("SWITCHBOARD_NATS__TLS__CA_FILE", "/tls/ca.crt"),
            ("SWITCHBOARD_GATEWAY__TLS__CERT_FILE", "/tls/gw.crt"),
            ("SWITCHBOARD_GATEWAY__TLS__KEY_FILE", "/tls/gw.key"),
            (
                "SWITCHBOARD_GATEWAY__TLS__CLIENT_CA_FILE",
                "/tls/clients.crt",
            ),
        ]))
        .unwrap();
        assert_eq!(
            config.redis.tls.ca_file.as_deref(),
            Some(Path::new("/tls/ca.crt"))
        );
        assert_eq!(
            config.redis.tls.key_file.as_deref(),
            Some(Path::new("/tls/client.key"))
        );
        assert_eq!(
            config.nats.tls.ca_file.as_deref(),
            Some(Path::new("/tls/ca.crt"))
        );
        assert!(config.gateway.tls.is_enabled());
        assert_eq!(
            config.gateway.tls.client_ca_file.as_deref(),
            Some(Path::new("/tls/clients.crt"))
        );
        // A client certificate alone (public CA) is fine for NATS, on nats:// too.
        Config::load(&env(&[
            ("SWITCHBOARD_NATS__TLS__CERT_FILE", "/tls/client.crt"),
            ("SWITCHBOARD_NATS__TLS__KEY_FILE", "/tls/client.key"),
        ]))
        .unwrap();
    }

    #[test]
    fn inconsistent_tls_settings_name_the_field() {
        for (pairs, field) in [
            (
                vec![("SWITCHBOARD_REDIS__TLS__CA_FILE", "/tls/ca.crt")],
                "redis.tls.ca_file",
            ),
            (
                vec![
                    ("SWITCHBOARD_REDIS__URL", "rediss://a:6380,redis://b:6379"),
                    ("SWITCHBOARD_REDIS__CLUSTER", "true"),
                    ("SWITCHBOARD_REDIS__TLS__CA_FILE", "/tls/ca.crt"),
                ],
                "redis.tls.ca_file",
            ),
            (
                vec![
                    ("SWITCHBOARD_REDIS__URL", "rediss://a:6380"),
                    ("SWITCHBOARD_REDIS__TLS__CERT_FILE", "/tls/c.crt"),
                ],
                "redis.tls.key_file",
            ),
            (
                vec![("SWITCHBOARD_NATS__TLS__KEY_FILE", "/tls/c.key")],
                "nats.tls.cert_file",
            ),
            (
                vec![("SWITCHBOARD_NATS__TLS__CA_FILE", "")],
                "nats.tls.ca_file",
            ),
            (
                vec![("SWITCHBOARD_GATEWAY__TLS__CERT_FILE", "/tls/gw.crt")],
                "gateway.tls.key_file",
            ),
            (
                vec![("SWITCHBOARD_GATEWAY__TLS__CLIENT_CA_FILE", "/tls/ca.crt")],
                "gateway.tls.client_ca_file",
            ),
        ] {
            let err = Config::load(&env(&pairs)).unwrap_err();
            assert!(err.to_string().contains(field), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn tls_files_are_read_at_load_and_errors_name_the_setting_and_the_file() {
        let dir = std::env::temp_dir().join(format!("sbtls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("c.crt");
        let key = dir.join("c.key");
        let junk = dir.join("junk.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        std::fs::write(&junk, "not pem").unwrap();

        let tls = ClientTlsConfig {
            ca_file: Some(cert.clone()),
            cert_file: Some(cert.clone()),
            key_file: Some(key.clone()),
        };
        let files = tls.load("redis.tls").unwrap();
        assert!(files.ca.is_some());
        let identity = files.identity.unwrap();
        assert!(!format!("{identity:?}").contains("secret-key-bytes"));

        let missing = ClientTlsConfig {
            ca_file: Some(dir.join("nope.crt")),
            ..ClientTlsConfig::default()
        };
        let err = missing.load("nats.tls").unwrap_err().to_string();
        assert!(
            err.contains("nats.tls.ca_file") && err.contains("nope.crt"),
            "{err}"
        );
        // A key where a certificate belongs, junk where a key belongs.
        let swapped = ClientTlsConfig {
            cert_file: Some(key.clone()),
            key_file: Some(key.clone()),
            ..ClientTlsConfig::default()
        };
        let err = swapped.load("redis.tls").unwrap_err().to_string();
        assert!(err.contains("redis.tls.cert_file"), "{err}");
        assert!(!err.contains("secret-key-bytes"), "{err}");
        let junk_key = ClientTlsConfig {
            cert_file: Some(cert.clone()),
            key_file: Some(junk),
            ..ClientTlsConfig::default()
        };
        let err = junk_key.load("redis.tls").unwrap_err().to_string();
        assert!(err.contains("redis.tls.key_file"), "{err}");

        assert!(ServerTlsConfig::default()
            .load("gateway.tls")
            .unwrap()
            .is_none());
        let server = ServerTlsConfig {
            cert_file: Some(cert.clone()),
            key_file: Some(key),
            client_ca_file: Some(dir.join("gone.crt")),
        };
        let err = server.load("gateway.tls").unwrap_err().to_string();
        assert!(err.contains("gateway.tls.client_ca_file"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dump_redacts_the_admin_token() {
        let config = Config::load(&env(&[(
            "SWITCHBOARD_GATEWAY__ADMIN_TOKEN",
            "a-very-secret-token",
        )]))
        .unwrap();
        let dump = config.dump();
        assert!(!dump.contains("a-very-secret-token"));
        assert!(dump.contains("<redacted>"));
    }
}
