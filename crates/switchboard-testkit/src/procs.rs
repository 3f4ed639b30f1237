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

    /// SIGTERM (a graceful stop), then waits up to `within` for it to exit: its exit status,
    /// or None when it is still running (it is then killed).
    pub fn terminate(&mut self, within: std::time::Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", self.name);
        let start = std::time::Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(exit)) = child.try_wait() {
                return Some(exit);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
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
    command
        .envs(config.to_env())
        .env("SWITCHBOARD_TELEMETRY__LOG_FORMAT", "json")
        .env(
            "SWITCHBOARD_TELEMETRY__LOG_FILTER",
            "info,switchboard_triggers=debug",
        );
    command
}
