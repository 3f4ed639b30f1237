//! Google API Discovery documents (`discovery#restDescription`, as Google publishes them and
//! as `google-api-python-client` caches them) read into the import model.
//!
//! How a document maps onto [`ApiModel`]:
//!
//! - **Base URL**: Google's clients resolve a method's `path` against `baseUrl`, which is
//!   `rootUrl` + `servicePath` (`https://www.googleapis.com/` + `calendar/v3/`). The model's
//!   `base_url` is that concatenation without its trailing `/`, and each operation's path is
//!   `/` + the method's `path` (`/calendars/{calendarId}`). A method `path` that starts with `/`
//!   is relative to `rootUrl` instead; with an empty `servicePath` that is the same thing, with
//!   a non-empty one the method is skipped (no single base URL serves both).
//! - **Operations**: every method under `methods` and under `resources`, walked recursively
//!   (`users` → `messages` → `list`). The operation id is the method's `id`
//!   (`gmail.users.messages.list`; derived as `name.resource.path.method` when missing), the
//!   method is `httpMethod`, the topic tag is the resource path (`users.messages`), the
//!   description is the method's `description` and the summary its first sentence (Discovery
//!   has no summary).
//! - **Paths**: the method's `path`, not its `flatPath`. `path`'s placeholders are the method's
//!   declared parameters, with `{+name}` (RFC 6570 reserved expansion) for a parameter holding a
//!   whole resource name such as `spaces/AAA/messages/BBB`; `flatPath` spells the same URL with
//!   placeholders (`{spacesId}`, `{messagesId}`) that are no parameter of the method, and is
//!   identical to `path` when `path` has no reserved expansion. `{+name}` is kept as is.
//!   Placeholders with other RFC 6570 operators (`{?x}`, `{/x}`, `{x*}`) skip the method.
//! - **Parameters**: the method's `parameters`, by `location` (`path` or `query`): `required`,
//!   `type`/`format`, `enum` (with `enumDescriptions` folded into the description), `default`
//!   (Discovery writes defaults as strings; they are converted to the parameter's type),
//!   `pattern`, `minimum`/`maximum`, `deprecated`; `repeated: true` makes an array schema sent
//!   as repeated keys (`labelIds=A&labelIds=B`). Order: `parameterOrder` first, then the rest
//!   by name (which is the order Google writes them in).
//! - **API-wide parameters are dropped**: the document's top-level `parameters` (`alt`,
//!   `fields`, `key`, `oauth_token`, `access_token`, `prettyPrint`, `quotaUser`, `userIp`,
//!   `upload_protocol`, `uploadType`, `$.xgafv`, `callback`) are transport controls every
//!   method accepts, not arguments of an operation: the response format (the tools read JSON),
//!   partial responses, JSONP, credentials (the platform injects them) and upload protocols. A
//!   method only gets the parameters it declares itself.
//! - **Bodies**: `request.$ref` → a JSON body whose schema is the referenced schema inlined.
//!   Properties marked `readOnly` are dropped from request bodies (the server ignores them);
//!   a property is required when it says `required: true` or its `annotations.required` names
//!   the method (`gmail.users.labels.create`). `response.$ref` → the response schema (with
//!   `readOnly` kept as the JSON Schema annotation).
//! - **Schemas**: Discovery schemas become JSON Schema: `$ref` inlined, `type: any` → no type,
//!   `additionalProperties`, `items`, `enum`, `format`, `pattern`, `minimum`/`maximum`,
//!   `default`, `deprecated`, `description`. Inlining stops at [`MAX_REF_DEPTH`] nested `$ref`s,
//!   at a `$ref` already being expanded (recursion), and after [`MAX_REFS_PER_SCHEMA`]
//!   expansions in one schema (a hostile or very wide document cannot blow up); a cut `$ref`
//!   becomes an unconstrained schema of the target's type whose description names it.
//! - **Auth**: `auth.oauth2.scopes` → [`AuthInfo::OAuth2`] with Google's endpoints, which the
//!   document does not carry ([`GOOGLE_AUTHORIZE_URL`], [`GOOGLE_TOKEN_URL`]); each method's
//!   `scopes` → the operation's scopes. A document without OAuth scopes gets an API key in the
//!   `key` query parameter (the only credential it then takes).
//! - **Media**: a method with `supportsMediaUpload` is kept as its metadata-only request (the
//!   JSON body at the method's own path) when it has a request body and works without the
//!   file; it is skipped when it has no request body or is one of [`MEDIA_REQUIRED`] (methods
//!   Google documents as failing without the file, which Discovery does not say). Media
//!   download (`supportsMediaDownload`, `useMediaDownloadService`) and kept uploads leave a
//!   note on the operation ([`Operation::notes`]).
//! - **Pagination**: a `pageToken` query parameter with `nextPageToken` in the response →
//!   cursor pagination; an integer `startIndex` query parameter → offset pagination.
//! - `deprecated: true` on a method → [`Operation::deprecated`].
//!
//! Broken documents fail with [`ImportError::Invalid`] naming the place
//! (`resources.users.resources.messages.methods.list.parameters.q`): a method without `path`
//! or `httpMethod`, a `$ref` to a schema that does not exist, a placeholder that is no path
//! parameter, a parameter in an unknown location. Methods the tools cannot express (media only,
//! an HTTP method other than GET/POST/PUT/PATCH/DELETE) are [`Skipped`] with the reason.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use switchboard_catalog::spec::PaginationStyle;

