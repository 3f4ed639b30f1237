//! Sessions. A session is one hash (`v`: config version, `d`: the encoded `Session`) plus its id
//! in the project's and the user's sorted sets; create and delete change all three in one
//! transaction, and updates are compare-and-set on `v` in one script, so concurrent updates
//! with the same expected version have exactly one winner.

use std::sync::LazyLock;

use prost::Message;
use redis::ScriptInvocation;
use switchboard_core::ids::{is_id, new_id};
use switchboard_core::{Error, Result};
use switchboard_proto::v1::{ConnectedAccount, Session, SessionConfig};

use crate::connections::decode_accounts;
use crate::keys::Keys;
use crate::scripts::{flag, or_empty, ScriptCall};
use crate::{corrupt, now_timestamp, unavailable, Store};

/// One page of sessions, newest first.
#[derive(Debug)]
pub struct SessionPage {
    pub sessions: Vec<Session>,
    /// The id to continue after, when more follow.
    pub next_after: Option<String>,
}

/// Compare-and-set of a session on its config version: 0 when it wrote, -1 when the session
/// does not exist, -2 when it is at another version (nothing written).
static UPDATE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local session_key = KEYS[1]
local expected_version, version, record = ARGV[1], ARGV[2], ARGV[3]
local v = redis.call('HGET', session_key, 'v')
if not v then return -1 end
if v ~= expected_version then return -2 end
redis.call('HSET', session_key, 'v', version, 'd', record)
return 0
",
    )
});

/// [`UPDATE_SCRIPT`]'s keys and arguments.
pub(crate) struct UpdateSession {
    /// `KEYS[1]`: the session hash.
    pub session_key: String,
    /// `ARGV[1]`: the config version it must be at.
    pub expected_version: i64,
    /// `ARGV[2]`: its new config version.
    pub version: i64,
    /// `ARGV[3]`: the new encoded `Session`.
    pub record: Vec<u8>,
}

impl ScriptCall for UpdateSession {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = UPDATE_SCRIPT.prepare_invoke();
        call.key(&self.session_key)
            .arg(self.expected_version.to_string())
            .arg(self.version.to_string())
            .arg(&self.record);
        call
    }
}

/// Deletes a session and drops it from both indexes: 1 when it did, 0 when it did not exist
/// (the indexes are then left alone).
static DELETE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local session_key, sessions, user_sessions = KEYS[1], KEYS[2], KEYS[3]
local id = ARGV[1]
if redis.call('DEL', session_key) == 0 then return 0 end
redis.call('ZREM', sessions, id)
redis.call('ZREM', user_sessions, id)
return 1
",
    )
});

/// [`DELETE_SCRIPT`]'s keys and arguments.
pub(crate) struct DeleteSession<'a> {
    /// `KEYS[1]`: the session hash.
    pub session_key: String,
    /// `KEYS[2]`: the project's sessions.
    pub sessions: String,
    /// `KEYS[3]`: the user's sessions.
    pub user_sessions: String,
    /// `ARGV[1]`: the session id.
    pub id: &'a str,
}

impl ScriptCall for DeleteSession<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = DELETE_SCRIPT.prepare_invoke();
        call.key(&self.session_key)
            .key(&self.sessions)
            .key(&self.user_sessions)
            .arg(self.id);
        call
    }
}

/// Lua: `read_session(session key, user key prefix, account key prefix, with accounts)` →
/// the session's `d` (false when there is none), when asked and the session has `u` its user's
/// accounts' `d` oldest first (else false), and a fingerprint of exactly those bytes.
///
/// The user's keys are built from the user prefix (`<prefix>:{<project>}:u:`) + `u`, the
/// accounts' from the account prefix + id: both prefixes carry the session key's hash tag, so
/// every key read is in its slot (cluster-safe though undeclared: they are only known once the
/// session is read). [`crate::executions`]' create script calls the same function to check that
/// what a call was checked against is still what is stored.
pub(crate) const READ_SESSION_LUA: &str = r"
local function read_session(session_key, user_prefix, account_prefix, with_accounts)
  local f = redis.call('HMGET', session_key, 'd', 'u')
  if not f[1] then return false, false, '' end
  local parts = {#f[1] .. ':' .. f[1]}
  local out = false
  if f[2] and with_accounts then
    out = {}
    local ids = redis.call('ZRANGEBYLEX', user_prefix .. f[2] .. ':cas', '-', '+')
    for _, id in ipairs(ids) do
      local d = redis.call('HGET', account_prefix .. id, 'd')
      if d then
        out[#out + 1] = d
        parts[#parts + 1] = #d .. ':' .. d
      end
    end
  else
    parts[#parts + 1] = 'no accounts'
  end
  return f[1], out, redis.sha1hex(table.concat(parts, ','))
end
";

/// Checks an API key and reads a session with its user's accounts, in one round trip.
///
/// With a key (`key_hash`, the SHA-256 of the secret, checked in the project's key hashes) an
/// unknown or revoked key answers `{0}` and nothing else is read. Then `read_session` (its
/// accounts when `with_accounts`), answered as `{1, d, accounts, fingerprint}`.
static SESSION_AND_ACCOUNTS: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        r"{READ_SESSION_LUA}
local session_key, key_hashes = KEYS[1], KEYS[2]
local user_prefix, account_prefix, key_hash, with_accounts = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if key_hash ~= '' and not redis.call('HGET', key_hashes, key_hash) then
  return {{0, false, false, ''}}
end
local d, accounts, fingerprint = read_session(session_key, user_prefix, account_prefix,
  with_accounts == '1')
return {{1, d, accounts, fingerprint}}
"
    ))
});

