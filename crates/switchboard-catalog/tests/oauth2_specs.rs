#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The toolkits' `auth.oauth2` blocks checked against the providers' own API descriptions in
//! `shared/provider-specs/`, where those describe the call: the identity call is a `GET`
//! operation whose answer has the named field (GitHub, Gmail, Slack), the revocation URL is an
//! operation of the API (GitHub, Slack), and the default scopes are scopes the provider knows and
//! cover every tool (Gmail's discovery document names the scopes of each method). Each checker
//! returns every problem it finds, and a test per checker proves it does fail on a planted error.
//! Linear (GraphQL) and Notion have no description here; their blocks are checked by
//! `load_errors.rs` against their documentation's values.

use std::collections::BTreeSet;

use std::sync::OnceLock;

use serde_json::Value;
use switchboard_catalog::spec::{OAuth2Spec, RevokeStyle, ToolkitSpec};

mod specs;
use specs::{load_curated, load_toolkit, provider_doc};

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

fn oauth2(toolkit: &ToolkitSpec) -> &OAuth2Spec {
    toolkit
        .auth
        .oauth2
        .as_ref()
        .unwrap_or_else(|| panic!("{} has no oauth2 block", toolkit.slug))
}

// ---------------------------------------------------------------------------------------------
// Operations and their answers, in the three description formats

#[derive(Debug, Clone, Copy)]
enum Format {
    /// GitHub: `paths[template][method]`, answers under `content["application/json"].schema`.
    OpenApi3,
    /// Slack: `paths[template][method]`, answers under `schema`.
    OpenApi2,
    /// Google discovery: nested `resources…methods`, `servicePath` + `path`, `response.$ref`.
    Discovery,
}

/// Whether a concrete path (`/gmail/v1/users/me/profile`, or a URL path still holding
/// `{client_id}`) is an instance of a template (`/gmail/v1/users/{userId}/profile`).
fn matches_template(template: &str, path: &str) -> bool {
    let template: Vec<&str> = template.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    template.len() == path.len()
        && template.iter().zip(&path).all(|(t, p)| {
            let placeholder = t.starts_with('{') && t.ends_with('}');
            if placeholder {
                !p.is_empty()
            } else {
                t == p
            }
        })
}

fn discovery_methods<'a>(resource: &'a Value, out: &mut Vec<&'a Value>) {
    if let Some(methods) = resource.get("methods").and_then(Value::as_object) {
        out.extend(methods.values());
    }
    for child in resource
        .get("resources")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|r| r.values())
    {
        discovery_methods(child, out);
    }
}

/// The operation `method path` of a description; `method: None` takes any method.
fn operation<'a>(
    format: Format,
    doc: &'a Value,
    method: Option<&str>,
    path: &str,
) -> Option<&'a Value> {
    match format {
        Format::OpenApi3 | Format::OpenApi2 => {
            let item = doc
                .get("paths")?
                .as_object()?
                .iter()
                .find(|(template, _)| matches_template(template, path))?
                .1;
            match method {
                Some(method) => item.get(method.to_ascii_lowercase()),
                None => ["get", "post", "put", "patch", "delete"]
                    .iter()
                    .find_map(|m| item.get(*m)),
            }
        }
        Format::Discovery => {
            let service_path = doc.get("servicePath").and_then(Value::as_str).unwrap_or("");
            let mut methods = Vec::new();
            discovery_methods(doc, &mut methods);
            methods.into_iter().find(|m| {
                let method_ok = method.is_none_or(|method| {
                    m.get("httpMethod").and_then(Value::as_str) == Some(method)
                });
                let template = m.get("path").and_then(Value::as_str).unwrap_or("");
                method_ok
                    && matches_template(
                        &format!("/{service_path}{}", template.replace('+', "")),
                        path,
                    )
            })
        }
    }
}

/// Follows `$ref`s: JSON pointers (`#/components/schemas/x`) in OpenAPI, schema names in
/// discovery documents.
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return value;
        };
        let target = match reference.strip_prefix('#') {
            Some(pointer) => doc.pointer(pointer),
            None => doc.get("schemas").and_then(|s| s.get(reference)),
        };
        match target {
            Some(target) => value = target,
            None => return value,
        }
    }
    value
}

/// The JSON schema of an operation's success answer.
fn success_schema<'a>(format: Format, doc: &'a Value, op: &'a Value) -> Option<&'a Value> {
    let schema = match format {
        Format::OpenApi3 => resolve(doc, op.get("responses")?.get("200")?)
            .get("content")?
            .get("application/json")?
            .get("schema")?,
        Format::OpenApi2 => resolve(doc, op.get("responses")?.get("200")?).get("schema")?,
        Format::Discovery => op.get("response")?,
    };
    Some(resolve(doc, schema))
}

