//! The rules a toolkit's `auth.oauth2` block must follow. The platform builds authorization
//! URLs, token requests and revocations from these values, so a wrong one would only show up
//! when a user tries to connect; checking at load stops the service at start instead.

use std::collections::HashSet;

use crate::spec::{AuthScheme, AuthSpec, OAuth2Spec};

/// Authorization request parameters the platform sets itself on every flow; a toolkit's
/// `authorize_params` may not override them.
pub const RESERVED_AUTHORIZE_PARAMS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// The one placeholder a revocation URL may carry (GitHub's `/applications/{client_id}/grant`).
const CLIENT_ID_PLACEHOLDER: &str = "{client_id}";

/// Checks that `auth.oauth2` is present exactly when `auth.schemes` lists `OAUTH2`, and that its
/// values are usable. The error names the field path, e.g. `auth.oauth2.token_url`.
pub(crate) fn check_auth(auth: &AuthSpec) -> Result<(), String> {
    let lists_oauth2 = auth.schemes.contains(&AuthScheme::Oauth2);
    match (&auth.oauth2, lists_oauth2) {
        (None, true) => Err(
            "auth.schemes lists OAUTH2, so auth.oauth2 (authorize_url, token_url, ...) is required"
                .into(),
        ),
        (Some(_), false) => Err("auth.oauth2 is set, but auth.schemes does not list OAUTH2".into()),
        (Some(oauth2), true) => check_flow(oauth2),
        (None, false) => Ok(()),
    }
}

fn check_flow(spec: &OAuth2Spec) -> Result<(), String> {
    check_url("auth.oauth2.authorize_url", &spec.authorize_url, false)?;
    check_url("auth.oauth2.token_url", &spec.token_url, false)?;
    if spec.scope_separator.is_empty() {
        return Err("auth.oauth2.scope_separator must not be empty".into());
    }
    let mut seen = HashSet::new();
    for (index, scope) in spec.scopes.iter().enumerate() {
        if scope.is_empty() || scope.chars().any(char::is_whitespace) {
            return Err(format!(
                "auth.oauth2.scopes[{index}] {scope:?} must be non-empty and contain no whitespace"
            ));
        }
        if scope.contains(spec.scope_separator.as_str()) {
            return Err(format!(
                "auth.oauth2.scopes[{index}] {scope:?} contains the scope separator {:?}",
                spec.scope_separator
            ));
        }
        if !seen.insert(scope.as_str()) {
            return Err(format!("auth.oauth2.scopes lists {scope:?} twice"));
        }
    }
    for name in spec.authorize_params.keys() {
        if name.trim().is_empty() {
            return Err("auth.oauth2.authorize_params has an empty parameter name".into());
        }
        if RESERVED_AUTHORIZE_PARAMS.contains(&name.as_str()) {
            return Err(format!(
                "auth.oauth2.authorize_params.{name} is set by the platform on every flow and cannot be overridden (reserved: {})",
                RESERVED_AUTHORIZE_PARAMS.join(", ")
            ));
        }
    }
    if let Some(revoke) = &spec.revoke {
        check_url("auth.oauth2.revoke.url", &revoke.url, true)?;
    }
    if let Some(identity) = &spec.identity {
        let path = &identity.path;
        if !path.starts_with('/') {
            return Err(format!(
                "auth.oauth2.identity.path {path:?} must start with '/' (it is relative to base_url)"
            ));
        }
        if path
            .chars()
            .any(|c| c.is_whitespace() || c == '{' || c == '}')
        {
            return Err(format!(
                "auth.oauth2.identity.path {path:?} must not contain whitespace or placeholders"
            ));
        }
        let field = &identity.field;
        let dotted = field
            .split('.')
            .all(|part| !part.is_empty() && !part.chars().any(char::is_whitespace));
        if !dotted {
            return Err(format!(
                "auth.oauth2.identity.field {field:?} must be a dotted path of non-empty names, e.g. login or bot.workspace_name"
            ));
        }
    }
    Ok(())
}

/// An absolute `http://` or `https://` URL with a host, without userinfo or fragment; only a
/// revocation URL may carry the `{client_id}` placeholder, and only in its path or query.
fn check_url(field: &str, url: &str, allow_client_id: bool) -> Result<(), String> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(format!(
            "{field} {url:?} must be an absolute http:// or https:// URL"
        ));
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{field} {url:?} must not contain whitespace or control characters"
        ));
    }
    if url.contains('#') {
        return Err(format!("{field} {url:?} must not have a fragment"));
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(format!(
            "{field} {url:?} must not carry userinfo (user:password@)"
        ));
    }
    if !is_host_and_port(authority) {
        return Err(format!(
            "{field} {url:?} must name a host (letters, digits, '-' and '.', an optional :port)"
        ));
    }
    let unplaced = if allow_client_id {
        after.replace(CLIENT_ID_PLACEHOLDER, "")
    } else {
        after.to_owned()
    };
    if unplaced.contains(['{', '}']) {
        return Err(if allow_client_id {
            format!("{field} {url:?} may only use the {CLIENT_ID_PLACEHOLDER} placeholder")
        } else {
            format!("{field} {url:?} must not contain placeholders")
        });
    }
    Ok(())
}

/// `host` or `host:port`, where host is a DNS name or IPv4 address, or a bracketed IPv6 one.
fn is_host_and_port(authority: &str) -> bool {
    let port_ok = |port: &str| !port.is_empty() && port.parse::<u16>().is_ok();
    if let Some(v6) = authority.strip_prefix('[') {
        let Some((address, after)) = v6.split_once(']') else {
            return false;
        };
        let address_ok =
            !address.is_empty() && address.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
        return address_ok && (after.is_empty() || after.strip_prefix(':').is_some_and(port_ok));
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    !host.is_empty()
        && !host.starts_with(['.', '-'])
        && !host.contains("..")
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && port.is_none_or(port_ok)
}

#[cfg(test)]
mod tests {
    use super::is_host_and_port;

    #[test]
    fn hosts_and_ports() {
        for good in [
            "github.com",
            "api.github.com",
            "127.0.0.1:8080",
            "localhost",
            "[::1]:9",
            "[::1]",
        ] {
            assert!(is_host_and_port(good), "{good}");
        }
        for bad in [
            "",
            ":443",
            "github.com:",
            "github.com:http",
            "github.com:99999",
            "exa mple.com",
            "a..b",
            ".github.com",
            "[::1",
            "[]",
            "[::1]x",
            "ex_ample.com",
        ] {
            assert!(!is_host_and_port(bad), "{bad}");
        }
    }
}
