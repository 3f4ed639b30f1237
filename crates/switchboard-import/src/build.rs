//! The back end: a model ([`ApiModel`]) and an [`Overlay`] into a toolkit file of the catalog's
//! format and a [`Report`].
//!
//! Rules:
//! - one tool per selected operation (the overlay's `include`/`exclude`/`drop`, deprecated
//!   ones out unless `include_deprecated`); slugs by [`crate::naming`]'s rule, or the overlay's
//!   `rename`;
//! - name: the summary (else the first sentence of the description, else the id's words);
//!   description: the summary followed by the description's first paragraph, Markdown and HTML
//!   stripped, cut at a sentence end (see [`crate::text`]); one shorter than 40 characters gets
//!   the request and the API's name (`Lists pages. Makes the GET /v3/blogs/{blogId}/pages
//!   request of the Blogger API.`);
//! - arguments: path parameters (by placeholder, the path rewritten when the name needs
//!   cleaning), then query, then header (not `Authorization`, content negotiation or the API
//!   key's header), then the body's properties; a name taken by an earlier location gets the
//!   location as prefix (`query_id`, `header_id`, `body_id`) and is mapped back to its wire name
//!   with `{arg, name}`; a body that is not an object with properties is one argument `body`
//!   (`body.value`); read-only body properties and the overlay's `ignore_params` are left out;
//! - output schema: the success response's schema, or `{}`;
//! - tags: the description's tags as topic tags (`Pull Requests` → `pull-requests`), hint tags
//!   by method (GET: `readOnlyHint`, `idempotentHint`; PUT: `idempotentHint`; DELETE:
//!   `destructiveHint`, `idempotentHint`) and `openWorldHint` on every tool;
//! - pagination: the model's hint, else from the query parameters: a cursor
//!   (`cursor`, `page_token`, `pageToken`, `starting_after`, `after`…, with the response's
//!   next-cursor field when it has a recognisable one), `page`, or `offset`;
//! - auth: OAuth 2.0 authorization code → `OAUTH2` (scopes: those the selected operations ask
//!   for, when there are at most [`MAX_DEFAULT_SCOPES`]), API key in a header → `API_KEY` with
//!   its placement (`Authorization` gets the prefix `Bearer `), bearer → `BEARER_TOKEN`, basic
//!   → `BASIC`, none → `NO_AUTH`; the overlay's `auth` fields replace these.
//!
//! With a curated toolkit ([`with_curated`]): the curated file's toolkit-level fields and tools
//! win, and generated tools whose method and path template a curated tool already has are left
//! out (reported as dropped, "covered by" the curated tool).
//!
//! An operation that cannot become a valid tool (a `GET` with a body, a schema the validator
//! refuses) is skipped with its reason in the report; a toolkit without tools is an error.

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Map, Value};
use switchboard_catalog::spec::{
    AuthScheme, AuthSpec, BodyEncoding as SpecEncoding, BodySpec, CredentialPlacement, HttpMethod,
    HttpSpec, OAuth2Spec, PaginationSpec, PaginationStyle, ParamRef, ToolSpec, ToolkitSpec,
};

use crate::ir::{ApiModel, AuthInfo, BodyEncoding, Location, Operation, PaginationHint, Skipped};
use crate::naming;
use crate::overlay::{glob_match, Overlay};
use crate::report::Report;
use crate::text;
use crate::ImportError;

/// More scopes than this across the selected operations are not asked for by default; the
/// overlay's `auth.oauth2.scopes` names them instead.
pub const MAX_DEFAULT_SCOPES: usize = 20;
/// Characters below which a tool description gets its API and request appended (the catalog's
/// own test holds every shipped tool to 40).
const SHORT_DESCRIPTION: usize = 40;
/// Characters of a tool slug's action.
const ACTION_MAX: usize = 64;
/// Request headers the platform or the HTTP client sets; never arguments.
const RESERVED_HEADERS: [&str; 7] = [
    "authorization",
    "content-type",
    "accept",
    "content-length",
    "user-agent",
    "host",
    "cookie",
];

