//! The bus against a real NATS server with JetStream (`SWITCHBOARD_TEST_NATS_URL`, default the
//! local one), each test on its own stream and subject prefix: a full job stream refused by
//! its JetStream error code, replies whole or (too large) pointing at the store, the four
//! acknowledgements, and the connection signal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use switchboard_bus::{Bus, Job, Names, PublishError};
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
    let parsed: Job = serde_json::from_slice(first.payload()).unwrap();
    assert_eq!(parsed, job(1));
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
    let parsed: Job = serde_json::from_slice(next.payload()).unwrap();
    assert_eq!(parsed, job(2), "the rejected job is not delivered again");
    next.ack().await.unwrap();
    // The acknowledgement reaches the server a moment later.
    let mut reader = consumer.clone();
    let start = tokio::time::Instant::now();
    while reader.backlog().await != Some(0) {
        assert!(
            start.elapsed() < WAIT,
            "something still waits or is unacknowledged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
