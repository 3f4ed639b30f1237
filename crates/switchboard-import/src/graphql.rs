//! GraphQL APIs read into the import model from the provider's SDL schema and a curated list
//! of operations.
//!
//! A GraphQL schema has no natural "operations" (any query is one), so which root fields become
//! tools, and what each one selects, is written by hand in a small YAML file:
//!
//! ```yaml
//! endpoint: https://api.linear.app/graphql   # required: http(s) URL of the GraphQL endpoint
//! title: Linear                              # optional (default: the endpoint's host)
//! description: Linear's GraphQL API.         # optional
//! auth:                                      # optional; listed in this order when present
//!   oauth2:
//!     authorize_url: https://linear.app/oauth/authorize
//!     token_url: https://api.linear.app/oauth/token
//!     scopes: [read, write]                  # names; or a map name → description
//!   api_key: { header: Authorization }       # or { query: key }
//!   bearer: true
//!   basic: false
//! operations:
//!   - id: issueCreate                        # optional (default: the field name); unique
//!     kind: mutation                         # query | mutation
//!     field: issueCreate                     # root field of the Query / Mutation type
//!     select: "success issue { id identifier title url }"   # required unless the field
//!                                            # returns a scalar or enum
//!     description: Creates an issue.         # optional (default: the field's SDL description)
//!     summary: Create an issue               # optional
//!     tags: [issues]                         # optional topic tags
//!     scopes: [write]                        # optional
//!     pagination: { style: cursor, param: after, next: data.issues.pageInfo.endCursor }
//! ```
//!
//! Each operation becomes a `POST` to the endpoint (the model's base URL is the endpoint's
//! origin, the operation's path the endpoint's path) with a JSON body whose `graphql` document
//! declares one variable per argument of the field, in the SDL's order and with the SDL's type:
//! `mutation IssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) { success
//! issue { id identifier title url } } }`. The body schema is an object whose properties are
//! those variables: input objects become JSON Schema objects (recursion and nesting beyond
//! [`MAX_INPUT_DEPTH`] cut to a bare object), enums string enums, `String`/`ID` strings, `Int`
//! integers, `Float` numbers, `Boolean` booleans, custom scalars strings (with the scalar's
//! description) except those named like `JSON…`, which are unconstrained; lists arrays.
//! Required properties are the non-null arguments (and input fields) without a default. The
//! response schema is `{data: {<field>: …}}` built from the selection.
//!
//! The selection is checked against the schema: every selected field must exist on its type
//! (with `... on Type { }` for unions and interfaces), objects need a sub-selection and scalars
//! must not have one. A field, type or selection the schema does not have fails with
//! [`ImportError::Invalid`] naming the place (`operations[2].select`); a broken SDL names its
//! line and column (`sdl:12:5`), a broken YAML its line.
//!
//! The SDL parser reads the type-system subset a provider publishes: `schema`, `type`,
//! `interface`, `input`, `enum`, `scalar`, `union`, `directive` definitions and `extend` of
//! them, descriptions (`"…"` and `"""…"""`), `#` comments, field arguments with default
//! values, list and non-null wrappers, `implements A & B`, and directives (skipped, except
//! `@deprecated`, which marks a field deprecated).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard_catalog::spec::PaginationStyle;

use crate::error::ImportError;
use crate::ir::{ApiModel, AuthInfo, Body, BodyEncoding, Operation, PaginationHint};

/// How many input objects deep an argument's schema is spelled out before it is cut.
pub const MAX_INPUT_DEPTH: usize = 4;
/// How deep lists, values and selections may nest in the SDL and selections.
const MAX_NESTING: usize = 64;

