//! The bus against a real NATS server with JetStream (`SWITCHBOARD_TEST_NATS_URL`, default the
//! local one), each test on its own stream and subject prefix: a full job stream refused by
//! its JetStream error code, jobs and events consumed as the values published (event data
//! exactly), a payload that is no job refused while the jobs after it still arrive, replies
//! whole or (too large) pointing at the store, the four acknowledgements, and the connection
//! signal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use switchboard_bus::events::{Envelope, Metadata, TRIGGER_MESSAGE};
use switchboard_bus::{Bus, DecodeError, Deliveries, Delivery, Job, Names, PublishError};
use switchboard_proto::v1::{Execution, ExecutionStatus};

const WAIT: Duration = Duration::from_secs(10);

/// A bus on a fresh prefix, with its streams (at most `max_jobs` queued jobs).
async fn bus(max_jobs: i64) -> Bus {
    let url = std::env::var("SWITCHBOARD_TEST_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let id = ulid::Ulid::new().to_string();
    let names = Names {
        stream_prefix: format!("BT{id}"),
        subject_prefix: format!("bt{}", id.to_lowercase()),
    };
    let bus = Bus::connect(&url, names, WAIT).await.expect("connect");
    bus.ensure_streams(max_jobs, 1).await.expect("streams");
    assert!(bus.has_streams().await);
    bus
}

fn job(n: u32) -> Job {
    Job {
        project_id: "prj_bus".into(),
        execution_id: format!("ex_{n}"),
    }
}

#[tokio::test]
async fn a_full_job_stream_is_told_apart_from_other_failures() {
    let bus = bus(2).await;
    bus.publish_job("github", &job(1), "").await.unwrap();
    bus.publish_job("github", &job(2), "").await.unwrap();
    let err = bus.publish_job("github", &job(3), "").await.unwrap_err();
    assert!(matches!(err, PublishError::Full), "{err:?}");
    // The same execution again is one job (its id is the message id): not a third.
    bus.publish_job("github", &job(2), "").await.unwrap();
    bus.delete_streams().await;
}

#[tokio::test]
async fn deliveries_are_acknowledged_retried_and_rejected() {
    let bus = bus(100).await;
    let consumer = bus
        .jobs_consumer(Duration::from_secs(30), 5, 100)
        .await
        .unwrap();
    bus.publish_job(
        "github",
        &job(1),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    .await
    .unwrap();
    let mut deliveries = consumer.deliveries(8).await.unwrap();
    let first = tokio::time::timeout(WAIT, deliveries.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.delivered(), 1);
    assert!(first.stream_sequence() > 0);
    assert_eq!(
        first.header(switchboard_bus::headers::TRACEPARENT),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    );
    assert_eq!(first.job().unwrap(), job(1));
    first.in_progress().await.unwrap();
    first.retry(None).await.unwrap();
    let again = tokio::time::timeout(WAIT, deliveries.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(again.delivered(), 2, "a retried message comes back");
    again.reject().await.unwrap();
    bus.publish_job("github", &job(2), "").await.unwrap();
    let next = tokio::time::timeout(WAIT, deliveries.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        next.job().unwrap(),
        job(2),
        "the rejected job is not delivered again"
    );
    next.ack().await.unwrap();
    // The acknowledgement reaches the server a moment later.
    drained(&consumer).await;
    bus.delete_streams().await;
}

/// The next delivery, within [`WAIT`].
async fn next(deliveries: &mut Deliveries) -> Delivery {
    tokio::time::timeout(WAIT, deliveries.next())
        .await
        .expect("a delivery in time")
        .expect("the deliveries go on")
        .expect("a delivery")
}

/// Waits until `consumer` has nothing waiting or unacknowledged.
async fn drained(consumer: &switchboard_bus::Consumer) {
    let mut reader = consumer.clone();
    let start = tokio::time::Instant::now();
    while reader.backlog().await != Some(0) {
        assert!(
            start.elapsed() < WAIT,
            "something still waits or is unacknowledged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_payload_that_is_no_job_is_refused_and_the_next_job_still_arrives() {
    let bus = bus(100).await;
    let consumer = bus
        .jobs_consumer(Duration::from_secs(30), 5, 100)
        .await
        .unwrap();
    let mut deliveries = consumer.deliveries(8).await.unwrap();
    // Bytes on the job subject that no service published: garbage, the JSON envelope jobs
    // used to be, an empty message (every protobuf field empty).
    let url = std::env::var("SWITCHBOARD_TEST_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let raw = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    for garbage in [
        &b"\xff\xfe not a job"[..],
        br#"{"project_id":"prj_bus","execution_id":"ex_9"}"#,
        b"",
    ] {
        raw.publish(bus.names.job_subject("github"), garbage.to_vec().into())
            .await
            .unwrap()
            .await
            .unwrap();
        let bad = next(&mut deliveries).await;
        let err = bad.job().unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Protobuf { .. } | DecodeError::Missing { .. }
            ),
            "{err:?}"
        );
        bad.reject().await.unwrap();
    }
    bus.publish_job("github", &job(1), "").await.unwrap();
    let good = next(&mut deliveries).await;
    assert_eq!(good.job().unwrap(), job(1), "the consumer goes on");
    assert_eq!(good.delivered(), 1);
    good.ack().await.unwrap();
    // The refused payloads are gone for good: nothing comes back.
    drained(&consumer).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), deliveries.next())
            .await
            .is_err(),
        "a refused payload was delivered again"
    );
    bus.delete_streams().await;
}

