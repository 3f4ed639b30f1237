//! What the TLS tests run against: private TLS-only servers on free loopback ports that use a
//! test [`Pki`]'s server certificate and trust its CA, killed on drop: [`TlsRedis`] (Debian's
//! `redis-server`, built with TLS) and [`TlsNats`] (`nats-server -js` with a `tls {}` block).

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use switchboard_testkit::pki::Pki;
use switchboard_testkit::procs::Proc;

/// A free loopback port (bound, then released for the server about to start).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits until something accepts TCP connections on `port`; panics with `logs()` if nothing
/// does within 10 seconds.
fn wait_for_port(port: u16, what: &str, logs: impl Fn() -> String) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not start on port {port}:\n{}", logs());
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A private `redis-server` that speaks TLS only (`--port 0`), with client certificates
/// required (`--tls-auth-clients yes`) or optional.
pub struct TlsRedis {
    pub port: u16,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    pub fn start(pki: &Pki, require_client_certs: bool) -> TlsRedis {
        TlsRedis::start_with(pki, require_client_certs, &[])
    }

    /// A one-node Redis Cluster (TLS on the cluster bus too), without slots yet: see
    /// [`TlsRedis::assign_all_slots`].
    pub fn start_cluster(pki: &Pki) -> TlsRedis {
        let bus_port = free_port().to_string();
        TlsRedis::start_with(
            pki,
            true,
            &[
                "--cluster-enabled",
                "yes",
                "--tls-cluster",
                "yes",
                "--cluster-port",
                &bus_port,
                "--cluster-config-file",
                "nodes.conf",
            ],
        )
    }

    fn start_with(pki: &Pki, require_client_certs: bool, extra: &[&str]) -> TlsRedis {
        let dir = tempfile::tempdir().expect("redis dir");
        let port = free_port();
        let log = dir.path().join("redis.log");
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(["--tls-port", &port.to_string()])
            .args(["--tls-cert-file", path(&pki.server_cert)])
            .args(["--tls-key-file", path(&pki.server_key)])
            .args(["--tls-ca-cert-file", path(&pki.ca)])
            .args([
                "--tls-auth-clients",
                if require_client_certs {
                    "yes"
                } else {
                    "optional"
                },
            ])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", path(dir.path()), "--logfile", path(&log)])
            .args(extra);
        let proc = Proc::spawn("redis-server", command);
        wait_for_port(port, "redis-server", || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        TlsRedis {
            port,
            _proc: proc,
            _dir: dir,
        }
    }

    /// `rediss://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// Gives a one-node cluster every hash slot (over TLS, with `redis`'s TLS settings) and
    /// waits until the cluster is up.
    pub async fn assign_all_slots(&self, redis: &switchboard_config::RedisConfig) {
        let client = switchboard_store::client_for(redis, &self.url()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the cluster node");
        let _: () = switchboard_store::redis::cmd("CLUSTER")
            .arg("ADDSLOTSRANGE")
            .arg(0)
            .arg(16383)
            .query_async(&mut conn)
            .await
            .expect("add slots");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let info: String = switchboard_store::redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut conn)
                .await
                .expect("cluster info");
            if info.contains("cluster_state:ok") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the one-node cluster did not come up");
    }
}

/// A private `nats-server` with JetStream (its own store directory) that speaks TLS only and
/// requires a client certificate signed by the test CA (`verify: true`).
pub struct TlsNats {
    pub port: u16,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl TlsNats {
    pub fn start(pki: &Pki) -> TlsNats {
        let dir = tempfile::tempdir().expect("nats dir");
        let port = free_port();
        let config = dir.path().join("nats.conf");
        std::fs::write(
            &config,
            format!(
                "listen: \"127.0.0.1:{port}\"\n\
                 tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  \
                 verify: true\n  timeout: 5\n}}\n",
                path(&pki.server_cert),
                path(&pki.server_key),
                path(&pki.ca),
            ),
        )
        .expect("nats config");
        let store = dir.path().join("jetstream");
        let mut command = Command::new("nats-server");
        command.args(["-c", path(&config), "-js", "-sd", path(&store)]);
        let proc = Proc::spawn("nats-server", command);
        wait_for_port(port, "nats-server", || proc.logs());
        TlsNats {
            port,
            _proc: proc,
            _dir: dir,
        }
    }

    /// `tls://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.port)
    }
}