use crate::error::ImportError;
use crate::ir::{
    ApiModel, AuthInfo, Body, BodyEncoding, Location, Operation, PaginationHint, Param, Skipped,
};

/// Google's OAuth 2.0 authorization endpoint (Discovery documents do not name it).
pub const GOOGLE_AUTHORIZE_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's OAuth 2.0 token endpoint.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// How many `$ref`s deep a schema is inlined before the rest is cut.
pub const MAX_REF_DEPTH: usize = 3;
/// How many `$ref`s one operation's body or response schema may expand in all.
pub const MAX_REFS_PER_SCHEMA: usize = 400;

/// Media-upload methods that fail without the file although they take a metadata body
/// (YouTube's and Chat's upload endpoints: the metadata describes the file being sent).
pub const MEDIA_REQUIRED: &[&str] = &[
    "chat.media.upload",
    "youtube.videos.insert",
    "youtube.captions.insert",
    "youtube.channelBanners.insert",
    "youtube.playlistImages.insert",
    "youtube.watermarks.set",
    "youtube.thumbnails.set",
];

const KNOWN_TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "object", "array", "null",
];

fn invalid(location: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        location: location.into(),
        message: message.into(),
    }
}

/// Reads a Google API Discovery document.
pub fn parse(text: &str) -> Result<ApiModel, ImportError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| ImportError::Unreadable {
        what: "Google Discovery document".into(),
        message: e.to_string(),
    })?;
    let Some(root) = doc.as_object() else {
        return Err(ImportError::Unreadable {
            what: "Google Discovery document".into(),
            message: "not a JSON object".into(),
        });
    };
    match root.get("kind") {
        None => {}
        Some(Value::String(k)) if k == "discovery#restDescription" => {}
        Some(other) => {
            return Err(ImportError::Unreadable {
                what: "Google Discovery document".into(),
                message: format!("kind is {other}, not \"discovery#restDescription\""),
            })
        }
    }
    let root_url = req_str(root, "rootUrl", "")?;
    let service_path = opt_str(root, "servicePath", "")?.unwrap_or("");
    if !(root_url.starts_with("https://") || root_url.starts_with("http://")) {
        return Err(invalid(
            "rootUrl",
            format!("{root_url:?} is not an http(s) URL"),
        ));
    }
    let mut base = format!("{root_url}{service_path}");
    while base.ends_with('/') {
        base.pop();
    }
    let name = opt_str(root, "name", "")?.unwrap_or("");
    let title = opt_str(root, "title", "")?.unwrap_or(name);
    let description = opt_str(root, "description", "")?.unwrap_or("");

    let empty = Map::new();
    let schemas = match root.get("schemas") {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid("schemas", "must be an object")),
    };

    let mut model = ApiModel {
        title: title.to_owned(),
        description: description.to_owned(),
        base_url: base,
        auth: read_auth(root)?,
        ..ApiModel::default()
    };
    let walker = Walker {
        api_name: name,
        schemas,
        root_relative_ok: service_path.trim_matches('/').is_empty(),
    };
    if let Some(methods) = root.get("methods") {
        walker.methods(methods, "", "methods", &mut model)?;
    }
    if let Some(resources) = root.get("resources") {
        walker.resources(resources, "", "resources", &mut model)?;
    }
    Ok(model)
}

