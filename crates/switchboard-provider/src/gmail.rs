//! Gmail: the native handlers for sending and drafting, which need an RFC 822 message,
//! base64url-encoded as `raw`, that a declarative mapping cannot build; and the history API the
//! `gmail_history` poller reads (`users.history.list` from a stored `historyId`), which a
//! declarative list tool cannot page through with a cursor.

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Map, Value};
use switchboard_core::Credential;

use crate::native::{NativeError, NativeRequest};

/// Longest header or body line allowed by RFC 5322, without its CRLF.
const MAX_LINE: usize = 998;

/// Native handler `gmail_send_email`: `users.messages.send` with the message as `raw`.
pub fn send_email(args: &Map<String, Value>) -> Result<NativeRequest, NativeError> {
    Ok(NativeRequest {
        method: Method::POST,
        path: "/gmail/v1/users/{userId}/messages/send",
        body: json!({"raw": URL_SAFE.encode(message(args)?)}),
    })
}

/// Native handler `gmail_create_draft`: `users.drafts.create` with the message as `raw`.
pub fn create_draft(args: &Map<String, Value>) -> Result<NativeRequest, NativeError> {
    Ok(NativeRequest {
        method: Method::POST,
        path: "/gmail/v1/users/{userId}/drafts",
        body: json!({"message": {"raw": URL_SAFE.encode(message(args)?)}}),
    })
}

/// The RFC 822 message of `recipient_email`, `cc`, `bcc`, `subject`, `body` and `is_html`.
/// Gmail adds `From`, `Date` and `Message-ID`, and removes `Bcc` from what recipients see.
fn message(args: &Map<String, Value>) -> Result<String, NativeError> {
    let mut out = String::new();
    if let Some(to) = args.get("recipient_email").and_then(Value::as_str) {
        header(&mut out, "To", &address(to)?);
    }
    for (name, field) in [("Cc", "cc"), ("Bcc", "bcc")] {
        let list = addresses(args.get(field))?;
        if !list.is_empty() {
            header(&mut out, name, &list.join(", "));
        }
    }
    let subject = args.get("subject").and_then(Value::as_str).unwrap_or("");
    header(&mut out, "Subject", &encode_header_text(subject));
    header(&mut out, "MIME-Version", "1.0");
    let html = args
        .get("is_html")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let kind = if html { "text/html" } else { "text/plain" };
    header(
        &mut out,
        "Content-Type",
        &format!("{kind}; charset=\"UTF-8\""),
    );

    let body = args.get("body").and_then(Value::as_str).unwrap_or("");
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let plain = body.is_ascii() && body.split('\n').all(|l| l.len() <= MAX_LINE);
    if plain {
        header(&mut out, "Content-Transfer-Encoding", "7bit");
        out.push_str("\r\n");
        out.push_str(&body.replace('\n', "\r\n"));
    } else {
        header(&mut out, "Content-Transfer-Encoding", "base64");
        out.push_str("\r\n");
        let encoded = STANDARD.encode(body.replace('\n', "\r\n"));
        for line in encoded.as_bytes().chunks(76) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push_str("\r\n");
        }
    }
    Ok(out)
}

fn header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// An address as given, refused if it could end the header and start another.
fn address(text: &str) -> Result<String, NativeError> {
    if text.chars().any(char::is_control) {
        return Err(NativeError::ControlCharacterInAddress);
    }
    Ok(text.trim().to_owned())
}

fn addresses(value: Option<&Value>) -> Result<Vec<String>, NativeError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(one)) => Ok(vec![address(one)?]),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(address)
            .collect(),
        Some(_) => Err(NativeError::NotAnAddressList),
    }
}

/// Printable ASCII as is; anything else as RFC 2047 `=?UTF-8?B?…?=` words of at most 75
/// characters, folded onto continuation lines. Line breaks become spaces.
fn encode_header_text(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    let printable = text.chars().all(|c| c == ' ' || c.is_ascii_graphic());
    if printable && text.len() <= MAX_LINE - 20 {
        return text;
    }
    // 45 bytes encode to 60 base64 characters, plus 12 of `=?UTF-8?B?` and `?=`.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
    }
    words.join("\r\n ")
}

/// What one history poll found.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// (message id, message) of each added message carrying every wanted label, oldest first.
    pub messages: Vec<(String, Value)>,
    /// The `historyId` the next poll starts from.
    pub cursor: String,
}

/// Why a history poll failed (the poller backs off and tries again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("Gmail needs an OAuth token")]
    NotAToken,
    #[error("Gmail could not be reached")]
    Unreachable,
    #[error("Gmail profile: HTTP {0}")]
    Profile(u16),
    #[error("Gmail gave no historyId")]
    NoHistoryId,
    #[error("Gmail history: HTTP {0}")]
    History(u16),
}

