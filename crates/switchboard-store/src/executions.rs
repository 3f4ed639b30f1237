//! Executions: one hash per tool call (`d` the encoded `Execution`, `st` its status name,
//! `args` the arguments JSON, `reply` the subject a waiting gateway listens on, `deadline` in
//! unix ms, `lease` in Redis-clock unix ms while a worker runs it, `start` the unix ms the first
//! worker claimed it and `att` how many workers did), indexed per session. Every status change
//! is a compare-and-set on `st`, so a redelivered job, a second worker or a timed-out gateway
//! can never overwrite a finished execution.
//!
//! While an execution runs, `d` still holds the record the gateway queued: the claim writes
//! only `st`, `lease`, `start` and `att`, and every read lays those over `d` until the final
//! record replaces it. So claiming costs one round trip and no rewrite of the record.
//!
//! A worker that claims an execution holds a lease on it and renews it while the call runs
//! (with its in-progress acks). Another delivery of the same job that finds it RUNNING under a
//! live lease leaves it alone: that is a copy that waited in some worker's buffer past its
//! acknowledgement time, not an attempt that stopped. Only a lapsed lease means abandoned.

use std::sync::LazyLock;
use std::time::Duration;

use prost::Message;
use switchboard_core::ids::is_id;
use switchboard_core::time::{now_ms, timestamp_of_ms};
use switchboard_core::{Error, Result};
use switchboard_proto::v1::{Execution, ExecutionStatus};

use crate::{corrupt, unavailable, Store, StoredAccount};

/// Seconds an idempotency key is remembered.
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 3600;

/// A new execution to store.
#[derive(Debug, Clone)]
pub struct NewExecution {
    pub execution: Execution,
    pub arguments_json: String,
    pub reply_subject: String,
    pub deadline_ms: i64,
    /// SHA-256 of the idempotency key, when the call gave one.
    pub idempotency_key_digest: Option<String>,
}

/// What creating an execution did.
#[derive(Debug, Clone)]
pub enum Created {
    /// Stored; publish its job.
    New,
    /// The idempotency key was used before with these arguments: this execution.
    Existing(Box<Execution>),
    /// Not stored: the session or its user's accounts changed since the call was checked
    /// against them (see [`crate::SessionGuard`]); read them again and check again.
    Stale,
}

/// An execution as a worker needs it.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub execution: Execution,
    pub arguments_json: String,
    pub reply_subject: String,
    pub deadline_ms: i64,
    /// The execution's account with its sealed credential, as the claim read it (`None` when
    /// the execution has no account, or was stored without the `acct` field, or the account
    /// is gone: callers then read it with `get_account`).
    pub account: Option<StoredAccount>,
}

/// What a worker's claim found.
#[derive(Debug, Clone)]
pub enum Claim {
    /// Claimed: the record as RUNNING.
    Claimed(JobRecord),
    /// An earlier attempt claimed it and did not finish: it may have reached the provider.
    Abandoned(JobRecord),
    /// Already finished (or timed out before any worker took it).
    Finished(JobRecord),
    /// Running now under a live lease: another delivery of the job is being handled.
    Busy(JobRecord),
}

/// Stores a new QUEUED execution. With a guard (`ARGV[11]` a fingerprint), first: the caller's
/// key (`ARGV[10]`, when given) must still be in the project's key hashes (else `!key`), and the
/// session and its user's accounts (when `ARGV[12]` is `1`) must still be what the call was
/// checked against (else `!stale`, and nothing is written). Then a reused idempotency key
/// answers the earlier `<id> <digest>`; else the execution is stored and `''` returned.
static CREATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        r"{}
-- KEYS: execution, session executions, idempotency key (or any key of the slot), session,
-- API key hashes
-- ARGV: id, record, status, args, reply, deadline, idempotency value ('' for none), ttl,
-- account id ('' for none), key hash ('' for none), fingerprint ('' for no guard),
-- '1' when the fingerprint covers the accounts, user key prefix, account key prefix
if ARGV[10] ~= '' and not redis.call('HGET', KEYS[5], ARGV[10]) then return '!key' end
if ARGV[11] ~= '' then
  local _, _, fingerprint = read_session(KEYS[4], ARGV[13], ARGV[14], ARGV[12] == '1')
  if fingerprint ~= ARGV[11] then return '!stale' end
