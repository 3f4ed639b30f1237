#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The toolkit files checked against the providers' own published API descriptions in
//! `shared/provider-specs/`, not against our memory of the APIs.
//!
//! For every HTTP tool of GitHub (OpenAPI 3), Slack (OpenAPI 2) and Gmail (Google discovery):
//! the method and path are an operation of the provider; every argument the tool sends is a
//! parameter of that operation, in the same place (path, query, body, header); every parameter
//! the operation requires is required by the tool's input schema and sent by the tool. Each
//! check collects every mismatch so one failure names every tool and problem at once, and a
//! test per provider proves the checker does fail on a wrong path, a misspelled parameter and a
//! missing required one. A missing description file fails the test, never skips it.
//!
//! The same check runs over every generated toolkit (`every_generated_toolkit_matches_its_
//! description`): each overlay of `toolkits/overlays/` names its description (`source`) and the
//! credential parameters its tools leave out (`ignore_params`); path templates are compared
//! with placeholders by position, since the importer may rename a placeholder
//! (`{team-slug}` → `{team_slug}`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use std::sync::OnceLock;

use serde_json::Value;
use switchboard_catalog::spec::{BodyEncoding, ToolSpec, ToolkitSpec};

mod specs;
use specs::{load_toolkit, overlays, parse_doc, provider_doc, specs_dir, TOOLKITS_DIR};

// ---------------------------------------------------------------------------------------------
// Loading

fn github_doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    provider_doc(&DOC, "github/rest-openapi.json")
}

fn slack_doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    provider_doc(&DOC, "slack/web-openapi-v2.json")
}

fn gmail_doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    provider_doc(&DOC, "google/gmail.v1.json")
}

// ---------------------------------------------------------------------------------------------
// Operations, as the three description formats state them

/// Where an operation takes a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Location {
    Path,
    Query,
    Body,
    Header,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Body => "body",
            Location::Header => "header",
        })
    }
}

/// One provider operation, reduced to what a tool has to agree with. Header parameter names
/// are kept lowercase (HTTP header names are case-insensitive).
#[derive(Debug, Default)]
struct Operation {
    params: BTreeMap<String, BTreeSet<Location>>,
    required: BTreeSet<(String, Location)>,
    /// Media types the operation accepts for its body.
    body_media_types: BTreeSet<String>,
}

impl Operation {
    fn add(&mut self, name: &str, location: Location, required: bool) {
        let name = if location == Location::Header {
            name.to_ascii_lowercase()
        } else {
            name.to_owned()
        };
        self.params
            .entry(name.clone())
            .or_default()
            .insert(location);
        if required {
            self.required.insert((name, location));
        }
    }
}

/// The format of a provider description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// OpenAPI 3.x: `paths[path][method]`, `$ref`s into `components`, `requestBody`.
    OpenApi3,
    /// OpenAPI 2: `paths[path][method]`, parameters `in: query | formData | body | header`.
    OpenApi2,
    /// Google discovery: nested `resources…methods`, `httpMethod`, `servicePath` + `path`.
    Discovery,
}

impl Kind {
    fn of(doc: &Value) -> Kind {
        if doc.get("discoveryVersion").is_some() {
            Kind::Discovery
        } else if doc.get("swagger").is_some() {
            Kind::OpenApi2
        } else {
            Kind::OpenApi3
        }
    }
}

/// A provider description and how its toolkit talks to it.
#[derive(Debug, Clone)]
struct Provider {
    kind: Kind,
    /// The description's file, relative to the provider-specs directory.
    file: String,
    /// Parameters that carry the credential (the overlay's `ignore_params`): never a tool
    /// argument, never required of one.
    credential_params: Vec<String>,
    /// The path part of the toolkit's base URL (`/drive/v3`), which a Discovery method's path
    /// includes (as `servicePath`) and the tool's path does not.
    base_path: String,
}

impl Provider {
    fn new(doc: &Value, file: &str, credential_params: &[&str]) -> Provider {
        Provider {
            kind: Kind::of(doc),
            file: file.to_owned(),
            credential_params: credential_params.iter().map(|p| (*p).to_owned()).collect(),
            base_path: String::new(),
        }
    }

