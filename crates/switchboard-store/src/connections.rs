//! Auth configs and connected accounts. An account is one hash holding the encoded record and
//! its sealed credential (the store never sees plaintext: callers seal before and open after),
//! indexed per project and per user; aliases are unique per user and toolkit. Create and delete
//! are single scripts, so an account never exists half-written.

use std::sync::LazyLock;

use prost::Message;
use redis::ScriptInvocation;
use switchboard_core::ids::is_id;
use switchboard_core::{Error, Result};
use switchboard_proto::v1::{AuthConfig, ConnectedAccount};

use crate::scripts::{flag, or_empty, ScriptCall};
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

/// Creates an account: 0 when it did; -2 when the auth config does not exist, -1 when the user
/// already has the alias (nothing written either way).
static CREATE_ACCOUNT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local account_key, accounts, user_accounts, aliases, auth_config, auth_config_accounts =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, record, sealed, alias = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', auth_config) == 0 then return -2 end
if alias ~= '' then
  if redis.call('HSETNX', aliases, alias, id) == 0 then return -1 end
end
redis.call('HSET', account_key, 'd', record, 'c', sealed)
redis.call('ZADD', accounts, 0, id)
redis.call('ZADD', user_accounts, 0, id)
redis.call('SADD', auth_config_accounts, id)
return 0
",
    )
});

/// [`CREATE_ACCOUNT`]'s keys and arguments.
pub(crate) struct CreateAccount<'a> {
    /// `KEYS[1]`: the account hash.
    pub account_key: String,
    /// `KEYS[2]`: the project's accounts.
    pub accounts: String,
    /// `KEYS[3]`: the user's accounts.
    pub user_accounts: String,
    /// `KEYS[4]`: the user's aliases.
    pub aliases: String,
    /// `KEYS[5]`: the auth config (must exist).
    pub auth_config: String,
    /// `KEYS[6]`: the auth config's accounts.
    pub auth_config_accounts: String,
    /// `ARGV[1]`: the account id.
    pub id: &'a str,
    /// `ARGV[2]`: the encoded `ConnectedAccount`.
    pub record: Vec<u8>,
    /// `ARGV[3]`: the sealed credential.
    pub sealed: &'a [u8],
    /// `ARGV[4]`: the alias field `<toolkit>/<alias>` (`''`: no alias).
    pub alias: Option<&'a str>,
}

impl ScriptCall for CreateAccount<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = CREATE_ACCOUNT.prepare_invoke();
        call.key(&self.account_key)
            .key(&self.accounts)
            .key(&self.user_accounts)
            .key(&self.aliases)
            .key(&self.auth_config)
            .key(&self.auth_config_accounts)
            .arg(self.id)
            .arg(&self.record)
            .arg(self.sealed)
            .arg(or_empty(self.alias));
        call
    }
}

/// Deletes an account and drops it from its indexes (and its alias, if the alias still names
/// it): 1 when it did, 0 when it did not exist (the indexes are then left alone).
static DELETE_ACCOUNT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local account_key, accounts, user_accounts, aliases, auth_config_accounts =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, alias = ARGV[1], ARGV[2]
if redis.call('DEL', account_key) == 0 then return 0 end
redis.call('ZREM', accounts, id)
redis.call('ZREM', user_accounts, id)
if alias ~= '' and redis.call('HGET', aliases, alias) == id then
  redis.call('HDEL', aliases, alias)
end
redis.call('SREM', auth_config_accounts, id)
return 1
",
    )
});

/// [`DELETE_ACCOUNT`]'s keys and arguments.
pub(crate) struct DeleteAccount<'a> {
    /// `KEYS[1]`: the account hash.
    pub account_key: String,
    /// `KEYS[2]`: the project's accounts.
    pub accounts: String,
    /// `KEYS[3]`: the user's accounts.
    pub user_accounts: String,
    /// `KEYS[4]`: the user's aliases.
    pub aliases: String,
    /// `KEYS[5]`: the auth config's accounts.
    pub auth_config_accounts: String,
    /// `ARGV[1]`: the account id.
    pub id: &'a str,
    /// `ARGV[2]`: its alias field (`''`: no alias).
    pub alias: Option<&'a str>,
}

