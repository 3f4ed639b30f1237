//! Connection requests (Connect Links), their single-use OAuth `state`, the sealed client
//! secrets of custom OAuth apps, and the per-account refresh lock.
//!
//! A request is one JSON record (`cr:<id>`) kept a day past its link's expiry so a late
//! WaitForConnection still reads how it ended. Its link token and its current `state` (or form
//! CSRF token) are stored only as SHA-256 digests in keys that expire with the link: whoever
//! holds the Redis data cannot follow a link. Starting a request that makes a new account and
//! finishing one that activates it are single scripts, so no account is ever half-connected.

use std::sync::LazyLock;
use std::time::Duration;

use prost::Message;
use redis::ScriptInvocation;
use serde::{Deserialize, Serialize};
use switchboard_core::ids::is_id;
use switchboard_core::{Error, Result};
use switchboard_proto::v1::ConnectedAccount;

use crate::connections::alias_field;
use crate::locks::millis;
use crate::scripts::{or_empty, ScriptCall};
use crate::{unavailable, Store};

/// How long a finished or expired request stays readable after its link expired.
const KEEP_AFTER_EXPIRY: Duration = Duration::from_secs(24 * 3600);

pub use switchboard_core::accounts::INITIATED;

/// A connection request as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkRecord {
    pub id: String,
    pub session_id: String,
    pub user_id: String,
    pub toolkit: String,
    pub auth_config_id: String,
    pub account_id: String,
    /// The auth config's scheme (OAUTH2 or a static one).
    pub scheme: String,
    /// INITIATED, ACTIVE, FAILED, EXPIRED.
    pub status: String,
    pub status_reason: String,
    /// Where the browser goes when the flow ends ("" for the result page).
    pub callback_url: String,
    /// Scopes asked for (OAUTH2).
    pub scopes: Vec<String>,
    pub create_ms: i64,
    pub expire_ms: i64,
    /// The account existed before this request (a reconnect): a failure leaves it as it was.
    pub reconnect: bool,
    /// SHA-256 (hex) of the link token.
    pub link_hash: String,
    /// SHA-256 (hex) of the current OAuth `state`, or of the form's CSRF token.
    #[serde(default)]
    pub state_hash: String,
    /// The PKCE code verifier, sealed with the request id as associated data (base64).
    #[serde(default)]
    pub sealed_verifier: String,
}

impl LinkRecord {
    /// INITIATED and past its expiry.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.status == INITIATED && now_ms >= self.expire_ms
    }
}

fn request_not_found(id: &str) -> Error {
    Error::not_found(
        switchboard_core::reason::CONNECTION_REQUEST_NOT_FOUND,
        format!("connection request {id:?} not found"),
    )
}

fn bad_record(e: serde_json::Error) -> Error {
    Error::Internal(format!("stored connection request does not decode: {e}"))
}

/// Stores a new request and its link and, unless it reconnects an account, creates that
/// INITIATED account: 0 when it did; -2 when the auth config does not exist, -1 when the user
/// already has the alias, -3 when the reconnected account does not exist (nothing written).
static START_LINK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local request, link, account_key, accounts, user_accounts, aliases, auth_config,
  auth_config_accounts = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local record, request_ttl_ms, link_ttl_ms, request_id, new_account, account_id, alias =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if redis.call('EXISTS', auth_config) == 0 then return -2 end
if new_account ~= '' then
  if alias ~= '' then
    if redis.call('HSETNX', aliases, alias, account_id) == 0 then return -1 end
  end
  redis.call('HSET', account_key, 'd', new_account)
  redis.call('ZADD', accounts, 0, account_id)
  redis.call('ZADD', user_accounts, 0, account_id)
  redis.call('SADD', auth_config_accounts, account_id)
elseif redis.call('EXISTS', account_key) == 0 then
  return -3
end
redis.call('SET', request, record, 'PX', request_ttl_ms)
redis.call('SET', link, request_id, 'PX', link_ttl_ms)
return 0
",
    )
});