fn req_str<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, ImportError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(join(at, key), "must be a string")),
        None => Err(invalid(join(at, key), "is missing")),
    }
}

fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<&'a str>, ImportError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(Some(s)),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(invalid(join(at, key), "must be a string")),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn as_object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ImportError> {
    v.as_object()
        .ok_or_else(|| invalid(at, "must be an object"))
}

fn read_auth(root: &Map<String, Value>) -> Result<Vec<AuthInfo>, ImportError> {
    let scopes = match root.get("auth") {
        None => None,
        Some(auth) => {
            let auth = as_object(auth, "auth")?;
            match auth.get("oauth2") {
                None => None,
                Some(o) => {
                    let o = as_object(o, "auth.oauth2")?;
                    match o.get("scopes") {
                        None => Some(Vec::new()),
                        Some(s) => {
                            let s = as_object(s, "auth.oauth2.scopes")?;
                            let mut out = Vec::new();
                            for (scope, info) in s {
                                let at = format!("auth.oauth2.scopes.{scope}");
                                let info = as_object(info, &at)?;
                                let d = opt_str(info, "description", &at)?.unwrap_or("");
                                out.push((scope.clone(), d.to_owned()));
                            }
                            Some(out)
                        }
                    }
                }
            }
        }
    };
    Ok(match scopes {
        Some(scopes) => vec![AuthInfo::OAuth2 {
            authorize_url: GOOGLE_AUTHORIZE_URL.to_owned(),
            token_url: GOOGLE_TOKEN_URL.to_owned(),
            scopes,
        }],
        None => vec![AuthInfo::ApiKey {
            header: None,
            query: Some("key".to_owned()),
        }],
    })
}

struct Walker<'a> {
    api_name: &'a str,
    schemas: &'a Map<String, Value>,
    /// Whether a method path starting with `/` (relative to `rootUrl`) resolves against the
    /// same base URL (the service path is empty).
    root_relative_ok: bool,
}

