//! ConnectionService: auth configs and connected accounts with static credentials. Every call
//! is in the project of its API key; an auth config or account of another project is
//! NOT_FOUND. A credential is sealed with the account id as associated data before it is
//! stored, and no response, log or error carries it.

pub(crate) mod input;

use std::sync::Arc;
use std::time::SystemTime;

use switchboard_catalog::spec::AuthScheme;
use switchboard_catalog::Toolkit;
use switchboard_core::accounts::{ACTIVE, DISABLED};
use switchboard_core::ids::new_id;
use switchboard_core::page::{decode_token, encode_token, page_size};
use switchboard_core::session_config::validate_user_id;
use switchboard_core::Error;
use switchboard_proto::v1::{
    AuthConfig, ConnectedAccount, CreateAuthConfigRequest, CreateAuthConfigResponse,
    CreateConnectedAccountRequest, CreateConnectedAccountResponse, DeleteAuthConfigRequest,
    DeleteAuthConfigResponse, DeleteConnectedAccountRequest, DeleteConnectedAccountResponse,
    DisableConnectedAccountRequest, DisableConnectedAccountResponse, EnableConnectedAccountRequest,
    EnableConnectedAccountResponse, GetAuthConfigRequest, GetAuthConfigResponse,
    GetConnectedAccountRequest, GetConnectedAccountResponse, ListAuthConfigsRequest,
    ListAuthConfigsResponse, ListConnectedAccountsRequest, ListConnectedAccountsResponse,
    UpdateAuthConfigRequest, UpdateAuthConfigResponse,
};
use switchboard_store::AccountFilter;

use crate::app::{check_name, required};
use crate::state::AppState;

/// Why an account is DISABLED after DisableConnectedAccount.
const DISABLED_BY_API: &str = "disabled by the API";

/// The toolkit `slug` of the project's catalog (`field` names it in the error).
async fn known_toolkit(
    state: &AppState,
    project: &str,
    slug: &str,
    field: &str,
) -> Result<Arc<Toolkit>, Error> {
    let catalog = state.catalogs.for_project(project).await?;
    catalog.toolkit(slug).cloned().ok_or_else(|| {
        Error::invalid(
            switchboard_core::reason::UNKNOWN_TOOLKIT,
            field,
            format!("unknown toolkit {slug:?}"),
        )
    })
}

/// Seals a custom OAuth app's client secret with the auth config id as associated data.
fn seal_secret(state: &AppState, secret: &str, auth_config_id: &str) -> Result<Vec<u8>, Error> {
    state
        .sealer
        .seal(secret.as_bytes(), auth_config_id)
        .map_err(|e| Error::Internal(format!("sealing a client secret failed: {e}")))
}

async fn set_status(
    state: &AppState,
    project: &str,
    id: &str,
    status: &str,
    reason: &str,
) -> Result<ConnectedAccount, Error> {
    required(id, "connected_account_id")?;
    let account = state
        .store
        .set_account_status(project, id, status, reason)
        .await?;
    tracing::debug!(project_id = %project, account_id = %id, status, "account status set");
    Ok(account)
}

/// Revokes an OAuth grant at the provider when the toolkit declares how (best effort: the
/// account goes either way, and a failure is logged without any token).
async fn revoke(state: &AppState, project: &str, stored: &switchboard_store::StoredAccount) {
    let account = &stored.account;
    let Ok(auth_config) = state
        .store
        .get_auth_config(project, &account.auth_config_id)
        .await
    else {
        return;
    };
    let Ok(app) = state.oauth.app_for(project, &auth_config).await else {
        return;
    };
    if app.revoke.is_none() {
        return;
    }
    let Ok(tokens) = state.oauth.open_tokens(&stored.sealed, &account.id) else {
        return;
    };
    let revoked =
        switchboard_oauth::flow::revoke(state.oauth.http(), &app, &tokens, state.oauth.timeout())
            .await;
    tracing::info!(project_id = project, account_id = %account.id, revoked, "OAuth grant revocation on delete");
}

fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(SystemTime::now())
}

/// The page token after the last item of a page that has more.
fn next_token(more: bool, last: Option<&str>) -> String {
    match (more, last) {
        (true, Some(last)) => encode_token(last),
        _ => String::new(),
    }
}

