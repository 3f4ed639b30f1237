//! `switchboard dev`: the gateway, worker and triggers in one process, plus a development
//! project whose API key (and the admin token) are kept in `dev.data_dir` across restarts.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use switchboard_config::Config;
use switchboard_platform::Platform;
use switchboard_store::Store;
use tokio_util::sync::CancellationToken;

/// What `switchboard dev` keeps between runs (file mode 0600).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DevState {
    pub admin_token: Option<String>,
    /// The sealing key of the development setup (base64), used when none is configured.
    pub sealing_key: Option<String>,
    pub project_id: Option<String>,
    pub api_key: Option<String>,
}

const STATE_FILE: &str = "dev.json";

pub fn read_state(dir: &Path) -> DevState {
    std::fs::read_to_string(dir.join(STATE_FILE))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn write_state(dir: &Path, state: &DevState) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let path = dir.join(STATE_FILE);
    let text = serde_json::to_string_pretty(state)?;
    std::fs::write(&path, text).with_context(|| format!("failed to write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("failed to restrict {}", path.display()))?;
    }
    Ok(())
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("sbadmin_{}", hex::encode(bytes))
}

/// Makes sure the development project exists and its key works; creates them otherwise.
async fn ensure_dev_project(store: &Store, state: &mut DevState) -> anyhow::Result<bool> {
    if let Some(key) = &state.api_key {
        if store.authenticate(key).await.is_ok() {
            return Ok(false);
        }
    }
    let project = store
        .create_project("development")
        .await
        .context("failed to create the development project")?;
    let key = store
        .create_api_key(&project.id, "dev")
        .await
        .context("failed to create the development API key")?;
    state.project_id = Some(project.id);
    state.api_key = Some(key.secret);
    Ok(true)
}

pub async fn run(mut config: Config) -> anyhow::Result<()> {
    let dir = config.dev.data_dir.clone();
    let mut state = read_state(&dir);
    if config.gateway.admin_token.is_none() {
        let token = state.admin_token.clone().unwrap_or_else(random_token);
        state.admin_token = Some(token.clone());
        config.gateway.admin_token = Some(token);
    }
    if config.crypto.current_key.is_empty() {
        let key = state
            .sealing_key
            .clone()
            .unwrap_or_else(switchboard_crypto::generate_key);
        state.sealing_key = Some(key.clone());
        config.crypto.keys.insert("dev".into(), key);
        config.crypto.current_key = "dev".into();
    }
    let listeners = switchboard_gateway::Listeners::bind(&config).await?;
    let webhooks = switchboard_triggers::Listeners::bind(&config).await?;
    let worker_listeners = switchboard_worker::Listeners::bind(&config).await?;
    let webhooks_addr = webhooks.http.local_addr()?;
    if config.triggers.public_url.is_none() {
        config.triggers.public_url = Some(format!("http://{webhooks_addr}"));
    }
    // The catalog is loaded first: a broken toolkit file stops here, before anything serves.
    let platform = Platform::connect(config)
        .await
        .context("switchboard dev could not start")?;
    let created = ensure_dev_project(&platform.store, &mut state).await?;
    write_state(&dir, &state)?;
    let config = &platform.config;
    let grpc = listeners
        .grpc_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let http = listeners
        .http_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("switchboard dev");
    if config.gateway.tls.is_enabled() {
        println!(
            "  gRPC      {grpc}   (TLS; reflection on: grpcurl -cacert <CA file> {grpc} list)"
        );
    } else {
        println!("  gRPC      {grpc}   (reflection on: grpcurl -plaintext {grpc} list)");
    }
    println!("  HTTP      http://{http}   (/healthz, /readyz, /mcp/<session>, /connect/…)");
    println!(
        "  webhooks  {}   (provider deliveries: /webhooks/github/…, /webhooks/slack/<project>)",
        config.triggers.public_base()
    );
    println!(
        "  project   {} ({})",
        state.project_id.as_deref().unwrap_or("?"),
        if created {
            "created"
        } else {
            "kept from the last run"
        }
    );
    println!("  API key   {}", state.api_key.as_deref().unwrap_or("?"));
    println!("  admin     token in {}", dir.join(STATE_FILE).display());
    println!(
        "  NATS      {}   Redis {}",
        switchboard_platform::redact_url(&platform.config.nats.url),
        switchboard_platform::redact_url(&platform.config.redis.url)
    );

    let shutdown = switchboard_platform::shutdown::on_signals();
    let results = run_all(platform, listeners, worker_listeners, webhooks, shutdown).await;
    results.context("switchboard dev stopped with an error")
}

/// Runs the three services on one platform (one catalog, one Redis pool, one NATS
/// connection); the first to fail stops the others.
async fn run_all(
    platform: Platform,
    listeners: switchboard_gateway::Listeners,
    worker_listeners: switchboard_worker::Listeners,
    webhooks: switchboard_triggers::Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stop_all = |r: anyhow::Result<()>, token: &CancellationToken| {
        if r.is_err() {
            token.cancel();
        }
        r
    };
    let (g, w, t) = tokio::join!(
        async {
            let r = switchboard_gateway::run(platform.clone(), listeners, shutdown.clone()).await;
            stop_all(r.context("gateway"), &shutdown)
        },
        async {
            let r =
                switchboard_worker::run(platform.clone(), worker_listeners, shutdown.clone()).await;
            stop_all(r.context("worker"), &shutdown)
        },
        async {
            let r = switchboard_triggers::run(platform.clone(), webhooks, shutdown.clone()).await;
            stop_all(r.context("triggers"), &shutdown)
        },
    );
    g.and(w).and(t)
}