    /// With the toolkit's base URL, whose path part prefixes every tool's path.
    fn with_base_url(mut self, base_url: &str) -> Provider {
        let after_scheme = base_url
            .split_once("://")
            .map_or(base_url, |(_, rest)| rest);
        self.base_path = after_scheme
            .find('/')
            .map(|i| after_scheme[i..].trim_end_matches('/').to_owned())
            .unwrap_or_default();
        self
    }

    fn github() -> Provider {
        Provider::new(github_doc(), "github/rest-openapi.json", &[])
    }

    fn slack() -> Provider {
        Provider::new(slack_doc(), "slack/web-openapi-v2.json", &["token"])
    }

    fn gmail() -> Provider {
        Provider::new(gmail_doc(), "google/gmail.v1.json", &[])
    }

    fn file(&self) -> &str {
        &self.file
    }

    fn credential_params(&self) -> &[String] {
        &self.credential_params
    }

    /// The operations `method` on the path whose shape (placeholders emptied) is `path`'s, with
    /// the description's placeholder names in order: the exact path first. A Discovery document
    /// may have several (`DELETE v1/{+name}` deletes a space or a message).
    fn operations(&self, doc: &Value, method: &str, path: &str) -> Vec<(Operation, Vec<String>)> {
        match self.kind {
            Kind::OpenApi3 | Kind::OpenApi2 => self
                .openapi_operation(doc, method, path)
                .into_iter()
                .collect(),
            Kind::Discovery => {
                discovery_operations(doc, method, &format!("{}{path}", self.base_path))
            }
        }
    }

    fn openapi_operation(
        &self,
        doc: &Value,
        method: &str,
        path: &str,
    ) -> Option<(Operation, Vec<String>)> {
        match self.kind {
            Kind::OpenApi3 | Kind::OpenApi2 => {
                let shape = path_shape(path);
                let spec_path = if doc.get("paths")?.get(path).is_some() {
                    path.to_owned()
                } else {
                    doc.get("paths")?
                        .as_object()?
                        .keys()
                        .find(|p| path_shape(p) == shape)?
                        .clone()
                };
                let mut op = if self.kind == Kind::OpenApi3 {
                    openapi3_operation(doc, method, &spec_path)
                } else {
                    openapi2_operation(doc, method, &spec_path)
                }?;
                // A placeholder of the template is a path parameter, declared or not.
                let placeholders = path_placeholders(&spec_path);
                for name in &placeholders {
                    if !op.params.contains_key(name) {
                        op.add(name, Location::Path, true);
                    }
                }
                Some((op, placeholders))
            }
            Kind::Discovery => None,
        }
    }
}

/// A path template with its placeholders emptied: `/repos/{}/{}` for `/repos/{owner}/{repo}`.
fn path_shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// Follows local `$ref`s (`#/components/parameters/per-page`) until a non-reference value.
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => match reference.strip_prefix('#').and_then(|p| doc.pointer(p)) {
                Some(target) => value = target,
                None => return value,
            },
            None => return value,
        }
    }
    value
}

/// Top-level property names of a JSON body schema (through `allOf`/`oneOf`/`anyOf`), and its
/// required ones (top level and `allOf` only: a `oneOf` branch's requirements are conditional).
fn collect_body_schema(doc: &Value, schema: &Value, body_required: bool, op: &mut Operation) {
    let schema = resolve(doc, schema);
    let required: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            // OpenAPI: a read-only property is not sent in a request, required or not.
            let read_only = resolve(doc, property).get("readOnly") == Some(&Value::Bool(true));
            op.add(
                name,
                Location::Body,
                body_required && required.contains(name.as_str()) && !read_only,
            );
        }
    }
    for (keyword, inherits_required) in
        [("allOf", body_required), ("oneOf", false), ("anyOf", false)]
    {
        for sub in schema
            .get(keyword)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_body_schema(doc, sub, inherits_required, op);
        }
    }
}

fn parameter_location(value: &str) -> Option<Location> {
    match value {
        "path" => Some(Location::Path),
        "query" => Some(Location::Query),
        "header" => Some(Location::Header),
        "formData" | "body" => Some(Location::Body),
        _ => None,
    }
}

