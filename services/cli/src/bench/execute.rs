//! ExecuteTool end to end (sync GITHUB_CREATE_ISSUE: gateway → NATS → worker → stand-in →
//! reply), and beside it a direct HTTP call to the same stand-in endpoint with the same body.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use switchboard_proto::v1::{
    connection_service_client::ConnectionServiceClient, create_connected_account_request,
    BearerTokenCredential, CreateAuthConfigRequest, CreateConnectedAccountRequest,
    CreateSessionRequest, ExecuteToolRequest, ExecutionMode, ExecutionStatus, SessionConfig,
    SlugList, ToolkitFilter,
};
use tonic::transport::Channel;

use super::cpu::Meter;
use super::load::{latency, throughput, Latency, Outcome};
use super::report::{Breakdown, Row};
use super::{ApiKey, BenchArgs, Client};

const SUCCEEDED: ExecutionStatus = ExecutionStatus::Succeeded;
const TOKEN: &str = "ghp_bench_token_0123456789";
pub const USER: &str = "bench_exec_user";
const OWNER: &str = "bench";
const REPO: &str = "api";
/// The provider request body the worker makes from the arguments below.
const BODY: &str = r#"{"title":"Bench issue","labels":["bench"]}"#;

/// A session whose user has a GitHub account (BEARER_TOKEN); returns the session id and its
/// MCP endpoint.
pub async fn prepare(
    channel: Channel,
    key: ApiKey,
    sessions: &Client,
) -> anyhow::Result<(String, super::mcp::Endpoint)> {
    let mut connections = ConnectionServiceClient::with_interceptor(channel, key);
    let auth_config = connections
        .create_auth_config(CreateAuthConfigRequest {
            toolkit: "github".into(),
            scheme: "BEARER_TOKEN".into(),
            name: "bench".into(),
            ..Default::default()
        })
        .await
        .context("CreateAuthConfig failed")?
        .into_inner()
        .auth_config
        .context("no auth config")?;
    connections
        .create_connected_account(CreateConnectedAccountRequest {
            user_id: USER.into(),
            auth_config_id: auth_config.id,
            alias: "bench".into(),
            credential: Some(create_connected_account_request::Credential::BearerToken(
                BearerTokenCredential {
                    token: TOKEN.into(),
                },
            )),
        })
        .await
        .context("CreateConnectedAccount failed")?;
    let session = sessions
        .clone()
        .create_session(CreateSessionRequest {
            user_id: USER.into(),
            config: Some(SessionConfig {
                toolkits: Some(ToolkitFilter {
                    enable: Some(SlugList {
                        slugs: vec!["github".into()],
                    }),
                    disable: None,
                }),
                ..Default::default()
            }),
        })
        .await
        .context("CreateSession failed")?
        .into_inner()
        .session
        .context("no session")?;
    let mcp = session.mcp.context("no MCP server in the session")?;
    let authorization = mcp
        .headers
        .get("Authorization")
        .context("no MCP authorization header")?
        .as_str()
        .into();
    Ok((
        session.id,
        super::mcp::Endpoint {
            url: mcp.url.into(),
            authorization,
        },
    ))
}

/// The arguments of the benchmarked GITHUB_CREATE_ISSUE call.
pub fn arguments() -> serde_json::Value {
    serde_json::json!({"owner": OWNER, "repo": REPO, "title": "Bench issue", "labels": ["bench"]})
}

fn request(session_id: &str) -> ExecuteToolRequest {
    ExecuteToolRequest {
        session_id: session_id.to_owned(),
        tool_slug: "GITHUB_CREATE_ISSUE".into(),
        arguments_json: arguments().to_string(),
        mode: ExecutionMode::Sync as i32,
        timeout_ms: 10_000,
        ..Default::default()
    }
}

/// One sync GITHUB_CREATE_ISSUE call that should succeed.
pub async fn run_once(client: Client, session_id: &str) -> Outcome {
    execute(client, request(session_id), SUCCEEDED, None).await
}

/// One ExecuteTool call; `Ok` when the execution comes back `want`.
async fn execute(
    mut client: Client,
    request: ExecuteToolRequest,
    want: ExecutionStatus,
    breakdown: Option<&Breakdown>,
) -> Outcome {
    let start = Instant::now();
    match client.execute_tool(request).await {
        Ok(response) => match response.into_inner().execution {
            Some(e) if e.status() == want => {
                if let Some(b) = breakdown {
                    b.record(start.elapsed(), &e);
                }
                Outcome::Ok
            }
            Some(e) => Outcome::NotSucceeded(format!(
                "{:?} {}",
                e.status(),
                e.error
                    .map(|e| format!("{}: {}", e.code, e.message))
                    .unwrap_or_default()
            )),
            None => Outcome::Error("no execution in the response".into()),
        },
        Err(e) => Outcome::Error(format!("{:?}: {}", e.code(), e.message())),
    }
}