/// [`SESSION_AND_ACCOUNTS`]'s keys and arguments.
pub(crate) struct SessionAndAccounts<'a> {
    /// `KEYS[1]`: the session hash.
    pub session_key: String,
    /// `KEYS[2]`: the project's API key hashes.
    pub key_hashes: String,
    /// `ARGV[1]`: the project's user key prefix (see `read_session`).
    pub user_prefix: String,
    /// `ARGV[2]`: the project's account key prefix (see `read_session`).
    pub account_prefix: String,
    /// `ARGV[3]`: SHA-256 of the caller's API key (`''`: a caller known to be in the project).
    pub key_hash: Option<&'a str>,
    /// `ARGV[4]`: `'1'` to read the user's accounts.
    pub with_accounts: bool,
}

impl ScriptCall for SessionAndAccounts<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = SESSION_AND_ACCOUNTS.prepare_invoke();
        call.key(&self.session_key)
            .key(&self.key_hashes)
            .arg(&self.user_prefix)
            .arg(&self.account_prefix)
            .arg(or_empty(self.key_hash))
            .arg(flag(self.with_accounts));
        call
    }
}

/// What the session read script returns: key accepted (1), the session's `d`, its user's
/// accounts' `d`, the fingerprint.
pub(crate) type SessionRead = (i64, Option<Vec<u8>>, Option<Vec<Vec<u8>>>, String);

/// What a call was checked against, for [`Store::create_execution`] to confirm in the same
/// step that stores the execution: the caller's key is still valid, and the session (and its
/// user's accounts, when they were read) are still byte for byte what was read.
#[derive(Debug, Clone)]
pub struct SessionGuard {
    /// SHA-256 of the caller's API key, or empty for a caller already known to be in the project.
    pub key_hash: String,
    /// The fingerprint the read gave.
    pub fingerprint: String,
    /// Whether the fingerprint covers the user's accounts.
    pub accounts: bool,
}

/// What [`Store::authorized_session`] read.
#[derive(Debug, Clone)]
pub struct AuthorizedSession {
    /// The project of the API key (or the one given).
    pub project: String,
    pub session: Session,
    /// The session user's accounts, oldest first, when asked for.
    pub accounts: Option<Vec<ConnectedAccount>>,
    /// The fingerprint of what was read; it covers the accounts only when `accounts_covered`.
    pub fingerprint: String,
    /// Whether `accounts` came from the same read as the session (else from a second one, for
    /// a session stored without its user key, or were not asked for).
    pub accounts_covered: bool,
}

impl AuthorizedSession {
    /// The guard for storing an execution checked against this read, for `caller`.
    pub fn guard(&self, caller: crate::Caller<'_>) -> SessionGuard {
        SessionGuard {
            key_hash: match caller {
                crate::Caller::Project(_) => String::new(),
                crate::Caller::ApiKey(secret) => crate::projects::hash_secret(secret),
            },
            fingerprint: self.fingerprint.clone(),
            accounts: self.accounts_covered,
        }
    }
}

impl Store {
    /// Stores a new session for `user_id` with an already validated config.
    pub async fn create_session(
        &self,
        project: &str,
        user_id: &str,
        config: SessionConfig,
    ) -> Result<Session> {
        let now = now_timestamp();
        let session = Session {
            id: new_id("ses"),
            user_id: user_id.to_owned(),
            config: Some(config),
            config_version: 1,
            mcp: None,
            tools: Vec::new(),
            create_time: Some(now),
            update_time: Some(now),
        };
        let mut conn = self.conn.clone();
        let () = redis::pipe()
            .atomic()
            .hset_multiple(
                self.keys.session(project, &session.id),
                &[
                    ("v", b"1".to_vec()),
                    ("d", session.encode_to_vec()),
                    ("u", Keys::user_part(user_id).into_bytes()),
                ],
            )
            .ignore()
            .zadd(self.keys.sessions(project), &session.id, 0)
            .ignore()
            .zadd(self.keys.user_sessions(project, user_id), &session.id, 0)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(session)
    }