/// [`START_LINK`]'s keys and arguments.
pub(crate) struct StartLink<'a> {
    /// `KEYS[1]`: the connection request.
    pub request: String,
    /// `KEYS[2]`: the link (its token's digest).
    pub link: String,
    /// `KEYS[3]`: the account hash.
    pub account_key: String,
    /// `KEYS[4]`: the project's accounts.
    pub accounts: String,
    /// `KEYS[5]`: the user's accounts.
    pub user_accounts: String,
    /// `KEYS[6]`: the user's aliases.
    pub aliases: String,
    /// `KEYS[7]`: the auth config (must exist).
    pub auth_config: String,
    /// `KEYS[8]`: the auth config's accounts.
    pub auth_config_accounts: String,
    /// `ARGV[1]`: the request JSON.
    pub record: String,
    /// `ARGV[2]`: how long the request is kept, ms.
    pub request_ttl_ms: u64,
    /// `ARGV[3]`: how long the link lives, ms.
    pub link_ttl_ms: u64,
    /// `ARGV[4]`: the request id (the link's value).
    pub request_id: &'a str,
    /// `ARGV[5]`: the new account's encoded `ConnectedAccount` (`''`: a reconnect, the account
    /// must exist).
    pub new_account: Option<Vec<u8>>,
    /// `ARGV[6]`: the account id.
    pub account_id: &'a str,
    /// `ARGV[7]`: the new account's alias field (`''`: no alias).
    pub alias: Option<&'a str>,
}

impl ScriptCall for StartLink<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = START_LINK.prepare_invoke();
        call.key(&self.request)
            .key(&self.link)
            .key(&self.account_key)
            .key(&self.accounts)
            .key(&self.user_accounts)
            .key(&self.aliases)
            .key(&self.auth_config)
            .key(&self.auth_config_accounts)
            .arg(&self.record)
            .arg(self.request_ttl_ms)
            .arg(self.link_ttl_ms)
            .arg(self.request_id)
            .arg(self.new_account.as_deref().unwrap_or_default())
            .arg(self.account_id)
            .arg(or_empty(self.alias));
        call
    }
}

/// Saves a request's record (its expiry kept) and a new `state` key naming it, and drops the
/// previous one: 1 when it did, 0 when the request is gone (nothing written).
static SET_STATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local request, state, previous_state = KEYS[1], KEYS[2], KEYS[3]
local record, state_ttl_ms, request_id = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', request) == 0 then return 0 end
if previous_state ~= state then redis.call('DEL', previous_state) end
redis.call('SET', request, record, 'KEEPTTL')
redis.call('SET', state, request_id, 'PX', state_ttl_ms)
return 1
",
    )
});

/// [`SET_STATE`]'s keys and arguments.
pub(crate) struct SetLinkState<'a> {
    /// `KEYS[1]`: the connection request.
    pub request: String,
    /// `KEYS[2]`: the new state key.
    pub state: String,
    /// `KEYS[3]`: the previous state key (may be `state`: then nothing is dropped).
    pub previous_state: String,
    /// `ARGV[1]`: the request JSON.
    pub record: String,
    /// `ARGV[2]`: how long the state lives, ms.
    pub state_ttl_ms: u64,
    /// `ARGV[3]`: the request id (the state's value).
    pub request_id: &'a str,
}

impl ScriptCall for SetLinkState<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = SET_STATE.prepare_invoke();
        call.key(&self.request)
            .key(&self.state)
            .key(&self.previous_state)
            .arg(&self.record)
            .arg(self.state_ttl_ms)
            .arg(self.request_id);
        call
    }
}

/// Ends a request whose stored JSON still contains `expected` (its INITIATED status): saves the
/// final record (expiry kept), updates the account when asked, and deletes the link and state.
/// 1 when it did; 0 when the request is gone, -1 when it already ended, -2 when the account to
/// update is gone (nothing written).
static FINISH_LINK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local request, link, state, account_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local record, expected, account, sealed = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local current = redis.call('GET', request)
if not current then return 0 end
if not string.find(current, expected, 1, true) then return -1 end
if account ~= '' then
  if redis.call('EXISTS', account_key) == 0 then return -2 end
  if sealed ~= '' then
    redis.call('HSET', account_key, 'd', account, 'c', sealed)
  else
    redis.call('HSET', account_key, 'd', account)
  end
end
redis.call('SET', request, record, 'KEEPTTL')
redis.call('DEL', link)
redis.call('DEL', state)
return 1
",
    )
});

