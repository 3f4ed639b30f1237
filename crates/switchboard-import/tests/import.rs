//! The importer on small hand-written descriptions (OpenAPI 2.0, 3.0, 3.1): the generated
//! toolkit's slugs, schemas, mappings, tags and auth, the report, overlay rules and broken
//! documents. Every generated toolkit goes through the catalog's own loader.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{json, Value};
use switchboard_catalog::spec::{
    AuthScheme, BodyEncoding, HttpMethod, PaginationStyle, ParamRef, ToolSpec, ToolkitSpec,
};
use switchboard_import::{import, openapi, ImportError, Imported, Overlay, Source};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn run(name: &str, overlay: &str) -> Imported {
    let overlay = Overlay::from_yaml(overlay).expect("overlay");
    let imported = import(&Source::detect(fixture(name)), &overlay).expect("import");
    common::assert_loads(&imported.toolkit);
    imported
}

fn tool<'t>(toolkit: &'t ToolkitSpec, slug: &str) -> &'t ToolSpec {
    toolkit
        .tools
        .iter()
        .find(|t| t.slug == slug)
        .unwrap_or_else(|| {
            let slugs: Vec<&str> = toolkit.tools.iter().map(|t| t.slug.as_str()).collect();
            panic!("no tool {slug} in {slugs:?}")
        })
}

fn slugs(toolkit: &ToolkitSpec) -> Vec<&str> {
    toolkit.tools.iter().map(|t| t.slug.as_str()).collect()
}

#[test]
fn swagger_2_pets_become_verb_first_tools_with_their_mappings() {
    let Imported { toolkit, report } = run("petstore-v2.yaml", "slug: pets\n");
    assert_eq!(toolkit.base_url, "https://api.pets.test/v1");
    assert_eq!(toolkit.name, "Pet Store");
    assert_eq!(toolkit.description, "Pets for everyone.");
    assert_eq!(
        slugs(&toolkit),
        [
            "PETS_LIST_PETS",
            "PETS_CREATE_PET",
            "PETS_GET_PET",
            "PETS_UPDATE_PET",
            "PETS_GET_TREE"
        ]
    );

    // Auth: the oauth2 accessCode flow first (the top-level `security` names it), then the key.
    assert_eq!(
        toolkit.auth.schemes,
        [AuthScheme::Oauth2, AuthScheme::ApiKey]
    );
    let oauth2 = toolkit.auth.oauth2.as_ref().expect("oauth2");
    assert_eq!(oauth2.authorize_url, "https://pets.test/oauth/authorize");
    assert_eq!(oauth2.token_url, "https://pets.test/oauth/token");
    assert_eq!(oauth2.scopes, ["read:pets", "write:pets"]);
    let placement = toolkit.auth.placement.as_ref().expect("placement");
    assert_eq!(
        (placement.header.as_str(), placement.prefix.as_str()),
        ("X-API-Key", "")
    );

    // $ref'd query parameters, a csv array, page pagination, read-only hints, topic tag.
    let list = tool(&toolkit, "PETS_LIST_PETS");
    let http = list.http.as_ref().unwrap();
    assert_eq!(http.method, HttpMethod::Get);
    assert_eq!(
        http.query,
        [
            ParamRef::Same("page".into()),
            ParamRef::Same("per_page".into()),
            ParamRef::Renamed {
                arg: "tags".into(),
                name: None,
                join: Some(",".into())
            },
        ]
    );
    assert_eq!(list.input_schema["properties"]["page"]["minimum"], 1);
    assert_eq!(
        list.input_schema["properties"]["page"]["description"],
        "Page number."
    );
    assert_eq!(
        list.tags,
        ["pets", "readOnlyHint", "idempotentHint", "openWorldHint"]
    );
    assert_eq!(list.description, "List pets. Lists the pets, newest first.");
    let pagination = list.pagination.as_ref().expect("pagination");
    assert_eq!(
        (pagination.style, pagination.param.as_str()),
        (PaginationStyle::Page, "page")
    );
    // allOf merged: the listed pet has both parts' properties and required fields.
    let item = &list.output_schema["items"];
    assert_eq!(item["type"], "object");
    assert_eq!(item["required"], json!(["name", "id"]));
    assert!(item["properties"]["id"].is_object() && item["properties"]["name"].is_object());

    // `in: body` with a $ref'd schema: its properties are the arguments.
    let create = tool(&toolkit, "PETS_CREATE_PET");
    let body = create.http.as_ref().unwrap().body.as_ref().unwrap();
    assert_eq!(body.encoding, BodyEncoding::Json);
    assert_eq!(
        body.params,
        [ParamRef::Same("name".into()), ParamRef::Same("tag".into())]
    );
    assert_eq!(create.input_schema["required"], json!(["name"]));
    assert_eq!(create.tags, ["pets", "openWorldHint"]);

    // A form body's `id` beside the path's `id`: argument `body_id`, sent as `id`.
    let update = tool(&toolkit, "PETS_UPDATE_PET");
    let http = update.http.as_ref().unwrap();
    assert_eq!(http.path, "/pets/{id}");
    let body = http.body.as_ref().unwrap();
    assert_eq!(body.encoding, BodyEncoding::Form);
    assert!(body.params.contains(&ParamRef::Renamed {
        arg: "body_id".into(),
        name: Some("id".into()),
        join: None
    }));
    assert_eq!(update.input_schema["properties"]["id"]["type"], "integer");
    assert_eq!(
        update.input_schema["properties"]["body_id"]["type"],
        "string"
    );
    assert_eq!(update.input_schema["required"], json!(["id", "name"]));
    assert_eq!(update.tags, ["idempotentHint", "openWorldHint"]);

    // Recursion is cut: the tree's children are plain objects.
    let tree = tool(&toolkit, "PETS_GET_TREE");
    assert_eq!(
        tree.output_schema["properties"]["children"]["items"],
        json!({"type": "object"})
    );

    // The deprecated delete is dropped, the file upload skipped, both reported.
    assert_eq!(
        report.dropped,
        [("pets/delete".to_owned(), "deprecated".to_owned())]
    );
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(
        report.skipped[0].location,
        "/paths/~1pets~1{id}~1photo/post"
    );
    assert!(
        report.skipped[0].reason.contains("multipart"),
        "{:?}",
        report.skipped
    );
}

