//! Reading what a stack left behind, to check that secrets are nowhere in it.

use crate::{redis_client, redis_cmd, Stack};

/// Every Redis key under the stack's prefix with its values (all fields and members), as bytes.
pub async fn redis_dump(stack: &Stack) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    // Each node's own keys (a cluster's masters are all listed in the test config).
    for url in stack.config.redis.url.split(',') {
        let client = redis_client(url.trim());
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis_cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}:*", stack.config.redis.key_prefix))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .expect("scan");
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for key in keys {
            let kind: String = redis_cmd("TYPE")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("type");
            let cmd = match kind.as_str() {
                "string" => redis_cmd("GET").arg(&key).clone(),
                "hash" => redis_cmd("HGETALL").arg(&key).clone(),
                "set" => redis_cmd("SMEMBERS").arg(&key).clone(),
                "zset" => redis_cmd("ZRANGE").arg(&key).arg(0).arg(-1).clone(),
                "list" => redis_cmd("LRANGE").arg(&key).arg(0).arg(-1).clone(),
                "none" => continue,
                other => panic!("unexpected redis type {other} of {key}"),
            };
            let values: Vec<Vec<u8>> = if kind == "string" {
                let v: Vec<u8> = cmd.query_async(&mut conn).await.expect("get");
                vec![v]
            } else {
                cmd.query_async(&mut conn).await.expect("read")
            };
            out.push((key, values));
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
