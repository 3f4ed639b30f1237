//! Services as separate processes, for tests that kill them: [`Proc`] (SIGKILL on drop, its
//! stderr kept in a file to read back) and [`with_config`], which hands a [`Config`] to a
//! service binary as `SWITCHBOARD_*` variables.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use switchboard_config::Config;

/// A child process, killed (SIGKILL) when dropped.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    /// Where its stderr (the logs) goes.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proc {
    pub fn spawn(name: &str, mut command: Command) -> Proc {
        let dir = tempfile::tempdir().expect("log dir");
        let log = dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        command.stdout(Stdio::null()).stderr(file);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            log,
            _dir: dir,
        }
    }

    /// What it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`, and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `binary` with `config` as `SWITCHBOARD_*` variables (none of the test's own), JSON logs.
pub fn with_config(binary: &str, config: &Config) -> Command {
    let mut command = Command::new(binary);
    for (key, _) in std::env::vars() {
        if key.starts_with("SWITCHBOARD_") {
            command.env_remove(key);
        }
    }
    let t = &config.triggers;
    command
        .env("SWITCHBOARD_NATS__URL", &config.nats.url)
        .env(
            "SWITCHBOARD_NATS__STREAM_PREFIX",
            &config.nats.stream_prefix,
        )
        .env(
            "SWITCHBOARD_NATS__SUBJECT_PREFIX",
            &config.nats.subject_prefix,
        )
        .env("SWITCHBOARD_REDIS__URL", &config.redis.url)
        .env("SWITCHBOARD_REDIS__KEY_PREFIX", &config.redis.key_prefix)
        .env("SWITCHBOARD_CATALOG__DIR", &config.catalog.dir)
        .env(
            "SWITCHBOARD_CRYPTO__CURRENT_KEY",
            &config.crypto.current_key,
        )
        .env("SWITCHBOARD_TRIGGERS__HTTP_ADDR", &t.http_addr)
        .env(
            "SWITCHBOARD_TRIGGERS__POLL_LEASE_SECS",
            t.poll_lease_secs.to_string(),
        )
        .env("SWITCHBOARD_TELEMETRY__LOG_FORMAT", "json")
        .env(
            "SWITCHBOARD_TELEMETRY__LOG_FILTER",
            "info,switchboard_triggers=debug",
        );
    if let Some(cap) = t.max_poll_interval_secs {
        command.env(
            "SWITCHBOARD_TRIGGERS__MAX_POLL_INTERVAL_SECS",
            cap.to_string(),
        );
    }
    for (toolkit, url) in &config.catalog.base_urls {
        command.env(
            format!("SWITCHBOARD_CATALOG__BASE_URLS__{}", toolkit.to_uppercase()),
            url,
        );
    }
    for (id, key) in &config.crypto.keys {
        command.env(
            format!("SWITCHBOARD_CRYPTO__KEYS__{}", id.to_uppercase()),
            key,
        );
    }
    command
}
