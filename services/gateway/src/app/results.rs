//! Replies from workers to this gateway. One subscription per gateway (on
//! `<prefix>.results.<gateway id>.*`) hands each reply to the sync call waiting for it, so a
//! waiting call costs a map entry, not a subscription.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use switchboard_bus::{Bus, BusError};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

pub use switchboard_bus::Reply;

/// Routes worker replies to waiting calls.
#[derive(Clone)]
pub struct Results {
    gateway_id: Arc<str>,
    waiters: Arc<Mutex<HashMap<String, oneshot::Sender<Reply>>>>,
}

/// Removes the waiter when the call ends, whatever the outcome.
pub struct Waiter {
    results: Results,
    execution_id: String,
    pub receiver: oneshot::Receiver<Reply>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.results
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.execution_id);
    }
}

impl Results {
    /// Subscribes and starts routing until `shutdown`.
    pub async fn start(bus: &Bus, shutdown: CancellationToken) -> Result<Results, BusError> {
        let gateway_id: Arc<str> = ulid::Ulid::new().to_string().to_lowercase().into();
        let results = Results {
            gateway_id: Arc::clone(&gateway_id),
            waiters: Arc::default(),
        };
        let mut replies = bus.replies(&gateway_id).await?;
        let router = results.clone();
        tokio::spawn(async move {
            loop {
                let reply = tokio::select! {
                    () = shutdown.cancelled() => break,
                    r = replies.next() => r,
                };
                let Some(reply) = reply else { break };
                router.deliver(reply);
            }
        });
        Ok(results)
    }

    pub fn gateway_id(&self) -> &str {
        &self.gateway_id
    }

    /// Registers interest in one execution's reply (before its job is published).
    pub fn wait_for(&self, execution_id: &str) -> Waiter {
        let (sender, receiver) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(execution_id.to_owned(), sender);
        Waiter {
            results: self.clone(),
            execution_id: execution_id.to_owned(),
            receiver,
        }
    }

    fn deliver(&self, reply: Reply) {
        let waiter = self
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&reply.execution.id);
        if let Some(sender) = waiter {
            let _ = sender.send(reply);
        }
    }
}
