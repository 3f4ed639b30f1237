//! The OpenAPI front end: OpenAPI 2.0 (Swagger), 3.0 and 3.1 documents, JSON or YAML, into the
//! model ([`ApiModel`]).
//!
//! What it reads: the first server (3.x, with its variables' defaults; else the first
//! path-level server) or `schemes` + `host` + `basePath` (2.0); security schemes (OAuth 2.0
//! authorization-code flows, API keys in a header or query, HTTP bearer and basic), in the
//! order the document's top-level `security` names them; every `get`/`put`/`post`/`patch`/
//! `delete` operation with its path-level and own parameters (the operation's win by
//! name + location), its JSON (`application/json`, `*+json`) or form
//! (`application/x-www-form-urlencoded`) body — 2.0 `in: body`/`in: formData` with `consumes` —
//! its first 2xx JSON response schema, `deprecated`, `tags` and the OAuth scopes its `security`
//! asks for. Schemas are converted by [`schema`].
//!
//! What it skips, each recorded in [`ApiModel::skipped`] with its location and reason:
//! operations whose body is multipart, binary or another media type (file uploads), methods the
//! catalog cannot call (`head`, `options`, `trace`), required cookie parameters (the operation)
//! and optional ones (the parameter), security schemes without an authorization-code flow
//! (implicit, client credentials, OpenID Connect, cookie keys).
//!
//! A document that breaks its own format (a parameter without `in`, a `$ref` that points
//! nowhere, `paths` that is not an object) fails with [`ImportError::Invalid`] naming the JSON
//! pointer of the broken part, e.g. `/paths/~1repos~1{owner}/get/parameters/2`.

mod schema;

use serde_json::{Map, Value};

use crate::ir::{ApiModel, AuthInfo, Body, BodyEncoding, Location, Operation, Param, Skipped};
use crate::ImportError;
use schema::{escape, invalid, Converter};

/// Nesting kept in argument schemas (properties of properties …).
const INPUT_DEPTH: usize = 6;
/// Nesting kept in response schemas: enough to say what comes back, not every field of it.
const OUTPUT_DEPTH: usize = 3;
/// The methods the catalog calls, in the order operations of one path are read.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// Path item keys that are not operations or that are skipped with a reason.
const OTHER_METHODS: [&str; 3] = ["head", "options", "trace"];

/// Reads an OpenAPI 2.0/3.0/3.1 document (JSON or YAML).
pub fn parse(text: &str) -> Result<ApiModel, ImportError> {
    let root = read_document(text)?;
    let version = if let Some(v) = root.get("swagger") {
        match v.as_str() {
            Some(v) if v.starts_with('2') => Version::V2,
            _ => return Err(invalid("/swagger", "only Swagger \"2.0\" is read")),
        }
    } else if let Some(v) = root.get("openapi") {
        match v.as_str() {
            Some(v) if v.starts_with("3.") => Version::V3,
            _ => return Err(invalid("/openapi", "only OpenAPI 3.x is read")),
        }
    } else {
        return Err(ImportError::Unreadable {
            what: "description".into(),
            message: "not an OpenAPI document (no `openapi` or `swagger` field)".into(),
        });
    };
    Reader::new(&root, version).model()
}

/// Parses JSON or YAML (YAML's merge keys applied, non-string keys such as `200:` stringified).
fn read_document(text: &str) -> Result<Value, ImportError> {
    let unreadable = |message: String| ImportError::Unreadable {
        what: "description".into(),
        message,
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let root = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| unreadable(format!("invalid JSON: {e}")))?
    } else {
        let mut yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(trimmed)
            .map_err(|e| unreadable(format!("invalid YAML: {e}")))?;
        yaml.apply_merge()
            .map_err(|e| unreadable(format!("invalid YAML merge key: {e}")))?;
        yaml_to_json(yaml)
    };
    if !root.is_object() {
        return Err(unreadable("the document is not a JSON/YAML object".into()));
    }
    Ok(root)
}

fn yaml_to_json(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let key = match key {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".into(),
                    other => format!("{other:?}"),
                };
                out.insert(key, yaml_to_json(value));
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    V2,
    V3,
}

struct Reader<'d> {
    root: &'d Value,
    version: Version,
    schemas: Converter<'d>,
    /// Names of the OAuth 2.0 security schemes (their scopes are the operations' scopes).
    oauth2_schemes: Vec<String>,
    skipped: Vec<Skipped>,
}

