//! The bytes on the bus: jobs and events as the `switchboard.bus.v1` protobuf messages of
//! `proto/switchboard/bus/v1/bus.proto`. This is the one place they are encoded and decoded:
//! publishing takes a [`Job`] or an [`Envelope`], and a [`crate::Delivery`] hands them back
//! typed, so no service reads a bus payload itself.
//!
//! A payload that does not decode, or decodes without a field every envelope has, is a
//! [`DecodeError`]; its message names what is wrong, never the payload's contents.

use prost::Message as _;
use switchboard_proto::bus::v1 as pb;

use crate::events::{Envelope, Metadata};

/// The job envelope: which execution to run (see `bus.proto`).
pub use pb::Job;

/// Why a payload is not a job or an event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not the protobuf message expected.
    #[error("not a {what} message: {source}")]
    Protobuf {
        what: &'static str,
        source: prost::DecodeError,
    },
    /// A field every such message has is empty or absent.
    #[error("{what} without {field}")]
    Missing {
        what: &'static str,
        field: &'static str,
    },
    /// An event's data is not JSON text.
    #[error("event data is not JSON: {0}")]
    Data(serde_json::Error),
}

/// A job's payload.
pub(crate) fn encode_job(job: &Job) -> Vec<u8> {
    job.encode_to_vec()
}

/// A job from its payload: both ids set.
pub fn decode_job(payload: &[u8]) -> Result<Job, DecodeError> {
    const WHAT: &str = "job";
    let job =
        Job::decode(payload).map_err(|source| DecodeError::Protobuf { what: WHAT, source })?;
    require(WHAT, "project_id", &job.project_id)?;
    require(WHAT, "execution_id", &job.execution_id)?;
    Ok(job)
}

/// An event's payload. Only a JSON value that cannot be written (never, for a
/// `serde_json::Value`) fails.
pub(crate) fn encode_event(event: &Envelope) -> Result<Vec<u8>, serde_json::Error> {
    let m = &event.metadata;
    Ok(pb::Event {
        id: event.id.clone(),
        timestamp: event.timestamp.clone(),
        r#type: event.kind.clone(),
        metadata: Some(pb::EventMetadata {
            project_id: m.project_id.clone(),
            trigger_slug: m.trigger_slug.clone(),
            trigger_id: m.trigger_id.clone(),
            connected_account_id: m.connected_account_id.clone(),
            auth_config_id: m.auth_config_id.clone(),
            user_id: m.user_id.clone(),
            toolkit: m.toolkit.clone(),
        }),
        data: serde_json::to_vec(&event.data)?,
    }
    .encode_to_vec())
}

/// An event from its payload: id, type and metadata set, data JSON.
pub fn decode_event(payload: &[u8]) -> Result<Envelope, DecodeError> {
    const WHAT: &str = "event";
    let event = pb::Event::decode(payload)
        .map_err(|source| DecodeError::Protobuf { what: WHAT, source })?;
    require(WHAT, "id", &event.id)?;
    require(WHAT, "type", &event.r#type)?;
    let m = event.metadata.ok_or(DecodeError::Missing {
        what: WHAT,
        field: "metadata",
    })?;
    let data = serde_json::from_slice(&event.data).map_err(DecodeError::Data)?;
    Ok(Envelope {
        id: event.id,
        timestamp: event.timestamp,
        kind: event.r#type,
        metadata: Metadata {
            project_id: m.project_id,
            trigger_slug: m.trigger_slug,
            trigger_id: m.trigger_id,
            connected_account_id: m.connected_account_id,
            auth_config_id: m.auth_config_id,
            user_id: m.user_id,
            toolkit: m.toolkit,
        },
        data,
    })
}

fn require(what: &'static str, field: &'static str, value: &str) -> Result<(), DecodeError> {
    if value.is_empty() {
        Err(DecodeError::Missing { what, field })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn event(data: serde_json::Value) -> Envelope {
        Envelope {
            id: "ev_1".into(),
            timestamp: "2026-12-05T10:00:00.123456789Z".into(),
            kind: crate::events::TRIGGER_MESSAGE.into(),
            metadata: Metadata {
                project_id: "prj_1".into(),
                trigger_id: "ti_1".into(),
                user_id: "ada@example.com".into(),
                ..Default::default()
            },
            data,
        }
    }

    #[test]
    fn a_job_round_trips_and_needs_both_ids() {
        let job = Job {
            project_id: "prj_1".into(),
            execution_id: "ex_1".into(),
        };
        assert_eq!(decode_job(&encode_job(&job)).unwrap(), job);
        let no_execution = Job {
            project_id: "prj_1".into(),
            execution_id: String::new(),
        };
        assert!(matches!(
            decode_job(&encode_job(&no_execution)),
            Err(DecodeError::Missing {
                field: "execution_id",
                ..
            })
        ));
        // An empty payload is a message with every field empty: not a job.
        assert!(decode_job(&[]).is_err());
    }

    #[test]
    fn garbage_and_the_old_json_envelopes_are_not_decoded() {
        for payload in [
            &b"not a job"[..],
            br#"{"project_id":"prj_1","execution_id":"ex_1"}"#,
            &[0xff, 0xff, 0xff],
        ] {
            assert!(decode_job(payload).is_err(), "{payload:?}");
            assert!(decode_event(payload).is_err(), "{payload:?}");
        }
    }

    #[test]
    fn event_data_passes_through_exactly_and_the_webhook_body_is_unchanged() {
        let data = serde_json::json!({
            "id": 18446744073709551615u64,
            "negative": -9223372036854775808i64,
            "ratio": 0.1,
            "text": "héllo 👋 \"quoted\" \n",
            "nested": {"list": [1, null, true, {"deep": []}]},
        });
        let before = event(data.clone());
        let after = decode_event(&encode_event(&before).unwrap()).unwrap();
        assert_eq!(after, before);
        assert_eq!(after.data["id"].as_u64(), Some(u64::MAX));
        assert_eq!(
            after.webhook_body().unwrap(),
            serde_json::to_vec(&before).unwrap()
        );
        // Any JSON value, not only an object.
        let scalar = event(serde_json::json!("just text"));
        assert_eq!(
            decode_event(&encode_event(&scalar).unwrap()).unwrap(),
            scalar
        );
    }

    #[test]
    fn an_event_without_metadata_or_json_data_is_refused() {
        let no_metadata = pb::Event {
            id: "ev_1".into(),
            r#type: "trigger.message".into(),
            data: b"{}".to_vec(),
            ..Default::default()
        };
        assert!(matches!(
            decode_event(&no_metadata.encode_to_vec()),
            Err(DecodeError::Missing {
                field: "metadata",
                ..
            })
        ));
        let bad_data = pb::Event {
            metadata: Some(pb::EventMetadata::default()),
            data: b"{ghp_secret".to_vec(),
            ..no_metadata
        };
        let err = decode_event(&bad_data.encode_to_vec()).unwrap_err();
        assert!(matches!(err, DecodeError::Data(_)), "{err:?}");
        assert!(
            !err.to_string().contains("ghp_"),
            "no payload in the error: {err}"
        );
    }
}
