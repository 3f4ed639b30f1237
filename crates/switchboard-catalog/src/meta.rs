//! The meta tools: the small fixed set an agent sees by default, which discover, connect and
//! execute the session's tools at run time instead of loading every tool definition.

use serde_json::{json, Value};
use switchboard_proto::v1;

/// The default prefix of meta tool names.
pub const DEFAULT_PREFIX: &str = "SWITCHBOARD_";

/// Which optional meta tools a session exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaOptions {
    /// `MANAGE_CONNECTIONS` (session `manage_connections.enable`, default on).
    pub manage_connections: bool,
    /// `WAIT_FOR_CONNECTIONS` (session `manage_connections.enable_wait_for_connections`).
    pub wait_for_connections: bool,
}

/// When a meta tool is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offered {
    Always,
    WithManageConnections,
    WithWaitForConnections,
}

/// Every meta tool, built once for a prefix (schemas included), so a request only filters and
/// copies.
#[derive(Debug, Clone)]
pub struct MetaTools {
    tools: Vec<(Offered, v1::Tool)>,
}

impl MetaTools {
    /// Builds the meta tools with names prefixed by `prefix`.
    pub fn new(prefix: &str) -> MetaTools {
        MetaTools {
            tools: vec![
                (Offered::Always, search_tools(prefix)),
                (Offered::Always, get_tool_schemas(prefix)),
                (Offered::WithManageConnections, manage_connections(prefix)),
                (
                    Offered::WithWaitForConnections,
                    wait_for_connections(prefix),
                ),
                (Offered::Always, multi_execute(prefix)),
            ],
        }
    }

    /// The meta tools a session with `options` exposes, in a stable order.
    pub fn for_options(&self, options: MetaOptions) -> impl Iterator<Item = &v1::Tool> + '_ {
        self.tools
            .iter()
            .filter(move |(offered, _)| match offered {
                Offered::Always => true,
                Offered::WithManageConnections => options.manage_connections,
                Offered::WithWaitForConnections => {
                    options.manage_connections && options.wait_for_connections
                }
            })
            .map(|(_, tool)| tool)
    }
}

/// The meta tools for a session, in a stable order, names prefixed with `prefix`.
pub fn meta_tools(prefix: &str, options: MetaOptions) -> Vec<v1::Tool> {
    MetaTools::new(prefix)
        .for_options(options)
        .cloned()
        .collect()
}

fn tool(
    prefix: &str,
    action: &str,
    name: &str,
    description: &str,
    read_only: bool,
    input: Value,
    data: Value,
) -> v1::Tool {
    let output = json!({
        "type": "object",
        "properties": {
            "data": data,
            "error": {"type": ["string", "null"], "description": "Why the call failed, when it did"},
            "log_id": {"type": "string", "description": "Id of this call in the session's log"}
        },
        "required": ["data", "error", "log_id"]
    });
    let mut tags = vec!["meta".to_owned()];
    if read_only {
        tags.push("readOnlyHint".to_owned());
    }
    v1::Tool {
        slug: format!("{prefix}{action}"),
        name: name.to_owned(),
        description: description.to_owned(),
        toolkit: "switchboard".to_owned(),
        tags,
        hints: Some(v1::ToolHints {
            read_only,
            destructive: false,
            idempotent: read_only,
            open_world: !read_only,
        }),
        input_schema: Some(switchboard_proto::json_to_struct(&input)),
        output_schema: Some(switchboard_proto::json_to_struct(&output)),
        version: "1.0.0".to_owned(),
        is_meta: true,
    }
}

fn workflow_id() -> Value {
    json!({"type": "string", "description": "Workflow id returned by SEARCH_TOOLS, so calls of one task share memory"})
}

fn search_tools(prefix: &str) -> v1::Tool {
    tool(
        prefix,
        "SEARCH_TOOLS",
        "Search tools",
        "Find the tools for a task among those this session may use. Give up to 7 use cases in plain words; each returns ranked tool slugs with their input schemas, the connection status of their toolkits and the next step (for example: connect github first). Start here.",
        true,
        json!({
            "type": "object",
            "properties": {
                "queries": {
                    "type": "array", "minItems": 1, "maxItems": 7,
                    "items": {
                        "type": "object",
                        "properties": {
                            "use_case": {"type": "string", "minLength": 1, "description": "What you want to do, e.g. 'file a bug in my repo'"},
                            "known_fields": {"type": "string", "description": "Values you already know, e.g. 'repo: acme/api'"}
                        },
                        "required": ["use_case"],
                        "additionalProperties": false
                    }
                },
                "session_id": workflow_id()
            },
            "required": ["queries"],
            "additionalProperties": false
        }),
        json!({
            "type": "object",
            "properties": {
                "results": {"type": "array", "items": {"type": "object", "properties": {
                    "use_case": {"type": "string"},
                    "primary_tool_slugs": {"type": "array", "items": {"type": "string"}},
                    "related_tool_slugs": {"type": "array", "items": {"type": "string"}},
                    "toolkits": {"type": "array", "items": {"type": "string"}}
                }}},
                "tool_schemas": {"type": "object", "additionalProperties": {"type": "object"}},
                "toolkit_connection_statuses": {"type": "array", "items": {"type": "object"}},
                "next_steps_guidance": {"type": "array", "items": {"type": "string"}},
                "session_id": {"type": "string"}
            }
        }),
    )
}