impl<'d> Reader<'d> {
    fn new(root: &'d Value, version: Version) -> Reader<'d> {
        Reader {
            root,
            version,
            schemas: Converter::new(root),
            oauth2_schemes: Vec::new(),
            skipped: Vec::new(),
        }
    }

    fn model(mut self) -> Result<ApiModel, ImportError> {
        let info = self.root.get("info");
        let text = |key: &str| {
            info.and_then(|i| i.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let auth = self.auth()?;
        let operations = self.operations()?;
        Ok(ApiModel {
            title: text("title"),
            description: text("description"),
            base_url: self.base_url(),
            auth,
            operations,
            skipped: {
                let mut skipped = self.skipped;
                skipped.extend(
                    self.schemas
                        .dangling
                        .drain(..)
                        .map(|(location, reference)| Skipped {
                            location,
                            reason: format!(
                                "$ref {reference:?} points nowhere; any value accepted there"
                            ),
                        }),
                );
                skipped
            },
        })
    }

    fn base_url(&self) -> String {
        let url = match self.version {
            Version::V2 => {
                let host = self.root.get("host").and_then(Value::as_str).unwrap_or("");
                let base = self
                    .root
                    .get("basePath")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let schemes: Vec<&str> = self
                    .root
                    .get("schemes")
                    .and_then(Value::as_array)
                    .map(|s| s.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let scheme = if schemes.is_empty() || schemes.contains(&"https") {
                    "https"
                } else {
                    schemes[0]
                };
                if host.is_empty() {
                    base.to_owned()
                } else {
                    format!("{scheme}://{host}{base}")
                }
            }
            Version::V3 => {
                let first_path_server = || {
                    self.root
                        .get("paths")?
                        .as_object()?
                        .values()
                        .find_map(|item| item.get("servers")?.get(0))
                };
                self.root
                    .get("servers")
                    .and_then(|s| s.get(0))
                    .or_else(first_path_server)
                    .map(server_url)
                    .unwrap_or_default()
            }
        };
        url.trim_end_matches('/').to_owned()
    }

    /// Security schemes, those the top-level `security` names first.
    fn auth(&mut self) -> Result<Vec<AuthInfo>, ImportError> {
        let (defs, defs_loc) = match self.version {
            Version::V2 => (self.root.get("securityDefinitions"), "/securityDefinitions"),
            Version::V3 => (
                self.root
                    .get("components")
                    .and_then(|c| c.get("securitySchemes")),
                "/components/securitySchemes",
            ),
        };
        let Some(defs) = defs else {
            return Ok(Vec::new());
        };
        let defs = defs
            .as_object()
            .ok_or_else(|| invalid(defs_loc, "must be an object"))?;
        let mut names: Vec<&String> = Vec::new();
        if let Some(Value::Array(requirements)) = self.root.get("security") {
            for requirement in requirements.iter().filter_map(Value::as_object) {
                for name in requirement.keys() {
                    if let Some((key, _)) = defs.get_key_value(name) {
                        if !names.contains(&key) {
                            names.push(key);
                        }
                    }
                }
            }
        }
        for name in defs.keys() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let mut out: Vec<AuthInfo> = Vec::new();
        for name in names {
            let loc = format!("{defs_loc}/{}", escape(name));
            let mut def = &defs[name.as_str()];
            if let Some(reference) = def.get("$ref").and_then(Value::as_str) {
                def = self
                    .schemas
                    .resolve(reference)
                    .ok_or_else(|| invalid(&loc, &format!("$ref {reference:?} points nowhere")))?;
            }
            match self.scheme(def, &loc)? {
                Ok(info) => {
                    if matches!(info, AuthInfo::OAuth2 { .. }) {
                        self.oauth2_schemes.push(name.clone());
                    }
                    if !out.contains(&info) {
                        out.push(info);
                    }
                }
                Err(reason) => self.skipped.push(Skipped {
                    location: loc,
                    reason,
                }),
            }
        }
        Ok(out)
    }

    /// One security scheme; `Ok(Err(reason))` for one the catalog cannot use.
    fn scheme(&self, def: &Value, loc: &str) -> Result<Result<AuthInfo, String>, ImportError> {
        let str_at = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let kind =
            str_at(def, "type").ok_or_else(|| invalid(loc, "security scheme without type"))?;
        Ok(match kind.as_str() {
            "apiKey" => {
                let name = str_at(def, "name")
                    .ok_or_else(|| invalid(loc, "apiKey scheme without name"))?;
                match str_at(def, "in").as_deref() {
                    Some("header") => Ok(AuthInfo::ApiKey {
                        header: Some(name),
                        query: None,
                    }),
                    Some("query") => Ok(AuthInfo::ApiKey {
                        header: None,
                        query: Some(name),
                    }),
                    other => Err(format!(
                        "API key in {} is not supported",
                        other.unwrap_or("?")
                    )),
                }
            }
            "basic" => Ok(AuthInfo::Basic),
            "http" => match str_at(def, "scheme")
                .map(|s| s.to_ascii_lowercase())
                .as_deref()
            {
                Some("bearer") => Ok(AuthInfo::Bearer),
                Some("basic") => Ok(AuthInfo::Basic),
                other => Err(format!(
                    "HTTP scheme {} is not supported",
                    other.unwrap_or("?")
                )),
            },
            "oauth2" => {
                let flow = match self.version {
                    Version::V2 => {
                        (str_at(def, "flow").as_deref() == Some("accessCode")).then_some(def)
                    }
                    Version::V3 => def.get("flows").and_then(|f| f.get("authorizationCode")),
                };
                match flow {
                    None => Err("OAuth 2.0 without an authorization-code flow".into()),
                    Some(flow) => {
                        let authorize_url = str_at(flow, "authorizationUrl").unwrap_or_default();
                        let token_url = str_at(flow, "tokenUrl").unwrap_or_default();
                        let scopes = flow
                            .get("scopes")
                            .and_then(Value::as_object)
                            .map(|s| {
                                s.iter()
                                    .map(|(k, v)| {
                                        (k.clone(), v.as_str().unwrap_or_default().to_owned())
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        Ok(AuthInfo::OAuth2 {
                            authorize_url,
                            token_url,
                            scopes,
                        })
                    }
                }
            }
            other => Err(format!("security scheme type {other} is not supported")),
        })
    }

    fn operations(&mut self) -> Result<Vec<Operation>, ImportError> {
        let Some(paths) = self.root.get("paths") else {
            return Ok(Vec::new());
        };
        let paths = paths
            .as_object()
            .ok_or_else(|| invalid("/paths", "paths must be an object"))?;
        let mut out = Vec::new();
        for (path, item) in paths {
            let item_loc = format!("/paths/{}", escape(path));
            let mut item = item;
            if let Some(reference) = item.get("$ref").and_then(Value::as_str) {
                item = self.schemas.resolve(reference).ok_or_else(|| {
                    invalid(&item_loc, &format!("$ref {reference:?} points nowhere"))
                })?;
            }
            let item = item
                .as_object()
                .ok_or_else(|| invalid(&item_loc, "a path item must be an object"))?;
            let shared =
                self.parameters(item.get("parameters"), &format!("{item_loc}/parameters"))?;
            for method in OTHER_METHODS {
                if item.contains_key(method) {
                    self.skipped.push(Skipped {
                        location: format!("{item_loc}/{method}"),
                        reason: format!(
                            "method {} is not one the catalog calls",
                            method.to_uppercase()
                        ),
                    });
                }
            }
            for method in METHODS {
                let Some(op) = item.get(method) else {
                    continue;
                };
                let loc = format!("{item_loc}/{method}");
                if let Some(op) = self.operation(path, method, op, &shared, &loc)? {
                    out.push(op);
                }
            }
        }
        Ok(out)
    }

    fn operation(
        &mut self,
        path: &str,
        method: &str,
        op: &Value,
        shared: &[(Value, String)],
        loc: &str,
    ) -> Result<Option<Operation>, ImportError> {
        let obj = op
            .as_object()
            .ok_or_else(|| invalid(loc, "an operation must be an object"))?;
        let text = |key: &str| {
            obj.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        // Parameters: the path item's, replaced by the operation's of the same name and `in`.
        let mut raw: Vec<(Value, String)> = shared.to_vec();
        for (param, at) in self.parameters(obj.get("parameters"), &format!("{loc}/parameters"))? {
            let key = param_key(&param);
            raw.retain(|(p, _)| param_key(p) != key);
            raw.push((param, at));
        }
        let consumes = self.media_list(obj.get("consumes"), "consumes");
        let mut params = Vec::new();
        let mut body = None;
        let mut form: Vec<(Value, String)> = Vec::new();
        for (param, at) in &raw {
            let name = param
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(at, "a parameter needs a name"))?;
            let place = param
                .get("in")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(at, "a parameter needs `in`"))?;
            let required = param
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let location = match place {
                "path" => Location::Path,
                "query" => Location::Query,
                "header" => Location::Header,
                "cookie" => {
                    let reason = format!("cookie parameter {name:?}");
                    if required {
                        self.skip(loc, format!("needs {reason}"));
                        return Ok(None);
                    }
                    self.skip(at, format!("optional {reason} left out"));
                    continue;
                }
                "body" if self.version == Version::V2 => {
                    let encoding = match body_encoding(&consumes) {
                        Ok(encoding) => encoding,
                        Err(reason) => {
                            self.skip(loc, reason);
                            return Ok(None);
                        }
                    };
                    let schema = param.get("schema").unwrap_or(&Value::Null);
                    let schema = if schema.is_null() {
                        Value::Object(Map::new())
                    } else {
                        self.schemas
                            .convert(schema, &format!("{at}/schema"), INPUT_DEPTH)?
                    };
                    body = Some(Body {
                        encoding,
                        required,
                        description: text_of(param, "description"),
                        schema,
                        graphql: None,
                    });
                    continue;
                }
                "formData" if self.version == Version::V2 => {
                    form.push((param.clone(), at.clone()));
                    continue;
                }
                other => {
                    return Err(invalid(
                        at,
                        &format!("unknown parameter location {other:?}"),
                    ))
                }
            };
            let schema = self.param_schema(param, at)?;
            params.push(Param {
                name: name.to_owned(),
                location,
                required: required || location == Location::Path,
                description: text_of(param, "description"),
                join: self.join(param, &schema),
                schema,
            });
        }
        if !form.is_empty() {
            match self.form_body(&form, &consumes)? {
                Ok(form_body) => body = Some(form_body),
                Err(reason) => {
                    self.skip(loc, reason);
                    return Ok(None);
                }
            }
        }
        if let Some(request) = obj.get("requestBody") {
            match self.request_body(request, &format!("{loc}/requestBody"))? {
                Ok(request) => body = request,
                Err(reason) => {
                    self.skip(loc, reason);
                    return Ok(None);
                }
            }
        }
        let id = match obj.get("operationId").and_then(Value::as_str) {
            Some(id) if !id.trim().is_empty() => id.trim().to_owned(),
            _ => format!("{method} {path}"),
        };
        Ok(Some(Operation {
            notes: Vec::new(),
            id,
            method: method.to_uppercase(),
            path: path.to_owned(),
            summary: text("summary"),
            description: text("description"),
            tags: obj
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            params,
            body,
            response: self.response(obj.get("responses"), &format!("{loc}/responses"))?,
            deprecated: obj
                .get("deprecated")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            scopes: self.scopes(obj.get("security").or_else(|| self.root.get("security"))),
            pagination: None,
        }))
    }

    /// A `parameters` list with each `$ref` followed, paired with its location.
    fn parameters(
        &self,
        list: Option<&Value>,
        loc: &str,
    ) -> Result<Vec<(Value, String)>, ImportError> {
        let Some(list) = list else {
            return Ok(Vec::new());
        };
        let list = list
            .as_array()
            .ok_or_else(|| invalid(loc, "parameters must be an array"))?;
        let mut out = Vec::with_capacity(list.len());
        for (i, param) in list.iter().enumerate() {
            let at = format!("{loc}/{i}");
            let mut param = param;
            let mut hops = 0;
            while let Some(reference) = param.get("$ref").and_then(Value::as_str) {
                hops += 1;
                param = self
                    .schemas
                    .resolve(reference)
                    .filter(|_| hops < 8)
                    .ok_or_else(|| invalid(&at, &format!("$ref {reference:?} points nowhere")))?;
            }
            if !param.is_object() {
                return Err(invalid(&at, "a parameter must be an object"));
            }
            out.push((param.clone(), at));
        }
        Ok(out)
    }

    /// A parameter's value schema: 3.x `schema` (or `content`), 2.0 the parameter itself.
    fn param_schema(&mut self, param: &Value, at: &str) -> Result<Value, ImportError> {
        if let Some(schema) = param.get("schema") {
            return self
                .schemas
                .convert(schema, &format!("{at}/schema"), INPUT_DEPTH);
        }
        if let Some(content) = param.get("content").and_then(Value::as_object) {
            if let Some((media, spec)) = content.iter().next() {
                if let Some(schema) = spec.get("schema") {
                    let at = format!("{at}/content/{}/schema", escape(media));
                    return self.schemas.convert(schema, &at, INPUT_DEPTH);
                }
            }
            return Ok(Value::Object(Map::new()));
        }
        if self.version == Version::V2 {
            let mut schema = self.schemas.convert(param, at, INPUT_DEPTH)?;
            if let Value::Object(map) = &mut schema {
                map.remove("description");
            }
            return Ok(schema);
        }
        Ok(Value::Object(Map::new()))
    }

    /// How an array parameter is sent as one value: 2.0 `collectionFormat` (default `csv`),
    /// 3.x `style`/`explode` (default: repeated keys).
    fn join(&self, param: &Value, schema: &Value) -> Option<String> {
        if schema.get("type").and_then(Value::as_str) != Some("array") {
            return None;
        }
        let sep = |s: &str| Some(s.to_owned());
        match self.version {
            Version::V2 => match param.get("collectionFormat").and_then(Value::as_str) {
                Some("multi") => None,
                Some("ssv") => sep(" "),
                Some("tsv") => sep("\t"),
                Some("pipes") => sep("|"),
                _ => sep(","),
            },
            Version::V3 => {
                let explode = param.get("explode").and_then(Value::as_bool);
                match param.get("style").and_then(Value::as_str) {
                    Some("spaceDelimited") => sep(" "),
                    Some("pipeDelimited") => sep("|"),
                    Some("simple") => sep(","),
                    _ if explode == Some(false) => sep(","),
                    _ => None,
                }
            }
        }
    }

    /// 2.0 `in: formData` parameters as a form body, unless they upload a file.
    fn form_body(
        &mut self,
        form: &[(Value, String)],
        consumes: &[String],
    ) -> Result<Result<Body, String>, ImportError> {
        if form
            .iter()
            .any(|(p, _)| p.get("type").and_then(Value::as_str) == Some("file"))
        {
            return Ok(Err("multipart/form-data body (file upload)".into()));
        }
        let urlencoded = consumes.is_empty()
            || consumes
                .iter()
                .any(|c| c == "application/x-www-form-urlencoded");
        if !urlencoded {
            return Ok(Err(format!("form body as {}", consumes.join(", "))));
        }
        let mut properties = Map::new();
        let mut required = Vec::new();
        for (param, at) in form {
            let name = text_of(param, "name");
            let mut schema = self.schemas.convert(param, at, INPUT_DEPTH)?;
            if let Value::Object(map) = &mut schema {
                map.remove("required");
            }
            if param.get("required").and_then(Value::as_bool) == Some(true) {
                required.push(Value::String(name.clone()));
            }
            properties.insert(name, schema);
        }
        let schema = serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": required,
        });
        Ok(Ok(Body {
            encoding: BodyEncoding::Form,
            required: !required.is_empty(),
            description: String::new(),
            schema,
            graphql: None,
        }))
    }

    /// A 3.x `requestBody`: `Ok(Ok(None))` for an empty one, `Ok(Err(reason))` for one the
    /// catalog cannot send.
    fn request_body(
        &mut self,
        request: &Value,
        loc: &str,
    ) -> Result<Result<Option<Body>, String>, ImportError> {
        let mut request = request;
        if let Some(reference) = request.get("$ref").and_then(Value::as_str) {
            request = self
                .schemas
                .resolve(reference)
                .ok_or_else(|| invalid(loc, &format!("$ref {reference:?} points nowhere")))?;
        }
        let Some(content) = request.get("content").and_then(Value::as_object) else {
            return Ok(Ok(None));
        };
        if content.is_empty() {
            return Ok(Ok(None));
        }
        let pick = content
            .iter()
            .find(|(m, _)| is_json(m))
            .map(|c| (c, BodyEncoding::Json))
            .or_else(|| {
                content
                    .iter()
                    .find(|(m, _)| media(m) == "application/x-www-form-urlencoded")
                    .map(|c| (c, BodyEncoding::Form))
            });
        let Some(((media_type, spec), encoding)) = pick else {
            let kinds: Vec<String> = content.keys().map(|m| media(m)).collect();
            let reason = if kinds.iter().any(|m| m == "multipart/form-data") {
                "multipart/form-data body (file upload)".to_owned()
            } else if kinds.iter().any(|m| m == "application/octet-stream") {
                "binary application/octet-stream body (file upload)".to_owned()
            } else {
                format!("body media type {} is not JSON or a form", kinds.join(", "))
            };
            return Ok(Err(reason));
        };
        let schema = match spec.get("schema") {
            Some(schema) => {
                let at = format!("{loc}/content/{}/schema", escape(media_type));
                self.schemas.convert(schema, &at, INPUT_DEPTH)?
            }
            None => Value::Object(Map::new()),
        };
        Ok(Ok(Some(Body {
            encoding,
            required: request
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            description: text_of(request, "description"),
            schema,
            graphql: None,
        })))
    }

    /// The first 2xx response's JSON schema, or `{}`.
    fn response(&mut self, responses: Option<&Value>, loc: &str) -> Result<Value, ImportError> {
        let Some(responses) = responses.and_then(Value::as_object) else {
            return Ok(Value::Object(Map::new()));
        };
        let mut codes: Vec<&String> = responses.keys().filter(|c| c.starts_with('2')).collect();
        codes.sort();
        for code in codes {
            let at = format!("{loc}/{}", escape(code));
            let mut response = &responses[code.as_str()];
            if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
                response = self
                    .schemas
                    .resolve(reference)
                    .ok_or_else(|| invalid(&at, &format!("$ref {reference:?} points nowhere")))?;
            }
            let found = match self.version {
                Version::V2 => response.get("schema").map(|s| (s, format!("{at}/schema"))),
                Version::V3 => response
                    .get("content")
                    .and_then(Value::as_object)
                    .and_then(|c| c.iter().find(|(m, _)| is_json(m)))
                    .and_then(|(m, spec)| {
                        let schema = spec.get("schema")?;
                        Some((schema, format!("{at}/content/{}/schema", escape(m))))
                    }),
            };
            if let Some((schema, at)) = found {
                return self.schemas.convert(schema, &at, OUTPUT_DEPTH);
            }
        }
        Ok(Value::Object(Map::new()))
    }

    /// OAuth scopes named by a `security` list.
    fn scopes(&self, security: Option<&Value>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let Some(Value::Array(requirements)) = security else {
            return out;
        };
        for requirement in requirements.iter().filter_map(Value::as_object) {
            for (name, scopes) in requirement {
                if !self.oauth2_schemes.contains(name) {
                    continue;
                }
                for scope in scopes
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if !out.iter().any(|s| s == scope) {
                        out.push(scope.to_owned());
                    }
                }
            }
        }
        out
    }

    /// 2.0 `consumes` of the operation, else of the document.
    fn media_list(&self, own: Option<&Value>, key: &str) -> Vec<String> {
        own.or_else(|| self.root.get(key))
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).map(media).collect())
            .unwrap_or_default()
    }

    fn skip(&mut self, location: &str, reason: String) {
        self.skipped.push(Skipped {
            location: location.to_owned(),
            reason,
        });
    }
}

/// A 2.0 `in: body` encoding from `consumes`: JSON unless only a form or something else is
/// accepted.
fn body_encoding(consumes: &[String]) -> Result<BodyEncoding, String> {
    if consumes.is_empty() || consumes.iter().any(|c| is_json(c)) {
        Ok(BodyEncoding::Json)
    } else if consumes
        .iter()
        .any(|c| c == "application/x-www-form-urlencoded")
    {
        Ok(BodyEncoding::Form)
    } else if consumes.iter().any(|c| c == "multipart/form-data") {
        Err("multipart/form-data body (file upload)".into())
    } else if consumes.iter().any(|c| c == "application/octet-stream") {
        Err("binary application/octet-stream body (file upload)".into())
    } else {
        Err(format!(
            "body media type {} is not JSON or a form",
            consumes.join(", ")
        ))
    }
}

/// A server's URL with its variables' defaults filled in.
fn server_url(server: &Value) -> String {
    let mut url = server
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(vars) = server.get("variables").and_then(Value::as_object) {
        for (name, var) in vars {
            if let Some(default) = var.get("default").and_then(Value::as_str) {
                url = url.replace(&format!("{{{name}}}"), default);
            }
        }
    }
    url
}

/// `name` + `in`, how an operation's parameter replaces the path item's.
fn param_key(param: &Value) -> (String, String) {
    (text_of(param, "name"), text_of(param, "in"))
}

fn text_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A media type without parameters, lower case.
fn media(m: &str) -> String {
    m.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_json(m: &str) -> bool {
    let m = media(m);
    m == "application/json" || m == "text/json" || m.ends_with("+json")
}