/// A generated toolkit and what happened on the way.
#[derive(Debug, Clone)]
pub struct Imported {
    pub toolkit: ToolkitSpec,
    pub report: Report,
}

/// Builds the toolkit of `model` under `overlay`.
pub fn toolkit(model: &ApiModel, overlay: &Overlay) -> Result<Imported, ImportError> {
    let slug = overlay
        .slug
        .clone()
        .unwrap_or_else(|| naming::toolkit_slug(&model.title));
    if !is_toolkit_slug(&slug) {
        return Err(overlay_err(
            "slug",
            format!("{slug:?} must be lowercase letters, digits and underscores, starting with a letter"),
        ));
    }
    check_overlay_names(model, overlay)?;
    let mut report = Report {
        skipped: model.skipped.clone(),
        ..Report::default()
    };
    let selected = select(model, overlay, &mut report);
    if let Some(max) = overlay.max_tools {
        if selected.len() > max {
            return Err(overlay_err(
                "max_tools",
                format!(
                    "{} operations are selected, more than max_tools {max}; narrow include/exclude",
                    selected.len()
                ),
            ));
        }
    }
    let slugs = slugs(&slug, &selected, overlay, &mut report)?;
    let auth_headers: Vec<String> = model
        .auth
        .iter()
        .filter_map(|a| match a {
            AuthInfo::ApiKey {
                header: Some(h), ..
            } => Some(h.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    let name = overlay
        .name
        .clone()
        .or_else(|| Some(text::name(&model.title)).filter(|n| !n.is_empty()))
        .unwrap_or_else(|| slug.clone());
    let mut tools = Vec::with_capacity(selected.len());
    let mut used_scopes: Vec<String> = Vec::new();
    for (op, tool_slug) in selected.iter().zip(slugs) {
        let description = overlay
            .operations
            .get(&op.id)
            .and_then(|o| o.description.clone());
        match tool(
            op,
            tool_slug.clone(),
            description,
            &auth_headers,
            &overlay.ignore_params,
            &name,
        ) {
            Ok(tool) => {
                report.imported.push((op.id.clone(), tool_slug));
                for scope in &op.scopes {
                    if !used_scopes.contains(scope) {
                        used_scopes.push(scope.clone());
                    }
                }
                tools.push(tool);
            }
            Err(reason) => report.skipped.push(Skipped {
                location: format!("operation {}", op.id),
                reason,
            }),
        }
    }
    if tools.is_empty() {
        return Err(ImportError::Invalid {
            location: "/paths".into(),
            message: format!(
                "no operation became a tool ({} dropped by the overlay, {} skipped)",
                report.dropped.len(),
                report.skipped.len()
            ),
        });
    }
    let auth = auth(model, overlay, &used_scopes, &mut report)?;
    let base_url = match &overlay.base_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => model.base_url.clone(),
    };
    if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
        let message = format!(
            "base URL {base_url:?} is not an absolute http(s) URL; set base_url in the overlay"
        );
        return Err(match overlay.base_url {
            Some(_) => overlay_err("base_url", message),
            None => ImportError::Invalid {
                location: "/servers".into(),
                message,
            },
        });
    }
    let description = overlay
        .description
        .clone()
        .or_else(|| Some(text::brief(&model.description, text::DESCRIPTION_MAX)))
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| format!("The {name} API."));
    Ok(Imported {
        toolkit: ToolkitSpec {
            slug,
            name,
            description,
            logo: overlay.logo.clone().unwrap_or_default(),
            categories: overlay.categories.clone(),
            base_url,
            auth,
            headers: overlay.headers.clone(),
            response: overlay.response.clone(),
            tools,
            triggers: Vec::new(),
        },
        report,
    })
}

