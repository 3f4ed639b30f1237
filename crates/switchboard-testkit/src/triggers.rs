//! The triggers service in-process for a stack: [`Listener::bind`] reserves its webhook port
//! (so the gateway's config can name it as `triggers.public_url` before anything starts) and
//! [`Listener::spawn`] runs it with the stack's config.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_config::Config;
use tokio_util::sync::CancellationToken;

/// A bound webhook listener, not yet serving.
pub struct Listener {
    listener: tokio::net::TcpListener,
    pub addr: SocketAddr,
}

impl Listener {
    /// Binds a loopback port and points `config.triggers.public_url` at it.
    pub async fn bind(config: &mut Config) -> Listener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the triggers listener");
        let addr = listener.local_addr().expect("listener address");
        config.triggers.public_url = Some(format!("http://{addr}"));
        Listener { listener, addr }
    }

    /// Runs the triggers service with `config` until the returned handle is stopped.
    pub fn spawn(self, config: &Config) -> Running {
        let shutdown = CancellationToken::new();
        let config = config.clone();
        let listeners = switchboard_triggers::Listeners {
            http: self.listener,
        };
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let platform = switchboard_platform::Platform::connect(config).await?;
            switchboard_triggers::run(platform, listeners, stop).await
        });
        Running {
            url: format!("http://{}", self.addr),
            shutdown,
            task: Some(task),
        }
    }
}

/// A running triggers service.
pub struct Running {
    /// Its webhook base URL.
    pub url: String,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), switchboard_triggers::TriggersError>>>,
}

impl Running {
    /// Waits until it answers `/healthz`.
    pub async fn ready(&self) {
        for _ in 0..200 {
            if crate::http_get(&format!("{}/healthz", self.url))
                .await
                .is_some_and(|(s, _)| s == 200)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the triggers service did not start at {}", self.url);
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(20), task).await;
            assert!(
                matches!(result, Ok(Ok(Ok(())))),
                "triggers did not stop cleanly: {result:?}"
            );
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