/// Waits until an execution goes through (the worker may still be starting).
pub async fn warm_up(client: &Client, session_id: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        match execute(client.clone(), request(session_id), SUCCEEDED, None).await {
            Outcome::Ok => return Ok(()),
            Outcome::NotSucceeded(why) | Outcome::Error(why) => {
                if start.elapsed() > Duration::from_secs(30) {
                    anyhow::bail!("warm-up ExecuteTool did not succeed within 30 s: {why}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The ExecuteTool row, the breakdowns of its throughput and latency phases, and the CPU time
/// per call of each process in the throughput phase.
pub async fn measure_execute(
    clients: &Arc<Vec<Client>>,
    session_id: &str,
    args: &BenchArgs,
    meter: &Meter,
) -> anyhow::Result<(Row, [Breakdown; 2], Vec<(&'static str, f64)>)> {
    let req = request(session_id);
    let loaded = Arc::new(Breakdown::new()?);
    let cpu_start = meter.start();
    let rate = throughput(args.concurrency, args.duration(), {
        let (clients, req, loaded) = (Arc::clone(clients), req.clone(), Arc::clone(&loaded));
        move |task, _| {
            let (client, req, loaded) = (
                clients[task % clients.len()].clone(),
                req.clone(),
                Arc::clone(&loaded),
            );
            async move { execute(client, req, SUCCEEDED, Some(&loaded)).await }
        }
    })
    .await;
    let cpu = meter.per_call(&cpu_start, rate.tally.ok.load(Ordering::Relaxed));
    let alone = Breakdown::new()?;
    let lat = latency(args.latency_samples, |_| {
        execute(clients[0].clone(), req.clone(), SUCCEEDED, Some(&alone))
    })
    .await?;
    let loaded = Arc::try_unwrap(loaded)
        .ok()
        .context("a throughput task outlived its phase")?;
    Ok((Row::new("ExecuteTool", rate, lat), [loaded, alone], cpu))
}

/// ExecuteTool ASYNC one at a time: the gateway's share alone (auth, session, accounts, checks,
/// storing, publishing). The worker runs those jobs meanwhile; a sync call then waits for them.
pub async fn measure_async(
    client: &Client,
    session_id: &str,
    samples: usize,
) -> anyhow::Result<Latency> {
    let mut req = request(session_id);
    req.mode = ExecutionMode::Async as i32;
    let lat = latency(samples, |_| {
        execute(client.clone(), req.clone(), ExecutionStatus::Queued, None)
    })
    .await?;
    warm_up(client, session_id).await?;
    Ok(lat)
}

/// A keep-alive client like the worker's.
fn http_client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()?)
}

async fn direct(http: reqwest::Client, url: Arc<str>) -> Outcome {
    let sent = http
        .post(url.as_ref())
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "switchboard-bench")
        .header("content-type", "application/json")
        .body(BODY)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Outcome::Error(e.to_string()),
    };
    let status = response.status();
    // Read and parse the answer, as the worker does.
    match response.json::<serde_json::Value>().await {
        Ok(_) if status == reqwest::StatusCode::CREATED => Outcome::Ok,
        Ok(_) => Outcome::NotSucceeded(format!("HTTP {status}")),
        Err(e) => Outcome::Error(e.to_string()),
    }
}

/// The direct HTTP row, against the stand-in at `base_url`.
pub async fn measure_direct(base_url: &str, args: &BenchArgs) -> anyhow::Result<Row> {
    let url: Arc<str> = format!("{base_url}/repos/{OWNER}/{REPO}/issues").into();
    let http = http_client(args.concurrency)?;
    // Warm up the connection.
    let _ = direct(http.clone(), Arc::clone(&url)).await;
    let rate = throughput(args.concurrency, args.duration(), {
        let (http, url) = (http.clone(), Arc::clone(&url));
        move |_, _| direct(http.clone(), Arc::clone(&url))
    })
    .await;
    let lat = latency(args.latency_samples, |_| {
        direct(http.clone(), Arc::clone(&url))
    })
    .await?;
    Ok(Row::new("direct HTTP", rate, lat))
}