fn get_tool_schemas(prefix: &str) -> v1::Tool {
    tool(
        prefix,
        "GET_TOOL_SCHEMAS",
        "Get tool schemas",
        "Return the input and output schemas of the named tools. Unknown tools, and tools this session may not use, are listed in not_found.",
        true,
        json!({
            "type": "object",
            "properties": {
                "tool_slugs": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "session_id": workflow_id()
            },
            "required": ["tool_slugs"],
            "additionalProperties": false
        }),
        json!({
            "type": "object",
            "properties": {
                "tool_schemas": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                    "input_schema": {"type": "object"}, "output_schema": {"type": "object"}
                }}},
                "not_found": {"type": "array", "items": {"type": "string"}}
            }
        }),
    )
}

fn manage_connections(prefix: &str) -> v1::Tool {
    tool(
        prefix,
        "MANAGE_CONNECTIONS",
        "Manage connections",
        "Check the user's connections to the named toolkits. For each, returns the active account(s) or a Connect Link to hand to the user so they can connect one.",
        false,
        json!({
            "type": "object",
            "properties": {
                "toolkits": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "reinitiate_all": {"type": "boolean", "default": false, "description": "Start a new connection even where one is active"},
                "remove": {"type": "array", "items": {"type": "string"}, "description": "Ids or aliases of the user's accounts to disconnect (when the session allows removal)"},
                "session_id": workflow_id()
            },
            "required": ["toolkits"],
            "additionalProperties": false
        }),
        json!({
            "type": "object",
            "properties": {
                "results": {"type": "object", "additionalProperties": {"type": "object"}},
                "summary": {"type": "object"}
            }
        }),
    )
}

fn wait_for_connections(prefix: &str) -> v1::Tool {
    tool(
        prefix,
        "WAIT_FOR_CONNECTIONS",
        "Wait for connections",
        "Wait until the user has finished connecting the named toolkits (or the timeout passes) and return their statuses.",
        true,
        json!({
            "type": "object",
            "properties": {
                "toolkits": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 600, "default": 120},
                "session_id": workflow_id()
            },
            "required": ["toolkits"],
            "additionalProperties": false
        }),
        json!({
            "type": "object",
            "properties": {
                "statuses": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        }),
    )
}

fn multi_execute(prefix: &str) -> v1::Tool {
    tool(
        prefix,
        "MULTI_EXECUTE_TOOL",
        "Execute tools",
        "Run up to 50 tool calls in parallel, each with its own arguments and optionally the account to use (id or alias). Returns one result or error per call, in order.",
        false,
        json!({
            "type": "object",
            "properties": {
                "tools": {
                    "type": "array", "minItems": 1, "maxItems": 50,
                    "items": {
                        "type": "object",
                        "properties": {
                            "tool_slug": {"type": "string"},
                            "arguments": {"type": "object"},
                            "account": {"type": "string", "description": "Connected account id or alias"}
                        },
                        "required": ["tool_slug", "arguments"],
                        "additionalProperties": false
                    }
                },
                "session_id": workflow_id()
            },
            "required": ["tools"],
            "additionalProperties": false
        }),
        json!({
            "type": "object",
            "properties": {
                "results": {"type": "array", "items": {"type": "object", "properties": {
                    "index": {"type": "integer"}, "tool_slug": {"type": "string"},
                    "response": {}, "error": {"type": ["string", "null"]}
                }}},
                "success_count": {"type": "integer"},
                "error_count": {"type": "integer"},
                "total_count": {"type": "integer"}
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn optional_meta_tools_follow_options() {
        let names =
            |o| -> Vec<String> { meta_tools("SB_", o).into_iter().map(|t| t.slug).collect() };
        let all = names(MetaOptions {
            manage_connections: true,
            wait_for_connections: true,
        });
        assert_eq!(
            all,
            [
                "SB_SEARCH_TOOLS",
                "SB_GET_TOOL_SCHEMAS",
                "SB_MANAGE_CONNECTIONS",
                "SB_WAIT_FOR_CONNECTIONS",
                "SB_MULTI_EXECUTE_TOOL"
            ]
        );
        let none = names(MetaOptions {
            manage_connections: false,
            wait_for_connections: true,
        });
        assert_eq!(
            none,
            [
                "SB_SEARCH_TOOLS",
                "SB_GET_TOOL_SCHEMAS",
                "SB_MULTI_EXECUTE_TOOL"
            ]
        );
    }

    #[test]
    fn meta_schemas_are_valid_json_schemas() {
        for t in meta_tools(
            DEFAULT_PREFIX,
            MetaOptions {
                manage_connections: true,
                wait_for_connections: true,
            },
        ) {
            for s in [&t.input_schema, &t.output_schema] {
                let json = switchboard_proto::struct_to_json(s.as_ref().expect("schema"));
                assert!(jsonschema::meta::validate(&json).is_ok(), "{}", t.slug);
            }
        }
    }
}
