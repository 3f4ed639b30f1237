//! CreateSession and GetSession: throughput at the bench's concurrency, latency one at a time.

use std::sync::Arc;

use anyhow::Context;
use switchboard_proto::v1::{
    CreateSessionRequest, GetSessionRequest, SessionConfig, SlugList, ToolkitFilter,
};

use super::load::{latency, throughput, Outcome};
use super::report::Row;
use super::{BenchArgs, Client};

fn create_request(i: u64) -> CreateSessionRequest {
    CreateSessionRequest {
        user_id: format!("bench_user_{}", i % 1000),
        config: Some(SessionConfig {
            toolkits: Some(ToolkitFilter {
                enable: Some(SlugList {
                    slugs: vec!["github".into(), "slack".into()],
                }),
                disable: None,
            }),
            ..Default::default()
        }),
    }
}

fn outcome<T>(result: Result<T, tonic::Status>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Error(format!("{:?}: {}", e.code(), e.message())),
    }
}

/// The CreateSession and GetSession rows.
pub async fn measure(clients: &Arc<Vec<Client>>, args: &BenchArgs) -> anyhow::Result<[Row; 2]> {
    let first = clients[0]
        .clone()
        .create_session(create_request(0))
        .await
        .context("warm-up CreateSession failed")?
        .into_inner()
        .session
        .context("no session")?;
    let session_id: Arc<str> = first.id.into();

    let create_rate = throughput(args.concurrency, args.duration(), {
        let clients = Arc::clone(clients);
        move |task, i| {
            let mut c = clients[task % clients.len()].clone();
            async move { outcome(c.create_session(create_request(i)).await) }
        }
    })
    .await;
    let get_rate = throughput(args.concurrency, args.duration(), {
        let (clients, id) = (Arc::clone(clients), Arc::clone(&session_id));
        move |task, _| {
            let mut c = clients[task % clients.len()].clone();
            let session_id = id.to_string();
            async move { outcome(c.get_session(GetSessionRequest { session_id }).await) }
        }
    })
    .await;

    let one = &clients[0];
    let create_lat = latency(args.latency_samples, |i| {
        let mut c = one.clone();
        async move { outcome(c.create_session(create_request(i)).await) }
    })
    .await?;
    let get_lat = latency(args.latency_samples, |_| {
        let mut c = one.clone();
        let session_id = session_id.to_string();
        async move { outcome(c.get_session(GetSessionRequest { session_id }).await) }
    })
    .await?;
    Ok([
        Row::new("CreateSession", create_rate, create_lat),
        Row::new("GetSession", get_rate, get_lat),
    ])
}