/// The generated toolkit under a hand-written one (the overlay's `curated`): the curated
/// toolkit's fields, triggers and tools as they are, then the generated tools no curated tool
/// covers. A curated tool covers a generated one when both call the same method on the same
/// path template, placeholders compared by position (`/repos/{owner}/{repo}` and
/// `/repos/{o}/{r}` are the same).
pub fn with_curated(imported: Imported, curated: ToolkitSpec) -> Result<Imported, ImportError> {
    let Imported {
        toolkit: generated,
        mut report,
    } = imported;
    if curated.slug != generated.slug {
        return Err(overlay_err(
            "curated",
            format!(
                "the curated toolkit's slug {:?} differs from the overlay's {:?}",
                curated.slug, generated.slug
            ),
        ));
    }
    let covered: BTreeMap<(&'static str, String), String> = curated
        .tools
        .iter()
        .filter_map(|t| {
            let http = t.http.as_ref()?;
            Some((
                (http.method.as_str(), path_shape(&http.path)),
                t.slug.clone(),
            ))
        })
        .collect();
    let curated_slugs: HashSet<&str> = curated.tools.iter().map(|t| t.slug.as_str()).collect();
    let mut tools = curated.tools.clone();
    for tool in generated.tools {
        let op_id = report
            .imported
            .iter()
            .find(|(_, slug)| *slug == tool.slug)
            .map(|(id, _)| id.clone())
            .unwrap_or_default();
        let cover = tool
            .http
            .as_ref()
            .and_then(|http| covered.get(&(http.method.as_str(), path_shape(&http.path))));
        if let Some(by) = cover {
            report.imported.retain(|(_, slug)| *slug != tool.slug);
            report
                .dropped
                .push((op_id, format!("covered by curated {by}")));
            continue;
        }
        if curated_slugs.contains(tool.slug.as_str()) {
            return Err(overlay_err(
                &format!("operations.{op_id}.rename"),
                format!(
                    "the generated slug {} is a curated tool's, for another operation; rename it",
                    tool.slug
                ),
            ));
        }
        tools.push(tool);
    }
    report.notes.push(format!(
        "{} curated tools from the hand-written toolkit",
        curated.tools.len()
    ));
    Ok(Imported {
        toolkit: ToolkitSpec { tools, ..curated },
        report,
    })
}

/// A path template with every placeholder emptied (`/repos/{}/{}/issues`), so templates that
/// name their placeholders differently compare equal.
pub fn path_shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0usize;
    for c in path.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str("{}");
                }
                depth += 1;
            }
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn overlay_err(location: &str, message: String) -> ImportError {
    ImportError::Overlay {
        location: location.to_owned(),
        message,
    }
}

fn is_toolkit_slug(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Every operation, glob and tag the overlay names must exist in the description.
fn check_overlay_names(model: &ApiModel, overlay: &Overlay) -> Result<(), ImportError> {
    for id in overlay.operations.keys() {
        if !model.operations.iter().any(|op| op.id == *id) {
            return Err(overlay_err(
                &format!("operations.{id}"),
                "no operation with this id in the description".into(),
            ));
        }
    }
    for (field, globs) in [("include", &overlay.include), ("exclude", &overlay.exclude)] {
        for (i, glob) in globs.iter().enumerate() {
            if !model.operations.iter().any(|op| glob_match(glob, &op.id)) {
                return Err(overlay_err(
                    &format!("{field}[{i}]"),
                    format!("{glob:?} matches no operation id"),
                ));
            }
        }
    }
    for (i, name) in overlay.ignore_params.iter().enumerate() {
        let named = model.operations.iter().any(|op| {
            op.params.iter().any(|p| p.name == *name)
                || op.body.as_ref().is_some_and(|b| {
                    b.schema
                        .get("properties")
                        .and_then(Value::as_object)
                        .is_some_and(|p| p.contains_key(name))
                })
        });
        if !named {
            return Err(overlay_err(
                &format!("ignore_params[{i}]"),
                format!("no operation has a parameter {name:?}"),
            ));
        }
    }
    for (field, tags) in [
        ("include_tags", &overlay.include_tags),
        ("exclude_tags", &overlay.exclude_tags),
    ] {
        for (i, tag) in tags.iter().enumerate() {
            if !model.operations.iter().any(|op| op.tags.contains(tag)) {
                return Err(overlay_err(
                    &format!("{field}[{i}]"),
                    format!("no operation has the tag {tag:?}"),
                ));
            }
        }
    }
    Ok(())
}

/// The operations the overlay keeps, in the description's order.
fn select<'m>(model: &'m ApiModel, overlay: &Overlay, report: &mut Report) -> Vec<&'m Operation> {
    let filtered = !overlay.include.is_empty() || !overlay.include_tags.is_empty();
    let mut out = Vec::new();
    for op in &model.operations {
        let has_tag = |tags: &[String]| op.tags.iter().any(|t| tags.contains(t));
        let why = if overlay.operations.get(&op.id).is_some_and(|o| o.drop) {
            Some("drop".to_owned())
        } else if filtered
            && !overlay.include.iter().any(|g| glob_match(g, &op.id))
            && !has_tag(&overlay.include_tags)
        {
            Some("not included".to_owned())
        } else if let Some(glob) = overlay.exclude.iter().find(|g| glob_match(g, &op.id)) {
            Some(format!("excluded by {glob:?}"))
        } else if has_tag(&overlay.exclude_tags) {
            Some("excluded by tag".to_owned())
        } else if op.deprecated && !overlay.include_deprecated {
            Some("deprecated".to_owned())
        } else {
            None
        };
        match why {
            Some(why) => report.dropped.push((op.id.clone(), why)),
            None => out.push(op),
        }
    }
    out
}

