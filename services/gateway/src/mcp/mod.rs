//! Every session's own MCP server: `POST <public url>/mcp/<session id>` speaks MCP over
//! Streamable HTTP (rmcp), stateless, so any gateway replica serves any session.
//!
//! The agent is given exactly `session.mcp.url` and `session.mcp.headers`: the header is
//! `Authorization: Bearer <token>`, a token that grants that one session and nothing else. It is
//! `<project id>.<tag>.<key id>` with `tag` an HMAC of the project and session ids under a MAC
//! key derived from the sealing key `key id`: nothing about it is stored, it is recomputed to
//! check it, and deleting the session revokes it (the session must exist). A missing or wrong
//! token, or a token of another session, gets HTTP 401 with `WWW-Authenticate`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool as McpTool,
    ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler};
use switchboard_core::scope::Scope;
use switchboard_proto::v1::Tool;
use tokio_util::sync::CancellationToken;

use crate::app::meta::{self, Caller};
use crate::state::AppState;

fn token_message(project: &str, session_id: &str) -> Vec<u8> {
    format!("switchboard mcp session token\0{project}\0{session_id}").into_bytes()
}

/// The bearer token of a session's MCP server.
pub fn session_token(state: &AppState, project: &str, session_id: &str) -> Option<String> {
    let (key_id, tag) = state
        .sealer
        .mac(None, &token_message(project, session_id))?;
    Some(format!(
        "{project}.{}.{key_id}",
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

/// Checks a token against the session of the URL; the project it names.
fn check_token<'t>(state: &AppState, token: &'t str, session_id: &str) -> Option<&'t str> {
    let mut parts = token.splitn(3, '.');
    let (project, tag, key_id) = (parts.next()?, parts.next()?, parts.next()?);
    if !switchboard_core::ids::is_id("prj", project) {
        return None;
    }
    let given = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let (_, expected) = state
        .sealer
        .mac(Some(key_id), &token_message(project, session_id))?;
    // Constant time: every byte is compared.
    let same = given.len() == expected.len()
        && given
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then_some(project)
}

fn unauthorized(why: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"error": why}).to_string(),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(
            "Bearer realm=\"switchboard\", error=\"invalid_token\", error_description=\"use the headers of session.mcp\"",
        ),
    );
    response
}

/// Checks the bearer token against the session in the path and hands the caller to rmcp.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let session_id = request
        .uri()
        .path()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    if !switchboard_core::ids::is_id("ses", &session_id) {
        return (StatusCode::NOT_FOUND, "no such MCP server").into_response();
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if token.is_empty() {
        return unauthorized("missing bearer token");
    }
    let Some(project) = check_token(&state, &token, &session_id).map(str::to_owned) else {
        return unauthorized("this token does not grant this session");
    };
    let session = match state.store.get_session(&project, &session_id).await {
        Ok(s) => s,
        // A deleted session's token is dead.
        Err(switchboard_core::Error::NotFound { .. }) => {
            return unauthorized("this token does not grant this session")
        }
        Err(e) => {
            tracing::warn!(error = %e, "MCP request could not load its session");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
        }
    };
    let catalog = match state.catalogs.for_project(&project).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "MCP request could not load its project's catalog");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
        }
    };
    request.extensions_mut().insert(Caller {
        project,
        session,
        catalog,
    });
    next.run(request).await
}

/// The rmcp handler; one per request, it reads the caller from the request's extensions.
#[derive(Clone)]
pub struct McpServer {
    state: AppState,
}

fn caller(context: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("unauthenticated MCP request", None))
}

/// A catalog tool as an MCP tool.
pub fn mcp_tool(tool: &Tool) -> McpTool {
    let object =
        |s: &Option<prost_types::Struct>| match s.as_ref().map(switchboard_proto::struct_to_json) {
            Some(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
    let mut out = McpTool::new(
        tool.slug.clone(),
        tool.description.clone(),
        Arc::new(object(&tool.input_schema)),
    );
    out.title = Some(tool.name.clone());
    if let Some(h) = &tool.hints {
        out.annotations = Some(ToolAnnotations::from_raw(
            Some(tool.name.clone()),
            Some(h.read_only),
            Some(h.destructive),
            Some(h.idempotent),
            Some(h.open_world),
        ));
    }
    out
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("switchboard", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools of one user's session. Start with SEARCH_TOOLS to find the tools for a task, connect toolkits with MANAGE_CONNECTIONS when needed, then run them with MULTI_EXECUTE_TOOL.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&context)?;
        switchboard_metrics::mcp_request("list_tools", "");
        let config = caller.session.config.clone().unwrap_or_default();
        let scope = Scope::new(&config, &caller.catalog);
        let tools: Vec<McpTool> = if scope.is_direct() {
            scope
                .preloaded()
                .iter()
                .map(|t| mcp_tool(&t.proto))
                .collect()
        } else {
            scope.meta_tools(&self.state.meta).map(mcp_tool).collect()
        };
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller(&context)?;
        let arguments = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let span = tracing::info_span!("mcp tools/call", tool = %request.name, session_id = %caller.session.id);
        let outcome = tracing::Instrument::instrument(
            meta::call(&self.state, &caller, &request.name, arguments),
            span,
        )
        .await;
        // The tool label stays bounded: a meta tool's action, or `direct` / `unknown`.
        let prefix = self.state.config.sessions.meta_tool_prefix.as_str();
        let tool_label = match &outcome {
            meta::Outcome::Meta { .. } => {
                request.name.strip_prefix(prefix).unwrap_or(&request.name)
            }
            meta::Outcome::Direct(_) => "direct",
            meta::Outcome::UnknownTool => "unknown",
        };
        switchboard_metrics::mcp_request("call_tool", tool_label);
        let result = match outcome {
            meta::Outcome::Meta {
                data,
                error,
                log_id,
            } => {
                let body = serde_json::json!({"data": data, "error": error, "log_id": log_id});
                let mut result = if error.is_some() {
                    CallToolResult::error(vec![ContentBlock::text(body.to_string())])
                } else {
                    CallToolResult::success(vec![ContentBlock::text(body.to_string())])
                };
                result.structured_content = Some(body);
                result
            }
            meta::Outcome::Direct(Ok(data)) => {
                CallToolResult::success(vec![ContentBlock::text(data.to_string())])
            }
            meta::Outcome::Direct(Err(message)) => {
                CallToolResult::error(vec![ContentBlock::text(message)])
            }
            meta::Outcome::UnknownTool => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {:?}; call tools/list", request.name),
                    None,
                ))
            }
        };
        Ok(result.into())
    }
}

/// The `/mcp/{session_id}` routes.
pub fn router(state: AppState, shutdown: CancellationToken) -> Router<AppState> {
    let mut hosts = vec![
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
        "::1".to_owned(),
        "[::1]".to_owned(),
    ];
    if let Ok(url) = url::Url::parse(&state.public_url) {
        if let Some(host) = url.host_str() {
            hosts.push(host.to_owned());
            if let Some(port) = url.port() {
                hosts.push(format!("{host}:{port}"));
            }
        }
    }
    let handler_state = state.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(McpServer {
                state: handler_state.clone(),
            })
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_allowed_hosts(hosts)
            .with_cancellation_token(shutdown),
    );
    Router::new()
        .route_service("/mcp/{session_id}", service)
        .route_layer(axum::middleware::from_fn_with_state(state, authenticate))
}
