//! Slack: the `v0` request signature on Events API deliveries (HMAC-SHA256 of
//! `v0:{timestamp}:{body}` with the app's signing secret), and the 5-minute window on the
//! timestamp that keeps a captured request from being replayed later.

/// The header of the request's timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// The header of the request's signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// Slack's replay window.
pub const REPLAY_WINDOW_SECS: i64 = 5 * 60;

/// Why a request's signature is refused; the text is what the caller is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or bad timestamp")]
    BadTimestamp,
    #[error("stale request")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a request's `timestamp` and `signature` headers against `body`, now.
pub fn verify(
    signing_secret: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
) -> Result<(), SignatureError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    verify_at(signing_secret, timestamp, signature, body, now)
}

/// [`verify`] at `now` (Unix seconds).
pub fn verify_at(
    signing_secret: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return Err(SignatureError::BadTimestamp);
    };
    if (now - ts).abs() > REPLAY_WINDOW_SECS {
        return Err(SignatureError::Stale);
    }
    let mut base = format!("v0:{timestamp}:").into_bytes();
    base.extend_from_slice(body);
    let expected = format!(
        "v0={}",
        crate::hex(&switchboard_crypto::hmac_sha256(
            signing_secret.as_bytes(),
            &base
        ))
    );
    if !crate::same(signature.as_bytes(), expected.as_bytes()) {
        return Err(SignatureError::Mismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn signatures_follow_slacks_v0_scheme() {
        let now = 1_531_420_618 + 60;
        assert_eq!(verify_at(SECRET, TIMESTAMP, SIGNATURE, BODY, now), Ok(()));
        assert_eq!(
            verify_at(SECRET, TIMESTAMP, SIGNATURE, b"other", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_at(SECRET, TIMESTAMP, "", BODY, now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_must_parse_and_be_recent() {
        let now = 1_531_420_618;
        assert_eq!(
            verify_at(SECRET, "", SIGNATURE, BODY, now),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            verify_at(
                SECRET,
                TIMESTAMP,
                SIGNATURE,
                BODY,
                now + REPLAY_WINDOW_SECS + 1
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_at(
                SECRET,
                TIMESTAMP,
                SIGNATURE,
                BODY,
                now - REPLAY_WINDOW_SECS - 1
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            SignatureError::Mismatch.to_string(),
            "signature does not match"
        );
    }
}
