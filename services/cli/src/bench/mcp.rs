//! MCP over Streamable HTTP, as an agent framework calls it: `tools/call` of
//! MULTI_EXECUTE_TOOL with one GITHUB_CREATE_ISSUE call (the same call as the ExecuteTool
//! phase, through the same pipeline) and of SEARCH_TOOLS, each a stateless JSON-RPC POST with
//! the session's own URL and bearer token.

use std::sync::Arc;

use serde_json::{json, Value};

use super::load::{latency, throughput, Outcome};
use super::report::Row;
use super::BenchArgs;

/// A session's MCP endpoint.
#[derive(Clone)]
pub struct Endpoint {
    pub url: Arc<str>,
    pub authorization: Arc<str>,
}

fn call_body(name: &str, arguments: Value) -> Arc<str> {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
    .to_string()
    .into()
}

/// One `tools/call`; `Ok` when the tool answered without `isError`.
async fn call(http: reqwest::Client, endpoint: Endpoint, body: Arc<str>) -> Outcome {
    let sent = http
        .post(endpoint.url.as_ref())
        .header("authorization", endpoint.authorization.as_ref())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(body.to_string())
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Outcome::Error(e.to_string()),
    };
    let status = response.status();
    match response.json::<Value>().await {
        Ok(v)
            if status.is_success()
                && v["result"]["isError"] != Value::Bool(true)
                && v["result"].is_object() =>
        {
            Outcome::Ok
        }
        Ok(v) => Outcome::NotSucceeded(format!(
            "HTTP {status}: {}",
            v.to_string().chars().take(300).collect::<String>()
        )),
        Err(e) => Outcome::Error(e.to_string()),
    }
}

async fn measure(
    name: &'static str,
    endpoint: &Endpoint,
    body: Arc<str>,
    args: &BenchArgs,
) -> anyhow::Result<Row> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .tcp_nodelay(true)
        .build()?;
    // Warm up the connection.
    let _ = call(http.clone(), endpoint.clone(), Arc::clone(&body)).await;
    let rate = throughput(args.concurrency, args.duration(), {
        let (http, endpoint, body) = (http.clone(), endpoint.clone(), Arc::clone(&body));
        move |_, _| call(http.clone(), endpoint.clone(), Arc::clone(&body))
    })
    .await;
    let lat = latency(args.latency_samples, |_| {
        call(http.clone(), endpoint.clone(), Arc::clone(&body))
    })
    .await?;
    Ok(Row::new(name, rate, lat))
}

/// MULTI_EXECUTE_TOOL with one call, then SEARCH_TOOLS with one query.
pub async fn measure_all(
    endpoint: &Endpoint,
    prefix: &str,
    args: &BenchArgs,
) -> anyhow::Result<[Row; 2]> {
    let execute = call_body(
        &format!("{prefix}MULTI_EXECUTE_TOOL"),
        json!({"tools": [{"tool_slug": "GITHUB_CREATE_ISSUE", "arguments": super::execute::arguments()}]}),
    );
    let search = call_body(
        &format!("{prefix}SEARCH_TOOLS"),
        json!({"queries": [{"use_case": "file a bug in my repo"}]}),
    );
    Ok([
        measure("MCP execute", endpoint, execute, args).await?,
        measure("MCP search", endpoint, search, args).await?,
    ])
}
