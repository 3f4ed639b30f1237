//! How stored sessions are shown: the MCP server block and the agent's tool names are derived
//! on read, so they follow the current catalog and config.

use switchboard_catalog::Catalog;
use switchboard_core::scope::Scope;
use switchboard_proto::v1::{McpServer, Session};

use crate::state::AppState;

/// Fills a stored session's derived fields: its tools and its MCP server (URL and the bearer
/// token that grants this session only).
pub fn session(
    state: &AppState,
    catalog: &Catalog,
    project: &str,
    mut session: Session,
) -> Session {
    let config = session.config.clone().unwrap_or_default();
    session.tools = Scope::new(&config, catalog).agent_tool_names(&state.meta);
    session.mcp = Some(McpServer {
        r#type: "http".to_owned(),
        url: format!("{}/mcp/{}", state.public_url, session.id),
        headers: crate::mcp::session_token(state, project, &session.id)
            .map(|token| {
                std::iter::once(("Authorization".to_owned(), format!("Bearer {token}"))).collect()
            })
            .unwrap_or_default(),
    });
    session
}
