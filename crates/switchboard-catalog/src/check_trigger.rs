//! The rules a toolkit's `triggers` must follow. The triggers service matches deliveries, calls
//! list tools and validates instance configs from these values, so a wrong one would only show
//! up as a trigger that never fires; checking at load stops the service at start instead.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::catalog::Tool;
use crate::spec::{PollTriggerSpec, TriggerSpec, WebhookTriggerSpec};

/// Native pollers the triggers service implements; a poll trigger naming any other is refused
/// at load.
pub const NATIVE_POLLERS: [&str; 1] = ["gmail_history"];

/// The shortest poll interval, in seconds, a trigger type or instance may ask for.
pub const MIN_POLL_INTERVAL_SECS: u64 = 10;

/// The config property that overrides a poll trigger's interval; it is not a tool argument.
pub const INTERVAL_CONFIG_FIELD: &str = "interval_seconds";

/// A broken rule: the field path inside the trigger (e.g. `poll.tool`, empty for the trigger
/// itself) and what is wrong.
pub(crate) type Problem = (String, String);

fn problem(field: &str, text: impl Into<String>) -> Problem {
    (field.to_owned(), text.into())
}

/// Checks one trigger of a toolkit whose tools are `tools`; on success returns the compiled
/// config validator. Slug shape and uniqueness are checked by the loader, which knows the
/// whole catalog.
pub(crate) fn check_trigger(
    trigger: &TriggerSpec,
    tools: &[Arc<Tool>],
) -> Result<jsonschema::Validator, Problem> {
    if trigger.name.trim().is_empty() {
        return Err(problem("name", "must not be empty"));
    }
    if trigger.description.trim().is_empty() {
        return Err(problem("description", "must not be empty"));
    }
    if trigger.config_schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(problem(
            "config_schema",
            "must be a JSON Schema with \"type\": \"object\"",
        ));
    }
    let validator = compile("config_schema", &trigger.config_schema)?;
    check_required_are_properties(&trigger.config_schema)?;
    compile("payload_schema", &trigger.payload_schema)?;
    match (&trigger.webhook, &trigger.poll) {
        (Some(_), Some(_)) => Err(problem(
            "",
            "declares both webhook and poll; exactly one is allowed",
        )),
        (None, None) => Err(problem("", "declares neither webhook nor poll")),
        (Some(webhook), None) => check_webhook(webhook),
        (None, Some(poll)) => check_poll(poll, &trigger.config_schema, tools),
    }?;
    Ok(validator)
}

/// Checks that `schema` is a valid JSON Schema and compiles it.
fn compile(field: &str, schema: &Value) -> Result<jsonschema::Validator, Problem> {
    jsonschema::meta::validate(schema)
        .map_err(|e| problem(field, format!("is not a valid JSON Schema: {e}")))?;
    jsonschema::validator_for(schema).map_err(|e| problem(field, format!("does not compile: {e}")))
}

fn properties(schema: &Value) -> HashSet<&str> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn required(schema: &Value) -> HashSet<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn check_required_are_properties(config_schema: &Value) -> Result<(), Problem> {
    let properties = properties(config_schema);
    let mut required: Vec<&str> = required(config_schema).into_iter().collect();
    required.sort_unstable();
    match required.into_iter().find(|name| !properties.contains(name)) {
        Some(name) => Err(problem(
            "config_schema.required",
            format!("names {name:?}, which is not in config_schema.properties"),
        )),
        None => Ok(()),
    }
}

fn check_webhook(webhook: &WebhookTriggerSpec) -> Result<(), Problem> {
    if webhook.event.trim().is_empty() {
        return Err(problem("webhook.event", "must not be empty"));
    }
    let mut seen = HashSet::new();
    for (index, action) in webhook.actions.iter().enumerate() {
        let field = format!("webhook.actions[{index}]");
        if action.trim().is_empty() {
            return Err(problem(&field, "must not be empty"));
        }
        if !seen.insert(action.as_str()) {
            return Err(problem(&field, format!("lists {action:?} twice")));
        }
    }
    Ok(())
}

