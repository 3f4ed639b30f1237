//! Taking messages off a stream: a [`Consumer`] hands out [`Delivery`]s, each with its payload
//! decoded ([`Delivery::job`], [`Delivery::event`]), how often it was delivered and the
//! acknowledgements JetStream knows (done, try again later, still working, never again). The
//! services see these types only, never the NATS client's nor the payload's bytes.

use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use futures::{Stream, StreamExt};

use crate::events::Envelope;
use crate::wire::{self, DecodeError, Job};

/// Why pulling or acknowledging failed (the server or the connection; trying again may work).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConsumeError(String);

/// A durable or ephemeral pull consumer on one of the platform's streams.
#[derive(Clone)]
pub struct Consumer {
    pub(crate) inner: jetstream::consumer::PullConsumer,
}

/// The deliveries of a consumer, as they are pulled.
pub type Deliveries = Pin<Box<dyn Stream<Item = Result<Delivery, ConsumeError>> + Send>>;

impl Consumer {
    /// Starts pulling, at most `batch` messages at a time.
    pub async fn deliveries(&self, batch: usize) -> Result<Deliveries, ConsumeError> {
        let messages = self
            .inner
            .stream()
            .max_messages_per_batch(batch)
            .messages()
            .await
            .map_err(|e| ConsumeError(e.to_string()))?;
        Ok(Box::pin(messages.map(|m| {
            m.map(|message| Delivery { message })
                .map_err(|e| ConsumeError(e.to_string()))
        })))
    }

    /// Messages waiting or delivered and not yet acknowledged (None: the server did not say).
    pub async fn backlog(&mut self) -> Option<u64> {
        let info = self.inner.info().await.ok()?;
        Some(
            info.num_pending
                .saturating_add(u64::try_from(info.num_ack_pending).unwrap_or(u64::MAX)),
        )
    }
}

/// One message pulled from a stream, to acknowledge one way or another.
pub struct Delivery {
    message: jetstream::Message,
}

impl Delivery {
    /// The job it carries (a delivery of the job stream). A payload that is not a job will
    /// never be one: [`Delivery::reject`] it.
    pub fn job(&self) -> Result<Job, DecodeError> {
        wire::decode_job(&self.message.payload)
    }

    /// The event it carries (a delivery of the event stream).
    pub fn event(&self) -> Result<Envelope, DecodeError> {
        wire::decode_event(&self.message.payload)
    }

    pub fn subject(&self) -> &str {
        self.message.subject.as_str()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str())
    }

    /// How many times it has been delivered, this time included (1 when unknown).
    pub fn delivered(&self) -> i64 {
        self.message.info().map(|i| i.delivered).unwrap_or(1)
    }

    /// Its sequence number in the stream (0 when unknown).
    pub fn stream_sequence(&self) -> u64 {
        self.message.info().map(|i| i.stream_sequence).unwrap_or(0)
    }

    /// Done with: it is not delivered again.
    pub async fn ack(&self) -> Result<(), ConsumeError> {
        self.message
            .ack()
            .await
            .map_err(|e| ConsumeError(e.to_string()))
    }

    /// Not done: deliver it again, after `delay` (None: at once).
    pub async fn retry(&self, delay: Option<Duration>) -> Result<(), ConsumeError> {
        self.acknowledge(AckKind::Nak(delay)).await
    }

    /// Still working on it: its acknowledgement time starts again.
    pub async fn in_progress(&self) -> Result<(), ConsumeError> {
        self.acknowledge(AckKind::Progress).await
    }

    /// Never deliver it again, although it was not handled (it cannot be).
    pub async fn reject(&self) -> Result<(), ConsumeError> {
        self.acknowledge(AckKind::Term).await
    }

    async fn acknowledge(&self, kind: AckKind) -> Result<(), ConsumeError> {
        self.message
            .ack_with(kind)
            .await
            .map_err(|e| ConsumeError(e.to_string()))
    }
}
