//! `switchboard-triggers`: parses config, starts telemetry and runs the triggers service until SIGTERM.

use anyhow::Context;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = switchboard_config::Config::load(&switchboard_config::Sources::from_process_env())
        .context("failed to load configuration")?;
    if std::env::args().any(|a| a == "--dump-config") {
        print!("{}", config.dump());
        return Ok(());
    }
    let _telemetry = switchboard_telemetry::init(&config.telemetry);
    let shutdown = switchboard_telemetry::shutdown_on_signals();
    switchboard_triggers::run(config, shutdown)
        .await
        .context("triggers failed")
}
