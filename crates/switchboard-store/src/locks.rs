//! Owned, expiring locks (the OAuth refresh lock, the polling lease): taken with
//! set-if-absent and an expiry, renewed and released only by their owner.

use std::sync::LazyLock;
use std::time::Duration;

use redis::ScriptInvocation;
use switchboard_core::Result;

use crate::scripts::ScriptCall;
use crate::{unavailable, Store};

/// Deletes the lock if `owner` holds it: 1 when it did, else 0 (another owner's lock, or none,
/// is untouched).
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local lock = KEYS[1]
local owner = ARGV[1]
if redis.call('GET', lock) == owner then return redis.call('DEL', lock) end
return 0
",
    )
});

/// [`RELEASE`]'s keys and arguments.
pub(crate) struct ReleaseLock<'a> {
    /// `KEYS[1]`: the lock.
    pub lock: String,
    /// `ARGV[1]`: who must hold it.
    pub owner: &'a str,
}

impl ScriptCall for ReleaseLock<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = RELEASE.prepare_invoke();
        call.key(&self.lock).arg(self.owner);
        call
    }
}

/// Sets the lock's expiry to `ttl_ms` from now if `owner` holds it: 1 when it did, else 0.
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local lock = KEYS[1]
local owner, ttl_ms = ARGV[1], ARGV[2]
if redis.call('GET', lock) == owner then return redis.call('PEXPIRE', lock, ttl_ms) end
return 0
",
    )
});

/// [`RENEW`]'s keys and arguments.
pub(crate) struct RenewLock<'a> {
    /// `KEYS[1]`: the lock.
    pub lock: String,
    /// `ARGV[1]`: who must hold it.
    pub owner: &'a str,
    /// `ARGV[2]`: its new time to live.
    pub ttl_ms: u64,
}

impl ScriptCall for RenewLock<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = RENEW.prepare_invoke();
        call.key(&self.lock).arg(self.owner).arg(self.ttl_ms);
        call
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Store {
    /// Takes the lock `key` for `owner` for `ttl` unless someone holds it.
    pub(crate) async fn take_lock(&self, key: String, owner: &str, ttl: Duration) -> Result<bool> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(set.is_some())
    }

    /// Extends `owner`'s lock; false when it lost it.
    pub(crate) async fn renew_lock(&self, key: String, owner: &str, ttl: Duration) -> Result<bool> {
        let renewed: i64 = self
            .run(&RenewLock {
                lock: key,
                owner,
                ttl_ms: millis(ttl),
            })
            .await?;
        Ok(renewed == 1)
    }

    /// Releases the lock if `owner` still holds it.
    pub(crate) async fn release_lock(&self, key: String, owner: &str) -> Result<()> {
        let _: i64 = self.run(&ReleaseLock { lock: key, owner }).await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod script_tests {
    use super::*;
    use crate::scripts::testing::fixture;

    #[tokio::test]
    async fn release_deletes_only_the_owners_lock() {
        let fx = fixture().await;
        let lock = fx.keys().refresh_lock(&fx.project, "ca_1");
        let () = fx
            .query(redis::cmd("SET").arg(&lock).arg("me").arg("PX").arg(60_000))
            .await;

        let other = ReleaseLock {
            lock: lock.clone(),
            owner: "someone else",
        };
        assert_eq!(fx.run::<i64>(&other).await, 0);
        assert_eq!(fx.get(&lock).await.as_deref(), Some(&b"me"[..]));

        let mine = ReleaseLock {
            lock: lock.clone(),
            owner: "me",
        };
        assert_eq!(fx.run::<i64>(&mine).await, 1);
        assert!(!fx.exists(&lock).await);
        // Released already: nothing to do.
        assert_eq!(fx.run::<i64>(&mine).await, 0);
        fx.done().await;
    }

    #[tokio::test]
    async fn renew_extends_only_the_owners_lock() {
        let fx = fixture().await;
        let lock = fx.keys().poll_lease(&fx.project, "ti_1");
        let () = fx
            .query(redis::cmd("SET").arg(&lock).arg("me").arg("PX").arg(1_000))
            .await;

        let other = RenewLock {
            lock: lock.clone(),
            owner: "someone else",
            ttl_ms: 600_000,
        };
        assert_eq!(fx.run::<i64>(&other).await, 0);
        assert!(fx.pttl(&lock).await <= 1_000);

        let mine = RenewLock {
            lock: lock.clone(),
            owner: "me",
            ttl_ms: 600_000,
        };
        assert_eq!(fx.run::<i64>(&mine).await, 1);
        assert!(fx.pttl(&lock).await > 500_000);
        assert_eq!(fx.get(&lock).await.as_deref(), Some(&b"me"[..]));

        // No lock: nothing renewed, nothing created.
        let _: i64 = fx.query(redis::cmd("DEL").arg(&lock)).await;
        assert_eq!(fx.run::<i64>(&mine).await, 0);
        assert!(!fx.exists(&lock).await);
        fx.done().await;
    }
}