/// One slug per selected operation: the overlay's renames first, then the rule, made unique
/// with `_2`, `_3`… in order.
fn slugs(
    toolkit: &str,
    ops: &[&Operation],
    overlay: &Overlay,
    report: &mut Report,
) -> Result<Vec<String>, ImportError> {
    let prefix = format!("{}_", toolkit.to_uppercase());
    let mut taken: HashSet<String> = HashSet::new();
    let mut out: Vec<Option<String>> = Vec::with_capacity(ops.len());
    for op in ops {
        let rename = overlay
            .operations
            .get(&op.id)
            .and_then(|o| o.rename.as_deref());
        let Some(rename) = rename else {
            out.push(None);
            continue;
        };
        let location = format!("operations.{}.rename", op.id);
        let action = rename.strip_prefix(&prefix).unwrap_or(rename);
        if !naming::is_action(action) {
            return Err(overlay_err(
                &location,
                format!("{rename:?} must be {prefix}ACTION in upper-case words"),
            ));
        }
        let slug = format!("{prefix}{action}");
        if !taken.insert(slug.clone()) {
            return Err(overlay_err(&location, format!("{slug} is used twice")));
        }
        report.renamed.push((op.id.clone(), slug.clone()));
        out.push(Some(slug));
    }
    Ok(ops
        .iter()
        .zip(out)
        .map(|(op, renamed)| {
            renamed.unwrap_or_else(|| {
                let mut words = naming::action_words(&op.id, toolkit);
                if words.is_empty() {
                    words = naming::split_words(&format!("{} {}", op.method, op.path));
                }
                let base = format!("{prefix}{}", naming::screaming(&words, ACTION_MAX));
                let mut slug = base.clone();
                let mut n = 2;
                while !taken.insert(slug.clone()) {
                    slug = format!("{base}_{n}");
                    n += 1;
                }
                slug
            })
        })
        .collect())
}

/// Argument names of one tool, unique, earlier locations first.
#[derive(Default)]
struct Args {
    properties: Map<String, Value>,
    required: Vec<Value>,
}

impl Args {
    /// A free name for `wire` in `location` (`query`, `header`, `body`).
    fn name_for(&self, wire: &str, location: &str) -> String {
        let base = naming::arg_name(wire);
        if !self.properties.contains_key(&base) {
            return base;
        }
        let prefixed = format!("{location}_{base}");
        let mut name = prefixed.clone();
        let mut n = 2;
        while self.properties.contains_key(&name) {
            name = format!("{prefixed}_{n}");
            n += 1;
        }
        name
    }

