//! ExecuteTool throughput against a 3-node NATS JetStream cluster (started for the run by
//! `scripts/clusters.sh`), with the job and event streams at 1 and at 3 replicas, and 1, 2 and
//! 3 worker processes: what replication costs and what more workers give on this machine.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchboard_config::Config;
use switchboard_proto::v1::session_service_client::SessionServiceClient;
use switchboard_store::Store;

use super::load::throughput;
use super::{execute, procs, ApiKey, BenchArgs, Client};

/// The started cluster (stopped on drop).
struct Cluster {
    dir: String,
    nats_url: String,
}

impl Cluster {
    fn start() -> anyhow::Result<Cluster> {
        let out = std::process::Command::new("scripts/clusters.sh")
            .arg("start")
            .output()
            .context("scripts/clusters.sh (run the bench from the repository root)")?;
        anyhow::ensure!(
            out.status.success(),
            "the NATS cluster did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export ").and_then(|l| l.split_once('=')))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        Ok(Cluster {
            dir: env
                .get("SB_CLUSTERS_DIR")
                .cloned()
                .context("no cluster dir")?,
            nats_url: env
                .get("SWITCHBOARD_TEST_NATS_URL")
                .cloned()
                .context("no NATS urls")?,
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("scripts/clusters.sh")
            .args(["stop", &self.dir])
            .status();
    }
}

/// Prints the table; errors are reported, not fatal to the rest of the bench.
pub async fn report(base: &Config, args: &BenchArgs) {
    if let Err(e) = run(base, args).await {
        println!();
        println!("clustered NATS throughput: not measured ({e:#})");
    }
}

async fn run(base: &Config, args: &BenchArgs) -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let mut rows = Vec::new();
    for replicas in [1usize, 3] {
        let mut row = Vec::new();
        for workers in 1..=3 {
            let mut config = base.clone();
            let unique = ulid::Ulid::new().to_string().to_lowercase();
            config.nats.url = cluster.nats_url.clone();
            config.nats.replicas = replicas;
            config.nats.stream_prefix = format!("SBBC_{}", unique.to_uppercase());
            config.nats.subject_prefix = format!("sbbc{unique}");
            config.redis.key_prefix = format!("sbbc-{unique}");
            row.push(one(&config, workers, args).await?);
        }
        rows.push((replicas, row));
    }
    println!();
    println!(
        "ExecuteTool throughput on a 3-node NATS JetStream cluster (concurrency {}, {} s each), calls/s:",
        args.concurrency,
        args.duration().as_secs()
    );
    println!(
        "  {:<22} {:>10} {:>10} {:>10}",
        "", "1 worker", "2 workers", "3 workers"
    );
    for (replicas, row) in rows {
        println!(
            "  {:<22} {:>10.0} {:>10.0} {:>10.0}",
            format!("streams R{replicas}"),
            row[0],
            row[1],
            row[2]
        );
    }
    Ok(())
}

async fn one(config: &Config, workers: usize, args: &BenchArgs) -> anyhow::Result<f64> {
    let store = Store::from_config(&config.redis).await?;
    let project = store.create_project("bench-cluster").await?;
    let key = store.create_api_key(&project.id, "bench").await?;
    let key = ApiKey(key.secret.parse().context("api key header")?);
    let mut procs = procs::Procs::start_with(config, workers, false).await?;
    let channel = super::connect(&format!("http://{}", procs.grpc_addr)).await?;
    let client: Client = SessionServiceClient::with_interceptor(channel.clone(), key.clone());
    let (session_id, _) = execute::prepare(channel, key, &client).await?;
    execute::warm_up(&client, &session_id).await?;
    let clients = Arc::new(vec![client]);
    let rate = throughput(args.concurrency, args.duration(), {
        let (clients, session_id) = (Arc::clone(&clients), session_id.clone());
        move |_, _| {
            let (client, session_id) = (clients[0].clone(), session_id.clone());
            async move { execute::run_once(client, &session_id).await }
        }
    })
    .await;
    procs.check_running()?;
    let _ = procs.stop(Duration::from_secs(20)).await;
    let _ = store.purge_prefix().await;
    if let Ok(bus) = switchboard_bus::Bus::from_config(&config.nats, Duration::from_secs(5)).await {
        bus.delete_streams().await;
    }
    Ok(rate.per_sec)
}
