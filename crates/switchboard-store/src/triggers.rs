//! Trigger instances, the provider webhook routes they share, polling schedules with leases and
//! cursors, delivery de-duplication, and outgoing webhook subscriptions.
//!
//! A trigger is unique per (account, type, config): creating it again returns the first one.
//! The polling schedule is one global sorted set (`<prefix>:polls`, members
//! `<project>/<trigger id>`, scored by the next due time) read with single-key commands only;
//! every other key lives in its project's hash slot.

use std::sync::LazyLock;
use std::time::Duration;

use prost::Message;
use redis::ScriptInvocation;
use serde::{Deserialize, Serialize};
use switchboard_core::ids::is_id;
use switchboard_core::{Error, Result};
use switchboard_proto::v1::{Trigger, WebhookSubscription};

use crate::locks::millis;
use crate::scripts::{or_empty, ScriptCall};
use crate::{corrupt, unavailable, Store};

/// Two hash fields read together, either possibly absent.
type FieldPair = (Option<Vec<u8>>, Option<Vec<u8>>);

fn trigger_not_found(id: &str) -> Error {
    Error::not_found(
        switchboard_core::reason::TRIGGER_NOT_FOUND,
        format!("trigger {id:?} not found"),
    )
}

fn subscription_not_found(id: &str) -> Error {
    Error::not_found(
        switchboard_core::reason::WEBHOOK_SUBSCRIPTION_NOT_FOUND,
        format!("webhook subscription {id:?} not found"),
    )
}

/// A trigger as stored.
#[derive(Debug, Clone)]
pub struct StoredTrigger {
    pub trigger: Trigger,
    /// The provider webhook route it receives deliveries through ("" for polling).
    pub route_id: String,
}

/// Trigger filters for listing.
#[derive(Debug, Default, Clone)]
pub struct TriggerFilter<'a> {
    pub user_id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub trigger_type: Option<&'a str>,
    pub include_disabled: bool,
}

/// A provider webhook registration several triggers share, e.g. one GitHub repository hook of
/// one account, receiving the union of its triggers' event kinds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Route {
    /// `rt_…`, also in the URL the provider posts to.
    pub id: String,
    pub toolkit: String,
    pub account_id: String,
    /// What it watches, e.g. `acme/api`.
    pub target: String,
    /// The provider's id of the hook ("" until registered).
    pub provider_hook_id: String,
    /// Event kinds registered at the provider.
    pub events: Vec<String>,
}

/// Stores a trigger unless its upsert key names one already: `''` when it stored it, else the
/// existing trigger's id (nothing written).
static CREATE_TRIGGER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local trigger, upsert_key, triggers, user_triggers, account_triggers, route_triggers =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, record, upsert_digest, route_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local existing = redis.call('GET', upsert_key)
if existing then return existing end
redis.call('SET', upsert_key, id)
redis.call('HSET', trigger, 'd', record, 'k', upsert_digest, 'r', route_id)
redis.call('ZADD', triggers, 0, id)
redis.call('ZADD', user_triggers, 0, id)
redis.call('SADD', account_triggers, id)
if route_id ~= '' then redis.call('SADD', route_triggers, id) end
return ''
",
    )
});

/// [`CREATE_TRIGGER`]'s keys and arguments.
pub(crate) struct CreateTrigger<'a> {
    /// `KEYS[1]`: the trigger hash.
    pub trigger: String,
    /// `KEYS[2]`: its upsert key.
    pub upsert_key: String,
    /// `KEYS[3]`: the project's triggers.
    pub triggers: String,
    /// `KEYS[4]`: the user's triggers.
    pub user_triggers: String,
    /// `KEYS[5]`: the account's triggers.
    pub account_triggers: String,
    /// `KEYS[6]`: the route's triggers (any key of the slot without a route).
    pub route_triggers: String,
    /// `ARGV[1]`: the trigger id.
    pub id: &'a str,
    /// `ARGV[2]`: the encoded `Trigger`.
    pub record: Vec<u8>,
    /// `ARGV[3]`: the upsert digest (stored as `k`).
    pub upsert_digest: &'a str,
    /// `ARGV[4]`: the route id (stored as `r`; `''`: polling, no route).
    pub route_id: Option<&'a str>,
}