end
if ARGV[7] ~= '' then
  local existing = redis.call('GET', KEYS[3])
  if existing then return existing end
  redis.call('SET', KEYS[3], ARGV[7], 'EX', ARGV[8])
end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'st', ARGV[3], 'args', ARGV[4], 'reply', ARGV[5], 'deadline', ARGV[6],
  'acct', ARGV[9])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return ''
",
        crate::sessions::READ_SESSION_LUA
    ))
});

static TRANSITION: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: execution. ARGV: new record, new status, allowed current statuses...
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return -1 end
for i = 3, #ARGV do
  if st == ARGV[i] then
    redis.call('HSET', KEYS[1], 'd', ARGV[1], 'st', ARGV[2])
    return 1
  end
end
return 0
",
    )
});

/// The claim in one round trip: reads the execution, decides, and takes the lease.
/// QUEUED (or no status yet) → `st` RUNNING under a new lease, `start` set (the first time)
/// and `att` + 1; RUNNING under a lapsed lease → the lease taken over (`att` is counted by the
/// worker if it runs the call again); RUNNING under a live lease → untouched; anything else is
/// final. For a claimed or taken-over execution it also returns its account's `d` and `c`.
///
/// The account key `<ARGV[5]><acct>` is not declared in KEYS because its id is only known once
/// the execution is read; it is built from the prefix `<prefix>:{<project>}:ca:`, whose hash
/// tag is the execution key's, so it is always in the same slot (safe on a Redis Cluster).
static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: execution. ARGV: queued status, running status, unspecified status, lease ms,
-- account key prefix (same hash tag as KEYS[1]), start ms
-- Returns: code (-1 not found, 0 finished, 1 claimed, 2 abandoned (taken over), 3 busy), d,
-- args, reply, deadline, st, account d, account c, start, att
local f = redis.call('HMGET', KEYS[1], 'd', 'args', 'reply', 'deadline', 'st', 'lease', 'acct',
  'start', 'att')
if not f[1] then return {-1, false, false, false, false, false, false, false, false, false} end
local st = f[5] or ''
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = string.format('%.0f', now + tonumber(ARGV[4]))
local code
local start, att = f[8], f[9]
if st == ARGV[2] then
  if (tonumber(f[6] or '') or 0) > now then
    return {3, f[1], f[2], f[3], f[4], st, false, false, start, att}
  end
  code = 2
  redis.call('HSET', KEYS[1], 'lease', lease)
elseif st == ARGV[1] or st == ARGV[3] or st == '' then
  code = 1
  start = start or ARGV[6]
  att = redis.call('HINCRBY', KEYS[1], 'att', 1)
  redis.call('HSET', KEYS[1], 'st', ARGV[2], 'lease', lease, 'start', start)
else
  return {0, f[1], f[2], f[3], f[4], st, false, false, start, att}
end
local ad, ac = false, false
if f[7] and f[7] ~= '' then
  local a = redis.call('HMGET', ARGV[5] .. f[7], 'd', 'c')
  ad, ac = a[1], a[2]
end
return {code, f[1], f[2], f[3], f[4], ARGV[2], ad, ac, start, att}
",
    )
});

/// Renews the lease of a RUNNING execution.
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: execution. ARGV: running status name, lease ms
if redis.call('HGET', KEYS[1], 'st') ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'lease', string.format('%.0f', now + tonumber(ARGV[2])))
return 1
",
    )
});

/// What the claim script returns.
type ClaimRead = (
    i64,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<i64>,
    Option<i64>,
);

/// The fields of an execution hash that a read lays over its record `d`.
const OVERLAY: [&str; 4] = ["d", "st", "start", "att"];

/// An execution's record `d` as its readers see it: while it is not final, the status, start
/// time and attempts the claims wrote beside it (`st`, `start`, `att`) are the truth.
fn overlay(
    mut execution: Execution,
    st: Option<&str>,
    start_ms: Option<i64>,
    attempts: Option<i64>,
) -> Execution {
    if is_terminal(execution.status()) {
        return execution;
    }
    if let Some(status) = st.and_then(ExecutionStatus::from_str_name) {
        execution.status = status as i32;
    }
    if execution.start_time.is_none() {
        execution.start_time = start_ms.map(timestamp_of_ms);
    }
    if let Some(n) = attempts.and_then(|n| u32::try_from(n).ok()) {
        execution.attempts = execution.attempts.max(n);
    }
    execution
}

