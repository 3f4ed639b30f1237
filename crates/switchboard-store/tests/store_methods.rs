//! The store's methods against a real Redis, end to end through the scripts they call: each
//! method hands its script the right keys and values (the scripts themselves have direct tests
//! in their modules). `SWITCHBOARD_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`; each test
//! under its own key prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use switchboard_core::accounts::{ACTIVE, INITIATED};
use switchboard_core::ids::new_id;
use switchboard_core::Error;
use switchboard_proto::v1::{
    AuthConfig, ConnectedAccount, Execution, ExecutionAccount, ExecutionStatus, SessionConfig,
    Trigger,
};
use switchboard_store::{
    Caller, Claim, Created, DeliveryClaim, Finish, LinkRecord, NewExecution, Route, Store,
};

async fn store() -> Store {
    let url = std::env::var("SWITCHBOARD_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("sbm-{}", new_id("t"));
    if std::env::var("SWITCHBOARD_TEST_REDIS_CLUSTER").is_ok_and(|v| v == "1") {
        Store::connect_cluster(&url, &prefix).await.unwrap()
    } else {
        Store::connect(&url, &prefix).await.unwrap()
    }
}

async fn auth_config(store: &Store, project: &str) -> AuthConfig {
    let config = AuthConfig {
        id: new_id("ac"),
        toolkit: "github".into(),
        ..Default::default()
    };
    store
        .create_auth_config(project, &config, Some(b"secret"))
        .await
        .unwrap();
    config
}

fn account(config: &AuthConfig, user: &str, alias: &str, status: &str) -> ConnectedAccount {
    ConnectedAccount {
        id: new_id("ca"),
        user_id: user.into(),
        toolkit: config.toolkit.clone(),
        auth_config_id: config.id.clone(),
        alias: alias.into(),
        status: status.into(),
        ..Default::default()
    }
}

fn execution(session: &str, account: &ConnectedAccount) -> NewExecution {
    NewExecution {
        execution: Execution {
            id: new_id("ex"),
            session_id: session.into(),
            status: ExecutionStatus::Queued as i32,
            account: Some(ExecutionAccount {
                id: account.id.clone(),
                ..Default::default()
            }),
            idempotency_key: "once".into(),
            arguments_digest: "args".into(),
            ..Default::default()
        },
        arguments_json: r#"{"a":1}"#.into(),
        reply_subject: "reply".into(),
        deadline_ms: 42,
        idempotency_key_digest: Some("digest-of-once".into()),
    }
}

#[tokio::test]
async fn an_execution_from_create_to_finish() {
    let store = store().await;
    let project = store.create_project("p").await.unwrap();
    let project = project.id.as_str();
    let key = store.create_api_key(project, "k").await.unwrap();
    let config = auth_config(&store, project).await;
    let acct = account(&config, "u1", "", ACTIVE);
    store
        .create_account(project, &acct, b"sealed")
        .await
        .unwrap();
    let session = store
        .create_session(project, "u1", SessionConfig::default())
        .await
        .unwrap();

    let caller = Caller::ApiKey(&key.secret);
    let read = store
        .authorized_session(caller, &session.id, true)
        .await
        .unwrap();
    assert_eq!(read.accounts.as_deref(), Some(&[acct.clone()][..]));
    let guard = read.guard(caller);
    let new = execution(&session.id, &acct);
    let id = new.execution.id.clone();
    assert!(matches!(
        store
            .create_execution(project, &new, Some(&guard))
            .await
            .unwrap(),
        Created::New
    ));
    // The same idempotency key: the first execution.
    let again = execution(&session.id, &acct);
    match store
        .create_execution(project, &again, Some(&guard))
        .await
        .unwrap()
    {
        Created::Existing(found) => assert_eq!(found.id, id),
        other => panic!("{other:?}"),
    }
    // The user's account changed since the read: stale, and nothing stored.
    store
        .set_account_status(project, &acct.id, "DISABLED", "test")
        .await
        .unwrap();
    let mut later = execution(&session.id, &acct);
    later.idempotency_key_digest = None;
    assert!(matches!(
        store
            .create_execution(project, &later, Some(&guard))
            .await
            .unwrap(),
        Created::Stale
    ));
    assert!(store
        .get_execution(project, &later.execution.id)
        .await
        .is_err());

    let claim = store
        .claim_execution(project, &id, Duration::from_secs(60))
        .await
        .unwrap();
    let Claim::Claimed(job) = claim else {
        panic!("{claim:?}")
    };
    assert_eq!(job.execution.status(), ExecutionStatus::Running);
    assert_eq!(job.execution.attempts, 1);
    assert_eq!(
        (job.arguments_json.as_str(), job.reply_subject.as_str()),
        (r#"{"a":1}"#, "reply")
    );
    assert_eq!(job.deadline_ms, 42);
    let stored = job.account.unwrap();
    assert_eq!(
        (stored.account.id, stored.sealed),
        (acct.id.clone(), b"sealed".to_vec())
    );
    assert!(matches!(
        store
            .claim_execution(project, &id, Duration::from_secs(60))
            .await
            .unwrap(),
        Claim::Busy(_)
    ));
    assert!(store
        .renew_execution_lease(project, &id, Duration::from_secs(60))
        .await
        .unwrap());

    let mut done = job.execution.clone();
    done.status = ExecutionStatus::Succeeded as i32;
    assert!(!store
        .transition_execution(project, &done, &[ExecutionStatus::Queued])
        .await
        .unwrap());
    assert!(store
        .transition_execution(project, &done, &[ExecutionStatus::Running])
        .await
        .unwrap());
    assert!(matches!(
        store
            .claim_execution(project, &id, Duration::from_secs(60))
            .await
            .unwrap(),
        Claim::Finished(_)
    ));
    assert!(!store
        .renew_execution_lease(project, &id, Duration::from_secs(60))
        .await
        .unwrap());

    // A revoked key stores nothing more.
    store.revoke_api_key(project, &key.key.id).await.unwrap();
    assert!(matches!(
        store.authenticate(&key.secret).await,
        Err(Error::Unauthenticated { .. })
    ));
    let mut revoked = execution(&session.id, &acct);
    revoked.idempotency_key_digest = None;
    assert!(matches!(
        store
            .create_execution(project, &revoked, Some(&guard))
            .await,
        Err(Error::Unauthenticated { .. })
    ));
    store.purge_prefix().await.unwrap();
}

#[tokio::test]
async fn sessions_update_and_delete() {
    let store = store().await;
    let project = new_id("prj");
    let session = store
        .create_session(&project, "u1", SessionConfig::default())
        .await
        .unwrap();
    let next = store
        .update_session(&project, &session.id, Some(1), |s| {
            Ok(s.config.clone().unwrap_or_default())
        })
        .await
        .unwrap();
    assert_eq!(next.config_version, 2);
    let stale = store
        .update_session(&project, &session.id, Some(1), |s| {
            Ok(s.config.clone().unwrap_or_default())
        })
        .await;
    assert!(matches!(stale, Err(Error::Aborted { .. })));
    assert_eq!(
        store
            .get_session(&project, &session.id)
            .await
            .unwrap()
            .config_version,
        2
    );

    store.delete_session(&project, &session.id).await.unwrap();
    assert!(store.get_session(&project, &session.id).await.is_err());
    let page = store
        .list_sessions(&project, Some("u1"), None, 10)
        .await
        .unwrap();
    assert!(page.sessions.is_empty());
    store.purge_prefix().await.unwrap();
}

#[tokio::test]
async fn accounts_and_connect_links() {
    let store = store().await;
    let project = new_id("prj");
    let project = project.as_str();
    let config = auth_config(&store, project).await;
    store
        .update_auth_config(project, &config, Some(b"new secret"))
        .await
        .unwrap();
    assert_eq!(
        store.auth_config_secret(project, &config.id).await.unwrap(),
        Some(b"new secret".to_vec())
    );

    let acct = account(&config, "u1", "work", INITIATED);
    let record = LinkRecord {
        id: new_id("cr"),
        session_id: new_id("ses"),
        user_id: "u1".into(),
        toolkit: "github".into(),
        auth_config_id: config.id.clone(),
        account_id: acct.id.clone(),
        scheme: "OAUTH2".into(),
        status: INITIATED.into(),
        status_reason: String::new(),
        callback_url: String::new(),
        scopes: Vec::new(),
        create_ms: 0,
        expire_ms: i64::MAX,
        reconnect: false,
        link_hash: "link-hash".into(),
        state_hash: "state-1".into(),
        sealed_verifier: String::new(),
    };
    let ttl = Duration::from_secs(600);
    store
        .start_link(project, &record, ttl, Some(&acct))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_account(project, &acct.id)
            .await
            .unwrap()
            .account
            .status,
        INITIATED
    );
    // Another account with the same alias.
    let mut other = record.clone();
    other.id = new_id("cr");
    other.link_hash = "other-link".into();
    let twin = account(&config, "u1", "work", INITIATED);
    other.account_id = twin.id.clone();
    assert!(matches!(
        store.start_link(project, &other, ttl, Some(&twin)).await,
        Err(Error::AlreadyExists { .. })
    ));

    assert!(store
        .set_link_state(project, &record, "", ttl)
        .await
        .unwrap());
    assert_eq!(
        store
            .take_state(project, "state-1")
            .await
            .unwrap()
            .map(|r| r.id),
        Some(record.id.clone())
    );
    assert_eq!(store.take_state(project, "state-1").await.unwrap(), None);

    let mut ended = record.clone();
    ended.status = ACTIVE.into();
    let mut active = acct.clone();
    active.status = ACTIVE.into();
    let finish = || Finish {
        record: &ended,
        account: Some(&active),
        sealed: Some(b"tokens"),
    };
    assert!(store.finish_link(project, finish()).await.unwrap());
    assert!(!store.finish_link(project, finish()).await.unwrap());
    assert_eq!(
        store.link_by_token(project, "link-hash").await.unwrap(),
        None
    );
    let stored = store.get_account(project, &acct.id).await.unwrap();
    assert_eq!(
        (stored.account.status.as_str(), stored.sealed.as_slice()),
        (ACTIVE, &b"tokens"[..])
    );
    assert_eq!(
        store.user_accounts(project, "u1").await.unwrap(),
        [active.clone()]
    );

    let ttl = Duration::from_secs(30);
    assert!(store
        .try_refresh_lock(project, &acct.id, "me", ttl)
        .await
        .unwrap());
    assert!(store
        .store_tokens(project, &active, b"refreshed", "me")
        .await
        .unwrap());
    assert!(store
        .try_refresh_lock(project, &acct.id, "other", ttl)
        .await
        .unwrap());
    store
        .release_refresh_lock(project, &acct.id, "me")
        .await
        .unwrap();
    assert!(!store
        .try_refresh_lock(project, &acct.id, "me", ttl)
        .await
        .unwrap());
    store
        .release_refresh_lock(project, &acct.id, "other")
        .await
        .unwrap();
    assert!(store
        .try_refresh_lock(project, &acct.id, "me", ttl)
        .await
        .unwrap());

    assert!(matches!(
        store.delete_auth_config(project, &config.id).await,
        Err(Error::FailedPrecondition { .. })
    ));
    store.delete_account(project, &acct.id).await.unwrap();
    assert!(store.user_accounts(project, "u1").await.unwrap().is_empty());
    // The alias is free again.
    store.create_account(project, &twin, b"").await.unwrap();
    store.delete_account(project, &twin.id).await.unwrap();
    store.delete_auth_config(project, &config.id).await.unwrap();
    assert_eq!(
        store.auth_config_secret(project, &config.id).await.unwrap(),
        None
    );
    store.purge_prefix().await.unwrap();
}

#[tokio::test]
async fn triggers_routes_and_deliveries() {
    let store = store().await;
    let project = new_id("prj");
    let project = project.as_str();
    let route = Route {
        id: new_id("rt"),
        toolkit: "github".into(),
        account_id: "ca_1".into(),
        target: "acme/api".into(),
        provider_hook_id: String::new(),
        events: vec!["push".into()],
    };
    let (found, created) = store.route_for(project, "rk", &route, b"s").await.unwrap();
    assert!(created && found == route);
    let mut second = route.clone();
    second.id = new_id("rt");
    let (found, created) = store.route_for(project, "rk", &second, b"s").await.unwrap();
    assert!(!created && found == route);
    let mut hooked = route.clone();
    hooked.provider_hook_id = "42".into();
    store.put_route(project, &hooked).await.unwrap();
    assert_eq!(
        store.route_by_key(project, "rk").await.unwrap(),
        Some(hooked)
    );

    let trigger = Trigger {
        id: new_id("ti"),
        r#type: "push".into(),
        user_id: "u1".into(),
        connected_account_id: "ca_1".into(),
        enabled: true,
        ..Default::default()
    };
    assert_eq!(
        store
            .create_trigger(project, &trigger, "td", &route.id)
            .await
            .unwrap(),
        None
    );
    let mut twin = trigger.clone();
    twin.id = new_id("ti");
    assert_eq!(
        store
            .create_trigger(project, &twin, "td", &route.id)
            .await
            .unwrap(),
        Some(trigger.id.clone())
    );
    assert_eq!(
        store.route_triggers(project, &route.id).await.unwrap(),
        std::slice::from_ref(&trigger)
    );
    let mut sibling = trigger.clone();
    sibling.id = new_id("ti");
    sibling.r#type = "pull_request".into();
    assert_eq!(
        store
            .create_trigger(project, &sibling, "td2", &route.id)
            .await
            .unwrap(),
        None
    );
    let stopped = store
        .disable_account_triggers(project, "ca_1", "gone")
        .await
        .unwrap();
    assert_eq!(stopped.len(), 2);
    assert!(
        !store
            .get_trigger(project, &trigger.id)
            .await
            .unwrap()
            .trigger
            .enabled
    );
    let (stored, left) = store.delete_trigger(project, &trigger.id).await.unwrap();
    assert_eq!(
        (stored.route_id.as_str(), left),
        (route.id.as_str(), Some(1))
    );
    let (_, left) = store.delete_trigger(project, &sibling.id).await.unwrap();
    assert_eq!(left, Some(0));
    assert!(matches!(
        store.put_trigger(project, &trigger).await,
        Err(Error::NotFound { .. })
    ));
    // The upsert key is free again.
    assert_eq!(
        store
            .create_trigger(project, &twin, "td", "")
            .await
            .unwrap(),
        None
    );

    let hand = Duration::from_secs(30);
    assert_eq!(
        store.claim_delivery(project, "d1", hand).await.unwrap(),
        DeliveryClaim::New
    );
    assert_eq!(
        store.claim_delivery(project, "d1", hand).await.unwrap(),
        DeliveryClaim::InHand
    );
    store.delivery_done(project, "d1", hand).await.unwrap();
    assert_eq!(
        store.claim_delivery(project, "d1", hand).await.unwrap(),
        DeliveryClaim::Done
    );
    store.purge_prefix().await.unwrap();
}
