//! `switchboard-triggers`: the triggers service (provider events onto the bus, outgoing webhooks) alone, started like every binary: the same flags
//! (`--config`, `--set`, `--dump-config`), [`Platform::connect`], then serving until SIGTERM
//! (a second signal exits at once).

use anyhow::Context;
use clap::Parser;
use switchboard_platform::{Platform, ServiceArgs};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "switchboard-triggers",
    version,
    about = "Switchboard: the triggers service (provider events onto the bus, outgoing webhooks)"
)]
struct Cli {
    #[command(flatten)]
    args: ServiceArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(config) = Cli::parse().args.load_or_dump()? else {
        return Ok(());
    };
    let _telemetry = switchboard_telemetry::init(&config.telemetry);
    let shutdown = switchboard_platform::shutdown::on_signals();
    let listeners = switchboard_triggers::Listeners::bind(&config).await?;
    let platform = Platform::connect(config).await?;
    switchboard_triggers::run(platform, listeners, shutdown)
        .await
        .context("triggers failed")
}