/// [`FINISH_LINK`]'s keys and arguments.
pub(crate) struct FinishLink<'a> {
    /// `KEYS[1]`: the connection request.
    pub request: String,
    /// `KEYS[2]`: its link.
    pub link: String,
    /// `KEYS[3]`: its current state key.
    pub state: String,
    /// `KEYS[4]`: its account hash.
    pub account_key: String,
    /// `ARGV[1]`: the final request JSON.
    pub record: String,
    /// `ARGV[2]`: text the stored JSON must contain (`"status":"INITIATED"`).
    pub expected: String,
    /// `ARGV[3]`: the account's new encoded record (`''`: left alone).
    pub account: Option<Vec<u8>>,
    /// `ARGV[4]`: its new sealed credential (`''`: left alone; needs `account`).
    pub sealed: Option<&'a [u8]>,
}

impl ScriptCall for FinishLink<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = FINISH_LINK.prepare_invoke();
        call.key(&self.request)
            .key(&self.link)
            .key(&self.state)
            .key(&self.account_key)
            .arg(&self.record)
            .arg(&self.expected)
            .arg(self.account.as_deref().unwrap_or_default())
            .arg(self.sealed.unwrap_or_default());
        call
    }
}

/// Saves refreshed tokens (record and credential in one HSET) if the account exists, and
/// releases the refresh lock if `owner` holds it: 1 when the tokens were written, else 0.
static STORE_TOKENS: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local account_key, lock = KEYS[1], KEYS[2]
local record, sealed, owner = ARGV[1], ARGV[2], ARGV[3]
local written = 0
if redis.call('EXISTS', account_key) == 1 then
  redis.call('HSET', account_key, 'd', record, 'c', sealed)
  written = 1
end
if redis.call('GET', lock) == owner then redis.call('DEL', lock) end
return written
",
    )
});

/// [`STORE_TOKENS`]'s keys and arguments.
pub(crate) struct StoreTokens<'a> {
    /// `KEYS[1]`: the account hash.
    pub account_key: String,
    /// `KEYS[2]`: its refresh lock.
    pub lock: String,
    /// `ARGV[1]`: the account's encoded record.
    pub record: Vec<u8>,
    /// `ARGV[2]`: its sealed credential.
    pub sealed: &'a [u8],
    /// `ARGV[3]`: the lock owner.
    pub owner: &'a str,
}

impl ScriptCall for StoreTokens<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = STORE_TOKENS.prepare_invoke();
        call.key(&self.account_key)
            .key(&self.lock)
            .arg(&self.record)
            .arg(self.sealed)
            .arg(self.owner);
        call
    }
}

/// How a request ends.
pub struct Finish<'a> {
    /// The request with its final status.
    pub record: &'a LinkRecord,
    /// The account's new record, if it changes.
    pub account: Option<&'a ConnectedAccount>,
    /// Its new sealed credential, if it changes (needs `account`).
    pub sealed: Option<&'a [u8]>,
}

impl Store {
    /// Stores a new connection request and its link (kept `link_ttl`), and, when `new_account`
    /// is given, creates that INITIATED account in the same script. ALREADY_EXISTS when the
    /// alias is taken; NOT_FOUND when the auth config (or the reconnected account) is gone.
    pub async fn start_link(
        &self,
        project: &str,
        record: &LinkRecord,
        link_ttl: Duration,
        new_account: Option<&ConnectedAccount>,
    ) -> Result<()> {
        let json = serde_json::to_string(record).map_err(bad_record)?;
        let alias = new_account.map(alias_field).unwrap_or_default();
        let status: i64 = self
            .run(&StartLink {
                request: self.keys.connection_request(project, &record.id),
                link: self.keys.link(project, &record.link_hash),
                account_key: self.keys.account(project, &record.account_id),
                accounts: self.keys.accounts(project),
                user_accounts: self.keys.user_accounts(project, &record.user_id),
                aliases: self.keys.user_aliases(project, &record.user_id),
                auth_config: self.keys.auth_config(project, &record.auth_config_id),
                auth_config_accounts: self
                    .keys
                    .auth_config_accounts(project, &record.auth_config_id),
                record: json,
                request_ttl_ms: millis(link_ttl + KEEP_AFTER_EXPIRY),
                link_ttl_ms: millis(link_ttl),
                request_id: &record.id,
                new_account: new_account.map(Message::encode_to_vec),
                account_id: &record.account_id,
                alias: (!alias.is_empty()).then_some(alias.as_str()),
            })
            .await?;
        match status {
            0 => Ok(()),
            -1 => Err(Error::AlreadyExists {
                reason: switchboard_core::reason::ALIAS_TAKEN,
                message: format!(
                    "the user already has a {} account with this alias",
                    record.toolkit
                ),
            }),
            -3 => Err(crate::account_not_found(&record.account_id)),
            _ => Err(Error::not_found(
                switchboard_core::reason::AUTH_CONFIG_NOT_FOUND,
                format!("auth config {:?} not found", record.auth_config_id),
            )),
        }
    }

