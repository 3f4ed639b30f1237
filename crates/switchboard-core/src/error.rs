//! The error model: every failure a caller can see, with its gRPC code, a stable
//! machine-readable reason (in `google.rpc.ErrorInfo`, domain `switchboard`), the field path for
//! bad input (in `google.rpc.BadRequest`), and a human sentence. One `From` maps it to a status.

use std::collections::HashMap;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// The domain all reasons belong to.
pub const DOMAIN: &str = "switchboard";

/// A failure a caller can see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bad input: `field` is the path of the offending field (e.g. `config.toolkits.enable[1]`).
    #[error("{field}: {message}")]
    InvalidArgument {
        reason: &'static str,
        field: String,
        message: String,
    },
    /// The thing does not exist for this caller (including: it belongs to another project).
    #[error("{message}")]
    NotFound {
        reason: &'static str,
        message: String,
    },
    /// The thing exists already (e.g. an alias taken).
    #[error("{message}")]
    AlreadyExists {
        reason: &'static str,
        message: String,
    },
    /// The call was not accepted (a full queue); `execution_id` names the execution it ended.
    #[error("{message}")]
    ResourceExhausted {
        reason: &'static str,
        message: String,
        execution_id: String,
    },
    /// The deadline passed; `execution_id` names the execution to read later.
    #[error("{message}")]
    DeadlineExceeded {
        reason: &'static str,
        message: String,
        execution_id: String,
    },
    #[error("{message}")]
    Unauthenticated {
        reason: &'static str,
        message: String,
    },
    #[error("{message}")]
    PermissionDenied {
        reason: &'static str,
        message: String,
    },
    /// A precondition the caller set did not hold (e.g. `expected_config_version`).
    #[error("{message}")]
    Aborted {
        reason: &'static str,
        message: String,
    },
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },
    /// A dependency (Redis, NATS) did not answer; retrying later may work.
    #[error("{message}")]
    Unavailable {
        reason: &'static str,
        message: String,
    },
    /// A bug: never the caller's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Bad input in `field`.
    pub fn invalid(
        reason: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Error {
        Error::InvalidArgument {
            reason,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A missing thing.
    pub fn not_found(reason: &'static str, message: impl Into<String>) -> Error {
        Error::NotFound {
            reason,
            message: message.into(),
        }
    }

    /// The session does not exist for this project.
    pub fn session_not_found(id: &str) -> Error {
        Error::not_found(
            crate::reason::SESSION_NOT_FOUND,
            format!("session {id:?} not found"),
        )
    }

    /// The stable reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidArgument { reason, .. }
            | Error::NotFound { reason, .. }
            | Error::AlreadyExists { reason, .. }
            | Error::ResourceExhausted { reason, .. }
            | Error::DeadlineExceeded { reason, .. }
            | Error::Unauthenticated { reason, .. }
            | Error::PermissionDenied { reason, .. }
            | Error::Aborted { reason, .. }
            | Error::FailedPrecondition { reason, .. }
            | Error::Unavailable { reason, .. } => reason,
            Error::Internal(_) => crate::reason::INTERNAL,
        }
    }

    /// The message as callers see it: internal details stay in the logs.
    pub fn public_message(&self) -> String {
        match self {
            Error::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    /// The gRPC code.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument { .. } => Code::InvalidArgument,
            Error::NotFound { .. } => Code::NotFound,
            Error::AlreadyExists { .. } => Code::AlreadyExists,
            Error::ResourceExhausted { .. } => Code::ResourceExhausted,
            Error::DeadlineExceeded { .. } => Code::DeadlineExceeded,
            Error::Unauthenticated { .. } => Code::Unauthenticated,
            Error::PermissionDenied { .. } => Code::PermissionDenied,
            Error::Aborted { .. } => Code::Aborted,
            Error::FailedPrecondition { .. } => Code::FailedPrecondition,
            Error::Unavailable { .. } => Code::Unavailable,
            Error::Internal(_) => Code::Internal,
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> tonic::Status {
        let mut details = ErrorDetails::new();
        let mut metadata = HashMap::new();
        if let Error::ResourceExhausted { execution_id, .. }
        | Error::DeadlineExceeded { execution_id, .. } = &err
        {
            metadata.insert("execution_id".to_owned(), execution_id.clone());
        }
        details.set_error_info(err.reason(), DOMAIN, metadata);
        if let Error::InvalidArgument { field, message, .. } = &err {
            details.add_bad_request_violation(field.clone(), message.clone());
        }
        tonic::Status::with_error_details(err.code(), err.public_message(), details)
    }
}

/// Reads the reason and field path back from a status (for clients and tests).
pub fn status_reason(status: &tonic::Status) -> (Option<String>, Option<String>) {
    let details = status.get_error_details();
    let reason = details.error_info().map(|i| i.reason.clone());
    let field = details
        .bad_request()
        .and_then(|b| b.field_violations.first())
        .map(|v| v.field.clone());
    (reason, field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_carries_reason_and_field() {
        let status: tonic::Status = Error::invalid(
            "UNKNOWN_TOOLKIT",
            "config.toolkits.enable[0]",
            "unknown toolkit \"x\"",
        )
        .into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "config.toolkits.enable[0]: unknown toolkit \"x\""
        );
        let (reason, field) = status_reason(&status);
        assert_eq!(reason.as_deref(), Some("UNKNOWN_TOOLKIT"));
        assert_eq!(field.as_deref(), Some("config.toolkits.enable[0]"));
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let status: tonic::Status = Error::Internal("redis said secret things".into()).into();
        assert_eq!(status.message(), "internal error");
    }
}
