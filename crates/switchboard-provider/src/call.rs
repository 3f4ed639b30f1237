//! One tool call against the provider's API: build the HTTP request from the tool's mapping
//! (or a native handler), put the credential on it, send it with a timeout, retry 429/5xx for
//! idempotent tools, and map the answer to data or an error.
//!
//! The credential goes only into a header marked sensitive; no message this module produces,
//! and nothing it logs, contains it (requests and their headers are never logged).

mod request;
mod response;

use std::time::Duration;

use serde_json::Value;
use switchboard_catalog::{Tool, Toolkit};
use switchboard_core::Credential;
use tokio::time::Instant;

use response::Answer;

/// The error codes of a failed call (documented in the registry).
pub use switchboard_core::reason::{
    INVALID_REQUEST, PROVIDER_ERROR, PROVIDER_TIMEOUT, PROVIDER_UNAVAILABLE,
};

/// Limits of one call.
#[derive(Debug, Clone, Copy)]
pub struct CallPolicy {
    /// Time allowed to each attempt, from sending to the last byte of the answer.
    pub timeout: Duration,
    /// Retries after the first attempt, for idempotent tools only.
    pub max_retries: u32,
    /// No attempt starts, and no retry waits, past this instant.
    pub deadline: Instant,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The provider's answer: its JSON body, `null` for an empty one, or the text as a string.
    Success(Value),
    Failed {
        /// One of [`PROVIDER_ERROR`], [`PROVIDER_UNAVAILABLE`], [`PROVIDER_TIMEOUT`],
        /// [`INVALID_REQUEST`].
        code: &'static str,
        message: String,
        /// The provider's HTTP status; 0 when there was none.
        provider_status: u16,
    },
}

impl Outcome {
    pub(crate) fn failed(code: &'static str, message: impl Into<String>, status: u16) -> Outcome {
        Outcome::Failed {
            code,
            message: message.into(),
            provider_status: status,
        }
    }
}

/// The outcome and how many HTTP requests it took (0 when none was sent).
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    pub outcome: Outcome,
    pub attempts: u32,
}

/// Runs `tool` of `toolkit` with `arguments` (already validated against the input schema) as
/// the account holding `credential`.
pub async fn call(
    client: &reqwest::Client,
    toolkit: &Toolkit,
    tool: &Tool,
    arguments: &Value,
    credential: &Credential,
    policy: &CallPolicy,
) -> CallResult {
    let mut result = run(client, toolkit, tool, arguments, credential, policy).await;
    if let Outcome::Failed { message, .. } = &mut result.outcome {
        redact(message, credential);
    }
    result
}

async fn run(
    client: &reqwest::Client,
    toolkit: &Toolkit,
    tool: &Tool,
    arguments: &Value,
    credential: &Credential,
    policy: &CallPolicy,
) -> CallResult {
    let prepared = match request::build(client, toolkit, tool, arguments, credential) {
        Ok(prepared) => prepared,
        Err(message) => {
            return CallResult {
                outcome: Outcome::failed(INVALID_REQUEST, message, 0),
                attempts: 0,
            }
        }
    };
    let retry_allowed = tool.is_idempotent();
    let mut attempts = 0;
    loop {
        let now = Instant::now();
        if now >= policy.deadline {
            return CallResult {
                outcome: Outcome::failed(
                    PROVIDER_TIMEOUT,
                    format!("{} call not started: deadline passed", toolkit.slug),
                    0,
                ),
                attempts,
            };
        }
        // A request whose body is bytes always clones; `None` would mean a streaming body.
        let Some(request) = prepared.request.try_clone() else {
            return CallResult {
                outcome: Outcome::failed(INVALID_REQUEST, "request body cannot be replayed", 0),
                attempts,
            };
        };
        attempts += 1;
        let timeout = policy.timeout.min(policy.deadline - now);
        let answer = response::send(client, request, timeout).await;
        let Answer { outcome, retry } = response::map(toolkit, &prepared, answer, timeout);
        let Some(retry_after) = retry else {
            return CallResult { outcome, attempts };
        };
        if !retry_allowed || attempts > policy.max_retries {
            return CallResult { outcome, attempts };
        }
        let delay = retry_after.unwrap_or_else(|| backoff(attempts));
        if Instant::now() + delay >= policy.deadline {
            return CallResult { outcome, attempts };
        }
        if let Outcome::Failed {
            code,
            provider_status,
            ..
        } = &outcome
        {
            tracing::debug!(
                toolkit = %toolkit.slug,
                tool = %tool.slug,
                attempt = attempts,
                code,
                provider_status,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "retrying provider call"
            );
        }
        tokio::time::sleep(delay).await;
    }
}

/// Removes the credential's secrets from `message`, in case a provider echoed one back.
/// Very short secrets are left alone: blanking every "ab" would destroy the message and
/// protect nothing.
fn redact(message: &mut String, credential: &Credential) {
    let encoded;
    let secrets: Vec<&str> = match credential {
        Credential::None => Vec::new(),
        Credential::ApiKey(secret) | Credential::BearerToken(secret) => vec![secret],
        Credential::OAuth2(tokens) => {
            let mut all = vec![tokens.access_token.as_str()];
            all.extend(tokens.refresh_token.as_deref());
            all
        }
        Credential::Basic { username, password } => {
            use base64::Engine as _;
            encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            vec![password, &encoded]
        }
    };
    for secret in secrets {
        if secret.len() >= 4 && message.contains(secret) {
            *message = message.replace(secret, "<redacted>");
        }
    }
}

/// Exponential backoff from 100 ms, capped at 10 s, with "equal jitter": half fixed, half
/// random, so retries of many calls spread out without collapsing to zero.
fn backoff(attempt: u32) -> Duration {
    const BASE_MS: u64 = 100;
    const CAP_MS: u64 = 10_000;
    let full = BASE_MS
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(16))
        .min(CAP_MS);
    let half = full / 2;
    Duration::from_millis(half + rand::random_range(0..=half))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_secrets_are_redacted() {
        let mut message = "bad token sk-123456 (sk-123456)".to_owned();
        redact(&mut message, &Credential::ApiKey("sk-123456".into()));
        assert_eq!(message, "bad token <redacted> (<redacted>)");
        let basic = Credential::Basic {
            username: "u".into(),
            password: "hunter22".into(),
        };
        let mut message = "got Basic dTpodW50ZXIyMg== for hunter22".to_owned();
        redact(&mut message, &basic);
        assert_eq!(message, "got Basic <redacted> for <redacted>");
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        for attempt in 1..40 {
            let full = (100u64 << (attempt - 1).min(16)).min(10_000);
            let d = backoff(attempt).as_millis() as u64;
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d} ms");
        }
    }
}
