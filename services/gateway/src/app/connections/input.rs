//! Checks of ConnectionService input: which scheme an auth config gets, aliases, statuses, and
//! the credential of a new account. Errors name the field and never quote a secret.

use switchboard_catalog::spec::AuthScheme;
use switchboard_catalog::Toolkit;
use switchboard_core::accounts::AccountStatus;
use switchboard_core::credential::Credential;
use switchboard_core::Error;
use switchboard_proto::v1::create_connected_account_request::Credential as CredentialInput;

/// Largest secret field, in bytes.
pub const MAX_SECRET_BYTES: usize = 8 * 1024;
/// Longest alias, in characters.
const MAX_ALIAS_CHARS: usize = 64;
/// Schemes a connected account can be made for with a static credential, in preference order
/// for the default.
const STATIC_SCHEMES: [AuthScheme; 4] = [
    AuthScheme::ApiKey,
    AuthScheme::BearerToken,
    AuthScheme::Basic,
    AuthScheme::NoAuth,
];

/// The scheme of a new auth config for `toolkit`: the requested one, or (when empty) the
/// toolkit's first static scheme, else OAUTH2.
pub fn auth_config_scheme(toolkit: &Toolkit, requested: &str) -> Result<AuthScheme, Error> {
    let declared = &toolkit.spec.auth.schemes;
    if requested.is_empty() {
        return declared
            .iter()
            .copied()
            .find(|s| STATIC_SCHEMES.contains(s))
            .or_else(|| declared.first().copied())
            .ok_or_else(|| Error::Internal(format!("{} declares no scheme", toolkit.slug)));
    }
    let names = || {
        declared
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(scheme) = declared
        .iter()
        .copied()
        .find(|s| s.as_str().eq_ignore_ascii_case(requested))
    else {
        return Err(Error::invalid(
            switchboard_core::reason::UNSUPPORTED_SCHEME,
            "scheme",
            format!(
                "{} does not support {requested:?}; it supports {}",
                toolkit.slug,
                names()
            ),
        ));
    };
    Ok(scheme)
}

/// Checks a custom OAuth client: an id of 1–512 printable characters and a secret.
pub fn check_client(
    client: &switchboard_proto::v1::OAuth2Client,
    field: &str,
) -> Result<(), Error> {
    let id = &client.client_id;
    if id.is_empty() || id.len() > 512 || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid(
            switchboard_core::reason::INVALID_CLIENT_ID,
            format!("{field}.client_id"),
            "must be 1–512 printable characters without spaces",
        ));
    }
    check_secret(
        &client.client_secret,
        &format!("{field}.client_secret"),
        false,
    )
}

