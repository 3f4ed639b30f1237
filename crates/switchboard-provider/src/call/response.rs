//! Sending one attempt and reading the provider's answer: data, a provider error with its
//! status and message, or a failure worth retrying.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;
use switchboard_catalog::Toolkit;

use super::request::Prepared;
use super::{Outcome, PROVIDER_ERROR, PROVIDER_TIMEOUT, PROVIDER_UNAVAILABLE};

/// Longest provider message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// What one attempt produced.
#[derive(Debug)]
pub(super) enum Sent {
    Answered {
        status: StatusCode,
        retry_after: Option<Duration>,
        body: Vec<u8>,
    },
    TimedOut,
    /// Connecting or transferring failed; the text is the error chain, without the URL.
    Unreachable(String),
}

/// An attempt's outcome, and whether a retry could help (with the provider's `Retry-After`).
#[derive(Debug)]
pub(super) struct Answer {
    pub outcome: Outcome,
    pub retry: Option<Option<Duration>>,
}

/// Sends `request` and reads the whole answer within `timeout`.
pub(super) async fn send(
    client: &reqwest::Client,
    request: reqwest::Request,
    timeout: Duration,
) -> Sent {
    let attempt = async {
        let response = client.execute(request).await?;
        let status = response.status();
        // Lands on the worker's `provider call` span, which declares the field.
        tracing::Span::current().record("http.status", status.as_u16());
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, retry_after, body))
    };
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => Sent::TimedOut,
        Ok(Err(e)) if e.is_timeout() => Sent::TimedOut,
        Ok(Err(e)) => Sent::Unreachable(error_chain(e.without_url())),
        Ok(Ok((status, retry_after, body))) => Sent::Answered {
            status,
            retry_after,
            body: body.to_vec(),
        },
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored and backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

fn error_chain(error: reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Maps one attempt to an outcome.
pub(super) fn map(toolkit: &Toolkit, prepared: &Prepared, sent: Sent, timeout: Duration) -> Answer {
    let slug = &toolkit.slug;
    let (status, retry_after, body) = match sent {
        Sent::TimedOut => {
            let message = format!("{slug} did not answer within {} ms", timeout.as_millis());
            return retryable(Outcome::failed(PROVIDER_TIMEOUT, message, 0), None);
        }
        Sent::Unreachable(error) => {
            let message = format!("{slug} could not be reached: {error}");
            return retryable(Outcome::failed(PROVIDER_UNAVAILABLE, message, 0), None);
        }
        Sent::Answered {
            status,
            retry_after,
            body,
        } => (status, retry_after, body),
    };
    let value = parse_body(&body);
    let code = status.as_u16();
    if status.is_success() {
        if let Some(error) = body_failure(toolkit, prepared, &value) {
            let message = format!("{slug} reported an error: {}", clip(&error));
            return done(Outcome::failed(PROVIDER_ERROR, message, code));
        }
        return done(Outcome::Success(value));
    }
    let message = format!("{slug} answered {code}: {}", provider_message(&value));
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        retryable(
            Outcome::failed(PROVIDER_UNAVAILABLE, message, code),
            retry_after,
        )
    } else {
        done(Outcome::failed(PROVIDER_ERROR, message, code))
    }
}

fn done(outcome: Outcome) -> Answer {
    Answer {
        outcome,
        retry: None,
    }
}

fn retryable(outcome: Outcome, retry_after: Option<Duration>) -> Answer {
    Answer {
        outcome,
        retry: Some(retry_after),
    }
}

/// JSON when it parses, `null` when empty, otherwise the text as a JSON string.
fn parse_body(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// The failure a 2xx body reports: the toolkit's `ok: false` flag, or GraphQL `errors`.
fn body_failure(toolkit: &Toolkit, prepared: &Prepared, value: &Value) -> Option<String> {
    if let Some(spec) = &toolkit.spec.response {
        if value.get(&spec.ok_field) == Some(&Value::Bool(false)) {
            let error = value.get(&spec.error_field).and_then(Value::as_str);
            return Some(error.unwrap_or("the call failed").to_owned());
        }
    }
    if prepared.graphql {
        if let Some(first) = value
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            let message = first.get("message").and_then(Value::as_str);
            return Some(message.map_or_else(|| first.to_string(), str::to_owned));
        }
    }
    None
}

/// The provider's own words: `message` (GitHub, Notion), `error.message` (Google),
/// `errors[0].message` (GraphQL), `error` (Slack, OAuth), else the start of the body.
fn provider_message(value: &Value) -> String {
    let text = value
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| value.pointer("/error/message").and_then(Value::as_str))
        .or_else(|| value.pointer("/errors/0/message").and_then(Value::as_str))
        .or_else(|| value.get("error").and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| match value {
            Value::Null => "empty body".to_owned(),
            Value::String(s) => s.trim().to_owned(),
            other => other.to_string(),
        });
    clip(&text)
}

/// At most [`MAX_MESSAGE_CHARS`] characters, cut on a character boundary.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use serde_json::json;

    use super::*;

    #[test]
    fn provider_messages_come_from_each_providers_shape() {
        let cases = [
            (
                json!({"message": "Not Found", "documentation_url": "x"}),
                "Not Found",
            ),
            (
                json!({"error": {"code": 400, "message": "Invalid id"}}),
                "Invalid id",
            ),
            (
                json!({"errors": [{"message": "Entity not found"}]}),
                "Entity not found",
            ),
            (
                json!({"ok": false, "error": "invalid_auth"}),
                "invalid_auth",
            ),
            (json!("  Bad Gateway \n"), "Bad Gateway"),
            (Value::Null, "empty body"),
        ];
        for (body, expected) in cases {
            assert_eq!(provider_message(&body), expected);
        }
        let long = "é".repeat(1000);
        assert_eq!(provider_message(&json!(long)).chars().count(), 301);
    }

    #[test]
    fn bodies_parse_as_json_text_or_null() {
        assert_eq!(parse_body(b""), Value::Null);
        assert_eq!(parse_body(b" \n"), Value::Null);
        assert_eq!(parse_body(br#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(parse_body(b"plain"), json!("plain"));
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        let date = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        headers.insert(RETRY_AFTER, date);
        assert_eq!(retry_after(&headers), None);
    }
}
