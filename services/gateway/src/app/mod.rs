//! The gateway's use cases: every operation a client can ask for, over any transport. Each
//! takes the shared [`AppState`](crate::state::AppState), the caller's project (already
//! authenticated by the adapter) and the request message, and returns the response message or
//! the domain [`Error`]; none knows about gRPC statuses, HTTP or MCP. The adapters in
//! [`crate::grpc`], [`crate::http`] and [`crate::mcp`] authenticate, call one of these and
//! map the error (`switchboard_core::Error` has the one mapping to a gRPC status).

pub mod admin;
pub mod catalog;
pub mod connect;
pub mod connections;
pub mod custom_toolkits;
pub mod execute;
pub mod links;
pub mod meta;
pub mod results;
pub mod session_cache;
pub mod sessions;
pub mod subscribe;
pub mod triggers;
pub mod view;

use switchboard_core::Error;

/// Checks that a required string field is present.
pub(crate) fn required<'a>(value: &'a str, field: &str) -> Result<&'a str, Error> {
    if value.is_empty() {
        Err(Error::invalid(
            switchboard_core::reason::REQUIRED,
            field,
            "is required",
        ))
    } else {
        Ok(value)
    }
}

/// Checks a display name: 1–128 bytes without control characters (empty allowed when optional).
pub(crate) fn check_name(name: &str, field: &str, optional: bool) -> Result<(), Error> {
    if name.is_empty() && !optional {
        return Err(Error::invalid(
            switchboard_core::reason::REQUIRED,
            field,
            "is required",
        ));
    }
    if name.len() > 128 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            switchboard_core::reason::INVALID_NAME,
            field,
            "must be at most 128 bytes without control characters",
        ));
    }
    Ok(())
}
