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
use redis::ScriptInvocation;
use switchboard_core::ids::is_id;
use switchboard_core::time::{now_ms, timestamp_of_ms};
use switchboard_core::{Error, Result};
use switchboard_proto::v1::{Execution, ExecutionStatus};

use crate::scripts::{flag, or_empty, ScriptCall};
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

/// Stores a new QUEUED execution. With a guard (a `fingerprint`), first: the caller's key
/// (`key_hash`, when given) must still be in the project's key hashes (else `!key`), and the
/// session and its user's accounts (when `with_accounts`) must still be what the call was
/// checked against (else `!stale`, and nothing is written). Then a reused idempotency key
/// answers the earlier `<id> <digest>`; else the execution is stored and `''` returned.
static CREATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        r"{}
local execution_key, session_executions, idempotency_key, session_key, key_hashes =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, record, status, args, reply, deadline, idempotency_value, ttl, account_id, key_hash,
  fingerprint, with_accounts, user_prefix, account_prefix =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10],
  ARGV[11], ARGV[12], ARGV[13], ARGV[14]
if key_hash ~= '' and not redis.call('HGET', key_hashes, key_hash) then return '!key' end
if fingerprint ~= '' then
  local _, _, current = read_session(session_key, user_prefix, account_prefix, with_accounts == '1')
  if current ~= fingerprint then return '!stale' end
end
if idempotency_value ~= '' then
  local existing = redis.call('GET', idempotency_key)
  if existing then return existing end
  redis.call('SET', idempotency_key, idempotency_value, 'EX', ttl)
end
redis.call('HSET', execution_key, 'd', record, 'st', status, 'args', args, 'reply', reply,
  'deadline', deadline, 'acct', account_id)
redis.call('ZADD', session_executions, 0, id)
return ''
",
        crate::sessions::READ_SESSION_LUA
    ))
});

/// [`CREATE`]'s keys and arguments.
pub(crate) struct CreateExecution<'a> {
    /// `KEYS[1]`: the execution hash.
    pub execution_key: String,
    /// `KEYS[2]`: the session's executions.
    pub session_executions: String,
    /// `KEYS[3]`: the idempotency key, when the call gave one (else `session_executions` is
    /// passed: any key of the slot).
    pub idempotency_key: Option<String>,
    /// `KEYS[4]`: the session (read for the guard).
    pub session_key: String,
    /// `KEYS[5]`: the project's API key hashes (read for the guard).
    pub key_hashes: String,
    /// `ARGV[1]`: the execution id.
    pub id: &'a str,
    /// `ARGV[2]`: the encoded `Execution`.
    pub record: Vec<u8>,
    /// `ARGV[3]`: its status name.
    pub status: &'a str,
    /// `ARGV[4]`: the arguments JSON.
    pub args: &'a str,
    /// `ARGV[5]`: the reply subject.
    pub reply: &'a str,
    /// `ARGV[6]`: the deadline, unix ms.
    pub deadline: i64,
    /// `ARGV[7]`: `<id> <arguments digest>` to store under the idempotency key (`''`: none).
    pub idempotency_value: Option<String>,
    /// `ARGV[8]`: seconds the idempotency key is kept.
    pub ttl: u64,
    /// `ARGV[9]`: the execution's account id (`''`: none).
    pub account_id: Option<&'a str>,
    /// `ARGV[10]`: SHA-256 of the caller's API key, checked in `key_hashes` (`''`: no check).
    pub key_hash: Option<&'a str>,
    /// `ARGV[11]`: the fingerprint the session read gave (`''`: no guard).
    pub fingerprint: Option<&'a str>,
    /// `ARGV[12]`: `'1'` when the fingerprint covers the user's accounts.
    pub with_accounts: bool,
    /// `ARGV[13]`: the project's user key prefix (see `read_session`).
    pub user_prefix: String,
    /// `ARGV[14]`: the project's account key prefix (see `read_session`).
    pub account_prefix: String,
}

