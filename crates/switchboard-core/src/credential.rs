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
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::None => "Credential::None",
            Credential::ApiKey(_) => "Credential::ApiKey(<redacted>)",
            Credential::BearerToken(_) => "Credential::BearerToken(<redacted>)",
            Credential::Basic { .. } => "Credential::Basic(<redacted>)",
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
        ] {
            assert_eq!(Credential::from_bytes(&c.to_bytes()).unwrap(), c);
            assert!(!format!("{c:?}").contains("secret"));
        }
        assert!(Credential::from_bytes(b"{}").is_err());
    }
}
