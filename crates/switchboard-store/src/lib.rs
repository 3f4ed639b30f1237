//! The Redis state store. Redis is the system of record: every key carries its project in a hash
//! tag (`<prefix>:{prj_…}:…`) so a Redis Cluster keeps a project's keys in one slot, and every
//! write that touches several keys is one atomic transaction or script, so no error leaves half
//! a record behind.
//!
//! The scripts name their keys and arguments: each one binds `KEYS`/`ARGV` to named locals and
//! is called only through a struct with the same names in the same order (see `scripts` for
//! the convention and how the scripts are tested against a real Redis).

mod connections;
mod custom_toolkits;
mod executions;
mod keys;
mod links;
mod locks;
mod projects;
mod scripts;
mod sessions;
mod triggers;
mod workflows;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use switchboard_core::Error;

pub use connections::{account_not_found, AccountFilter, StoredAccount};
pub use custom_toolkits::CustomToolkits;
pub use executions::{is_terminal, Claim, Created, JobRecord, NewExecution};
pub use links::{Finish, LinkRecord};
pub use projects::{ApiKeySecret, Authenticated};
pub use sessions::{AuthorizedSession, SessionGuard, SessionPage};
pub use triggers::{route_key, DeliveryClaim, Route, StoredTrigger, TriggerFilter};

/// A connection to one Redis server or to a Redis Cluster. Every key of a project carries the
/// project in a hash tag, so on a cluster each script and transaction touches one slot.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Who makes a call that reads a session: a caller already known to be in a project (the MCP
/// endpoint, after its session token), or one holding a project API key still to check.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    Project(&'a str),
    ApiKey(&'a str),
}

/// The project an API key names (whether the key is valid is checked against the store).
pub fn project_of_api_key(secret: &str) -> Option<String> {
    projects::project_of_secret(secret)
}

/// A handle on the store; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    conn: Conn,
    keys: keys::Keys,
}

impl Store {
    /// Connects to what `config` names (one server, or a cluster's seed nodes), with its TLS
    /// settings (`redis.tls`): every service connects through here.
    pub async fn from_config(config: &switchboard_config::RedisConfig) -> Result<Store, Error> {
        let certs = tls_certificates(config)?;
        if config.cluster {
            Store::connect_cluster_with(&config.url, &config.key_prefix, certs).await
        } else {
            Store::connect_with(&config.url, &config.key_prefix, certs).await
        }
    }

    /// Connects to a Redis Cluster through its comma-separated seed nodes (no TLS files; see
    /// [`Store::from_config`]).
    pub async fn connect_cluster(urls: &str, key_prefix: &str) -> Result<Store, Error> {
        Store::connect_cluster_with(urls, key_prefix, None).await
    }

    async fn connect_cluster_with(
        urls: &str,
        key_prefix: &str,
        certs: Option<redis::TlsCertificates>,
    ) -> Result<Store, Error> {
        let nodes: Vec<&str> = urls.split(',').map(str::trim).collect();
        let mut builder = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(Duration::from_secs(5))
            .response_timeout(Duration::from_secs(5))
            .retries(4);
        if let Some(certs) = certs {
            builder = builder.certs(certs);
        }
        let client = builder.build().map_err(|e| {
            Error::invalid(
                switchboard_core::reason::INVALID_CONFIG,
                "redis.url",
                format!("not Redis Cluster URLs: {e}"),
            )
        })?;
        let conn = client
            .get_async_connection()
            .await
            .map_err(connect_failed)?;
        Ok(Store {
            conn: Conn::Cluster(conn),
            keys: keys::Keys::new(key_prefix),
        })
    }

    /// Connects to Redis at `url`; every key starts with `key_prefix` (no TLS files; see
    /// [`Store::from_config`]).
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Store, Error> {
        Store::connect_with(url, key_prefix, None).await
    }

    async fn connect_with(
        url: &str,
        key_prefix: &str,
        certs: Option<redis::TlsCertificates>,
    ) -> Result<Store, Error> {
        let client = client(url, certs)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(connect_failed)?;
        Ok(Store {
            conn: Conn::Single(conn),
            keys: keys::Keys::new(key_prefix),
        })
    }

    /// Whether Redis answers a PING.
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    }

    /// Deletes every key under this store's prefix (tests only; uses SCAN, never KEYS).
    pub async fn purge_prefix(&self) -> Result<u64, Error> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}:*", self.keys.prefix());
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            for key in batch {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

/// A client for one Redis server at `url` with the TLS settings of `config` (`redis.tls`),
/// for tools and tests that talk to one node directly.
pub fn client_for(
    config: &switchboard_config::RedisConfig,
    url: &str,
) -> Result<redis::Client, Error> {
    client(url, tls_certificates(config)?)
}

fn client(url: &str, certs: Option<redis::TlsCertificates>) -> Result<redis::Client, Error> {
    let bad_url = |e: redis::RedisError| {
        Error::invalid(
            switchboard_core::reason::INVALID_CONFIG,
            "redis.url",
            format!("not a Redis URL: {e}"),
        )
    };
    match certs {
        Some(certs) => {
            install_crypto_provider();
            redis::Client::build_with_tls(url, certs).map_err(bad_url)
        }
        None => {
            if url.starts_with("rediss://") {
                install_crypto_provider();
            }
            redis::Client::open(url).map_err(bad_url)
        }
    }
}

/// The CA and client certificate of `redis.tls`, read from their files (None: nothing set,
/// `rediss://` URLs trust the bundled web PKI roots).
fn tls_certificates(
    config: &switchboard_config::RedisConfig,
) -> Result<Option<redis::TlsCertificates>, Error> {
    if !config.tls.is_set() {
        return Ok(None);
    }
    let files = config.tls.load("redis.tls").map_err(|e| match e {
        switchboard_config::ConfigError::Invalid { field, problem } => {
            Error::invalid(switchboard_core::reason::INVALID_CONFIG, field, problem)
        }
        other => Error::invalid(
            switchboard_core::reason::INVALID_CONFIG,
            "redis.tls",
            other.to_string(),
        ),
    })?;
    Ok(Some(redis::TlsCertificates {
        client_tls: files.identity.map(|id| redis::ClientTlsConfig {
            client_cert: id.cert,
            client_key: id.key,
        }),
        root_cert: files.ca,
    }))
}

/// rustls needs one process-wide crypto provider: ring, as everywhere in the workspace. Set
/// here so a TLS connection never depends on which other crates happen to enable one.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err: a provider is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The first connection failed: the message says why (refused, timed out, a certificate the
/// client does not trust…), so a service that cannot start says so.
fn connect_failed(err: redis::RedisError) -> Error {
    Error::Unavailable {
        reason: switchboard_core::reason::STORE_UNAVAILABLE,
        message: format!("failed to connect to Redis: {err}"),
    }
}

/// A Redis failure as the caller sees it: the store is unavailable (details go to the log).
pub(crate) fn unavailable(err: redis::RedisError) -> Error {
    tracing::warn!(error = %err, "redis call failed");
    Error::Unavailable {
        reason: switchboard_core::reason::STORE_UNAVAILABLE,
        message: "the state store is unavailable; retry later".into(),
    }
}

/// A stored record that does not decode: a bug or foreign data, never the caller's fault.
pub(crate) fn corrupt(what: &str, err: prost::DecodeError) -> Error {
    Error::Internal(format!("stored {what} does not decode: {err}"))
}

pub use redis;
pub(crate) use switchboard_core::time::now_timestamp;