    /// Reads a session of `project`; a session of another project is not found.
    pub async fn get_session(&self, project: &str, id: &str) -> Result<Session> {
        if !is_id("ses", id) {
            return Err(Error::session_not_found(id));
        }
        let mut conn = self.conn.clone();
        let bytes: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(self.keys.session(project, id))
            .arg("d")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let bytes = bytes.ok_or_else(|| Error::session_not_found(id))?;
        Session::decode(bytes.as_slice()).map_err(|e| corrupt("session", e))
    }

    /// The caller's session `id` (and, with `accounts`, its user's accounts) in one round trip
    /// that, for a caller with an API key, first checks the key: `UNAUTHENTICATED` for a bad
    /// key whatever the session, then `NOT_FOUND` for a session not in the key's project.
    pub async fn authorized_session(
        &self,
        caller: crate::Caller<'_>,
        id: &str,
        accounts: bool,
    ) -> Result<AuthorizedSession> {
        let (project, key_hash) = match caller {
            crate::Caller::Project(project) => (project.to_owned(), String::new()),
            crate::Caller::ApiKey(secret) => {
                let project = crate::projects::project_of_secret(secret)
                    .ok_or_else(crate::projects::invalid_key)?;
                (project, crate::projects::hash_secret(secret))
            }
        };
        if !is_id("ses", id) {
            if let crate::Caller::ApiKey(secret) = caller {
                self.authenticate(secret).await?;
            }
            return Err(Error::session_not_found(id));
        }
        let (ok, d, raw_accounts, fingerprint): SessionRead = self
            .run(&SessionAndAccounts {
                session_key: self.keys.session(&project, id),
                key_hashes: self.keys.api_key_hashes(&project),
                user_prefix: self.keys.user_prefix(&project),
                account_prefix: self.keys.account(&project, ""),
                key_hash: (!key_hash.is_empty()).then_some(key_hash.as_str()),
                with_accounts: accounts,
            })
            .await?;
        if ok != 1 {
            return Err(crate::projects::invalid_key());
        }
        let d = d.ok_or_else(|| Error::session_not_found(id))?;
        let session = Session::decode(d.as_slice()).map_err(|e| corrupt("session", e))?;
        let accounts_covered = accounts && raw_accounts.is_some();
        let accounts = match (accounts, raw_accounts) {
            (false, _) => None,
            (true, Some(raw)) => Some(decode_accounts(raw)?),
            (true, None) => Some(self.user_accounts(&project, &session.user_id).await?),
        };
        Ok(AuthorizedSession {
            project,
            session,
            accounts,
            fingerprint,
            accounts_covered,
        })
    }

    /// Updates a session's config with `change`, which sees the stored session and returns the
    /// new config (or an error, which changes nothing). With `expected_version`, the update
    /// applies only at that version (else `ABORTED` / `CONFIG_VERSION_CONFLICT`); without it, a
    /// concurrent update makes this one re-read and re-apply.
    pub async fn update_session<F>(
        &self,
        project: &str,
        id: &str,
        expected_version: Option<i64>,
        mut change: F,
    ) -> Result<Session>
    where
        F: FnMut(&Session) -> Result<SessionConfig>,
    {
        loop {
            let current = self.get_session(project, id).await?;
            if let Some(expected) = expected_version {
                if expected != current.config_version {
                    return Err(conflict(expected, current.config_version));
                }
            }
            let config = change(&current)?;
            let mut next = current.clone();
            next.config = Some(config);
            next.config_version = current.config_version + 1;
            next.update_time = Some(now_timestamp());
            let status: i64 = self
                .run(&UpdateSession {
                    session_key: self.keys.session(project, id),
                    expected_version: current.config_version,
                    version: next.config_version,
                    record: next.encode_to_vec(),
                })
                .await?;
            match status {
                0 => return Ok(next),
                -1 => return Err(Error::session_not_found(id)),
                _ => {
                    if let Some(expected) = expected_version {
                        // Someone else moved the version after we read it.
                        let now = self.get_session(project, id).await?;
                        return Err(conflict(expected, now.config_version));
                    }
                }
            }
        }
    }

