//! SubscribeEvents: a JetStream pull consumer on the event stream, filtered by subject to the
//! caller's project (and user, when given), the other filters applied here. An event is
//! acknowledged once it is handed to the gRPC stream; a durable subscription (named) resumes
//! after a disconnect with every event it missed. An event whose acknowledgement was lost comes
//! back from JetStream; one this stream already handed out is acknowledged again, not resent.
//! (A subscriber that reconnects may still see an event it was handed just before the break:
//! each event's `id` is stable, to drop such a repeat.)

use std::collections::HashSet;
use std::pin::Pin;
use std::time::Duration;

use crate::state::AppState;
use futures::{Stream, StreamExt};
use switchboard_bus::events::Envelope;
use switchboard_core::session_config::validate_user_id;
use switchboard_core::Error;
use switchboard_proto::v1::{Event, SubscribeEventsRequest};

/// The events of one subscription, in stream order; it ends when the subscriber leaves or the
/// gateway stops.
pub type EventStream = Pin<Box<dyn Stream<Item = Event> + Send + 'static>>;

/// Events wait for a gRPC subscriber at most this long before JetStream hands them out again.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// How many of the latest events handed to one subscriber are remembered, so a redelivery of
/// one of them (its acknowledgement was lost, say with a NATS node) is not sent twice.
const REMEMBERED: usize = 65_536;

/// The stream sequences of the latest events handed to a subscriber, oldest first out.
#[derive(Default)]
struct Handed {
    order: std::collections::VecDeque<u64>,
    set: HashSet<u64>,
}

impl Handed {
    fn insert(&mut self, sequence: u64) {
        if self.set.insert(sequence) {
            self.order.push_back(sequence);
            if self.order.len() > REMEMBERED {
                if let Some(oldest) = self.order.pop_front() {
                    self.set.remove(&oldest);
                }
            }
        }
    }

    fn contains(&self, sequence: u64) -> bool {
        self.set.contains(&sequence)
    }
}

struct Filters {
    accounts: HashSet<String>,
    triggers: HashSet<String>,
    types: HashSet<String>,
    event_types: HashSet<String>,
}

impl Filters {
    fn admits(&self, event: &Envelope) -> bool {
        let m = &event.metadata;
        (self.accounts.is_empty() || self.accounts.contains(&m.connected_account_id))
            && (self.triggers.is_empty() || self.triggers.contains(&m.trigger_id))
            && (self.types.is_empty() || self.types.contains(&m.trigger_slug))
            && (self.event_types.is_empty() || self.event_types.contains(&event.kind))
    }
}

pub async fn open(
    state: &AppState,
    project: &str,
    req: SubscribeEventsRequest,
) -> Result<EventStream, Error> {
    if !req.user_id.is_empty() {
        validate_user_id(&req.user_id, "user_id")?;
    }
    let name = &req.durable_name;
    if !name.is_empty()
        && (name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(Error::invalid(
            switchboard_core::reason::INVALID_DURABLE_NAME,
            "durable_name",
            "must be 1–64 letters, digits, `_` or `-`",
        ));
    }
    for (i, slug) in req.trigger_types.iter().enumerate() {
        if state.catalog.trigger_type(slug).is_none() {
            return Err(Error::invalid(
                switchboard_core::reason::UNKNOWN_TRIGGER_TYPE,
                format!("trigger_types[{i}]"),
                format!("unknown trigger type {slug:?}"),
            ));
        }
    }
    let names = &state.bus.names;
    let filter = if req.user_id.is_empty() {
        names.project_events(project)
    } else {
        names.user_events(project, &req.user_id)
    };
    let durable = (!name.is_empty()).then(|| format!("sub_{project}_{name}"));
    let consumer = state
        .bus
        .events_consumer(durable.as_deref(), filter, ACK_WAIT)
        .await
        .map_err(|e| Error::Unavailable {
            reason: switchboard_core::reason::BUS_UNAVAILABLE,
            message: format!("cannot subscribe now: {e}"),
        })?
        .ok_or_else(|| Error::FailedPrecondition {
            reason: switchboard_core::reason::SUBSCRIPTION_FILTER_MISMATCH,
            message: format!(
                "durable subscription {name:?} exists with another user filter; use another name"
            ),
        })?;
    let mut messages = consumer
        .deliveries(64)
        .await
        .map_err(|e| Error::Unavailable {
            reason: switchboard_core::reason::BUS_UNAVAILABLE,
            message: format!("cannot subscribe now: {e}"),
        })?;
    let filters = Filters {
        accounts: req.connected_account_ids.into_iter().collect(),
        triggers: req.trigger_ids.into_iter().collect(),
        types: req.trigger_types.into_iter().collect(),
        event_types: req.event_types.into_iter().collect(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    let project = project.to_owned();
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let mut handed = Handed::default();
        loop {
            let next = tokio::select! {
                m = messages.next() => m,
                () = tx.closed() => break,
                // The gateway is stopping: end the stream (a durable subscriber resumes on
                // another replica).
                () = shutdown.cancelled() => break,
            };
            let message = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "event subscription pull failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                None => break,
            };
            let (sequence, delivered) = (message.stream_sequence(), message.delivered());
            if delivered > 1 && handed.contains(sequence) {
                // Handed to this subscriber already; only its acknowledgement was lost.
                let _ = message.ack().await;
                continue;
            }
            match message.event() {
                // The subject filter keeps other projects out; check anyway.
                Ok(e) if e.metadata.project_id == project && filters.admits(&e) => {
                    let event = crate::app::triggers::to_event(&e, sequence);
                    if tx.send(event).await.is_err() {
                        // The subscriber left before taking it: hand it out again now.
                        let _ = message.retry(None).await;
                        break;
                    }
                    switchboard_metrics::trigger_event_delivered("grpc");
                    handed.insert(sequence);
                    let _ = message.ack().await;
                }
                Ok(_) => {
                    let _ = message.ack().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, sequence, "undecodable event; skipping it");
                    let _ = message.ack().await;
                }
            }
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}

#[cfg(test)]
mod tests {
    use super::{Handed, REMEMBERED};

    #[test]
    fn handed_remembers_the_latest_sequences_only() {
        let mut handed = Handed::default();
        for seq in 1..=(REMEMBERED as u64 + 10) {
            handed.insert(seq);
        }
        assert!(!handed.contains(1));
        assert!(!handed.contains(10));
        assert!(handed.contains(11));
        assert!(handed.contains(REMEMBERED as u64 + 10));
        handed.insert(REMEMBERED as u64 + 10);
        assert_eq!(handed.order.len(), REMEMBERED);
        assert_eq!(handed.set.len(), REMEMBERED);
    }
}
