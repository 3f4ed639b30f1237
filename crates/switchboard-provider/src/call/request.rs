//! From arguments to one `reqwest::Request`: schema defaults, the path template, query,
//! headers, body and the credential, as the tool's `http` mapping (or native handler) says.

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT,
};
use reqwest::Method;
use serde_json::{Map, Value};
use switchboard_catalog::spec::{BodyEncoding, HttpMethod, HttpSpec};
use switchboard_catalog::{Tool, Toolkit};
use switchboard_core::Credential;

use crate::native;

/// Everything but RFC 3986 unreserved characters is escaped in a path segment, so an argument
/// can never add a segment (`/`), a query (`?`) or a fragment (`#`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A reserved expansion (`{+name}`) keeps `/` between segments; everything else is escaped
/// as in a segment.
const PATH_RESERVED: &AsciiSet = &PATH_SEGMENT.remove(b'/');

/// A request ready to send (and to clone for retries), with what reading its answer needs.
#[derive(Debug)]
pub(super) struct Prepared {
    pub request: reqwest::Request,
    /// The body is a GraphQL document, so a non-empty `errors` in the answer is a failure.
    pub graphql: bool,
}

/// Builds the request; an error is a message for `INVALID_REQUEST` that never holds the
/// credential.
pub(super) fn build(
    client: &reqwest::Client,
    toolkit: &Toolkit,
    tool: &Tool,
    arguments: &Value,
    credential: &Credential,
) -> Result<Prepared, String> {
    let args = with_defaults(&tool.spec.input_schema, arguments)?;
    let base = toolkit.base_url.trim_end_matches('/');
    let (builder, graphql) = match (&tool.spec.http, &tool.spec.native) {
        (Some(http), _) => (http_request(client, base, http, &args)?, has_graphql(http)),
        (None, Some(name)) => {
            let handler = native::handler(name)
                .ok_or_else(|| format!("native handler {name:?} does not exist"))?;
            let mapped = handler(&args).map_err(|e| e.to_string())?;
            let url = format!("{base}{}", fill_path(mapped.path, &args)?);
            let builder = client
                .request(mapped.method, url)
                .header(CONTENT_TYPE, JSON_CONTENT_TYPE)
                .body(mapped.body.to_string());
            (builder, false)
        }
        (None, None) => return Err(format!("tool {} has no request mapping", tool.slug)),
    };
    // Some APIs (GitHub) refuse requests without a User-Agent; a toolkit header may replace it.
    let mut builder = builder;
    let headers = &toolkit.spec.headers;
    if !headers.keys().any(|k| k.eq_ignore_ascii_case("user-agent")) {
        builder = builder.header(USER_AGENT, CLIENT_USER_AGENT);
    }
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some((name, value)) = auth_header(toolkit, credential)? {
        builder = builder.header(name, value);
    }
    let request = builder
        .build()
        .map_err(|e| format!("cannot build the request: {}", e.without_url()))?;
    Ok(Prepared { request, graphql })
}

/// Slack warns `missing_charset` without the charset; every other provider accepts it.
const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
const CLIENT_USER_AGENT: &str = concat!("switchboard/", env!("CARGO_PKG_VERSION"));

fn has_graphql(http: &HttpSpec) -> bool {
    http.body.as_ref().is_some_and(|b| b.graphql.is_some())
}

