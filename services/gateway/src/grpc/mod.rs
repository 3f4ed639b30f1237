//! gRPC service implementations. Each handler authenticates, validates, calls the store and
//! maps domain errors to statuses through `switchboard_core::Error`'s one `From`.

pub mod admin;
pub mod catalog;
pub mod connection;
pub mod session;

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