fn path_item_parameters<'a>(item: &'a Value, op: &'a Value) -> impl Iterator<Item = &'a Value> {
    [item, op]
        .into_iter()
        .filter_map(|v| v.get("parameters").and_then(Value::as_array))
        .flatten()
}

fn openapi3_operation(doc: &Value, method: &str, path: &str) -> Option<Operation> {
    let item = doc.get("paths")?.get(path)?;
    let raw = item.get(method.to_ascii_lowercase())?;
    let mut op = Operation::default();
    for param in path_item_parameters(item, raw) {
        let param = resolve(doc, param);
        let (Some(name), Some(location)) = (
            param.get("name").and_then(Value::as_str),
            param
                .get("in")
                .and_then(Value::as_str)
                .and_then(parameter_location),
        ) else {
            continue;
        };
        op.add(
            name,
            location,
            param.get("required") == Some(&Value::Bool(true)),
        );
    }
    if let Some(body) = raw.get("requestBody") {
        let body = resolve(doc, body);
        let body_required = body.get("required") == Some(&Value::Bool(true));
        for (media, content) in body
            .get("content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            op.body_media_types.insert(media.clone());
            if media == "application/json" || media == "application/x-www-form-urlencoded" {
                if let Some(schema) = content.get("schema") {
                    collect_body_schema(doc, schema, body_required, &mut op);
                }
            }
        }
    }
    Some(op)
}

fn openapi2_operation(doc: &Value, method: &str, path: &str) -> Option<Operation> {
    let item = doc.get("paths")?.get(path)?;
    let raw = item.get(method.to_ascii_lowercase())?;
    let mut op = Operation::default();
    for param in path_item_parameters(item, raw) {
        let param = resolve(doc, param);
        let (Some(name), Some(kind)) = (
            param.get("name").and_then(Value::as_str),
            param.get("in").and_then(Value::as_str),
        ) else {
            continue;
        };
        let required = param.get("required") == Some(&Value::Bool(true));
        if kind == "body" {
            if let Some(schema) = param.get("schema") {
                collect_body_schema(doc, schema, required, &mut op);
            }
        } else if let Some(location) = parameter_location(kind) {
            op.add(name, location, required);
        }
    }
    let consumes = raw.get("consumes").or_else(|| doc.get("consumes"));
    for media in consumes.and_then(Value::as_array).into_iter().flatten() {
        if let Some(media) = media.as_str() {
            op.body_media_types.insert(media.to_owned());
        }
    }
    Some(op)
}

/// Discovery paths use `{+name}` for reserved expansion; the tool's template says `{name}`.
fn normalize_discovery_path(path: &str) -> String {
    path.replace("{+", "{")
}

fn discovery_methods<'a>(resource: &'a Value, out: &mut Vec<&'a Value>) {
    if let Some(methods) = resource.get("methods").and_then(Value::as_object) {
        out.extend(methods.values());
    }
    if let Some(resources) = resource.get("resources").and_then(Value::as_object) {
        for child in resources.values() {
            discovery_methods(child, out);
        }
    }
}

fn discovery_operations(doc: &Value, method: &str, path: &str) -> Vec<(Operation, Vec<String>)> {
    let service_path = doc.get("servicePath").and_then(Value::as_str).unwrap_or("");
    let mut methods = Vec::new();
    discovery_methods(doc, &mut methods);
    let path = normalize_discovery_path(path);
    let shape = path_shape(&path);
    let mut exact = Vec::new();
    let mut similar = Vec::new();
    for m in methods {
        if m.get("httpMethod").and_then(Value::as_str) != Some(method) {
            continue;
        }
        for key in ["path", "flatPath"] {
            let Some(p) = m.get(key).and_then(Value::as_str) else {
                continue;
            };
            let full = normalize_discovery_path(&format!("/{service_path}{p}"));
            if full == path {
                exact.push((m, full));
                break;
            } else if path_shape(&full) == shape {
                similar.push((m, full));
                break;
            }
        }
    }
    exact
        .into_iter()
        .chain(similar)
        .map(|(raw, spec_path)| discovery_operation(doc, raw, &spec_path))
        .collect()
}

