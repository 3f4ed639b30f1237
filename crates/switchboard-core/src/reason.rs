//! Every reason a caller can see, in one place: the stable, machine-readable `reason` of a
//! failed call (in `google.rpc.ErrorInfo`, domain `switchboard`, beside the gRPC code) and of a
//! failed execution (`Execution.error.code`). Clients branch on these names, so a name never
//! changes meaning; new failures get new names here, never a literal at the call site (a test
//! of this crate checks the sources for that).

// ---------------------------------------------------------------------------------------------
// Bad input (INVALID_ARGUMENT unless noted): the error's field path names the input.

/// A required field is empty.
pub const REQUIRED: &str = "REQUIRED";
/// A number or count is outside what the API accepts (negative timeout, page size, limits).
pub const OUT_OF_RANGE: &str = "OUT_OF_RANGE";
/// A field names a field that does not exist or cannot be changed (update masks).
pub const UNKNOWN_FIELD: &str = "UNKNOWN_FIELD";
/// A user id that is empty, too long or holds control characters.
pub const INVALID_USER_ID: &str = "INVALID_USER_ID";
/// An id of the wrong kind or shape (e.g. not `ac_…` where an auth config id is expected).
pub const INVALID_ID: &str = "INVALID_ID";
/// A name that is too long or holds control characters.
pub const INVALID_NAME: &str = "INVALID_NAME";
/// A URL that is not an absolute http(s) URL.
pub const INVALID_URL: &str = "INVALID_URL";
/// A toolkit slug that breaks the slug rule.
pub const INVALID_SLUG: &str = "INVALID_SLUG";
/// An API description that cannot be imported (the message names where in it).
pub const INVALID_API_DESCRIPTION: &str = "INVALID_API_DESCRIPTION";
/// A URL the platform would call that is not a public https address.
pub const URL_NOT_ALLOWED: &str = "URL_NOT_ALLOWED";
/// A value larger than its limit (the message names the limit).
pub const TOO_LARGE: &str = "TOO_LARGE";
/// A page token this API did not hand out.
pub const INVALID_PAGE_TOKEN: &str = "INVALID_PAGE_TOKEN";
/// Configuration the store or a trigger cannot use (a malformed trigger config, a Redis URL).
pub const INVALID_CONFIG: &str = "INVALID_CONFIG";
/// A toolkit slug the catalog does not have.
pub const UNKNOWN_TOOLKIT: &str = "UNKNOWN_TOOLKIT";
/// A tool slug the catalog does not have.
pub const UNKNOWN_TOOL: &str = "UNKNOWN_TOOL";
/// A tag no tool carries.
pub const UNKNOWN_TAG: &str = "UNKNOWN_TAG";
/// A trigger type the catalog does not have.
pub const UNKNOWN_TRIGGER_TYPE: &str = "UNKNOWN_TRIGGER_TYPE";
/// An event type outgoing webhooks cannot subscribe to.
pub const UNKNOWN_EVENT_TYPE: &str = "UNKNOWN_EVENT_TYPE";
/// Two filters that exclude each other (enable and disable together).
pub const CONFLICTING_FILTER: &str = "CONFLICTING_FILTER";
/// A toolkit filter with neither enable nor disable.
pub const MISSING_FILTER: &str = "MISSING_FILTER";
/// Preloading all tools without a positive filter.
pub const PRELOAD_NEEDS_FILTER: &str = "PRELOAD_NEEDS_FILTER";
/// A tool named in a session's config that its own filters exclude.
pub const TOOL_OUT_OF_SCOPE: &str = "TOOL_OUT_OF_SCOPE";
/// Tool arguments given both as a struct and as JSON text.
pub const CONFLICTING_ARGUMENTS: &str = "CONFLICTING_ARGUMENTS";
/// Tool arguments over the size limit.
pub const ARGUMENTS_TOO_LARGE: &str = "ARGUMENTS_TOO_LARGE";
/// Tool arguments that are not valid JSON.
pub const MALFORMED_JSON: &str = "MALFORMED_JSON";
/// Tool arguments that are not a JSON object.
pub const NOT_AN_OBJECT: &str = "NOT_AN_OBJECT";
/// Tool arguments that break the tool's input schema (the message names the rule).
pub const ARGUMENTS_INVALID: &str = "ARGUMENTS_INVALID";
/// An execution mode that does not exist.
pub const INVALID_MODE: &str = "INVALID_MODE";
/// An idempotency key that is too long or holds control characters.
pub const INVALID_IDEMPOTENCY_KEY: &str = "INVALID_IDEMPOTENCY_KEY";
/// A tool view that does not exist (META or DIRECT).
pub const INVALID_VIEW: &str = "INVALID_VIEW";
/// A tool format that does not exist.
pub const INVALID_FORMAT: &str = "INVALID_FORMAT";
/// A search query that is empty or too long.
pub const INVALID_QUERY: &str = "INVALID_QUERY";
/// A durable subscription name that is not 1–64 letters, digits, `_` or `-`.
pub const INVALID_DURABLE_NAME: &str = "INVALID_DURABLE_NAME";
/// An outgoing webhook URL that is not usable.
pub const INVALID_WEBHOOK_URL: &str = "INVALID_WEBHOOK_URL";
/// A Connect Link callback URL that is not usable.
pub const INVALID_CALLBACK_URL: &str = "INVALID_CALLBACK_URL";
/// An OAuth scope that is empty or malformed.
pub const INVALID_SCOPE: &str = "INVALID_SCOPE";
/// More OAuth scopes than allowed.
pub const TOO_MANY_SCOPES: &str = "TOO_MANY_SCOPES";
/// Scopes given for an auth config whose scheme has none.
pub const SCOPES_NOT_APPLICABLE: &str = "SCOPES_NOT_APPLICABLE";
/// An account alias that is not 1–64 letters, digits, `_`, `-` or `.`.
pub const INVALID_ALIAS: &str = "INVALID_ALIAS";
/// An account status filter that is not a status.
pub const INVALID_STATUS: &str = "INVALID_STATUS";
/// An OAuth client id that is empty or malformed.
pub const INVALID_CLIENT_ID: &str = "INVALID_CLIENT_ID";
/// A credential field with control characters (or a `:` in a basic-auth user name).
pub const INVALID_CREDENTIAL: &str = "INVALID_CREDENTIAL";
/// A credential field over the size limit.
pub const CREDENTIAL_TOO_LARGE: &str = "CREDENTIAL_TOO_LARGE";
/// A credential of another kind than the auth config's scheme takes.
pub const CREDENTIAL_MISMATCH: &str = "CREDENTIAL_MISMATCH";
/// An auth scheme the toolkit does not support.
pub const UNSUPPORTED_SCHEME: &str = "UNSUPPORTED_SCHEME";
/// A credential a trigger cannot use (a GitHub hook needs a token).
pub const UNSUPPORTED_CREDENTIAL: &str = "UNSUPPORTED_CREDENTIAL";
/// OAuth fields set on an auth config that is not OAuth 2.0.
pub const OAUTH_FIELDS_NOT_APPLICABLE: &str = "OAUTH_FIELDS_NOT_APPLICABLE";
/// A field that a managed OAuth app decides, set on an auth config that uses one.
pub const MANAGED_APP: &str = "MANAGED_APP";
/// A redirect URI on an auth config without its own OAuth client.
pub const REDIRECT_URI_NEEDS_CLIENT: &str = "REDIRECT_URI_NEEDS_CLIENT";