impl Walker<'_> {
    fn resources(
        &self,
        resources: &Value,
        prefix: &str,
        at: &str,
        model: &mut ApiModel,
    ) -> Result<(), ImportError> {
        for (name, resource) in as_object(resources, at)? {
            let at = format!("{at}.{name}");
            let resource = as_object(resource, &at)?;
            let path = join(prefix, name);
            if let Some(methods) = resource.get("methods") {
                self.methods(methods, &path, &format!("{at}.methods"), model)?;
            }
            if let Some(nested) = resource.get("resources") {
                self.resources(nested, &path, &format!("{at}.resources"), model)?;
            }
        }
        Ok(())
    }

    fn methods(
        &self,
        methods: &Value,
        resource: &str,
        at: &str,
        model: &mut ApiModel,
    ) -> Result<(), ImportError> {
        for (name, method) in as_object(methods, at)? {
            let at = format!("{at}.{name}");
            let method = as_object(method, &at)?;
            match self.method(name, method, resource, &at)? {
                Ok(op) => model.operations.push(op),
                Err(reason) => model.skipped.push(Skipped {
                    location: at,
                    reason,
                }),
            }
        }
        Ok(())
    }

    /// One method: `Ok(Ok(op))`, `Ok(Err(reason))` when skipped, `Err` when broken.
    fn method(
        &self,
        name: &str,
        m: &Map<String, Value>,
        resource: &str,
        at: &str,
    ) -> Result<Result<Operation, String>, ImportError> {
        let id = match opt_str(m, "id", at)? {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => [self.api_name, resource, name]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("."),
        };
        let http = req_str(m, "httpMethod", at)?.to_ascii_uppercase();
        if !matches!(http.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
            return Ok(Err(format!("HTTP method {http} is not supported by tools")));
        }
        let raw_path = req_str(m, "path", at)?;
        let path = match raw_path.strip_prefix('/') {
            Some(rest) if self.root_relative_ok => format!("/{rest}"),
            Some(_) => {
                return Ok(Err(format!(
                    "path {raw_path:?} is relative to rootUrl, not to the service path"
                )))
            }
            None => format!("/{raw_path}"),
        };
        let placeholders = match placeholders(&path) {
            Ok(p) => p,
            Err(why) => return Ok(Err(why)),
        };

        // Media upload: keep the metadata-only request when there is one.
        let mut notes = Vec::new();
        let uploads = bool_at(m, "supportsMediaUpload", at)? || m.contains_key("mediaUpload");
        if uploads {
            let accept = m
                .get("mediaUpload")
                .and_then(|u| u.get("accept"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let what = if accept.is_empty() {
                "a file".to_owned()
            } else {
                format!("a file ({accept})")
            };
            if !m.contains_key("request") {
                return Ok(Err(format!(
                    "media upload only: the method takes {what} and has no metadata-only form"
                )));
            }
            if MEDIA_REQUIRED.contains(&id.as_str()) {
                return Ok(Err(format!(
                    "media upload: the method needs {what}, which tools do not send"
                )));
            }
            notes.push(format!(
                "Media upload is not offered: the tool sends the JSON metadata only (uploading {what} needs Google's upload endpoint)."
            ));
        }
        let download = bool_at(m, "supportsMediaDownload", at)?;
        let download_service = bool_at(m, "useMediaDownloadService", at)?;
        if download || download_service {
            if m.contains_key("response") {
                notes.push(
                    "Supports media download: with alt=media the content is returned instead; the tool returns the JSON metadata."
                        .to_owned(),
                );
            } else {
                notes.push("The response is the content itself, not JSON.".to_owned());
            }
        }

        let params = self.params(m, &id, at)?;
        let path_params: BTreeSet<&str> = params
            .iter()
            .filter(|p| p.location == Location::Path)
            .map(|p| p.name.as_str())
            .collect();
        for (ph, _) in &placeholders {
            if !path_params.contains(ph.as_str()) {
                return Err(invalid(
                    join(at, "path"),
                    format!("placeholder {{{ph}}} in {raw_path:?} is no path parameter"),
                ));
            }
        }
        for p in &path_params {
            if !placeholders.iter().any(|(ph, _)| ph == p) {
                return Err(invalid(
                    format!("{at}.parameters.{p}"),
                    format!("path parameter {p:?} does not appear in {raw_path:?}"),
                ));
            }
        }

        let body = match m.get("request") {
            None => None,
            Some(r) => {
                let rat = join(at, "request");
                let schema = Inliner::new(self.schemas, Some(&id), true).convert(r, &rat, 0)?;
                Some(Body {
                    encoding: BodyEncoding::Json,
                    required: true,
                    description: String::new(),
                    schema,
                    graphql: None,
                })
            }
        };
        let response = match m.get("response") {
            None => json!({}),
            Some(r) => {
                Inliner::new(self.schemas, None, false).convert(r, &join(at, "response"), 0)?
            }
        };
        let pagination = pagination(&params, &response);

        let scopes = match m.get("scopes") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid(format!("{at}.scopes.{i}"), "must be a string"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(join(at, "scopes"), "must be an array")),
        };
        let description = opt_str(m, "description", at)?.unwrap_or("").to_owned();

        Ok(Ok(Operation {
            id,
            method: http,
            path,
            summary: first_sentence(&description),
            description,
            tags: if resource.is_empty() {
                Vec::new()
            } else {
                vec![resource.to_owned()]
            },
            params,
            body,
            response,
            deprecated: bool_at(m, "deprecated", at)?,
            scopes,
            pagination,
            notes,
        }))
    }

    fn params(
        &self,
        m: &Map<String, Value>,
        id: &str,
        at: &str,
    ) -> Result<Vec<Param>, ImportError> {
        let Some(ps) = m.get("parameters") else {
            return Ok(Vec::new());
        };
        let pat = join(at, "parameters");
        let ps = as_object(ps, &pat)?;
        let mut order: Vec<&str> = Vec::new();
        if let Some(po) = m.get("parameterOrder") {
            let po = po
                .as_array()
                .ok_or_else(|| invalid(join(at, "parameterOrder"), "must be an array"))?;
            for (i, n) in po.iter().enumerate() {
                let n = n.as_str().ok_or_else(|| {
                    invalid(format!("{at}.parameterOrder.{i}"), "must be a string")
                })?;
                if !ps.contains_key(n) {
                    return Err(invalid(
                        format!("{at}.parameterOrder.{i}"),
                        format!("names {n:?}, which is no parameter of the method"),
                    ));
                }
                if !order.contains(&n) {
                    order.push(n);
                }
            }
        }
        for n in ps.keys() {
            if !order.contains(&n.as_str()) {
                order.push(n);
            }
        }
        let mut out = Vec::new();
        for n in order {
            let at = format!("{pat}.{n}");
            let Some(p) = ps.get(n) else { continue };
            let p = as_object(p, &at)?;
            let location = match req_str(p, "location", &at)? {
                "path" => Location::Path,
                "query" => Location::Query,
                "header" => Location::Header,
                other => {
                    return Err(invalid(
                        join(&at, "location"),
                        format!("{other:?} is not path, query or header"),
                    ))
                }
            };
            let required = bool_at(p, "required", &at)?;
            if location == Location::Path && !required {
                return Err(invalid(
                    join(&at, "required"),
                    "a path parameter must be required",
                ));
            }
            // A parameter is a schema without `properties`; convert it as one.
            let mut scalar = p.clone();
            scalar.remove("location");
            scalar.remove("required");
            scalar.remove("repeated");
            let description = opt_str(p, "description", &at)?.unwrap_or("");
            let mut schema = Inliner::new(self.schemas, Some(id), true).convert(
                &Value::Object(scalar),
                &at,
                0,
            )?;
            if bool_at(p, "repeated", &at)? {
                let mut items = schema;
                let d = items.as_object_mut().and_then(|o| o.remove("description"));
                let mut arr = Map::new();
                arr.insert("type".into(), "array".into());
                if let Some(d) = d {
                    arr.insert("description".into(), d);
                }
                arr.insert("items".into(), items.take());
                schema = Value::Object(arr);
            }
            let full_description = schema
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or(description)
                .to_owned();
            out.push(Param {
                name: n.to_owned(),
                location,
                required,
                description: full_description,
                schema,
                join: None,
            });
        }
        Ok(out)
    }
}

