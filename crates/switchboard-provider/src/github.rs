//! GitHub: the repository hooks trigger instances need (created, widened to more events,
//! removed with the last trigger using them), and the `X-Hub-Signature-256` check on what
//! those hooks deliver (HMAC-SHA256 of the body with the hook's own secret).

use switchboard_core::Credential;

/// The header of a delivery's signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The bearer token a credential carries (GitHub's API takes any of these as one).
pub fn bearer_token(credential: &Credential) -> Option<String> {
    match credential {
        Credential::BearerToken(t) | Credential::ApiKey(t) => Some(t.clone()),
        Credential::OAuth2(t) => Some(t.access_token.clone()),
        _ => None,
    }
}

/// Whether `given` (the `X-Hub-Signature-256` header) signs `body` with `secret`; compared in
/// constant time.
pub fn signature_matches(secret: &[u8], body: &[u8], given: &str) -> bool {
    let expected = format!(
        "sha256={}",
        crate::hex(&switchboard_crypto::hmac_sha256(secret, body))
    );
    crate::same(given.as_bytes(), expected.as_bytes())
}

/// A repository hook to create (no `hook_id`) or update (its event list).
#[derive(Debug, Clone, Copy)]
pub struct HookRegistration<'a> {
    pub owner: &'a str,
    pub repo: &'a str,
    /// The hook already registered; empty when there is none.
    pub hook_id: &'a str,
    pub events: &'a [String],
    /// Where GitHub delivers (only sent when creating).
    pub url: &'a str,
    /// The hook's signing secret (only sent when creating).
    pub secret: &'a str,
}

/// Why a hook could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("GitHub could not be reached to register the repository hook")]
    Unreachable,
    #[error("GitHub refused to register a hook on {owner}/{repo} (HTTP {status}): {message}")]
    Refused {
        owner: String,
        repo: String,
        status: u16,
        /// GitHub's `message`, at most 200 characters.
        message: String,
    },
}

/// Creates the repository hook, or updates its event list, on the API at `base`; the hook id
/// (the one given when GitHub's answer carries none).
pub async fn register_hook(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    hook: &HookRegistration<'_>,
) -> Result<String, HookError> {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let hooks = format!("{base}/repos/{}/{}/hooks", enc(hook.owner), enc(hook.repo));
    let request = if hook.hook_id.is_empty() {
        http.post(&hooks).json(&serde_json::json!({
            "name": "web",
            "active": true,
            "events": hook.events,
            "config": {"url": hook.url, "content_type": "json", "secret": hook.secret, "insecure_ssl": "0"},
        }))
    } else {
        http.patch(format!("{hooks}/{}", hook.hook_id))
            .json(&serde_json::json!({"events": hook.events, "active": true}))
    };
    let response = request
        .bearer_auth(token)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "switchboard")
        .send()
        .await
        .map_err(|_| HookError::Unreachable)?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["message"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect::<String>();
        return Err(HookError::Refused {
            owner: hook.owner.to_owned(),
            repo: hook.repo.to_owned(),
            status: status.as_u16(),
            message,
        });
    }
    Ok(body["id"]
        .as_u64()
        .map(|id| id.to_string())
        .unwrap_or_else(|| hook.hook_id.to_owned()))
}

/// Removes hook `hook_id` of `owner/repo` on the API at `base` (best effort); whether GitHub
/// confirmed it.
pub async fn remove_hook(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    owner: &str,
    repo: &str,
    hook_id: &str,
) -> bool {
    let deleted = http
        .delete(format!("{base}/repos/{owner}/{repo}/hooks/{hook_id}"))
        .bearer_auth(token)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "switchboard")
        .send()
        .await;
    deleted.is_ok_and(|r| r.status().is_success())
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

    #[test]
    fn tokens_come_from_token_credentials_only() {
        assert_eq!(
            bearer_token(&Credential::ApiKey("k".into())).as_deref(),
            Some("k")
        );
        assert_eq!(
            bearer_token(&Credential::BearerToken("t".into())).as_deref(),
            Some("t")
        );
        assert_eq!(bearer_token(&Credential::None), None);
    }
}
