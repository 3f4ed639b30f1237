//! Loading `toolkits/*.yaml` and checking every rule a toolkit file must follow. A broken file
//! stops the service at start with the file, the tool or trigger and the problem.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::{Catalog, Tool, Toolkit};
use crate::check_oauth2;
use crate::check_trigger;
use crate::error::CatalogError;
use crate::is_hint_tag;
use crate::spec::{HttpMethod, ToolSpec, ToolkitSpec};
use crate::trigger_type::TriggerType;

/// Native handlers `switchboard-provider` implements; a tool naming any other is refused at load.
pub const NATIVE_HANDLERS: [&str; 2] = ["gmail_send_email", "gmail_create_draft"];

/// Slugs already declared in the catalog: tool and trigger slugs share one namespace.
#[derive(Default)]
struct SeenSlugs {
    tools: HashSet<String>,
    triggers: HashSet<String>,
}

impl SeenSlugs {
    /// Records `slug`; the error says what already holds it.
    fn insert(&mut self, slug: &str, is_trigger: bool) -> Result<(), String> {
        let holder = if self.tools.contains(slug) {
            "tool"
        } else if self.triggers.contains(slug) {
            "trigger"
        } else {
            let set = if is_trigger {
                &mut self.triggers
            } else {
                &mut self.tools
            };
            set.insert(slug.to_owned());
            return Ok(());
        };
        Err(format!(
            "slug is declared twice in the catalog (already by a {holder})"
        ))
    }
}

/// What to load and how.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Base URL per toolkit slug, replacing the file's `base_url` (e.g. a local stand-in).
    pub base_url_overrides: BTreeMap<String, String>,
}

impl Catalog {
    /// Loads and validates every `*.yaml` file in `dir`.
    pub fn load_dir(dir: &Path, options: &LoadOptions) -> Result<Catalog, CatalogError> {
        let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::ReadDir {
            dir: dir.to_owned(),
            source,
        })?;
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| CatalogError::ReadDir {
                    dir: dir.to_owned(),
                    source,
                })?
                .path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(CatalogError::Empty {
                dir: dir.to_owned(),
            });
        }
        let mut sources = Vec::with_capacity(files.len());
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| CatalogError::ReadFile {
                file: file.clone(),
                source,
            })?;
            sources.push((file, text));
        }
        Catalog::from_sources(&sources, options)
    }

    /// Loads a catalog from `(file name, YAML text)` pairs.
    pub fn from_sources(
        sources: &[(PathBuf, String)],
        options: &LoadOptions,
    ) -> Result<Catalog, CatalogError> {
        let mut toolkits = Vec::with_capacity(sources.len());
        let mut seen_slugs = SeenSlugs::default();
        let mut seen_toolkits: HashSet<String> = HashSet::new();
        for (file, text) in sources {
            let spec: ToolkitSpec =
                serde_yaml_ng::from_str(text).map_err(|e| parse_error(file, text, &e))?;
            let toolkit = build_toolkit(file, spec, options, &mut seen_slugs)?;
            if !seen_toolkits.insert(toolkit.slug.clone()) {
                return Err(CatalogError::Toolkit {
                    file: file.clone(),
                    problem: format!("toolkit slug {:?} is declared twice", toolkit.slug),
                });
            }
            toolkits.push(toolkit);
        }
        for slug in options.base_url_overrides.keys() {
            if !seen_toolkits.contains(slug) {
                return Err(CatalogError::UnknownOverride {
                    toolkit: slug.clone(),
                });
            }
        }
        Ok(Catalog::from_toolkits(toolkits))
    }
}