#[test]
fn openapi_3_store_resolves_refs_nullable_collisions_and_bodies() {
    let Imported { toolkit, report } = run("store-v3.json", "");
    // Server variables' defaults; no trailing slash; slug from the title.
    assert_eq!(toolkit.slug, "store");
    assert_eq!(toolkit.base_url, "https://eu.store.test/api");
    assert_eq!(toolkit.auth.schemes, [AuthScheme::BearerToken]);
    assert!(toolkit.auth.oauth2.is_none());

    let list = tool(&toolkit, "STORE_LIST_ORDERS");
    let http = list.http.as_ref().unwrap();
    // explode: false → one comma-joined value; the header mapped, `Accept` not an argument.
    assert!(http.query.contains(&ParamRef::Renamed {
        arg: "status".into(),
        name: None,
        join: Some(",".into())
    }));
    assert_eq!(
        http.headers.get("X-Request-Id").map(String::as_str),
        Some("X_Request_Id")
    );
    assert!(list.input_schema["properties"].get("Accept").is_none());
    assert!(list.input_schema["properties"].get("session").is_none());
    let pagination = list.pagination.as_ref().expect("pagination");
    assert_eq!(pagination.style, PaginationStyle::Cursor);
    assert_eq!(pagination.next, "meta.next_cursor");
    // nullable → type union (and null in the enum); boolean exclusiveMinimum → the bound.
    let order = &list.output_schema["properties"]["data"]["items"]["properties"];
    assert_eq!(order["note"]["type"], json!(["string", "null"]));
    assert!(order["note"].get("pattern").is_none());
    assert_eq!(order["status"]["enum"], json!(["open", "closed", null]));
    assert_eq!(order["total"]["exclusiveMinimum"], 0);
    assert!(order["total"].get("minimum").is_none());
    // Responses keep three levels: deeper objects are bare.
    assert_eq!(order["weird"], json!({"type": "object"}));

    // requestBody by $ref with a charset parameter; the read-only `id` is not an argument.
    let create = tool(&toolkit, "STORE_CREATE_ORDER");
    let props = create.input_schema["properties"].as_object().unwrap();
    assert!(!props.contains_key("id") && props.contains_key("note"));
    // `~0`/`~1` in a reference.
    assert_eq!(props["weird"]["properties"]["flag"]["type"], "boolean");

    // `{order-id}` becomes `{order_id}`; the query `order-id` beside it is `query_order_id`.
    let get = tool(&toolkit, "STORE_GET_ORDER");
    let http = get.http.as_ref().unwrap();
    assert_eq!(http.path, "/orders/{order_id}");
    assert_eq!(
        http.query,
        [ParamRef::Renamed {
            arg: "query_order_id".into(),
            name: Some("order-id".into()),
            join: None
        }]
    );
    assert_eq!(get.input_schema["required"], json!(["order_id"]));
    // No summary: the description's first sentence names it.
    assert_eq!(get.name, "Returns one order");
    // A description this short also names the request it makes.
    assert_eq!(
        get.description,
        "Returns one order. Makes the GET /orders/{order-id} request of the Store API."
    );
    // A `+json` response is JSON.
    assert_eq!(get.output_schema["required"], json!(["id"]));

    // A form requestBody and a non-object JSON body (one `body` argument).
    let update = tool(&toolkit, "STORE_UPDATE_ORDER");
    assert_eq!(
        update
            .http
            .as_ref()
            .unwrap()
            .body
            .as_ref()
            .unwrap()
            .encoding,
        BodyEncoding::Form
    );
    let notes = tool(&toolkit, "STORE_REPLACE_NOTES");
    let body = notes.http.as_ref().unwrap().body.as_ref().unwrap();
    assert_eq!(body.value.as_deref(), Some("body"));
    assert!(body.params.is_empty());
    assert_eq!(notes.input_schema["properties"]["body"]["type"], "array");
    assert_eq!(notes.input_schema["required"], json!(["order_id", "body"]));

    let reasons: Vec<(&str, &str)> = report
        .skipped
        .iter()
        .map(|s| (s.location.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "/paths/~1orders/get/parameters/5",
                "optional cookie parameter \"session\" left out"
            ),
            (
                "/paths/~1orders~1import/post",
                "multipart/form-data body (file upload)"
            ),
            (
                "/paths/~1orders~1{order-id}~1ship/post",
                "needs cookie parameter \"csrf\""
            ),
        ]
    );
}

