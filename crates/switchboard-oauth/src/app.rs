//! The OAuth app an auth config stands for: the catalog's endpoints (with the server's
//! overrides), and either the platform's managed client (server config) or the project's own
//! (client secret sealed in Redis).

use std::collections::BTreeMap;

use switchboard_catalog::spec::{ClientAuth, IdentitySpec, OAuth2Spec, RevokeStyle};
use switchboard_catalog::Toolkit;
use switchboard_config::OAuthConfig;
use switchboard_core::Error;
use switchboard_proto::v1::AuthConfig;

/// A client secret in memory; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(pub String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// Everything needed to run a flow or a refresh for one auth config.
#[derive(Debug, Clone)]
pub struct App {
    pub toolkit: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub authorize_url: String,
    pub token_url: String,
    pub revoke: Option<(String, RevokeStyle)>,
    pub client_auth: ClientAuth,
    pub pkce: bool,
    /// The auth config's scopes, else the toolkit's defaults.
    pub scopes: Vec<String>,
    pub scope_separator: String,
    pub authorize_params: BTreeMap<String, String>,
    /// The redirect URI sent in both the authorize and the token request.
    pub redirect_uri: String,
    pub identity: Option<IdentitySpec>,
    /// The toolkit's API base URL (identity calls are relative to it).
    pub base_url: String,
    /// Headers the toolkit sends on every API request (e.g. `Notion-Version`).
    pub api_headers: BTreeMap<String, String>,
}

/// The toolkit's OAuth 2.0 declaration, or FAILED_PRECONDITION.
pub fn spec(toolkit: &Toolkit) -> Result<&OAuth2Spec, Error> {
    toolkit
        .spec
        .auth
        .oauth2
        .as_ref()
        .ok_or_else(|| Error::FailedPrecondition {
            reason: switchboard_core::reason::OAUTH_NOT_SUPPORTED,
            message: format!("{} does not support OAuth 2.0", toolkit.slug),
        })
}

/// Whether the server has a managed app for `toolkit`.
pub fn has_managed_app(config: &OAuthConfig, toolkit: &str) -> bool {
    config
        .providers
        .get(toolkit)
        .is_some_and(|p| p.client_id.is_some() && p.client_secret.is_some())
}

/// Resolves the app of an OAUTH2 auth config. `custom_secret` is the opened client secret of
/// a custom app; `default_redirect` is the gateway's own callback URL.
pub fn resolve(
    config: &OAuthConfig,
    toolkit: &Toolkit,
    auth_config: &AuthConfig,
    custom_secret: Option<String>,
    default_redirect: &str,
) -> Result<App, Error> {
    let spec = spec(toolkit)?;
    let server = config.providers.get(&toolkit.slug);
    let (client_id, client_secret) = if auth_config.is_managed {
        match server.and_then(|p| p.client_id.clone().zip(p.client_secret.clone())) {
            Some(pair) => pair,
            None => {
                return Err(Error::FailedPrecondition {
                    reason: switchboard_core::reason::MANAGED_APP_NOT_CONFIGURED,
                    message: format!(
                        "this server has no managed OAuth app for {}; create an auth config with your own oauth2_client",
                        toolkit.slug
                    ),
                })
            }
        }
    } else {
        match custom_secret {
            Some(secret) if !auth_config.client_id.is_empty() => {
                (auth_config.client_id.clone(), secret)
            }
            _ => {
                return Err(Error::FailedPrecondition {
                    reason: switchboard_core::reason::OAUTH_CLIENT_MISSING,
                    message: format!(
                        "auth config {} has no OAuth client id and secret",
                        auth_config.id
                    ),
                })
            }
        }
    };
    let over = |pick: fn(&switchboard_config::OAuthProviderConfig) -> &Option<String>| {
        server.and_then(|p| pick(p).clone())
    };
    let revoke = spec.revoke.as_ref().map(|r| {
        let url = over(|p| &p.revoke_url).unwrap_or_else(|| r.url.clone());
        (url.replace("{client_id}", &client_id), r.style)
    });
    let scopes = if auth_config.scopes.is_empty() {
        spec.scopes.clone()
    } else {
        auth_config.scopes.clone()
    };
    Ok(App {
        toolkit: toolkit.slug.clone(),
        client_id,
        client_secret: ClientSecret(client_secret),
        authorize_url: over(|p| &p.authorize_url).unwrap_or_else(|| spec.authorize_url.clone()),
        token_url: over(|p| &p.token_url).unwrap_or_else(|| spec.token_url.clone()),
        revoke,
        client_auth: spec.client_auth,
        pkce: spec.pkce,
        scopes,
        scope_separator: spec.scope_separator.clone(),
        authorize_params: spec.authorize_params.clone(),
        redirect_uri: if auth_config.redirect_uri.is_empty() {
            default_redirect.to_owned()
        } else {
            auth_config.redirect_uri.clone()
        },
        identity: spec.identity.clone(),
        base_url: toolkit.base_url.clone(),
        api_headers: toolkit.spec.headers.clone(),
    })
}