fn bool_at(obj: &Map<String, Value>, key: &str, at: &str) -> Result<bool, ImportError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(join(at, key), "must be true or false")),
    }
}

/// The placeholders of a path template: (name, reserved expansion). `Err(reason)` when the
/// template uses RFC 6570 forms tools cannot express.
fn placeholders(path: &str) -> Result<Vec<(String, bool)>, String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            return Err(format!("path {path:?} has an unclosed '{{'"));
        };
        let inner = &after[..end];
        let (name, reserved) = match inner.strip_prefix('+') {
            Some(n) => (n, true),
            None => (inner, false),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        {
            return Err(format!(
                "path {path:?} has a placeholder {{{inner}}} that is not {{name}} or {{+name}}"
            ));
        }
        out.push((name.to_owned(), reserved));
        rest = &after[end + 1..];
    }
    if rest.contains('}') {
        return Err(format!("path {path:?} has an unmatched '}}'"));
    }
    Ok(out)
}

fn pagination(params: &[Param], response: &Value) -> Option<PaginationHint> {
    let has_query = |name: &str| {
        params
            .iter()
            .find(|p| p.name == name && p.location == Location::Query)
    };
    let props = response.get("properties");
    for (param, next) in [
        ("pageToken", "nextPageToken"),
        ("page_token", "next_page_token"),
    ] {
        if has_query(param).is_some() && props.and_then(|p| p.get(next)).is_some() {
            return Some(PaginationHint {
                style: PaginationStyle::Cursor,
                param: param.to_owned(),
                next: next.to_owned(),
            });
        }
    }
    if let Some(p) = has_query("startIndex") {
        if p.schema.get("type").and_then(Value::as_str) == Some("integer") {
            return Some(PaginationHint {
                style: PaginationStyle::Offset,
                param: "startIndex".to_owned(),
                next: String::new(),
            });
        }
    }
    None
}

/// The description's first sentence (up to the first `. ` or line break), for the summary.
fn first_sentence(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or("");
    let end = line.find(". ").map(|i| i + 1).unwrap_or(line.len());
    line[..end].trim().to_owned()
}

