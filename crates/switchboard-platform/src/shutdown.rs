//! Stopping: the signals that start a graceful shutdown, and the one rule every service drains
//! by — work in flight gets the grace period (`shutdown_grace_secs`) after the shutdown
//! starts, then the service stops regardless.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// A token cancelled on the first SIGINT or SIGTERM (the drain starts); a second signal exits
/// the process at once with status 130.
pub fn on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received; draining (a second signal exits at once)");
        trigger.cancel();
        wait_for_signal().await;
        tracing::warn!("second shutdown signal; exiting now");
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `work` to its end, but no longer than `grace` once `shutdown` is cancelled: its output,
/// or None when the grace period ran out first (the work is dropped).
pub async fn drain<F: Future>(
    shutdown: &CancellationToken,
    grace: Duration,
    work: F,
) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        out = &mut work => return Some(out),
        () = shutdown.cancelled() => {}
    }
    tokio::time::timeout(grace, work).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_that_ends_is_waited_for_however_long_without_a_shutdown() {
        let shutdown = CancellationToken::new();
        let out = drain(&shutdown, Duration::from_secs(1), async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            7
        })
        .await;
        assert_eq!(out, Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_shutdown_work_gets_the_grace_period_and_no_more() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let started = tokio::time::Instant::now();
        let out = drain(&shutdown, Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_secs(60)).await;
        })
        .await;
        assert_eq!(out, None);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        let quick = drain(&shutdown, Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            "done"
        })
        .await;
        assert_eq!(quick, Some("done"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_grace_period_counts_from_the_shutdown_not_from_the_start() {
        let shutdown = CancellationToken::new();
        let stopper = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(100)).await;
            stopper.cancel();
        });
        let started = tokio::time::Instant::now();
        let out = drain(&shutdown, Duration::from_secs(10), async {
            tokio::time::sleep(Duration::from_secs(105)).await;
            1
        })
        .await;
        assert_eq!(out, Some(1));
        assert_eq!(started.elapsed(), Duration::from_secs(105));
    }
}
