//! The native-handler registry: a tool whose request a declarative `http` mapping cannot
//! express names a handler (`native: gmail_send_email`), and [`handler`] maps that name to the
//! code that builds the request. The catalog refuses names outside
//! `switchboard_catalog::NATIVE_HANDLERS`; every one of them has an entry here (tested).

use reqwest::Method;
use serde_json::{Map, Value};

use crate::gmail;

/// What a native handler asks of the provider: the method, the path template (its `{name}`
/// placeholders filled from the arguments like an `http` mapping's) and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeRequest {
    pub method: Method,
    pub path: &'static str,
    pub body: Value,
}

/// Why a native handler could not build its request (sent back as `INVALID_REQUEST`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeError {
    #[error("an email address must not contain control characters")]
    ControlCharacterInAddress,
    #[error("cc and bcc must be lists of email addresses")]
    NotAnAddressList,
}

/// A native handler: from the arguments (schema defaults filled in) to its request.
pub type NativeHandler = fn(&Map<String, Value>) -> Result<NativeRequest, NativeError>;

/// The handler named `name` in a tool's `native` field, if there is one.
pub fn handler(name: &str) -> Option<NativeHandler> {
    match name {
        "gmail_send_email" => Some(gmail::send_email),
        "gmail_create_draft" => Some(gmail::create_draft),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_the_catalog_accepts_exists() {
        for name in switchboard_catalog::NATIVE_HANDLERS {
            assert!(handler(name).is_some(), "{name}");
        }
        assert!(handler("send_fax").is_none());
    }
}