/// One execution hash's [`OVERLAY`] fields, decoded and laid over.
type OverlayRead = (Option<Vec<u8>>, Option<String>, Option<i64>, Option<i64>);

fn decode_overlaid(read: OverlayRead) -> Result<Option<Execution>> {
    let (d, st, start, att) = read;
    let Some(d) = d else { return Ok(None) };
    let execution = Execution::decode(d.as_slice()).map_err(|e| corrupt("execution", e))?;
    Ok(Some(overlay(execution, st.as_deref(), start, att)))
}

fn lease_ms(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX)
}

fn not_found(id: &str) -> Error {
    Error::not_found(
        switchboard_core::reason::EXECUTION_NOT_FOUND,
        format!("execution {id:?} not found"),
    )
}

/// The name stored in `st`.
pub fn status_name(status: ExecutionStatus) -> &'static str {
    status.as_str_name()
}

/// Whether a status is final.
pub fn is_terminal(status: ExecutionStatus) -> bool {
    !matches!(
        status,
        ExecutionStatus::Queued | ExecutionStatus::Running | ExecutionStatus::Unspecified
    )
}

impl Store {
    /// Stores a new QUEUED execution (or, for a reused idempotency key, finds the earlier one:
    /// same arguments → that execution; other arguments → FAILED_PRECONDITION). With `guard`,
    /// only while the caller's key and the session read are still what the call was checked
    /// against (a revoked key → UNAUTHENTICATED; a change → [`Created::Stale`]).
    pub async fn create_execution(
        &self,
        project: &str,
        new: &NewExecution,
        guard: Option<&crate::SessionGuard>,
    ) -> Result<Created> {
        let e = &new.execution;
        let idem_key = match &new.idempotency_key_digest {
            Some(digest) => self.keys.idempotency(project, &e.session_id, digest),
            None => self.keys.session_executions(project, &e.session_id),
        };
        let idem_value = new
            .idempotency_key_digest
            .as_ref()
            .map(|_| format!("{} {}", e.id, e.arguments_digest))
            .unwrap_or_default();
        let mut conn = self.conn.clone();
        let existing: String = CREATE
            .key(self.keys.execution(project, &e.id))
            .key(self.keys.session_executions(project, &e.session_id))
            .key(idem_key)
            .key(self.keys.session(project, &e.session_id))
            .key(self.keys.api_key_hashes(project))
            .arg(&e.id)
            .arg(e.encode_to_vec())
            .arg(status_name(e.status()))
            .arg(&new.arguments_json)
            .arg(&new.reply_subject)
            .arg(new.deadline_ms)
            .arg(&idem_value)
            .arg(IDEMPOTENCY_TTL_SECS)
            .arg(e.account.as_ref().map_or("", |a| a.id.as_str()))
            .arg(guard.map_or("", |g| g.key_hash.as_str()))
            .arg(guard.map_or("", |g| g.fingerprint.as_str()))
            .arg(if guard.is_some_and(|g| g.accounts) {
                "1"
            } else {
                "0"
            })
            .arg(self.keys.user_prefix(project))
            .arg(self.keys.account(project, ""))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        match existing.as_str() {
            "" => return Ok(Created::New),
            "!key" => return Err(crate::projects::invalid_key()),
            "!stale" => return Ok(Created::Stale),
            _ => {}
        }
        let (id, digest) = existing.split_once(' ').unwrap_or((existing.as_str(), ""));
        if digest != e.arguments_digest {
            return Err(Error::FailedPrecondition {
                reason: switchboard_core::reason::IDEMPOTENCY_KEY_REUSED,
                message: format!(
                    "idempotency key {:?} was used within 24 hours with other arguments (execution {id})",
                    e.idempotency_key
                ),
            });
        }
        Ok(Created::Existing(Box::new(
            self.get_execution(project, id).await?,
        )))
    }