fn invalid(location: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::Invalid {
        location: location.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The curated operations file.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationsFile {
    endpoint: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    auth: Option<AuthFile>,
    operations: Vec<OperationEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    oauth2: Option<OAuth2File>,
    #[serde(default)]
    api_key: Option<ApiKeyFile>,
    #[serde(default)]
    bearer: bool,
    #[serde(default)]
    basic: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuth2File {
    authorize_url: String,
    token_url: String,
    #[serde(default)]
    scopes: Scopes,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scopes {
    Names(Vec<String>),
    Described(BTreeMap<String, String>),
}

impl Default for Scopes {
    fn default() -> Self {
        Scopes::Names(Vec::new())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyFile {
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    query: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Query,
    Mutation,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationEntry {
    #[serde(default)]
    id: Option<String>,
    kind: Kind,
    field: String,
    #[serde(default)]
    select: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    pagination: Option<PaginationEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaginationEntry {
    style: PaginationStyle,
    param: String,
    #[serde(default)]
    next: String,
}

/// Reads a GraphQL SDL schema and the curated operations over it (the YAML in the module doc).
pub fn parse(sdl: &str, operations_yaml: &str) -> Result<ApiModel, ImportError> {
    let file: OperationsFile =
        serde_yaml_ng::from_str(operations_yaml).map_err(|e| ImportError::Invalid {
            location: match e.location() {
                Some(l) => format!("operations file line {}", l.line()),
                None => "operations file".to_owned(),
            },
            message: e.to_string(),
        })?;
    let schema = Schema::parse(sdl)?;
    let (origin, path) = split_endpoint(&file.endpoint)?;

    let mut model = ApiModel {
        title: file
            .title
            .clone()
            .unwrap_or_else(|| host_of(&origin).to_owned()),
        description: file.description.clone().unwrap_or_default(),
        base_url: origin,
        auth: auth(file.auth.as_ref()),
        ..ApiModel::default()
    };
    let mut seen = HashMap::new();
    for (i, entry) in file.operations.iter().enumerate() {
        let at = format!("operations[{i}]");
        let op = operation(&schema, entry, &path, &at)?;
        if let Some(first) = seen.insert(op.id.clone(), i) {
            return Err(invalid(
                format!("{at}.id"),
                format!("id {:?} is also operations[{first}]'s", op.id),
            ));
        }
        model.operations.push(op);
    }
    Ok(model)
}

fn split_endpoint(endpoint: &str) -> Result<(String, String), ImportError> {
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .ok_or_else(|| invalid("endpoint", format!("{endpoint:?} is not an http(s) URL")))?;
    if endpoint.contains(['?', '#', '{', '}', ' ']) {
        return Err(invalid(
            "endpoint",
            format!("{endpoint:?} must be a plain URL without query, fragment or template"),
        ));
    }
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() {
        return Err(invalid("endpoint", format!("{endpoint:?} has no host")));
    }
    let scheme_len = endpoint.len() - rest.len();
    Ok((
        format!("{}{host}", &endpoint[..scheme_len]),
        path.to_owned(),
    ))
}

fn host_of(origin: &str) -> &str {
    origin.split_once("://").map(|(_, h)| h).unwrap_or(origin)
}

fn auth(file: Option<&AuthFile>) -> Vec<AuthInfo> {
    let Some(a) = file else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(o) = &a.oauth2 {
        let scopes = match &o.scopes {
            Scopes::Names(n) => n.iter().map(|s| (s.clone(), String::new())).collect(),
            Scopes::Described(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        out.push(AuthInfo::OAuth2 {
            authorize_url: o.authorize_url.clone(),
            token_url: o.token_url.clone(),
            scopes,
        });
    }
    if let Some(k) = &a.api_key {
        out.push(AuthInfo::ApiKey {
            header: k.header.clone(),
            query: k.query.clone(),
        });
    }
    if a.bearer {
        out.push(AuthInfo::Bearer);
    }
    if a.basic {
        out.push(AuthInfo::Basic);
    }
    out
}

fn operation(
    schema: &Schema,
    entry: &OperationEntry,
    path: &str,
    at: &str,
) -> Result<Operation, ImportError> {
    let root_name = match entry.kind {
        Kind::Query => schema.query.as_str(),
        Kind::Mutation => schema.mutation.as_str(),
    };
    let Some(TypeDef::Object { fields, .. }) = schema.types.get(root_name).map(|t| &t.def) else {
        return Err(invalid(
            format!("{at}.kind"),
            format!("the schema has no {root_name} type"),
        ));
    };
    let Some(field) = fields.iter().find(|f| f.name == entry.field) else {
        return Err(invalid(
            format!("{at}.field"),
            format!("{root_name} has no field {:?}", entry.field),
        ));
    };
    let id = match &entry.id {
        Some(id) if !id.trim().is_empty() => id.trim().to_owned(),
        Some(_) => return Err(invalid(format!("{at}.id"), "is empty")),
        None => field.name.clone(),
    };

    // Variables: one per argument.
    let mut props = Map::new();
    let mut required = Vec::new();
    let mut decls = Vec::new();
    let mut args = Vec::new();
    for arg in &field.args {
        let arg_at = format!("{at}.field {}({})", field.name, arg.name);
        let mut s = schema.input_schema(&arg.ty, &arg_at, &mut Vec::new())?;
        annotate(&mut s, &arg.description, arg.default.as_ref());
        props.insert(arg.name.clone(), s);
        if arg.ty.is_non_null() && arg.default.is_none() {
            required.push(Value::String(arg.name.clone()));
        }
        decls.push(format!("${}: {}", arg.name, arg.ty));
        args.push(format!("{0}: ${0}", arg.name));
    }

    // The selection, checked against the field's type.
    let select_at = format!("{at}.select");
    let selection = parse_selection(&entry.select, &select_at)?;
    let field_schema = schema.output_schema(&field.ty, &selection, &select_at)?;

    let op_name = pascal(&id);
    let keyword = match entry.kind {
        Kind::Query => "query",
        Kind::Mutation => "mutation",
    };
    let mut document = format!("{keyword} {op_name}");
    if !decls.is_empty() {
        document.push_str(&format!("({})", decls.join(", ")));
    }
    document.push_str(&format!(" {{ {}", field.name));
    if !args.is_empty() {
        document.push_str(&format!("({})", args.join(", ")));
    }
    let printed = print_selection(&selection);
    if !printed.is_empty() {
        document.push_str(&format!(" {printed}"));
    }
    document.push_str(" }");

    let mut body_schema = Map::new();
    body_schema.insert("type".into(), "object".into());
    body_schema.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        body_schema.insert("required".into(), Value::Array(required));
    }
    let description = entry
        .description
        .clone()
        .unwrap_or_else(|| field.description.clone());
    let summary = entry.summary.clone().unwrap_or_default();

    let mut data = Map::new();
    data.insert(field.name.clone(), field_schema);
    let response = json!({
        "type": "object",
        "properties": {
            "data": {"type": "object", "properties": Value::Object(data)},
            "errors": {"type": "array", "items": {"type": "object"}},
        }
    });

    let pagination = match &entry.pagination {
        None => None,
        Some(p) => {
            if !field.args.iter().any(|a| a.name == p.param) {
                return Err(invalid(
                    format!("{at}.pagination.param"),
                    format!("{:?} is no argument of {}", p.param, field.name),
                ));
            }
            Some(PaginationHint {
                style: p.style,
                param: p.param.clone(),
                next: p.next.clone(),
            })
        }
    };

    Ok(Operation {
        id,
        method: "POST".to_owned(),
        path: path.to_owned(),
        summary,
        description,
        tags: entry.tags.clone(),
        params: Vec::new(),
        body: Some(Body {
            encoding: BodyEncoding::Json,
            required: true,
            description: String::new(),
            schema: Value::Object(body_schema),
            graphql: Some(document),
        }),
        response,
        deprecated: field.deprecated,
        scopes: entry.scopes.clone(),
        pagination,
        notes: Vec::new(),
    })
}

/// `issueCreate` → `IssueCreate`, `list-issues` → `ListIssues` (a valid GraphQL name).
fn pascal(id: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in id.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Op");
    }
    out
}

fn annotate(s: &mut Value, description: &str, default: Option<&Value>) {
    if let Some(o) = s.as_object_mut() {
        if !description.is_empty() {
            o.insert("description".into(), description.into());
        }
        if let Some(d) = default {
            o.insert("default".into(), d.clone());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The schema.

#[derive(Debug, Clone, PartialEq)]
enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    fn is_non_null(&self) -> bool {
        matches!(self, TypeRef::NonNull(_))
    }
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeRef::Named(n) => write!(f, "{n}"),
            TypeRef::List(t) => write!(f, "[{t}]"),
            TypeRef::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

#[derive(Debug, Clone)]
struct InputValue {
    name: String,
    description: String,
    ty: TypeRef,
    default: Option<Value>,
    deprecated: bool,
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    description: String,
    args: Vec<InputValue>,
    ty: TypeRef,
    deprecated: bool,
}

#[derive(Debug, Clone)]
enum TypeDef {
    Object { fields: Vec<Field> },
    Interface { fields: Vec<Field> },
    Input { fields: Vec<InputValue> },
    Enum { values: Vec<String> },
    Scalar,
    Union { members: Vec<String> },
}

#[derive(Debug, Clone)]
struct Type {
    description: String,
    def: TypeDef,
}

#[derive(Debug)]
struct Schema {
    types: HashMap<String, Type>,
    query: String,
    mutation: String,
}

const BUILTIN_SCALARS: &[&str] = &["String", "ID", "Int", "Float", "Boolean"];

impl Schema {
    fn parse(sdl: &str) -> Result<Schema, ImportError> {
        let tokens = lex(sdl)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            end: sdl_position(sdl, sdl.len()),
        };
        let mut schema = Schema {
            types: HashMap::new(),
            query: "Query".to_owned(),
            mutation: "Mutation".to_owned(),
        };
        for s in BUILTIN_SCALARS {
            schema.types.insert(
                (*s).to_owned(),
                Type {
                    description: String::new(),
                    def: TypeDef::Scalar,
                },
            );
        }
        while !p.done() {
            p.definition(&mut schema)?;
        }
        Ok(schema)
    }

    fn get(&self, name: &str, at: &str) -> Result<&Type, ImportError> {
        self.types
            .get(name)
            .ok_or_else(|| invalid(at, format!("type {name:?} is not in the schema")))
    }

    /// JSON Schema of an argument or input field of type `ty`.
    fn input_schema(
        &self,
        ty: &TypeRef,
        at: &str,
        stack: &mut Vec<String>,
    ) -> Result<Value, ImportError> {
        match ty {
            TypeRef::NonNull(t) => self.input_schema(t, at, stack),
            TypeRef::List(t) => {
                Ok(json!({"type": "array", "items": self.input_schema(t, at, stack)?}))
            }
            TypeRef::Named(name) => {
                let t = self.get(name, at)?;
                let mut out = match &t.def {
                    TypeDef::Scalar => scalar_schema(name),
                    TypeDef::Enum { values } => json!({"type": "string", "enum": values}),
                    TypeDef::Input { fields } => {
                        if stack.iter().any(|n| n == name) || stack.len() >= MAX_INPUT_DEPTH {
                            let why = if stack.iter().any(|n| n == name) {
                                "recursive"
                            } else {
                                "nested too deep"
                            };
                            json!({"type": "object", "description":
                                format!("A {name} ({why}: its fields are not listed here).")})
                        } else {
                            stack.push(name.clone());
                            let mut props = Map::new();
                            let mut required = Vec::new();
                            for f in fields {
                                let mut s = self.input_schema(
                                    &f.ty,
                                    &format!("{at} → {name}.{}", f.name),
                                    stack,
                                )?;
                                annotate(&mut s, &f.description, f.default.as_ref());
                                if f.deprecated {
                                    if let Some(o) = s.as_object_mut() {
                                        o.insert("deprecated".into(), true.into());
                                    }
                                }
                                if f.ty.is_non_null() && f.default.is_none() {
                                    required.push(Value::String(f.name.clone()));
                                }
                                props.insert(f.name.clone(), s);
                            }
                            stack.pop();
                            let mut o = Map::new();
                            o.insert("type".into(), "object".into());
                            o.insert("properties".into(), Value::Object(props));
                            if !required.is_empty() {
                                o.insert("required".into(), Value::Array(required));
                            }
                            Value::Object(o)
                        }
                    }
                    TypeDef::Object { .. } | TypeDef::Interface { .. } | TypeDef::Union { .. } => {
                        return Err(invalid(
                            at,
                            format!("{name} is an output type, not an input type"),
                        ))
                    }
                };
                if !t.description.is_empty() && out.get("description").is_none() {
                    annotate(&mut out, &t.description, None);
                }
                Ok(out)
            }
        }
    }

    /// JSON Schema of a field's result of type `ty` with `selection` (checked against it).
    fn output_schema(
        &self,
        ty: &TypeRef,
        selection: &[Selection],
        at: &str,
    ) -> Result<Value, ImportError> {
        match ty {
            TypeRef::NonNull(t) => self.output_schema(t, selection, at),
            TypeRef::List(t) => {
                Ok(json!({"type": "array", "items": self.output_schema(t, selection, at)?}))
            }
            TypeRef::Named(name) => {
                let t = self.get(name, at)?;
                match &t.def {
                    TypeDef::Scalar | TypeDef::Enum { .. } => {
                        if !selection.is_empty() {
                            return Err(invalid(
                                at,
                                format!("{name} is a leaf type: it takes no selection"),
                            ));
                        }
                        Ok(match &t.def {
                            TypeDef::Enum { values } => json!({"type": "string", "enum": values}),
                            _ => scalar_schema(name),
                        })
                    }
                    TypeDef::Input { .. } => Err(invalid(
                        at,
                        format!("{name} is an input type, not an output type"),
                    )),
                    TypeDef::Object { .. } | TypeDef::Interface { .. } | TypeDef::Union { .. } => {
                        if selection.is_empty() {
                            return Err(invalid(
                                at,
                                format!("{name} is an object type: it needs a selection"),
                            ));
                        }
                        let mut props = Map::new();
                        self.select_into(name, selection, at, &mut props)?;
                        Ok(json!({"type": "object", "properties": props}))
                    }
                }
            }
        }
    }

    fn select_into(
        &self,
        type_name: &str,
        selection: &[Selection],
        at: &str,
        props: &mut Map<String, Value>,
    ) -> Result<(), ImportError> {
        let t = self.get(type_name, at)?;
        let fields: &[Field] = match &t.def {
            TypeDef::Object { fields } | TypeDef::Interface { fields } => fields,
            _ => &[],
        };
        for s in selection {
            match s {
                Selection::Field {
                    alias,
                    name,
                    children,
                } => {
                    let key = alias.as_ref().unwrap_or(name).clone();
                    if name == "__typename" {
                        if !children.is_empty() {
                            return Err(invalid(at, "__typename takes no selection"));
                        }
                        props.insert(key, json!({"type": "string"}));
                        continue;
                    }
                    let Some(f) = fields.iter().find(|f| &f.name == name) else {
                        return Err(invalid(at, format!("{type_name} has no field {name:?}")));
                    };
                    let s = self.output_schema(&f.ty, children, &format!("{at} → {name}"))?;
                    props.insert(key, s);
                }
                Selection::InlineFragment { on, children } => {
                    let target = on.as_deref().unwrap_or(type_name);
                    self.get(target, at)?;
                    self.select_into(target, children, &format!("{at} → on {target}"), props)?;
                }
            }
        }
        Ok(())
    }
}

fn scalar_schema(name: &str) -> Value {
    match name {
        "String" | "ID" => json!({"type": "string"}),
        "Int" => json!({"type": "integer"}),
        "Float" => json!({"type": "number"}),
        "Boolean" => json!({"type": "boolean"}),
        n if n.to_ascii_uppercase().starts_with("JSON") => json!({}),
        _ => json!({"type": "string"}),
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Punct(char),
    Spread,
    Str(String),
    Number(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// `sdl:line:column` of its first character.
    at: String,
}

fn sdl_position(text: &str, byte: usize) -> String {
    let before = &text[..byte.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("sdl:{line}:{col}")
}

fn lex(text: &str) -> Result<Vec<Token>, ImportError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'.' => {
                if text[i..].starts_with("...") {
                    out.push(Token {
                        tok: Tok::Spread,
                        at: sdl_position(text, start),
                    });
                    i += 3;
                } else {
                    return Err(invalid(sdl_position(text, start), "unexpected '.'"));
                }
            }
            b'!' | b'$' | b'(' | b')' | b':' | b'=' | b'@' | b'[' | b']' | b'{' | b'|' | b'}'
            | b'&' => {
                out.push(Token {
                    tok: Tok::Punct(c as char),
                    at: sdl_position(text, start),
                });
                i += 1;
            }
            b'"' => {
                let (s, next) = if text[i..].starts_with("\"\"\"") {
                    block_string(text, i)?
                } else {
                    string(text, i)?
                };
                out.push(Token {
                    tok: Tok::Str(s),
                    at: sdl_position(text, start),
                });
                i = next;
            }
            b'-' | b'0'..=b'9' => {
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_digit()
                        || matches!(bytes[i], b'.' | b'e' | b'E' | b'+' | b'-'))
                {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Number(text[start..i].to_owned()),
                    at: sdl_position(text, start),
                });
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Name(text[start..i].to_owned()),
                    at: sdl_position(text, start),
                });
            }
            0xEF if text[i..].starts_with('\u{feff}') => i += 3,
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(invalid(
                    sdl_position(text, start),
                    format!("unexpected character {ch:?}"),
                ));
            }
        }
    }
    Ok(out)
}

/// A `"…"` string starting at `start`: its value and the index after it.
fn string(text: &str, start: usize) -> Result<(String, usize), ImportError> {
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + off + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                        let ch = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                invalid(
                                    sdl_position(text, start),
                                    format!("bad escape \\u{hex} in a string"),
                                )
                            })?;
                        out.push(ch);
                    }
                    other => {
                        return Err(invalid(
                            sdl_position(text, start),
                            format!("bad escape \\{other} in a string"),
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(invalid(sdl_position(text, start), "unterminated string"))
}

/// A `"""…"""` block string starting at `start`, with the spec's common-indent removal.
fn block_string(text: &str, start: usize) -> Result<(String, usize), ImportError> {
    let body_start = start + 3;
    let mut raw = String::new();
    let mut i = body_start;
    loop {
        let rest = &text[i..];
        if rest.starts_with("\\\"\"\"") {
            raw.push_str("\"\"\"");
            i += 4;
        } else if rest.starts_with("\"\"\"") {
            i += 3;
            break;
        } else if let Some(c) = rest.chars().next() {
            raw.push(c);
            i += c.len_utf8();
        } else {
            return Err(invalid(
                sdl_position(text, start),
                "unterminated block string",
            ));
        }
    }
    let lines: Vec<&str> = raw.lines().collect();
    let indent = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(n, l)| {
            if n == 0 {
                l
            } else {
                l.get(indent..).unwrap_or("")
            }
        })
        .collect();
    while kept.first().is_some_and(|l| l.trim().is_empty()) {
        kept.remove(0);
    }
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    Ok((kept.join("\n"), i))
}

// ---------------------------------------------------------------------------------------------
// Parser.

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Position of the end of input, for errors there.
    end: String,
}

impl Parser {
    fn done(&self) -> bool {
        self.pos >= self.tokens.len()
    }
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }
    fn at(&self) -> String {
        self.tokens
            .get(self.pos)
            .map_or_else(|| self.end.clone(), |t| t.at.clone())
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).map(|t| t.tok.clone());
        self.pos += 1;
        t
    }
    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }
    fn eat_punct(&mut self, c: char) -> bool {
        if self.is_punct(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_punct(&mut self, c: char) -> Result<(), ImportError> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(invalid(self.at(), format!("expected '{c}'")))
        }
    }
    fn name(&mut self) -> Result<String, ImportError> {
        match self.peek() {
            Some(Tok::Name(n)) => {
                let n = n.clone();
                self.pos += 1;
                Ok(n)
            }
            _ => Err(invalid(self.at(), "expected a name")),
        }
    }
    fn description(&mut self) -> String {
        if let Some(Tok::Str(s)) = self.peek() {
            let s = s.clone();
            self.pos += 1;
            s
        } else {
            String::new()
        }
    }

    fn definition(&mut self, schema: &mut Schema) -> Result<(), ImportError> {
        let description = self.description();
        let at = self.at();
        let keyword = self.name()?;
        let (extend, keyword) = if keyword == "extend" {
            (true, self.name()?)
        } else {
            (false, keyword)
        };
        match keyword.as_str() {
            "schema" => {
                self.directives()?;
                self.expect_punct('{')?;
                while !self.eat_punct('}') {
                    let at = self.at();
                    let op = self.name()?;
                    self.expect_punct(':')?;
                    let ty = self.name()?;
                    match op.as_str() {
                        "query" => schema.query = ty,
                        "mutation" => schema.mutation = ty,
                        "subscription" => {}
                        other => {
                            return Err(invalid(at, format!("unknown root operation {other:?}")))
                        }
                    }
                }
                Ok(())
            }
            "directive" => {
                self.expect_punct('@')?;
                self.name()?;
                if self.is_punct('(') {
                    self.arguments_def()?;
                }
                if self.peek() == Some(&Tok::Name("repeatable".into())) {
                    self.pos += 1;
                }
                if self.name()? != "on" {
                    return Err(invalid(self.at(), "expected 'on'"));
                }
                self.eat_punct('|');
                self.name()?;
                while self.eat_punct('|') {
                    self.name()?;
                }
                Ok(())
            }
            "scalar" => {
                let name = self.name()?;
                self.directives()?;
                self.define(schema, name, description, TypeDef::Scalar, extend, &at)
            }
            "type" | "interface" => {
                let name = self.name()?;
                if self.peek() == Some(&Tok::Name("implements".into())) {
                    self.pos += 1;
                    self.eat_punct('&');
                    self.name()?;
                    while self.eat_punct('&')
                        || matches!(self.peek(), Some(Tok::Name(_)))
                            && self.tokens.get(self.pos + 1).map(|t| &t.tok)
                                != Some(&Tok::Punct(':'))
                            && !self.is_definition_start()
                    {
                        self.name()?;
                    }
                }
                self.directives()?;
                let fields = if self.is_punct('{') {
                    self.fields_def()?
                } else {
                    Vec::new()
                };
                let def = if keyword == "type" {
                    TypeDef::Object { fields }
                } else {
                    TypeDef::Interface { fields }
                };
                self.define(schema, name, description, def, extend, &at)
            }
            "input" => {
                let name = self.name()?;
                self.directives()?;
                let mut fields = Vec::new();
                if self.eat_punct('{') {
                    while !self.eat_punct('}') {
                        fields.push(self.input_value()?);
                    }
                }
                self.define(
                    schema,
                    name,
                    description,
                    TypeDef::Input { fields },
                    extend,
                    &at,
                )
            }
            "enum" => {
                let name = self.name()?;
                self.directives()?;
                let mut values = Vec::new();
                if self.eat_punct('{') {
                    while !self.eat_punct('}') {
                        self.description();
                        values.push(self.name()?);
                        self.directives()?;
                    }
                }
                self.define(
                    schema,
                    name,
                    description,
                    TypeDef::Enum { values },
                    extend,
                    &at,
                )
            }
            "union" => {
                let name = self.name()?;
                self.directives()?;
                let mut members = Vec::new();
                if self.eat_punct('=') {
                    self.eat_punct('|');
                    members.push(self.name()?);
                    while self.eat_punct('|') {
                        members.push(self.name()?);
                    }
                }
                self.define(
                    schema,
                    name,
                    description,
                    TypeDef::Union { members },
                    extend,
                    &at,
                )
            }
            other => Err(invalid(
                at,
                format!("{other:?} does not start a type-system definition"),
            )),
        }
    }

    /// Whether the next tokens start a new definition (for `implements A B` without `&`).
    fn is_definition_start(&self) -> bool {
        matches!(self.peek(), Some(Tok::Name(n)) if matches!(n.as_str(),
            "type" | "interface" | "input" | "enum" | "scalar" | "union" | "schema" | "directive" | "extend"))
    }

    fn define(
        &mut self,
        schema: &mut Schema,
        name: String,
        description: String,
        def: TypeDef,
        extend: bool,
        at: &str,
    ) -> Result<(), ImportError> {
        match schema.types.get_mut(&name) {
            Some(existing) if extend => {
                match (&mut existing.def, def) {
                    (TypeDef::Object { fields: a }, TypeDef::Object { fields: b })
                    | (TypeDef::Interface { fields: a }, TypeDef::Interface { fields: b }) => {
                        a.extend(b)
                    }
                    (TypeDef::Input { fields: a }, TypeDef::Input { fields: b }) => a.extend(b),
                    (TypeDef::Enum { values: a }, TypeDef::Enum { values: b }) => a.extend(b),
                    (TypeDef::Union { members: a }, TypeDef::Union { members: b }) => a.extend(b),
                    (TypeDef::Scalar, TypeDef::Scalar) => {}
                    _ => {
                        return Err(invalid(
                            at,
                            format!("extend {name} changes the kind of the type"),
                        ))
                    }
                }
                Ok(())
            }
            Some(_) if BUILTIN_SCALARS.contains(&name.as_str()) => Ok(()),
            Some(_) => Err(invalid(at, format!("type {name} is defined twice"))),
            None => {
                schema.types.insert(name, Type { description, def });
                Ok(())
            }
        }
    }

    fn fields_def(&mut self) -> Result<Vec<Field>, ImportError> {
        self.expect_punct('{')?;
        let mut out = Vec::new();
        while !self.eat_punct('}') {
            let description = self.description();
            let name = self.name()?;
            let args = if self.is_punct('(') {
                self.arguments_def()?
            } else {
                Vec::new()
            };
            self.expect_punct(':')?;
            let ty = self.type_ref(0)?;
            let deprecated = self.directives()?;
            out.push(Field {
                name,
                description,
                args,
                ty,
                deprecated,
            });
        }
        Ok(out)
    }

    fn arguments_def(&mut self) -> Result<Vec<InputValue>, ImportError> {
        self.expect_punct('(')?;
        let mut out = Vec::new();
        while !self.eat_punct(')') {
            out.push(self.input_value()?);
        }
        Ok(out)
    }

    fn input_value(&mut self) -> Result<InputValue, ImportError> {
        let description = self.description();
        let name = self.name()?;
        self.expect_punct(':')?;
        let ty = self.type_ref(0)?;
        let default = if self.eat_punct('=') {
            Some(self.value(0)?)
        } else {
            None
        };
        let deprecated = self.directives()?;
        Ok(InputValue {
            name,
            description,
            ty,
            default,
            deprecated,
        })
    }

    fn type_ref(&mut self, depth: usize) -> Result<TypeRef, ImportError> {
        if depth > MAX_NESTING {
            return Err(invalid(self.at(), "type nested too deep"));
        }
        let inner = if self.eat_punct('[') {
            let t = self.type_ref(depth + 1)?;
            self.expect_punct(']')?;
            TypeRef::List(Box::new(t))
        } else {
            TypeRef::Named(self.name()?)
        };
        Ok(if self.eat_punct('!') {
            TypeRef::NonNull(Box::new(inner))
        } else {
            inner
        })
    }

    /// Skips directives; whether one of them was `@deprecated`.
    fn directives(&mut self) -> Result<bool, ImportError> {
        let mut deprecated = false;
        while self.eat_punct('@') {
            if self.name()? == "deprecated" {
                deprecated = true;
            }
            if self.eat_punct('(') {
                while !self.eat_punct(')') {
                    self.name()?;
                    self.expect_punct(':')?;
                    self.value(0)?;
                }
            }
        }
        Ok(deprecated)
    }

    /// A constant value, as JSON (enum values as strings).
    fn value(&mut self, depth: usize) -> Result<Value, ImportError> {
        if depth > MAX_NESTING {
            return Err(invalid(self.at(), "value nested too deep"));
        }
        let at = self.at();
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Number(n)) => n
                .parse::<i64>()
                .map(Value::from)
                .ok()
                .or_else(|| {
                    n.parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                })
                .ok_or_else(|| invalid(at, format!("{n:?} is not a number"))),
            Some(Tok::Name(n)) => Ok(match n.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => Value::String(n),
            }),
            Some(Tok::Punct('[')) => {
                let mut out = Vec::new();
                while !self.eat_punct(']') {
                    if self.done() {
                        return Err(invalid(self.at(), "unterminated list"));
                    }
                    out.push(self.value(depth + 1)?);
                }
                Ok(Value::Array(out))
            }
            Some(Tok::Punct('{')) => {
                let mut out = Map::new();
                while !self.eat_punct('}') {
                    let k = self.name()?;
                    self.expect_punct(':')?;
                    out.insert(k, self.value(depth + 1)?);
                }
                Ok(Value::Object(out))
            }
            Some(Tok::Punct('$')) => Err(invalid(at, "a variable is not a constant value")),
            _ => Err(invalid(at, "expected a value")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Selections.

#[derive(Debug, Clone, PartialEq)]
enum Selection {
    Field {
        alias: Option<String>,
        name: String,
        children: Vec<Selection>,
    },
    InlineFragment {
        on: Option<String>,
        children: Vec<Selection>,
    },
}

/// Parses a selection set written without its outer braces (`success issue { id }`); field
/// arguments and directives are not allowed in curated selections (variables are the
/// operation's arguments only).
fn parse_selection(text: &str, at: &str) -> Result<Vec<Selection>, ImportError> {
    let relocate = |e: ImportError| match e {
        ImportError::Invalid { location, message } => invalid(
            at,
            format!("{message} (at {})", location.replacen("sdl:", "", 1)),
        ),
        other => other,
    };
    let tokens = lex(text).map_err(relocate)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        end: sdl_position(text, text.len()),
    };
    let out = selection_set(&mut p, 0, false).map_err(relocate)?;
    Ok(out)
}