impl ScriptCall for CreateTrigger<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = CREATE_TRIGGER.prepare_invoke();
        call.key(&self.trigger)
            .key(&self.upsert_key)
            .key(&self.triggers)
            .key(&self.user_triggers)
            .key(&self.account_triggers)
            .key(&self.route_triggers)
            .arg(self.id)
            .arg(&self.record)
            .arg(self.upsert_digest)
            .arg(or_empty(self.route_id));
        call
    }
}

/// Deletes a trigger, its upsert key (if it still names it), its index entries, poll lease and
/// cursor: how many triggers its route set still has, or -1 when the trigger did not exist
/// (nothing else touched).
static DELETE_TRIGGER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local trigger, upsert_key, triggers, user_triggers, account_triggers, route_triggers, lease,
  cursor = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local id = ARGV[1]
if redis.call('DEL', trigger) == 0 then return -1 end
if redis.call('GET', upsert_key) == id then redis.call('DEL', upsert_key) end
redis.call('ZREM', triggers, id)
redis.call('ZREM', user_triggers, id)
redis.call('SREM', account_triggers, id)
redis.call('SREM', route_triggers, id)
redis.call('DEL', lease, cursor)
return redis.call('SCARD', route_triggers)
",
    )
});

/// [`DELETE_TRIGGER`]'s keys and arguments.
pub(crate) struct DeleteTrigger<'a> {
    /// `KEYS[1]`: the trigger hash.
    pub trigger: String,
    /// `KEYS[2]`: its upsert key.
    pub upsert_key: String,
    /// `KEYS[3]`: the project's triggers.
    pub triggers: String,
    /// `KEYS[4]`: the user's triggers.
    pub user_triggers: String,
    /// `KEYS[5]`: the account's triggers.
    pub account_triggers: String,
    /// `KEYS[6]`: the route's triggers.
    pub route_triggers: String,
    /// `KEYS[7]`: its poll lease.
    pub lease: String,
    /// `KEYS[8]`: its poll cursor.
    pub cursor: String,
    /// `ARGV[1]`: the trigger id.
    pub id: &'a str,
}

impl ScriptCall for DeleteTrigger<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = DELETE_TRIGGER.prepare_invoke();
        call.key(&self.trigger)
            .key(&self.upsert_key)
            .key(&self.triggers)
            .key(&self.user_triggers)
            .key(&self.account_triggers)
            .key(&self.route_triggers)
            .key(&self.lease)
            .key(&self.cursor)
            .arg(self.id);
        call
    }
}

/// Replaces the `d` field of a hash that exists (a trigger, route or webhook subscription):
/// 1 when it did, 0 when the hash does not exist (nothing written).
static REPLACE_D: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local hash = KEYS[1]
local record = ARGV[1]
if redis.call('EXISTS', hash) == 0 then return 0 end
redis.call('HSET', hash, 'd', record)
return 1
",
    )
});

/// [`REPLACE_D`]'s keys and arguments.
pub(crate) struct ReplaceRecord {
    /// `KEYS[1]`: the hash.
    pub hash: String,
    /// `ARGV[1]`: its new `d`.
    pub record: Vec<u8>,
}

impl ScriptCall for ReplaceRecord {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = REPLACE_D.prepare_invoke();
        call.key(&self.hash).arg(&self.record);
        call
    }
}

/// Stores a route unless its identity key names one already: `''` when it stored it, else the
/// existing route's id (nothing written).
static CREATE_ROUTE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local route, route_key = KEYS[1], KEYS[2]
local id, record, sealed_secret = ARGV[1], ARGV[2], ARGV[3]
local existing = redis.call('GET', route_key)
if existing then return existing end
redis.call('SET', route_key, id)
redis.call('HSET', route, 'd', record, 's', sealed_secret)
return ''
",
    )
});

/// [`CREATE_ROUTE`]'s keys and arguments.
pub(crate) struct CreateRoute<'a> {
    /// `KEYS[1]`: the route hash.
    pub route: String,
    /// `KEYS[2]`: its identity key.
    pub route_key: String,
    /// `ARGV[1]`: the route id.
    pub id: &'a str,
    /// `ARGV[2]`: the route JSON.
    pub record: String,
    /// `ARGV[3]`: its sealed secret.
    pub sealed_secret: &'a [u8],
}

