//! A static credential in plaintext, only ever in memory between sealing and use. Its
//! serialised form is what gets sealed; its `Debug` never shows the secret.

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// A credential for one connected account.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// NO_AUTH toolkits.
    None,
    ApiKey(String),
    BearerToken(String),
    Basic {
        username: String,
        password: String,
    },
    /// OAuth 2.0 tokens.
    OAuth2(OAuthTokens),
}

/// The tokens of an OAuth 2.0 grant.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthTokens {
    pub access_token: String,
    /// Absent when the provider issues none (the access token then cannot be renewed).
    pub refresh_token: Option<String>,
    /// When the access token expires, unix milliseconds; `None` when the provider gave no
    /// lifetime.
    pub expires_at_ms: Option<i64>,
}

impl std::fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("access_token", &"<redacted>")
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

impl OAuthTokens {
    /// Whether the access token expires within `margin_ms` of `now_ms`.
    pub fn expires_within(&self, now_ms: i64, margin_ms: i64) -> bool {
        self.expires_at_ms
            .is_some_and(|at| at <= now_ms.saturating_add(margin_ms))
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::None => "Credential::None",
            Credential::ApiKey(_) => "Credential::ApiKey(<redacted>)",
            Credential::BearerToken(_) => "Credential::BearerToken(<redacted>)",
            Credential::Basic { .. } => "Credential::Basic(<redacted>)",
            Credential::OAuth2(_) => "Credential::OAuth2(<redacted>)",
        })
    }
}

impl Credential {
    /// The scheme name it belongs to.
    pub fn scheme(&self) -> &'static str {
        match self {
            Credential::None => "NO_AUTH",
            Credential::ApiKey(_) => "API_KEY",
            Credential::BearerToken(_) => "BEARER_TOKEN",
            Credential::Basic { .. } => "BASIC",
            Credential::OAuth2(_) => "OAUTH2",
        }
    }

    /// Every secret string it holds (for redacting echoes of them).
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Credential::None => Vec::new(),
            Credential::ApiKey(s) | Credential::BearerToken(s) => vec![s],
            Credential::Basic { username, password } => vec![username, password],
            Credential::OAuth2(t) => {
                let mut out = vec![t.access_token.as_str()];
                out.extend(t.refresh_token.as_deref());
                out
            }
        }
    }

    /// The bytes to seal.
    pub fn to_bytes(&self) -> Vec<u8> {
        let value = match self {
            Credential::None => json!({"type": "none"}),
            Credential::ApiKey(k) => json!({"type": "api_key", "api_key": k}),
            Credential::BearerToken(t) => json!({"type": "bearer_token", "token": t}),
            Credential::Basic { username, password } => {
                json!({"type": "basic", "username": username, "password": password})
            }
            Credential::OAuth2(t) => json!({
                "type": "oauth2",
                "access_token": t.access_token,
                "refresh_token": t.refresh_token,
                "expires_at_ms": t.expires_at_ms,
            }),
        };
        value.to_string().into_bytes()
    }

    /// Reads opened bytes back.
    pub fn from_bytes(bytes: &[u8]) -> Result<Credential> {
        let bad = || Error::Internal("stored credential has an unknown shape".into());
        let value: Value = serde_json::from_slice(bytes).map_err(|_| bad())?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(bad)
        };
        match value.get("type").and_then(Value::as_str) {
            Some("none") => Ok(Credential::None),
            Some("api_key") => Ok(Credential::ApiKey(field("api_key")?)),
            Some("bearer_token") => Ok(Credential::BearerToken(field("token")?)),
            Some("basic") => Ok(Credential::Basic {
                username: field("username")?,
                password: field("password")?,
            }),
            Some("oauth2") => Ok(Credential::OAuth2(OAuthTokens {
                access_token: field("access_token")?,
                refresh_token: value
                    .get("refresh_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                expires_at_ms: value.get("expires_at_ms").and_then(Value::as_i64),
            })),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_debug_hides_secrets() {
        for c in [
            Credential::None,
            Credential::ApiKey("k-secret".into()),
            Credential::BearerToken("t-secret".into()),
            Credential::Basic {
                username: "u".into(),
                password: "p-secret".into(),
            },
            Credential::OAuth2(OAuthTokens {
                access_token: "a-secret".into(),
                refresh_token: Some("r-secret".into()),
                expires_at_ms: Some(1_700_000_000_000),
            }),
            Credential::OAuth2(OAuthTokens {
                access_token: "a-secret".into(),
                refresh_token: None,
                expires_at_ms: None,
            }),
        ] {
            assert_eq!(Credential::from_bytes(&c.to_bytes()).unwrap(), c);
            assert!(!format!("{c:?}").contains("secret"));
        }
        assert!(Credential::from_bytes(b"{}").is_err());
    }
}
