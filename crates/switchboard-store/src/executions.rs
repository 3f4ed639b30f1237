//! Executions: one hash per tool call (`d` the encoded `Execution`, `st` its status name,
//! `args` the arguments JSON, `reply` the subject a waiting gateway listens on, `deadline` in
//! unix ms, `lease` in Redis-clock unix ms while a worker runs it), indexed per session. Every
//! status change is a compare-and-set on `st`, so a redelivered job, a second worker or a
//! timed-out gateway can never overwrite a finished execution.
//!
//! A worker that claims an execution holds a lease on it and renews it while the call runs
//! (with its in-progress acks). Another delivery of the same job that finds it RUNNING under a
//! live lease leaves it alone: that is a copy that waited in some worker's buffer past its
//! acknowledgement time, not an attempt that stopped. Only a lapsed lease means abandoned.

use std::sync::LazyLock;
use std::time::Duration;

use prost::Message;
use switchboard_core::ids::is_id;
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
    /// For [`Claim::Claimed`]: the lease value this claim set, which
    /// [`Store::store_running`] checks before writing the RUNNING record.
    pub lease_token: String,
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

static CREATE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: execution, session executions, idempotency key (or any key of the slot)
-- ARGV: id, record, status, args, reply, deadline, idempotency value ('' for none), ttl,
-- account id ('' for none)
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
    )
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
/// QUEUED (or no status yet) → `st` RUNNING under a new lease (the RUNNING record `d` is
/// written after, by [`SET_RUNNING`], under that lease); RUNNING under a lapsed lease → the
/// lease taken over; RUNNING under a live lease → untouched; anything else is final. For a
/// claimed or taken-over execution it also returns its account's `d` and `c`.
///
/// The account key `<ARGV[5]><acct>` is not declared in KEYS because its id is only known once
/// the execution is read; it is built from the prefix `<prefix>:{<project>}:ca:`, whose hash
/// tag is the execution key's, so it is always in the same slot (safe on a Redis Cluster).
static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: execution. ARGV: queued status, running status, unspecified status, lease ms,
-- account key prefix (same hash tag as KEYS[1])
-- Returns: code (-1 not found, 0 finished, 1 claimed, 2 abandoned (taken over), 3 busy), d,
-- args, reply, deadline, lease set, account d, account c
local f = redis.call('HMGET', KEYS[1], 'd', 'args', 'reply', 'deadline', 'st', 'lease', 'acct')
if not f[1] then return {-1, false, false, false, false, false, false, false} end
local st = f[5] or ''
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = string.format('%.0f', now + tonumber(ARGV[4]))
local code
if st == ARGV[2] then
  if (tonumber(f[6] or '') or 0) > now then
    return {3, f[1], f[2], f[3], f[4], false, false, false}
  end
  code = 2
  redis.call('HSET', KEYS[1], 'lease', lease)
elseif st == ARGV[1] or st == ARGV[3] or st == '' then
  code = 1
  redis.call('HSET', KEYS[1], 'st', ARGV[2], 'lease', lease)
else
  return {0, f[1], f[2], f[3], f[4], false, false, false}
end
local ad, ac = false, false
if f[7] and f[7] ~= '' then
  local a = redis.call('HMGET', ARGV[5] .. f[7], 'd', 'c')
  ad, ac = a[1], a[2]
end
return {code, f[1], f[2], f[3], f[4], lease, ad, ac}
",
    )
});

/// Writes the RUNNING record of an execution this worker claimed, only while it is still
/// RUNNING under the lease the claim set (another attempt that took it over set another).
static SET_RUNNING: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS: execution. ARGV: running record, running status, lease set by the claim
if redis.call('HGET', KEYS[1], 'st') ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[1])
return 1
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
);

fn lease_ms(lease: Duration) -> u64 {
    u64::try_from(lease.as_millis()).unwrap_or(u64::MAX)
}

