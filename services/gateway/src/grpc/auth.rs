//! Caller authentication: project API keys for the public services, the admin token for
//! AdminService. Secrets are read from metadata only and never logged.

use sha2::{Digest, Sha256};
use switchboard_core::Error;
use tonic::metadata::MetadataMap;

use crate::state::AppState;

/// The bearer credential of a request: `x-api-key`, or `authorization: Bearer …`.
fn credential(metadata: &MetadataMap) -> Option<&str> {
    if let Some(v) = metadata.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    metadata
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The API key the request carries (not yet checked), or `UNAUTHENTICATED`.
pub fn secret(metadata: &MetadataMap) -> Result<&str, Error> {
    credential(metadata).ok_or(Error::Unauthenticated {
        reason: switchboard_core::reason::MISSING_API_KEY,
        message: "send a project API key as `x-api-key: sk_…` or `authorization: Bearer sk_…`"
            .into(),
    })
}

/// The project of the request's API key, or `UNAUTHENTICATED`.
pub async fn project(state: &AppState, metadata: &MetadataMap) -> Result<String, Error> {
    let secret = secret(metadata)?;
    Ok(state.store.authenticate(secret).await?.project_id)
}

/// Checks the admin token; AdminService is off while none is configured.
pub fn admin(state: &AppState, metadata: &MetadataMap) -> Result<(), Error> {
    let Some(expected) = state.config.gateway.admin_token.as_deref() else {
        return Err(Error::FailedPrecondition {
            reason: switchboard_core::reason::ADMIN_DISABLED,
            message: "the admin API is disabled: set gateway.admin_token".into(),
        });
    };
    let given = credential(metadata).unwrap_or("");
    // Compare digests so the comparison takes the same time whatever the input.
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    if a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
    {
        Ok(())
    } else {
        Err(Error::Unauthenticated {
            reason: switchboard_core::reason::INVALID_ADMIN_TOKEN,
            message: "the admin token is missing or wrong".into(),
        })
    }
}
