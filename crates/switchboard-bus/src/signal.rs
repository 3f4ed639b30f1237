//! Plain NATS messages outside the streams: worker replies to the gateway waiting for them, and
//! the "a connection request ended" signal. Neither is stored: whoever listens gets them, and
//! each side falls back to the store when it misses one.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use prost::Message as _;
use switchboard_proto::v1::Execution;

use crate::{headers, Bus, BusError};

/// A worker's reply: the finished execution, whole unless it was too large for a message (then
/// `in_store_only`, and the caller reads it from the store).
#[derive(Debug)]
pub struct Reply {
    pub execution: Execution,
    pub in_store_only: bool,
}

/// Replies as they arrive.
pub type Replies = Pin<Box<dyn Stream<Item = Reply> + Send>>;

/// One item per signal received.
pub type Signals = Pin<Box<dyn Stream<Item = ()> + Send>>;

/// Catalog changes: `(project, version)`.
pub type CatalogChanges = Pin<Box<dyn Stream<Item = (String, u64)> + Send>>;

/// Room left in a message for the subject and headers.
const ENVELOPE_ROOM: usize = 1024;
/// A reply this small fits any server's `max_payload` (no server is set below 64 KiB here),
/// so the common case skips reading the server's limit.
const SURELY_FITS: usize = 64 * 1024 - ENVELOPE_ROOM;

impl Bus {
    /// Replies to the gateway waiting on `subject` with the finished `execution`. One too
    /// large for a message goes as its id and status only, with the [`headers::RESULT_IN_STORE`]
    /// header: the gateway then reads the stored record.
    pub async fn reply(&self, subject: &str, execution: &Execution) -> Result<(), BusError> {
        let whole = execution.encode_to_vec();
        // Every server takes this much; only a larger reply needs the server's own limit.
        let fits = whole.len() <= SURELY_FITS
            || whole.len()
                <= self
                    .client
                    .server_info()
                    .max_payload
                    .saturating_sub(ENVELOPE_ROOM);
        let sent = if fits {
            self.client.publish(subject.to_owned(), whole.into()).await
        } else {
            let mut hdrs = async_nats::HeaderMap::new();
            hdrs.insert(headers::RESULT_IN_STORE, "1");
            let summary = Execution {
                id: execution.id.clone(),
                status: execution.status,
                ..Default::default()
            };
            self.client
                .publish_with_headers(subject.to_owned(), hdrs, summary.encode_to_vec().into())
                .await
        };
        sent.map_err(|e| self.connect_error(e.to_string()))
    }

    /// The replies addressed to gateway `gateway_id` (its wildcard subject), decoded; one that
    /// does not decode is logged and skipped.
    pub async fn replies(&self, gateway_id: &str) -> Result<Replies, BusError> {
        let subscription = self
            .client
            .subscribe(self.names.results_wildcard(gateway_id))
            .await
            .map_err(|e| self.connect_error(e.to_string()))?;
        Ok(Box::pin(subscription.filter_map(|message| async move {
            let in_store_only = message
                .headers
                .as_ref()
                .is_some_and(|h| h.get(headers::RESULT_IN_STORE).is_some());
            match Execution::decode(message.payload.as_ref()) {
                Ok(execution) => Some(Reply {
                    execution,
                    in_store_only,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, subject = %message.subject, "undecodable execution reply");
                    None
                }
            }
        })))
    }

    /// Says that connection request `request_id` of `project` ended (its record says how).
    pub async fn announce_connection_ended(
        &self,
        project: &str,
        request_id: &str,
    ) -> Result<(), BusError> {
        self.client
            .publish(
                self.names.connection_subject(project, request_id),
                request_id.to_owned().into(),
            )
            .await
            .map_err(|e| self.connect_error(e.to_string()))
    }

    /// A signal each time connection request `request_id` of `project` ends, or (None) any of
    /// the project's. Listen before reading the store, so an end in between is not missed.
    pub async fn connection_endings(
        &self,
        project: &str,
        request_id: Option<&str>,
    ) -> Result<Signals, BusError> {
        let subscription = self
            .client
            .subscribe(
                self.names
                    .connection_subject(project, request_id.unwrap_or("*")),
            )
            .await
            .map_err(|e| self.connect_error(e.to_string()))?;
        Ok(Box::pin(subscription.map(|_| ())))
    }

    /// Says that `project`'s custom toolkits changed and are now at `version`.
    pub async fn announce_catalog_change(
        &self,
        project: &str,
        version: u64,
    ) -> Result<(), BusError> {
        self.client
            .publish(
                self.names.catalog_subject(project),
                version.to_string().into(),
            )
            .await
            .map_err(|e| self.connect_error(e.to_string()))?;
        // Sent now, not when the buffer next fills: replicas drop their copy within a round
        // trip.
        self.flush().await
    }

    /// Every project's catalog changes, as `(project, version)`. Core NATS: a change announced
    /// while nobody listened is not replayed, so a listener also re-checks what it caches.
    pub async fn catalog_changes(&self) -> Result<CatalogChanges, BusError> {
        let prefix = format!("{}.catalog.", self.names.subject_prefix);
        let subscription = self
            .client
            .subscribe(self.names.catalog_subject("*"))
            .await
            .map_err(|e| self.connect_error(e.to_string()))?;
        Ok(Box::pin(subscription.filter_map(move |message| {
            let project = message
                .subject
                .strip_prefix(prefix.as_str())
                .map(str::to_owned);
            let version = std::str::from_utf8(&message.payload)
                .ok()
                .and_then(|v| v.parse::<u64>().ok());
            futures::future::ready(project.zip(version))
        })))
    }

    fn connect_error(&self, message: String) -> BusError {
        BusError::Nats(message)
    }
}