// ---------------------------------------------------------------------------------------------
// Not found (NOT_FOUND): also what another project, user or session sees.

pub const SESSION_NOT_FOUND: &str = "SESSION_NOT_FOUND";
pub const PROJECT_NOT_FOUND: &str = "PROJECT_NOT_FOUND";
pub const API_KEY_NOT_FOUND: &str = "API_KEY_NOT_FOUND";
pub const AUTH_CONFIG_NOT_FOUND: &str = "AUTH_CONFIG_NOT_FOUND";
pub const CONNECTED_ACCOUNT_NOT_FOUND: &str = "CONNECTED_ACCOUNT_NOT_FOUND";
pub const CONNECTION_REQUEST_NOT_FOUND: &str = "CONNECTION_REQUEST_NOT_FOUND";
pub const EXECUTION_NOT_FOUND: &str = "EXECUTION_NOT_FOUND";
pub const TOOLKIT_NOT_FOUND: &str = "TOOLKIT_NOT_FOUND";
pub const TOOL_NOT_FOUND: &str = "TOOL_NOT_FOUND";
pub const TRIGGER_TYPE_NOT_FOUND: &str = "TRIGGER_TYPE_NOT_FOUND";
pub const TRIGGER_NOT_FOUND: &str = "TRIGGER_NOT_FOUND";
pub const WEBHOOK_SUBSCRIPTION_NOT_FOUND: &str = "WEBHOOK_SUBSCRIPTION_NOT_FOUND";
/// The account chosen for a tool is not among those the session may use.
pub const ACCOUNT_NOT_FOUND: &str = "ACCOUNT_NOT_FOUND";

