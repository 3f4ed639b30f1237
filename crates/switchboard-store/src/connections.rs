//! Auth configs and connected accounts. An account is one hash holding the encoded record and
//! its sealed credential (the store never sees plaintext: callers seal before and open after),
//! indexed per project and per user; aliases are unique per user and toolkit. Create and delete
//! are single scripts, so an account never exists half-written.

use std::sync::LazyLock;

use prost::Message;
use switchboard_core::ids::is_id;
use switchboard_core::{Error, Result};
use switchboard_proto::v1::{AuthConfig, ConnectedAccount};

use crate::{corrupt, now_timestamp, unavailable, Store};

/// A connected account with its sealed credential.
#[derive(Debug, Clone)]
pub struct StoredAccount {
    pub account: ConnectedAccount,
    /// The sealed credential (empty for NO_AUTH).
    pub sealed: Vec<u8>,
}

/// Account filters for listing.
#[derive(Debug, Default, Clone)]
pub struct AccountFilter<'a> {
    pub user_id: Option<&'a str>,
    pub toolkit: Option<&'a str>,
    pub status: Option<&'a str>,
}

fn auth_config_not_found(id: &str) -> Error {
    Error::not_found(
        switchboard_core::reason::AUTH_CONFIG_NOT_FOUND,
        format!("auth config {id:?} not found"),
    )
}

/// The error for a missing account.
pub fn account_not_found(id: &str) -> Error {
    Error::not_found(
        switchboard_core::reason::CONNECTED_ACCOUNT_NOT_FOUND,
        format!("connected account {id:?} not found"),
    )
}

static CREATE_ACCOUNT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: account, accounts, user accounts, aliases, auth config, auth config accounts
-- ARGV: id, record, sealed, alias field ('' for none)
if redis.call('EXISTS', KEYS[5]) == 0 then return -2 end
if ARGV[4] ~= '' then
  if redis.call('HSETNX', KEYS[4], ARGV[4], ARGV[1]) == 0 then return -1 end
end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'c', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('SADD', KEYS[6], ARGV[1])
return 0
",
    )
});

static DELETE_ACCOUNT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: account, accounts, user accounts, aliases, auth config accounts
-- ARGV: id, alias field ('' for none)
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[4], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[4], ARGV[2])
end
redis.call('SREM', KEYS[5], ARGV[1])
return 1
",
    )
});

static DELETE_AUTH_CONFIG: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: auth config, auth configs, auth config accounts, its secret
if redis.call('SCARD', KEYS[3]) > 0 then return -1 end
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[4])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
",
    )
});

static UPDATE_AUTH_CONFIG: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: auth config, its secret. ARGV: record, replace secret (1/0), sealed secret ('' = none)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  if ARGV[3] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[3]) end
end
return 1
",
    )
});

static UPDATE_ACCOUNT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[1])
return 1
",
    )
});

/// A user's accounts in one round trip: the ids of their index, then each account's `d`.
/// The account keys (`ARGV[1]` + id) are not declared because the ids are only known from
/// the index; the prefix carries the index's hash tag, so they are in its slot (cluster-safe).
static USER_ACCOUNTS: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: user accounts index. ARGV: account key prefix (same hash tag)
local ids = redis.call('ZRANGEBYLEX', KEYS[1], '-', '+')
local out = {}
for _, id in ipairs(ids) do
  local d = redis.call('HGET', ARGV[1] .. id, 'd')
  if d then out[#out + 1] = d end
end
return out
",
    )
});

pub(crate) fn alias_field(account: &ConnectedAccount) -> String {
    if account.alias.is_empty() {
        String::new()
    } else {
        format!("{}/{}", account.toolkit, account.alias)
    }
}

impl Store {
    /// Stores a new auth config with, for a custom OAuth app, its sealed client secret.
    pub async fn create_auth_config(
        &self,
        project: &str,
        config: &AuthConfig,
        sealed_secret: Option<&[u8]>,
    ) -> Result<()> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set(
                self.keys.auth_config(project, &config.id),
                config.encode_to_vec(),
            )
            .ignore()
            .zadd(self.keys.auth_configs(project), &config.id, 0)
            .ignore();
        if let Some(sealed) = sealed_secret {
            pipe.set(self.keys.auth_config_secret(project, &config.id), sealed)
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        Ok(())
    }

