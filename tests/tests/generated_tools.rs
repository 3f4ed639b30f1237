//! Generated tools through the whole platform (gateway → JetStream → worker → a stand-in for
//! the provider), a sample from each of twelve generated toolkits: for each, a read with a path
//! parameter and a write with a body, picked from the shipped catalog by rule (the first tools
//! by slug that fit), called with arguments built from their input schemas. The stand-in
//! accepts only the request the toolkit maps (method, path with the values, query and body
//! under their wire names) with the toolkit's credential in the header its scheme documents;
//! that mapping is checked against the providers' own descriptions by the spec conformance test
//! (`make test-specs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Map, Value};
use switchboard_catalog::spec::{AuthScheme, BodyEncoding, HttpMethod};
use switchboard_catalog::{Catalog, LoadOptions, Tool};
use switchboard_proto::v1::create_connected_account_request::Credential;
use switchboard_proto::v1::*;
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The generated catalog (`make catalog`).
fn shipped_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../toolkits/generated")
}

const TOOLKITS: [&str; 12] = [
    "github",
    "slack",
    "gmail",
    "googlecalendar",
    "googledrive",
    "twilio",
    "sendgrid",
    "resend",
    "openai",
    "intercom",
    "box",
    "spotify",
];

/// A value the schema accepts, built from its type (the first enum value when it has one).
fn sample(name: &str, schema: &Value, depth: usize) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(default) = schema.get("default") {
        return default.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string"),
        _ => "string",
    };
    match kind {
        "integer" | "number" => json!(7),
        "boolean" => json!(true),
        "array" => json!([sample(
            name,
            schema.get("items").unwrap_or(&json!({})),
            depth + 1
        )]),
        "object" if depth < 3 => {
            let mut out = Map::new();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (prop, sub) in props {
                    if required.contains(&prop.as_str()) {
                        out.insert(prop.clone(), sample(prop, sub, depth + 1));
                    }
                }
            }
            Value::Object(out)
        }
        "object" => json!({}),
        _ => match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2026-01-02T03:04:05Z"),
            Some("date") => json!("2026-01-02"),
            Some("email") => json!("ada@example.com"),
            Some("uri" | "url") => json!("https://example.com/x"),
            _ => json!(format!("v{}", name.len())),
        },
    }
}

/// Arguments for `tool`: every required property, and one optional query parameter when the
/// tool has any (so a query string is checked too); None when the sample does not validate.
fn arguments(tool: &Tool) -> Option<Value> {
    let schema = &tool.spec.input_schema;
    let props = schema.get("properties")?.as_object()?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let http = tool.spec.http.as_ref()?;
    let mut args = Map::new();
    for (name, sub) in props {
        if required.contains(&name.as_str()) {
            args.insert(name.clone(), sample(name, sub, 0));
        }
    }
    if let Some(optional) = http
        .query
        .iter()
        .find(|q| !required.contains(&q.arg()))
        .and_then(|q| props.get(q.arg()).map(|s| (q.arg(), s)))
    {
        let value = sample(optional.0, optional.1, 0);
        if value.is_string() || value.is_number() || value.is_boolean() {
            args.insert(optional.0.to_owned(), value);
        }
    }
    let args = Value::Object(args);
    tool.input_validator.is_valid(&args).then_some(args)
}

/// A read (with a path parameter, else a query) and a write with a body, by slug order.
fn picks(catalog: &Catalog, toolkit: &str) -> Vec<(Arc<Tool>, Value)> {
    let toolkit = catalog
        .toolkit(toolkit)
        .unwrap_or_else(|| panic!("{toolkit} is shipped"));
    let mut out = Vec::new();
    // A read with a path parameter, or (Slack's methods have none) one with a query.
    let read_with = |fits: &dyn Fn(&switchboard_catalog::spec::HttpSpec) -> bool| {
        toolkit.tools.iter().find_map(|t| {
            let http = t.spec.http.as_ref()?;
            (http.method == HttpMethod::Get && fits(http))
                .then(|| arguments(t).map(|a| (Arc::clone(t), a)))
                .flatten()
        })
    };
    let read = read_with(&|h| h.path.contains('{')).or_else(|| read_with(&|h| !h.query.is_empty()));
    let write = toolkit.tools.iter().find_map(|t| {
        let http = t.spec.http.as_ref()?;
        let body = http.body.as_ref()?;
        (body.graphql.is_none() && (!body.params.is_empty() || body.value.is_some()))
            .then(|| arguments(t).map(|a| (Arc::clone(t), a)))
            .flatten()
    });
    out.extend(read);
    out.extend(write);
    assert_eq!(
        out.len(),
        2,
        "{}: a read and a write to sample",
        toolkit.slug
    );
    out
}

/// The scheme and credential an account of `toolkit` gets here, and the header it must send.
fn credential(
    toolkit: &switchboard_catalog::Toolkit,
) -> (&'static str, Credential, String, String) {
    let schemes = &toolkit.spec.auth.schemes;
    if schemes.contains(&AuthScheme::BearerToken) {
        let token = format!("tok-{}", toolkit.slug);
        return (
            "BEARER_TOKEN",
            Credential::BearerToken(BearerTokenCredential {
                token: token.clone(),
            }),
            "authorization".into(),
            format!("Bearer {token}"),
        );
    }
    if schemes.contains(&AuthScheme::ApiKey) {
        let key = format!("key-{}", toolkit.slug);
        let (name, prefix) = toolkit
            .spec
            .auth
            .placement
            .as_ref()
            .map(|p| (p.header.to_ascii_lowercase(), p.prefix.clone()))
            .unwrap_or_else(|| ("authorization".into(), "Bearer ".into()));
        return (
            "API_KEY",
            Credential::ApiKey(ApiKeyCredential {
                api_key: key.clone(),
            }),
            name,
            format!("{prefix}{key}"),
        );
    }
    assert!(
        schemes.contains(&AuthScheme::Basic),
        "{}: {schemes:?}",
        toolkit.slug
    );
    let pair = base64::engine::general_purpose::STANDARD.encode("AC123:secret");
    (
        "BASIC",
        Credential::Basic(BasicCredential {
            username: "AC123".into(),
            password: "secret".into(),
        }),
        "authorization".into(),
        format!("Basic {pair}"),
    )
}

