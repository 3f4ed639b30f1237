//! `switchboard bench`: runs the gateway and one worker as child processes against the
//! configured Redis and NATS (with private prefixes it removes afterwards) and a provider
//! stand-in in this process, then prints throughput at high concurrency and latency
//! percentiles at concurrency 1 for CreateSession, GetSession, ExecuteTool end to end and a
//! direct HTTP call to the stand-in, the time ExecuteTool adds, and the children's peak
//! memory. Figures, not assertions: the machine decides what they are.

mod cluster;
mod execute;
mod load;
mod mcp;
mod procs;
mod report;
mod search;
mod sessions;
mod standin;
mod triggers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use switchboard_config::Config;
use switchboard_proto::v1::session_service_client::SessionServiceClient;
use switchboard_store::Store;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use load::Latency;
use report::{Breakdown, Row};

#[derive(Args)]
pub struct BenchArgs {
    /// Seconds each throughput phase runs.
    #[arg(long, default_value_t = 5)]
    duration_secs: u64,
    /// Concurrent callers in the throughput phases.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Calls measured one at a time for the latency phases.
    #[arg(long, default_value_t = 2000)]
    latency_samples: usize,
    /// HTTP/2 connections the callers share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

impl BenchArgs {
    fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs.max(1))
    }
}

/// Adds the project API key to every call.
#[derive(Clone)]
struct ApiKey(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for ApiKey {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("x-api-key", self.0.clone());
        Ok(req)
    }
}

type Client =
    SessionServiceClient<tonic::service::interceptor::InterceptedService<Channel, ApiKey>>;