impl ScriptCall for DeleteAccount<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = DELETE_ACCOUNT.prepare_invoke();
        call.key(&self.account_key)
            .key(&self.accounts)
            .key(&self.user_accounts)
            .key(&self.aliases)
            .key(&self.auth_config_accounts)
            .arg(self.id)
            .arg(or_empty(self.alias));
        call
    }
}

/// Deletes an auth config and its secret: 1 when it did, 0 when it did not exist, -1 when
/// accounts still use it (nothing deleted).
static DELETE_AUTH_CONFIG: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local auth_config, auth_configs, auth_config_accounts, secret = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = ARGV[1]
if redis.call('SCARD', auth_config_accounts) > 0 then return -1 end
if redis.call('DEL', auth_config) == 0 then return 0 end
redis.call('DEL', secret)
redis.call('ZREM', auth_configs, id)
return 1
",
    )
});

/// [`DELETE_AUTH_CONFIG`]'s keys and arguments.
pub(crate) struct DeleteAuthConfig<'a> {
    /// `KEYS[1]`: the auth config.
    pub auth_config: String,
    /// `KEYS[2]`: the project's auth configs.
    pub auth_configs: String,
    /// `KEYS[3]`: the auth config's accounts (must be empty).
    pub auth_config_accounts: String,
    /// `KEYS[4]`: its client secret.
    pub secret: String,
    /// `ARGV[1]`: the auth config id.
    pub id: &'a str,
}

impl ScriptCall for DeleteAuthConfig<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = DELETE_AUTH_CONFIG.prepare_invoke();
        call.key(&self.auth_config)
            .key(&self.auth_configs)
            .key(&self.auth_config_accounts)
            .key(&self.secret)
            .arg(self.id);
        call
    }
}

/// Replaces an auth config's record and, when asked, its secret (an empty one deletes it): 1
/// when it did, 0 when the auth config does not exist (nothing written).
static UPDATE_AUTH_CONFIG: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local auth_config, secret = KEYS[1], KEYS[2]
local record, replace_secret, sealed_secret = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', auth_config) == 0 then return 0 end
redis.call('SET', auth_config, record)
if replace_secret == '1' then
  if sealed_secret == '' then
    redis.call('DEL', secret)
  else
    redis.call('SET', secret, sealed_secret)
  end
end
return 1
",
    )
});

/// [`UPDATE_AUTH_CONFIG`]'s keys and arguments.
pub(crate) struct UpdateAuthConfig<'a> {
    /// `KEYS[1]`: the auth config.
    pub auth_config: String,
    /// `KEYS[2]`: its client secret.
    pub secret: String,
    /// `ARGV[1]`: the new encoded `AuthConfig`.
    pub record: Vec<u8>,
    /// `ARGV[2]` `'1'` and `ARGV[3]` the new sealed secret (empty: delete it) when the secret
    /// changes; `ARGV[2]` `'0'` and `ARGV[3]` `''` when it is left alone.
    pub sealed_secret: Option<&'a [u8]>,
}

impl ScriptCall for UpdateAuthConfig<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = UPDATE_AUTH_CONFIG.prepare_invoke();
        call.key(&self.auth_config)
            .key(&self.secret)
            .arg(&self.record)
            .arg(flag(self.sealed_secret.is_some()))
            .arg(self.sealed_secret.unwrap_or_default());
        call
    }
}

/// Replaces an account's record `d` (its credential `c` stays): 1 when it did, 0 when the
/// account does not exist (nothing written).
static UPDATE_ACCOUNT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local account_key = KEYS[1]
local record = ARGV[1]
if redis.call('EXISTS', account_key) == 0 then return 0 end
redis.call('HSET', account_key, 'd', record)
return 1
",
    )
});

/// [`UPDATE_ACCOUNT`]'s keys and arguments.
pub(crate) struct UpdateAccount {
    /// `KEYS[1]`: the account hash.
    pub account_key: String,
    /// `ARGV[1]`: the new encoded `ConnectedAccount`.
    pub record: Vec<u8>,
}

impl ScriptCall for UpdateAccount {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = UPDATE_ACCOUNT.prepare_invoke();
        call.key(&self.account_key).arg(&self.record);
        call
    }
}