impl Catalog {
    /// A project's view: `custom` (the project's own toolkits) laid over `base`. A custom
    /// toolkit follows every rule of a toolkit file, and more: its slug and its tools' slugs
    /// must not name anything of the base (it cannot shadow a built-in toolkit or tool), and
    /// it makes plain HTTP calls only (no native handlers, no trigger types).
    pub fn layered(base: Arc<Catalog>, custom: Vec<ToolkitSpec>) -> Result<Catalog, CatalogError> {
        let mut seen_slugs = SeenSlugs::default();
        let mut toolkits = Vec::with_capacity(custom.len());
        let mut seen_toolkits: HashSet<String> = HashSet::new();
        for spec in custom {
            let file = PathBuf::from(format!("{}.yaml", spec.slug));
            let problem = |problem: String| CatalogError::Toolkit {
                file: file.clone(),
                problem,
            };
            if base.toolkit(&spec.slug).is_some() {
                return Err(problem(format!(
                    "toolkit slug {:?} is a built-in toolkit's",
                    spec.slug
                )));
            }
            if !spec.triggers.is_empty() {
                return Err(problem("a custom toolkit cannot declare triggers".into()));
            }
            for tool in &spec.tools {
                if base.tool(&tool.slug).is_some() || base.trigger_type(&tool.slug).is_some() {
                    return Err(CatalogError::Tool {
                        file: file.clone(),
                        tool: tool.slug.clone(),
                        problem: "slug is a built-in tool's".into(),
                    });
                }
                if tool.native.is_some() {
                    return Err(CatalogError::Tool {
                        file: file.clone(),
                        tool: tool.slug.clone(),
                        problem:
                            "a custom tool makes an HTTP call; native handlers are built-in only"
                                .into(),
                    });
                }
            }
            let mut toolkit = build_toolkit(&file, spec, &LoadOptions::default(), &mut seen_slugs)?;
            toolkit.proto.is_custom = true;
            if !seen_toolkits.insert(toolkit.slug.clone()) {
                return Err(problem(format!(
                    "toolkit slug {:?} is declared twice",
                    toolkit.slug
                )));
            }
            toolkits.push(toolkit);
        }
        let mut layer = Catalog::from_toolkits(toolkits);
        layer.base = Some(base);
        Ok(layer)
    }
}

/// A YAML error; one inside a tool (`tools[3]: unknown field …`) names that tool by its slug,
/// one inside a trigger (`triggers[0].poll: …`) that trigger and the field path.
fn parse_error(file: &Path, text: &str, err: &serde_yaml_ng::Error) -> CatalogError {
    let message = err.to_string();
    if let Some(error) = trigger_parse_error(file, text, &message) {
        return error;
    }
    let tool = message
        .strip_prefix("tools[")
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(index, _)| index.parse::<usize>().ok())
        .map(|index| {
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
                .ok()
                .and_then(|doc| {
                    doc.get("tools")?
                        .get(index)?
                        .get("slug")?
                        .as_str()
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| format!("tools[{index}]"))
        });
    match tool {
        Some(tool) => CatalogError::Tool {
            file: file.to_owned(),
            tool,
            problem: format!("invalid YAML: {message}"),
        },
        None => CatalogError::Parse {
            file: file.to_owned(),
            message,
        },
    }
}

fn trigger_parse_error(file: &Path, text: &str, message: &str) -> Option<CatalogError> {
    let (field, problem) = message.split_once(": ")?;
    let index = field
        .strip_prefix("triggers[")?
        .split_once(']')?
        .0
        .parse::<usize>()
        .ok()?;
    let trigger = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
        .ok()
        .and_then(|doc| {
            doc.get("triggers")?
                .get(index)?
                .get("slug")?
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("triggers[{index}]"));
    Some(CatalogError::Trigger {
        file: file.to_owned(),
        trigger,
        field: field.to_owned(),
        problem: format!("invalid YAML: {problem}"),
    })
}

fn build_toolkit(
    file: &Path,
    mut spec: ToolkitSpec,
    options: &LoadOptions,
    seen_slugs: &mut SeenSlugs,
) -> Result<Toolkit, CatalogError> {
    let toolkit_err = |problem: String| CatalogError::Toolkit {
        file: file.to_owned(),
        problem,
    };
    if !is_toolkit_slug(&spec.slug) {
        return Err(toolkit_err(format!(
            "slug {:?} must be lowercase letters, digits and underscores, starting with a letter",
            spec.slug
        )));
    }
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem != spec.slug {
        return Err(toolkit_err(format!(
            "slug {:?} does not match the file name {stem:?}",
            spec.slug
        )));
    }
    if spec.name.trim().is_empty() || spec.description.trim().is_empty() {
        return Err(toolkit_err("name and description must not be empty".into()));
    }
    if spec.auth.schemes.is_empty() {
        return Err(toolkit_err(
            "auth.schemes must name at least one scheme".into(),
        ));
    }
    check_oauth2::check_auth(&spec.auth).map_err(toolkit_err)?;
    let base_url = options
        .base_url_overrides
        .get(&spec.slug)
        .cloned()
        .unwrap_or_else(|| spec.base_url.clone());
    if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
        return Err(toolkit_err(format!(
            "base_url {base_url:?} must be an http(s) URL"
        )));
    }
    if spec.tools.is_empty() {
        return Err(toolkit_err("a toolkit needs at least one tool".into()));
    }
    let prefix = format!("{}_", spec.slug.to_uppercase());
    let tool_specs = std::mem::take(&mut spec.tools);
    let mut tools = Vec::with_capacity(tool_specs.len());
    for tool_spec in tool_specs {
        let slug = tool_spec.slug.clone();
        let tool_err = |problem: String| CatalogError::Tool {
            file: file.to_owned(),
            tool: slug.clone(),
            problem,
        };
        if !is_tool_slug(&slug, &prefix) {
            return Err(tool_err(format!(
                "slug must be {prefix}{{ACTION}}: uppercase letters, digits and single underscores"
            )));
        }
        seen_slugs.insert(&slug, false).map_err(tool_err)?;
        let validator = check_tool(&tool_spec).map_err(tool_err)?;
        tools.push(Arc::new(Tool::new(&spec.slug, tool_spec, validator)));
    }
    tools.sort_by(|a, b| a.slug.cmp(&b.slug));
    // Keep the spec's tool list too, for code that reads the file as written.
    spec.tools = tools.iter().map(|t| t.spec.clone()).collect();
    let trigger_types = build_trigger_types(file, &mut spec, &prefix, &tools, seen_slugs)?;
    Ok(Toolkit::new(spec, base_url, tools, trigger_types))
}