impl ScriptCall for CreateRoute<'_> {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = CREATE_ROUTE.prepare_invoke();
        call.key(&self.route)
            .key(&self.route_key)
            .arg(self.id)
            .arg(&self.record)
            .arg(self.sealed_secret);
        call
    }
}

/// What [`Store::claim_delivery`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// Not seen before: taken; publish it, then record it done.
    New,
    /// Being handled by another intake (or its handler stopped, until the mark lapses).
    InHand,
    /// Handled before: a duplicate.
    Done,
}

/// Marks a delivery in hand for `in_hand_ms` unless it is marked: `new` when it marked it,
/// else the mark (`pending` while in hand, `done` once handled).
static CLAIM_DELIVERY: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local seen = KEYS[1]
local in_hand_ms = ARGV[1]
if redis.call('SET', seen, 'pending', 'NX', 'PX', in_hand_ms) then return 'new' end
return redis.call('GET', seen) or 'done'
",
    )
});

/// [`CLAIM_DELIVERY`]'s keys and arguments.
pub(crate) struct ClaimDelivery {
    /// `KEYS[1]`: the delivery's seen key.
    pub seen: String,
    /// `ARGV[1]`: how long the in-hand mark holds, ms.
    pub in_hand_ms: u64,
}

impl ScriptCall for ClaimDelivery {
    fn invocation(&self) -> ScriptInvocation<'static> {
        let mut call = CLAIM_DELIVERY.prepare_invoke();
        call.key(&self.seen).arg(self.in_hand_ms);
        call
    }
}

impl Store {
    /// Stores a new trigger unless one with the same `upsert_digest` exists: then its id.
    pub async fn create_trigger(
        &self,
        project: &str,
        trigger: &Trigger,
        upsert_digest: &str,
        route_id: &str,
    ) -> Result<Option<String>> {
        let existing: String = self
            .run(&CreateTrigger {
                trigger: self.keys.trigger(project, &trigger.id),
                upsert_key: self.keys.trigger_key(project, upsert_digest),
                triggers: self.keys.triggers(project),
                user_triggers: self.keys.user_triggers(project, &trigger.user_id),
                account_triggers: self
                    .keys
                    .account_triggers(project, &trigger.connected_account_id),
                route_triggers: self.keys.route_triggers(project, route_id),
                id: &trigger.id,
                record: trigger.encode_to_vec(),
                upsert_digest,
                route_id: (!route_id.is_empty()).then_some(route_id),
            })
            .await?;
        Ok((!existing.is_empty()).then_some(existing))
    }

    pub async fn get_trigger(&self, project: &str, id: &str) -> Result<StoredTrigger> {
        if !is_id("ti", id) {
            return Err(trigger_not_found(id));
        }
        let mut conn = self.conn.clone();
        let (d, r): (Option<Vec<u8>>, Option<String>) = redis::cmd("HMGET")
            .arg(self.keys.trigger(project, id))
            .arg("d")
            .arg("r")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let d = d.ok_or_else(|| trigger_not_found(id))?;
        Ok(StoredTrigger {
            trigger: Trigger::decode(d.as_slice()).map_err(|e| corrupt("trigger", e))?,
            route_id: r.unwrap_or_default(),
        })
    }

    /// Replaces a trigger's record (enable, disable). NOT_FOUND when it is gone.
    pub async fn put_trigger(&self, project: &str, trigger: &Trigger) -> Result<()> {
        let done: i64 = self
            .run(&ReplaceRecord {
                hash: self.keys.trigger(project, &trigger.id),
                record: trigger.encode_to_vec(),
            })
            .await?;
        if done == 0 {
            return Err(trigger_not_found(&trigger.id));
        }
        Ok(())
    }