fn selection_set(
    p: &mut Parser,
    depth: usize,
    braced: bool,
) -> Result<Vec<Selection>, ImportError> {
    if depth > MAX_NESTING {
        return Err(invalid(p.at(), "selection nested too deep"));
    }
    let mut out = Vec::new();
    loop {
        if braced && p.eat_punct('}') {
            if out.is_empty() {
                return Err(invalid(p.at(), "empty selection"));
            }
            return Ok(out);
        }
        if p.done() {
            if braced {
                return Err(invalid(p.at(), "expected '}'"));
            }
            return Ok(out);
        }
        if p.peek() == Some(&Tok::Spread) {
            p.pos += 1;
            let on = if p.peek() == Some(&Tok::Name("on".into())) {
                p.pos += 1;
                Some(p.name()?)
            } else {
                None
            };
            p.expect_punct('{')?;
            let children = selection_set(p, depth + 1, true)?;
            out.push(Selection::InlineFragment { on, children });
            continue;
        }
        let first = p.name()?;
        let (alias, name) = if p.eat_punct(':') {
            (Some(first), p.name()?)
        } else {
            (None, first)
        };
        if p.is_punct('(') || p.is_punct('@') {
            return Err(invalid(
                p.at(),
                "arguments and directives are not allowed in a curated selection",
            ));
        }
        let children = if p.eat_punct('{') {
            selection_set(p, depth + 1, true)?
        } else {
            Vec::new()
        };
        out.push(Selection::Field {
            alias,
            name,
            children,
        });
    }
}