/// The messages added to the mailbox at `base` since `cursor` (a `historyId`) that carry every
/// label of `labels`, each request within `timeout`. Without a cursor (the first poll) only the
/// mailbox's current `historyId` is recorded; a cursor Gmail no longer knows (404) starts
/// again from the current one.
pub async fn poll_history(
    http: &reqwest::Client,
    base: &str,
    credential: &Credential,
    timeout: Duration,
    cursor: Option<&str>,
    labels: &[String],
) -> Result<History, HistoryError> {
    let token = match credential {
        Credential::OAuth2(t) => t.access_token.clone(),
        Credential::BearerToken(t) => t.clone(),
        _ => return Err(HistoryError::NotAToken),
    };
    let get = |url: String, query: Vec<(String, String)>| {
        let request = http
            .get(url)
            .query(&query)
            .bearer_auth(&token)
            .timeout(timeout);
        async move {
            let response = request
                .send()
                .await
                .map_err(|_| HistoryError::Unreachable)?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            Ok::<(u16, Value), HistoryError>((status.as_u16(), body))
        }
    };
    let profile = || get(format!("{base}/gmail/v1/users/me/profile"), Vec::new());
    let Some(start) = cursor else {
        let (status, body) = profile().await?;
        if status != 200 {
            return Err(HistoryError::Profile(status));
        }
        let id = body["historyId"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| body["historyId"].as_u64().map(|n| n.to_string()));
        return Ok(History {
            messages: Vec::new(),
            cursor: id.ok_or(HistoryError::NoHistoryId)?,
        });
    };
    let mut messages = Vec::new();
    let mut page: Option<String> = None;
    let mut latest = start.to_owned();
    loop {
        let mut query = vec![
            ("startHistoryId".to_owned(), start.to_owned()),
            ("historyTypes".to_owned(), "messageAdded".to_owned()),
        ];
        if let [one] = labels {
            query.push(("labelId".to_owned(), one.clone()));
        }
        if let Some(p) = &page {
            query.push(("pageToken".to_owned(), p.clone()));
        }
        let (status, body) = get(format!("{base}/gmail/v1/users/me/history"), query).await?;
        if status == 404 {
            // The stored historyId is too old: start again from now.
            let (_, profile) = profile().await?;
            let id = profile["historyId"].as_str().unwrap_or(start).to_owned();
            return Ok(History {
                messages: Vec::new(),
                cursor: id,
            });
        }
        if status != 200 {
            return Err(HistoryError::History(status));
        }
        for record in body["history"].as_array().into_iter().flatten() {
            for added in record["messagesAdded"].as_array().into_iter().flatten() {
                let message = &added["message"];
                let Some(id) = message["id"].as_str() else {
                    continue;
                };
                let message_labels: Vec<&str> = message["labelIds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if labels.iter().all(|l| message_labels.contains(&l.as_str())) {
                    messages.push((id.to_owned(), message.clone()));
                }
            }
        }
        if let Some(h) = body["historyId"].as_str() {
            latest = h.to_owned();
        }
        match body["nextPageToken"].as_str() {
            Some(next) => page = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(History {
        messages,
        cursor: latest,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn non_ascii_subject_is_encoded_in_short_words() {
        let subject = "Grüße aus Köln — ".repeat(5);
        let encoded = encode_header_text(&subject);
        let mut decoded = Vec::new();
        for word in encoded.split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
            let inner = word.strip_prefix("=?UTF-8?B?").unwrap().strip_suffix("?=");
            decoded.extend(STANDARD.decode(inner.unwrap()).unwrap());
        }
        assert_eq!(String::from_utf8(decoded).unwrap(), subject);
        assert_eq!(encode_header_text("Hello\r\nBcc: x"), "Hello  Bcc: x");
    }

    #[test]
    fn non_ascii_body_is_base64_and_html_is_marked() {
        let raw = message(&args(json!({
            "subject": "Hi", "body": "Zürich\nline 2", "is_html": true})))
        .unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Content-Type: text/html; charset=\"UTF-8\"\r\n"));
        assert!(head.ends_with("Content-Transfer-Encoding: base64"));
        let decoded = STANDARD.decode(body.replace("\r\n", "")).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "Zürich\r\nline 2");
        assert!(!head.contains("To:"));
    }

    #[test]
    fn header_injection_through_an_address_is_refused() {
        let bad = args(json!({"recipient_email": "a@x.com\r\nBcc: evil@y.com"}));
        assert!(message(&bad).is_err());
        let bad = args(json!({"cc": ["a@x.com\nX: y"]}));
        assert!(message(&bad).is_err());
    }
}