fn discovery_operation(doc: &Value, raw: &Value, spec_path: &str) -> (Operation, Vec<String>) {
    let mut op = Operation::default();
    for (name, param) in raw
        .get("parameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(location) = param
            .get("location")
            .and_then(Value::as_str)
            .and_then(parameter_location)
        {
            op.add(
                name,
                location,
                param.get("required") == Some(&Value::Bool(true)),
            );
        }
    }
    if let Some(request) = raw.get("request") {
        op.body_media_types.insert("application/json".to_owned());
        // `{"$ref": "Message"}` names a schema under `schemas`, not a JSON pointer.
        let schema = request
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|name| doc.get("schemas")?.get(name));
        if let Some(properties) = schema
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
        {
            for name in properties.keys() {
                op.add(name, Location::Body, false);
            }
        }
    }
    (op, path_placeholders(spec_path))
}

// ---------------------------------------------------------------------------------------------
// The check

/// One disagreement between a tool and its provider's description.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Mismatch {
    tool: String,
    problem: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.tool, self.problem)
    }
}

fn path_placeholders(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| {
            rest.split_once('}')
                .map(|(name, _)| name.trim_start_matches('+').to_owned())
        })
        .collect()
}

fn schema_names<'a>(schema: &'a Value, key: &str) -> BTreeSet<&'a str> {
    match schema.get(key) {
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        Some(Value::Object(map)) => map.keys().map(String::as_str).collect(),
        _ => BTreeSet::new(),
    }
}

/// Request headers the platform or its HTTP client sets (and the credential's): a description
/// may declare them as parameters, but they are never a tool's arguments.
const PLATFORM_HEADERS: [&str; 7] = [
    "authorization",
    "content-type",
    "accept",
    "content-length",
    "user-agent",
    "host",
    "cookie",
];

/// Every mismatch of one tool against the provider; tools without `http` have none.
fn check_tool(provider: &Provider, doc: &Value, tool: &ToolSpec) -> Vec<Mismatch> {
    let Some(http) = &tool.http else {
        return Vec::new();
    };
    let method = http.method.as_str();
    let candidates = provider.operations(doc, method, &http.path);
    let mut best: Option<Vec<String>> = None;
    for (op, spec_placeholders) in &candidates {
        let problems = check_against(provider, tool, http, op, spec_placeholders);
        if best.as_ref().is_none_or(|b| problems.len() < b.len()) {
            best = Some(problems);
        }
    }
    let problems = best.unwrap_or_else(|| {
        vec![format!(
            "{method} {} is not an operation of {}",
            http.path,
            provider.file()
        )]
    });
    into_mismatches(tool, problems)
}

