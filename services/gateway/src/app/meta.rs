//! What the meta tools do (and direct tool calls of the direct-tools preset), for any
//! transport (MCP's `tools/call` today). Every check is the gRPC path's: scope rules, account selection, argument validation, the same execution
//! pipeline. Failures the model can act on come back as tool errors (`isError`), never as
//! transport failures.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use switchboard_core::accounts::{self, ACTIVE};
use switchboard_core::ids::new_id;
use switchboard_core::scope::Scope;
use switchboard_proto::v1::{
    AuthorizeRequest, ConnectedAccount, ExecuteToolRequest, ExecutionMode, ExecutionStatus,
    SessionConfig,
};

use switchboard_proto::v1::Session;

use crate::state::AppState;

/// Who is calling: a session of a project, already authenticated by the transport, with the
/// project's view of the catalog.
#[derive(Clone, Debug)]
pub struct Caller {
    pub project: String,
    pub session: Session,
    pub catalog: std::sync::Arc<switchboard_catalog::Catalog>,
}

/// Most queries one SEARCH_TOOLS call takes.
const MAX_QUERIES: usize = 7;
/// Most calls one MULTI_EXECUTE_TOOL takes.
const MAX_CALLS: usize = 50;
/// Hits per query: the first few are "primary", the rest "related".
const HITS: usize = 8;
const PRIMARY: usize = 3;

/// What a call produced.
pub enum Outcome {
    /// A meta tool's `{data, error, log_id}`.
    Meta {
        data: Value,
        error: Option<String>,
        log_id: String,
    },
    /// A direct tool call: the tool's data, or an error message.
    Direct(Result<Value, String>),
    UnknownTool,
}

type MetaResult = Result<Value, String>;

/// Dispatches a `tools/call`.
pub async fn call(state: &AppState, caller: &Caller, name: &str, arguments: Value) -> Outcome {
    let config = caller.session.config.clone().unwrap_or_default();
    let scope = Scope::new(&config, &caller.catalog);
    let offered = scope.meta_tools(&state.meta).any(|t| t.slug == name);
    let prefix = &state.config.sessions.meta_tool_prefix;
    if offered && !scope.is_direct() {
        let action = name.strip_prefix(prefix.as_str()).unwrap_or(name);
        let log_id = new_id("log");
        let result = match action {
            "SEARCH_TOOLS" => search_tools(state, caller, &config, &arguments).await,
            "GET_TOOL_SCHEMAS" => get_tool_schemas(state, caller, &config, &arguments).await,
            "MANAGE_CONNECTIONS" => manage_connections(state, caller, &config, &arguments).await,
            "WAIT_FOR_CONNECTIONS" => {
                wait_for_connections(state, caller, &config, &arguments).await
            }
            "MULTI_EXECUTE_TOOL" => multi_execute(state, caller, &arguments).await,
            _ => return Outcome::UnknownTool,
        };
        tracing::debug!(session_id = %caller.session.id, log_id = %log_id, tool = name, ok = result.is_ok(), "meta tool called");
        return match result {
            Ok(data) => Outcome::Meta {
                data,
                error: None,
                log_id,
            },
            Err(error) => Outcome::Meta {
                data: Value::Null,
                error: Some(error),
                log_id,
            },
        };
    }
    if scope.is_direct() && scope.preloaded().iter().any(|t| t.slug == name) {
        return Outcome::Direct(execute_one(state, caller, name, arguments, String::new()).await);
    }
    Outcome::UnknownTool
}

fn strings(value: &Value, field: &str) -> Result<Vec<String>, String> {
    match value.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{field}[{i}] must be a string"))
            })
            .collect(),
        Some(_) => Err(format!("{field} must be an array of strings")),
    }
}

/// The workflow id the call continues, or a new one. An id of another session is not reused.
async fn workflow(state: &AppState, caller: &Caller, arguments: &Value) -> (String, Value) {
    if let Some(id) = arguments.get("session_id").and_then(Value::as_str) {
        if switchboard_core::ids::is_id("wf", id) {
            if let Ok(Some(text)) = state.store.get_workflow(&caller.project, id).await {
                if let Ok(memory) = serde_json::from_str::<Value>(&text) {
                    if memory.get("session").and_then(Value::as_str)
                        == Some(caller.session.id.as_str())
                    {
                        return (id.to_owned(), memory);
                    }
                }
            }
        }
    }
    (new_id("wf"), json!({"session": caller.session.id}))
}