/// The path the toolkit's mapping makes of `args` (sample values need no escaping).
fn expected_path(tool: &Tool, args: &Value, base_path: &str) -> String {
    let template = &tool.spec.http.as_ref().unwrap().path;
    let mut out = String::from(base_path);
    let mut rest = template.as_str();
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        let name = rest[start + 1..end].trim_start_matches('+');
        out.push_str(&rest[..start]);
        let value = &args[name];
        out.push_str(
            &value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
        );
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// What the request's query and body must hold: wire name → value.
fn check_sent(tool: &Tool, args: &Value, request: &Request) {
    let http = tool.spec.http.as_ref().unwrap();
    let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    for param in &http.query {
        if let Some(value) = args.get(param.arg()) {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            assert!(
                query.contains(&(param.name().to_owned(), text.clone())),
                "{}: query {}={text} in {query:?}",
                tool.slug,
                param.name()
            );
        }
    }
    let Some(body) = &http.body else { return };
    match (body.encoding, &body.value) {
        (BodyEncoding::Json, Some(whole)) => {
            let sent: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(sent, args[whole.as_str()], "{}", tool.slug);
        }
        (BodyEncoding::Json, None) => {
            let sent: Value = serde_json::from_slice(&request.body).unwrap();
            for p in &body.params {
                if let Some(value) = args.get(p.arg()) {
                    assert_eq!(&sent[p.name()], value, "{}: body {}", tool.slug, p.name());
                }
            }
        }
        (BodyEncoding::Form, _) => {
            let sent: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect();
            for p in &body.params {
                if let Some(value) = args.get(p.arg()).filter(|v| !v.is_array()) {
                    let text = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    assert!(
                        sent.contains(&(p.name().to_owned(), text)),
                        "{}: form {} in {sent:?}",
                        tool.slug,
                        p.name()
                    );
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_generated_tools_of_twelve_toolkits_run_end_to_end() {
    let shipped = Catalog::load_dir(&shipped_dir(), &LoadOptions::default()).unwrap();
    let provider = MockServer::start().await;
    let mut config = test_config();
    config.catalog.dir = shipped_dir();
    // Each toolkit's stand-in lives under its own path on one server, keeping the base URL's
    // own path (Google's `/gmail/v1`, …) so the path sent is the whole documented one.
    let mut bases = Vec::new();
    for slug in TOOLKITS {
        let base = url::Url::parse(&shipped.toolkit(slug).unwrap().base_url).unwrap();
        let base_path = format!("/{slug}{}", base.path().trim_end_matches('/'));
        config
            .catalog
            .base_urls
            .insert(slug.into(), format!("{}{base_path}", provider.uri()));
        bases.push((slug, base_path));
    }
    let stack = Stack::spawn_with(config).await;
    let workers = Workers::spawn(&stack.config, 1);
    let project = stack.project().await;
    let mut connections = stack.connections(Some(&project.api_key));
    let session = create_session(
        &mut stack.sessions(Some(&project.api_key)),
        "ada",
        SessionConfig::default(),
    )
    .await;

    let mut ran = 0;
    for (slug, base_path) in &bases {
        let toolkit = shipped.toolkit(slug).unwrap();
        let (scheme, secret, header_name, header_value) = credential(toolkit);
        let auth_config = connections
            .create_auth_config(CreateAuthConfigRequest {
                toolkit: (*slug).into(),
                scheme: scheme.into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{slug}: {e:?}"))
            .into_inner()
            .auth_config
            .unwrap();
        connections
            .create_connected_account(CreateConnectedAccountRequest {
                user_id: "ada".into(),
                auth_config_id: auth_config.id,
                credential: Some(secret),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{slug}: {e:?}"));
        for (tool, args) in picks(&shipped, slug) {
            let http = tool.spec.http.as_ref().unwrap();
            let expected = expected_path(&tool, &args, base_path);
            let guard = Mock::given(method(http.method.as_str()))
                .and(path(expected.clone()))
                .and(header(header_name.as_str(), header_value.as_str()))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(json!({"ok": true, "id": "x1"})),
                )
                .expect(1)
                .named(tool.slug.clone())
                .mount_as_scoped(&provider)
                .await;
            let execution = stack
                .sessions(Some(&project.api_key))
                .execute_tool(ExecuteToolRequest {
                    session_id: session.id.clone(),
                    tool_slug: tool.slug.clone(),
                    arguments_json: args.to_string(),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{}: {e:?}", tool.slug))
                .into_inner()
                .execution
                .unwrap();
            assert_eq!(
                execution.status(),
                ExecutionStatus::Succeeded,
                "{} {} {expected} with {args}: {:?}",
                http.method.as_str(),
                tool.slug,
                execution.error
            );
            let received = guard.received_requests().await;
            assert_eq!(received.len(), 1, "{}", tool.slug);
            check_sent(&tool, &args, &received[0]);
            println!("{} {} {expected}: ok", http.method.as_str(), tool.slug);
            ran += 1;
        }
    }
    assert_eq!(ran, 2 * TOOLKITS.len());
    workers.stop().await;
    stack.stop().await;
}
