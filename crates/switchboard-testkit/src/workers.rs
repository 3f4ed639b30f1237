//! In-process workers for a stack: [`Workers::spawn`] starts `n` workers with the stack's
//! config (same prefixes, same catalog, same sealing keys) and [`Workers::stop`] drains them.

use std::time::Duration;

use switchboard_config::Config;
use tokio_util::sync::CancellationToken;

/// Starts a process's way: [`switchboard_platform::Platform::connect`] for `config`, then a
/// worker on it (no metrics listener).
pub async fn run_worker(
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), switchboard_worker::WorkerError> {
    let platform = switchboard_platform::Platform::connect(config).await?;
    switchboard_worker::run(platform, switchboard_worker::Listeners::none(), shutdown).await
}

/// Running workers.
pub struct Workers {
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<Result<(), switchboard_worker::WorkerError>>>,
}

impl Workers {
    /// Starts `n` workers.
    pub fn spawn(config: &Config, n: usize) -> Workers {
        let shutdown = CancellationToken::new();
        let tasks = (0..n)
            .map(|_| tokio::spawn(run_worker(config.clone(), shutdown.clone())))
            .collect();
        Workers { shutdown, tasks }
    }

    /// Stops them: they finish in-flight jobs first.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for task in std::mem::take(&mut self.tasks) {
            let result = tokio::time::timeout(Duration::from_secs(30), task).await;
            assert!(
                matches!(result, Ok(Ok(Ok(())))),
                "worker did not stop cleanly: {result:?}"
            );
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