    /// Reads an execution.
    pub async fn get_execution(&self, project: &str, id: &str) -> Result<Execution> {
        if !is_id("ex", id) {
            return Err(not_found(id));
        }
        let mut conn = self.conn.clone();
        let read: OverlayRead = redis::cmd("HMGET")
            .arg(self.keys.execution(project, id))
            .arg(&OVERLAY)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        decode_overlaid(read)?.ok_or_else(|| not_found(id))
    }

    /// Writes `next` if the stored status is one of `from`; false when it was not (someone
    /// else moved it first).
    pub async fn transition_execution(
        &self,
        project: &str,
        next: &Execution,
        from: &[ExecutionStatus],
    ) -> Result<bool> {
        let mut conn = self.conn.clone();
        let script = &*TRANSITION;
        let mut invocation = script.key(self.keys.execution(project, &next.id));
        invocation.arg(next.encode_to_vec());
        invocation.arg(status_name(next.status()));
        for status in from {
            invocation.arg(status_name(*status));
        }
        let done: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        match done {
            -1 => Err(not_found(&next.id)),
            n => Ok(n == 1),
        }
    }

    /// The worker's claim: QUEUED → RUNNING (attempts + 1, start time set the first time)
    /// under a lease of `lease`; RUNNING under a lapsed lease → taken over as
    /// [`Claim::Abandoned`]; RUNNING under a live lease → [`Claim::Busy`], untouched. The
    /// records returned are RUNNING as readers see them.
    pub async fn claim_execution(&self, project: &str, id: &str, lease: Duration) -> Result<Claim> {
        if !is_id("ex", id) {
            return Err(not_found(id));
        }
        let mut conn = self.conn.clone();
        let (code, d, args, reply, deadline, st, account_d, account_c, start, att): ClaimRead =
            CLAIM
                .key(self.keys.execution(project, id))
                .arg(status_name(ExecutionStatus::Queued))
                .arg(status_name(ExecutionStatus::Running))
                .arg(status_name(ExecutionStatus::Unspecified))
                .arg(lease_ms(lease))
                .arg(self.keys.account(project, ""))
                .arg(now_ms())
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
        let d = match (code, d) {
            (-1, _) | (_, None) => return Err(not_found(id)),
            (_, Some(d)) => d,
        };
        let account = match account_d {
            Some(d) => Some(StoredAccount {
                account: crate::connections::decode_account(&d)?,
                sealed: account_c.unwrap_or_default(),
            }),
            None => None,
        };
        let execution = Execution::decode(d.as_slice()).map_err(|e| corrupt("execution", e))?;
        let job = JobRecord {
            execution: overlay(execution, st.as_deref(), start, att),
            arguments_json: args.unwrap_or_else(|| "{}".into()),
            reply_subject: reply.unwrap_or_default(),
            deadline_ms: deadline.unwrap_or(0),
            account,
        };
        Ok(match code {
            1 => Claim::Claimed(job),
            2 => Claim::Abandoned(job),
            3 => Claim::Busy(job),
            _ => Claim::Finished(job),
        })
    }

    /// Renews the lease of a RUNNING execution for `lease` from now; false when it is no
    /// longer RUNNING.
    pub async fn renew_execution_lease(
        &self,
        project: &str,
        id: &str,
        lease: Duration,
    ) -> Result<bool> {
        let mut conn = self.conn.clone();
        let renewed: i64 = RENEW
            .key(self.keys.execution(project, id))
            .arg(status_name(ExecutionStatus::Running))
            .arg(lease_ms(lease))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(renewed == 1)
    }

    /// A session's executions, newest first, after the id `after`.
    pub async fn list_executions(
        &self,
        project: &str,
        session: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Execution>, bool)> {
        let max = after.map_or_else(|| "+".to_owned(), |a| format!("({a}"));
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
            .arg(self.keys.session_executions(project, session))
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
            return Ok((Vec::new(), false));
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HMGET")
                .arg(self.keys.execution(project, id))
                .arg(&OVERLAY);
        }
        let raw: Vec<OverlayRead> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        let mut executions = Vec::with_capacity(raw.len());
        for read in raw {
            executions.extend(decode_overlaid(read)?);
        }
        Ok((executions, more))
    }
}