/// Checks and compiles the toolkit's triggers (after its tools, which poll triggers call).
fn build_trigger_types(
    file: &Path,
    spec: &mut ToolkitSpec,
    prefix: &str,
    tools: &[Arc<Tool>],
    seen_slugs: &mut SeenSlugs,
) -> Result<Vec<Arc<TriggerType>>, CatalogError> {
    let trigger_specs = std::mem::take(&mut spec.triggers);
    let mut trigger_types = Vec::with_capacity(trigger_specs.len());
    for (index, trigger_spec) in trigger_specs.into_iter().enumerate() {
        let trigger_err = |field: &str, problem: String| CatalogError::Trigger {
            file: file.to_owned(),
            trigger: trigger_spec.slug.clone(),
            field: if field.is_empty() {
                format!("triggers[{index}]")
            } else {
                format!("triggers[{index}].{field}")
            },
            problem,
        };
        if !is_tool_slug(&trigger_spec.slug, prefix) {
            return Err(trigger_err(
                "slug",
                format!(
                    "must be {prefix}{{EVENT}}: uppercase letters, digits and single underscores"
                ),
            ));
        }
        seen_slugs
            .insert(&trigger_spec.slug, true)
            .map_err(|problem| trigger_err("slug", problem))?;
        let validator = check_trigger::check_trigger(&trigger_spec, tools)
            .map_err(|(field, problem)| trigger_err(&field, problem))?;
        trigger_types.push(Arc::new(TriggerType::new(
            &spec.slug,
            trigger_spec,
            validator,
        )));
    }
    trigger_types.sort_by(|a, b| a.slug.cmp(&b.slug));
    spec.triggers = trigger_types.iter().map(|t| t.spec.clone()).collect();
    Ok(trigger_types)
}