    fn add(&mut self, name: &str, mut schema: Value, description: &str, required: bool) {
        tidy(&mut schema);
        if let Value::Object(map) = &mut schema {
            let description = text::brief(description, text::FIELD_MAX);
            if !description.is_empty() {
                map.insert("description".into(), Value::String(description));
            }
        } else if !schema.is_boolean() {
            schema = json!({});
        }
        self.properties.insert(name.to_owned(), schema);
        if required {
            self.required.push(Value::String(name.to_owned()));
        }
    }
}

fn param_ref(arg: &str, wire: &str, join: Option<String>) -> ParamRef {
    if arg == wire && join.is_none() {
        ParamRef::Same(arg.to_owned())
    } else {
        ParamRef::Renamed {
            arg: arg.to_owned(),
            name: (arg != wire).then(|| wire.to_owned()),
            join,
        }
    }
}

/// One tool; `Err(reason)` when the operation cannot be one.
fn tool(
    op: &Operation,
    slug: String,
    description: Option<String>,
    auth_headers: &[String],
    ignored: &[String],
    api: &str,
) -> Result<ToolSpec, String> {
    let method = match op.method.as_str() {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        other => return Err(format!("method {other} is not one the catalog calls")),
    };
    if method == HttpMethod::Get && op.body.is_some() {
        return Err("a GET request with a body".into());
    }
    let mut args = Args::default();
    let path = path_args(op, &mut args)?;
    let mut query = Vec::new();
    let kept = |name: &str| !ignored.iter().any(|i| i == name);
    for param in op
        .params
        .iter()
        .filter(|p| p.location == Location::Query && kept(&p.name))
    {
        let arg = args.name_for(&param.name, "query");
        args.add(
            &arg,
            param.schema.clone(),
            &param.description,
            param.required,
        );
        query.push(param_ref(&arg, &param.name, param.join.clone()));
    }
    let mut headers = BTreeMap::new();
    for param in op
        .params
        .iter()
        .filter(|p| p.location == Location::Header && kept(&p.name))
    {
        let lower = param.name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) || auth_headers.contains(&lower) {
            continue;
        }
        let arg = args.name_for(&param.name, "header");
        args.add(
            &arg,
            param.schema.clone(),
            &param.description,
            param.required,
        );
        headers.insert(param.name.clone(), arg);
    }
    let body = op.body.as_ref().map(|body| {
        let properties = body
            .schema
            .get("properties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty());
        let encoding = match body.encoding {
            BodyEncoding::Json => SpecEncoding::Json,
            BodyEncoding::Form => SpecEncoding::Form,
        };
        let mut spec = BodySpec {
            encoding,
            params: Vec::new(),
            value: None,
            graphql: body.graphql.clone(),
        };
        match properties {
            Some(properties) => {
                let required: Vec<&str> = body
                    .schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (wire, schema) in properties {
                    if schema.get("readOnly") == Some(&Value::Bool(true)) || !kept(wire) {
                        continue;
                    }
                    let arg = args.name_for(wire, "body");
                    let description = schema
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let is_required = body.required && required.contains(&wire.as_str());
                    args.add(&arg, schema.clone(), description, is_required);
                    spec.params.push(param_ref(&arg, wire, None));
                }
            }
            None => {
                let arg = args.name_for("body", "request");
                args.add(&arg, body.schema.clone(), &body.description, body.required);
                spec.value = Some(arg);
            }
        }
        spec
    });
    let mut input = json!({
        "type": "object",
        "properties": args.properties,
        "additionalProperties": false,
    });
    if !args.required.is_empty() {
        input["required"] = Value::Array(args.required);
    }
    check_schema(&input).map_err(|e| format!("input schema refused: {e}"))?;
    let mut output = op.response.clone();
    tidy(&mut output);
    if !output.is_object() || check_schema(&output).is_err() {
        output = json!({});
    }
    let pagination = op
        .pagination
        .clone()
        .or_else(|| infer_pagination(op))
        .and_then(|hint| pagination_spec(hint, &query));
    Ok(ToolSpec {
        slug,
        name: tool_name(op),
        description: with_context(
            with_notes(
                description.unwrap_or_else(|| tool_description(op)),
                &op.notes,
            ),
            api,
            method,
            &op.path,
        ),
        tags: tags(op, method),
        version: "1.0.0".into(),
        input_schema: input,
        output_schema: output,
        http: Some(HttpSpec {
            method,
            path,
            query,
            headers,
            body,
        }),
        native: None,
        pagination,
    })
}