fn http_request(
    client: &reqwest::Client,
    base: &str,
    http: &HttpSpec,
    args: &Map<String, Value>,
) -> Result<reqwest::RequestBuilder, String> {
    let method = match http.method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
    };
    let url = format!("{base}{}", fill_path(&http.path, args)?);
    let mut builder = client.request(method.clone(), url);

    let mut query: Vec<(&str, String)> = Vec::new();
    for param in &http.query {
        let values = args.get(param.arg()).map(texts).unwrap_or_default();
        match param.join() {
            Some(separator) if !values.is_empty() => {
                query.push((param.name(), values.join(separator)));
            }
            _ => query.extend(values.into_iter().map(|text| (param.name(), text))),
        }
    }
    if !query.is_empty() {
        builder = builder.query(&query);
    }

    for (header, name) in &http.headers {
        if let Some(text) = args.get(name).and_then(scalar_text) {
            let value = HeaderValue::from_str(&text)
                .map_err(|_| format!("argument {name:?} cannot be sent as header {header}"))?;
            builder = builder.header(header.as_str(), value);
        }
    }

    match &http.body {
        Some(body) => {
            let picked = body.params.iter().filter_map(|p| {
                args.get(p.arg())
                    .map(|v| (p.name().to_owned(), joined(v, p.join())))
            });
            let whole = body.value.as_ref().map(|name| args.get(name).cloned());
            builder = match (body.encoding, &body.graphql) {
                (_, _) if whole.is_some() => {
                    let value = whole.flatten().unwrap_or(Value::Null);
                    match body.encoding {
                        BodyEncoding::Json => builder
                            .header(CONTENT_TYPE, JSON_CONTENT_TYPE)
                            .body(value.to_string()),
                        BodyEncoding::Form => {
                            let pairs: Vec<(String, String)> = match &value {
                                Value::Object(fields) => fields
                                    .iter()
                                    .flat_map(|(name, v)| {
                                        texts(v).into_iter().map(move |t| (name.clone(), t))
                                    })
                                    .collect(),
                                _ => Vec::new(),
                            };
                            builder.form(&pairs)
                        }
                    }
                }
                (BodyEncoding::Json, Some(document)) => {
                    let variables: Map<String, Value> = picked.collect();
                    let payload = serde_json::json!({"query": document, "variables": variables});
                    builder
                        .header(CONTENT_TYPE, JSON_CONTENT_TYPE)
                        .body(payload.to_string())
                }
                (BodyEncoding::Json, None) => {
                    let fields: Map<String, Value> = picked.collect();
                    builder
                        .header(CONTENT_TYPE, JSON_CONTENT_TYPE)
                        .body(Value::Object(fields).to_string())
                }
                (BodyEncoding::Form, _) => {
                    let pairs: Vec<(String, String)> = picked
                        .flat_map(|(name, value)| {
                            texts(&value).into_iter().map(move |t| (name.clone(), t))
                        })
                        .collect();
                    builder.form(&pairs)
                }
            };
        }
        // Some APIs (GitHub's PUT /user/starred/…) refuse a body-less write without a length.
        None if matches!(method, Method::POST | Method::PUT | Method::PATCH) => {
            builder = builder.header(CONTENT_LENGTH, "0");
        }
        None => {}
    }
    Ok(builder)
}

/// The arguments as an object, with the `default` of each absent top-level property filled in.
fn with_defaults(schema: &Value, arguments: &Value) -> Result<Map<String, Value>, String> {
    let mut args = match arguments {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => return Err("arguments must be a JSON object".into()),
    };
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            if let Some(default) = property.get("default") {
                args.entry(name.clone()).or_insert_with(|| default.clone());
            }
        }
    }
    Ok(args)
}

/// Replaces each `{name}` of `template` by the percent-encoded argument.
pub(super) fn fill_path(template: &str, args: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let placeholder = &rest[start + 1..start + len];
        let (name, reserved) = match placeholder.strip_prefix('+') {
            Some(name) => (name, true),
            None => (placeholder, false),
        };
        let text = args
            .get(name)
            .and_then(scalar_text)
            .ok_or_else(|| format!("path argument {name:?} is missing or not a string/number"))?;
        // "." and ".." would be resolved away by URL normalisation and reach another endpoint;
        // a reserved expansion keeps its "/" but none of its segments may be one.
        let bad_segment = |s: &str| s.is_empty() || s == "." || s == "..";
        if bad_segment(&text) || (reserved && text.split('/').any(bad_segment)) {
            return Err(format!("path argument {name:?} must not be {text:?}"));
        }
        out.push_str(&rest[..start]);
        if reserved {
            out.extend(utf8_percent_encode(&text, PATH_RESERVED));
        } else {
            out.extend(utf8_percent_encode(&text, PATH_SEGMENT));
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An array joined into one string when the mapping says so; anything else as it is.
fn joined(value: &Value, separator: Option<&str>) -> Value {
    match (value, separator) {
        (Value::Array(items), Some(separator)) => Value::String(
            items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| scalar_text(v).unwrap_or_else(|| v.to_string()))
                .collect::<Vec<_>>()
                .join(separator),
        ),
        _ => value.clone(),
    }
}

/// A string, number or bool as text; anything else is not a scalar.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The texts a query or form argument sends: one per array item (repeated keys), none for
/// null, and JSON text for objects.
fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| scalar_text(v).unwrap_or_else(|| v.to_string()))
            .collect(),
        Value::Object(_) => vec![value.to_string()],
        scalar => scalar_text(scalar).into_iter().collect(),
    }
}

