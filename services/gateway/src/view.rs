//! How stored sessions are shown: the MCP server block and the agent's tool names are derived
//! on read, so they follow the current catalog and config.

use switchboard_core::scope::Scope;
use switchboard_proto::v1::{McpServer, Session};

use crate::state::AppState;

/// Fills a stored session's derived fields.
pub fn session(state: &AppState, mut session: Session) -> Session {
    let config = session.config.clone().unwrap_or_default();
    session.tools = Scope::new(&config, &state.catalog).agent_tool_names(&state.meta);
    session.mcp = Some(McpServer {
        r#type: "http".to_owned(),
        url: format!("{}/mcp/{}", state.public_url, session.id),
        headers: Default::default(),
    });
    session
}