fn event(user_id: &str, data: serde_json::Value) -> Envelope {
    switchboard_bus::events::envelope(
        TRIGGER_MESSAGE,
        Metadata {
            project_id: "prj_bus".into(),
            trigger_slug: "GITHUB_ISSUE_OPENED".into(),
            trigger_id: "ti_1".into(),
            connected_account_id: "ca_1".into(),
            auth_config_id: "ac_1".into(),
            user_id: user_id.into(),
            toolkit: "github".into(),
        },
        data,
    )
}

#[tokio::test]
async fn events_are_consumed_as_published_with_their_data_exact() {
    let bus = bus(10).await;
    let consumer = bus
        .events_consumer(
            None,
            bus.names.user_events("prj_bus", "ada@example.com"),
            Duration::from_secs(30),
        )
        .await
        .unwrap()
        .unwrap();
    let mut deliveries = consumer.deliveries(8).await.unwrap();
    // Another user's event, then ada's: the filter lets only ada's through.
    bus.publish_envelope(&event("grace", serde_json::json!({"n": 1})))
        .await
        .unwrap();
    let big = "x".repeat(200_000);
    let data = serde_json::json!({
        "issue": {
            "id": 18446744073709551615u64,
            "number": -9007199254740993i64,
            "score": 0.30000000000000004,
            "title": "Ünïcödé 🚀 \u{0} \"quoted\" \\ back",
            "labels": [{"name": "bug"}, null, true, [], {}],
        },
        "big": big,
    });
    let published = event("ada@example.com", data.clone());
    let sequence = bus.publish_envelope(&published).await.unwrap();
    let delivery = next(&mut deliveries).await;
    assert_eq!(
        delivery.stream_sequence(),
        sequence,
        "grace's event is filtered out"
    );
    assert_eq!(
        delivery.header(switchboard_bus::headers::EVENT_TYPE),
        Some(TRIGGER_MESSAGE)
    );
    let consumed = delivery.event().unwrap();
    assert_eq!(consumed, published);
    assert_eq!(consumed.data["issue"]["id"].as_u64(), Some(u64::MAX));
    assert_eq!(
        consumed.data["issue"]["number"].as_i64(),
        Some(-9007199254740993)
    );
    // What a webhook subscriber is sent is the JSON of the event as it was published.
    assert_eq!(
        consumed.webhook_body().unwrap(),
        serde_json::to_vec(&published).unwrap()
    );
    let body: serde_json::Value =
        serde_json::from_slice(&consumed.webhook_body().unwrap()).unwrap();
    assert_eq!(body["type"], TRIGGER_MESSAGE);
    assert_eq!(body["metadata"]["user_id"], "ada@example.com");
    assert_eq!(body["data"], data);
    delivery.ack().await.unwrap();
    bus.delete_streams().await;
}

