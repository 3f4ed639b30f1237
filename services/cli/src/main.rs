//! `switchboard`: `dev` runs the gateway, worker and triggers in one process for local use;
//! `admin` manages projects and API keys over gRPC; `bench` prints throughput and latency.

mod admin;
mod bench;
mod dev;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use switchboard_config::{Config, Sources};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard: tool execution for AI agents"
)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the configuration comes from (defaults → file → SWITCHBOARD_* env → --set).
#[derive(Args, Clone)]
struct ConfigArgs {
    /// A TOML or YAML config file.
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Override one setting: `--set gateway.grpc_addr=127.0.0.1:6000` (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long, global = true)]
    dump_config: bool,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<Config> {
        let mut sources = Sources::from_process_env();
        sources.file = self.config.clone();
        for pair in &self.set {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
            sources
                .overrides
                .push((k.trim().to_owned(), v.trim().to_owned()));
        }
        Config::load(&sources).context("failed to load configuration")
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole platform in one process against local NATS and Redis.
    Dev,
    /// Manage projects and API keys (needs the admin token).
    Admin(admin::AdminArgs),
    /// Measure sessions and tool execution over gRPC on loopback and print the figures.
    Bench(bench::BenchArgs),
    /// Run only the gateway.
    Gateway,
    /// Run only a worker.
    Worker,
    /// Run only the triggers service.
    Triggers,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config.load()?;
    if cli.config.dump_config {
        print!("{}", config.dump());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Dev => {
                let _telemetry = switchboard_telemetry::init(&config.telemetry);
                dev::run(config).await
            }
            Command::Admin(args) => admin::run(config, args).await,
            Command::Bench(args) => bench::run(config, args).await,
            Command::Gateway => {
                let _telemetry = switchboard_telemetry::init(&config.telemetry);
                let shutdown = switchboard_telemetry::shutdown_on_signals();
                let listeners = switchboard_gateway::Listeners::bind(&config).await?;
                if let (Some(grpc), Some(http)) = (listeners.grpc_addr(), listeners.http_addr()) {
                    println!("gateway grpc={grpc} http={http}");
                }
                Ok(switchboard_gateway::run(config, listeners, shutdown).await?)
            }
            Command::Worker => {
                let _telemetry = switchboard_telemetry::init(&config.telemetry);
                let shutdown = switchboard_telemetry::shutdown_on_signals();
                Ok(switchboard_worker::run(config, shutdown).await?)
            }
            Command::Triggers => {
                let _telemetry = switchboard_telemetry::init(&config.telemetry);
                let shutdown = switchboard_telemetry::shutdown_on_signals();
                Ok(switchboard_triggers::run(config, shutdown).await?)
            }
        }
    })
}