/// Path placeholders become required arguments; the template is rewritten when a name needs
/// cleaning (`{team-slug}` → `{team_slug}`). A placeholder the description does not declare is
/// a required string.
fn path_args(op: &Operation, args: &mut Args) -> Result<String, String> {
    if !op.path.starts_with('/') {
        return Err(format!("path {:?} does not start with '/'", op.path));
    }
    let mut out = String::with_capacity(op.path.len());
    let mut rest = op.path.as_str();
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("path {:?} has an unclosed '{{'", op.path))?;
        let inner = &after[..end];
        let (plus, name) = match inner.strip_prefix('+') {
            Some(name) => ("+", name),
            None => ("", inner),
        };
        if name.is_empty() || name.contains('{') {
            return Err(format!(
                "path {:?} has an empty or nested placeholder",
                op.path
            ));
        }
        let param = op
            .params
            .iter()
            .find(|p| p.location == Location::Path && p.name == name);
        let mut arg = naming::arg_name(name);
        let mut n = 2;
        while args.properties.contains_key(&arg) {
            arg = format!("{}_{n}", naming::arg_name(name));
            n += 1;
        }
        let (schema, description) = match param {
            Some(p) => (p.schema.clone(), p.description.as_str()),
            None => (json!({"type": "string"}), ""),
        };
        args.add(&arg, schema, description, true);
        out.push('{');
        out.push_str(plus);
        out.push_str(&arg);
        out.push('}');
        rest = &after[end + 1..];
    }
    if rest.contains('}') {
        return Err(format!("path {:?} has an unmatched '}}'", op.path));
    }
    out.push_str(rest);
    Ok(out)
}