/// What is wrong with `tool` as a call of `op`, whose path placeholders are named
/// `spec_placeholders`.
fn check_against(
    provider: &Provider,
    tool: &ToolSpec,
    http: &switchboard_catalog::spec::HttpSpec,
    op: &Operation,
    spec_placeholders: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    let method = http.method.as_str();

    // What the tool sends, where, and from which argument: (wire name, location, argument).
    // Path placeholders are matched to the description's by position.
    let mut sent: Vec<(String, Location, String)> = Vec::new();
    for (i, arg) in path_placeholders(&http.path).into_iter().enumerate() {
        let wire = spec_placeholders
            .get(i)
            .cloned()
            .unwrap_or_else(|| arg.clone());
        sent.push((wire, Location::Path, arg));
    }
    sent.extend(
        http.query
            .iter()
            .map(|n| (n.name().to_owned(), Location::Query, n.arg().to_owned())),
    );
    if let Some(body) = &http.body {
        sent.extend(
            body.params
                .iter()
                .map(|n| (n.name().to_owned(), Location::Body, n.arg().to_owned())),
        );
        if !body.params.is_empty() {
            let media = match body.encoding {
                BodyEncoding::Json => "application/json",
                BodyEncoding::Form => "application/x-www-form-urlencoded",
            };
            if !op.body_media_types.contains(media) {
                problems.push(format!(
                    "body is sent as {media}, but {method} {} accepts {:?}",
                    http.path, op.body_media_types
                ));
            }
        }
    }
    // Header parameters are named by their header, filled by an argument.
    sent.extend(
        http.headers
            .iter()
            .map(|(h, arg)| (h.to_ascii_lowercase(), Location::Header, arg.clone())),
    );

    let properties = schema_names(&tool.input_schema, "properties");
    let schema_required = schema_names(&tool.input_schema, "required");
    let is_credential = |name: &str| provider.credential_params().iter().any(|c| c == name);
    for (name, location, _) in &sent {
        if is_credential(name) {
            problems.push(format!(
                "`{name}` carries the credential and must not be an argument"
            ));
            continue;
        }
        match op.params.get(name) {
            None => problems.push(format!(
                "argument `{name}` ({location}) is not a parameter of {method} {}",
                http.path
            )),
            Some(locations) if !locations.contains(location) => problems.push(format!(
                "argument `{name}` is sent in {location}, but {method} {} takes it in {}",
                http.path,
                locations
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            )),
            Some(_) => {}
        }
    }
    for (_, location, arg) in &sent {
        if !properties.contains(arg.as_str()) {
            let what = if *location == Location::Header {
                "header argument"
            } else {
                "sent argument"
            };
            problems.push(format!("{what} `{arg}` is not a property of input_schema"));
        }
    }

    for (name, location) in &op.required {
        if is_credential(name)
            || (*location == Location::Header && PLATFORM_HEADERS.contains(&name.as_str()))
        {
            continue;
        }
        let Some((_, _, argument)) = sent.iter().find(|(n, l, _)| n == name && l == location)
        else {
            problems.push(format!(
                "`{name}` is required by {method} {} in {location}, but the tool does not send it there",
                http.path
            ));
            continue;
        };
        if !schema_required.contains(argument.as_str()) {
            problems.push(format!(
                "`{argument}` is required by {method} {} but not listed in input_schema.required",
                http.path
            ));
        }
    }
    problems
}

fn into_mismatches(tool: &ToolSpec, problems: Vec<String>) -> Vec<Mismatch> {
    problems
        .into_iter()
        .map(|problem| Mismatch {
            tool: tool.slug.clone(),
            problem,
        })
        .collect()
}

fn check_toolkit(provider: &Provider, doc: &Value, toolkit: &ToolkitSpec) -> Vec<Mismatch> {
    toolkit
        .tools
        .iter()
        .flat_map(|tool| check_tool(provider, doc, tool))
        .collect()
}

fn assert_no_mismatches(what: &str, mismatches: &[Mismatch]) {
    assert!(
        mismatches.is_empty(),
        "{what}: {} mismatch(es) against the provider description:\n  {}",
        mismatches.len(),
        mismatches
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// Checks a toolkit file end to end and that it has at least `min_http_tools` HTTP tools, so an
/// emptied toolkit cannot pass by having nothing to check.
fn check_provider_toolkit(slug: &str, provider: &Provider, doc: &Value, min_http_tools: usize) {
    let toolkit = load_toolkit(slug);
    let http_tools = toolkit.tools.iter().filter(|t| t.http.is_some()).count();
    assert!(
        http_tools >= min_http_tools,
        "{slug}: expected at least {min_http_tools} HTTP tools to check, found {http_tools}"
    );
    assert_no_mismatches(slug, &check_toolkit(provider, doc, &toolkit));
}

// ---------------------------------------------------------------------------------------------
// Mutations for the negative tests

fn tool_mut<'a>(toolkit: &'a mut ToolkitSpec, slug: &str) -> &'a mut ToolSpec {
    toolkit
        .tools
        .iter_mut()
        .find(|t| t.slug == slug)
        .unwrap_or_else(|| panic!("tool {slug} not in the toolkit"))
}

fn set_path(tool: &mut ToolSpec, path: &str) {
    tool.http.as_mut().expect("an http tool").path = path.to_owned();
}

