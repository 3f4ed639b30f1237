//! A project's own (custom) toolkits: one hash per project, slug → the toolkit's record as
//! the gateway wrote it (the store does not read it), and a version counter bumped by every
//! change, so a replica can tell whether its copy is current with one `GET`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use redis::ScriptInvocation;
use switchboard_core::{Error, Result};

use crate::scripts::{flag, ScriptCall};
use crate::{unavailable, Store};

/// Every custom toolkit of a project, with the version they are at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomToolkits {
    /// 0 for a project that never had one.
    pub version: u64,
    /// Slug → record.
    pub records: BTreeMap<String, Vec<u8>>,
}

/// Writes one toolkit's record and bumps the version. With `create`, the slug must be new
/// (else `!exists`) and the project under its limit (else `!full`); without, it must exist
/// (else `!missing`). Returns the new version.
static PUT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local toolkits, version = KEYS[1], KEYS[2]
local slug, record, create, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local exists = redis.call('HEXISTS', toolkits, slug) == 1
if create == '1' then
  if exists then return '!exists' end
  if redis.call('HLEN', toolkits) >= limit then return '!full' end
elseif not exists then
  return '!missing'
end
redis.call('HSET', toolkits, slug, record)
return tostring(redis.call('INCR', version))
",
    )
});

/// [`PUT`]'s keys and arguments.
struct Put<'a> {
    /// `KEYS[1]`: the project's custom toolkits (slug → record).
    toolkits: String,
    /// `KEYS[2]`: their version counter.
    version: String,
    /// `ARGV[1]`: the toolkit's slug.
    slug: &'a str,
    /// `ARGV[2]`: its record.
    record: &'a [u8],
    /// `ARGV[3]`: a new toolkit (`'1'`) or a replacement (`'0'`).
    create: bool,
    /// `ARGV[4]`: the most toolkits the project may have.
    limit: usize,
}

impl ScriptCall for Put<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = PUT.prepare_invoke();
        call.key(&self.toolkits)
            .key(&self.version)
            .arg(self.slug)
            .arg(self.record)
            .arg(flag(self.create))
            .arg(self.limit);
        call
    }
}

/// Deletes one toolkit and bumps the version; `!missing` when there was none, else the new
/// version.
static DELETE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local toolkits, version = KEYS[1], KEYS[2]
local slug = ARGV[1]
if redis.call('HDEL', toolkits, slug) == 0 then return '!missing' end
return tostring(redis.call('INCR', version))
",
    )
});

/// [`DELETE`]'s keys and arguments.
struct Delete<'a> {
    /// `KEYS[1]`: the project's custom toolkits.
    toolkits: String,
    /// `KEYS[2]`: their version counter.
    version: String,
    /// `ARGV[1]`: the slug.
    slug: &'a str,
}

impl ScriptCall for Delete<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = DELETE.prepare_invoke();
        call.key(&self.toolkits).key(&self.version).arg(self.slug);
        call
    }
}

/// Reads every toolkit and the version in one step (never a version newer than the records).
static READ: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local toolkits, version = KEYS[1], KEYS[2]
return {redis.call('GET', version) or '0', redis.call('HGETALL', toolkits)}
",
    )
});

/// [`READ`]'s keys.
struct Read {
    /// `KEYS[1]`: the project's custom toolkits.
    toolkits: String,
    /// `KEYS[2]`: their version counter.
    version: String,
}

impl ScriptCall for Read {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = READ.prepare_invoke();
        call.key(&self.toolkits).key(&self.version);
        call
    }
}

fn toolkit_not_found(slug: &str) -> Error {
    Error::not_found(
        switchboard_core::reason::TOOLKIT_NOT_FOUND,
        format!("toolkit {slug:?} not found"),
    )
}

/// A script's answer: a version, or a refusal sentinel.
fn version_or(answer: &str, slug: &str, limit: usize) -> Result<u64> {
    match answer {
        "!exists" => Err(Error::AlreadyExists {
            reason: switchboard_core::reason::TOOLKIT_EXISTS,
            message: format!("the project already has a toolkit {slug:?}"),
        }),
        "!full" => Err(Error::ResourceExhausted {
            reason: switchboard_core::reason::TOOLKIT_LIMIT_REACHED,
            message: format!("a project has at most {limit} custom toolkits"),
            execution_id: String::new(),
        }),
        "!missing" => Err(toolkit_not_found(slug)),
        version => version
            .parse()
            .map_err(|_| Error::Internal(format!("custom toolkit version {version:?}"))),
    }
}

impl Store {
    /// Stores a new custom toolkit (`create`) or replaces one; the new version.
    pub async fn put_custom_toolkit(
        &self,
        project: &str,
        slug: &str,
        record: &[u8],
        create: bool,
        limit: usize,
    ) -> Result<u64> {
        let answer: String = self
            .run(&Put {
                toolkits: self.keys.custom_toolkits(project),
                version: self.keys.custom_toolkits_version(project),
                slug,
                record,
                create,
                limit,
            })
            .await?;
        version_or(&answer, slug, limit)
    }

