//! OAuth 2.0 for connected accounts.
//!
//! - [`app`]: which client and endpoints an auth config stands for;
//! - [`flow`]: the HTTP requests of the authorization-code grant with PKCE, refresh, identity
//!   and revocation;
//! - [`OAuth::fresh_tokens`]: refresh coordinated across every worker and gateway — one
//!   refresh at a time per account under a Redis lock, the others wait and use its result, a
//!   rotated refresh token saved in the same write as its access token, `invalid_grant` →
//!   the account EXPIRED and a `connected_account.expired` event on the bus.

pub mod app;
pub mod flow;

use std::sync::Arc;
use std::time::Duration;

use switchboard_bus::Bus;
use switchboard_catalog::Catalog;
use switchboard_config::OAuthConfig;
use switchboard_core::credential::{Credential, OAuthTokens};
use switchboard_core::time::{now_ms, timestamp_of_ms};
use switchboard_core::Error;
use switchboard_crypto::Sealer;
use switchboard_proto::v1::{AuthConfig, ConnectedAccount};
use switchboard_store::Store;

pub use app::App;
pub use flow::TokenError;

pub use switchboard_core::accounts::EXPIRED;

/// Why fresh tokens could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// The provider refused the refresh token: the account is now EXPIRED.
    #[error("the account expired: {0}")]
    Expired(String),
    /// The account is not ACTIVE (disabled, expired, deleted meanwhile).
    #[error("the account is {0}")]
    NotActive(String),
    /// The grant has no refresh token, so an expired access token cannot be renewed.
    #[error(
        "the access token expired and the provider gave no refresh token; reconnect the account"
    )]
    NoRefreshToken,
    /// The token endpoint or the store failed for now; the account stays ACTIVE.
    #[error("the token could not be refreshed now: {0}")]
    Unavailable(String),
}

/// Why the OAuth client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("failed to build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// Why an account's sealed OAuth tokens could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenTokensError {
    #[error("the credential of account {account_id} cannot be opened: {source}")]
    Unseal {
        account_id: String,
        source: switchboard_crypto::CryptoError,
    },
    #[error("account {account_id} holds no OAuth tokens")]
    NotOAuth { account_id: String },
}

/// OAuth operations shared by the gateway and the workers.
#[derive(Clone)]
pub struct OAuth {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: OAuthConfig,
    catalog: Arc<Catalog>,
    store: Store,
    sealer: Sealer,
    bus: Bus,
    /// The gateway's callback URL (`<public url>/oauth/callback`).
    redirect_uri: String,
    /// Names this process in refresh locks.
    instance: String,
}

/// Whether the stored tokens were refreshed since the caller read `held`, and still work. A
/// token refreshed this moment is used even when its whole lifetime is shorter than the
/// refresh margin: refreshing it again would only make every caller refresh.
fn newer(current: &OAuthTokens, held: &OAuthTokens) -> bool {
    current.access_token != held.access_token && !current.expires_within(now_ms(), 1000)
}