/// A user's accounts in one round trip: the ids of their index, then each account's `d` (ids
/// whose account is gone are skipped). The account keys (`account_prefix` + id) are not
/// declared because the ids are only known from the index; the prefix carries the index's hash
/// tag, so they are in its slot (cluster-safe).
static USER_ACCOUNTS: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local user_accounts = KEYS[1]
local account_prefix = ARGV[1]
local ids = redis.call('ZRANGEBYLEX', user_accounts, '-', '+')
local out = {}
for _, id in ipairs(ids) do
  local d = redis.call('HGET', account_prefix .. id, 'd')
  if d then out[#out + 1] = d end
end
return out
",
    )
});

/// [`USER_ACCOUNTS`]'s keys and arguments.
pub(crate) struct UserAccounts {
    /// `KEYS[1]`: the user's accounts.
    pub user_accounts: String,
    /// `ARGV[1]`: the project's account key prefix (same hash tag).
    pub account_prefix: String,
}

impl ScriptCall for UserAccounts {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = USER_ACCOUNTS.prepare_invoke();
        call.key(&self.user_accounts).arg(&self.account_prefix);
        call
    }
}

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
        let updated: i64 = self
            .run(&UpdateAuthConfig {
                auth_config: self.keys.auth_config(project, &config.id),
                secret: self.keys.auth_config_secret(project, &config.id),
                record: config.encode_to_vec(),
                sealed_secret,
            })
            .await?;
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
        let status: i64 = self
            .run(&DeleteAuthConfig {
                auth_config: self.keys.auth_config(project, id),
                auth_configs: self.keys.auth_configs(project),
                auth_config_accounts: self.keys.auth_config_accounts(project, id),
                secret: self.keys.auth_config_secret(project, id),
                id,
            })
            .await?;
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
        let alias = alias_field(account);
        let status: i64 = self
            .run(&CreateAccount {
                account_key: self.keys.account(project, &account.id),
                accounts: self.keys.accounts(project),
                user_accounts: self.keys.user_accounts(project, &account.user_id),
                aliases: self.keys.user_aliases(project, &account.user_id),
                auth_config: self.keys.auth_config(project, &account.auth_config_id),
                auth_config_accounts: self
                    .keys
                    .auth_config_accounts(project, &account.auth_config_id),
                id: &account.id,
                record: account.encode_to_vec(),
                sealed,
                alias: (!alias.is_empty()).then_some(alias.as_str()),
            })
            .await?;
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
        let raw: Vec<Vec<u8>> = self
            .run(&UserAccounts {
                user_accounts: self.keys.user_accounts(project, user_id),
                account_prefix: self.keys.account(project, ""),
            })
            .await?;
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
        let updated: i64 = self
            .run(&UpdateAccount {
                account_key: self.keys.account(project, id),
                record: account.encode_to_vec(),
            })
            .await?;
        if updated == 0 {
            return Err(account_not_found(id));
        }
        Ok(account)
    }

    /// Deletes an account and its sealed credential.
    pub async fn delete_account(&self, project: &str, id: &str) -> Result<()> {
        let account = self.get_account(project, id).await?.account;
        let alias = alias_field(&account);
        let deleted: i64 = self
            .run(&DeleteAccount {
                account_key: self.keys.account(project, id),
                accounts: self.keys.accounts(project),
                user_accounts: self.keys.user_accounts(project, &account.user_id),
                aliases: self.keys.user_aliases(project, &account.user_id),
                auth_config_accounts: self
                    .keys
                    .auth_config_accounts(project, &account.auth_config_id),
                id,
                alias: (!alias.is_empty()).then_some(alias.as_str()),
            })
            .await?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod script_tests {
    use super::*;
    use crate::scripts::testing::{fixture, Fixture};

    fn create<'a>(fx: &Fixture, id: &'a str, alias: Option<&'a str>) -> CreateAccount<'a> {
        let k = fx.keys();
        let p = &fx.project;
        CreateAccount {
            account_key: k.account(p, id),
            accounts: k.accounts(p),
            user_accounts: k.user_accounts(p, "u1"),
            aliases: k.user_aliases(p, "u1"),
            auth_config: k.auth_config(p, "ac_1"),
            auth_config_accounts: k.auth_config_accounts(p, "ac_1"),
            id,
            record: format!("record of {id}").into_bytes(),
            sealed: b"sealed",
            alias,
        }
    }

    fn delete<'a>(fx: &Fixture, id: &'a str, alias: Option<&'a str>) -> DeleteAccount<'a> {
        let k = fx.keys();
        let p = &fx.project;
        DeleteAccount {
            account_key: k.account(p, id),
            accounts: k.accounts(p),
            user_accounts: k.user_accounts(p, "u1"),
            aliases: k.user_aliases(p, "u1"),
            auth_config_accounts: k.auth_config_accounts(p, "ac_1"),
            id,
            alias,
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

    #[tokio::test]
    async fn create_account_needs_its_auth_config_and_a_free_alias() {
        let fx = fixture().await;
        let first = create(&fx, "ca_1", Some("github/work"));
        assert_eq!(fx.run::<i64>(&first).await, -2);
        assert!(!fx.exists(&first.account_key).await);
        assert!(!fx.exists(&first.aliases).await);

        put_auth_config(&fx).await;
        assert_eq!(fx.run::<i64>(&first).await, 0);
        assert_eq!(
            fx.hget(&first.account_key, "d").await.unwrap(),
            b"record of ca_1"
        );
        assert_eq!(fx.hget(&first.account_key, "c").await.unwrap(), b"sealed");
        assert_eq!(fx.zmembers(&first.accounts).await, ["ca_1"]);
        assert_eq!(fx.zmembers(&first.user_accounts).await, ["ca_1"]);
        assert_eq!(fx.smembers(&first.auth_config_accounts).await, ["ca_1"]);
        assert_eq!(
            fx.hget(&first.aliases, "github/work").await.unwrap(),
            b"ca_1"
        );

        let taken = create(&fx, "ca_2", Some("github/work"));
        assert_eq!(fx.run::<i64>(&taken).await, -1);
        assert!(!fx.exists(&taken.account_key).await);
        assert_eq!(fx.zmembers(&taken.accounts).await, ["ca_1"]);
        assert_eq!(
            fx.hget(&first.aliases, "github/work").await.unwrap(),
            b"ca_1"
        );

        // Without an alias there is nothing to collide with.
        let plain = create(&fx, "ca_3", None);
        assert_eq!(fx.run::<i64>(&plain).await, 0);
        assert_eq!(fx.zmembers(&plain.user_accounts).await, ["ca_1", "ca_3"]);
        let aliases: Vec<String> = fx.query(redis::cmd("HKEYS").arg(&plain.aliases)).await;
        assert_eq!(aliases, ["github/work"]);
        fx.done().await;
    }

    #[tokio::test]
    async fn delete_account_drops_it_everywhere_and_only_its_own_alias() {
        let fx = fixture().await;
        put_auth_config(&fx).await;
        assert_eq!(
            fx.run::<i64>(&create(&fx, "ca_1", Some("github/work")))
                .await,
            0
        );
        assert_eq!(fx.run::<i64>(&create(&fx, "ca_2", None)).await, 0);
        // ca_2 claims an alias field ca_1 holds: deleting ca_2 must leave it.
        let call = delete(&fx, "ca_2", Some("github/work"));
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert!(!fx.exists(&call.account_key).await);
        assert_eq!(fx.zmembers(&call.accounts).await, ["ca_1"]);
        assert_eq!(fx.zmembers(&call.user_accounts).await, ["ca_1"]);
        assert_eq!(fx.smembers(&call.auth_config_accounts).await, ["ca_1"]);
        assert_eq!(
            fx.hget(&call.aliases, "github/work").await.unwrap(),
            b"ca_1"
        );

        let call = delete(&fx, "ca_1", Some("github/work"));
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert!(!fx.exists(&call.aliases).await);
        assert!(fx.zmembers(&call.accounts).await.is_empty());
        assert!(fx.smembers(&call.auth_config_accounts).await.is_empty());
        // Gone: 0.
        assert_eq!(fx.run::<i64>(&call).await, 0);
        fx.done().await;
    }

    #[tokio::test]
    async fn delete_auth_config_only_when_no_account_uses_it() {
        let fx = fixture().await;
        let k = fx.keys();
        let p = &fx.project;
        let call = DeleteAuthConfig {
            auth_config: k.auth_config(p, "ac_1"),
            auth_configs: k.auth_configs(p),
            auth_config_accounts: k.auth_config_accounts(p, "ac_1"),
            secret: k.auth_config_secret(p, "ac_1"),
            id: "ac_1",
        };
        assert_eq!(fx.run::<i64>(&call).await, 0);

        put_auth_config(&fx).await;
        let () = fx
            .query(redis::cmd("SET").arg(&call.secret).arg("secret"))
            .await;
        let () = fx
            .query(
                redis::cmd("ZADD")
                    .arg(&call.auth_configs)
                    .arg(0)
                    .arg("ac_1"),
            )
            .await;
        let () = fx
            .query(
                redis::cmd("SADD")
                    .arg(&call.auth_config_accounts)
                    .arg("ca_1"),
            )
            .await;
        assert_eq!(fx.run::<i64>(&call).await, -1);
        assert!(fx.exists(&call.auth_config).await);
        assert!(fx.exists(&call.secret).await);
        assert_eq!(fx.zmembers(&call.auth_configs).await, ["ac_1"]);

        let () = fx
            .query(
                redis::cmd("SREM")
                    .arg(&call.auth_config_accounts)
                    .arg("ca_1"),
            )
            .await;
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert!(!fx.exists(&call.auth_config).await);
        assert!(!fx.exists(&call.secret).await);
        assert!(fx.zmembers(&call.auth_configs).await.is_empty());
        fx.done().await;
    }

    #[tokio::test]
    async fn update_auth_config_replaces_the_secret_only_when_given() {
        let fx = fixture().await;
        let k = fx.keys();
        let p = &fx.project;
        let call = |sealed_secret: Option<&'static [u8]>, record: &str| UpdateAuthConfig {
            auth_config: k.auth_config(p, "ac_1"),
            secret: k.auth_config_secret(p, "ac_1"),
            record: record.as_bytes().to_vec(),
            sealed_secret,
        };
        let missing = call(Some(b"s1"), "v1");
        assert_eq!(fx.run::<i64>(&missing).await, 0);
        assert!(!fx.exists(&missing.auth_config).await);
        assert!(!fx.exists(&missing.secret).await);

        put_auth_config(&fx).await;
        let set = call(Some(b"s1"), "v1");
        assert_eq!(fx.run::<i64>(&set).await, 1);
        assert_eq!(fx.get(&set.auth_config).await.unwrap(), b"v1");
        assert_eq!(fx.get(&set.secret).await.unwrap(), b"s1");

        let keep = call(None, "v2");
        assert_eq!(fx.run::<i64>(&keep).await, 1);
        assert_eq!(fx.get(&keep.auth_config).await.unwrap(), b"v2");
        assert_eq!(fx.get(&keep.secret).await.unwrap(), b"s1");

        let clear = call(Some(b""), "v3");
        assert_eq!(fx.run::<i64>(&clear).await, 1);
        assert_eq!(fx.get(&clear.auth_config).await.unwrap(), b"v3");
        assert!(!fx.exists(&clear.secret).await);
        fx.done().await;
    }

    #[tokio::test]
    async fn update_account_replaces_only_the_record_of_an_existing_account() {
        let fx = fixture().await;
        let call = UpdateAccount {
            account_key: fx.keys().account(&fx.project, "ca_1"),
            record: b"v2".to_vec(),
        };
        assert_eq!(fx.run::<i64>(&call).await, 0);
        assert!(!fx.exists(&call.account_key).await);

        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&call.account_key)
                    .arg("d")
                    .arg("v1")
                    .arg("c")
                    .arg("sealed"),
            )
            .await;
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert_eq!(fx.hget(&call.account_key, "d").await.unwrap(), b"v2");
        assert_eq!(fx.hget(&call.account_key, "c").await.unwrap(), b"sealed");
        fx.done().await;
    }

    #[tokio::test]
    async fn user_accounts_reads_the_index_in_order_skipping_missing_accounts() {
        let fx = fixture().await;
        let k = fx.keys();
        let p = &fx.project;
        let call = UserAccounts {
            user_accounts: k.user_accounts(p, "u1"),
            account_prefix: k.account(p, ""),
        };
        assert!(fx.run::<Vec<Vec<u8>>>(&call).await.is_empty());
        for id in ["ca_3", "ca_1", "ca_2"] {
            let () = fx
                .query(redis::cmd("ZADD").arg(&call.user_accounts).arg(0).arg(id))
                .await;
        }
        for (id, d) in [("ca_1", "one"), ("ca_3", "three")] {
            let () = fx
                .query(redis::cmd("HSET").arg(k.account(p, id)).arg("d").arg(d))
                .await;
        }
        assert_eq!(
            fx.run::<Vec<Vec<u8>>>(&call).await,
            [b"one".to_vec(), b"three".to_vec()]
        );
        fx.done().await;
    }
}