fn schema_of(tool: &switchboard_proto::v1::Tool) -> Value {
    json!({
        "toolkit": tool.toolkit,
        "description": tool.description,
        "input_schema": tool.input_schema.as_ref().map(switchboard_proto::struct_to_json),
        "output_schema": tool.output_schema.as_ref().map(switchboard_proto::struct_to_json),
    })
}

/// Per toolkit: is a tool of it runnable now for this session's user?
fn connection_status(
    config: &SessionConfig,
    accounts_: &[ConnectedAccount],
    catalog: &switchboard_catalog::Catalog,
    toolkit: &str,
) -> Value {
    let no_auth = catalog.toolkit(toolkit).is_some_and(|t| t.is_no_auth());
    let active: Vec<Value> = accounts::candidates(config, accounts_, toolkit)
        .into_iter()
        .filter(|a| a.status == ACTIVE)
        .map(|a| json!({"id": a.id, "alias": a.alias, "identity": a.identity}))
        .collect();
    json!({
        "toolkit": toolkit,
        "has_active_connection": no_auth || !active.is_empty(),
        "status": if no_auth { "NO_AUTH" } else if active.is_empty() { "NOT_CONNECTED" } else { switchboard_core::accounts::ACTIVE },
        "accounts": active,
    })
}

async fn search_tools(
    state: &AppState,
    caller: &Caller,
    config: &SessionConfig,
    arguments: &Value,
) -> MetaResult {
    let queries = arguments
        .get("queries")
        .and_then(Value::as_array)
        .ok_or("queries must be an array of {use_case} objects")?;
    if queries.is_empty() || queries.len() > MAX_QUERIES {
        return Err(format!("give 1 to {MAX_QUERIES} queries"));
    }
    let scope = Scope::new(config, &caller.catalog);
    let (workflow_id, mut memory) = workflow(state, caller, arguments).await;
    let mut results = Vec::new();
    let mut schemas = serde_json::Map::new();
    let mut toolkits = BTreeSet::new();
    for (i, query) in queries.iter().enumerate() {
        let use_case = query
            .get("use_case")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| format!("queries[{i}].use_case must be a non-empty string"))?;
        let known = query
            .get("known_fields")
            .and_then(Value::as_str)
            .unwrap_or("");
        let text = format!("{use_case} {known}");
        let hits = caller
            .catalog
            .search(&text, |t| scope.tool_allowed(t), HITS);
        let slugs: Vec<String> = hits.iter().map(|h| h.tool.slug.clone()).collect();
        let mut hit_toolkits = Vec::new();
        for hit in &hits {
            schemas.insert(hit.tool.slug.clone(), schema_of(&hit.tool.proto));
            if !hit_toolkits.contains(&hit.tool.toolkit) {
                hit_toolkits.push(hit.tool.toolkit.clone());
            }
            toolkits.insert(hit.tool.toolkit.clone());
        }
        results.push(json!({
            "use_case": use_case,
            "primary_tool_slugs": slugs.iter().take(PRIMARY).collect::<Vec<_>>(),
            "related_tool_slugs": slugs.iter().skip(PRIMARY).collect::<Vec<_>>(),
            "toolkits": hit_toolkits,
        }));
    }
    let user_accounts = state
        .store
        .user_accounts(&caller.project, &caller.session.user_id)
        .await
        .map_err(|e| e.to_string())?;
    let statuses: Vec<Value> = toolkits
        .iter()
        .map(|t| connection_status(config, &user_accounts, &caller.catalog, t))
        .collect();
    let prefix = &state.config.sessions.meta_tool_prefix;
    let mut guidance = Vec::new();
    for status in &statuses {
        if status["has_active_connection"] == Value::Bool(false) {
            guidance.push(format!(
                "connect {tk} first: call {prefix}MANAGE_CONNECTIONS with toolkits [\"{tk}\"] and give the user the link",
                tk = status["toolkit"].as_str().unwrap_or_default()
            ));
        }
    }
    if results
        .iter()
        .all(|r| r["primary_tool_slugs"].as_array().is_none_or(Vec::is_empty))
    {
        guidance.push("no tool of this session matches; rephrase the use case with the service's name (github, slack, gmail…)".to_owned());
    } else {
        guidance.push(format!(
            "then run the tools with {prefix}MULTI_EXECUTE_TOOL, arguments following tool_schemas"
        ));
    }
    memory["last_search"] = json!(schemas.keys().collect::<Vec<_>>());
    let _ = state
        .store
        .put_workflow(&caller.project, &workflow_id, &memory.to_string())
        .await;
    Ok(json!({
        "results": results,
        "tool_schemas": schemas,
        "toolkit_connection_statuses": statuses,
        "next_steps_guidance": guidance,
        "session_id": workflow_id,
    }))
}