    /// Deletes a trigger; how many triggers its route still has (`None` without a route).
    pub async fn delete_trigger(
        &self,
        project: &str,
        id: &str,
    ) -> Result<(StoredTrigger, Option<u64>)> {
        let stored = self.get_trigger(project, id).await?;
        let mut conn = self.conn.clone();
        let digest: Option<String> = redis::cmd("HGET")
            .arg(self.keys.trigger(project, id))
            .arg("k")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let left: i64 = self
            .run(&DeleteTrigger {
                trigger: self.keys.trigger(project, id),
                upsert_key: self.keys.trigger_key(project, &digest.unwrap_or_default()),
                triggers: self.keys.triggers(project),
                user_triggers: self.keys.user_triggers(project, &stored.trigger.user_id),
                account_triggers: self
                    .keys
                    .account_triggers(project, &stored.trigger.connected_account_id),
                route_triggers: self.keys.route_triggers(project, &stored.route_id),
                lease: self.keys.poll_lease(project, id),
                cursor: self.keys.poll_cursor(project, id),
                id,
            })
            .await?;
        if left < 0 {
            return Err(trigger_not_found(id));
        }
        self.unschedule_poll(project, id).await?;
        let left = (!stored.route_id.is_empty()).then(|| u64::try_from(left).unwrap_or(0));
        Ok((stored, left))
    }