    /// Deletes a custom toolkit; the new version.
    pub async fn delete_custom_toolkit(&self, project: &str, slug: &str) -> Result<u64> {
        let answer: String = self
            .run(&Delete {
                toolkits: self.keys.custom_toolkits(project),
                version: self.keys.custom_toolkits_version(project),
                slug,
            })
            .await?;
        version_or(&answer, slug, 0)
    }

    /// Every custom toolkit of the project, with their version.
    pub async fn custom_toolkits(&self, project: &str) -> Result<CustomToolkits> {
        let (version, flat): (String, Vec<Vec<u8>>) = self
            .run(&Read {
                toolkits: self.keys.custom_toolkits(project),
                version: self.keys.custom_toolkits_version(project),
            })
            .await?;
        let mut records = BTreeMap::new();
        let mut pairs = flat.into_iter();
        while let (Some(slug), Some(record)) = (pairs.next(), pairs.next()) {
            records.insert(String::from_utf8_lossy(&slug).into_owned(), record);
        }
        Ok(CustomToolkits {
            version: version.parse().unwrap_or(0),
            records,
        })
    }

    /// The version of the project's custom toolkits (0: never had one).
    pub async fn custom_toolkits_version(&self, project: &str) -> Result<u64> {
        let mut conn = self.conn.clone();
        let version: Option<u64> = redis::cmd("GET")
            .arg(self.keys.custom_toolkits_version(project))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(version.unwrap_or(0))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod script_tests {
    use super::*;
    use crate::scripts::testing::fixture;

    #[tokio::test]
    async fn put_creates_once_replaces_existing_and_counts_versions() {
        let f = fixture().await;
        let p = &f.project;
        assert_eq!(f.store.custom_toolkits_version(p).await.unwrap(), 0);
        assert_eq!(
            f.store.custom_toolkits(p).await.unwrap(),
            CustomToolkits::default()
        );

        let v1 = f
            .store
            .put_custom_toolkit(p, "acme", b"one", true, 2)
            .await
            .unwrap();
        assert_eq!(v1, 1);
        // The same slug again is refused and changes nothing.
        let err = f
            .store
            .put_custom_toolkit(p, "acme", b"two", true, 2)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::AlreadyExists {
                    reason: "TOOLKIT_EXISTS",
                    ..
                }
            ),
            "{err:?}"
        );
        // A replacement of a missing one is refused too.
        let err = f
            .store
            .put_custom_toolkit(p, "nope", b"x", false, 2)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotFound {
                    reason: "TOOLKIT_NOT_FOUND",
                    ..
                }
            ),
            "{err:?}"
        );
        let read = f.store.custom_toolkits(p).await.unwrap();
        assert_eq!(read.version, 1);
        assert_eq!(
            read.records.get("acme").map(Vec::as_slice),
            Some(&b"one"[..])
        );

        let v2 = f
            .store
            .put_custom_toolkit(p, "acme", b"two", false, 2)
            .await
            .unwrap();
        assert_eq!(v2, 2);
        let v3 = f
            .store
            .put_custom_toolkit(p, "beta", b"b", true, 2)
            .await
            .unwrap();
        assert_eq!(v3, 3);
        // At the limit, a new one is refused; a replacement still goes.
        let err = f
            .store
            .put_custom_toolkit(p, "gamma", b"g", true, 2)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::ResourceExhausted {
                    reason: "TOOLKIT_LIMIT_REACHED",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            f.store
                .put_custom_toolkit(p, "beta", b"b2", false, 2)
                .await
                .unwrap(),
            4
        );

        let read = f.store.custom_toolkits(p).await.unwrap();
        assert_eq!(read.version, 4);
        assert_eq!(
            read.records.keys().map(String::as_str).collect::<Vec<_>>(),
            ["acme", "beta"]
        );
        assert_eq!(read.records["acme"], b"two");
    }

    #[tokio::test]
    async fn delete_removes_one_and_bumps_the_version_and_another_project_sees_nothing() {
        let f = fixture().await;
        let p = &f.project;
        f.store
            .put_custom_toolkit(p, "acme", b"one", true, 5)
            .await
            .unwrap();
        let other = switchboard_core::ids::new_id("prj");
        let err = f
            .store
            .delete_custom_toolkit(&other, "acme")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert_eq!(
            f.store.custom_toolkits(&other).await.unwrap(),
            CustomToolkits::default()
        );

        assert_eq!(f.store.delete_custom_toolkit(p, "acme").await.unwrap(), 2);
        let err = f.store.delete_custom_toolkit(p, "acme").await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        let read = f.store.custom_toolkits(p).await.unwrap();
        assert_eq!((read.version, read.records.len()), (2, 0));
        assert_eq!(f.store.custom_toolkits_version(p).await.unwrap(), 2);
    }
}
