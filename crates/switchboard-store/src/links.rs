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
use serde::{Deserialize, Serialize};
use switchboard_core::ids::is_id;
use switchboard_core::{Error, Result};
use switchboard_proto::v1::ConnectedAccount;

use crate::connections::alias_field;
use crate::locks::millis;
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

static START_LINK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: request, link, account, accounts, user accounts, aliases, auth config, auth config accounts
-- ARGV: request json, request ttl ms, link ttl ms, request id, new account ('' = reconnect),
--       account id, alias field ('' for none)
if redis.call('EXISTS', KEYS[7]) == 0 then return -2 end
if ARGV[5] ~= '' then
  if ARGV[7] ~= '' then
    if redis.call('HSETNX', KEYS[6], ARGV[7], ARGV[6]) == 0 then return -1 end
  end
  redis.call('HSET', KEYS[3], 'd', ARGV[5])
  redis.call('ZADD', KEYS[4], 0, ARGV[6])
  redis.call('ZADD', KEYS[5], 0, ARGV[6])
  redis.call('SADD', KEYS[8], ARGV[6])
elseif redis.call('EXISTS', KEYS[3]) == 0 then
  return -3
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
return 0
",
    )
});

static SET_STATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: request, new state key, old state key ('' hash: same as new)
-- ARGV: request json, state ttl ms, request id
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if KEYS[3] ~= KEYS[2] then redis.call('DEL', KEYS[3]) end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return 1
",
    )
});

static FINISH_LINK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: request, link, state, account
-- ARGV: request json, expected status of the stored request, account d ('' = leave),
--       sealed credential ('' = leave)
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if not string.find(current, ARGV[2], 1, true) then return -1 end
if ARGV[3] ~= '' then
  if redis.call('EXISTS', KEYS[4]) == 0 then return -2 end
  if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[4], 'd', ARGV[3], 'c', ARGV[4])
  else
    redis.call('HSET', KEYS[4], 'd', ARGV[3])
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
redis.call('DEL', KEYS[2])
redis.call('DEL', KEYS[3])
return 1
",
    )
});

static STORE_TOKENS: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: account, refresh lock. ARGV: account d, sealed credential, lock owner
local written = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'd', ARGV[1], 'c', ARGV[2])
  written = 1
end
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return written
",
    )
});

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
        let (account_d, alias) = match new_account {
            Some(a) => (a.encode_to_vec(), alias_field(a)),
            None => (Vec::new(), String::new()),
        };
        let mut conn = self.conn.clone();
        let status: i64 = START_LINK
            .key(self.keys.connection_request(project, &record.id))
            .key(self.keys.link(project, &record.link_hash))
            .key(self.keys.account(project, &record.account_id))
            .key(self.keys.accounts(project))
            .key(self.keys.user_accounts(project, &record.user_id))
            .key(self.keys.user_aliases(project, &record.user_id))
            .key(self.keys.auth_config(project, &record.auth_config_id))
            .key(
                self.keys
                    .auth_config_accounts(project, &record.auth_config_id),
            )
            .arg(json)
            .arg(millis(link_ttl + KEEP_AFTER_EXPIRY))
            .arg(millis(link_ttl))
            .arg(&record.id)
            .arg(account_d)
            .arg(&record.account_id)
            .arg(alias)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
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

    /// Reads a `state` (by digest) without taking it (the form's CSRF check takes it only
    /// when the form is valid).
    pub async fn peek_state(&self, project: &str, state_hash: &str) -> Result<Option<LinkRecord>> {
        self.lookup(self.keys.link_state(project, state_hash), false, project)
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
        let mut conn = self.conn.clone();
        let done: i64 = SET_STATE
            .key(self.keys.connection_request(project, &record.id))
            .key(self.keys.link_state(project, &record.state_hash))
            .key(self.keys.link_state(project, previous))
            .arg(json)
            .arg(millis(ttl))
            .arg(&record.id)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    /// Ends a request that is still INITIATED: saves its final record, updates its account in
    /// the same script and kills its link and state. False when it had already ended (or is
    /// gone): nothing is changed then.
    pub async fn finish_link(&self, project: &str, finish: Finish<'_>) -> Result<bool> {
        let record = finish.record;
        let json = serde_json::to_string(record).map_err(bad_record)?;
        let account_d = finish
            .account
            .map(Message::encode_to_vec)
            .unwrap_or_default();
        let sealed = finish.sealed.unwrap_or_default();
        let mut conn = self.conn.clone();
        let done: i64 = FINISH_LINK
            .key(self.keys.connection_request(project, &record.id))
            .key(self.keys.link(project, &record.link_hash))
            .key(self.keys.link_state(project, &record.state_hash))
            .key(self.keys.account(project, &record.account_id))
            .arg(json)
            .arg(format!("\"status\":\"{INITIATED}\""))
            .arg(account_d)
            .arg(sealed)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
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
        let mut conn = self.conn.clone();
        let written: i64 = STORE_TOKENS
            .key(self.keys.account(project, &account.id))
            .key(self.keys.refresh_lock(project, &account.id))
            .arg(account.encode_to_vec())
            .arg(sealed)
            .arg(owner)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
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