fn print_selection(sel: &[Selection]) -> String {
    if sel.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = sel
        .iter()
        .map(|s| match s {
            Selection::Field {
                alias,
                name,
                children,
            } => {
                let mut out = match alias {
                    Some(a) => format!("{a}: {name}"),
                    None => name.clone(),
                };
                let c = print_selection(children);
                if !c.is_empty() {
                    out.push(' ');
                    out.push_str(&c);
                }
                out
            }
            Selection::InlineFragment { on, children } => match on {
                Some(t) => format!("... on {t} {}", print_selection(children)),
                None => format!("... {}", print_selection(children)),
            },
        })
        .collect();
    format!("{{ {} }}", parts.join(" "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn block_strings_lose_their_common_indent() {
        let text = "\"\"\"\n    First line\n      indented\n    \"\"\" x";
        let (s, next) = block_string(text, 0).unwrap();
        assert_eq!(s, "First line\n  indented");
        assert_eq!(&text[next..], " x");
    }

    #[test]
    fn strings_unescape() {
        let (s, _) = string(r#""a\"b\u0041\n""#, 0).unwrap();
        assert_eq!(s, "a\"bA\n");
        assert!(string("\"open", 0).is_err());
    }

    #[test]
    fn operation_names_are_pascal_case() {
        assert_eq!(pascal("issueCreate"), "IssueCreate");
        assert_eq!(pascal("list-issues"), "ListIssues");
        assert_eq!(pascal("1x"), "Op1x");
    }

    #[test]
    fn selections_print_back_normalized() {
        let s = parse_selection("a  b:c { d ... on X { e } }", "s").unwrap();
        assert_eq!(print_selection(&s), "{ a b: c { d ... on X { e } } }");
        assert!(parse_selection("a { }", "s").is_err());
        assert!(parse_selection("a(first: 1)", "s").is_err());
    }
}