// ---------------------------------------------------------------------------------------------
// Credentials and access (UNAUTHENTICATED, PERMISSION_DENIED).

/// No project API key on the call.
pub const MISSING_API_KEY: &str = "MISSING_API_KEY";
/// An API key that is wrong or revoked.
pub const INVALID_API_KEY: &str = "INVALID_API_KEY";
/// The admin API is off: `gateway.admin_token` is unset.
pub const ADMIN_DISABLED: &str = "ADMIN_DISABLED";
/// The admin token is missing or wrong.
pub const INVALID_ADMIN_TOKEN: &str = "INVALID_ADMIN_TOKEN";

// ---------------------------------------------------------------------------------------------
// The session's scope and the user's accounts (FAILED_PRECONDITION unless noted).

/// A tool outside the session's toolkits, tools or tags.
pub const TOOL_NOT_IN_SESSION: &str = "TOOL_NOT_IN_SESSION";
/// A toolkit the session does not enable.
pub const TOOLKIT_NOT_IN_SESSION: &str = "TOOLKIT_NOT_IN_SESSION";
/// The user has no usable account of the tool's toolkit.
pub const NO_CONNECTED_ACCOUNT: &str = "NO_CONNECTED_ACCOUNT";
/// The account is not ACTIVE (disabled, expired, revoked…).
pub const ACCOUNT_NOT_ACTIVE: &str = "ACCOUNT_NOT_ACTIVE";
/// The account is disabled.
pub const ACCOUNT_DISABLED: &str = "ACCOUNT_DISABLED";
/// Several accounts could run the tool and the session requires choosing one.
pub const ACCOUNT_SELECTION_REQUIRED: &str = "ACCOUNT_SELECTION_REQUIRED";
/// The user already has as many accounts of the toolkit as the session allows.
pub const ACCOUNT_LIMIT_REACHED: &str = "ACCOUNT_LIMIT_REACHED";
/// A toolkit that needs no account.
pub const NO_AUTH_TOOLKIT: &str = "NO_AUTH_TOOLKIT";
/// The project has no auth config for the toolkit.
pub const NO_AUTH_CONFIG: &str = "NO_AUTH_CONFIG";
/// An OAuth 2.0 account is connected through Authorize, not created with a credential.
pub const OAUTH_NEEDS_AUTHORIZE: &str = "OAUTH_NEEDS_AUTHORIZE";
/// The toolkit does not support OAuth 2.0.
pub const OAUTH_NOT_SUPPORTED: &str = "OAUTH_NOT_SUPPORTED";
/// This server has no managed OAuth app for the toolkit.
pub const MANAGED_APP_NOT_CONFIGURED: &str = "MANAGED_APP_NOT_CONFIGURED";
/// The auth config has no OAuth client to run a flow with.
pub const OAUTH_CLIENT_MISSING: &str = "OAUTH_CLIENT_MISSING";
/// The auth config still has connected accounts.
pub const AUTH_CONFIG_IN_USE: &str = "AUTH_CONFIG_IN_USE";
/// The idempotency key was used with other arguments (ALREADY_EXISTS).
pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
/// The project already has a custom toolkit with this slug (ALREADY_EXISTS).
pub const TOOLKIT_EXISTS: &str = "TOOLKIT_EXISTS";
/// The project has as many custom toolkits as it may (RESOURCE_EXHAUSTED).
pub const TOOLKIT_LIMIT_REACHED: &str = "TOOLKIT_LIMIT_REACHED";
/// The user already has an account of the toolkit with this alias (ALREADY_EXISTS).
pub const ALIAS_TAKEN: &str = "ALIAS_TAKEN";
/// A durable subscription exists with other filters (FAILED_PRECONDITION).
pub const SUBSCRIPTION_FILTER_MISMATCH: &str = "SUBSCRIPTION_FILTER_MISMATCH";
/// The session's config version is not the expected one (ABORTED).
pub const CONFIG_VERSION_CONFLICT: &str = "CONFIG_VERSION_CONFLICT";
/// The session or its user's accounts kept changing while the call was checked (ABORTED).
pub const SESSION_CHANGING: &str = "SESSION_CHANGING";