/// Trims every `description` in a schema to [`text::FIELD_MAX`].
fn tidy(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match (key.as_str(), &mut *value) {
                    ("description", Value::String(s)) => *s = text::brief(s, text::FIELD_MAX),
                    ("enum" | "const" | "default" | "examples" | "example", _) => {}
                    _ => tidy(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// The checks the catalog's loader makes on a schema.
fn check_schema(schema: &Value) -> Result<(), String> {
    jsonschema::meta::validate(schema).map_err(|e| e.to_string())?;
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn tool_name(op: &Operation) -> String {
    let from_summary = text::name(&op.summary);
    if !from_summary.is_empty() {
        return from_summary;
    }
    let first_sentence = text::brief(&op.description, text::NAME_MAX);
    let first_sentence = first_sentence
        .split_once(". ")
        .map_or(first_sentence.as_str(), |(s, _)| s)
        .trim_end_matches('.')
        .to_owned();
    if !first_sentence.is_empty() && !first_sentence.ends_with('…') {
        return first_sentence;
    }
    let words = naming::split_words(&op.id).join(" ");
    let mut chars = words.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => format!("{} {}", op.method, op.path),
    }
}

/// The description, then the operation's notes (facts the schemas do not carry, such as
/// "metadata only: the file itself cannot be sent"), one sentence each.
fn with_notes(description: String, notes: &[String]) -> String {
    if notes.is_empty() {
        return description;
    }
    let mut out = description.trim_end().to_owned();
    for note in notes {
        if !out.is_empty() && !out.ends_with('.') {
            out.push('.');
        }
        out.push(' ');
        out.push_str(note.trim());
    }
    out.trim().to_owned()
}

/// A description shorter than [`SHORT_DESCRIPTION`] ("Lists pages.") gets the API and the
/// request it makes, so an agent choosing among thousands of tools has more to go by:
/// "Lists pages. Makes the GET /v3/blogs/{blogId}/pages request of the Blogger API."
fn with_context(description: String, api: &str, method: HttpMethod, path: &str) -> String {
    if description.chars().count() >= SHORT_DESCRIPTION {
        return description;
    }
    let trimmed = description.trim().trim_end_matches('.');
    format!(
        "{trimmed}. Makes the {} {path} request of the {api} API.",
        method.as_str()
    )
}

/// The summary, then the description's first paragraph unless it only repeats the summary.
fn tool_description(op: &Operation) -> String {
    let summary = text::brief(&op.summary, text::DESCRIPTION_MAX);
    let description = text::brief(&op.description, text::DESCRIPTION_MAX);
    let combined = if summary.is_empty() {
        description
    } else if description.is_empty()
        || description
            .to_lowercase()
            .starts_with(summary.trim_end_matches('.').to_lowercase().as_str())
    {
        if description.len() > summary.len() {
            description
        } else {
            summary
        }
    } else {
        let summary = summary.trim_end_matches('.');
        text::brief(&format!("{summary}. {description}"), text::DESCRIPTION_MAX)
    };
    if combined.is_empty() {
        tool_name(op)
    } else {
        combined
    }
}

fn tags(op: &Operation, method: HttpMethod) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in op.tags.iter().filter_map(|t| naming::topic_tag(t)) {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let hints: &[&str] = match method {
        HttpMethod::Get => &["readOnlyHint", "idempotentHint"],
        HttpMethod::Put => &["idempotentHint"],
        HttpMethod::Delete => &["destructiveHint", "idempotentHint"],
        HttpMethod::Post | HttpMethod::Patch => &[],
    };
    tags.extend(hints.iter().map(|h| (*h).to_owned()));
    tags.push("openWorldHint".into());
    tags
}

/// Pagination from the query parameters' wire names.
fn infer_pagination(op: &Operation) -> Option<PaginationHint> {
    const CURSORS: [&str; 9] = [
        "cursor",
        "page_token",
        "pagetoken",
        "starting_after",
        "after",
        "next_token",
        "nexttoken",
        "continuation_token",
        "next_cursor",
    ];
    let names: Vec<&str> = op
        .params
        .iter()
        .filter(|p| p.location == Location::Query)
        .map(|p| p.name.as_str())
        .collect();
    let find = |candidates: &[&str]| {
        names
            .iter()
            .find(|n| candidates.contains(&n.to_ascii_lowercase().as_str()))
            .map(|n| (*n).to_owned())
    };
    if let Some(param) = find(&CURSORS) {
        return Some(PaginationHint {
            style: PaginationStyle::Cursor,
            param,
            next: next_cursor_field(&op.response).unwrap_or_default(),
        });
    }
    if let Some(param) = find(&["page"]) {
        return Some(PaginationHint {
            style: PaginationStyle::Page,
            param,
            next: String::new(),
        });
    }
    find(&["offset"]).map(|param| PaginationHint {
        style: PaginationStyle::Offset,
        param,
        next: String::new(),
    })
}

/// A next-cursor field at the top of the response or one object down
/// (`response_metadata.next_cursor`).
fn next_cursor_field(response: &Value) -> Option<String> {
    const NEXT: [&str; 7] = [
        "next_cursor",
        "nextcursor",
        "nextpagetoken",
        "next_page_token",
        "next_token",
        "nexttoken",
        "cursor",
    ];
    let props = response.get("properties")?.as_object()?;
    let hit = |props: &Map<String, Value>| {
        props
            .keys()
            .find(|k| NEXT.contains(&k.to_ascii_lowercase().as_str()))
            .cloned()
    };
    if let Some(found) = hit(props) {
        return Some(found);
    }
    props.iter().find_map(|(name, schema)| {
        let inner = schema.get("properties")?.as_object()?;
        hit(inner).map(|field| format!("{name}.{field}"))
    })
}

/// The hint with its parameter named as the tool's argument; `None` when the tool has no such
/// argument.
fn pagination_spec(hint: PaginationHint, query: &[ParamRef]) -> Option<PaginationSpec> {
    let arg = query
        .iter()
        .find(|q| q.name() == hint.param)?
        .arg()
        .to_owned();
    Some(PaginationSpec {
        style: hint.style,
        param: arg,
        next: hint.next,
    })
}

fn auth(
    model: &ApiModel,
    overlay: &Overlay,
    used_scopes: &[String],
    report: &mut Report,
) -> Result<AuthSpec, ImportError> {
    let mut schemes: Vec<AuthScheme> = Vec::new();
    let mut placement = None;
    let mut oauth2 = None;
    let add = |scheme: AuthScheme, schemes: &mut Vec<AuthScheme>| {
        if !schemes.contains(&scheme) {
            schemes.push(scheme);
        }
    };
    for info in &model.auth {
        match info {
            AuthInfo::OAuth2 {
                authorize_url,
                token_url,
                scopes,
            } => {
                if oauth2.is_some() {
                    continue;
                }
                if authorize_url.is_empty() || token_url.is_empty() {
                    report
                        .notes
                        .push("OAuth 2.0 scheme without authorization or token URL left out".into());
                    continue;
                }
                let known: Vec<&str> = scopes.iter().map(|(s, _)| s.as_str()).collect();
                let wanted: Vec<String> = used_scopes
                    .iter()
                    .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
                    .filter(|s| known.is_empty() || known.contains(&s.as_str()))
                    .cloned()
                    .collect();
                let default_scopes = if wanted.len() <= MAX_DEFAULT_SCOPES {
                    wanted
                } else {
                    report.notes.push(format!(
                        "the operations ask for {} OAuth scopes; none asked for by default (set auth.oauth2.scopes in the overlay)",
                        wanted.len()
                    ));
                    Vec::new()
                };
                add(AuthScheme::Oauth2, &mut schemes);
                oauth2 = Some(OAuth2Spec {
                    authorize_url: authorize_url.clone(),
                    token_url: token_url.clone(),
                    scopes: default_scopes,
                    scope_separator: " ".into(),
                    authorize_params: BTreeMap::new(),
                    client_auth: Default::default(),
                    pkce: false,
                    revoke: None,
                    identity: None,
                });
            }
            AuthInfo::ApiKey {
                header: Some(header),
                ..
            } => {
                add(AuthScheme::ApiKey, &mut schemes);
                if placement.is_none() {
                    let prefix = if header.eq_ignore_ascii_case("authorization") {
                        "Bearer "
                    } else {
                        ""
                    };
                    placement = Some(CredentialPlacement {
                        header: header.clone(),
                        prefix: prefix.into(),
                    });
                }
            }
            AuthInfo::ApiKey { query, .. } => report.notes.push(format!(
                "API key in query parameter {:?} left out: the catalog places keys in headers (set auth in the overlay)",
                query.as_deref().unwrap_or_default()
            )),
            AuthInfo::Bearer => add(AuthScheme::BearerToken, &mut schemes),
            AuthInfo::Basic => add(AuthScheme::Basic, &mut schemes),
        }
    }
    if schemes.is_empty() {
        schemes.push(AuthScheme::NoAuth);
    }
    if let Some(over) = &overlay.auth {
        if let Some(over_schemes) = &over.schemes {
            schemes = over_schemes.clone();
        }
        if over.placement.is_some() {
            placement = over.placement.clone();
        }
        if over.oauth2.is_some() {
            oauth2 = over.oauth2.clone();
        }
    }
    if !schemes.contains(&AuthScheme::Oauth2) {
        oauth2 = None;
    } else if oauth2.is_none() {
        return Err(overlay_err(
            "auth.schemes",
            "lists OAUTH2, but neither the description nor the overlay gives auth.oauth2".into(),
        ));
    }
    if !schemes.contains(&AuthScheme::ApiKey)
        && overlay.auth.as_ref().is_none_or(|a| a.placement.is_none())
    {
        placement = None;
    }
    Ok(AuthSpec {
        schemes,
        placement,
        oauth2,
    })
}