/// Renames an argument everywhere in the tool (query, body, schema), so only the provider
/// check can notice.
fn rename_argument(tool: &mut ToolSpec, from: &str, to: &str) {
    let http = tool.http.as_mut().expect("an http tool");
    let rename = |names: &mut Vec<switchboard_catalog::spec::ParamRef>| {
        for name in names.iter_mut().filter(|n| n.arg() == from) {
            *name = switchboard_catalog::spec::ParamRef::Same(to.to_owned());
        }
    };
    rename(&mut http.query);
    if let Some(body) = http.body.as_mut() {
        rename(&mut body.params);
    }
    let properties = tool
        .input_schema
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("input_schema.properties");
    let property = properties
        .remove(from)
        .unwrap_or_else(|| panic!("no property {from} in {}", tool.slug));
    properties.insert(to.to_owned(), property);
}

fn unrequire(tool: &mut ToolSpec, name: &str) {
    let required = tool
        .input_schema
        .get_mut("required")
        .and_then(Value::as_array_mut)
        .expect("input_schema.required");
    let before = required.len();
    required.retain(|v| v.as_str() != Some(name));
    assert!(
        required.len() < before,
        "{name} was not required in {}",
        tool.slug
    );
}

fn assert_reported(mismatches: &[Mismatch], tool: &str, needle: &str) {
    assert!(
        mismatches
            .iter()
            .any(|m| m.tool == tool && m.problem.contains(needle)),
        "expected a mismatch for {tool} mentioning {needle:?}; the checker reported:\n  {}",
        mismatches
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// The JSON Schema keywords the toolkit files use. An unknown one is almost always YAML gone
/// wrong: in a flow mapping `{type: object, description: Pages, or databases}` the text after
/// the comma silently becomes a key of its own.
const SCHEMA_KEYWORDS: [&str; 15] = [
    "type",
    "description",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "default",
    "format",
    "minimum",
    "maximum",
    "maxItems",
    "oneOf",
    "anyOf",
];

fn schema_keyword_problems(schema: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        problems.push(format!("{at}: a schema must be an object, found {schema}"));
        return;
    };
    for (key, value) in map {
        if !SCHEMA_KEYWORDS.contains(&key.as_str()) {
            problems.push(format!(
                "{at}: unknown schema keyword `{key}` (value {value})"
            ));
        }
    }
    if let Some(description) = map.get("description") {
        if !description.is_string() {
            problems.push(format!("{at}: description must be a string"));
        }
    }
    for (name, sub) in map
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        schema_keyword_problems(sub, &format!("{at}.{name}"), problems);
    }
    if let Some(items) = map.get("items") {
        schema_keyword_problems(items, &format!("{at}[]"), problems);
    }
    for keyword in ["oneOf", "anyOf"] {
        for sub in map
            .get(keyword)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            schema_keyword_problems(sub, &format!("{at}.{keyword}"), problems);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn every_toolkit_file_parses_and_is_consistent() {
    let mut problems = Vec::new();
    let mut slugs = BTreeSet::new();
    let curated = std::path::PathBuf::from(TOOLKITS_DIR);
    let generated = curated.join("generated");
    let mut files = Vec::new();
    for dir in [&generated, &curated] {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|err| panic!("cannot list toolkits dir {}: {err}", dir.display()));
        files.extend(entries.map(|e| e.expect("a toolkits dir entry").path()));
    }
    for path in files {
        // The style rules (a described, typed argument; only the schema keywords the
        // hand-written files use) are for hand-written files; generated schemas carry the
        // description's own keywords (`readOnly`, `maxLength`…).
        let hand_written = path.parent() == Some(curated.as_path());
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(&path).expect("a readable toolkit file");
        let toolkit: ToolkitSpec = match serde_yaml_ng::from_str(&text) {
            Ok(toolkit) => toolkit,
            Err(err) => {
                problems.push(format!("{}: does not parse: {err}", path.display()));
                continue;
            }
        };
        if toolkit.slug != stem {
            problems.push(format!("{stem}.yaml: slug is `{}`", toolkit.slug));
        }
        let prefix = format!("{}_", toolkit.slug.to_uppercase());
        for tool in &toolkit.tools {
            let slug = &tool.slug;
            if !slug.starts_with(&prefix) || slug.to_uppercase() != *slug {
                problems.push(format!(
                    "{slug}: slug must be uppercase and start with {prefix}"
                ));
            }
            if tool.http.is_some() == tool.native.is_some() {
                problems.push(format!("{slug}: needs exactly one of `http` and `native`"));
            }
            let has = |tag: &str| tool.tags.iter().any(|t| t == tag);
            if has("readOnlyHint") && has("destructiveHint") {
                problems.push(format!("{slug}: both readOnlyHint and destructiveHint"));
            }
            if !has("openWorldHint") {
                problems.push(format!(
                    "{slug}: every tool reaches an external service: openWorldHint"
                ));
            }
            if tool.input_schema.get("additionalProperties") != Some(&Value::Bool(false)) {
                problems.push(format!(
                    "{slug}: input_schema needs additionalProperties: false"
                ));
            }
            if !hand_written {
                continue;
            }
            for (name, property) in tool
                .input_schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if property.get("type").is_none() || property.get("description").is_none() {
                    problems.push(format!(
                        "{slug}: argument `{name}` needs a type and a description"
                    ));
                }
            }
            schema_keyword_problems(
                &tool.input_schema,
                &format!("{slug}.input_schema"),
                &mut problems,
            );
            schema_keyword_problems(
                &tool.output_schema,
                &format!("{slug}.output_schema"),
                &mut problems,
            );
        }
        if !hand_written {
            slugs.insert(stem);
        }
    }
    for wanted in ["github", "slack", "gmail", "linear", "notion"] {
        if !slugs.contains(wanted) {
            problems.push(format!("toolkits/{wanted}.yaml is missing"));
        }
    }
    assert!(
        problems.is_empty(),
        "toolkit files:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn every_generated_toolkit_matches_its_description() {
    let mut docs: BTreeMap<String, Value> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    let mut checked = (0usize, 0usize);
    for (slug, overlay) in overlays() {
        let Some(source) = overlay.get("source").and_then(Value::as_str) else {
            continue; // a pass-through of a curated toolkit (no published description)
        };
        let doc = docs.entry(source.to_owned()).or_insert_with(|| {
            let path = specs_dir().join(source);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
                panic!("provider description {} is missing: {err}", path.display())
            });
            parse_doc(&path, &text)
        });
        let credential: Vec<&str> = overlay
            .get("ignore_params")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let toolkit = load_toolkit(&slug);
        let provider = Provider::new(doc, source, &credential).with_base_url(&toolkit.base_url);
        let http_tools = toolkit.tools.iter().filter(|t| t.http.is_some()).count();
        if http_tools == 0 {
            problems.push(format!("{slug}: no HTTP tool to check"));
        }
        for mismatch in check_toolkit(&provider, doc, &toolkit) {
            problems.push(format!("{slug}: {mismatch}"));
        }
        checked.0 += 1;
        checked.1 += http_tools;
    }
    println!(
        "checked {} HTTP tools of {} generated toolkits",
        checked.1, checked.0
    );
    assert!(
        checked.0 >= 35,
        "only {} toolkits with a description",
        checked.0
    );
    assert!(
        problems.is_empty(),
        "{} mismatch(es) against the provider descriptions:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn github_tools_match_the_rest_openapi_description() {
    check_provider_toolkit("github", &Provider::github(), github_doc(), 13);
}