/// Discovery schema → JSON Schema, with `$ref`s inlined under the limits.
struct Inliner<'a> {
    schemas: &'a Map<String, Value>,
    /// The method whose `annotations.required` lists apply.
    method: Option<&'a str>,
    /// Request side: drop `readOnly` properties.
    request: bool,
    stack: Vec<String>,
    budget: usize,
}

impl<'a> Inliner<'a> {
    fn new(schemas: &'a Map<String, Value>, method: Option<&'a str>, request: bool) -> Self {
        Inliner {
            schemas,
            method,
            request,
            stack: Vec::new(),
            budget: MAX_REFS_PER_SCHEMA,
        }
    }

    fn convert(&mut self, s: &Value, at: &str, depth: usize) -> Result<Value, ImportError> {
        let s = as_object(s, at)?;
        if let Some(r) = s.get("$ref") {
            let name = r
                .as_str()
                .ok_or_else(|| invalid(join(at, "$ref"), "must be a string"))?;
            let target = self.schemas.get(name).ok_or_else(|| {
                invalid(
                    join(at, "$ref"),
                    format!("names schema {name:?}, which the document does not define"),
                )
            })?;
            let mut out = if self.stack.iter().any(|n| n == name)
                || self.stack.len() >= MAX_REF_DEPTH
                || self.budget == 0
            {
                let mut cut = Map::new();
                if let Some(t) = target.get("type").and_then(Value::as_str) {
                    if KNOWN_TYPES.contains(&t) {
                        cut.insert("type".into(), t.into());
                    }
                }
                let why = if self.stack.iter().any(|n| n == name) {
                    "recursive"
                } else {
                    "nested too deep"
                };
                let d = target
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let text = if d.is_empty() {
                    format!("A {name} ({why}: its fields are not listed here).")
                } else {
                    format!("{d} ({name}, {why}: its fields are not listed here.)")
                };
                cut.insert("description".into(), text.into());
                Value::Object(cut)
            } else {
                self.budget -= 1;
                self.stack.push(name.to_owned());
                let converted = self.convert(target, &format!("schemas.{name}"), depth + 1);
                self.stack.pop();
                converted?
            };
            // The referring property's own description wins over the target's.
            if let (Some(d), Some(o)) = (
                s.get("description").and_then(Value::as_str),
                out.as_object_mut(),
            ) {
                o.insert("description".into(), d.into());
            }
            if bool_at(s, "deprecated", at)? {
                if let Some(o) = out.as_object_mut() {
                    o.insert("deprecated".into(), true.into());
                }
            }
            return Ok(out);
        }
        if depth > 64 {
            return Err(invalid(at, "schema nested too deep"));
        }

        let mut out = Map::new();
        let ty = match s.get("type") {
            None => None,
            Some(Value::String(t)) if t == "any" => None,
            Some(Value::String(t)) if KNOWN_TYPES.contains(&t.as_str()) => Some(t.as_str()),
            Some(other) => {
                return Err(invalid(
                    join(at, "type"),
                    format!("{other} is not a Discovery type"),
                ))
            }
        };
        if let Some(t) = ty {
            out.insert("type".into(), t.into());
        }
        let mut description = opt_str(s, "description", at)?.unwrap_or("").to_owned();
        if let Some(f) = opt_str(s, "format", at)? {
            out.insert("format".into(), f.into());
        }
        if let Some(p) = opt_str(s, "pattern", at)? {
            out.insert("pattern".into(), p.into());
        }
        if let Some(e) = s.get("enum") {
            let values = e
                .as_array()
                .ok_or_else(|| invalid(join(at, "enum"), "must be an array"))?;
            out.insert("enum".into(), Value::Array(values.clone()));
            let descs = s.get("enumDescriptions").and_then(Value::as_array);
            let lines: Vec<String> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let d = descs?.get(i)?.as_str()?.trim();
                    let v = v.as_str()?;
                    (!d.is_empty()).then(|| format!("- `{v}`: {d}"))
                })
                .collect();
            if !lines.is_empty() {
                if !description.is_empty() {
                    description.push_str("\n\n");
                }
                description.push_str(&lines.join("\n"));
            }
        }
        if let Some(d) = s.get("default") {
            if let Some(d) = typed(ty, d) {
                out.insert("default".into(), d);
            }
        }
        for key in ["minimum", "maximum"] {
            if let Some(v) = s.get(key) {
                if let Some(n) = typed(Some(ty.unwrap_or("number")), v) {
                    if n.is_number() {
                        out.insert(key.into(), n);
                    }
                }
            }
        }
        if bool_at(s, "deprecated", at)? {
            out.insert("deprecated".into(), true.into());
        }
        if !self.request && bool_at(s, "readOnly", at)? {
            out.insert("readOnly".into(), true.into());
        }
        if let Some(props) = s.get("properties") {
            let pat = join(at, "properties");
            let mut converted = Map::new();
            let mut required = Vec::new();
            for (name, prop) in as_object(props, &pat)? {
                let pat = format!("{pat}.{name}");
                let pobj = as_object(prop, &pat)?;
                if self.request && bool_at(pobj, "readOnly", &pat)? {
                    continue;
                }
                let annotated = self.method.is_some_and(|m| {
                    pobj.get("annotations")
                        .and_then(|a| a.get("required"))
                        .and_then(Value::as_array)
                        .is_some_and(|ids| ids.iter().any(|i| i.as_str() == Some(m)))
                });
                if annotated || bool_at(pobj, "required", &pat)? {
                    required.push(Value::String(name.clone()));
                }
                converted.insert(name.clone(), self.convert(prop, &pat, depth + 1)?);
            }
            if ty.is_none() {
                out.insert("type".into(), "object".into());
            }
            out.insert("properties".into(), Value::Object(converted));
            if self.request && !required.is_empty() {
                out.insert("required".into(), Value::Array(required));
            }
        }
        match s.get("additionalProperties") {
            None => {}
            Some(Value::Bool(b)) => {
                out.insert("additionalProperties".into(), (*b).into());
            }
            Some(ap) => {
                let ap = self.convert(ap, &join(at, "additionalProperties"), depth + 1)?;
                out.insert("additionalProperties".into(), ap);
            }
        }
        if let Some(items) = s.get("items") {
            let items = self.convert(items, &join(at, "items"), depth + 1)?;
            out.insert("items".into(), items);
        } else if ty == Some("array") {
            out.insert("items".into(), json!({}));
        }
        if !description.is_empty() {
            out.insert("description".into(), description.into());
        }
        Ok(Value::Object(out))
    }
}