/// Checks an optional alias: letters, digits, `_`, `-`, `.`, 1–64 characters.
pub fn check_alias(alias: &str) -> Result<(), Error> {
    if alias.is_empty() {
        return Ok(());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if alias.len() > MAX_ALIAS_CHARS || !alias.chars().all(allowed) {
        return Err(Error::invalid(
            switchboard_core::reason::INVALID_ALIAS,
            "alias",
            "must be 1–64 letters, digits, `_`, `-` or `.`",
        ));
    }
    Ok(())
}

/// Checks a status filter: empty, or one of [`AccountStatus::ALL`].
pub fn check_status(status: &str) -> Result<(), Error> {
    if status.is_empty() || AccountStatus::parse(status).is_some() {
        Ok(())
    } else {
        Err(Error::invalid(
            switchboard_core::reason::INVALID_STATUS,
            "status",
            format!(
                "{status:?} is not an account status (one of {})",
                AccountStatus::ALL.map(AccountStatus::as_str).join(", ")
            ),
        ))
    }
}

/// Checks one secret field: present (unless `optional`), at most 8 KiB, no control characters
/// (it ends up in an HTTP header). The message never quotes the value.
fn check_secret(value: &str, field: &str, optional: bool) -> Result<(), Error> {
    if value.is_empty() {
        if optional {
            return Ok(());
        }
        return Err(Error::invalid(
            switchboard_core::reason::REQUIRED,
            field,
            "is required",
        ));
    }
    if value.len() > MAX_SECRET_BYTES {
        return Err(Error::invalid(
            switchboard_core::reason::CREDENTIAL_TOO_LARGE,
            field,
            format!(
                "is {} bytes; at most {MAX_SECRET_BYTES} are allowed",
                value.len()
            ),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            switchboard_core::reason::INVALID_CREDENTIAL,
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

fn input_name(input: Option<&CredentialInput>) -> &'static str {
    match input {
        None => "no credential",
        Some(CredentialInput::ApiKey(_)) => "api_key",
        Some(CredentialInput::BearerToken(_)) => "bearer_token",
        Some(CredentialInput::Basic(_)) => "basic",
    }
}

fn expected_input(scheme: &str) -> &'static str {
    match scheme {
        "API_KEY" => "api_key",
        "BEARER_TOKEN" => "bearer_token",
        "BASIC" => "basic",
        _ => "no credential",
    }
}

/// The credential of a new account of an auth config with `scheme`: the request's oneof must
/// be the one that scheme takes (none for NO_AUTH).
pub fn credential(
    scheme: &str,
    auth_config_id: &str,
    input: Option<CredentialInput>,
) -> Result<Credential, Error> {
    let credential = match (scheme, input.as_ref()) {
        ("API_KEY", Some(CredentialInput::ApiKey(k))) => {
            check_secret(&k.api_key, "api_key.api_key", false)?;
            Credential::ApiKey(k.api_key.clone())
        }
        ("BEARER_TOKEN", Some(CredentialInput::BearerToken(t))) => {
            check_secret(&t.token, "bearer_token.token", false)?;
            Credential::BearerToken(t.token.clone())
        }
        ("BASIC", Some(CredentialInput::Basic(b))) => {
            check_secret(&b.username, "basic.username", false)?;
            if b.username.contains(':') {
                // RFC 7617: the user-id of Basic auth cannot carry a colon.
                return Err(Error::invalid(
                    switchboard_core::reason::INVALID_CREDENTIAL,
                    "basic.username",
                    "must not contain `:`",
                ));
            }
            check_secret(&b.password, "basic.password", true)?;
            Credential::Basic {
                username: b.username.clone(),
                password: b.password.clone(),
            }
        }
        ("NO_AUTH", None) => Credential::None,
        _ => {
            return Err(Error::invalid(
                switchboard_core::reason::CREDENTIAL_MISMATCH,
                "credential",
                format!(
                    "auth config {auth_config_id} uses {scheme}, which takes {}; got {}",
                    expected_input(scheme),
                    input_name(input.as_ref())
                ),
            ))
        }
    };
    Ok(credential)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use switchboard_proto::v1::{ApiKeyCredential, BasicCredential};

    #[test]
    fn aliases_and_statuses() {
        for good in ["", "work", "a.b-c_D9", &"x".repeat(64)] {
            assert!(check_alias(good).is_ok(), "{good}");
        }
        for bad in ["has space", "ünï", &"x".repeat(65), "a/b"] {
            assert_eq!(check_alias(bad).unwrap_err().reason(), "INVALID_ALIAS");
        }
        assert!(check_status("").is_ok() && check_status("DISABLED").is_ok());
        assert_eq!(
            check_status("active").unwrap_err().reason(),
            "INVALID_STATUS"
        );
    }

    #[test]
    fn credentials_match_their_scheme_and_errors_hide_them() {
        let key = |k: &str| {
            Some(CredentialInput::ApiKey(ApiKeyCredential {
                api_key: k.into(),
            }))
        };
        assert_eq!(
            credential("API_KEY", "ac_1", key("sekrit")).unwrap(),
            Credential::ApiKey("sekrit".into())
        );
        let err = credential("BEARER_TOKEN", "ac_1", key("sekrit")).unwrap_err();
        assert_eq!(err.reason(), "CREDENTIAL_MISMATCH");
        assert!(!err.to_string().contains("sekrit"));
        let err = credential("API_KEY", "ac_1", key("sek\nrit")).unwrap_err();
        assert!(!err.to_string().contains("sek"));
        assert_eq!(
            credential("NO_AUTH", "ac_1", None).unwrap(),
            Credential::None
        );
        let basic = Some(CredentialInput::Basic(BasicCredential {
            username: "a:b".into(),
            password: String::new(),
        }));
        assert_eq!(
            credential("BASIC", "ac_1", basic).unwrap_err().reason(),
            "INVALID_CREDENTIAL"
        );
    }
}