impl ScriptCall for CreateExecution<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = CREATE.prepare_invoke();
        call.key(&self.execution_key)
            .key(&self.session_executions)
            .key(
                self.idempotency_key
                    .as_deref()
                    .unwrap_or(&self.session_executions),
            )
            .key(&self.session_key)
            .key(&self.key_hashes)
            .arg(self.id)
            .arg(&self.record)
            .arg(self.status)
            .arg(self.args)
            .arg(self.reply)
            .arg(self.deadline)
            .arg(or_empty(self.idempotency_value.as_deref()))
            .arg(self.ttl)
            .arg(or_empty(self.account_id))
            .arg(or_empty(self.key_hash))
            .arg(or_empty(self.fingerprint))
            .arg(flag(self.with_accounts))
            .arg(&self.user_prefix)
            .arg(&self.account_prefix);
        call
    }
}

/// Writes a new record and status if the current status is one of `from`: 1 when it did, 0
/// when the status is another (nothing written), -1 when the execution does not exist.
static TRANSITION: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local execution_key = KEYS[1]
local record, status = ARGV[1], ARGV[2]
-- ARGV[3], ARGV[4], ...: the statuses it may move from
local st = redis.call('HGET', execution_key, 'st')
if not st then return -1 end
for i = 3, #ARGV do
  if st == ARGV[i] then
    redis.call('HSET', execution_key, 'd', record, 'st', status)
    return 1
  end
end
return 0
",
    )
});

/// [`TRANSITION`]'s keys and arguments.
pub(crate) struct TransitionExecution<'a> {
    /// `KEYS[1]`: the execution hash.
    pub execution_key: String,
    /// `ARGV[1]`: the new encoded `Execution`.
    pub record: Vec<u8>,
    /// `ARGV[2]`: its status name.
    pub status: &'a str,
    /// `ARGV[3..]`: the status names it may move from.
    pub from: Vec<&'a str>,
}

impl ScriptCall for TransitionExecution<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = TRANSITION.prepare_invoke();
        call.key(&self.execution_key)
            .arg(&self.record)
            .arg(self.status);
        for status in &self.from {
            call.arg(*status);
        }
        call
    }
}

/// The claim in one round trip: reads the execution, decides, and takes the lease.
/// QUEUED (or no status yet) → `st` RUNNING under a new lease, `start` set (the first time)
/// and `att` + 1; RUNNING under a lapsed lease → the lease taken over (`att` is counted by the
/// worker if it runs the call again); RUNNING under a live lease → untouched; anything else is
/// final. For a claimed or taken-over execution it also returns its account's `d` and `c`.
///
/// Returns: code (-1 not found, 0 finished, 1 claimed, 2 abandoned (taken over), 3 busy), `d`,
/// `args`, `reply`, `deadline`, `st`, account `d`, account `c`, `start`, `att`.
///
/// The account key `<account_prefix><acct>` is not declared in KEYS because its id is only
/// known once the execution is read; it is built from the prefix `<prefix>:{<project>}:ca:`,
/// whose hash tag is the execution key's, so it is always in the same slot (safe on a Redis
/// Cluster).
static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local execution_key = KEYS[1]
local queued, running, unspecified, lease_ms, account_prefix, start_ms =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local f = redis.call('HMGET', execution_key, 'd', 'args', 'reply', 'deadline', 'st', 'lease',
  'acct', 'start', 'att')
if not f[1] then return {-1, false, false, false, false, false, false, false, false, false} end
local st = f[5] or ''
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = string.format('%.0f', now + tonumber(lease_ms))
local code
local start, att = f[8], f[9]
if st == running then
  if (tonumber(f[6] or '') or 0) > now then
    return {3, f[1], f[2], f[3], f[4], st, false, false, start, att}
  end
  code = 2
  redis.call('HSET', execution_key, 'lease', lease)
elseif st == queued or st == unspecified or st == '' then
  code = 1
  start = start or start_ms
  att = redis.call('HINCRBY', execution_key, 'att', 1)
  redis.call('HSET', execution_key, 'st', running, 'lease', lease, 'start', start)
else
  return {0, f[1], f[2], f[3], f[4], st, false, false, start, att}
end
local ad, ac = false, false
if f[7] and f[7] ~= '' then
  local a = redis.call('HMGET', account_prefix .. f[7], 'd', 'c')
  ad, ac = a[1], a[2]
end
return {code, f[1], f[2], f[3], f[4], running, ad, ac, start, att}
",
    )
});