/// Whether every answer the schema allows has the dotted `field` (through `allOf`, and through
/// every branch of a `oneOf`/`anyOf`, since the provider may answer any one of them).
fn has_field(doc: &Value, schema: &Value, field: &str) -> bool {
    let schema = resolve(doc, schema);
    let (first, rest) = match field.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (field, None),
    };
    if let Some(property) = schema.get("properties").and_then(|p| p.get(first)) {
        return rest.is_none_or(|rest| has_field(doc, property, rest));
    }
    let branches = |keyword: &str| {
        schema
            .get(keyword)
            .and_then(Value::as_array)
            .filter(|b| !b.is_empty())
    };
    if let Some(all) = branches("allOf") {
        if all.iter().any(|b| has_field(doc, b, field)) {
            return true;
        }
    }
    ["oneOf", "anyOf"].iter().any(|keyword| {
        branches(keyword).is_some_and(|bs| bs.iter().all(|b| has_field(doc, b, field)))
    })
}

// ---------------------------------------------------------------------------------------------
// The checks

/// The identity call must be a `GET` of the description whose success answer has the field.
fn identity_problems(format: Format, doc: &Value, toolkit: &ToolkitSpec) -> Vec<String> {
    let slug = &toolkit.slug;
    let Some(identity) = &oauth2(toolkit).identity else {
        return vec![format!("{slug}: no identity call to check")];
    };
    let Some(op) = operation(format, doc, Some("GET"), &identity.path) else {
        return vec![format!(
            "{slug}: identity GET {} is not an operation of the description",
            identity.path
        )];
    };
    match success_schema(format, doc, op) {
        None => vec![format!(
            "{slug}: GET {} has no JSON success answer described",
            identity.path
        )],
        Some(schema) if !has_field(doc, schema, &identity.field) => vec![format!(
            "{slug}: the answer of GET {} has no field `{}`",
            identity.path, identity.field
        )],
        Some(_) => Vec::new(),
    }
}

/// The revocation URL must be `base_url` + an operation of the description, with the method its
/// style sends. Slack's description lists `auth.revoke` as a `GET`, but every Web API method
/// takes `POST` too, so for it any method will do.
fn revoke_problems(format: Format, doc: &Value, toolkit: &ToolkitSpec) -> Vec<String> {
    let slug = &toolkit.slug;
    let Some(revoke) = &oauth2(toolkit).revoke else {
        return vec![format!("{slug}: no revoke to check")];
    };
    let Some(path) = revoke.url.strip_prefix(toolkit.base_url.as_str()) else {
        return vec![format!(
            "{slug}: revoke URL {} is not under base_url {}",
            revoke.url, toolkit.base_url
        )];
    };
    let method = match (revoke.style, format) {
        (RevokeStyle::GithubGrant, _) => Some("DELETE"),
        (_, Format::OpenApi2) => None,
        (RevokeStyle::Rfc7009 | RevokeStyle::Bearer, _) => Some("POST"),
    };
    let Some(op) = operation(format, doc, method, path) else {
        return vec![format!(
            "{slug}: revoke {} {path} is not an operation of the description",
            method.unwrap_or("(any method)")
        )];
    };
    if revoke.style == RevokeStyle::GithubGrant {
        let takes_token = op
            .pointer("/requestBody/content/application~1json/schema/properties/access_token")
            .is_some();
        if !takes_token {
            return vec![format!(
                "{slug}: DELETE {path} does not take an `access_token` body field"
            )];
        }
    }
    Vec::new()
}

/// Default scopes the description does not know.
fn unknown_scopes(known: &BTreeSet<&str>, toolkit: &ToolkitSpec) -> Vec<String> {
    oauth2(toolkit)
        .scopes
        .iter()
        .filter(|s| !known.contains(s.as_str()))
        .map(|s| {
            format!(
                "{}: scope `{s}` is not a scope of the description",
                toolkit.slug
            )
        })
        .collect()
}

