//! The on-disk format of a toolkit file (`toolkits/<slug>.yaml`), as serde types.
//!
//! Unknown fields are refused so a typo in a toolkit file stops the service at start instead of
//! silently changing what a tool does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One toolkit file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolkitSpec {
    /// Lowercase slug, equal to the file name without `.yaml` (e.g. `github`).
    pub slug: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub logo: String,
    #[serde(default)]
    pub categories: Vec<String>,
    /// Base URL of the provider's API (overridable per toolkit in config).
    pub base_url: String,
    pub auth: AuthSpec,
    /// Headers sent on every request of this toolkit (e.g. `X-GitHub-Api-Version`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How a 2xx answer signals failure, for providers that do so in the body (Slack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseSpec>,
    pub tools: Vec<ToolSpec>,
    /// The trigger types this toolkit offers: events for one connected account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<TriggerSpec>,
}

/// One trigger type, e.g. `GITHUB_ISSUE_OPENED`: exactly one of `webhook` and `poll`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// `{TOOLKIT}_{EVENT}`.
    pub slug: String,
    pub name: String,
    pub description: String,
    /// JSON Schema of a trigger instance's config (an object schema), e.g. `{owner, repo}`.
    pub config_schema: serde_json::Value,
    /// JSON Schema of an event's `data`: the provider's payload (or item) as delivered.
    pub payload_schema: serde_json::Value,
    /// Events the provider pushes to the triggers service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTriggerSpec>,
    /// Events the triggers service polls for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollTriggerSpec>,
}

/// Which provider deliveries match a webhook trigger.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTriggerSpec {
    /// The provider's event kind: GitHub's `X-GitHub-Event` (`issues`, `issue_comment`,
    /// `pull_request`, `push`), Slack's Events API `event.type` (`message`).
    pub event: String,
    /// The payload's `action` values that match (GitHub: `opened`, `closed`, `created`); empty:
    /// any.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// How a polling trigger finds new items.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PollTriggerSpec {
    /// Generic polling: a read-only list tool of the same toolkit, called with the instance's
    /// config as its arguments (minus `interval_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Or a native poller (e.g. `gmail_history`: Gmail's history API with a cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<String>,
    /// Generic polling: dotted path of the item array in the tool's result ("" = the result
    /// is the array).
    #[serde(default)]
    pub items_path: String,
    /// Generic polling: the item field that identifies an item.
    #[serde(default = "default_id_field")]
    pub id_field: String,
    /// Seconds between polls unless the instance's config sets `interval_seconds`.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
}

fn default_id_field() -> String {
    "id".to_owned()
}

fn default_interval() -> u64 {
    60
}

/// A provider that answers 2xx with a failure flag in the body, e.g. Slack's
/// `{"ok": false, "error": "channel_not_found"}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    /// Top-level boolean field that is `false` when the call failed (e.g. `ok`).
    pub ok_field: String,
    /// Top-level string field carrying the error code when it failed (e.g. `error`).
    pub error_field: String,
}

/// How a toolkit authenticates.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// Accepted schemes, the first being the default.
    pub schemes: Vec<AuthScheme>,
    /// How a static API key is put on a request. Default: `Authorization: Bearer <key>`.
    /// OAuth 2.0 access tokens always go in `Authorization: Bearer <token>`.
    #[serde(default)]
    pub placement: Option<CredentialPlacement>,
    /// The provider's OAuth 2.0 endpoints and rules; required when `schemes` holds `OAUTH2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Spec>,
}

/// A provider's OAuth 2.0 authorization-code flow (RFC 6749 section 4.1, PKCE RFC 7636).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Spec {
    /// The authorization endpoint the user is sent to.
    pub authorize_url: String,
    /// The token endpoint (code exchange and refresh).
    pub token_url: String,
    /// Scopes asked for when the auth config names none.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How scopes are joined in the `scope` parameter (RFC 6749: a space; some providers use
    /// a comma).
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    /// Extra authorization request parameters, e.g. Google's `access_type: offline`.
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Whether the provider supports PKCE (S256); when it does, every flow uses it.
    #[serde(default)]
    pub pkce: bool,
    /// How a grant is revoked at the provider when its account is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke: Option<RevokeSpec>,
    /// The call that names the upstream account (the GitHub login, the Gmail address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentitySpec>,
}

fn default_scope_separator() -> String {
    " ".to_owned()
}

/// Client authentication at the token endpoint (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded client id and secret.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// Revoking a grant.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeSpec {
    /// The endpoint; `{client_id}` is replaced by the app's client id.
    pub url: String,
    pub style: RevokeStyle,
}

/// The shape of a revocation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeStyle {
    /// RFC 7009: `POST` form `token=<refresh or access token>&token_type_hint=…` with the
    /// token endpoint's client authentication (Google).
    Rfc7009,
    /// `DELETE` with HTTP Basic client id and secret and JSON `{"access_token": …}` (GitHub's
    /// "delete an app authorization").
    GithubGrant,
    /// `POST` with `Authorization: Bearer <access token>` (Slack's `auth.revoke`, Linear's
    /// `/oauth/revoke`).
    Bearer,
}