impl OAuth {
    pub fn new(
        config: OAuthConfig,
        catalog: Arc<Catalog>,
        store: Store,
        sealer: Sealer,
        bus: Bus,
        redirect_uri: String,
    ) -> Result<OAuth, OAuthError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("switchboard")
            .build()
            .map_err(OAuthError::HttpClient)?;
        Ok(OAuth {
            inner: Arc::new(Inner {
                http,
                config,
                catalog,
                store,
                sealer,
                bus,
                redirect_uri,
                instance: ulid::Ulid::new().to_string(),
            }),
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub fn config(&self) -> &OAuthConfig {
        &self.inner.config
    }

    /// The gateway's own redirect URI.
    pub fn redirect_uri(&self) -> &str {
        &self.inner.redirect_uri
    }

    /// Timeout of one call to the provider's OAuth endpoints.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.inner.config.timeout_ms)
    }

    /// The app of an OAUTH2 auth config (opening a custom app's sealed secret).
    pub async fn app_for(&self, project: &str, auth_config: &AuthConfig) -> Result<App, Error> {
        let toolkit = self
            .inner
            .catalog
            .toolkit(&auth_config.toolkit)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "toolkit {} is not in the catalog",
                    auth_config.toolkit
                ))
            })?;
        let secret = if auth_config.is_managed {
            None
        } else {
            match self
                .inner
                .store
                .auth_config_secret(project, &auth_config.id)
                .await?
            {
                Some(sealed) => {
                    let plain = self
                        .inner
                        .sealer
                        .open(&sealed, &auth_config.id)
                        .map_err(|e| {
                            Error::Internal(format!("an OAuth client secret cannot be opened: {e}"))
                        })?;
                    Some(String::from_utf8_lossy(&plain).into_owned())
                }
                None => None,
            }
        };
        app::resolve(
            &self.inner.config,
            toolkit,
            auth_config,
            secret,
            &self.inner.redirect_uri,
        )
    }

    /// Opens an account's sealed OAuth tokens.
    pub fn open_tokens(
        &self,
        sealed: &[u8],
        account_id: &str,
    ) -> Result<OAuthTokens, OpenTokensError> {
        let plain = self
            .inner
            .sealer
            .open(sealed, account_id)
            .map_err(|source| OpenTokensError::Unseal {
                account_id: account_id.to_owned(),
                source,
            })?;
        match Credential::from_bytes(&plain) {
            Ok(Credential::OAuth2(tokens)) => Ok(tokens),
            _ => Err(OpenTokensError::NotOAuth {
                account_id: account_id.to_owned(),
            }),
        }
    }

    /// Seals tokens for an account.
    pub fn seal_tokens(&self, tokens: &OAuthTokens, account_id: &str) -> Result<Vec<u8>, Error> {
        self.inner
            .sealer
            .seal(&Credential::OAuth2(tokens.clone()).to_bytes(), account_id)
            .map_err(|e| Error::Internal(format!("sealing tokens failed: {e}")))
    }

    /// Whether `tokens` should be refreshed before use.
    pub fn due(&self, tokens: &OAuthTokens) -> bool {
        let margin = i64::try_from(self.inner.config.refresh_margin_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        tokens.expires_within(now_ms(), margin)
    }

    /// Tokens to call the provider with, for an account whose caller holds `held`: `held`
    /// itself when it is not due and `after_401` is false; otherwise newer ones, refreshed
    /// here (one refresh at a time per account across every replica) or by whoever refreshed
    /// meanwhile.
    pub async fn fresh_tokens(
        &self,
        project: &str,
        account_id: &str,
        held: &OAuthTokens,
        after_401: bool,
    ) -> Result<OAuthTokens, RefreshError> {
        if !after_401 && !self.due(held) {
            return Ok(held.clone());
        }
        let store = &self.inner.store;
        let unavailable = |e: Error| RefreshError::Unavailable(e.to_string());
        let lock_ttl = self.timeout() * 3 + Duration::from_secs(1);
        let give_up = tokio::time::Instant::now() + lock_ttl * 2;
        let owner = format!("{}:{}", self.inner.instance, ulid::Ulid::new());
        loop {
            if store
                .try_refresh_lock(project, account_id, &owner, lock_ttl)
                .await
                .map_err(unavailable)?
            {
                let result = self.refresh_locked(project, account_id, held, &owner).await;
                if result.is_err() {
                    let _ = store
                        .release_refresh_lock(project, account_id, &owner)
                        .await;
                }
                return result;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            // Another replica is refreshing: use its tokens once they are saved.
            let stored = match store.get_account(project, account_id).await {
                Ok(s) => s,
                Err(Error::NotFound { .. }) => {
                    return Err(RefreshError::NotActive("deleted".into()))
                }
                Err(e) => return Err(unavailable(e)),
            };
            if stored.account.status != switchboard_core::accounts::ACTIVE {
                return Err(if stored.account.status == EXPIRED {
                    RefreshError::Expired(stored.account.status_reason)
                } else {
                    RefreshError::NotActive(stored.account.status)
                });
            }
            if let Ok(current) = self.open_tokens(&stored.sealed, account_id) {
                if newer(&current, held) {
                    return Ok(current);
                }
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(RefreshError::Unavailable(
                    "another refresh of this account did not finish in time".into(),
                ));
            }
        }
    }

    /// The refresh itself, holding the account's lock (released by `store_tokens` on success).
    async fn refresh_locked(
        &self,
        project: &str,
        account_id: &str,
        held: &OAuthTokens,
        owner: &str,
    ) -> Result<OAuthTokens, RefreshError> {
        let store = &self.inner.store;
        let unavailable = |e: Error| RefreshError::Unavailable(e.to_string());
        let stored = match store.get_account(project, account_id).await {
            Ok(s) => s,
            Err(Error::NotFound { .. }) => return Err(RefreshError::NotActive("deleted".into())),
            Err(e) => return Err(unavailable(e)),
        };
        if stored.account.status != switchboard_core::accounts::ACTIVE {
            return Err(RefreshError::NotActive(stored.account.status));
        }
        let current = self
            .open_tokens(&stored.sealed, account_id)
            .map_err(|e| RefreshError::Unavailable(e.to_string()))?;
        // Refreshed by someone else between our read and the lock.
        if newer(&current, held) {
            let _ = store.release_refresh_lock(project, account_id, owner).await;
            return Ok(current);
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Err(RefreshError::NoRefreshToken);
        };
        let auth_config = store
            .get_auth_config(project, &stored.account.auth_config_id)
            .await
            .map_err(unavailable)?;
        let app = self
            .app_for(project, &auth_config)
            .await
            .map_err(unavailable)?;
        let toolkit = stored.account.toolkit.as_str();
        let mut attempt = 0u32;
        let granted = loop {
            attempt += 1;
            match flow::refresh(&self.inner.http, &app, &refresh_token, self.timeout()).await {
                Ok(g) => {
                    switchboard_metrics::token_refresh(toolkit, "ok");
                    break g;
                }
                Err(TokenError::Transient(why)) if attempt < 3 => {
                    tracing::info!(account_id, attempt, reason = %why, "token refresh failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(TokenError::Transient(why)) => {
                    switchboard_metrics::token_refresh(toolkit, "unavailable");
                    return Err(RefreshError::Unavailable(why));
                }
                Err(rejected) => {
                    switchboard_metrics::token_refresh(toolkit, "expired");
                    let reason = format!("the provider refused to refresh the token ({rejected})");
                    self.expire(project, &stored.account, &reason).await;
                    return Err(RefreshError::Expired(reason));
                }
            }
        };
        let mut account = stored.account.clone();
        account.token_expire_time = granted.tokens.expires_at_ms.map(timestamp_of_ms);
        account.update_time = Some(timestamp_of_ms(now_ms()));
        if let Some(scopes) = granted.scopes.clone() {
            account.granted_scopes = scopes;
        }
        let sealed = self
            .seal_tokens(&granted.tokens, account_id)
            .map_err(unavailable)?;
        let written = store
            .store_tokens(project, &account, &sealed, owner)
            .await
            .map_err(unavailable)?;
        if !written {
            return Err(RefreshError::NotActive("deleted".into()));
        }
        tracing::info!(project_id = project, account_id, "access token refreshed");
        Ok(granted.tokens)
    }

    /// Marks an account EXPIRED and announces it on the bus.
    pub async fn expire(&self, project: &str, account: &ConnectedAccount, reason: &str) {
        let store = &self.inner.store;
        match store
            .set_account_status(project, &account.id, EXPIRED, reason)
            .await
        {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(account_id = %account.id, error = %e, "could not mark an account EXPIRED");
                return;
            }
        }
        tracing::info!(project_id = project, account_id = %account.id, "account expired: the provider refused its refresh token");
        self.publish_expired(project, account, reason).await;
        let why = format!("its connected account {} expired", account.id);
        stop_account_triggers(store, &self.inner.bus, project, account, &why).await;
    }

    async fn publish_expired(&self, project: &str, account: &ConnectedAccount, reason: &str) {
        use switchboard_bus::events::{Envelope, Metadata, ACCOUNT_EXPIRED};
        let event = Envelope {
            id: switchboard_core::ids::new_id("ev"),
            timestamp: timestamp_of_ms(now_ms()).to_string(),
            kind: ACCOUNT_EXPIRED.to_owned(),
            metadata: Metadata {
                project_id: project.to_owned(),
                connected_account_id: account.id.clone(),
                auth_config_id: account.auth_config_id.clone(),
                user_id: account.user_id.clone(),
                toolkit: account.toolkit.clone(),
                ..Default::default()
            },
            data: serde_json::json!({"status": EXPIRED, "status_reason": reason}),
        };
        if let Err(e) = self.inner.bus.publish_envelope(&event).await {
            tracing::warn!(account_id = %account.id, error = %e, "could not publish connected_account.expired");
        }
    }
}

impl OAuth {
    /// The credential of an ACTIVE account, ready to use (OAuth tokens refreshed when due),
    /// for platform-side calls (hook registration, polling). The error is a sentence without
    /// any secret.
    pub async fn credential_for(
        &self,
        project: &str,
        account_id: &str,
    ) -> Result<Credential, String> {
        let stored = self
            .inner
            .store
            .get_account(project, account_id)
            .await
            .map_err(|e| format!("connected account {account_id}: {e}"))?;
        if stored.account.status != switchboard_core::accounts::ACTIVE {
            return Err(format!(
                "connected account {account_id} is {}",
                stored.account.status
            ));
        }
        if stored.sealed.is_empty() {
            return Ok(Credential::None);
        }
        let plain = self
            .inner
            .sealer
            .open(&stored.sealed, account_id)
            .map_err(|e| format!("the credential of account {account_id} cannot be opened: {e}"))?;
        let credential = Credential::from_bytes(&plain)
            .map_err(|_| format!("the credential of account {account_id} is unreadable"))?;
        match &credential {
            Credential::OAuth2(held) => {
                match self.fresh_tokens(project, account_id, held, false).await {
                    Ok(tokens) => Ok(Credential::OAuth2(tokens)),
                    Err(RefreshError::NoRefreshToken) => Ok(credential),
                    Err(e) => Err(format!("connected account {account_id}: {e}")),
                }
            }
            _ => Ok(credential),
        }
    }
}

/// Stops every enabled trigger of `account` (it can no longer be used: disabled, deleted,
/// expired) and announces each with `trigger.disabled` saying why. Failures are logged: the
/// account's own change has already happened.
pub async fn stop_account_triggers(
    store: &Store,
    bus: &Bus,
    project: &str,
    account: &ConnectedAccount,
    reason: &str,
) {
    match store
        .disable_account_triggers(project, &account.id, reason)
        .await
    {
        Ok(stopped) => {
            bus.announce_triggers_stopped(project, &stopped, &account.auth_config_id, reason)
                .await
        }
        Err(e) => {
            tracing::warn!(account_id = %account.id, error = %e, "could not stop an account's triggers")
        }
    }
}
