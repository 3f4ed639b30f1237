//! The Discovery front end on a trimmed document (`fixtures/discovery-mini.json`) with nested
//! resources, reserved expansion, repeated parameters, recursive `$ref`s, media upload and
//! download, pagination — and on broken variants of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use switchboard_catalog::spec::PaginationStyle;
use switchboard_import::discovery::{self, GOOGLE_AUTHORIZE_URL, GOOGLE_TOKEN_URL};
use switchboard_import::ir::{ApiModel, AuthInfo, BodyEncoding, Location, Operation};
use switchboard_import::ImportError;

const MINI: &str = include_str!("fixtures/discovery-mini.json");

fn model() -> ApiModel {
    discovery::parse(MINI).expect("the fixture imports")
}

fn op<'a>(m: &'a ApiModel, id: &str) -> &'a Operation {
    m.operations
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

fn mini() -> Value {
    serde_json::from_str(MINI).unwrap()
}

fn invalid_at(doc: Value) -> (String, String) {
    match discovery::parse(&doc.to_string()) {
        Err(ImportError::Invalid { location, message }) => (location, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn the_api_has_its_title_base_url_and_google_oauth() {
    let m = model();
    assert_eq!(m.title, "Mini API");
    assert_eq!(
        m.description,
        "A trimmed Discovery document for the importer's tests."
    );
    assert_eq!(m.base_url, "https://mini.googleapis.com/mini/v1");
    let [AuthInfo::OAuth2 {
        authorize_url,
        token_url,
        scopes,
    }] = m.auth.as_slice()
    else {
        panic!("expected one OAuth2 scheme: {:?}", m.auth);
    };
    assert_eq!(authorize_url, GOOGLE_AUTHORIZE_URL);
    assert_eq!(token_url, GOOGLE_TOKEN_URL);
    assert_eq!(
        scopes,
        &vec![
            (
                "https://www.googleapis.com/auth/mini".to_owned(),
                "See and change your mini data".to_owned()
            ),
            (
                "https://www.googleapis.com/auth/mini.readonly".to_owned(),
                "See your mini data".to_owned()
            ),
        ]
    );
}

#[test]
fn nested_resources_become_operations_with_ids_tags_and_paths() {
    let m = model();
    let mut ids: Vec<&str> = m.operations.iter().map(|o| o.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "mini.files.export",
            "mini.spaces.get",
            "mini.users.messages.get",
            "mini.users.messages.list",
            "mini.users.messages.send"
        ]
    );
    let list = op(&m, "mini.users.messages.list");
    assert_eq!(list.method, "GET");
    assert_eq!(list.path, "/users/{userId}/messages");
    assert_eq!(list.tags, ["users.messages"]);
    assert_eq!(list.summary, "Lists the messages in the mailbox.");
    assert_eq!(
        list.description,
        "Lists the messages in the mailbox. Newest first."
    );
    assert_eq!(list.scopes.len(), 2);
    let get = op(&m, "mini.users.messages.get");
    let names: Vec<&str> = get.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["userId", "id", "format"],
        "parameterOrder first, then by name"
    );
}

#[test]
fn reserved_expansion_stays_and_flat_path_is_not_used() {
    let m = model();
    let get = op(&m, "mini.spaces.get");
    assert_eq!(get.path, "/v1/{+name}");
    assert!(get.deprecated);
    let name = &get.params[0];
    assert_eq!(name.name, "name");
    assert_eq!(name.location, Location::Path);
    assert!(name.required);
    assert_eq!(name.schema["pattern"], "^spaces/[^/]+$");
    assert!(!op(&m, "mini.users.messages.list").deprecated);
}

#[test]
fn parameters_are_typed_repeated_and_api_wide_ones_dropped() {
    let m = model();
    let list = op(&m, "mini.users.messages.list");
    let p = |n: &str| {
        list.params
            .iter()
            .find(|p| p.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let labels = p("labelIds");
    assert_eq!(labels.location, Location::Query);
    assert_eq!(labels.join, None, "repeated keys, not joined");
    assert_eq!(
        labels.schema,
        json!({"type": "array", "description": "Only messages with all these labels.", "items": {"type": "string"}})
    );
    assert_eq!(
        p("maxResults").schema,
        json!({"type": "integer", "format": "uint32", "default": 100, "minimum": 1, "maximum": 500})
    );
    assert_eq!(p("includeSpamTrash").schema["default"], json!(false));
    assert_eq!(p("userId").schema["default"], json!("me"));
    for op in &m.operations {
        for p in &op.params {
            assert!(
                ![
                    "alt",
                    "fields",
                    "key",
                    "prettyPrint",
                    "quotaUser",
                    "$.xgafv",
                    "access_token",
                    "oauth_token",
                    "callback",
                    "uploadType",
                    "upload_protocol"
                ]
                .contains(&p.name.as_str()),
                "{} has the API-wide parameter {}",
                op.id,
                p.name
            );
        }
    }
    let format = op(&m, "mini.users.messages.get")
        .params
        .iter()
        .find(|p| p.name == "format")
        .unwrap();
    assert_eq!(format.schema["enum"], json!(["full", "raw"]));
    assert_eq!(format.schema["default"], json!("full"));
    assert!(
        format
            .description
            .contains("- `raw`: The raw RFC 2822 text."),
        "{}",
        format.description
    );
}

#[test]
fn request_bodies_inline_refs_drop_read_only_and_cut_recursion() {
    let m = model();
    let send = op(&m, "mini.users.messages.send");
    let body = send.body.as_ref().expect("send has a body");
    assert_eq!(body.encoding, BodyEncoding::Json);
    assert!(body.graphql.is_none());
    let s = &body.schema;
    assert_eq!(s["type"], "object");
    let props = s["properties"].as_object().unwrap();
    assert!(
        !props.contains_key("id") && !props.contains_key("sizeEstimate"),
        "readOnly kept: {s}"
    );
    assert_eq!(
        s["required"],
        json!(["raw"]),
        "annotations.required names this method"
    );
    assert_eq!(props["raw"]["format"], "byte");
    let payload = &props["payload"];
    assert_eq!(payload["description"], "The parsed email structure.");
    assert_eq!(
        payload["properties"]["headers"]["additionalProperties"],
        json!({"type": "string"})
    );
    assert_eq!(
        payload["properties"]["body"],
        json!({"description": "Anything at all."}),
        "type any"
    );
    // MessagePart.parts → MessagePart again: cut, not expanded.
    let parts = &payload["properties"]["parts"];
    assert_eq!(parts["type"], "array");
    assert_eq!(parts["items"]["type"], "object");
    assert!(
        parts["items"].get("properties").is_none(),
        "recursion not cut: {parts}"
    );
    assert!(parts["items"]["description"]
        .as_str()
        .unwrap()
        .contains("MessagePart, recursive"));

    // Responses keep readOnly fields, and no method's annotations apply.
    let r = &send.response;
    assert_eq!(r["properties"]["id"]["readOnly"], json!(true));
    assert!(r.get("required").is_none());
}

#[test]
fn media_upload_keeps_the_metadata_request_or_skips() {
    let m = model();
    let send = op(&m, "mini.users.messages.send");
    assert_eq!(
        send.path, "/users/{userId}/messages/send",
        "the metadata path, not /upload/"
    );
    assert!(
        send.notes
            .iter()
            .any(|n| n.contains("Media upload is not offered")),
        "{:?}",
        send.notes
    );
    assert_eq!(m.skipped.len(), 1, "{:?}", m.skipped);
    assert_eq!(m.skipped[0].location, "resources.media.methods.upload");
    assert!(
        m.skipped[0].reason.contains("media upload only"),
        "{}",
        m.skipped[0].reason
    );
}

#[test]
fn media_download_is_noted() {
    let m = model();
    let get = op(&m, "mini.users.messages.get");
    assert!(
        get.notes.iter().any(|n| n.contains("alt=media")),
        "{:?}",
        get.notes
    );
    let export = op(&m, "mini.files.export");
    assert_eq!(export.response, json!({}));
    assert!(
        export.notes.iter().any(|n| n.contains("content itself")),
        "{:?}",
        export.notes
    );
    assert!(op(&m, "mini.spaces.get").notes.is_empty());
}

#[test]
fn page_tokens_make_cursor_pagination_and_enums_keep_their_descriptions() {
    let m = model();
    let hint = op(&m, "mini.users.messages.list")
        .pagination
        .clone()
        .expect("paged");
    assert_eq!(hint.style, PaginationStyle::Cursor);
    assert_eq!(hint.param, "pageToken");
    assert_eq!(hint.next, "nextPageToken");
    assert!(op(&m, "mini.users.messages.get").pagination.is_none());
    let space = &op(&m, "mini.spaces.get").response;
    let t = &space["properties"]["spaceType"];
    assert_eq!(t["enum"], json!(["SPACE", "DIRECT_MESSAGE"]));
    assert!(t["description"]
        .as_str()
        .unwrap()
        .contains("`DIRECT_MESSAGE`: A conversation"));
}

#[test]
fn without_oauth_scopes_the_api_takes_a_key() {
    let mut doc = mini();
    doc.as_object_mut().unwrap().remove("auth");
    let m = discovery::parse(&doc.to_string()).unwrap();
    assert_eq!(
        m.auth,
        vec![AuthInfo::ApiKey {
            header: None,
            query: Some("key".into())
        }]
    );
}

#[test]
fn a_ref_to_a_missing_schema_names_where() {
    let mut doc = mini();
    doc["schemas"]["Message"]["properties"]["payload"]["$ref"] = json!("Nope");
    let (location, message) = invalid_at(doc);
    assert_eq!(location, "schemas.Message.properties.payload.$ref");
    assert!(message.contains("Nope"), "{message}");
}

#[test]
fn a_placeholder_without_its_parameter_names_the_method() {
    let mut doc = mini();
    doc["resources"]["spaces"]["methods"]["get"]["path"] = json!("v1/{+space}");
    let (location, message) = invalid_at(doc);
    assert_eq!(location, "resources.spaces.methods.get.path");
    assert!(message.contains("{space}"), "{message}");
}

#[test]
fn broken_parameters_and_methods_name_their_place() {
    let mut doc = mini();
    doc["resources"]["users"]["resources"]["messages"]["methods"]["list"]["parameters"]
        ["pageToken"]["location"] = json!("body");
    let (location, _) = invalid_at(doc);
    assert_eq!(
        location,
        "resources.users.resources.messages.methods.list.parameters.pageToken.location"
    );

    let mut doc = mini();
    doc["resources"]["files"]["methods"]["export"]
        .as_object_mut()
        .unwrap()
        .remove("httpMethod");
    let (location, message) = invalid_at(doc);
    assert_eq!(location, "resources.files.methods.export.httpMethod");
    assert!(message.contains("missing"));

    let mut doc = mini();
    doc["resources"]["users"]["resources"]["messages"]["methods"]["get"]["parameters"]["id"]
        ["required"] = json!(false);
    let (location, _) = invalid_at(doc);
    assert_eq!(
        location,
        "resources.users.resources.messages.methods.get.parameters.id.required"
    );

    let mut doc = mini();
    doc["schemas"]["Space"]["properties"]["name"]["type"] = json!("text");
    let (location, _) = invalid_at(doc);
    assert_eq!(location, "schemas.Space.properties.name.type");
}

#[test]
fn unsupported_templates_and_methods_are_skipped_with_reasons() {
    let mut doc = mini();
    doc["resources"]["files"]["methods"]["export"]["path"] =
        json!("files/{fileId}/export{?mimeType}");
    doc["resources"]["spaces"]["methods"]["get"]["httpMethod"] = json!("HEAD");
    let m = discovery::parse(&doc.to_string()).unwrap();
    let reasons: Vec<(&str, &str)> = m
        .skipped
        .iter()
        .map(|s| (s.location.as_str(), s.reason.as_str()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(l, r)| *l == "resources.files.methods.export" && r.contains("{?mimeType}")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(l, r)| *l == "resources.spaces.methods.get" && r.contains("HEAD")),
        "{reasons:?}"
    );
    assert_eq!(m.operations.len(), 3);
}

#[test]
fn unreadable_text_is_unreadable() {
    assert!(matches!(
        discovery::parse("{not json"),
        Err(ImportError::Unreadable { .. })
    ));
    assert!(matches!(
        discovery::parse("[]"),
        Err(ImportError::Unreadable { .. })
    ));
    assert!(matches!(
        discovery::parse(r#"{"kind": "discovery#directoryList"}"#),
        Err(ImportError::Unreadable { .. })
    ));
    let (location, _) = invalid_at(json!({"kind": "discovery#restDescription"}));
    assert_eq!(location, "rootUrl");
}

#[test]
fn deep_and_wide_refs_stay_bounded() {
    // A chain of schemas each referring to the next three times: inlining stops at the depth
    // limit instead of growing 3^n.
    let mut schemas = serde_json::Map::new();
    for i in 0..30 {
        let next = format!("S{}", i + 1);
        schemas.insert(
            format!("S{i}"),
            json!({"type": "object", "properties": {"a": {"$ref": next}, "b": {"$ref": next}, "c": {"$ref": next}}}),
        );
    }
    schemas.insert("S30".into(), json!({"type": "string"}));
    let doc = json!({
        "rootUrl": "https://x.googleapis.com/", "servicePath": "",
        "schemas": schemas,
        "resources": {"r": {"methods": {"m": {"id": "x.r.m", "path": "v1/m", "httpMethod": "POST", "request": {"$ref": "S0"}}}}}
    });
    let m = discovery::parse(&doc.to_string()).unwrap();
    let size = serde_json::to_string(&m.operations[0].body.as_ref().unwrap().schema)
        .unwrap()
        .len();
    assert!(size < 20_000, "schema of {size} bytes");
}
