//! Projects and their API keys. A key's secret is `sk_<project ulid>_<32 random bytes,
//! base64url>`: the project part lets authentication read one hash field in that project's
//! slot. Only the SHA-256 of the secret is stored; revoking removes that hash at once.

use std::sync::LazyLock;

use prost::Message;
use rand::RngCore;
use redis::{AsyncCommands, ScriptInvocation};
use sha2::{Digest, Sha256};
use switchboard_core::ids::{is_id, new_id};
use switchboard_core::{Error, Result};
use switchboard_proto::v1::{ApiKey, Project};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::scripts::ScriptCall;
use crate::{corrupt, now_timestamp, unavailable, Store};

/// A newly created key with its secret (shown once).
#[derive(Debug, Clone)]
pub struct ApiKeySecret {
    pub key: ApiKey,
    pub secret: String,
}

/// Who a valid API key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub project_id: String,
    pub key_id: String,
}

fn project_not_found(id: &str) -> Error {
    Error::not_found(
        switchboard_core::reason::PROJECT_NOT_FOUND,
        format!("project {id:?} not found"),
    )
}

pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The project id a secret claims, if it has the shape of a secret.
pub(crate) fn project_of_secret(secret: &str) -> Option<String> {
    let rest = secret.strip_prefix("sk_")?;
    let (ulid, tail) = rest.split_at_checked(26)?;
    let random = tail.strip_prefix('_')?;
    let project = format!("prj_{ulid}");
    (is_id("prj", &project) && random.len() == 43).then_some(project)
}

/// The error for an API key that is malformed, unknown or revoked.
pub(crate) fn invalid_key() -> Error {
    Error::Unauthenticated {
        reason: switchboard_core::reason::INVALID_API_KEY,
        message: "the API key is missing, malformed, unknown or revoked".into(),
    }
}

/// Drops every secret hash entry pointing at a key id and stores the revoked record; returns 1.
static REVOKE_API_KEY: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local api_keys, key_hashes = KEYS[1], KEYS[2]
local key_id, record = ARGV[1], ARGV[2]
local entries = redis.call('HGETALL', key_hashes)
for i = 1, #entries, 2 do
  if entries[i + 1] == key_id then redis.call('HDEL', key_hashes, entries[i]) end
end
redis.call('HSET', api_keys, key_id, record)
return 1
",
    )
});

/// [`REVOKE_API_KEY`]'s keys and arguments.
pub(crate) struct RevokeApiKey<'a> {
    /// `KEYS[1]`: the project's API keys (id → record).
    pub api_keys: String,
    /// `KEYS[2]`: the project's secret hashes (hash → id).
    pub key_hashes: String,
    /// `ARGV[1]`: the key id.
    pub key_id: &'a str,
    /// `ARGV[2]`: its revoked encoded `ApiKey`.
    pub record: Vec<u8>,
}

impl ScriptCall for RevokeApiKey<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = REVOKE_API_KEY.prepare_invoke();
        call.key(&self.api_keys)
            .key(&self.key_hashes)
            .arg(self.key_id)
            .arg(&self.record);
        call
    }
}

impl Store {
    /// Creates a project.
    pub async fn create_project(&self, name: &str) -> Result<Project> {
        let project = Project {
            id: new_id("prj"),
            name: name.to_owned(),
            create_time: Some(now_timestamp()),
        };
        let mut conn = self.conn.clone();
        // The record first, then the registry: a failure between them leaves an unlisted
        // project, never a listed one without a record.
        let () = conn
            .set(self.keys.project(&project.id), project.encode_to_vec())
            .await
            .map_err(unavailable)?;
        let () = conn
            .zadd(self.keys.projects(), &project.id, 0)
            .await
            .map_err(unavailable)?;
        Ok(project)
    }

    /// Reads a project.
    pub async fn get_project(&self, id: &str) -> Result<Project> {
        if !is_id("prj", id) {
            return Err(project_not_found(id));
        }
        let mut conn = self.conn.clone();
        let bytes: Option<Vec<u8>> = conn.get(self.keys.project(id)).await.map_err(unavailable)?;
        let bytes = bytes.ok_or_else(|| project_not_found(id))?;
        Project::decode(bytes.as_slice()).map_err(|e| corrupt("project", e))
    }