#[test]
fn slack_tools_match_the_web_api_openapi_description() {
    check_provider_toolkit("slack", &Provider::slack(), slack_doc(), 5);
}

#[test]
fn gmail_tools_match_the_discovery_document() {
    check_provider_toolkit("gmail", &Provider::gmail(), gmail_doc(), 3);
}

#[test]
fn github_checker_reports_wrong_path_misspelled_parameter_and_missing_required() {
    let mut toolkit = load_toolkit("github");
    set_path(
        tool_mut(&mut toolkit, "GITHUB_GET_ISSUE"),
        "/repos/{owner}/{repo}/issue/{issue_number}",
    );
    rename_argument(
        tool_mut(&mut toolkit, "GITHUB_LIST_REPOSITORY_ISSUES"),
        "per_page",
        "perPage",
    );
    unrequire(tool_mut(&mut toolkit, "GITHUB_CREATE_ISSUE"), "title");
    // PUT vs GET on an existing path is a wrong operation too.
    tool_mut(&mut toolkit, "GITHUB_GET_REPOSITORY")
        .http
        .as_mut()
        .expect("http")
        .method = switchboard_catalog::spec::HttpMethod::Put;

    let mismatches = check_toolkit(&Provider::github(), github_doc(), &toolkit);
    assert_reported(&mismatches, "GITHUB_GET_ISSUE", "is not an operation");
    assert_reported(
        &mismatches,
        "GITHUB_LIST_REPOSITORY_ISSUES",
        "`perPage` (query) is not a parameter",
    );
    assert_reported(&mismatches, "GITHUB_CREATE_ISSUE", "`title` is required");
    assert_reported(
        &mismatches,
        "GITHUB_GET_REPOSITORY",
        "PUT /repos/{owner}/{repo} is not an operation",
    );
    assert_eq!(
        mismatches.len(),
        4,
        "only the four planted mismatches: {mismatches:#?}"
    );
}