/// [`CLAIM`]'s keys and arguments.
pub(crate) struct ClaimExecution<'a> {
    /// `KEYS[1]`: the execution hash.
    pub execution_key: String,
    /// `ARGV[1]`: the QUEUED status name.
    pub queued: &'a str,
    /// `ARGV[2]`: the RUNNING status name.
    pub running: &'a str,
    /// `ARGV[3]`: the UNSPECIFIED status name.
    pub unspecified: &'a str,
    /// `ARGV[4]`: how long the lease lasts, ms.
    pub lease_ms: u64,
    /// `ARGV[5]`: the project's account key prefix (same hash tag as the execution).
    pub account_prefix: String,
    /// `ARGV[6]`: the start time to record on a first claim, unix ms.
    pub start_ms: i64,
}

impl ScriptCall for ClaimExecution<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = CLAIM.prepare_invoke();
        call.key(&self.execution_key)
            .arg(self.queued)
            .arg(self.running)
            .arg(self.unspecified)
            .arg(self.lease_ms)
            .arg(&self.account_prefix)
            .arg(self.start_ms);
        call
    }
}

/// Renews the lease of a RUNNING execution: 1 when it did, 0 when it is not RUNNING (nothing
/// written).
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local execution_key = KEYS[1]
local running, lease_ms = ARGV[1], ARGV[2]
if redis.call('HGET', execution_key, 'st') ~= running then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', execution_key, 'lease', string.format('%.0f', now + tonumber(lease_ms)))
return 1
",
    )
});

/// [`RENEW`]'s keys and arguments.
pub(crate) struct RenewLease<'a> {
    /// `KEYS[1]`: the execution hash.
    pub execution_key: String,
    /// `ARGV[1]`: the RUNNING status name.
    pub running: &'a str,
    /// `ARGV[2]`: how long the lease lasts from now, ms.
    pub lease_ms: u64,
}