pub async fn create_auth_config(
    state: &AppState,
    project: &str,
    req: CreateAuthConfigRequest,
) -> Result<CreateAuthConfigResponse, Error> {
    let slug = required(&req.toolkit, "toolkit")?;
    let toolkit = known_toolkit(state, project, slug, "toolkit").await?;
    let scheme = input::auth_config_scheme(&toolkit, req.scheme.trim())?;
    let name = req.name.trim();
    check_name(name, "name", true)?;
    let created = now();
    let mut config = AuthConfig {
        id: new_id("ac"),
        toolkit: toolkit.slug.clone(),
        scheme: scheme.as_str().to_owned(),
        name: if name.is_empty() {
            format!("{} {}", toolkit.spec.name, scheme.as_str())
        } else {
            name.to_owned()
        },
        create_time: Some(created),
        update_time: Some(created),
        ..Default::default()
    };
    let mut sealed_secret = None;
    if scheme == AuthScheme::Oauth2 {
        crate::app::connect::check_scopes(&req.scopes, "scopes")?;
        config.scopes = req.scopes;
        if !req.redirect_uri.is_empty() {
            crate::app::connect::check_callback_url(&req.redirect_uri, "redirect_uri")?;
            config.redirect_uri = req.redirect_uri;
        }
        match req.oauth2_client {
            Some(client) => {
                input::check_client(&client, "oauth2_client")?;
                config.client_id = client.client_id;
                sealed_secret = Some(seal_secret(state, &client.client_secret, &config.id)?);
            }
            None => {
                if !config.redirect_uri.is_empty() {
                    return Err(Error::invalid(
                        switchboard_core::reason::REDIRECT_URI_NEEDS_CLIENT,
                        "redirect_uri",
                        "only an auth config with its own oauth2_client can set a redirect URI",
                    ));
                }
                if !switchboard_oauth::app::has_managed_app(&state.config.oauth, slug) {
                    return Err(Error::FailedPrecondition {
                        reason: switchboard_core::reason::MANAGED_APP_NOT_CONFIGURED,
                        message: format!("this server has no managed OAuth app for {slug}; pass your own oauth2_client"),
                    });
                }
                config.is_managed = true;
            }
        }
    } else if !req.scopes.is_empty() || req.oauth2_client.is_some() || !req.redirect_uri.is_empty()
    {
        return Err(Error::invalid(
            switchboard_core::reason::OAUTH_FIELDS_NOT_APPLICABLE,
            if !req.scopes.is_empty() {
                "scopes"
            } else if req.oauth2_client.is_some() {
                "oauth2_client"
            } else {
                "redirect_uri"
            },
            format!(
                "{} auth configs take no scopes, OAuth client or redirect URI",
                scheme.as_str()
            ),
        ));
    }
    state
        .store
        .create_auth_config(project, &config, sealed_secret.as_deref())
        .await?;
    tracing::debug!(project_id = %project, auth_config_id = %config.id, toolkit = %config.toolkit, "auth config created");
    Ok(CreateAuthConfigResponse {
        auth_config: Some(config),
    })
}

pub async fn get_auth_config(
    state: &AppState,
    project: &str,
    request: GetAuthConfigRequest,
) -> Result<GetAuthConfigResponse, Error> {
    let id = required(&request.auth_config_id, "auth_config_id")?;
    let config = state.store.get_auth_config(project, id).await?;
    Ok(GetAuthConfigResponse {
        auth_config: Some(config),
    })
}

pub async fn list_auth_configs(
    state: &AppState,
    project: &str,
    req: ListAuthConfigsRequest,
) -> Result<ListAuthConfigsResponse, Error> {
    let size = page_size(req.page_size, "page_size")?;
    let after = decode_token(&req.page_token, "page_token")?;
    let toolkit = (!req.toolkit.is_empty()).then_some(req.toolkit.as_str());
    if let Some(t) = toolkit {
        known_toolkit(state, project, t, "toolkit").await?;
    }
    let (auth_configs, more) = state
        .store
        .list_auth_configs(project, toolkit, after.as_deref(), size)
        .await?;
    let next_page_token = next_token(more, auth_configs.last().map(|c| c.id.as_str()));
    Ok(ListAuthConfigsResponse {
        auth_configs,
        next_page_token,
    })
}