#[test]
fn openapi_3_1_chat_keeps_type_lists_and_makes_slugs_unique() {
    let Imported { toolkit, report } = run("chat-v31.yaml", "slug: chat\n");
    assert_eq!(
        slugs(&toolkit),
        [
            "CHAT_POST_MESSAGE",
            "CHAT_CONVERSATIONS_LIST",
            "CHAT_FILES_DELETE",
            "CHAT_GET_SEARCH",
            "CHAT_USERS_LIST",
            "CHAT_USERS_LIST_2",
        ]
    );
    assert_eq!(toolkit.description, "Messages and channels.");
    // Only the authorization-code flow; the query key is noted, not placed.
    assert_eq!(toolkit.auth.schemes, [AuthScheme::Oauth2]);
    assert_eq!(
        toolkit.auth.oauth2.as_ref().unwrap().scopes,
        ["chat:write", "channels:read"]
    );
    assert!(
        report.notes.iter().any(|n| n.contains("\"key\"")),
        "{:?}",
        report.notes
    );

    let post = tool(&toolkit, "CHAT_POST_MESSAGE");
    assert_eq!(post.name, "Sends a message to a channel");
    assert!(post.description.starts_with(
        "Sends a message to a channel. Posts a message. See the formatting guide for markup."
    ));
    assert_eq!(post.tags, ["chat-messages", "chat", "openWorldHint"]);
    let props = &post.input_schema["properties"];
    assert_eq!(props["channel"]["type"], json!(["string", "null"]));
    // `oneOf: [object, null]` → a nullable object; real alternatives stay.
    assert_eq!(props["thread"]["type"], json!(["object", "null"]));
    assert_eq!(
        props["attachment"]["oneOf"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(post.input_schema["required"], json!(["channel"]));

    let list = tool(&toolkit, "CHAT_CONVERSATIONS_LIST");
    assert_eq!(
        list.pagination.as_ref().unwrap().next,
        "response_metadata.next_cursor"
    );
    let delete = tool(&toolkit, "CHAT_FILES_DELETE");
    assert_eq!(
        delete.tags,
        ["destructiveHint", "idempotentHint", "openWorldHint"]
    );
    assert_eq!(report.skipped[0].location, "/paths/~1search/head");
}

#[test]
fn the_overlay_renames_filters_and_replaces_auth() {
    let overlay = r#"
slug: chat
name: Chat Co
categories: [communication]
base_url: https://proxy.test/chat/
headers: {X-Version: "2"}
response: {ok_field: ok, error_field: error}
exclude: ["users*"]
auth:
  schemes: [OAUTH2, BEARER_TOKEN]
  oauth2:
    authorize_url: https://chat.test/authorize
    token_url: https://chat.test/token
    scopes: [chat:write]
    scope_separator: ","
    pkce: true
    identity: {path: /auth.test, field: user}
operations:
  chat.postMessage: {rename: SEND_MESSAGE, description: Posts a message as the user.}
  files.delete: {drop: true}
"#;
    let Imported { toolkit, report } = run("chat-v31.yaml", overlay);
    assert_eq!(
        slugs(&toolkit),
        [
            "CHAT_SEND_MESSAGE",
            "CHAT_CONVERSATIONS_LIST",
            "CHAT_GET_SEARCH"
        ]
    );
    assert_eq!(toolkit.name, "Chat Co");
    assert_eq!(toolkit.base_url, "https://proxy.test/chat");
    assert_eq!(
        toolkit.headers.get("X-Version").map(String::as_str),
        Some("2")
    );
    assert_eq!(toolkit.response.as_ref().unwrap().ok_field, "ok");
    assert_eq!(
        toolkit.auth.schemes,
        [AuthScheme::Oauth2, AuthScheme::BearerToken]
    );
    let oauth2 = toolkit.auth.oauth2.as_ref().unwrap();
    assert!(oauth2.pkce);
    assert_eq!(oauth2.identity.as_ref().unwrap().path, "/auth.test");
    assert_eq!(
        tool(&toolkit, "CHAT_SEND_MESSAGE").description,
        "Posts a message as the user. Makes the POST /chat.postMessage request of the Chat Co API."
    );
    assert_eq!(
        report.renamed,
        [(
            "chat.postMessage".to_owned(),
            "CHAT_SEND_MESSAGE".to_owned()
        )]
    );
    let dropped: Vec<(&str, &str)> = report
        .dropped
        .iter()
        .map(|(id, why)| (id.as_str(), why.as_str()))
        .collect();
    assert_eq!(
        dropped,
        [
            ("files.delete", "drop"),
            ("users.list", "excluded by \"users*\""),
            ("users_list", "excluded by \"users*\""),
        ]
    );

    // include by glob and tag, deprecated kept on request.
    let Imported { toolkit, .. } = run(
        "petstore-v2.yaml",
        "slug: pets\ninclude: [\"pets/delete\"]\ninclude_tags: [Pets]\ninclude_deprecated: true\n",
    );
    assert_eq!(
        slugs(&toolkit),
        [
            "PETS_LIST_PETS",
            "PETS_CREATE_PET",
            "PETS_GET_PET",
            "PETS_DELETE_PET"
        ]
    );
}

fn overlay_error(overlay: &str) -> (String, String) {
    overlay_error_on("chat-v31.yaml", overlay)
}

fn overlay_error_on(fixture_name: &str, overlay: &str) -> (String, String) {
    let overlay = Overlay::from_yaml(overlay).expect("overlay");
    match import(&Source::OpenApi(fixture(fixture_name)), &overlay) {
        Err(ImportError::Overlay { location, message }) => (location, message),
        other => panic!(
            "expected an overlay error, got {:?}",
            other.map(|i| i.report)
        ),
    }
}

#[test]
fn an_overlay_naming_what_is_not_there_is_an_error() {
    let (location, message) = overlay_error("operations:\n  chat.post: {drop: true}\n");
    assert_eq!(location, "operations.chat.post");
    assert!(message.contains("no operation"), "{message}");
    assert_eq!(overlay_error("exclude: [\"nothing*\"]\n").0, "exclude[0]");
    assert_eq!(overlay_error("include_tags: [Nope]\n").0, "include_tags[0]");
    assert_eq!(overlay_error("max_tools: 2\n").0, "max_tools");
    assert_eq!(overlay_error("slug: Chat\n").0, "slug");
    let (location, _) = overlay_error("operations:\n  chat.postMessage: {rename: send-message}\n");
    assert_eq!(location, "operations.chat.postMessage.rename");
    // OAUTH2 without an oauth2 block from the description or the overlay.
    assert_eq!(
        overlay_error_on("store-v3.json", "auth: {schemes: [OAUTH2]}\n").0,
        "auth.schemes"
    );
    // A description without an absolute server needs base_url, which must be one.
    assert_eq!(overlay_error("base_url: /relative\n").0, "base_url");
}

fn invalid(doc: Value) -> (String, String) {
    match openapi::parse(&doc.to_string()) {
        Err(ImportError::Invalid { location, message }) => (location, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn broken_documents_fail_naming_the_location() {
    let base = |paths: Value| json!({"openapi": "3.0.0", "info": {"title": "x"}, "paths": paths});
    let (location, message) = invalid(base(
        json!({"/a/{b}": {"get": {"parameters": [{"name": "b"}]}}}),
    ));
    assert_eq!(location, "/paths/~1a~1{b}/get/parameters/0");
    assert!(message.contains("`in`"), "{message}");
    let (location, message) = invalid(base(
        json!({"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/Nope"}]}}}),
    ));
    assert_eq!(location, "/paths/~1a/get/parameters/0");
    assert!(message.contains("points nowhere"), "{message}");
    assert_eq!(invalid(base(json!([]))).0, "/paths");
    let (location, _) = invalid(base(json!({"/a": {"post": {"requestBody": {"content": {
        "application/json": {"schema": {"type": "object", "properties": {"x": 5}}}
    }}}}})));
    assert_eq!(
        location,
        "/paths/~1a/post/requestBody/content/application~1json/schema/properties/x"
    );
    assert_eq!(invalid(json!({"openapi": "4.0"})).0, "/openapi");

    for text in ["{not json", "[1, 2]", "title: no version\n"] {
        assert!(
            matches!(openapi::parse(text), Err(ImportError::Unreadable { .. })),
            "{text}"
        );
    }
    // A Discovery document goes to its own front end, which refuses one without its parts.
    let discovery =
        Source::detect(r#"{"kind": "discovery#restDescription", "discoveryVersion": "v1"}"#.into());
    assert!(matches!(discovery, Source::Discovery(_)));
    assert!(import(&discovery, &Overlay::default()).is_err());
}

#[test]
fn hostile_schemas_stay_bounded() {
    // Each level references the next twice: 2^40 nodes if expanded naively.
    let mut schemas = serde_json::Map::new();
    for i in 0..40 {
        schemas.insert(
            format!("S{i}"),
            json!({"type": "object", "properties": {
                "a": {"$ref": format!("#/components/schemas/S{}", i + 1)},
                "b": {"allOf": [{"$ref": format!("#/components/schemas/S{}", i + 1)}]}
            }}),
        );
    }
    schemas.insert("S40".into(), json!({"type": "string"}));
    let doc = json!({
        "openapi": "3.0.0",
        "info": {"title": "Bomb"},
        "servers": [{"url": "https://bomb.test"}],
        "components": {"schemas": schemas},
        "paths": {"/x": {"post": {
            "operationId": "x",
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}},
            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}}
        }}}
    });
    let imported = import(&Source::OpenApi(doc.to_string()), &Overlay::default()).expect("import");
    common::assert_loads(&imported.toolkit);
    let size = serde_json::to_string(&imported.toolkit.tools[0].input_schema)
        .unwrap()
        .len();
    assert!(size < 1_000_000, "input schema of {size} bytes");
}