// ---------------------------------------------------------------------------------------------
// Capacity, time and dependencies.

/// The job queue is full (RESOURCE_EXHAUSTED); the execution is stored as failed.
pub const QUEUE_FULL: &str = "QUEUE_FULL";
/// The call's deadline passed before the result (DEADLINE_EXCEEDED); read it later.
pub const EXECUTION_DEADLINE_EXCEEDED: &str = "EXECUTION_DEADLINE_EXCEEDED";
/// WaitForConnection's timeout passed with the request still INITIATED (DEADLINE_EXCEEDED).
pub const CONNECTION_PENDING: &str = "CONNECTION_PENDING";
/// NATS did not answer (UNAVAILABLE); retry later.
pub const BUS_UNAVAILABLE: &str = "BUS_UNAVAILABLE";
/// Redis did not answer (UNAVAILABLE); retry later.
pub const STORE_UNAVAILABLE: &str = "STORE_UNAVAILABLE";
/// The provider could not be reached or answered 429/5xx after any retries (an execution's
/// error code; UNAVAILABLE when registering a hook).
pub const PROVIDER_UNAVAILABLE: &str = "PROVIDER_UNAVAILABLE";
/// The provider refused to register a webhook (FAILED_PRECONDITION).
pub const HOOK_REGISTRATION_FAILED: &str = "HOOK_REGISTRATION_FAILED";

// ---------------------------------------------------------------------------------------------
// A failed execution's `error.code` (the call itself succeeded; the tool did not).

/// The provider answered with an error (4xx, or a failure flag in a 2xx body).
pub const PROVIDER_ERROR: &str = "PROVIDER_ERROR";
/// No answer within the attempt's timeout or the call's deadline.
pub const PROVIDER_TIMEOUT: &str = "PROVIDER_TIMEOUT";
/// The arguments could not be turned into a request (e.g. a path argument missing).
pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
/// The job bus did not take the call (a full queue, or NATS down): it was not run.
pub const NOT_ACCEPTED: &str = "NOT_ACCEPTED";
/// The execution's deadline passed before it ran or finished.
pub const TIMED_OUT: &str = "TIMED_OUT";
/// An earlier attempt may have reached the provider and the tool is not idempotent: it was not
/// repeated, and whether it took effect is unknown.
pub const OUTCOME_UNKNOWN: &str = "OUTCOME_UNKNOWN";
/// The account's OAuth refresh token was refused: reconnect it.
pub const ACCOUNT_EXPIRED: &str = "ACCOUNT_EXPIRED";
/// The account cannot be used now (not ACTIVE, or its credential cannot be read).
pub const ACCOUNT_UNAVAILABLE: &str = "ACCOUNT_UNAVAILABLE";
/// The token refresh failed for a reason that may pass (the provider did not answer).
pub const TOKEN_REFRESH_FAILED: &str = "TOKEN_REFRESH_FAILED";
/// A bug: never the caller's fault.
pub const INTERNAL: &str = "INTERNAL";