pub async fn update_auth_config(
    state: &AppState,
    project: &str,
    req: UpdateAuthConfigRequest,
) -> Result<UpdateAuthConfigResponse, Error> {
    let id = required(&req.auth_config_id, "auth_config_id")?;
    let mut config = state.store.get_auth_config(project, id).await?;
    let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
    let oauth = config.scheme == AuthScheme::Oauth2.as_str();
    let mut sealed_secret: Option<Vec<u8>> = None;
    for path in &paths {
        match path.as_str() {
            "name" => {
                let name = req.name.trim();
                check_name(name, "name", true)?;
                config.name = if name.is_empty() {
                    format!("{} {}", config.toolkit, config.scheme)
                } else {
                    name.to_owned()
                };
            }
            "scopes" | "oauth2_client" | "redirect_uri" if !oauth => {
                return Err(Error::invalid(
                    switchboard_core::reason::OAUTH_FIELDS_NOT_APPLICABLE,
                    path.clone(),
                    format!(
                        "{} auth configs take no scopes, OAuth client or redirect URI",
                        config.scheme
                    ),
                ));
            }
            "scopes" => {
                crate::app::connect::check_scopes(&req.scopes, "scopes")?;
                config.scopes.clone_from(&req.scopes);
            }
            "oauth2_client" | "redirect_uri" if config.is_managed => {
                return Err(Error::invalid(
                    switchboard_core::reason::MANAGED_APP,
                    path.clone(),
                    "this auth config uses the platform's managed app; create one with your own oauth2_client instead",
                ));
            }
            "oauth2_client" => {
                let client = req.oauth2_client.clone().unwrap_or_default();
                input::check_client(&client, "oauth2_client")?;
                config.client_id = client.client_id;
                sealed_secret = Some(seal_secret(state, &client.client_secret, &config.id)?);
            }
            "redirect_uri" => {
                if !req.redirect_uri.is_empty() {
                    crate::app::connect::check_callback_url(&req.redirect_uri, "redirect_uri")?;
                }
                config.redirect_uri.clone_from(&req.redirect_uri);
            }
            other => {
                return Err(Error::invalid(
                    switchboard_core::reason::UNKNOWN_FIELD,
                    "update_mask",
                    format!(
                        "{other:?} cannot be updated (name, scopes, oauth2_client, redirect_uri)"
                    ),
                ))
            }
        }
    }
    if !paths.is_empty() {
        config.update_time = Some(now());
        state
            .store
            .update_auth_config(project, &config, sealed_secret.as_deref())
            .await?;
        tracing::debug!(project_id = %project, auth_config_id = %config.id, "auth config updated");
    }
    Ok(UpdateAuthConfigResponse {
        auth_config: Some(config),
    })
}

pub async fn delete_auth_config(
    state: &AppState,
    project: &str,
    request: DeleteAuthConfigRequest,
) -> Result<DeleteAuthConfigResponse, Error> {
    let id = required(&request.auth_config_id, "auth_config_id")?;
    state.store.delete_auth_config(project, id).await?;
    tracing::debug!(project_id = %project, auth_config_id = %id, "auth config deleted");
    Ok(DeleteAuthConfigResponse {})
}

pub async fn create_connected_account(
    state: &AppState,
    project: &str,
    req: CreateConnectedAccountRequest,
) -> Result<CreateConnectedAccountResponse, Error> {
    validate_user_id(&req.user_id, "user_id")?;
    let auth_config_id = required(&req.auth_config_id, "auth_config_id")?;
    input::check_alias(&req.alias)?;
    let config = state.store.get_auth_config(project, auth_config_id).await?;
    if config.scheme == AuthScheme::Oauth2.as_str() {
        return Err(Error::FailedPrecondition {
            reason: switchboard_core::reason::OAUTH_NEEDS_AUTHORIZE,
            message: format!(
                "auth config {} uses OAUTH2: connect accounts with SessionService.Authorize, which sends the user through the provider",
                config.id
            ),
        });
    }
    let credential = input::credential(&config.scheme, &config.id, req.credential)?;
    let created = now();
    let account = ConnectedAccount {
        id: new_id("ca"),
        user_id: req.user_id,
        toolkit: config.toolkit,
        auth_config_id: config.id,
        alias: req.alias,
        status: ACTIVE.to_owned(),
        status_reason: String::new(),
        scheme: config.scheme,
        create_time: Some(created),
        update_time: Some(created),
        ..Default::default()
    };
    // The account id is the associated data: the ciphertext opens for this account only.
    let sealed = state
        .sealer
        .seal(&credential.to_bytes(), &account.id)
        .map_err(|e| Error::Internal(format!("sealing a credential failed: {e}")))?;
    state
        .store
        .create_account(project, &account, &sealed)
        .await?;
    tracing::debug!(project_id = %project, account_id = %account.id, toolkit = %account.toolkit, "connected account created");
    Ok(CreateConnectedAccountResponse {
        connected_account: Some(account),
    })
}