#[test]
fn slack_checker_reports_wrong_path_misspelled_parameter_and_missing_required() {
    let mut toolkit = load_toolkit("slack");
    set_path(tool_mut(&mut toolkit, "SLACK_LIST_USERS"), "/users.lists");
    rename_argument(
        tool_mut(&mut toolkit, "SLACK_SEND_MESSAGE"),
        "thread_ts",
        "threadTs",
    );
    unrequire(tool_mut(&mut toolkit, "SLACK_ADD_REACTION"), "timestamp");
    // A query argument moved into the body is in the wrong place.
    let history = tool_mut(&mut toolkit, "SLACK_FETCH_CONVERSATION_HISTORY");
    let http = history.http.as_mut().expect("http");
    http.query.retain(|q| q.arg() != "cursor");
    http.body = Some(switchboard_catalog::spec::BodySpec {
        encoding: BodyEncoding::Form,
        params: vec!["cursor".into()],
        value: None,
        graphql: None,
    });

    let mismatches = check_toolkit(&Provider::slack(), slack_doc(), &toolkit);
    assert_reported(
        &mismatches,
        "SLACK_LIST_USERS",
        "GET /users.lists is not an operation",
    );
    assert_reported(
        &mismatches,
        "SLACK_SEND_MESSAGE",
        "`threadTs` (body) is not a parameter",
    );
    assert_reported(&mismatches, "SLACK_ADD_REACTION", "`timestamp` is required");
    assert_reported(
        &mismatches,
        "SLACK_FETCH_CONVERSATION_HISTORY",
        "`cursor` is sent in body",
    );
}

#[test]
fn gmail_checker_reports_wrong_path_misspelled_parameter_and_missing_required() {
    let mut toolkit = load_toolkit("gmail");
    set_path(
        tool_mut(&mut toolkit, "GMAIL_LIST_LABELS"),
        "/gmail/v1/users/{userId}/label",
    );
    rename_argument(
        tool_mut(&mut toolkit, "GMAIL_LIST_MESSAGES"),
        "maxResults",
        "max_results",
    );
    unrequire(tool_mut(&mut toolkit, "GMAIL_GET_MESSAGE"), "id");
    // The path without the service path prefix is not the operation either.
    set_path(
        tool_mut(&mut toolkit, "GMAIL_GET_MESSAGE"),
        "/users/{userId}/messages/{id}",
    );

    let mismatches = check_toolkit(&Provider::gmail(), gmail_doc(), &toolkit);
    assert_reported(&mismatches, "GMAIL_LIST_LABELS", "is not an operation");
    assert_reported(
        &mismatches,
        "GMAIL_LIST_MESSAGES",
        "`max_results` (query) is not a parameter",
    );
    assert_reported(&mismatches, "GMAIL_GET_MESSAGE", "is not an operation");

    // Missing required, on the right path this time.
    let mut toolkit = load_toolkit("gmail");
    unrequire(tool_mut(&mut toolkit, "GMAIL_GET_MESSAGE"), "id");
    let mismatches = check_toolkit(&Provider::gmail(), gmail_doc(), &toolkit);
    assert_reported(&mismatches, "GMAIL_GET_MESSAGE", "`id` is required");
}