fn check_poll(
    poll: &PollTriggerSpec,
    config_schema: &Value,
    tools: &[Arc<Tool>],
) -> Result<(), Problem> {
    if poll.interval_secs < MIN_POLL_INTERVAL_SECS {
        return Err(problem(
            "poll.interval_secs",
            format!(
                "is {}; it must be at least {MIN_POLL_INTERVAL_SECS}",
                poll.interval_secs
            ),
        ));
    }
    check_interval_config(config_schema)?;
    match (&poll.tool, &poll.native) {
        (Some(_), Some(_)) => Err(problem(
            "poll",
            "declares both tool and native; exactly one is allowed",
        )),
        (None, None) => Err(problem("poll", "declares neither tool nor native")),
        (None, Some(native)) => {
            if NATIVE_POLLERS.contains(&native.as_str()) {
                Ok(())
            } else {
                Err(problem(
                    "poll.native",
                    format!(
                        "native poller {native:?} does not exist (known: {})",
                        NATIVE_POLLERS.join(", ")
                    ),
                ))
            }
        }
        (Some(slug), None) => {
            let Some(tool) = tools.iter().find(|t| &t.slug == slug) else {
                return Err(problem(
                    "poll.tool",
                    format!("{slug:?} is not a tool of this toolkit"),
                ));
            };
            if !tool.has_tag("readOnlyHint") {
                return Err(problem(
                    "poll.tool",
                    format!(
                        "{slug:?} is not tagged readOnlyHint; polling must not change anything"
                    ),
                ));
            }
            check_config_matches_tool(config_schema, tool)?;
            check_items(poll, tool)
        }
    }
}

/// An instance's `interval_seconds`, when the config offers it, must not go below the floor.
fn check_interval_config(config_schema: &Value) -> Result<(), Problem> {
    let Some(interval) = config_schema
        .get("properties")
        .and_then(|p| p.get(INTERVAL_CONFIG_FIELD))
    else {
        return Ok(());
    };
    let field = format!("config_schema.properties.{INTERVAL_CONFIG_FIELD}");
    let is_integer = interval.get("type").and_then(Value::as_str) == Some("integer");
    let minimum = interval.get("minimum").and_then(Value::as_u64);
    if !is_integer || minimum.is_none_or(|m| m < MIN_POLL_INTERVAL_SECS) {
        return Err(problem(
            &field,
            format!(
                "must be {{\"type\": \"integer\", \"minimum\": n}} with n at least {MIN_POLL_INTERVAL_SECS}"
            ),
        ));
    }
    Ok(())
}

/// Generic polling calls the tool with the config (minus `interval_seconds`) as its arguments:
/// every config property must be an argument, and every required argument required.
fn check_config_matches_tool(config_schema: &Value, tool: &Tool) -> Result<(), Problem> {
    let arguments = properties(&tool.spec.input_schema);
    let mut config: Vec<&str> = properties(config_schema).into_iter().collect();
    config.sort_unstable();
    for name in config {
        if name != INTERVAL_CONFIG_FIELD && !arguments.contains(name) {
            return Err(problem(
                &format!("config_schema.properties.{name}"),
                format!(
                    "is not an argument of {}, which is called with the config",
                    tool.slug
                ),
            ));
        }
    }
    let config_required = required(config_schema);
    let mut tool_required: Vec<&str> = required(&tool.spec.input_schema).into_iter().collect();
    tool_required.sort_unstable();
    for name in tool_required {
        if !config_required.contains(name) {
            return Err(problem(
                "config_schema.required",
                format!("must list {name:?}, a required argument of {}", tool.slug),
            ));
        }
    }
    Ok(())
}

/// `items_path` must name an array in the tool's output schema and `id_field` a property of its
/// items, or the poller would find nothing (or nothing to tell items apart by).
fn check_items(poll: &PollTriggerSpec, tool: &Tool) -> Result<(), Problem> {
    let mut schema = &tool.spec.output_schema;
    if !poll.items_path.is_empty() {
        for segment in poll.items_path.split('.') {
            schema = schema
                .get("properties")
                .and_then(|p| p.get(segment))
                .ok_or_else(|| {
                    problem(
                        "poll.items_path",
                        format!(
                            "{:?} is not in the output_schema of {} (no property {segment:?})",
                            poll.items_path, tool.slug
                        ),
                    )
                })?;
        }
    }
    if !has_type(schema, "array") {
        return Err(problem(
            "poll.items_path",
            format!(
                "{:?} does not name an array in the output_schema of {}",
                poll.items_path, tool.slug
            ),
        ));
    }
    let items = schema.get("items").unwrap_or(&Value::Null);
    if !properties(items).contains(poll.id_field.as_str()) {
        return Err(problem(
            "poll.id_field",
            format!(
                "{:?} is not a property of the items at {:?} in the output_schema of {}",
                poll.id_field, poll.items_path, tool.slug
            ),
        ));
    }
    Ok(())
}

fn has_type(schema: &Value, name: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == name,
        Some(Value::Array(types)) => types.iter().any(|t| t.as_str() == Some(name)),
        _ => false,
    }
}