/// The "who am I" call: a `GET` with the new access token.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// Path relative to the toolkit's base URL, e.g. `/user`.
    pub path: String,
    /// Dotted path of the field that names the account, e.g. `login` or `emailAddress`.
    pub field: String,
}

/// An authentication scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthScheme {
    Oauth2,
    ApiKey,
    BearerToken,
    Basic,
    NoAuth,
}

impl AuthScheme {
    /// The wire name, e.g. `OAUTH2`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::Oauth2 => "OAUTH2",
            AuthScheme::ApiKey => "API_KEY",
            AuthScheme::BearerToken => "BEARER_TOKEN",
            AuthScheme::Basic => "BASIC",
            AuthScheme::NoAuth => "NO_AUTH",
        }
    }
}

/// Where a credential goes on a request.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialPlacement {
    /// Header name, e.g. `Authorization`.
    pub header: String,
    /// Prefix before the secret, e.g. `"Bearer "`; empty for a bare key.
    #[serde(default)]
    pub prefix: String,
}

/// One tool.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// `{TOOLKIT}_{ACTION}`.
    pub slug: String,
    pub name: String,
    /// What it does, for an agent choosing among tools.
    pub description: String,
    /// Topic tags (lowercase) and hint tags (`readOnlyHint`, `destructiveHint`,
    /// `idempotentHint`, `openWorldHint`).
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "default_version")]
    pub version: String,
    /// JSON Schema of the arguments: an object schema.
    pub input_schema: serde_json::Value,
    /// JSON Schema of the returned data.
    pub output_schema: serde_json::Value,
    /// The one HTTP request this tool makes; exactly one of `http` and `native`.
    #[serde(default)]
    pub http: Option<HttpSpec>,
    /// The name of a native handler, for tools that need code (e.g. `gmail_send_email`).
    #[serde(default)]
    pub native: Option<String>,
    /// How the provider pages this tool's results, when it does (a hint for agents and SDKs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<PaginationSpec>,
}

/// How a list tool pages: which argument moves to the next page and, where the provider says
/// it in the body, where the next position is found.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PaginationSpec {
    pub style: PaginationStyle,
    /// The argument that selects the page (`page`, `cursor`, `pageToken`, `offset`…).
    pub param: String,
    /// Dotted path of the next cursor/token in the result (`response_metadata.next_cursor`,
    /// `nextPageToken`); empty when the style needs none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub next: String,
}

/// A pagination style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaginationStyle {
    /// A page number (GitHub's `page`, with `Link` headers).
    Page,
    /// An item offset.
    Offset,
    /// An opaque cursor or page token taken from the previous result.
    Cursor,
}

fn default_version() -> String {
    "1.0.0".to_owned()
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// The mapping from arguments to one HTTP request.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    pub method: HttpMethod,
    /// Path template relative to the base URL; `{name}` is replaced by the (percent-encoded)
    /// argument `name`, which must be a required property of the input schema; `{+name}`
    /// (RFC 6570 reserved expansion, as Google's APIs use for resource names like
    /// `spaces/AAA/messages/BBB`) keeps its `/` but still refuses `.` and `..` segments.
    pub path: String,
    /// Arguments sent as query parameters (when present).
    #[serde(default)]
    pub query: Vec<ParamRef>,
    /// Arguments sent as request headers: header name → argument name.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<BodySpec>,
}

/// The request body.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    pub encoding: BodyEncoding,
    /// Arguments that become top-level body fields (when present).
    #[serde(default)]
    pub params: Vec<ParamRef>,
    /// Or the argument whose value is the whole body (an array body, or an object the tool
    /// takes as one argument); exclusive with `params`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// GraphQL document: the body is `{"query": <this>, "variables": {<params>}}`.
    #[serde(default)]
    pub graphql: Option<String>,
}

/// An argument sent as a query parameter or body field: its name, or `{arg, name}` when the
/// argument's name differs from the name on the wire (a query `id` beside a path `id`), with
/// `join` when an array is sent as one joined value (`a,b`) instead of repeated keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ParamRef {
    Same(String),
    Renamed {
        arg: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        join: Option<String>,
    },
}

impl ParamRef {
    /// The argument's name in the input schema.
    pub fn arg(&self) -> &str {
        match self {
            ParamRef::Same(name) => name,
            ParamRef::Renamed { arg, .. } => arg,
        }
    }

    /// The name sent on the wire.
    pub fn name(&self) -> &str {
        match self {
            ParamRef::Same(name) => name,
            ParamRef::Renamed { arg, name, .. } => name.as_deref().unwrap_or(arg),
        }
    }

    /// The separator an array is joined with into one value, if it is.
    pub fn join(&self) -> Option<&str> {
        match self {
            ParamRef::Same(_) => None,
            ParamRef::Renamed { join, .. } => join.as_deref(),
        }
    }
}

impl From<&str> for ParamRef {
    fn from(name: &str) -> ParamRef {
        ParamRef::Same(name.to_owned())
    }
}

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}