    /// A connection request by id.
    pub async fn get_link(&self, project: &str, id: &str) -> Result<LinkRecord> {
        if !is_id("cr", id) {
            return Err(request_not_found(id));
        }
        let mut conn = self.conn.clone();
        let json: Option<String> = redis::cmd("GET")
            .arg(self.keys.connection_request(project, id))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let json = json.ok_or_else(|| request_not_found(id))?;
        serde_json::from_str(&json).map_err(bad_record)
    }

    /// The request a link token (by digest) leads to, while the link lives.
    pub async fn link_by_token(
        &self,
        project: &str,
        link_hash: &str,
    ) -> Result<Option<LinkRecord>> {
        self.lookup(self.keys.link(project, link_hash), false, project)
            .await
    }

    /// Takes a `state` (by digest): the first call gets its request, every later one `None`.
    pub async fn take_state(&self, project: &str, state_hash: &str) -> Result<Option<LinkRecord>> {
        self.lookup(self.keys.link_state(project, state_hash), true, project)
            .await
    }

    async fn lookup(&self, key: String, take: bool, project: &str) -> Result<Option<LinkRecord>> {
        let mut conn = self.conn.clone();
        let id: Option<String> = redis::cmd(if take { "GETDEL" } else { "GET" })
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let Some(id) = id else { return Ok(None) };
        match self.get_link(project, &id).await {
            Ok(r) => Ok(Some(r)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves a request's new `state` digest (and sealed verifier), valid for `ttl`; the
    /// previous `state` stops working. False when the request is gone.
    pub async fn set_link_state(
        &self,
        project: &str,
        record: &LinkRecord,
        previous_state_hash: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let json = serde_json::to_string(record).map_err(bad_record)?;
        let previous = if previous_state_hash.is_empty() {
            record.state_hash.as_str()
        } else {
            previous_state_hash
        };
        let done: i64 = self
            .run(&SetLinkState {
                request: self.keys.connection_request(project, &record.id),
                state: self.keys.link_state(project, &record.state_hash),
                previous_state: self.keys.link_state(project, previous),
                record: json,
                state_ttl_ms: millis(ttl),
                request_id: &record.id,
            })
            .await?;
        Ok(done == 1)
    }

    /// Ends a request that is still INITIATED: saves its final record, updates its account in
    /// the same script and kills its link and state. False when it had already ended (or is
    /// gone): nothing is changed then.
    pub async fn finish_link(&self, project: &str, finish: Finish<'_>) -> Result<bool> {
        let record = finish.record;
        let json = serde_json::to_string(record).map_err(bad_record)?;
        let done: i64 = self
            .run(&FinishLink {
                request: self.keys.connection_request(project, &record.id),
                link: self.keys.link(project, &record.link_hash),
                state: self.keys.link_state(project, &record.state_hash),
                account_key: self.keys.account(project, &record.account_id),
                record: json,
                expected: format!("\"status\":\"{INITIATED}\""),
                account: finish.account.map(Message::encode_to_vec),
                sealed: finish.sealed,
            })
            .await?;
        match done {
            1 => Ok(true),
            -2 => Err(crate::account_not_found(&record.account_id)),
            _ => Ok(false),
        }
    }

    /// Takes the refresh lock of an account for `ttl` unless another holder has it.
    pub async fn try_refresh_lock(
        &self,
        project: &str,
        account_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool> {
        self.take_lock(self.keys.refresh_lock(project, account_id), owner, ttl)
            .await
    }

    /// Releases the refresh lock if `owner` still holds it.
    pub async fn release_refresh_lock(
        &self,
        project: &str,
        account_id: &str,
        owner: &str,
    ) -> Result<()> {
        self.release_lock(self.keys.refresh_lock(project, account_id), owner)
            .await
    }

    /// Saves refreshed tokens (record and sealed credential together, one HSET) and releases
    /// the refresh lock if `owner` still holds it. False when the account is gone.
    pub async fn store_tokens(
        &self,
        project: &str,
        account: &ConnectedAccount,
        sealed: &[u8],
        owner: &str,
    ) -> Result<bool> {
        let written: i64 = self
            .run(&StoreTokens {
                account_key: self.keys.account(project, &account.id),
                lock: self.keys.refresh_lock(project, &account.id),
                record: account.encode_to_vec(),
                sealed,
                owner,
            })
            .await?;
        Ok(written == 1)
    }

    /// A custom OAuth app's sealed client secret.
    pub async fn auth_config_secret(&self, project: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let mut conn = self.conn.clone();
        redis::cmd("GET")
            .arg(self.keys.auth_config_secret(project, id))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod script_tests {
    use super::*;
    use crate::scripts::testing::{fixture, Fixture};

    fn start<'a>(fx: &Fixture, request_id: &'a str, account_id: &'a str) -> StartLink<'a> {
        let k = fx.keys();
        let p = &fx.project;
        StartLink {
            request: k.connection_request(p, request_id),
            link: k.link(p, &format!("hash of {request_id}")),
            account_key: k.account(p, account_id),
            accounts: k.accounts(p),
            user_accounts: k.user_accounts(p, "u1"),
            aliases: k.user_aliases(p, "u1"),
            auth_config: k.auth_config(p, "ac_1"),
            auth_config_accounts: k.auth_config_accounts(p, "ac_1"),
            record: format!(r#"{{"id":"{request_id}","status":"INITIATED"}}"#),
            request_ttl_ms: 120_000,
            link_ttl_ms: 60_000,
            request_id,
            new_account: Some(b"new account".to_vec()),
            account_id,
            alias: Some("github/work"),
        }
    }

    async fn put_auth_config(fx: &Fixture) {
        let () = fx
            .query(
                redis::cmd("SET")
                    .arg(fx.keys().auth_config(&fx.project, "ac_1"))
                    .arg("config"),
            )
            .await;
    }

    async fn assert_not_started(fx: &Fixture, call: &StartLink<'_>) {
        assert!(!fx.exists(&call.request).await);
        assert!(!fx.exists(&call.link).await);
    }

    #[tokio::test]
    async fn start_creates_the_request_link_and_initiated_account() {
        let fx = fixture().await;
        let call = start(&fx, "cr_1", "ca_1");
        assert_eq!(fx.run::<i64>(&call).await, -2);
        assert_not_started(&fx, &call).await;
        assert!(!fx.exists(&call.account_key).await);

        put_auth_config(&fx).await;
        assert_eq!(fx.run::<i64>(&call).await, 0);
        assert_eq!(fx.get(&call.request).await.unwrap(), call.record.as_bytes());
        assert_eq!(fx.get(&call.link).await.unwrap(), b"cr_1");
        let request_ttl = fx.pttl(&call.request).await;
        let link_ttl = fx.pttl(&call.link).await;
        assert!(
            request_ttl > 100_000 && request_ttl <= 120_000,
            "{request_ttl}"
        );
        assert!(link_ttl > 50_000 && link_ttl <= 60_000, "{link_ttl}");
        assert_eq!(
            fx.hget(&call.account_key, "d").await.unwrap(),
            b"new account"
        );
        assert_eq!(fx.zmembers(&call.accounts).await, ["ca_1"]);
        assert_eq!(fx.zmembers(&call.user_accounts).await, ["ca_1"]);
        assert_eq!(fx.smembers(&call.auth_config_accounts).await, ["ca_1"]);
        assert_eq!(
            fx.hget(&call.aliases, "github/work").await.unwrap(),
            b"ca_1"
        );
        fx.done().await;
    }

    #[tokio::test]
    async fn start_with_a_taken_alias_writes_nothing() {
        let fx = fixture().await;
        put_auth_config(&fx).await;
        assert_eq!(fx.run::<i64>(&start(&fx, "cr_1", "ca_1")).await, 0);
        let call = start(&fx, "cr_2", "ca_2");
        assert_eq!(fx.run::<i64>(&call).await, -1);
        assert_not_started(&fx, &call).await;
        assert!(!fx.exists(&call.account_key).await);
        assert_eq!(fx.zmembers(&call.accounts).await, ["ca_1"]);

        // Without an alias it goes through.
        let mut plain = start(&fx, "cr_3", "ca_3");
        plain.alias = None;
        assert_eq!(fx.run::<i64>(&plain).await, 0);
        assert_eq!(fx.zmembers(&plain.user_accounts).await, ["ca_1", "ca_3"]);
        fx.done().await;
    }

    #[tokio::test]
    async fn a_reconnect_needs_the_account_and_leaves_it_alone() {
        let fx = fixture().await;
        put_auth_config(&fx).await;
        let mut call = start(&fx, "cr_1", "ca_1");
        call.new_account = None;
        assert_eq!(fx.run::<i64>(&call).await, -3);
        assert_not_started(&fx, &call).await;
        assert!(!fx.exists(&call.account_key).await);
        assert!(!fx.exists(&call.aliases).await);

        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&call.account_key)
                    .arg("d")
                    .arg("existing"),
            )
            .await;
        assert_eq!(fx.run::<i64>(&call).await, 0);
        assert_eq!(fx.get(&call.link).await.unwrap(), b"cr_1");
        assert_eq!(fx.hget(&call.account_key, "d").await.unwrap(), b"existing");
        assert!(fx.zmembers(&call.accounts).await.is_empty());
        fx.done().await;
    }

    fn set_state<'a>(fx: &Fixture, state: &str, previous: &str) -> SetLinkState<'a> {
        let k = fx.keys();
        let p = &fx.project;
        SetLinkState {
            request: k.connection_request(p, "cr_1"),
            state: k.link_state(p, state),
            previous_state: k.link_state(p, previous),
            record: format!(r#"{{"state_hash":"{state}"}}"#),
            state_ttl_ms: 30_000,
            request_id: "cr_1",
        }
    }

    #[tokio::test]
    async fn set_state_replaces_the_previous_state_and_keeps_the_request_ttl() {
        let fx = fixture().await;
        let first = set_state(&fx, "s1", "s1");
        assert_eq!(fx.run::<i64>(&first).await, 0);
        assert!(!fx.exists(&first.request).await);
        assert!(!fx.exists(&first.state).await);

        let () = fx
            .query(
                redis::cmd("SET")
                    .arg(&first.request)
                    .arg("{}")
                    .arg("PX")
                    .arg(600_000),
            )
            .await;
        assert_eq!(fx.run::<i64>(&first).await, 1);
        assert_eq!(fx.get(&first.state).await.unwrap(), b"cr_1");
        assert_eq!(
            fx.get(&first.request).await.unwrap(),
            br#"{"state_hash":"s1"}"#
        );
        assert!(fx.pttl(&first.request).await > 500_000);
        let ttl = fx.pttl(&first.state).await;
        assert!(ttl > 20_000 && ttl <= 30_000, "{ttl}");

        let second = set_state(&fx, "s2", "s1");
        assert_eq!(fx.run::<i64>(&second).await, 1);
        assert!(!fx.exists(&first.state).await);
        assert_eq!(fx.get(&second.state).await.unwrap(), b"cr_1");
        assert!(fx.pttl(&second.request).await > 500_000);
        fx.done().await;
    }

    fn finish<'a>(
        fx: &Fixture,
        account: Option<&[u8]>,
        sealed: Option<&'a [u8]>,
    ) -> FinishLink<'a> {
        let k = fx.keys();
        let p = &fx.project;
        FinishLink {
            request: k.connection_request(p, "cr_1"),
            link: k.link(p, "l1"),
            state: k.link_state(p, "s1"),
            account_key: k.account(p, "ca_1"),
            record: r#"{"status":"ACTIVE"}"#.into(),
            expected: format!("\"status\":\"{INITIATED}\""),
            account: account.map(<[u8]>::to_vec),
            sealed,
        }
    }

    async fn put_request(fx: &Fixture, call: &FinishLink<'_>) {
        let () = fx
            .query(
                redis::cmd("SET")
                    .arg(&call.request)
                    .arg(format!(r#"{{"id":"cr_1","status":"{INITIATED}"}}"#))
                    .arg("PX")
                    .arg(600_000),
            )
            .await;
        let () = fx
            .query(redis::cmd("SET").arg(&call.link).arg("cr_1"))
            .await;
        let () = fx
            .query(redis::cmd("SET").arg(&call.state).arg("cr_1"))
            .await;
    }

    #[tokio::test]
    async fn finish_ends_an_initiated_request_with_its_account() {
        let fx = fixture().await;
        let call = finish(&fx, Some(b"active"), Some(b"sealed"));
        assert_eq!(fx.run::<i64>(&call).await, 0);

        put_request(&fx, &call).await;
        // The account is gone: nothing changes.
        assert_eq!(fx.run::<i64>(&call).await, -2);
        assert!(fx.exists(&call.link).await);
        assert!(!fx.exists(&call.account_key).await);

        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&call.account_key)
                    .arg("d")
                    .arg("initiated")
                    .arg("c")
                    .arg("old"),
            )
            .await;
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert_eq!(
            fx.get(&call.request).await.unwrap(),
            br#"{"status":"ACTIVE"}"#
        );
        assert!(fx.pttl(&call.request).await > 500_000);
        assert!(!fx.exists(&call.link).await);
        assert!(!fx.exists(&call.state).await);
        assert_eq!(fx.hget(&call.account_key, "d").await.unwrap(), b"active");
        assert_eq!(fx.hget(&call.account_key, "c").await.unwrap(), b"sealed");

        // Ended already: -1, nothing written.
        let late = finish(&fx, Some(b"late"), None);
        assert_eq!(fx.run::<i64>(&late).await, -1);
        assert_eq!(fx.hget(&call.account_key, "d").await.unwrap(), b"active");
        fx.done().await;
    }

    #[tokio::test]
    async fn finish_leaves_what_it_is_not_given() {
        let fx = fixture().await;
        // A failed reconnect: the account stays as it was.
        let call = finish(&fx, None, None);
        put_request(&fx, &call).await;
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert!(!fx.exists(&call.account_key).await);
        assert!(!fx.exists(&call.link).await);

        // A new record without a new credential keeps the credential.
        let call = finish(&fx, Some(b"failed"), None);
        put_request(&fx, &call).await;
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&call.account_key)
                    .arg("d")
                    .arg("initiated")
                    .arg("c")
                    .arg("old"),
            )
            .await;
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert_eq!(fx.hget(&call.account_key, "d").await.unwrap(), b"failed");
        assert_eq!(fx.hget(&call.account_key, "c").await.unwrap(), b"old");
        fx.done().await;
    }

    #[tokio::test]
    async fn store_tokens_writes_an_existing_account_and_releases_only_its_owners_lock() {
        let fx = fixture().await;
        let k = fx.keys();
        let p = &fx.project;
        let call = |owner: &'static str| StoreTokens {
            account_key: k.account(p, "ca_1"),
            lock: k.refresh_lock(p, "ca_1"),
            record: b"refreshed".to_vec(),
            sealed: b"new tokens",
            owner,
        };
        let mine = call("me");
        let () = fx.query(redis::cmd("SET").arg(&mine.lock).arg("me")).await;
        // The account is gone: nothing written, the lock released all the same.
        assert_eq!(fx.run::<i64>(&mine).await, 0);
        assert!(!fx.exists(&mine.account_key).await);
        assert!(!fx.exists(&mine.lock).await);

        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&mine.account_key)
                    .arg("d")
                    .arg("old")
                    .arg("c")
                    .arg("old"),
            )
            .await;
        let () = fx
            .query(redis::cmd("SET").arg(&mine.lock).arg("someone else"))
            .await;
        assert_eq!(fx.run::<i64>(&mine).await, 1);
        assert_eq!(fx.hget(&mine.account_key, "d").await.unwrap(), b"refreshed");
        assert_eq!(
            fx.hget(&mine.account_key, "c").await.unwrap(),
            b"new tokens"
        );
        assert_eq!(fx.get(&mine.lock).await.unwrap(), b"someone else");

        let () = fx.query(redis::cmd("SET").arg(&mine.lock).arg("me")).await;
        assert_eq!(fx.run::<i64>(&mine).await, 1);
        assert!(!fx.exists(&mine.lock).await);
        fx.done().await;
    }
}