/// The header carrying the credential, marked sensitive so it never shows in `Debug`.
fn auth_header(
    toolkit: &Toolkit,
    credential: &Credential,
) -> Result<Option<(HeaderName, HeaderValue)>, String> {
    let (name, text) = match credential {
        Credential::None => return Ok(None),
        Credential::ApiKey(key) => match &toolkit.spec.auth.placement {
            Some(p) => {
                let name = HeaderName::from_bytes(p.header.as_bytes()).map_err(|_| {
                    format!("toolkit {} has an invalid credential header", toolkit.slug)
                })?;
                (name, format!("{}{key}", p.prefix))
            }
            None => (AUTHORIZATION, format!("Bearer {key}")),
        },
        Credential::BearerToken(token) => (AUTHORIZATION, format!("Bearer {token}")),
        Credential::OAuth2(tokens) => (AUTHORIZATION, format!("Bearer {}", tokens.access_token)),
        Credential::Basic { username, password } => {
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            (AUTHORIZATION, format!("Basic {pair}"))
        }
    };
    let mut value = HeaderValue::from_str(&text)
        .map_err(|_| "the credential contains characters not allowed in a header".to_owned())?;
    value.set_sensitive(true);
    Ok(Some((name, value)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn path_arguments_are_escaped_and_dot_segments_refused() {
        let args = json!({"owner": "a b/c?d#e", "repo": "ünï", "n": 42});
        let args = args.as_object().unwrap();
        assert_eq!(
            fill_path("/repos/{owner}/{repo}/issues/{n}", args).unwrap(),
            "/repos/a%20b%2Fc%3Fd%23e/%C3%BCn%C3%AF/issues/42"
        );
        for bad in ["..", ".", ""] {
            let args = json!({"owner": bad});
            assert!(fill_path("/repos/{owner}", args.as_object().unwrap()).is_err());
        }
        assert!(fill_path("/repos/{missing}", args).is_err());
    }

    #[test]
    fn a_reserved_expansion_keeps_slashes_but_refuses_dot_segments() {
        let args = json!({"name": "spaces/AAA/messages/B B?"});
        assert_eq!(
            fill_path("/v1/{+name}", args.as_object().unwrap()).unwrap(),
            "/v1/spaces/AAA/messages/B%20B%3F"
        );
        for bad in ["spaces/../admin", "a//b", "./x", "x/", "/x"] {
            let args = json!({"name": bad});
            assert!(
                fill_path("/v1/{+name}", args.as_object().unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    fn http_of(yaml: &str) -> HttpSpec {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn sent(http: &HttpSpec, args: Value) -> reqwest::Request {
        http_request(
            &reqwest::Client::new(),
            "https://api.example.com",
            http,
            args.as_object().unwrap(),
        )
        .unwrap()
        .build()
        .unwrap()
    }

    #[test]
    fn renamed_and_joined_query_parameters_go_by_their_wire_names() {
        let http = http_of(
            "method: GET\npath: /items/{id}\nquery: [q, {arg: item_id, name: id}, {arg: fields, join: ','}]\n",
        );
        let request = sent(
            &http,
            json!({"id": "p1", "item_id": "q2", "q": ["a", "b"], "fields": ["x", "y"]}),
        );
        assert_eq!(request.url().path(), "/items/p1");
        assert_eq!(request.url().query(), Some("q=a&q=b&id=q2&fields=x%2Cy"));
    }

    #[test]
    fn a_whole_body_argument_is_the_body_and_renamed_fields_use_their_wire_names() {
        let http = http_of("method: POST\npath: /batch\nbody: {encoding: json, value: items}\n");
        let request = sent(&http, json!({"items": [{"a": 1}, {"b": [2]}]}));
        let body = request.body().and_then(|b| b.as_bytes()).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(body).unwrap(),
            json!([{"a": 1}, {"b": [2]}])
        );
        let http = http_of(
            "method: POST\npath: /x\nbody: {encoding: json, params: [{arg: body_id, name: id}, n]}\n",
        );
        let request = sent(&http, json!({"body_id": "7", "n": 1}));
        let body = request.body().and_then(|b| b.as_bytes()).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(body).unwrap(),
            json!({"id": "7", "n": 1})
        );
    }

    #[test]
    fn defaults_fill_only_absent_arguments() {
        let schema = json!({"type": "object", "properties": {
            "userId": {"type": "string", "default": "me"},
            "max": {"type": "integer", "default": 100},
            "q": {"type": "string"}}});
        let args = with_defaults(&schema, &json!({"max": 5})).unwrap();
        assert_eq!(Value::Object(args), json!({"userId": "me", "max": 5}));
        assert!(with_defaults(&schema, &json!([1])).is_err());
    }

    #[test]
    fn query_texts_repeat_arrays() {
        assert_eq!(texts(&json!(["A", "B"])), vec!["A", "B"]);
        assert_eq!(texts(&json!(true)), vec!["true"]);
        assert_eq!(texts(&json!(7)), vec!["7"]);
        assert_eq!(texts(&json!({"a": 1})), vec![r#"{"a":1}"#]);
        assert!(texts(&Value::Null).is_empty());
    }
}
