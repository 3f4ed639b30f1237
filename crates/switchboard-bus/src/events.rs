//! Events: what happened (a trigger's message, an account that expired, a trigger or webhook
//! subscription stopped), to whom, with its data. [`Envelope`] is the shape an outgoing webhook
//! carries as JSON (`{id, timestamp, type, metadata, data}`, Standard Webhooks style, see
//! [`Envelope::webhook_body`]); on `<prefix>_EVENTS` it travels as the protobuf message
//! `switchboard.bus.v1.Event` (see [`crate::wire`]), with the event id as the JetStream message
//! id (a repeated publish is dropped) and the type in a header.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A trigger's event.
pub const TRIGGER_MESSAGE: &str = "trigger.message";
/// A trigger stopped (disabled, or its account went away).
pub const TRIGGER_DISABLED: &str = "trigger.disabled";
/// An account's refresh token was refused.
pub const ACCOUNT_EXPIRED: &str = "connected_account.expired";
/// An outgoing webhook subscription was disabled after repeated failures.
pub const WEBHOOK_DISABLED: &str = "webhook_subscription.disabled";

/// Who an event is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub project_id: String,
    #[serde(default)]
    pub trigger_slug: String,
    #[serde(default)]
    pub trigger_id: String,
    #[serde(default)]
    pub connected_account_id: String,
    #[serde(default)]
    pub auth_config_id: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub toolkit: String,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// `ev_…`
    pub id: String,
    /// RFC 3339.
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub metadata: Metadata,
    pub data: Value,
}

impl Envelope {
    /// An event from a payload on the event stream (a [`crate::Delivery::event`] does this for
    /// consumers).
    pub fn decode(payload: &[u8]) -> Result<Envelope, crate::DecodeError> {
        crate::wire::decode_event(payload)
    }

    /// The body of an outgoing webhook: the event as JSON, `{id, timestamp, type, metadata,
    /// data}`, in that order (what subscribers parse and sign-check byte for byte).
    pub fn webhook_body(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// The subject it is published on: project, user, account, then the trigger id (or
    /// `account` for an account's own events, `project` for the project's).
    pub fn subject(&self, names: &crate::Names) -> String {
        let m = &self.metadata;
        let account = if m.connected_account_id.is_empty() {
            "none"
        } else {
            &m.connected_account_id
        };
        let source = if !m.trigger_id.is_empty() {
            m.trigger_id.as_str()
        } else if !m.connected_account_id.is_empty() {
            "account"
        } else {
            "project"
        };
        names.event_subject(&m.project_id, &m.user_id, account, source)
    }
}

fn now_rfc3339() -> String {
    prost_types::Timestamp::from(std::time::SystemTime::now()).to_string()
}

fn new_event_id() -> String {
    format!("ev_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Metadata of an event of trigger `trigger` (its account's auth config `auth_config_id`).
pub fn trigger_metadata(
    project: &str,
    trigger: &switchboard_proto::v1::Trigger,
    auth_config_id: &str,
) -> Metadata {
    Metadata {
        project_id: project.to_owned(),
        trigger_slug: trigger.r#type.clone(),
        trigger_id: trigger.id.clone(),
        connected_account_id: trigger.connected_account_id.clone(),
        auth_config_id: auth_config_id.to_owned(),
        user_id: trigger.user_id.clone(),
        toolkit: trigger.toolkit.clone(),
    }
}

/// A new event now.
pub fn envelope(kind: &str, metadata: Metadata, data: Value) -> Envelope {
    Envelope {
        id: new_event_id(),
        timestamp: now_rfc3339(),
        kind: kind.to_owned(),
        metadata,
        data,
    }
}

/// `trigger.disabled` for `trigger`, saying why.
pub fn trigger_disabled(
    project: &str,
    trigger: &switchboard_proto::v1::Trigger,
    auth_config_id: &str,
    reason: &str,
) -> Envelope {
    envelope(
        TRIGGER_DISABLED,
        trigger_metadata(project, trigger, auth_config_id),
        serde_json::json!({"trigger_id": trigger.id, "reason": reason}),
    )
}