#[tokio::test]
async fn replies_are_whole_or_point_at_the_store_when_too_large() {
    let bus = bus(10).await;
    let mut replies = bus.replies("gw1").await.unwrap();
    let small = Execution {
        id: "ex_small".into(),
        status: ExecutionStatus::Succeeded as i32,
        tool_slug: "GITHUB_GET_ISSUE".into(),
        ..Default::default()
    };
    let subject = bus.names.result_subject("gw1", &small.id);
    bus.reply(&subject, &small).await.unwrap();
    let reply = tokio::time::timeout(WAIT, replies.next())
        .await
        .unwrap()
        .unwrap();
    assert!(!reply.in_store_only);
    assert_eq!(reply.execution, small);

    // Larger than the server takes in one message (1 MiB by default).
    let large = Execution {
        id: "ex_large".into(),
        status: ExecutionStatus::Succeeded as i32,
        tool_slug: "x".repeat(2 * 1024 * 1024),
        ..Default::default()
    };
    bus.reply(&bus.names.result_subject("gw1", &large.id), &large)
        .await
        .unwrap();
    let reply = tokio::time::timeout(WAIT, replies.next())
        .await
        .unwrap()
        .unwrap();
    assert!(reply.in_store_only, "the gateway is told to read the store");
    assert_eq!(reply.execution.id, "ex_large");
    assert_eq!(reply.execution.status(), ExecutionStatus::Succeeded);
    assert!(reply.execution.tool_slug.is_empty());

    // Another gateway's replies never arrive here.
    bus.reply(&bus.names.result_subject("gw2", "ex_other"), &small)
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), replies.next())
            .await
            .is_err(),
        "gw1 got gw2's reply"
    );
    bus.delete_streams().await;
}

#[tokio::test]
async fn connection_endings_signal_one_request_or_any_of_the_project() {
    let bus = bus(10).await;
    let mut one = bus.connection_endings("prj_a", Some("cr_1")).await.unwrap();
    let mut any = bus.connection_endings("prj_a", None).await.unwrap();
    let mut other_project = bus.connection_endings("prj_b", None).await.unwrap();
    bus.announce_connection_ended("prj_a", "cr_2")
        .await
        .unwrap();
    bus.announce_connection_ended("prj_a", "cr_1")
        .await
        .unwrap();
    tokio::time::timeout(WAIT, any.next())
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(WAIT, any.next())
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(WAIT, one.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), one.next())
            .await
            .is_err(),
        "cr_1's listener heard only cr_1"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other_project.next())
            .await
            .is_err(),
        "another project heard nothing"
    );
    bus.delete_streams().await;
}

#[tokio::test]
async fn catalog_changes_reach_every_listener_with_project_and_version() {
    let mine = bus(10).await;
    let mut first = mine.catalog_changes().await.unwrap();
    let mut second = mine.catalog_changes().await.unwrap();
    mine.announce_catalog_change("prj_a", 3).await.unwrap();
    mine.announce_catalog_change("prj_b", 1).await.unwrap();
    for listener in [&mut first, &mut second] {
        let a = tokio::time::timeout(WAIT, listener.next()).await.unwrap();
        let b = tokio::time::timeout(WAIT, listener.next()).await.unwrap();
        assert_eq!(a, Some(("prj_a".to_owned(), 3)));
        assert_eq!(b, Some(("prj_b".to_owned(), 1)));
    }
    // Another prefix's changes are not ours.
    let other = bus(10).await;
    other.announce_catalog_change("prj_a", 9).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), first.next())
            .await
            .is_err()
    );
    mine.delete_streams().await;
    other.delete_streams().await;
}