fn not_found(id: &str) -> Error {
    Error::not_found("EXECUTION_NOT_FOUND", format!("execution {id:?} not found"))
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
    /// same arguments → that execution; other arguments → FAILED_PRECONDITION).
    pub async fn create_execution(&self, project: &str, new: &NewExecution) -> Result<Created> {
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
            .arg(&e.id)
            .arg(e.encode_to_vec())
            .arg(status_name(e.status()))
            .arg(&new.arguments_json)
            .arg(&new.reply_subject)
            .arg(new.deadline_ms)
            .arg(&idem_value)
            .arg(IDEMPOTENCY_TTL_SECS)
            .arg(e.account.as_ref().map_or("", |a| a.id.as_str()))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if existing.is_empty() {
            return Ok(Created::New);
        }
        let (id, digest) = existing.split_once(' ').unwrap_or((existing.as_str(), ""));
        if digest != e.arguments_digest {
            return Err(Error::FailedPrecondition {
                reason: "IDEMPOTENCY_KEY_REUSED",
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
        let (bytes, st): (Option<Vec<u8>>, Option<String>) = redis::cmd("HMGET")
            .arg(self.keys.execution(project, id))
            .arg("d")
            .arg("st")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let bytes = bytes.ok_or_else(|| not_found(id))?;
        let mut execution =
            Execution::decode(bytes.as_slice()).map_err(|e| corrupt("execution", e))?;
        // A claim sets `st` to RUNNING before the worker rewrites the record: `st` is the truth.
        if let Some(status) = st.as_deref().and_then(ExecutionStatus::from_str_name) {
            if status != execution.status() && !is_terminal(execution.status()) {
                execution.status = status as i32;
            }
        }
        Ok(execution)
    }

    /// Reads an execution with what a worker needs to run it.
    pub async fn get_job(&self, project: &str, id: &str) -> Result<JobRecord> {
        if !is_id("ex", id) {
            return Err(not_found(id));
        }
        let mut conn = self.conn.clone();
        let (d, args, reply, deadline): (
            Option<Vec<u8>>,
            Option<String>,
            Option<String>,
            Option<i64>,
        ) = redis::cmd("HMGET")
            .arg(self.keys.execution(project, id))
            .arg("d")
            .arg("args")
            .arg("reply")
            .arg("deadline")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let d = d.ok_or_else(|| not_found(id))?;
        Ok(JobRecord {
            execution: Execution::decode(d.as_slice()).map_err(|e| corrupt("execution", e))?,
            arguments_json: args.unwrap_or_else(|| "{}".into()),
            reply_subject: reply.unwrap_or_default(),
            deadline_ms: deadline.unwrap_or(0),
            account: None,
            lease_token: String::new(),
        })
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

    /// The worker's claim: QUEUED → RUNNING (attempts + 1, start time set by `running`) under a
    /// lease of `lease`; RUNNING under a lapsed lease → taken over as [`Claim::Abandoned`];
    /// RUNNING under a live lease → [`Claim::Busy`], untouched.
    pub async fn claim_execution<F>(
        &self,
        project: &str,
        id: &str,
        lease: Duration,
        running: F,
    ) -> Result<Claim>
    where
        F: Fn(&Execution) -> Execution,
    {
        if !is_id("ex", id) {
            return Err(not_found(id));
        }
        let mut conn = self.conn.clone();
        let (code, d, args, reply, deadline, lease_token, account_d, account_c): ClaimRead = CLAIM
            .key(self.keys.execution(project, id))
            .arg(status_name(ExecutionStatus::Queued))
            .arg(status_name(ExecutionStatus::Running))
            .arg(status_name(ExecutionStatus::Unspecified))
            .arg(lease_ms(lease))
            .arg(self.keys.account(project, ""))
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
        let mut job = JobRecord {
            execution: Execution::decode(d.as_slice()).map_err(|e| corrupt("execution", e))?,
            arguments_json: args.unwrap_or_else(|| "{}".into()),
            reply_subject: reply.unwrap_or_default(),
            deadline_ms: deadline.unwrap_or(0),
            account,
            lease_token: lease_token.unwrap_or_default(),
        };
        Ok(match code {
            1 => {
                job.execution = running(&job.execution);
                Claim::Claimed(job)
            }
            2 => {
                // The attempt that stopped may have stopped before writing its RUNNING record.
                if job.execution.status() != ExecutionStatus::Running {
                    job.execution = running(&job.execution);
                }
                Claim::Abandoned(job)
            }
            3 => Claim::Busy(job),
            _ => Claim::Finished(job),
        })
    }

    /// Stores the RUNNING record of a [`Claim::Claimed`] execution (the claim moved only its
    /// status and lease); false when the execution moved on meanwhile (then nothing changes).
    pub async fn store_running(&self, project: &str, record: &JobRecord) -> Result<bool> {
        let mut conn = self.conn.clone();
        let stored: i64 = SET_RUNNING
            .key(self.keys.execution(project, &record.execution.id))
            .arg(record.execution.encode_to_vec())
            .arg(status_name(ExecutionStatus::Running))
            .arg(&record.lease_token)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(stored == 1)
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
            pipe.hget(self.keys.execution(project, id), "d");
        }
        let raw: Vec<Option<Vec<u8>>> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        let executions = raw
            .into_iter()
            .flatten()
            .map(|b| Execution::decode(b.as_slice()).map_err(|e| corrupt("execution", e)))
            .collect::<Result<Vec<_>>>()?;
        Ok((executions, more))
    }
}
