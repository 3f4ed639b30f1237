//! GitHub: the `X-Hub-Signature-256` check on what repository hooks deliver (HMAC-SHA256 of
//! the body with the hook's own secret).

/// The header of a delivery's signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Whether `given` (the `X-Hub-Signature-256` header) signs `body` with `secret`; compared in
/// constant time.
pub fn signature_matches(secret: &[u8], body: &[u8], given: &str) -> bool {
    let expected = format!(
        "sha256={}",
        crate::hex(&switchboard_crypto::hmac_sha256(secret, body))
    );
    crate::same(given.as_bytes(), expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_the_body() {
        // GitHub's documented example ("Validating webhook deliveries").
        let given = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            given
        ));
        assert!(!signature_matches(
            b"another secret",
            b"Hello, World!",
            given
        ));
        assert!(!signature_matches(
            b"It's a Secret to Everybody",
            b"Hello",
            given
        ));
        assert!(!signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            ""
        ));
    }
}