    async fn triggers_by_ids(&self, project: &str, ids: &[String]) -> Result<Vec<Trigger>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hget(self.keys.trigger(project, id), "d");
        }
        let mut conn = self.conn.clone();
        let raw: Vec<Option<Vec<u8>>> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        raw.into_iter()
            .flatten()
            .map(|b| Trigger::decode(b.as_slice()).map_err(|e| corrupt("trigger", e)))
            .collect()
    }

    /// Triggers matching `filter`, by id after `after`; the bool says whether more follow.
    pub async fn list_triggers(
        &self,
        project: &str,
        filter: &TriggerFilter<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Trigger>, bool)> {
        let index = match filter.user_id {
            Some(user) => self.keys.user_triggers(project, user),
            None => self.keys.triggers(project),
        };
        let ids = self.range_ids(&index, after, usize::MAX >> 1).await?;
        let mut out = Vec::new();
        for trigger in self.triggers_by_ids(project, &ids).await? {
            if filter
                .account_id
                .is_some_and(|a| a != trigger.connected_account_id)
                || filter.trigger_type.is_some_and(|t| t != trigger.r#type)
                || (!filter.include_disabled && !trigger.enabled)
            {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(trigger);
        }
        Ok((out, false))
    }

    /// Every trigger of an account.
    pub async fn account_triggers(&self, project: &str, account_id: &str) -> Result<Vec<Trigger>> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.account_triggers(project, account_id))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        ids.sort();
        self.triggers_by_ids(project, &ids).await
    }

    /// Every trigger receiving deliveries through a route.
    pub async fn route_triggers(&self, project: &str, route_id: &str) -> Result<Vec<Trigger>> {
        let mut conn = self.conn.clone();
        let mut ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.route_triggers(project, route_id))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        ids.sort();
        self.triggers_by_ids(project, &ids).await
    }

    /// The route for `key_digest` (account + target), creating `route` with its sealed secret
    /// when there is none; the stored route and whether it was created now.
    pub async fn route_for(
        &self,
        project: &str,
        key_digest: &str,
        route: &Route,
        sealed_secret: &[u8],
    ) -> Result<(Route, bool)> {
        let json = serde_json::to_string(route).map_err(|e| Error::Internal(e.to_string()))?;
        let existing: String = self
            .run(&CreateRoute {
                route: self.keys.route(project, &route.id),
                route_key: self.keys.route_key(project, key_digest),
                id: &route.id,
                record: json,
                sealed_secret,
            })
            .await?;
        if existing.is_empty() {
            return Ok((route.clone(), true));
        }
        match self.get_route(project, &existing).await? {
            Some((found, _)) => Ok((found, false)),
            None => Err(Error::Internal(format!(
                "route {existing} is indexed but missing"
            ))),
        }
    }

    /// A route and its sealed secret.
    pub async fn get_route(&self, project: &str, id: &str) -> Result<Option<(Route, Vec<u8>)>> {
        if !is_id("rt", id) {
            return Ok(None);
        }
        let mut conn = self.conn.clone();
        let (d, s): (Option<String>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(self.keys.route(project, id))
            .arg("d")
            .arg("s")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let Some(d) = d else { return Ok(None) };
        let route: Route = serde_json::from_str(&d)
            .map_err(|e| Error::Internal(format!("stored route does not decode: {e}")))?;
        Ok(Some((route, s.unwrap_or_default())))
    }

    pub async fn put_route(&self, project: &str, route: &Route) -> Result<()> {
        let json = serde_json::to_string(route).map_err(|e| Error::Internal(e.to_string()))?;
        let _: i64 = self
            .run(&ReplaceRecord {
                hash: self.keys.route(project, &route.id),
                record: json.into_bytes(),
            })
            .await?;
        Ok(())
    }

    /// Removes a route (its last trigger is gone).
    pub async fn delete_route(&self, project: &str, route: &Route, key_digest: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::pipe()
            .atomic()
            .del(self.keys.route(project, &route.id))
            .ignore()
            .del(self.keys.route_key(project, key_digest))
            .ignore()
            .del(self.keys.route_triggers(project, &route.id))
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Polls `trigger` of `project` at `due_ms` (unix ms).
    pub async fn schedule_poll(&self, project: &str, trigger_id: &str, due_ms: i64) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::cmd("ZADD")
            .arg(self.keys.polls())
            .arg(due_ms)
            .arg(format!("{project}/{trigger_id}"))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub async fn unschedule_poll(&self, project: &str, trigger_id: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::cmd("ZREM")
            .arg(self.keys.polls())
            .arg(format!("{project}/{trigger_id}"))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Polls due by `now_ms`: (project, trigger id), soonest first.
    pub async fn due_polls(&self, now_ms: i64, limit: usize) -> Result<Vec<(String, String)>> {
        let mut conn = self.conn.clone();
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.polls())
            .arg("-inf")
            .arg(now_ms)
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(members
            .into_iter()
            .filter_map(|m| m.split_once('/').map(|(p, t)| (p.to_owned(), t.to_owned())))
            .collect())
    }

    /// Takes the poll lease of a trigger for `ttl` unless someone holds it.
    pub async fn try_poll_lease(
        &self,
        project: &str,
        trigger_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool> {
        self.take_lock(self.keys.poll_lease(project, trigger_id), owner, ttl)
            .await
    }

    /// Extends a held lease; false when `owner` lost it.
    pub async fn renew_poll_lease(
        &self,
        project: &str,
        trigger_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool> {
        self.renew_lock(self.keys.poll_lease(project, trigger_id), owner, ttl)
            .await
    }

    pub async fn release_poll_lease(
        &self,
        project: &str,
        trigger_id: &str,
        owner: &str,
    ) -> Result<()> {
        self.release_lock(self.keys.poll_lease(project, trigger_id), owner)
            .await
    }

    pub async fn poll_cursor(&self, project: &str, trigger_id: &str) -> Result<Option<String>> {
        let mut conn = self.conn.clone();
        redis::cmd("GET")
            .arg(self.keys.poll_cursor(project, trigger_id))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    pub async fn set_poll_cursor(
        &self,
        project: &str,
        trigger_id: &str,
        cursor: &str,
    ) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::cmd("SET")
            .arg(self.keys.poll_cursor(project, trigger_id))
            .arg(cursor)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// True the first time `key` is seen within `ttl` (delivery de-duplication).
    pub async fn first_seen(&self, project: &str, key: &str, ttl: Duration) -> Result<bool> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.seen(project, key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(set.is_some())
    }

    /// Takes a provider delivery for handling: [`DeliveryClaim::New`] marks it in hand for
    /// `in_hand` (the time a publish may take), [`DeliveryClaim::InHand`] when another intake
    /// holds it now (or stopped while holding it, until the mark lapses), and
    /// [`DeliveryClaim::Done`] once [`Store::delivery_done`] recorded it.
    pub async fn claim_delivery(
        &self,
        project: &str,
        key: &str,
        in_hand: Duration,
    ) -> Result<DeliveryClaim> {
        let state: String = self
            .run(&ClaimDelivery {
                seen: self.keys.seen(project, key),
                in_hand_ms: millis(in_hand),
            })
            .await?;
        Ok(match state.as_str() {
            "new" => DeliveryClaim::New,
            "pending" => DeliveryClaim::InHand,
            _ => DeliveryClaim::Done,
        })
    }

    /// Records a delivery as handled, for `ttl`: a repeat of it is a duplicate from then on.
    pub async fn delivery_done(&self, project: &str, key: &str, ttl: Duration) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::cmd("SET")
            .arg(self.keys.seen(project, key))
            .arg("done")
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Forgets `key` (a delivery that could not be published is taken again on retry).
    pub async fn forget_seen(&self, project: &str, key: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::cmd("DEL")
            .arg(self.keys.seen(project, key))
            .query_async(&mut conn)
            .await
            .map(|_: i64| ())
            .map_err(unavailable)?;
        Ok(())
    }

    pub async fn create_webhook_subscription(
        &self,
        project: &str,
        sub: &WebhookSubscription,
        sealed_secret: &[u8],
    ) -> Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::pipe()
            .atomic()
            .hset_multiple(
                self.keys.webhook_subscription(project, &sub.id),
                &[("d", sub.encode_to_vec()), ("s", sealed_secret.to_vec())],
            )
            .ignore()
            .zadd(self.keys.webhook_subscriptions(project), &sub.id, 0)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// A project's webhook subscriptions with their sealed secrets.
    pub async fn webhook_subscriptions(
        &self,
        project: &str,
    ) -> Result<Vec<(WebhookSubscription, Vec<u8>)>> {
        let ids = self
            .range_ids(&self.keys.webhook_subscriptions(project), None, 10_000)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.keys.webhook_subscription(project, id))
                .arg("d")
                .arg("s");
        }
        let mut conn = self.conn.clone();
        let raw: Vec<FieldPair> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        raw.into_iter()
            .filter_map(|(d, s)| d.map(|d| (d, s.unwrap_or_default())))
            .map(|(d, s)| {
                WebhookSubscription::decode(d.as_slice())
                    .map(|sub| (sub, s))
                    .map_err(|e| corrupt("webhook subscription", e))
            })
            .collect()
    }

    pub async fn put_webhook_subscription(
        &self,
        project: &str,
        sub: &WebhookSubscription,
    ) -> Result<()> {
        let done: i64 = self
            .run(&ReplaceRecord {
                hash: self.keys.webhook_subscription(project, &sub.id),
                record: sub.encode_to_vec(),
            })
            .await?;
        if done == 0 {
            return Err(subscription_not_found(&sub.id));
        }
        Ok(())
    }

    pub async fn delete_webhook_subscription(&self, project: &str, id: &str) -> Result<()> {
        if !is_id("whs", id) {
            return Err(subscription_not_found(id));
        }
        let mut conn = self.conn.clone();
        let (deleted, _): (i64, i64) = redis::pipe()
            .atomic()
            .del(self.keys.webhook_subscription(project, id))
            .zrem(self.keys.webhook_subscriptions(project), id)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if deleted == 0 {
            return Err(subscription_not_found(id));
        }
        Ok(())
    }
}

impl Store {
    /// Disables every enabled trigger of an account (it expired, was disabled or deleted);
    /// the triggers it disabled now, for the caller to announce with `trigger.disabled`.
    pub async fn disable_account_triggers(
        &self,
        project: &str,
        account_id: &str,
        reason: &str,
    ) -> Result<Vec<Trigger>> {
        let mut stopped = Vec::new();
        for mut trigger in self.account_triggers(project, account_id).await? {
            if !trigger.enabled {
                continue;
            }
            trigger.enabled = false;
            trigger.status_reason = reason.to_owned();
            trigger.update_time = Some(crate::now_timestamp());
            match self.put_trigger(project, &trigger).await {
                Ok(()) => {
                    self.unschedule_poll(project, &trigger.id).await?;
                    stopped.push(trigger);
                }
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(stopped)
    }
}

impl Store {
    /// The route stored under an identity digest.
    pub async fn route_by_key(&self, project: &str, key_digest: &str) -> Result<Option<Route>> {
        let mut conn = self.conn.clone();
        let id: Option<String> = redis::cmd("GET")
            .arg(self.keys.route_key(project, key_digest))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        match id {
            Some(id) => Ok(self.get_route(project, &id).await?.map(|(r, _)| r)),
            None => Ok(None),
        }
    }

    /// Whether `key` was marked seen (and has not expired).
    pub async fn was_seen(&self, project: &str, key: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("EXISTS")
            .arg(self.keys.seen(project, key))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(n == 1)
    }
}

/// The identity digest a route is stored under: a GitHub hook is one account's on one
/// repository; a Slack channel's deliveries are shared by every trigger watching it.
pub fn route_key(toolkit: &str, account_id: &str, target: &str) -> String {
    use sha2::{Digest, Sha256};
    let identity = match toolkit {
        "github" => format!("github|{account_id}|{target}"),
        other => format!("{other}|{target}"),
    };
    hex::encode(Sha256::digest(identity))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod script_tests {
    use super::*;
    use crate::scripts::testing::{fixture, Fixture};

    fn create<'a>(fx: &Fixture, id: &'a str, route: Option<&'a str>) -> CreateTrigger<'a> {
        let k = fx.keys();
        let p = &fx.project;
        CreateTrigger {
            trigger: k.trigger(p, id),
            upsert_key: k.trigger_key(p, "digest"),
            triggers: k.triggers(p),
            user_triggers: k.user_triggers(p, "u1"),
            account_triggers: k.account_triggers(p, "ca_1"),
            route_triggers: k.route_triggers(p, route.unwrap_or_default()),
            id,
            record: format!("record of {id}").into_bytes(),
            upsert_digest: "digest",
            route_id: route,
        }
    }

    fn delete<'a>(fx: &Fixture, id: &'a str, route: &str) -> DeleteTrigger<'a> {
        let k = fx.keys();
        let p = &fx.project;
        DeleteTrigger {
            trigger: k.trigger(p, id),
            upsert_key: k.trigger_key(p, "digest"),
            triggers: k.triggers(p),
            user_triggers: k.user_triggers(p, "u1"),
            account_triggers: k.account_triggers(p, "ca_1"),
            route_triggers: k.route_triggers(p, route),
            lease: k.poll_lease(p, id),
            cursor: k.poll_cursor(p, id),
            id,
        }
    }

    #[tokio::test]
    async fn create_trigger_stores_once_per_upsert_key() {
        let fx = fixture().await;
        let call = create(&fx, "ti_1", Some("rt_1"));
        assert_eq!(fx.run::<String>(&call).await, "");
        assert_eq!(fx.get(&call.upsert_key).await.unwrap(), b"ti_1");
        assert_eq!(
            fx.hget(&call.trigger, "d").await.unwrap(),
            b"record of ti_1"
        );
        assert_eq!(fx.hget(&call.trigger, "k").await.unwrap(), b"digest");
        assert_eq!(fx.hget(&call.trigger, "r").await.unwrap(), b"rt_1");
        assert_eq!(fx.zmembers(&call.triggers).await, ["ti_1"]);
        assert_eq!(fx.zmembers(&call.user_triggers).await, ["ti_1"]);
        assert_eq!(fx.smembers(&call.account_triggers).await, ["ti_1"]);
        assert_eq!(fx.smembers(&call.route_triggers).await, ["ti_1"]);

        let again = create(&fx, "ti_2", Some("rt_1"));
        assert_eq!(fx.run::<String>(&again).await, "ti_1");
        assert!(!fx.exists(&again.trigger).await);
        assert_eq!(fx.zmembers(&again.triggers).await, ["ti_1"]);
        assert_eq!(fx.smembers(&again.route_triggers).await, ["ti_1"]);
        fx.done().await;
    }

    #[tokio::test]
    async fn a_polling_trigger_joins_no_route() {
        let fx = fixture().await;
        let call = create(&fx, "ti_1", None);
        assert_eq!(fx.run::<String>(&call).await, "");
        assert_eq!(fx.hget(&call.trigger, "r").await.unwrap(), b"");
        assert!(!fx.exists(&call.route_triggers).await);
        fx.done().await;
    }

    #[tokio::test]
    async fn delete_trigger_clears_it_and_counts_what_its_route_has_left() {
        let fx = fixture().await;
        assert_eq!(
            fx.run::<String>(&create(&fx, "ti_1", Some("rt_1"))).await,
            ""
        );
        // A second trigger of the route (another upsert key).
        let mut other = create(&fx, "ti_2", Some("rt_1"));
        other.upsert_key = fx.keys().trigger_key(&fx.project, "other");
        assert_eq!(fx.run::<String>(&other).await, "");

        let call = delete(&fx, "ti_1", "rt_1");
        let () = fx
            .query(redis::cmd("SET").arg(&call.lease).arg("worker"))
            .await;
        let () = fx
            .query(redis::cmd("SET").arg(&call.cursor).arg("c1"))
            .await;
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert!(!fx.exists(&call.trigger).await);
        assert!(!fx.exists(&call.upsert_key).await);
        assert!(!fx.exists(&call.lease).await);
        assert!(!fx.exists(&call.cursor).await);
        assert_eq!(fx.zmembers(&call.triggers).await, ["ti_2"]);
        assert_eq!(fx.zmembers(&call.user_triggers).await, ["ti_2"]);
        assert_eq!(fx.smembers(&call.account_triggers).await, ["ti_2"]);
        assert_eq!(fx.smembers(&call.route_triggers).await, ["ti_2"]);
        // Gone: -1.
        assert_eq!(fx.run::<i64>(&call).await, -1);

        // An upsert key that names another trigger stays.
        let last = delete(&fx, "ti_2", "rt_1");
        let () = fx
            .query(redis::cmd("SET").arg(&last.upsert_key).arg("ti_9"))
            .await;
        assert_eq!(fx.run::<i64>(&last).await, 0);
        assert_eq!(fx.get(&last.upsert_key).await.unwrap(), b"ti_9");
        assert!(!fx.exists(&last.route_triggers).await);
        fx.done().await;
    }

    #[tokio::test]
    async fn replace_record_only_of_an_existing_hash() {
        let fx = fixture().await;
        let call = ReplaceRecord {
            hash: fx.keys().route(&fx.project, "rt_1"),
            record: b"v2".to_vec(),
        };
        assert_eq!(fx.run::<i64>(&call).await, 0);
        assert!(!fx.exists(&call.hash).await);

        let () = fx
            .query(
                redis::cmd("HSET")
                    .arg(&call.hash)
                    .arg("d")
                    .arg("v1")
                    .arg("s")
                    .arg("secret"),
            )
            .await;
        assert_eq!(fx.run::<i64>(&call).await, 1);
        assert_eq!(fx.hget(&call.hash, "d").await.unwrap(), b"v2");
        assert_eq!(fx.hget(&call.hash, "s").await.unwrap(), b"secret");
        fx.done().await;
    }

    #[tokio::test]
    async fn create_route_stores_once_per_identity() {
        let fx = fixture().await;
        let k = fx.keys();
        let p = &fx.project;
        let call = |id: &'static str| CreateRoute {
            route: k.route(p, id),
            route_key: k.route_key(p, "identity"),
            id,
            record: format!("{{\"id\":\"{id}\"}}"),
            sealed_secret: b"sealed",
        };
        let first = call("rt_1");
        assert_eq!(fx.run::<String>(&first).await, "");
        assert_eq!(fx.get(&first.route_key).await.unwrap(), b"rt_1");
        assert_eq!(
            fx.hget(&first.route, "d").await.unwrap(),
            br#"{"id":"rt_1"}"#
        );
        assert_eq!(fx.hget(&first.route, "s").await.unwrap(), b"sealed");

        let second = call("rt_2");
        assert_eq!(fx.run::<String>(&second).await, "rt_1");
        assert!(!fx.exists(&second.route).await);
        fx.done().await;
    }

    #[tokio::test]
    async fn claim_delivery_marks_it_in_hand_once() {
        let fx = fixture().await;
        let call = ClaimDelivery {
            seen: fx.keys().seen(&fx.project, "github:d1"),
            in_hand_ms: 60_000,
        };
        assert_eq!(fx.run::<String>(&call).await, "new");
        assert_eq!(fx.get(&call.seen).await.unwrap(), b"pending");
        let ttl = fx.pttl(&call.seen).await;
        assert!(ttl > 50_000 && ttl <= 60_000, "ttl {ttl}");
        assert_eq!(fx.run::<String>(&call).await, "pending");

        let () = fx
            .query(redis::cmd("SET").arg(&call.seen).arg("done"))
            .await;
        assert_eq!(fx.run::<String>(&call).await, "done");
        assert_eq!(fx.get(&call.seen).await.unwrap(), b"done");
        fx.done().await;
    }
}
