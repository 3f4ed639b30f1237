//! `switchboard`: `dev` runs the gateway, worker and triggers in one process for local use;
//! `admin` manages projects and API keys over gRPC; `bench` prints throughput and latency;
//! `catalog import` generates a toolkit file from a provider's API description.

mod admin;
mod bench;
mod catalog;
mod dev;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard_platform::{Platform, ServiceArgs};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Switchboard: tool execution for AI agents"
)]
struct Cli {
    #[command(flatten)]
    config: ServiceArgs,
    #[command(subcommand)]
    command: Command,
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
    /// Work on toolkit files (needs no config or connections).
    Catalog(catalog::CatalogArgs),
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
    // Only reads and writes files: before the config, so it works without one.
    let command = match cli.command {
        Command::Catalog(args) => return catalog::run(args),
        command => command,
    };
    let Some(config) = cli.config.load_or_dump()? else {
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async move {
        match command {
            Command::Dev => {
                let _telemetry = switchboard_telemetry::init(&config.telemetry);
                dev::run(config).await
            }
            Command::Admin(args) => admin::run(config, args).await,
            Command::Bench(args) => bench::run(config, args).await,
            Command::Gateway => {
                let _telemetry = switchboard_telemetry::init(&config.telemetry);
                let shutdown = switchboard_platform::shutdown::on_signals();
                let listeners = switchboard_gateway::Listeners::bind(&config).await?;
                if let (Some(grpc), Some(http)) = (listeners.grpc_addr(), listeners.http_addr()) {
                    println!("gateway grpc={grpc} http={http}");
                }
                let platform = Platform::connect(config).await?;
                Ok(switchboard_gateway::run(platform, listeners, shutdown).await?)
            }
            Command::Worker => {
                let _telemetry = switchboard_telemetry::init(&config.telemetry);
                let shutdown = switchboard_platform::shutdown::on_signals();
                let listeners = switchboard_worker::Listeners::bind(&config).await?;
                let platform = Platform::connect(config).await?;
                Ok(switchboard_worker::run(platform, listeners, shutdown).await?)
            }
            Command::Catalog(_) => Ok(()),
            Command::Triggers => {
                let _telemetry = switchboard_telemetry::init(&config.telemetry);
                let shutdown = switchboard_platform::shutdown::on_signals();
                let listeners = switchboard_triggers::Listeners::bind(&config).await?;
                let platform = Platform::connect(config).await?;
                Ok(switchboard_triggers::run(platform, listeners, shutdown).await?)
            }
        }
    })
}
