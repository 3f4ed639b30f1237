//! The model every front end produces and the back end consumes: one API, its auth and its
//! operations, with every schema already plain JSON Schema (references resolved and inlined,
//! recursion cut, `nullable` turned into a type union) so the back end never reads the source
//! format.

use serde_json::Value;

/// One API description, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiModel {
    /// The API's title (`info.title`, Discovery `title`).
    pub title: String,
    /// The API's description, as written (the back end trims it).
    pub description: String,
    /// Base URL every operation's path is relative to (first server / `rootUrl + servicePath`
    /// / the GraphQL endpoint's origin), without a trailing slash.
    pub base_url: String,
    /// How the API authenticates, in the description's order.
    pub auth: Vec<AuthInfo>,
    pub operations: Vec<Operation>,
    /// What the front end could not take, each with where it is and why (e.g. an operation
    /// whose only body is `multipart/form-data`).
    pub skipped: Vec<Skipped>,
}

/// An authentication scheme the description declares.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthInfo {
    /// OAuth 2.0 authorization code (RFC 6749 §4.1).
    OAuth2 {
        authorize_url: String,
        token_url: String,
        /// Every scope the description lists, with its description.
        scopes: Vec<(String, String)>,
    },
    /// A static key in a header (`in: header`) or query parameter.
    ApiKey {
        header: Option<String>,
        query: Option<String>,
    },
    /// `Authorization: Bearer <token>` (OpenAPI `http`/`bearer`).
    Bearer,
    /// HTTP Basic.
    Basic,
}

/// One operation: one tool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Operation {
    /// Stable identifier from the description (`operationId`; Discovery method `id` such as
    /// `gmail.users.messages.list`; the GraphQL field name). Never empty: a front end that
    /// finds none derives one from the method and path.
    pub id: String,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE` (upper case).
    pub method: String,
    /// Path template relative to `base_url`, placeholders as `{name}`, or `{+name}` where the
    /// value may hold `/` (Discovery's reserved expansion).
    pub path: String,
    /// One line (`summary`), possibly empty.
    pub summary: String,
    /// Longer text (`description`), possibly empty, as written (Markdown allowed).
    pub description: String,
    /// Topic tags of the description (`tags`, Discovery resource names), as written.
    pub tags: Vec<String>,
    /// Path, query and header parameters, in the description's order.
    pub params: Vec<Param>,
    pub body: Option<Body>,
    /// JSON Schema of the success response's body (the first 2xx with JSON content), or
    /// `{}` when the description gives none.
    pub response: Value,
    pub deprecated: bool,
    /// Scopes this operation needs (OpenAPI `security`, Discovery `scopes`).
    pub scopes: Vec<String>,
    /// How it pages, when it does.
    pub pagination: Option<PaginationHint>,
    /// Facts about the operation the tool's arguments and schemas do not carry, for the
    /// toolkit's description and the import report, one sentence each (Discovery: "media
    /// upload is not offered: the tool sends the JSON metadata only", "the response is the
    /// file's content, not JSON"). Empty for most operations.
    pub notes: Vec<String>,
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
}

/// One path, query or header parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The name on the wire.
    pub name: String,
    pub location: Location,
    pub required: bool,
    pub description: String,
    /// JSON Schema of the value (for a repeated Discovery parameter, an array schema).
    pub schema: Value,
    /// An array sent as one value joined by this separator (OpenAPI `explode: false` with
    /// `style: form` → `,`), instead of repeated keys.
    pub join: Option<String>,
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub encoding: BodyEncoding,
    pub required: bool,
    pub description: String,
    /// JSON Schema of the body: an object schema whose properties become arguments, or any
    /// other schema, which becomes one argument holding the whole body.
    pub schema: Value,
    /// GraphQL: the document sent as `query`; the body's properties are its variables.
    pub graphql: Option<String>,
}

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Json,
    Form,
}

/// How an operation pages, when the description says so or the parameters make it plain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaginationHint {
    pub style: switchboard_catalog::spec::PaginationStyle,
    /// The parameter that selects the page.
    pub param: String,
    /// Dotted path of the next cursor/token in the response, if any.
    pub next: String,
}

/// Something a front end did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is in the description: `paths./files.post`, `resources.users.methods.watch`.
    pub location: String,
    /// Why: `multipart/form-data body (file upload)`, `streaming response`, `webhooks only`.
    pub reason: String,
}
