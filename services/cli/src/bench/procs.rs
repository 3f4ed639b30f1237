//! The gateway and a worker as child processes of the bench (this same binary, `gateway` and
//! `worker`), so their peak memory is their own. Their config goes to a 0600 temp file, whole
//! (secrets included, unlike `Config::dump`). A child still running when [`Procs`] is dropped —
//! the bench failed or was interrupted — is killed.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use switchboard_config::Config;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One child service.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn spawn(
        name: &'static str,
        config_file: &std::path::Path,
        stdout: Stdio,
    ) -> anyhow::Result<Proc> {
        let exe = std::env::current_exe().context("cannot find the switchboard binary")?;
        let mut cmd = Command::new(exe);
        cmd.arg("--config")
            .arg(config_file)
            .arg(name)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // The file is the whole configuration: no SWITCHBOARD_* variable may override it (a
        // key prefix from the environment would point the children at someone else's data).
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SWITCHBOARD_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("failed to start the {name}"))?;
        Ok(Proc { name, child })
    }

    /// Peak resident memory (`VmHWM`) in KiB, while the process lives.
    fn peak_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// SIGTERM, then wait (kill after `grace`).
    async fn stop(mut self, grace: Duration) -> String {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => format!("{} {status}", self.name),
            Ok(Err(e)) => format!("{} wait failed: {e}", self.name),
            Err(_) => {
                let _ = self.child.kill().await;
                format!("{} killed after {} s", self.name, grace.as_secs())
            }
        }
    }
}

/// The running gateway and worker.
pub struct Procs {
    gateway: Proc,
    worker: Proc,
    /// Workers beyond the first.
    more_workers: Vec<Proc>,
    triggers: Option<Proc>,
    /// The gateway's gRPC address.
    pub grpc_addr: String,
    _config_file: tempfile::NamedTempFile,
}

impl Procs {
    /// Writes `config` to a temp file and starts the gateway (waiting for its address line) and
    /// a worker.
    pub async fn start(config: &Config) -> anyhow::Result<Procs> {
        Procs::start_with(config, 1, true).await
    }

    /// The gateway, `workers` workers (at least one) and, when asked, the triggers service.
    pub async fn start_with(
        config: &Config,
        workers: usize,
        triggers: bool,
    ) -> anyhow::Result<Procs> {
        let mut file = tempfile::Builder::new()
            .prefix("switchboard-bench-")
            .suffix(".yaml")
            .tempfile()
            .context("failed to create the children's config file")?;
        file.write_all(serde_yaml_ng::to_string(config)?.as_bytes())?;
        file.flush()?;

        let mut gateway = Proc::spawn("gateway", file.path(), Stdio::piped())?;
        let stdout = gateway.child.stdout.take().context("no gateway stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the gateway printed no address within 30 s")??;
        let Some(line) = first else {
            let status = gateway.child.wait().await?;
            anyhow::bail!("the gateway exited before listening: {status}");
        };
        let grpc_addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("grpc="))
            .with_context(|| format!("unexpected gateway line {line:?}"))?
            .to_owned();
        // Keep reading so a later print never meets a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let worker = Proc::spawn("worker", file.path(), Stdio::null())?;
        let mut more_workers = Vec::new();
        for _ in 1..workers {
            more_workers.push(Proc::spawn("worker", file.path(), Stdio::null())?);
        }
        let triggers = if triggers {
            Some(Proc::spawn("triggers", file.path(), Stdio::null())?)
        } else {
            None
        };
        Ok(Procs {
            gateway,
            worker,
            more_workers,
            triggers,
            grpc_addr,
            _config_file: file,
        })
    }

    /// The children's process ids, by name.
    pub fn pids(&self) -> Vec<(&'static str, Option<u32>)> {
        let mut pids = vec![
            ("gateway", self.gateway.child.id()),
            ("worker", self.worker.child.id()),
        ];
        for more in &self.more_workers {
            pids.push(("worker", more.child.id()));
        }
        if let Some(triggers) = &self.triggers {
            pids.push(("triggers", triggers.child.id()));
        }
        pids
    }

    /// Peak memory of the gateway and the worker, in KiB.
    pub fn peak_kib(&self) -> (Option<u64>, Option<u64>) {
        (self.gateway.peak_kib(), self.worker.peak_kib())
    }

    /// Peak memory of the triggers service, in KiB.
    pub fn triggers_peak_kib(&self) -> Option<u64> {
        self.triggers.as_ref().and_then(Proc::peak_kib)
    }

    /// Whether both still run.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        for p in [&mut self.gateway, &mut self.worker]
            .into_iter()
            .chain(self.more_workers.iter_mut())
            .chain(self.triggers.iter_mut())
        {
            if let Some(status) = p.child.try_wait()? {
                anyhow::bail!("the {} exited: {status}", p.name);
            }
        }
        Ok(())
    }

    /// Which child exited, if one does within `wait` (a failed call may come just before).
    pub async fn exited_within(&mut self, wait: Duration) -> Option<anyhow::Error> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Err(e) = self.check_running() {
                return Some(e);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops both (the worker first, so it drains while the gateway still listens) and says
    /// how each ended.
    pub async fn stop(self, grace: Duration) -> Vec<String> {
        let mut ended = Vec::new();
        for extra in self.more_workers {
            ended.push(extra.stop(grace).await);
        }
        let worker = self.worker.stop(grace).await;
        if let Some(triggers) = self.triggers {
            ended.push(triggers.stop(grace).await);
        }
        let gateway = self.gateway.stop(grace).await;
        ended.insert(0, worker);
        ended.insert(0, gateway);
        ended
    }
}