fn gmail_known_scopes(doc: &Value) -> BTreeSet<&str> {
    doc.pointer("/auth/oauth2/scopes")
        .and_then(Value::as_object)
        .map(|s| s.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn slack_known_scopes(doc: &Value) -> BTreeSet<&str> {
    doc.pointer("/securityDefinitions/slackAuth/scopes")
        .and_then(Value::as_object)
        .map(|s| s.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// The discovery method a native Gmail handler calls.
fn native_method_id(handler: &str) -> Option<&'static str> {
    match handler {
        "gmail_send_email" => Some("gmail.users.messages.send"),
        "gmail_create_draft" => Some("gmail.users.drafts.create"),
        _ => None,
    }
}

/// Every Gmail tool, and the identity call, must be allowed by at least one default scope.
fn gmail_scope_problems(doc: &Value, toolkit: &ToolkitSpec) -> Vec<String> {
    let granted: BTreeSet<&str> = oauth2(toolkit).scopes.iter().map(String::as_str).collect();
    let mut methods = Vec::new();
    discovery_methods(doc, &mut methods);
    let mut calls: Vec<(String, Option<&Value>)> = Vec::new();
    for tool in &toolkit.tools {
        let op = match (&tool.http, &tool.native) {
            (Some(http), _) => operation(
                Format::Discovery,
                doc,
                Some(http.method.as_str()),
                &http.path,
            ),
            (None, Some(native)) => native_method_id(native).and_then(|id| {
                methods
                    .iter()
                    .copied()
                    .find(|m| m.get("id").and_then(Value::as_str) == Some(id))
            }),
            (None, None) => None,
        };
        calls.push((tool.slug.clone(), op));
    }
    if let Some(identity) = &oauth2(toolkit).identity {
        calls.push((
            format!("identity GET {}", identity.path),
            operation(Format::Discovery, doc, Some("GET"), &identity.path),
        ));
    }
    let mut problems = Vec::new();
    for (call, op) in calls {
        let Some(op) = op else {
            problems.push(format!(
                "{call}: no discovery method to read its scopes from"
            ));
            continue;
        };
        let needs: BTreeSet<&str> = op
            .get("scopes")
            .and_then(Value::as_array)
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if needs.is_disjoint(&granted) {
            problems.push(format!(
                "{call}: needs one of {needs:?}, but auth.oauth2.scopes grants none of them"
            ));
        }
    }
    problems
}

#[track_caller]
fn assert_none(what: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[track_caller]
fn assert_reported(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem mentioning {needle:?}; the checker reported:\n  {}",
        problems.join("\n  ")
    );
}

fn set_identity(toolkit: &mut ToolkitSpec, path: Option<&str>, field: Option<&str>) {
    let identity = toolkit
        .auth
        .oauth2
        .as_mut()
        .and_then(|o| o.identity.as_mut())
        .expect("an identity call");
    if let Some(path) = path {
        path.clone_into(&mut identity.path);
    }
    if let Some(field) = field {
        field.clone_into(&mut identity.field);
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn identity_calls_are_described_gets_whose_answer_names_the_account() {
    assert_none(
        "github",
        &identity_problems(Format::OpenApi3, github_doc(), &load_toolkit("github")),
    );
    assert_none(
        "gmail",
        &identity_problems(Format::Discovery, gmail_doc(), &load_toolkit("gmail")),
    );
    assert_none(
        "slack",
        &identity_problems(Format::OpenApi2, slack_doc(), &load_toolkit("slack")),
    );
}

#[test]
fn identity_checker_reports_a_wrong_path_and_a_missing_field() {
    let mut github = load_toolkit("github");
    set_identity(&mut github, Some("/users/me/profile"), None);
    let problems = identity_problems(Format::OpenApi3, github_doc(), &github);
    assert_reported(&problems, "GET /users/me/profile is not an operation");

    let mut github = load_toolkit("github");
    set_identity(&mut github, None, Some("username"));
    let problems = identity_problems(Format::OpenApi3, github_doc(), &github);
    assert_reported(&problems, "no field `username`");

    // GET /user answers oneOf private-user or public-user: a field only private-user has is
    // not reliably there.
    let mut github = load_toolkit("github");
    set_identity(&mut github, None, Some("two_factor_authentication"));
    let problems = identity_problems(Format::OpenApi3, github_doc(), &github);
    assert_reported(&problems, "no field `two_factor_authentication`");

    // A dotted path goes into nested objects.
    let mut github = load_toolkit("github");
    set_identity(&mut github, None, Some("plan.name"));
    assert_none(
        "plan.name",
        &identity_problems(Format::OpenApi3, github_doc(), &github),
    );
    set_identity(&mut github, None, Some("plan.nickname"));
    let problems = identity_problems(Format::OpenApi3, github_doc(), &github);
    assert_reported(&problems, "no field `plan.nickname`");

    let mut gmail = load_toolkit("gmail");
    set_identity(&mut gmail, Some("/gmail/v1/users/me/profil"), None);
    let problems = identity_problems(Format::Discovery, gmail_doc(), &gmail);
    assert_reported(&problems, "is not an operation");

    let mut gmail = load_toolkit("gmail");
    set_identity(&mut gmail, None, Some("email"));
    let problems = identity_problems(Format::Discovery, gmail_doc(), &gmail);
    assert_reported(&problems, "no field `email`");

    let mut slack = load_toolkit("slack");
    set_identity(&mut slack, Some("/auth.tests"), None);
    let problems = identity_problems(Format::OpenApi2, slack_doc(), &slack);
    assert_reported(&problems, "GET /auth.tests is not an operation");

    let mut slack = load_toolkit("slack");
    set_identity(&mut slack, None, Some("team_name"));
    let problems = identity_problems(Format::OpenApi2, slack_doc(), &slack);
    assert_reported(&problems, "no field `team_name`");
}

#[test]
fn revoke_urls_are_operations_of_the_api() {
    assert_none(
        "github",
        &revoke_problems(Format::OpenApi3, github_doc(), &load_toolkit("github")),
    );
    assert_none(
        "slack",
        &revoke_problems(Format::OpenApi2, slack_doc(), &load_toolkit("slack")),
    );

    let mut github = load_toolkit("github");
    let revoke = github
        .auth
        .oauth2
        .as_mut()
        .and_then(|o| o.revoke.as_mut())
        .unwrap();
    revoke.url = "https://api.github.com/applications/{client_id}/grants".into();
    let problems = revoke_problems(Format::OpenApi3, github_doc(), &github);
    assert_reported(
        &problems,
        "DELETE /applications/{client_id}/grants is not an operation",
    );

    let mut slack = load_toolkit("slack");
    let revoke = slack
        .auth
        .oauth2
        .as_mut()
        .and_then(|o| o.revoke.as_mut())
        .unwrap();
    revoke.url = "https://slack.com/api/auth.revoked".into();
    let problems = revoke_problems(Format::OpenApi2, slack_doc(), &slack);
    assert_reported(&problems, "/auth.revoked is not an operation");
}

#[test]
fn default_scopes_are_scopes_the_provider_knows() {
    assert_none(
        "gmail",
        &unknown_scopes(&gmail_known_scopes(gmail_doc()), &load_toolkit("gmail")),
    );
    assert_none(
        "slack",
        &unknown_scopes(&slack_known_scopes(slack_doc()), &load_toolkit("slack")),
    );

    let mut slack = load_toolkit("slack");
    slack
        .auth
        .oauth2
        .as_mut()
        .unwrap()
        .scopes
        .push("chat:wrte".into());
    let problems = unknown_scopes(&slack_known_scopes(slack_doc()), &slack);
    assert_reported(&problems, "scope `chat:wrte`");
}

#[test]
fn gmail_default_scopes_cover_every_tool_and_the_identity_call() {
    // The hand-written tools: the generated ones beside them (deleting, modifying, importing
    // messages) need broader scopes than the narrow default pair, which an auth config names.
    let gmail = load_curated("gmail");
    assert!(
        gmail.tools.iter().any(|t| t.native.is_some()),
        "native tools are checked too"
    );
    assert_none("gmail", &gmail_scope_problems(gmail_doc(), &gmail));

    // Without compose, sending and drafting are not allowed.
    let mut gmail = load_curated("gmail");
    gmail
        .auth
        .oauth2
        .as_mut()
        .unwrap()
        .scopes
        .retain(|s| !s.ends_with("gmail.compose"));
    let problems = gmail_scope_problems(gmail_doc(), &gmail);
    assert_reported(&problems, "GMAIL_SEND_EMAIL: needs one of");
    assert_reported(&problems, "GMAIL_CREATE_EMAIL_DRAFT: needs one of");
    assert!(
        !problems.iter().any(|p| p.contains("GMAIL_LIST_MESSAGES")),
        "readonly still covers reading: {problems:?}"
    );

    // gmail.send alone would cover sending but neither reading nor the profile.
    let mut gmail = load_curated("gmail");
    gmail.auth.oauth2.as_mut().unwrap().scopes =
        vec!["https://www.googleapis.com/auth/gmail.send".into()];
    let problems = gmail_scope_problems(gmail_doc(), &gmail);
    assert_reported(&problems, "GMAIL_LIST_MESSAGES: needs one of");
    assert_reported(
        &problems,
        "identity GET /gmail/v1/users/me/profile: needs one of",
    );
    assert!(
        !problems.iter().any(|p| p.starts_with("GMAIL_SEND_EMAIL")),
        "{problems:?}"
    );
}

#[test]
fn template_matching() {
    assert!(matches_template(
        "/gmail/v1/users/{userId}/profile",
        "/gmail/v1/users/me/profile"
    ));
    assert!(matches_template(
        "/applications/{client_id}/grant",
        "/applications/{client_id}/grant"
    ));
    assert!(!matches_template("/users/{userId}", "/users/"));
    assert!(!matches_template("/users/{userId}", "/users/me/profile"));
    assert!(!matches_template("/user", "/users"));
}
