//! How the store's Lua scripts are written, called and tested.
//!
//! Every multi-key write (and a few one-round-trip reads) is a Lua script, a
//! `static NAME: LazyLock<redis::Script>` in the module that owns its keys. Redis hands a script
//! its keys and arguments by position (`KEYS[1]`, `ARGV[1]`, …), so three things sit together
//! beside each script and must agree:
//!
//! - the Lua binds its keys and arguments to named locals on its first lines
//!   (`local lock = KEYS[1]`, `local owner, ttl_ms = ARGV[1], ARGV[2]`) and the body reads only
//!   those names;
//! - a struct names the same keys and arguments, fields in that order (keys first), each field's
//!   doc saying which `KEYS[i]` / `ARGV[i]` it is; values a script reads as a sentinel (`''` for
//!   none, `'1'` for yes) are `Option`s and `bool`s in the struct, turned into the sentinel in
//!   one place, [`ScriptCall::invocation`];
//! - [`ScriptCall::invocation`] for that struct, which adds the keys and arguments in exactly
//!   that order. Store methods build the struct and call [`Store::run`]; nothing else calls
//!   `.key(..)` / `.arg(..)` on a script.
//!
//! So a caller names each value, and putting one in the wrong place needs editing the one
//! function that lists the order next to the Lua that reads it.
//!
//! Every script has direct tests against a real Redis (`SWITCHBOARD_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`; each test under its own key prefix, see `testing`) in a
//! `script_tests` module at the bottom of its file: they call the script through its struct and
//! check the happy path and each edge case its doc names (return codes, and that a refused call
//! writes nothing). `tests/store_methods.rs` then runs the store's methods end to end, which
//! checks that each method hands its script the right keys and values.

use redis::FromRedisValue;
use switchboard_core::Result;

use crate::{unavailable, Store};

/// One call of a script: its keys and arguments, named.
pub(crate) trait ScriptCall {
    /// The script invocation with the keys and arguments in the order the script reads them.
    fn invocation(&self) -> redis::ScriptInvocation<'static>;
}

/// `''`, what scripts read as "none", for an absent string.
pub(crate) fn or_empty(value: Option<&str>) -> &str {
    value.unwrap_or_default()
}

/// `'1'` or `'0'`, what scripts read as a yes/no flag.
pub(crate) fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}

impl Store {
    /// Runs a script call; a Redis failure is [`crate::unavailable`].
    pub(crate) async fn run<T: FromRedisValue>(&self, call: &impl ScriptCall) -> Result<T> {
        let mut conn = self.conn.clone();
        call.invocation()
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)
    }
}

/// What the script tests share: a store on the test Redis under a key prefix of its own, a
/// fresh project id, and raw commands to set up and inspect keys.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod testing {
    use redis::FromRedisValue;
    use switchboard_core::ids::new_id;

    use super::ScriptCall;
    use crate::keys::Keys;
    use crate::Store;

    pub(crate) struct Fixture {
        pub store: Store,
        pub project: String,
    }

    /// A store under a unique prefix on `SWITCHBOARD_TEST_REDIS_URL` (a Redis Cluster when
    /// `SWITCHBOARD_TEST_REDIS_CLUSTER` is `1`).
    pub(crate) async fn fixture() -> Fixture {
        let url = std::env::var("SWITCHBOARD_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("sbs-{}", new_id("t"));
        let cluster = std::env::var("SWITCHBOARD_TEST_REDIS_CLUSTER").is_ok_and(|v| v == "1");
        let store = if cluster {
            Store::connect_cluster(&url, &prefix).await
        } else {
            Store::connect(&url, &prefix).await
        }
        .expect("the test Redis answers");
        Fixture {
            store,
            project: new_id("prj"),
        }
    }

    impl Fixture {
        pub(crate) fn keys(&self) -> &Keys {
            &self.store.keys
        }

        /// Runs a script call; panics with Redis's message when it fails.
        pub(crate) async fn run<T: FromRedisValue>(&self, call: &impl ScriptCall) -> T {
            let mut conn = self.store.conn.clone();
            match call.invocation().invoke_async(&mut conn).await {
                Ok(v) => v,
                Err(e) => panic!("script failed: {e}"),
            }
        }

        /// Runs a raw command (setup, inspection).
        pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
            let mut conn = self.store.conn.clone();
            match cmd.query_async(&mut conn).await {
                Ok(v) => v,
                Err(e) => panic!("command failed: {e}"),
            }
        }

        pub(crate) async fn get(&self, key: &str) -> Option<Vec<u8>> {
            self.query(redis::cmd("GET").arg(key)).await
        }

        pub(crate) async fn hget(&self, key: &str, field: &str) -> Option<Vec<u8>> {
            self.query(redis::cmd("HGET").arg(key).arg(field)).await
        }

        pub(crate) async fn exists(&self, key: &str) -> bool {
            self.query::<i64>(redis::cmd("EXISTS").arg(key)).await == 1
        }

        /// Members of a sorted set, by rank.
        pub(crate) async fn zmembers(&self, key: &str) -> Vec<String> {
            self.query(redis::cmd("ZRANGE").arg(key).arg(0).arg(-1))
                .await
        }

        /// Members of a set, sorted.
        pub(crate) async fn smembers(&self, key: &str) -> Vec<String> {
            let mut members: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(key)).await;
            members.sort();
            members
        }

        /// Milliseconds left on a key (-1 no expiry, -2 no key).
        pub(crate) async fn pttl(&self, key: &str) -> i64 {
            self.query(redis::cmd("PTTL").arg(key)).await
        }

        /// Deletes the test's keys.
        pub(crate) async fn done(self) {
            self.store.purge_prefix().await.expect("purge");
        }
    }
}