    /// Deletes a session; `NOT_FOUND` when it does not exist in `project`.
    pub async fn delete_session(&self, project: &str, id: &str) -> Result<()> {
        let session = self.get_session(project, id).await?;
        let deleted: i64 = self
            .run(&DeleteSession {
                session_key: self.keys.session(project, id),
                sessions: self.keys.sessions(project),
                user_sessions: self.keys.user_sessions(project, &session.user_id),
                id,
            })
            .await?;
        if deleted == 0 {
            return Err(Error::session_not_found(id));
        }
        Ok(())
    }

    /// Lists sessions newest first, for one user or the whole project, starting after the
    /// session id `after`.
    pub async fn list_sessions(
        &self,
        project: &str,
        user_id: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<SessionPage> {
        let index = match user_id {
            Some(user) => self.keys.user_sessions(project, user),
            None => self.keys.sessions(project),
        };
        let max = after.map_or_else(|| "+".to_owned(), |a| format!("({a}"));
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
            .arg(&index)
            .arg(max)
            .arg("-")
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let more = ids.len() > limit;
        let ids = &ids[..ids.len().min(limit)];
        if ids.is_empty() {
            return Ok(SessionPage {
                sessions: Vec::new(),
                next_after: None,
            });
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hget(self.keys.session(project, id), "d");
        }
        let raw: Vec<Option<Vec<u8>>> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        let mut sessions = Vec::with_capacity(ids.len());
        // A session deleted between the two reads is simply skipped.
        for bytes in raw.into_iter().flatten() {
            sessions.push(Session::decode(bytes.as_slice()).map_err(|e| corrupt("session", e))?);
        }
        Ok(SessionPage {
            sessions,
            next_after: if more { ids.last().cloned() } else { None },
        })
    }
}

fn conflict(expected: i64, current: i64) -> Error {
    Error::Aborted {
        reason: switchboard_core::reason::CONFIG_VERSION_CONFLICT,
        message: format!("the session is at config version {current}, not the expected {expected}; read it again and retry"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod script_tests {
    use super::*;
    use crate::scripts::testing::{fixture, Fixture};

    async fn put_session(fx: &Fixture, id: &str, user: &str) {
        let k = fx.keys();
        let p = &fx.project;
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(k.session(p, id))
                    .arg("v")
                    .arg("3")
                    .arg("d")
                    .arg("session v3")
                    .arg("u")
                    .arg(Keys::user_part(user)),
            )
            .await;
        let () = fx
            .query(redis::cmd("ZADD").arg(k.sessions(p)).arg(0).arg(id))
            .await;
        let () = fx
            .query(
                redis::cmd("ZADD")
                    .arg(k.user_sessions(p, user))
                    .arg(0)
                    .arg(id),
            )
            .await;
    }

    fn update(fx: &Fixture, expected_version: i64) -> UpdateSession {
        UpdateSession {
            session_key: fx.keys().session(&fx.project, "ses_1"),
            expected_version,
            version: expected_version + 1,
            record: b"session next".to_vec(),
        }
    }

    #[tokio::test]
    async fn update_is_a_compare_and_set_on_the_version() {
        let fx = fixture().await;
        let key = fx.keys().session(&fx.project, "ses_1");
        assert_eq!(fx.run::<i64>(&update(&fx, 3)).await, -1);
        assert!(!fx.exists(&key).await);

        put_session(&fx, "ses_1", "u1").await;
        assert_eq!(fx.run::<i64>(&update(&fx, 2)).await, -2);
        assert_eq!(fx.hget(&key, "v").await.unwrap(), b"3");
        assert_eq!(fx.hget(&key, "d").await.unwrap(), b"session v3");

        assert_eq!(fx.run::<i64>(&update(&fx, 3)).await, 0);
        assert_eq!(fx.hget(&key, "v").await.unwrap(), b"4");
        assert_eq!(fx.hget(&key, "d").await.unwrap(), b"session next");
        // The same expected version again loses: one winner.
        assert_eq!(fx.run::<i64>(&update(&fx, 3)).await, -2);
        fx.done().await;
    }

    #[tokio::test]
    async fn delete_removes_the_session_from_both_indexes() {
        let fx = fixture().await;
        let k = fx.keys();
        let p = &fx.project;
        put_session(&fx, "ses_1", "u1").await;
        put_session(&fx, "ses_2", "u1").await;
        let call = DeleteSession {
            session_key: k.session(p, "ses_1"),
            sessions: k.sessions(p),
            user_sessions: k.user_sessions(p, "u1"),
            id: "ses_1",
        };
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert!(!fx.exists(&call.session_key).await);
        assert_eq!(fx.zmembers(&call.sessions).await, ["ses_2"]);
        assert_eq!(fx.zmembers(&call.user_sessions).await, ["ses_2"]);

        // Gone already: 0, and a stray index entry is left for the caller to see.
        let () = fx
            .query(redis::cmd("ZADD").arg(&call.sessions).arg(0).arg("ses_1"))
            .await;
        assert_eq!(fx.run::<i64>(&call).await, 0);
        assert_eq!(fx.zmembers(&call.sessions).await, ["ses_1", "ses_2"]);
        fx.done().await;
    }

    fn read(
        fx: &Fixture,
        key_hash: Option<&'static str>,
        with_accounts: bool,
    ) -> SessionAndAccounts<'static> {
        let k = fx.keys();
        let p = &fx.project;
        SessionAndAccounts {
            session_key: k.session(p, "ses_1"),
            key_hashes: k.api_key_hashes(p),
            user_prefix: k.user_prefix(p),
            account_prefix: k.account(p, ""),
            key_hash,
            with_accounts,
        }
    }

    #[tokio::test]
    async fn session_and_accounts_checks_the_key_first() {
        let fx = fixture().await;
        put_session(&fx, "ses_1", "u1").await;
        let (ok, d, accounts, fingerprint): SessionRead =
            fx.run(&read(&fx, Some("unknown"), true)).await;
        assert_eq!((ok, d, accounts, fingerprint.as_str()), (0, None, None, ""));

        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(fx.keys().api_key_hashes(&fx.project))
                    .arg("known")
                    .arg("key_1"),
            )
            .await;
        let (ok, d, _, _): SessionRead = fx.run(&read(&fx, Some("known"), false)).await;
        assert_eq!((ok, d.as_deref()), (1, Some(&b"session v3"[..])));
        fx.done().await;
    }

    #[tokio::test]
    async fn session_and_accounts_reads_the_users_accounts_in_order() {
        let fx = fixture().await;
        let k = fx.keys();
        let p = &fx.project;
        put_session(&fx, "ses_1", "u1").await;
        for (id, d) in [("ca_2", "second"), ("ca_1", "first")] {
            let () = fx
                .query(redis::cmd("HSET").arg(k.account(p, id)).arg("d").arg(d))
                .await;
            let () = fx
                .query(
                    redis::cmd("ZADD")
                        .arg(k.user_accounts(p, "u1"))
                        .arg(0)
                        .arg(id),
                )
                .await;
        }
        // An index entry whose account is gone is skipped.
        let () = fx
            .query(
                redis::cmd("ZADD")
                    .arg(k.user_accounts(p, "u1"))
                    .arg(0)
                    .arg("ca_0"),
            )
            .await;

        let (ok, d, accounts, with): SessionRead = fx.run(&read(&fx, None, true)).await;
        assert_eq!(ok, 1);
        assert_eq!(d.as_deref(), Some(&b"session v3"[..]));
        assert_eq!(accounts.unwrap(), [b"first".to_vec(), b"second".to_vec()]);
        let (_, _, accounts, without): SessionRead = fx.run(&read(&fx, None, false)).await;
        assert_eq!(accounts, None);
        assert_ne!(with, without);

        // The fingerprint follows the bytes read: an account change moves only the one that
        // covers accounts; a session change moves both.
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(k.account(p, "ca_1"))
                    .arg("d")
                    .arg("changed"),
            )
            .await;
        let (_, _, _, with2): SessionRead = fx.run(&read(&fx, None, true)).await;
        let (_, _, _, without2): SessionRead = fx.run(&read(&fx, None, false)).await;
        assert_ne!(with2, with);
        assert_eq!(without2, without);
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(k.session(p, "ses_1"))
                    .arg("d")
                    .arg("session v4"),
            )
            .await;
        let (_, _, _, without3): SessionRead = fx.run(&read(&fx, None, false)).await;
        assert_ne!(without3, without);
        fx.done().await;
    }

    #[tokio::test]
    async fn session_and_accounts_of_a_missing_session() {
        let fx = fixture().await;
        let (ok, d, accounts, fingerprint): SessionRead = fx.run(&read(&fx, None, true)).await;
        assert_eq!((ok, d, accounts, fingerprint.as_str()), (1, None, None, ""));

        // A session stored without its user (`u`): no accounts read.
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(fx.keys().session(&fx.project, "ses_1"))
                    .arg("d")
                    .arg("old session"),
            )
            .await;
        let (ok, d, accounts, fingerprint): SessionRead = fx.run(&read(&fx, None, true)).await;
        assert_eq!(
            (ok, d.as_deref(), accounts),
            (1, Some(&b"old session"[..]), None)
        );
        assert!(!fingerprint.is_empty());
        fx.done().await;
    }
}