impl ScriptCall for RenewLease<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = RENEW.prepare_invoke();
        call.key(&self.execution_key)
            .arg(self.running)
            .arg(self.lease_ms);
        call
    }
}

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
        let existing: String = self
            .run(&CreateExecution {
                execution_key: self.keys.execution(project, &e.id),
                session_executions: self.keys.session_executions(project, &e.session_id),
                idempotency_key: new
                    .idempotency_key_digest
                    .as_ref()
                    .map(|digest| self.keys.idempotency(project, &e.session_id, digest)),
                session_key: self.keys.session(project, &e.session_id),
                key_hashes: self.keys.api_key_hashes(project),
                id: &e.id,
                record: e.encode_to_vec(),
                status: status_name(e.status()),
                args: &new.arguments_json,
                reply: &new.reply_subject,
                deadline: new.deadline_ms,
                idempotency_value: new
                    .idempotency_key_digest
                    .as_ref()
                    .map(|_| format!("{} {}", e.id, e.arguments_digest)),
                ttl: IDEMPOTENCY_TTL_SECS,
                account_id: e.account.as_ref().map(|a| a.id.as_str()),
                key_hash: guard.map(|g| g.key_hash.as_str()),
                fingerprint: guard.map(|g| g.fingerprint.as_str()),
                with_accounts: guard.is_some_and(|g| g.accounts),
                user_prefix: self.keys.user_prefix(project),
                account_prefix: self.keys.account(project, ""),
            })
            .await?;
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
        let done: i64 = self
            .run(&TransitionExecution {
                execution_key: self.keys.execution(project, &next.id),
                record: next.encode_to_vec(),
                status: status_name(next.status()),
                from: from.iter().map(|s| status_name(*s)).collect(),
            })
            .await?;
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
        let (code, d, args, reply, deadline, st, account_d, account_c, start, att): ClaimRead =
            self.run(&ClaimExecution {
                execution_key: self.keys.execution(project, id),
                queued: status_name(ExecutionStatus::Queued),
                running: status_name(ExecutionStatus::Running),
                unspecified: status_name(ExecutionStatus::Unspecified),
                lease_ms: lease_ms(lease),
                account_prefix: self.keys.account(project, ""),
                start_ms: now_ms(),
            })
            .await?;
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
        let renewed: i64 = self
            .run(&RenewLease {
                execution_key: self.keys.execution(project, id),
                running: status_name(ExecutionStatus::Running),
                lease_ms: lease_ms(lease),
            })
            .await?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod script_tests {
    use super::*;
    use crate::scripts::testing::{fixture, Fixture};
    use crate::sessions::{SessionAndAccounts, SessionRead};

    const QUEUED: &str = "EXECUTION_STATUS_QUEUED";
    const RUNNING: &str = "EXECUTION_STATUS_RUNNING";
    const SUCCEEDED: &str = "EXECUTION_STATUS_SUCCEEDED";

    /// A create of `id` in session `ses_1` without idempotency key or guard.
    fn create<'a>(fx: &Fixture, id: &'a str) -> CreateExecution<'a> {
        let k = fx.keys();
        let p = &fx.project;
        CreateExecution {
            execution_key: k.execution(p, id),
            session_executions: k.session_executions(p, "ses_1"),
            idempotency_key: None,
            session_key: k.session(p, "ses_1"),
            key_hashes: k.api_key_hashes(p),
            id,
            record: format!("record of {id}").into_bytes(),
            status: QUEUED,
            args: r#"{"a":1}"#,
            reply: "reply.subject",
            deadline: 1_234,
            idempotency_value: None,
            ttl: 3_600,
            account_id: None,
            key_hash: None,
            fingerprint: None,
            with_accounts: false,
            user_prefix: k.user_prefix(p),
            account_prefix: k.account(p, ""),
        }
    }

    /// A stored session of user `u1` with one account, and the fingerprint reading it gives.
    async fn session_with_account(fx: &Fixture, with_accounts: bool) -> String {
        let k = fx.keys();
        let p = &fx.project;
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(k.session(p, "ses_1"))
                    .arg("d")
                    .arg("session v1")
                    .arg("u")
                    .arg(crate::keys::Keys::user_part("u1")),
            )
            .await;
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(k.account(p, "ca_1"))
                    .arg("d")
                    .arg("account v1"),
            )
            .await;
        let () = fx
            .query(
                redis::cmd("ZADD")
                    .arg(k.user_accounts(p, "u1"))
                    .arg(0)
                    .arg("ca_1"),
            )
            .await;
        let read: SessionRead = fx
            .run(&SessionAndAccounts {
                session_key: k.session(p, "ses_1"),
                key_hashes: k.api_key_hashes(p),
                user_prefix: k.user_prefix(p),
                account_prefix: k.account(p, ""),
                key_hash: None,
                with_accounts,
            })
            .await;
        read.3
    }

    #[tokio::test]
    async fn create_stores_the_execution_and_indexes_it() {
        let fx = fixture().await;
        let mut call = create(&fx, "ex_1");
        call.account_id = Some("ca_9");
        assert_eq!(fx.run::<String>(&call).await, "");
        let key = &call.execution_key;
        assert_eq!(fx.hget(key, "d").await.unwrap(), b"record of ex_1");
        assert_eq!(fx.hget(key, "st").await.unwrap(), QUEUED.as_bytes());
        assert_eq!(fx.hget(key, "args").await.unwrap(), br#"{"a":1}"#);
        assert_eq!(fx.hget(key, "reply").await.unwrap(), b"reply.subject");
        assert_eq!(fx.hget(key, "deadline").await.unwrap(), b"1234");
        assert_eq!(fx.hget(key, "acct").await.unwrap(), b"ca_9");
        assert_eq!(fx.zmembers(&call.session_executions).await, ["ex_1"]);

        // Without an account, `acct` is empty.
        let call = create(&fx, "ex_2");
        assert_eq!(fx.run::<String>(&call).await, "");
        assert_eq!(fx.hget(&call.execution_key, "acct").await.unwrap(), b"");
        fx.done().await;
    }

    #[tokio::test]
    async fn a_reused_idempotency_key_answers_the_earlier_execution() {
        let fx = fixture().await;
        let idem = fx.keys().idempotency(&fx.project, "ses_1", "keydigest");
        let mut first = create(&fx, "ex_1");
        first.idempotency_key = Some(idem.clone());
        first.idempotency_value = Some("ex_1 argsdigest".into());
        assert_eq!(fx.run::<String>(&first).await, "");
        assert_eq!(fx.get(&idem).await.unwrap(), b"ex_1 argsdigest");
        let ttl = fx.pttl(&idem).await;
        assert!(ttl > 3_000_000 && ttl <= 3_600_000, "ttl {ttl}");

        let mut again = create(&fx, "ex_2");
        again.idempotency_key = Some(idem.clone());
        again.idempotency_value = Some("ex_2 otherdigest".into());
        assert_eq!(fx.run::<String>(&again).await, "ex_1 argsdigest");
        assert!(!fx.exists(&again.execution_key).await);
        assert_eq!(fx.zmembers(&again.session_executions).await, ["ex_1"]);
        assert_eq!(fx.get(&idem).await.unwrap(), b"ex_1 argsdigest");
        fx.done().await;
    }

    #[tokio::test]
    async fn a_revoked_key_stores_nothing() {
        let fx = fixture().await;
        let fingerprint = session_with_account(&fx, false).await;
        let idem = fx.keys().idempotency(&fx.project, "ses_1", "keydigest");
        let mut call = create(&fx, "ex_1");
        call.idempotency_key = Some(idem.clone());
        call.idempotency_value = Some("ex_1 d".into());
        call.key_hash = Some("hash-of-the-secret");
        call.fingerprint = Some(&fingerprint);
        assert_eq!(fx.run::<String>(&call).await, "!key");
        assert!(!fx.exists(&call.execution_key).await);
        assert!(!fx.exists(&idem).await);
        assert!(fx.zmembers(&call.session_executions).await.is_empty());

        // The key is live: stored.
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&call.key_hashes)
                    .arg("hash-of-the-secret")
                    .arg("key_1"),
            )
            .await;
        assert_eq!(fx.run::<String>(&call).await, "");
        assert!(fx.exists(&call.execution_key).await);
        fx.done().await;
    }

    #[tokio::test]
    async fn a_changed_session_or_account_is_stale_and_stores_nothing() {
        let fx = fixture().await;
        let fingerprint = session_with_account(&fx, true).await;
        let account_key = fx.keys().account(&fx.project, "ca_1");
        let idem = fx.keys().idempotency(&fx.project, "ses_1", "keydigest");
        let mut call = create(&fx, "ex_1");
        call.idempotency_key = Some(idem.clone());
        call.idempotency_value = Some("ex_1 d".into());
        call.fingerprint = Some(&fingerprint);
        call.with_accounts = true;

        // The user's account changed since the read.
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&account_key)
                    .arg("d")
                    .arg("account v2"),
            )
            .await;
        assert_eq!(fx.run::<String>(&call).await, "!stale");
        assert!(!fx.exists(&call.execution_key).await);
        assert!(!fx.exists(&idem).await);
        assert!(fx.zmembers(&call.session_executions).await.is_empty());

        // A fingerprint that leaves the accounts out does not see that change...
        let without = session_with_account(&fx, false).await;
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&account_key)
                    .arg("d")
                    .arg("account v3"),
            )
            .await;
        call.fingerprint = Some(&without);
        call.with_accounts = false;
        assert_eq!(fx.run::<String>(&call).await, "");
        assert!(fx.exists(&call.execution_key).await);

        // ...but does see the session's.
        let mut next = create(&fx, "ex_2");
        next.fingerprint = Some(&without);
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&next.session_key)
                    .arg("d")
                    .arg("session v2"),
            )
            .await;
        assert_eq!(fx.run::<String>(&next).await, "!stale");
        assert!(!fx.exists(&next.execution_key).await);
        fx.done().await;
    }

    #[tokio::test]
    async fn a_fresh_fingerprint_with_accounts_stores() {
        let fx = fixture().await;
        let fingerprint = session_with_account(&fx, true).await;
        let mut call = create(&fx, "ex_1");
        call.fingerprint = Some(&fingerprint);
        call.with_accounts = true;
        assert_eq!(fx.run::<String>(&call).await, "");
        assert!(fx.exists(&call.execution_key).await);
        fx.done().await;
    }

    #[tokio::test]
    async fn transition_moves_only_from_an_allowed_status() {
        let fx = fixture().await;
        let key = fx.keys().execution(&fx.project, "ex_1");
        let call = |from: Vec<&'static str>| TransitionExecution {
            execution_key: key.clone(),
            record: b"finished".to_vec(),
            status: SUCCEEDED,
            from,
        };
        assert_eq!(fx.run::<i64>(&call(vec![QUEUED, RUNNING])).await, -1);
        assert!(!fx.exists(&key).await);

        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&key)
                    .arg("d")
                    .arg("queued")
                    .arg("st")
                    .arg(QUEUED),
            )
            .await;
        assert_eq!(fx.run::<i64>(&call(vec![RUNNING])).await, 0);
        assert_eq!(fx.run::<i64>(&call(vec![])).await, 0);
        assert_eq!(fx.hget(&key, "d").await.unwrap(), b"queued");
        assert_eq!(fx.hget(&key, "st").await.unwrap(), QUEUED.as_bytes());

        assert_eq!(fx.run::<i64>(&call(vec![RUNNING, QUEUED])).await, 1);
        assert_eq!(fx.hget(&key, "d").await.unwrap(), b"finished");
        assert_eq!(fx.hget(&key, "st").await.unwrap(), SUCCEEDED.as_bytes());
        // Final now: a second move from QUEUED is refused.
        assert_eq!(fx.run::<i64>(&call(vec![QUEUED])).await, 0);
        fx.done().await;
    }

    fn claim(fx: &Fixture, id: &str) -> ClaimExecution<'static> {
        ClaimExecution {
            execution_key: fx.keys().execution(&fx.project, id),
            queued: QUEUED,
            running: RUNNING,
            unspecified: "EXECUTION_STATUS_UNSPECIFIED",
            lease_ms: 60_000,
            account_prefix: fx.keys().account(&fx.project, ""),
            start_ms: 1_000,
        }
    }

    async fn lease_of(fx: &Fixture, key: &str) -> i64 {
        let lease = fx.hget(key, "lease").await.unwrap();
        String::from_utf8(lease).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn claim_takes_a_queued_execution_with_its_account() {
        let fx = fixture().await;
        let call = claim(&fx, "ex_1");
        let key = &call.execution_key;
        let read: ClaimRead = fx.run(&call).await;
        assert_eq!(read.0, -1);
        assert!(!fx.exists(key).await);

        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(key)
                    .arg("d")
                    .arg("queued")
                    .arg("st")
                    .arg(QUEUED)
                    .arg("args")
                    .arg("{}")
                    .arg("reply")
                    .arg("r")
                    .arg("deadline")
                    .arg(77)
                    .arg("acct")
                    .arg("ca_1"),
            )
            .await;
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(fx.keys().account(&fx.project, "ca_1"))
                    .arg("d")
                    .arg("account")
                    .arg("c")
                    .arg("sealed"),
            )
            .await;
        let now = now_ms();
        let read: ClaimRead = fx.run(&call).await;
        assert_eq!(read.0, 1);
        assert_eq!(read.1.as_deref(), Some(&b"queued"[..]));
        assert_eq!(read.2.as_deref(), Some("{}"));
        assert_eq!(read.3.as_deref(), Some("r"));
        assert_eq!(read.4, Some(77));
        assert_eq!(read.5.as_deref(), Some(RUNNING));
        assert_eq!(read.6.as_deref(), Some(&b"account"[..]));
        assert_eq!(read.7.as_deref(), Some(&b"sealed"[..]));
        assert_eq!(read.8, Some(1_000));
        assert_eq!(read.9, Some(1));
        assert_eq!(fx.hget(key, "st").await.unwrap(), RUNNING.as_bytes());
        assert_eq!(fx.hget(key, "start").await.unwrap(), b"1000");
        assert_eq!(fx.hget(key, "att").await.unwrap(), b"1");
        // The record itself is not rewritten.
        assert_eq!(fx.hget(key, "d").await.unwrap(), b"queued");
        let lease = lease_of(&fx, key).await;
        assert!(
            lease >= now + 50_000 && lease <= now + 70_000,
            "lease {lease}"
        );
        fx.done().await;
    }

    #[tokio::test]
    async fn claim_leaves_a_running_execution_under_a_live_lease() {
        let fx = fixture().await;
        let call = claim(&fx, "ex_1");
        let key = &call.execution_key;
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(key)
                    .arg("d")
                    .arg("q")
                    .arg("st")
                    .arg(QUEUED),
            )
            .await;
        assert_eq!(fx.run::<ClaimRead>(&call).await.0, 1);
        let lease = lease_of(&fx, key).await;

        let read: ClaimRead = fx.run(&call).await;
        assert_eq!(read.0, 3);
        assert_eq!(read.5.as_deref(), Some(RUNNING));
        assert_eq!((read.6, read.7), (None, None));
        assert_eq!(read.9, Some(1));
        assert_eq!(fx.hget(key, "att").await.unwrap(), b"1");
        assert_eq!(lease_of(&fx, key).await, lease);
        fx.done().await;
    }

    #[tokio::test]
    async fn claim_takes_over_a_lapsed_lease() {
        let fx = fixture().await;
        let call = claim(&fx, "ex_1");
        let key = &call.execution_key;
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(key)
                    .arg("d")
                    .arg("q")
                    .arg("st")
                    .arg(RUNNING)
                    .arg("lease")
                    .arg(5)
                    .arg("start")
                    .arg(500)
                    .arg("att")
                    .arg(1)
                    .arg("acct")
                    .arg("ca_1"),
            )
            .await;
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(fx.keys().account(&fx.project, "ca_1"))
                    .arg("d")
                    .arg("account"),
            )
            .await;
        let now = now_ms();
        let read: ClaimRead = fx.run(&call).await;
        assert_eq!(read.0, 2);
        assert_eq!(read.6.as_deref(), Some(&b"account"[..]));
        assert_eq!(read.7, None);
        // The first start and the attempts stay: the worker counts a rerun.
        assert_eq!((read.8, read.9), (Some(500), Some(1)));
        assert_eq!(fx.hget(key, "att").await.unwrap(), b"1");
        assert_eq!(fx.hget(key, "start").await.unwrap(), b"500");
        assert!(lease_of(&fx, key).await >= now + 50_000);
        fx.done().await;
    }

    #[tokio::test]
    async fn claim_of_a_final_or_unset_execution() {
        let fx = fixture().await;
        let done = claim(&fx, "ex_1");
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&done.execution_key)
                    .arg("d")
                    .arg("finished")
                    .arg("st")
                    .arg(SUCCEEDED),
            )
            .await;
        let read: ClaimRead = fx.run(&done).await;
        assert_eq!(read.0, 0);
        assert_eq!(read.5.as_deref(), Some(SUCCEEDED));
        assert!(fx.hget(&done.execution_key, "lease").await.is_none());
        assert_eq!(
            fx.hget(&done.execution_key, "st").await.unwrap(),
            SUCCEEDED.as_bytes()
        );

        // No status yet: claimed like QUEUED.
        let unset = claim(&fx, "ex_2");
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&unset.execution_key)
                    .arg("d")
                    .arg("new"),
            )
            .await;
        let read: ClaimRead = fx.run(&unset).await;
        assert_eq!((read.0, read.9), (1, Some(1)));
        assert_eq!(
            fx.hget(&unset.execution_key, "st").await.unwrap(),
            RUNNING.as_bytes()
        );
        fx.done().await;
    }

    #[tokio::test]
    async fn renew_extends_only_a_running_lease() {
        let fx = fixture().await;
        let key = fx.keys().execution(&fx.project, "ex_1");
        let call = RenewLease {
            execution_key: key.clone(),
            running: RUNNING,
            lease_ms: 120_000,
        };
        assert_eq!(fx.run::<i64>(&call).await, 0);
        assert!(!fx.exists(&key).await);

        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&key)
                    .arg("st")
                    .arg(QUEUED)
                    .arg("lease")
                    .arg(5),
            )
            .await;
        assert_eq!(fx.run::<i64>(&call).await, 0);
        assert_eq!(fx.hget(&key, "lease").await.unwrap(), b"5");

        let () = fx
            .query(redis::cmd("HSET").arg(&key).arg("st").arg(RUNNING))
            .await;
        let now = now_ms();
        assert_eq!(fx.run::<i64>(&call).await, 1);
        let lease = lease_of(&fx, &key).await;
        assert!(
            lease >= now + 110_000 && lease <= now + 130_000,
            "lease {lease}"
        );
        fx.done().await;
    }
}