pub async fn run(mut config: Config, args: BenchArgs) -> anyhow::Result<()> {
    let unique = ulid::Ulid::new().to_string().to_lowercase();
    config.gateway.grpc_addr = "127.0.0.1:0".into();
    config.gateway.http_addr = "127.0.0.1:0".into();
    config.redis.key_prefix = format!("sbbench-{unique}");
    config.nats.stream_prefix = format!("SBBENCH_{}", unique.to_uppercase());
    config.nats.subject_prefix = format!("sbbench{unique}");
    if config.crypto.current_key.is_empty() {
        config
            .crypto
            .keys
            .insert("bench".into(), switchboard_crypto::generate_key());
        config.crypto.current_key = "bench".into();
    }
    if let Ok(dir) = config.catalog.dir.canonicalize() {
        config.catalog.dir = dir;
    }
    if config.telemetry.log_filter == "info" {
        // The children's stderr is the bench's: only what needs attention.
        config.telemetry.log_filter = "warn".into();
    }
    // The triggers child listens on a port chosen now, so the gateway registers hooks with it.
    let webhook_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    config.triggers.http_addr = format!("127.0.0.1:{webhook_port}");
    config.triggers.public_url = Some(format!("http://127.0.0.1:{webhook_port}"));
    let standin = standin::StandIn::start().await?;
    config
        .catalog
        .base_urls
        .insert("github".into(), standin.url.clone());

    let store = Store::from_config(&config.redis)
        .await
        .context("failed to reach Redis")?;
    let result = tokio::select! {
        r = measure(&config, &store, &standin, &args) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // Against a NATS cluster, with the same provider stand-in (its own prefixes, cleaned up).
    if result.is_ok() {
        cluster::report(&config, &args).await;
    }
    // The children are gone by now (stopped, or killed when `measure` ended early).
    standin.stop().await;
    let removed = store.purge_prefix().await.unwrap_or(0);
    if let Ok(bus) = switchboard_bus::Bus::connect(
        &config.nats.url,
        switchboard_bus::Names {
            stream_prefix: config.nats.stream_prefix.clone(),
            subject_prefix: config.nats.subject_prefix.clone(),
        },
        Duration::from_secs(5),
    )
    .await
    {
        bus.delete_streams().await;
    }
    println!("cleaned up {removed} bench keys and the bench streams");
    result?;
    search::report(&config)
}

/// What the phases measured.
struct Figures {
    create: Row,
    get: Row,
    exec: Row,
    breakdown: [Breakdown; 2],
    gateway_only: Latency,
    direct: Row,
    mcp_execute: Row,
    mcp_search: Row,
    webhooks: triggers::Figures,
}

async fn measure(
    config: &Config,
    store: &Store,
    standin: &standin::StandIn,
    args: &BenchArgs,
) -> anyhow::Result<()> {
    let project = store.create_project("bench").await?;
    let key = store.create_api_key(&project.id, "bench").await?;
    let key = ApiKey(key.secret.parse().context("api key header")?);

    let mut procs = procs::Procs::start(config).await?;
    let figures = match phases(config, &procs.grpc_addr, key, standin, args).await {
        Ok(figures) => figures,
        // A child that died is the likelier story than the symptom the load generator saw.
        Err(e) => {
            return Err(match procs.exited_within(Duration::from_secs(2)).await {
                Some(exited) => e.context(exited.to_string()),
                None => e,
            })
        }
    };
    procs.check_running()?;
    let (gateway_kib, worker_kib) = procs.peak_kib();
    let triggers_kib = procs.triggers_peak_kib();
    let started_stopping = Instant::now();
    let stopped = procs.stop(Duration::from_secs(30)).await;
    let stopping = started_stopping.elapsed();

    let Figures {
        create,
        get,
        exec,
        breakdown,
        gateway_only,
        direct,
        mcp_execute,
        mcp_search,
        webhooks,
    } = figures;
    report::table(&[&create, &get, &exec, &direct, &mcp_execute, &mcp_search]);
    report::goals(&create, &exec, &direct, args.concurrency);
    report::mcp_goals(&exec, &mcp_execute, &mcp_search);
    webhooks.print();
    report::breakdown(&breakdown, args.concurrency, &gateway_only, &get);
    let mib = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    println!();
    println!(
        "peak memory (VmHWM): gateway {}, worker {}, triggers {}",
        mib(gateway_kib),
        mib(worker_kib),
        mib(triggers_kib)
    );
    println!(
        "stand-in answered {} requests; stopped in {:.1} s: {}",
        standin.hits(),
        stopping.as_secs_f64(),
        stopped.join(", ")
    );
    Ok(())
}

/// Runs every phase against the gateway at `addr`. Its connections close on return, so the
/// gateway has none to drain when it is stopped.
async fn phases(
    config: &Config,
    addr: &str,
    key: ApiKey,
    standin: &standin::StandIn,
    args: &BenchArgs,
) -> anyhow::Result<Figures> {
    let mut channels = Vec::new();
    for _ in 0..args.connections.max(1) {
        channels.push(connect(&format!("http://{addr}")).await?);
    }
    let clients: Arc<Vec<Client>> = Arc::new(
        channels
            .iter()
            .map(|c| SessionServiceClient::with_interceptor(c.clone(), key.clone()))
            .collect(),
    );

    println!(
        "switchboard bench — gateway and 1 worker as child processes (gateway on {addr}), \
         provider stand-in {}, Redis {}, NATS {}",
        standin.url, config.redis.url, config.nats.url
    );
    println!(
        "{} cores; throughput at concurrency {} over {} connection(s), {} s a phase; \
         latency at concurrency 1, {} calls; worker concurrency {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        args.concurrency,
        args.connections.max(1),
        args.duration_secs,
        args.latency_samples,
        config.worker.concurrency,
    );

    let [create, get] = sessions::measure(&clients, args).await?;
    let (session_id, endpoint) =
        execute::prepare(channels[0].clone(), key.clone(), &clients[0]).await?;
    execute::warm_up(&clients[0], &session_id).await?;
    let (exec, breakdown) = execute::measure_execute(&clients, &session_id, args).await?;
    let gateway_only =
        execute::measure_async(&clients[0], &session_id, args.latency_samples).await?;
    let direct = execute::measure_direct(&standin.url, args).await?;
    let [mcp_execute, mcp_search] =
        mcp::measure_all(&endpoint, &config.sessions.meta_tool_prefix, args).await?;
    let webhooks = triggers::measure(channels[0].clone(), key.clone(), standin, args).await?;
    Ok(Figures {
        webhooks,
        mcp_execute,
        mcp_search,
        create,
        get,
        exec,
        breakdown,
        gateway_only,
        direct,
    })
}

async fn connect(url: &str) -> anyhow::Result<Channel> {
    let endpoint = Channel::from_shared(url.to_owned())?;
    for _ in 0..100 {
        if let Ok(channel) = endpoint.connect().await {
            return Ok(channel);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the gateway at {url} did not accept connections")
}