    /// Lists projects by id after `after`, up to `limit`; the bool says whether more follow.
    pub async fn list_projects(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Project>, bool)> {
        let mut conn = self.conn.clone();
        let min = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
        let ids: Vec<String> = redis::cmd("ZRANGEBYLEX")
            .arg(self.keys.projects())
            .arg(min)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let more = ids.len() > limit;
        let mut out = Vec::with_capacity(limit);
        for id in ids.iter().take(limit) {
            match self.get_project(id).await {
                Ok(p) => out.push(p),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((out, more))
    }

    /// Creates an API key for a project and returns its secret.
    pub async fn create_api_key(&self, project_id: &str, name: &str) -> Result<ApiKeySecret> {
        self.get_project(project_id).await?;
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let ulid = project_id.strip_prefix("prj_").unwrap_or(project_id);
        let secret = format!("sk_{ulid}_{}", URL_SAFE_NO_PAD.encode(random));
        let key = ApiKey {
            id: new_id("key"),
            project_id: project_id.to_owned(),
            name: name.to_owned(),
            prefix: secret.chars().take(12).collect(),
            create_time: Some(now_timestamp()),
            revoke_time: None,
        };
        let mut conn = self.conn.clone();
        let () = redis::pipe()
            .atomic()
            .hset(self.keys.api_keys(project_id), &key.id, key.encode_to_vec())
            .ignore()
            .hset(
                self.keys.api_key_hashes(project_id),
                hash_secret(&secret),
                &key.id,
            )
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(ApiKeySecret { key, secret })
    }

    /// Lists a project's keys (metadata only), oldest first.
    pub async fn list_api_keys(&self, project_id: &str) -> Result<Vec<ApiKey>> {
        self.get_project(project_id).await?;
        let mut conn = self.conn.clone();
        let raw: Vec<Vec<u8>> = conn
            .hvals(self.keys.api_keys(project_id))
            .await
            .map_err(unavailable)?;
        let mut keys = raw
            .iter()
            .map(|b| ApiKey::decode(b.as_slice()).map_err(|e| corrupt("api key", e)))
            .collect::<Result<Vec<_>>>()?;
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(keys)
    }

    /// Revokes a key: from the moment this returns, its secret authenticates nothing.
    pub async fn revoke_api_key(&self, project_id: &str, key_id: &str) -> Result<ApiKey> {
        let not_found = || {
            Error::not_found(
                switchboard_core::reason::API_KEY_NOT_FOUND,
                format!("API key {key_id:?} not found"),
            )
        };
        self.get_project(project_id).await?;
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = conn
            .hget(self.keys.api_keys(project_id), key_id)
            .await
            .map_err(unavailable)?;
        let mut key = ApiKey::decode(raw.ok_or_else(not_found)?.as_slice())
            .map_err(|e| corrupt("api key", e))?;
        if key.revoke_time.is_none() {
            key.revoke_time = Some(now_timestamp());
        }
        // Drop every hash entry pointing at this key id and store the revoked record, in one
        // script so the two can't disagree.
        let _: i64 = self
            .run(&RevokeApiKey {
                api_keys: self.keys.api_keys(project_id),
                key_hashes: self.keys.api_key_hashes(project_id),
                key_id,
                record: key.encode_to_vec(),
            })
            .await?;
        Ok(key)
    }

    /// Authenticates a secret: the project and key it belongs to, or `UNAUTHENTICATED`.
    pub async fn authenticate(&self, secret: &str) -> Result<Authenticated> {
        let project_id = project_of_secret(secret).ok_or_else(invalid_key)?;
        let mut conn = self.conn.clone();
        let key_id: Option<String> = conn
            .hget(self.keys.api_key_hashes(&project_id), hash_secret(secret))
            .await
            .map_err(unavailable)?;
        let key_id = key_id.ok_or_else(invalid_key)?;
        Ok(Authenticated { project_id, key_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_name_their_project() {
        let ulid = "01jabcdefghjkmnpqrstvwxyz0";
        let secret = format!("sk_{ulid}_{}", "a".repeat(43));
        assert_eq!(project_of_secret(&secret), Some(format!("prj_{ulid}")));
        assert_eq!(project_of_secret("sk_short"), None);
        assert_eq!(
            project_of_secret(&format!("sk_{ulid}_{}", "a".repeat(42))),
            None
        );
        assert_eq!(project_of_secret(""), None);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod script_tests {
    use super::*;
    use crate::scripts::testing::fixture;

    #[tokio::test]
    async fn revoke_drops_every_hash_of_the_key_and_stores_the_record() {
        let fx = fixture().await;
        let call = RevokeApiKey {
            api_keys: fx.keys().api_keys(&fx.project),
            key_hashes: fx.keys().api_key_hashes(&fx.project),
            key_id: "key_1",
            record: b"revoked".to_vec(),
        };
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&call.api_keys)
                    .arg("key_1")
                    .arg("live")
                    .arg("key_2")
                    .arg("other"),
            )
            .await;
        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&call.key_hashes)
                    .arg("h1")
                    .arg("key_1")
                    .arg("h2")
                    .arg("key_2")
                    .arg("h3")
                    .arg("key_1"),
            )
            .await;
        assert_eq!(fx.run::<i64>(&call).await, 1);
        let hashes: Vec<String> = fx.query(redis::cmd("HKEYS").arg(&call.key_hashes)).await;
        assert_eq!(hashes, ["h2"]);
        assert_eq!(fx.hget(&call.api_keys, "key_1").await.unwrap(), b"revoked");
        assert_eq!(fx.hget(&call.api_keys, "key_2").await.unwrap(), b"other");
        // Again: nothing left to drop, the record stays.
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert_eq!(fx.hget(&call.key_hashes, "h2").await.unwrap(), b"key_2");
        fx.done().await;
    }
}