fn is_toolkit_slug(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_tool_slug(s: &str, prefix: &str) -> bool {
    let Some(action) = s.strip_prefix(prefix) else {
        return false;
    };
    !action.is_empty()
        && action.split('_').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

/// Checks one tool; on success returns the compiled input validator.
fn check_tool(tool: &ToolSpec) -> Result<jsonschema::Validator, String> {
    if tool.name.trim().is_empty() || tool.description.trim().is_empty() {
        return Err("name and description must not be empty".into());
    }
    check_tags(&tool.tags)?;
    if tool.input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
        return Err("input_schema must be a JSON Schema with \"type\": \"object\"".into());
    }
    jsonschema::meta::validate(&tool.input_schema)
        .map_err(|e| format!("input_schema is not a valid JSON Schema: {e}"))?;
    jsonschema::meta::validate(&tool.output_schema)
        .map_err(|e| format!("output_schema is not a valid JSON Schema: {e}"))?;
    let validator = jsonschema::validator_for(&tool.input_schema)
        .map_err(|e| format!("input_schema does not compile: {e}"))?;
    jsonschema::validator_for(&tool.output_schema)
        .map_err(|e| format!("output_schema does not compile: {e}"))?;

    let properties: HashSet<&str> = tool
        .input_schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let required: HashSet<&str> = tool
        .input_schema
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for name in &required {
        if !properties.contains(name) {
            return Err(format!(
                "input_schema.required names {name:?}, which is not in input_schema.properties"
            ));
        }
    }

    match (&tool.http, &tool.native) {
        (Some(_), Some(_)) => Err("declares both http and native; exactly one is allowed".into()),
        (None, None) => Err("declares neither http nor native".into()),
        (None, Some(native)) => {
            if NATIVE_HANDLERS.contains(&native.as_str()) {
                Ok(validator)
            } else {
                Err(format!(
                    "native handler {native:?} does not exist (known: {})",
                    NATIVE_HANDLERS.join(", ")
                ))
            }
        }
        (Some(http), None) => {
            if !http.path.starts_with('/') {
                return Err(format!("http.path {:?} must start with '/'", http.path));
            }
            let path_params = path_params(&http.path)?;
            let mut mapped: HashSet<&str> = HashSet::new();
            for p in &path_params {
                if !properties.contains(p.as_str()) {
                    return Err(format!(
                        "path parameter {p:?} of {} is not in input_schema.properties",
                        http.path
                    ));
                }
                if !required.contains(p.as_str()) {
                    return Err(format!(
                        "path parameter {p:?} of {} must be in input_schema.required",
                        http.path
                    ));
                }
                mapped.insert(p.as_str());
            }
            let body_params = http
                .body
                .as_ref()
                .map(|b| b.params.as_slice())
                .unwrap_or(&[]);
            let whole_body = http.body.as_ref().and_then(|b| b.value.as_deref());
            if whole_body.is_some() && !body_params.is_empty() {
                return Err("http.body has both value and params; exactly one is allowed".into());
            }
            let named = http
                .query
                .iter()
                .map(|q| ("http.query", q.arg()))
                .chain(http.headers.values().map(|h| ("http.headers", h.as_str())))
                .chain(body_params.iter().map(|b| ("http.body.params", b.arg())))
                .chain(whole_body.map(|v| ("http.body.value", v)));
            for (place, name) in named {
                if !properties.contains(name) {
                    return Err(format!(
                        "{place} names {name:?}, which is not in input_schema.properties"
                    ));
                }
                if !mapped.insert(name) {
                    return Err(format!("argument {name:?} is mapped to the request twice"));
                }
            }
            let mut wire = HashSet::new();
            for q in &http.query {
                if !wire.insert(q.name()) {
                    return Err(format!("http.query sends {:?} twice", q.name()));
                }
            }
            if let Some(unmapped) = properties.iter().find(|p| !mapped.contains(*p)) {
                return Err(format!(
                    "input_schema property {unmapped:?} is not mapped to the request (path, query, headers or body)"
                ));
            }
            if http.method == HttpMethod::Get && http.body.is_some() {
                return Err("a GET request cannot have a body".into());
            }
            Ok(validator)
        }
    }
}

fn check_tags(tags: &[String]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for tag in tags {
        let topic = tag.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && tag
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !(is_hint_tag(tag) || topic) {
            return Err(format!(
                "tag {tag:?} is neither a hint tag (readOnlyHint, destructiveHint, idempotentHint, openWorldHint) nor a lowercase topic tag"
            ));
        }
        if !seen.insert(tag.as_str()) {
            return Err(format!("tag {tag:?} is listed twice"));
        }
    }
    if seen.contains("readOnlyHint") && seen.contains("destructiveHint") {
        return Err("a tool cannot be both readOnlyHint and destructiveHint".into());
    }
    Ok(())
}

/// The `{name}` (and `{+name}`) placeholders of a path template.
fn path_params(path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("http.path {path:?} has an unclosed '{{'"))?;
        let name = after[..end].strip_prefix('+').unwrap_or(&after[..end]);
        if name.is_empty() || name.contains('{') {
            return Err(format!(
                "http.path {path:?} has an empty or nested placeholder"
            ));
        }
        out.push(name.to_owned());
        rest = &after[end + 1..];
    }
    if rest.contains('}') {
        return Err(format!("http.path {path:?} has an unmatched '}}'"));
    }
    Ok(out)
}