/// A Discovery value (defaults and bounds are written as strings) as JSON of the schema's
/// type; `None` when it does not parse as that type.
fn typed(ty: Option<&str>, v: &Value) -> Option<Value> {
    let Value::String(s) = v else {
        return Some(v.clone());
    };
    match ty {
        Some("boolean") => match s.as_str() {
            "true" => Some(true.into()),
            "false" => Some(false.into()),
            _ => None,
        },
        Some("integer") => s
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| s.parse::<u64>().map(Value::from))
            .ok(),
        Some("number") => s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number)),
        _ => Some(v.clone()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn placeholders_are_read_with_their_expansion() {
        assert_eq!(
            placeholders("/v1/{+name}/x/{id}:run").unwrap(),
            vec![("name".to_owned(), true), ("id".to_owned(), false)]
        );
        assert!(placeholders("/v1/{?q}").is_err());
        assert!(placeholders("/v1/{a*}").is_err());
        assert!(placeholders("/v1/{a").is_err());
        assert!(placeholders("/v1/a}").is_err());
    }

    #[test]
    fn defaults_take_the_parameter_type() {
        assert_eq!(typed(Some("boolean"), &json!("false")), Some(json!(false)));
        assert_eq!(typed(Some("integer"), &json!("100")), Some(json!(100)));
        assert_eq!(typed(Some("integer"), &json!("ten")), None);
        assert_eq!(typed(Some("number"), &json!("1.5")), Some(json!(1.5)));
        assert_eq!(typed(Some("string"), &json!("me")), Some(json!("me")));
    }

    #[test]
    fn first_sentence_stops_at_the_first_full_stop() {
        assert_eq!(
            first_sentence("Lists messages. More text."),
            "Lists messages."
        );
        assert_eq!(first_sentence("One line\nsecond"), "One line");
        assert_eq!(first_sentence(""), "");
    }
}