pub async fn get_connected_account(
    state: &AppState,
    project: &str,
    request: GetConnectedAccountRequest,
) -> Result<GetConnectedAccountResponse, Error> {
    let id = required(&request.connected_account_id, "connected_account_id")?;
    // Only the record leaves; the sealed credential stays here.
    let account = state.store.get_account(project, id).await?.account;
    Ok(GetConnectedAccountResponse {
        connected_account: Some(account),
    })
}

pub async fn list_connected_accounts(
    state: &AppState,
    project: &str,
    req: ListConnectedAccountsRequest,
) -> Result<ListConnectedAccountsResponse, Error> {
    let size = page_size(req.page_size, "page_size")?;
    let after = decode_token(&req.page_token, "page_token")?;
    let non_empty = |s: &str| !s.is_empty();
    if non_empty(&req.user_id) {
        validate_user_id(&req.user_id, "user_id")?;
    }
    if non_empty(&req.toolkit) {
        known_toolkit(state, project, &req.toolkit, "toolkit").await?;
    }
    input::check_status(&req.status)?;
    let filter = AccountFilter {
        user_id: non_empty(&req.user_id).then_some(req.user_id.as_str()),
        toolkit: non_empty(&req.toolkit).then_some(req.toolkit.as_str()),
        status: non_empty(&req.status).then_some(req.status.as_str()),
    };
    let (connected_accounts, more) = state
        .store
        .list_accounts(project, &filter, after.as_deref(), size)
        .await?;
    let next_page_token = next_token(more, connected_accounts.last().map(|a| a.id.as_str()));
    Ok(ListConnectedAccountsResponse {
        connected_accounts,
        next_page_token,
    })
}

pub async fn enable_connected_account(
    state: &AppState,
    project: &str,
    request: EnableConnectedAccountRequest,
) -> Result<EnableConnectedAccountResponse, Error> {
    let account = set_status(state, project, &request.connected_account_id, ACTIVE, "").await?;
    Ok(EnableConnectedAccountResponse {
        connected_account: Some(account),
    })
}

pub async fn disable_connected_account(
    state: &AppState,
    project: &str,
    request: DisableConnectedAccountRequest,
) -> Result<DisableConnectedAccountResponse, Error> {
    let account = set_status(
        state,
        project,
        &request.connected_account_id,
        DISABLED,
        DISABLED_BY_API,
    )
    .await?;
    switchboard_oauth::stop_account_triggers(
        &state.store,
        &state.bus,
        project,
        &account,
        &format!("its connected account {} was disabled", account.id),
    )
    .await;
    Ok(DisableConnectedAccountResponse {
        connected_account: Some(account),
    })
}

pub async fn delete_connected_account(
    state: &AppState,
    project: &str,
    request: DeleteConnectedAccountRequest,
) -> Result<DeleteConnectedAccountResponse, Error> {
    let id = required(&request.connected_account_id, "connected_account_id")?;
    let stored = state.store.get_account(project, id).await?;
    if stored.account.scheme == AuthScheme::Oauth2.as_str() && !stored.sealed.is_empty() {
        revoke(state, project, &stored).await;
    }
    state.store.delete_account(project, id).await?;
    tracing::debug!(project_id = %project, account_id = %id, "connected account deleted");
    switchboard_oauth::stop_account_triggers(
        &state.store,
        &state.bus,
        project,
        &stored.account,
        &format!("its connected account {id} was deleted"),
    )
    .await;
    Ok(DeleteConnectedAccountResponse {})
}
