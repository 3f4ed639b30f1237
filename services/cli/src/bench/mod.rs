//! `switchboard bench`: runs the gateway and one worker as child processes against the
//! configured Redis and NATS (with private prefixes it removes afterwards) and a provider
//! stand-in in this process, then prints throughput at high concurrency and latency
//! percentiles at concurrency 1 for CreateSession, GetSession, ExecuteTool end to end and a
//! direct HTTP call to the stand-in, the time ExecuteTool adds, and the children's peak
//! memory. Figures, not assertions: the machine decides what they are.

mod cluster;
mod cpu;
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
    /// Run only these phases (comma-separated); all of them when absent.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Phase>,
}

/// The parts of the bench, in the order they run.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// CreateSession and GetSession.
    Sessions,
    /// ExecuteTool end to end beside a direct HTTP call, and where its time goes.
    Execute,
    /// MCP MULTI_EXECUTE_TOOL and SEARCH_TOOLS.
    Mcp,
    /// Webhook intake to a gRPC subscriber.
    Webhooks,
    /// ExecuteTool on a 3-node NATS cluster.
    Cluster,
    /// Search quality and latency, in process.
    Search,
}

impl BenchArgs {
    fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs.max(1))
    }

    fn runs(&self, phase: Phase) -> bool {
        self.only.is_empty() || self.only.contains(&phase)
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
    if result.is_ok() && args.runs(Phase::Cluster) {
        cluster::report(&config, &args).await;
    }
    // The children are gone by now (stopped, or killed when `measure` ended early).
    standin.stop().await;
    let removed = store.purge_prefix().await.unwrap_or(0);
    if let Ok(bus) = switchboard_bus::Bus::from_config(&config.nats, Duration::from_secs(5)).await {
        bus.delete_streams().await;
    }
    println!("cleaned up {removed} bench keys and the bench streams");
    result?;
    if args.runs(Phase::Search) {
        search::report(&config)?;
    }
    Ok(())
}

/// What the phases measured (`None` for a phase not run).
#[derive(Default)]
struct Figures {
    sessions: Option<[Row; 2]>,
    execute: Option<Execute>,
    mcp: Option<[Row; 2]>,
    webhooks: Option<triggers::Figures>,
}

/// The ExecuteTool phase: end to end, where its time went, the gateway alone, the direct call.
struct Execute {
    exec: Row,
    breakdown: [Breakdown; 2],
    gateway_only: Latency,
    direct: Row,
    /// CPU microseconds per call of each process in the throughput phase.
    cpu: Vec<(&'static str, f64)>,
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
    let meter = cpu::Meter::new(&procs.pids(), &config.redis.url, &config.nats.url);
    let figures = match phases(config, &procs.grpc_addr, key, standin, args, &meter).await {
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
        sessions,
        execute,
        mcp,
        webhooks,
    } = figures;
    let mut rows: Vec<&Row> = Vec::new();
    rows.extend(sessions.iter().flatten());
    if let Some(e) = &execute {
        rows.extend([&e.exec, &e.direct]);
    }
    rows.extend(mcp.iter().flatten());
    if !rows.is_empty() {
        report::table(&rows);
    }
    if let Some(e) = &execute {
        report::goals(&e.exec, &e.direct, args.concurrency);
    }
    if let Some([create, _]) = &sessions {
        report::session_goal(create);
    }
    if let (Some(e), Some([mcp_execute, mcp_search])) = (&execute, &mcp) {
        report::mcp_goals(&e.exec, mcp_execute, mcp_search);
    }
    if let Some(webhooks) = &webhooks {
        webhooks.print();
    }
    if let Some(e) = &execute {
        let get = sessions.as_ref().map(|[_, get]| get);
        report::breakdown(&e.breakdown, args.concurrency, &e.gateway_only, get);
        cpu::print(
            &format!(
                "CPU time per ExecuteTool at concurrency {} (all processes of the chain):",
                args.concurrency
            ),
            &e.cpu,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        );
    }
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

/// Runs the chosen phases against the gateway at `addr`. Its connections close on return, so
/// the gateway has none to drain when it is stopped.
async fn phases(
    config: &Config,
    addr: &str,
    key: ApiKey,
    standin: &standin::StandIn,
    args: &BenchArgs,
    meter: &cpu::Meter,
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

    let mut figures = Figures::default();
    if args.runs(Phase::Sessions) {
        figures.sessions = Some(sessions::measure(&clients, args).await?);
    }
    if args.runs(Phase::Execute) || args.runs(Phase::Mcp) {
        let (session_id, endpoint) =
            execute::prepare(channels[0].clone(), key.clone(), &clients[0]).await?;
        execute::warm_up(&clients[0], &session_id).await?;
        if args.runs(Phase::Execute) {
            let (exec, breakdown, cpu) =
                execute::measure_execute(&clients, &session_id, args, meter).await?;
            let gateway_only =
                execute::measure_async(&clients[0], &session_id, args.latency_samples).await?;
            let direct = execute::measure_direct(&standin.url, args).await?;
            figures.execute = Some(Execute {
                exec,
                breakdown,
                gateway_only,
                direct,
                cpu,
            });
        }
        if args.runs(Phase::Mcp) {
            figures.mcp =
                Some(mcp::measure_all(&endpoint, &config.sessions.meta_tool_prefix, args).await?);
        }
    }
    if args.runs(Phase::Webhooks) {
        figures.webhooks =
            Some(triggers::measure(channels[0].clone(), key.clone(), standin, args).await?);
    }
    Ok(figures)
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
