//! Sessions. A session is one hash (`v`: config version, `d`: the encoded `Session`) plus its id
//! in the project's and the user's sorted sets; create and delete change all three in one
//! transaction, and updates are compare-and-set on `v` in one script, so concurrent updates
//! with the same expected version have exactly one winner.

use std::sync::LazyLock;

use prost::Message;
use switchboard_core::ids::{is_id, new_id};
use switchboard_core::{Error, Result};
use switchboard_proto::v1::{ConnectedAccount, Session, SessionConfig};

use crate::connections::decode_accounts;
use crate::keys::Keys;
use crate::{corrupt, now_timestamp, unavailable, Store};

/// One page of sessions, newest first.
#[derive(Debug)]
pub struct SessionPage {
    pub sessions: Vec<Session>,
    /// The id to continue after, when more follow.
    pub next_after: Option<String>,
}

static UPDATE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[1] then return -2 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
return 0
",
    )
});

static DELETE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
",
    )
});

/// A session's `d` and, when it has `u`, its user's accounts' `d` (else false). The user's
/// keys are built from `ARGV[1]` (`<prefix>:{<project>}:u:`) + `u`, the accounts' from
/// `ARGV[2]` + id: both prefixes carry the session key's hash tag, so every key read is in
/// its slot (cluster-safe though undeclared: they are only known once the session is read).
static SESSION_AND_ACCOUNTS: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: session. ARGV: user key prefix, account key prefix
local f = redis.call('HMGET', KEYS[1], 'd', 'u')
if not f[1] then return {false, false} end
if not f[2] then return {f[1], false} end
local ids = redis.call('ZRANGEBYLEX', ARGV[1] .. f[2] .. ':cas', '-', '+')
local out = {}
for _, id in ipairs(ids) do
  local d = redis.call('HGET', ARGV[2] .. id, 'd')
  if d then out[#out + 1] = d end
end
return {f[1], out}
",
    )
});

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

    /// Reads a session and its user's accounts (oldest first) in one round trip; sessions
    /// stored without the `u` field fall back to two reads.
    pub async fn get_session_and_accounts(
        &self,
        project: &str,
        id: &str,
    ) -> Result<(Session, Vec<ConnectedAccount>)> {
        if !is_id("ses", id) {
            return Err(Error::session_not_found(id));
        }
        let mut conn = self.conn.clone();
        let (d, accounts): (Option<Vec<u8>>, Option<Vec<Vec<u8>>>) = SESSION_AND_ACCOUNTS
            .key(self.keys.session(project, id))
            .arg(self.keys.user_prefix(project))
            .arg(self.keys.account(project, ""))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let d = d.ok_or_else(|| Error::session_not_found(id))?;
        let session = Session::decode(d.as_slice()).map_err(|e| corrupt("session", e))?;
        let accounts = match accounts {
            Some(raw) => decode_accounts(raw)?,
            None => self.user_accounts(project, &session.user_id).await?,
        };
        Ok((session, accounts))
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
        let script = &*UPDATE_SCRIPT;
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
            let mut conn = self.conn.clone();
            let status: i64 = script
                .key(self.keys.session(project, id))
                .arg(current.config_version.to_string())
                .arg(next.config_version.to_string())
                .arg(next.encode_to_vec())
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
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
        let mut conn = self.conn.clone();
        let deleted: i64 = DELETE_SCRIPT
            .key(self.keys.session(project, id))
            .key(self.keys.sessions(project))
            .key(self.keys.user_sessions(project, &session.user_id))
            .arg(id)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
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
        reason: "CONFIG_VERSION_CONFLICT",
        message: format!("the session is at config version {current}, not the expected {expected}; read it again and retry"),
    }
}