    /// Replaces an auth config's record and, when `sealed_secret` is given, its client secret
    /// (an empty one removes it). NOT_FOUND when it is gone.
    pub async fn update_auth_config(
        &self,
        project: &str,
        config: &AuthConfig,
        sealed_secret: Option<&[u8]>,
    ) -> Result<()> {
        let mut conn = self.conn.clone();
        let updated: i64 = UPDATE_AUTH_CONFIG
            .key(self.keys.auth_config(project, &config.id))
            .key(self.keys.auth_config_secret(project, &config.id))
            .arg(config.encode_to_vec())
            .arg(u8::from(sealed_secret.is_some()))
            .arg(sealed_secret.unwrap_or_default())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if updated == 0 {
            return Err(auth_config_not_found(&config.id));
        }
        Ok(())
    }

    pub async fn get_auth_config(&self, project: &str, id: &str) -> Result<AuthConfig> {
        if !is_id("ac", id) {
            return Err(auth_config_not_found(id));
        }
        let mut conn = self.conn.clone();
        let bytes: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.keys.auth_config(project, id))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let bytes = bytes.ok_or_else(|| auth_config_not_found(id))?;
        AuthConfig::decode(bytes.as_slice()).map_err(|e| corrupt("auth config", e))
    }

    /// Auth configs by id after `after`; the bool says whether more follow.
    pub async fn list_auth_configs(
        &self,
        project: &str,
        toolkit: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuthConfig>, bool)> {
        let ids = self
            .range_ids(&self.keys.auth_configs(project), after, usize::MAX >> 1)
            .await?;
        let mut out = Vec::new();
        let mut more = false;
        for id in ids {
            let config = match self.get_auth_config(project, &id).await {
                Ok(c) => c,
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if toolkit.is_some_and(|t| t != config.toolkit) {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(config);
        }
        Ok((out, more))
    }

    /// Deletes an auth config no account uses.
    pub async fn delete_auth_config(&self, project: &str, id: &str) -> Result<()> {
        self.get_auth_config(project, id).await?;
        let mut conn = self.conn.clone();
        let status: i64 = DELETE_AUTH_CONFIG
            .key(self.keys.auth_config(project, id))
            .key(self.keys.auth_configs(project))
            .key(self.keys.auth_config_accounts(project, id))
            .key(self.keys.auth_config_secret(project, id))
            .arg(id)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        match status {
            1 => Ok(()),
            -1 => Err(Error::FailedPrecondition {
                reason: switchboard_core::reason::AUTH_CONFIG_IN_USE,
                message: format!(
                    "auth config {id:?} still has connected accounts; delete them first"
                ),
            }),
            _ => Err(auth_config_not_found(id)),
        }
    }

    /// Stores a new account with its sealed credential. Fails with ALREADY_EXISTS when the
    /// user already has an account of that toolkit with the same alias.
    pub async fn create_account(
        &self,
        project: &str,
        account: &ConnectedAccount,
        sealed: &[u8],
    ) -> Result<()> {
        let mut conn = self.conn.clone();
        let alias = alias_field(account);
        let status: i64 = CREATE_ACCOUNT
            .key(self.keys.account(project, &account.id))
            .key(self.keys.accounts(project))
            .key(self.keys.user_accounts(project, &account.user_id))
            .key(self.keys.user_aliases(project, &account.user_id))
            .key(self.keys.auth_config(project, &account.auth_config_id))
            .key(
                self.keys
                    .auth_config_accounts(project, &account.auth_config_id),
            )
            .arg(&account.id)
            .arg(account.encode_to_vec())
            .arg(sealed)
            .arg(&alias)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        match status {
            0 => Ok(()),
            -1 => Err(Error::AlreadyExists {
                reason: switchboard_core::reason::ALIAS_TAKEN,
                message: format!(
                    "user already has a {} account with alias {:?}",
                    account.toolkit, account.alias
                ),
            }),
            _ => Err(auth_config_not_found(&account.auth_config_id)),
        }
    }

    /// Reads an account and its sealed credential.
    pub async fn get_account(&self, project: &str, id: &str) -> Result<StoredAccount> {
        if !is_id("ca", id) {
            return Err(account_not_found(id));
        }
        let mut conn = self.conn.clone();
        let (d, c): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(self.keys.account(project, id))
            .arg("d")
            .arg("c")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let d = d.ok_or_else(|| account_not_found(id))?;
        Ok(StoredAccount {
            account: decode_account(&d)?,
            sealed: c.unwrap_or_default(),
        })
    }

    /// A user's accounts, oldest first (all of them; a user has few).
    pub async fn user_accounts(
        &self,
        project: &str,
        user_id: &str,
    ) -> Result<Vec<ConnectedAccount>> {
        let mut conn = self.conn.clone();
        let raw: Vec<Vec<u8>> = USER_ACCOUNTS
            .key(self.keys.user_accounts(project, user_id))
            .arg(self.keys.account(project, ""))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        decode_accounts(raw)
    }

    /// Accounts matching `filter`, by id after `after`; the bool says whether more follow.
    pub async fn list_accounts(
        &self,
        project: &str,
        filter: &AccountFilter<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ConnectedAccount>, bool)> {
        let index = match filter.user_id {
            Some(user) => self.keys.user_accounts(project, user),
            None => self.keys.accounts(project),
        };
        let ids = self.range_ids(&index, after, usize::MAX >> 1).await?;
        let mut out = Vec::new();
        for account in self.accounts_by_ids(project, &ids).await? {
            if filter.toolkit.is_some_and(|t| t != account.toolkit)
                || filter.status.is_some_and(|s| s != account.status)
            {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(account);
        }
        Ok((out, false))
    }

    async fn accounts_by_ids(
        &self,
        project: &str,
        ids: &[String],
    ) -> Result<Vec<ConnectedAccount>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hget(self.keys.account(project, id), "d");
        }
        let mut conn = self.conn.clone();
        let raw: Vec<Option<Vec<u8>>> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        raw.into_iter()
            .flatten()
            .map(|b| decode_account(&b))
            .collect()
    }

    /// Sets an account's status (and reason); returns the updated record.
    pub async fn set_account_status(
        &self,
        project: &str,
        id: &str,
        status: &str,
        reason: &str,
    ) -> Result<ConnectedAccount> {
        let mut account = self.get_account(project, id).await?.account;
        account.status = status.to_owned();
        account.status_reason = reason.to_owned();
        account.update_time = Some(now_timestamp());
        let mut conn = self.conn.clone();
        let updated: i64 = UPDATE_ACCOUNT
            .key(self.keys.account(project, id))
            .arg(account.encode_to_vec())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if updated == 0 {
            return Err(account_not_found(id));
        }
        Ok(account)
    }

    /// Deletes an account and its sealed credential.
    pub async fn delete_account(&self, project: &str, id: &str) -> Result<()> {
        let account = self.get_account(project, id).await?.account;
        let mut conn = self.conn.clone();
        let deleted: i64 = DELETE_ACCOUNT
            .key(self.keys.account(project, id))
            .key(self.keys.accounts(project))
            .key(self.keys.user_accounts(project, &account.user_id))
            .key(self.keys.user_aliases(project, &account.user_id))
            .key(
                self.keys
                    .auth_config_accounts(project, &account.auth_config_id),
            )
            .arg(id)
            .arg(alias_field(&account))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if deleted == 0 {
            return Err(account_not_found(id));
        }
        Ok(())
    }

    /// Ids of a lexicographic sorted set after `after`, ascending, up to `limit`.
    pub(crate) async fn range_ids(
        &self,
        key: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let min = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
        let mut conn = self.conn.clone();
        redis::cmd("ZRANGEBYLEX")
            .arg(key)
            .arg(min)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit.min(i64::MAX as usize))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }
}

/// Decodes accounts' `d` fields.
pub(crate) fn decode_accounts(raw: Vec<Vec<u8>>) -> Result<Vec<ConnectedAccount>> {
    raw.into_iter().map(|b| decode_account(&b)).collect()
}

/// Why an INITIATED account whose Connect Link ran out reads as EXPIRED.
pub const LINK_EXPIRED_REASON: &str = "the Connect Link expired before the account was connected";

/// Decodes an account's `d` field. An INITIATED account whose link has expired reads as
/// EXPIRED: nobody has to sweep them for listings and scope checks to be right.
pub(crate) fn decode_account(bytes: &[u8]) -> Result<ConnectedAccount> {
    let mut account =
        ConnectedAccount::decode(bytes).map_err(|e| corrupt("connected account", e))?;
    if account.status == crate::links::INITIATED {
        let now = std::time::SystemTime::now();
        let expired = account
            .link_expire_time
            .and_then(|t| std::time::SystemTime::try_from(t).ok())
            .is_some_and(|at| at <= now);
        if expired {
            account.status = switchboard_core::accounts::EXPIRED.to_owned();
            account.status_reason = LINK_EXPIRED_REASON.to_owned();
        }
    }
    Ok(account)
}