async fn get_tool_schemas(
    state: &AppState,
    caller: &Caller,
    config: &SessionConfig,
    arguments: &Value,
) -> MetaResult {
    let mut slugs = strings(arguments, "tool_slugs")?;
    if slugs.is_empty() {
        // A workflow remembers its last search.
        let (_, memory) = workflow(state, caller, arguments).await;
        slugs = memory["last_search"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if slugs.is_empty() {
            return Err("tool_slugs must name at least one tool".into());
        }
    }
    let scope = Scope::new(config, &caller.catalog);
    let mut schemas = serde_json::Map::new();
    let mut not_found = Vec::new();
    for slug in slugs {
        match caller.catalog.tool(&slug).filter(|t| scope.tool_allowed(t)) {
            Some(tool) => {
                schemas.insert(slug, schema_of(&tool.proto));
            }
            None => not_found.push(slug),
        }
    }
    Ok(json!({"tool_schemas": schemas, "not_found": not_found}))
}

async fn manage_connections(
    state: &AppState,
    caller: &Caller,
    config: &SessionConfig,
    arguments: &Value,
) -> MetaResult {
    let toolkits = strings(arguments, "toolkits")?;
    let remove = strings(arguments, "remove")?;
    if toolkits.is_empty() && remove.is_empty() {
        return Err("toolkits must name at least one toolkit".into());
    }
    let reinitiate = arguments
        .get("reinitiate_all")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let removal_allowed = config
        .manage_connections
        .as_ref()
        .and_then(|m| m.enable_connection_removal)
        .unwrap_or(true);
    let scope = Scope::new(config, &caller.catalog);
    let project = &caller.project;
    let mut removed = Vec::new();
    if !remove.is_empty() {
        if !removal_allowed {
            return Err("this session does not allow removing connections".into());
        }
        let accounts_ = state
            .store
            .user_accounts(project, &caller.session.user_id)
            .await
            .map_err(|e| e.to_string())?;
        for wanted in &remove {
            let found = accounts_.iter().find(|a| {
                scope.toolkit_enabled(&a.toolkit)
                    && (&a.id == wanted || (!a.alias.is_empty() && &a.alias == wanted))
            });
            let Some(account) = found else {
                return Err(format!(
                    "no account {wanted:?} of this user in this session"
                ));
            };
            state
                .store
                .delete_account(project, &account.id)
                .await
                .map_err(|e| e.to_string())?;
            removed.push(account.id.clone());
        }
    }
    let accounts_ = state
        .store
        .user_accounts(project, &caller.session.user_id)
        .await
        .map_err(|e| e.to_string())?;
    let mut results = serde_json::Map::new();
    let (mut active, mut initiated, mut failed) = (0, 0, 0);
    for toolkit in toolkits {
        if caller.catalog.toolkit(&toolkit).is_none() || !scope.toolkit_enabled(&toolkit) {
            failed += 1;
            results.insert(toolkit.clone(), json!({"status": "ERROR", "error": format!("{toolkit} is not a toolkit of this session")}));
            continue;
        }
        let status = connection_status(config, &accounts_, &caller.catalog, &toolkit);
        if status["has_active_connection"] == Value::Bool(true) && !reinitiate {
            active += 1;
            results.insert(toolkit, status);
            continue;
        }
        // Reconnect the current account when asked to, else start a new one.
        let alias = status["accounts"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|a| a["id"].as_str())
            .filter(|_| reinitiate)
            .unwrap_or("")
            .to_owned();
        let request = AuthorizeRequest {
            session_id: caller.session.id.clone(),
            toolkit: toolkit.clone(),
            alias,
            ..Default::default()
        };
        match crate::app::connect::authorize(state, project, request).await {
            Ok(cr) => {
                initiated += 1;
                results.insert(toolkit.clone(), json!({
                    "status": switchboard_core::accounts::INITIATED,
                    "redirect_url": cr.redirect_url,
                    "connection_request_id": cr.id,
                    "connected_account_id": cr.connected_account_id,
                    "instruction": format!("Give the user this link to connect {toolkit}; it works for 10 minutes."),
                }));
            }
            Err(e) => {
                failed += 1;
                results.insert(toolkit, json!({"status": "ERROR", "error": e.to_string()}));
            }
        }
    }
    Ok(json!({
        "results": results,
        "removed": removed,
        "summary": {"active": active, "initiated": initiated, "failed": failed},
    }))
}

async fn wait_for_connections(
    state: &AppState,
    caller: &Caller,
    config: &SessionConfig,
    arguments: &Value,
) -> MetaResult {
    let toolkits = strings(arguments, "toolkits")?;
    if toolkits.is_empty() {
        return Err("toolkits must name at least one toolkit".into());
    }
    let timeout = arguments
        .get("timeout_seconds")
        .and_then(Value::as_u64)
        .unwrap_or(120)
        .clamp(1, 600);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let project = &caller.project;
    // Any connection of the project ending wakes the check (pushed, with a slow re-check as a
    // safety net).
    let mut ended = state
        .bus
        .connection_endings(project, None)
        .await
        .map_err(|e| format!("cannot wait now: {e}"))?;
    loop {
        let accounts_ = state
            .store
            .user_accounts(project, &caller.session.user_id)
            .await
            .map_err(|e| e.to_string())?;
        let statuses: BTreeMap<String, Value> = toolkits
            .iter()
            .map(|t| {
                (
                    t.clone(),
                    connection_status(config, &accounts_, &caller.catalog, t)["status"].clone(),
                )
            })
            .collect();
        let done = statuses.values().all(|s| s != "NOT_CONNECTED");
        if done || tokio::time::Instant::now() >= deadline {
            return Ok(json!({"statuses": statuses, "all_connected": done}));
        }
        tokio::select! {
            _ = ended.next() => {}
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Runs one tool call through ExecuteTool's pipeline; the data, or a message for the model.
async fn execute_one(
    state: &AppState,
    caller: &Caller,
    slug: &str,
    arguments: Value,
    account: String,
) -> Result<Value, String> {
    let request = ExecuteToolRequest {
        session_id: caller.session.id.clone(),
        tool_slug: slug.to_owned(),
        arguments: Some(switchboard_proto::json_to_struct(&arguments)),
        account,
        mode: ExecutionMode::Sync as i32,
        ..Default::default()
    };
    match crate::app::execute::run(
        state,
        switchboard_store::Caller::Project(&caller.project),
        request,
        None,
    )
    .await
    {
        Ok(response) => {
            let Some(execution) = response.execution else {
                return Err("no execution came back".into());
            };
            if execution.status() == ExecutionStatus::Succeeded {
                Ok(execution
                    .data
                    .as_ref()
                    .map(switchboard_proto::value_to_json)
                    .unwrap_or(Value::Null))
            } else {
                let error = execution.error.unwrap_or_default();
                let status = if error.provider_status > 0 {
                    format!(" (HTTP {})", error.provider_status)
                } else {
                    String::new()
                };
                Err(format!(
                    "{}{status}: {} [execution {}]",
                    error.code, error.message, execution.id
                ))
            }
        }
        Err(e) => Err(format!("{}: {}", e.reason(), e.public_message())),
    }
}

async fn multi_execute(state: &AppState, caller: &Caller, arguments: &Value) -> MetaResult {
    let calls = arguments
        .get("tools")
        .and_then(Value::as_array)
        .ok_or("tools must be an array of {tool_slug, arguments}")?;
    if calls.is_empty() || calls.len() > MAX_CALLS {
        return Err(format!("give 1 to {MAX_CALLS} tool calls"));
    }
    let prefix = &state.config.sessions.meta_tool_prefix;
    let jobs = calls.iter().enumerate().map(|(index, call)| async move {
        let slug = call
            .get("tool_slug")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let outcome = if slug.is_empty() {
            Err(format!("tools[{index}].tool_slug is required"))
        } else if slug.starts_with(prefix.as_str()) {
            Err(format!("{slug} is a meta tool; call it directly"))
        } else {
            let args = call.get("arguments").cloned().unwrap_or_else(|| json!({}));
            let account = call
                .get("account")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            execute_one(state, caller, &slug, args, account).await
        };
        match outcome {
            Ok(data) => json!({"index": index, "tool_slug": slug, "response": data, "error": null}),
            Err(e) => json!({"index": index, "tool_slug": slug, "response": null, "error": e}),
        }
    });
    let results: Vec<Value> = futures::future::join_all(jobs).await;
    let errors = results.iter().filter(|r| !r["error"].is_null()).count();
    let total = results.len();
    // Only a search starts a workflow; a call of one echoes its id.
    let continued = match arguments.get("session_id") {
        Some(Value::String(_)) => {
            let (id, memory) = workflow(state, caller, arguments).await;
            memory.get("last_search").map(|_| id)
        }
        _ => None,
    };
    Ok(json!({
        "results": results,
        "success_count": total - errors,
        "error_count": errors,
        "total_count": total,
        "session_id": continued,
    }))
}
