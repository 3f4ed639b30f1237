//! Owned, expiring locks (the OAuth refresh lock, the polling lease): taken with
//! set-if-absent and an expiry, renewed and released only by their owner.

use std::sync::LazyLock;
use std::time::Duration;

use switchboard_core::Result;

use crate::{unavailable, Store};

static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

static RENEW: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
",
    )
});

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
        let mut conn = self.conn.clone();
        let renewed: i64 = RENEW
            .key(key)
            .arg(owner)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(renewed == 1)
    }

    /// Releases the lock if `owner` still holds it.
    pub(crate) async fn release_lock(&self, key: String, owner: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = RELEASE
            .key(key)
            .arg(owner)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
