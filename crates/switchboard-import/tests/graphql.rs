//! The GraphQL front end on a Linear-like SDL subset (`fixtures/linear-mini.graphql`) and a
//! curated operations list (`fixtures/linear-mini.operations.yaml`), and on broken variants.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use switchboard_catalog::spec::PaginationStyle;
use switchboard_import::graphql;
use switchboard_import::ir::{ApiModel, AuthInfo, BodyEncoding, Operation};
use switchboard_import::ImportError;

const SDL: &str = include_str!("fixtures/linear-mini.graphql");
const OPS: &str = include_str!("fixtures/linear-mini.operations.yaml");

fn model() -> ApiModel {
    graphql::parse(SDL, OPS).expect("the fixture imports")
}

fn op<'a>(m: &'a ApiModel, id: &str) -> &'a Operation {
    m.operations
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no operation {id}"))
}

fn invalid(sdl: &str, ops: &str) -> (String, String) {
    match graphql::parse(sdl, ops) {
        Err(ImportError::Invalid { location, message }) => (location, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn one_op(entry: &str) -> String {
    format!("endpoint: https://api.linear.app/graphql\noperations:\n  - {entry}\n")
}

#[test]
fn the_api_is_the_endpoint_with_its_auth() {
    let m = model();
    assert_eq!(m.title, "Linear");
    assert_eq!(m.base_url, "https://api.linear.app");
    assert_eq!(
        m.auth,
        vec![
            AuthInfo::OAuth2 {
                authorize_url: "https://linear.app/oauth/authorize".into(),
                token_url: "https://api.linear.app/oauth/token".into(),
                scopes: vec![
                    ("read".into(), String::new()),
                    ("write".into(), String::new())
                ],
            },
            AuthInfo::ApiKey {
                header: Some("Authorization".into()),
                query: None
            },
        ]
    );
    assert_eq!(m.operations.len(), 7);
    assert!(m.skipped.is_empty());
    for o in &m.operations {
        assert_eq!(o.method, "POST");
        assert_eq!(o.path, "/graphql");
        assert!(o.params.is_empty());
    }
}

#[test]
fn a_mutation_declares_its_arguments_as_variables() {
    let m = model();
    let create = op(&m, "issueCreate");
    assert_eq!(create.description, "Creates a new issue.");
    assert_eq!(create.tags, ["issues"]);
    assert_eq!(create.scopes, ["write"]);
    let body = create.body.as_ref().unwrap();
    assert_eq!(body.encoding, BodyEncoding::Json);
    assert_eq!(
        body.graphql.as_deref(),
        Some("mutation IssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id identifier title url } } }")
    );
    let s = &body.schema;
    assert_eq!(s["required"], json!(["input"]));
    let input = &s["properties"]["input"];
    assert_eq!(input["type"], "object");
    assert_eq!(
        input["required"],
        json!(["title", "teamId"]),
        "non-null without default"
    );
    let p = &input["properties"];
    assert_eq!(
        p["title"],
        json!({"type": "string", "description": "The title of the issue."})
    );
    assert_eq!(p["priority"], json!({"type": "integer", "default": 0}));
    assert_eq!(
        p["labelIds"],
        json!({"type": "array", "items": {"type": "string"}})
    );
    assert_eq!(p["dueDate"]["type"], "string");
    assert!(p["dueDate"]["description"]
        .as_str()
        .unwrap()
        .contains("date-time"));
    assert_eq!(p["oldField"]["deprecated"], json!(true));
    // IssueCreateInput.parent is IssueCreateInput again: cut.
    assert_eq!(p["parent"]["type"], "object");
    assert!(
        p["parent"].get("properties").is_none(),
        "recursion not cut: {}",
        p["parent"]
    );
    assert_eq!(
        p["parent"]["description"],
        "Filters for a parent, recursively."
    );
}

#[test]
fn a_query_with_optional_arguments_enums_defaults_and_pagination() {
    let m = model();
    let list = op(&m, "listIssues");
    assert_eq!(list.summary, "List issues");
    assert_eq!(list.description, "All issues.");
    let body = list.body.as_ref().unwrap();
    assert_eq!(
        body.graphql.as_deref(),
        Some("query ListIssues($filter: IssueFilter, $first: Int, $after: String, $orderBy: PaginationOrderBy) { issues(filter: $filter, first: $first, after: $after, orderBy: $orderBy) { nodes { id identifier title team { key } } pageInfo { hasNextPage endCursor } } }")
    );
    let s = &body.schema;
    assert!(s.get("required").is_none(), "no required argument: {s}");
    assert_eq!(
        s["properties"]["first"],
        json!({"type": "integer", "default": 50})
    );
    assert_eq!(
        s["properties"]["orderBy"]["enum"],
        json!(["createdAt", "updatedAt"])
    );
    assert_eq!(s["properties"]["orderBy"]["default"], "createdAt");
    // IssueFilter.and is [IssueFilter!]: the items are cut.
    let and = &s["properties"]["filter"]["properties"]["and"];
    assert_eq!(and["type"], "array");
    assert!(and["items"].get("properties").is_none());
    assert_eq!(
        s["properties"]["filter"]["properties"]["title"]["properties"]["in"]["type"],
        "array"
    );
    let hint = list.pagination.clone().unwrap();
    assert_eq!(hint.style, PaginationStyle::Cursor);
    assert_eq!(hint.param, "after");
    assert_eq!(hint.next, "data.issues.pageInfo.endCursor");
    // The response schema follows the selection.
    let issues = &list.response["properties"]["data"]["properties"]["issues"];
    let node = &issues["properties"]["nodes"]["items"];
    assert_eq!(
        node["properties"]["team"]["properties"]["key"],
        json!({"type": "string"})
    );
    assert!(node["properties"].get("url").is_none());
}

#[test]
fn defaults_ids_scalars_unions_and_deprecation() {
    let m = model();
    let issue = op(&m, "issue");
    assert_eq!(issue.description, "One issue by its id or identifier.");
    let body = issue.body.as_ref().unwrap();
    assert_eq!(body.schema["required"], json!(["id"]));
    let fields = &issue.response["properties"]["data"]["properties"]["issue"]["properties"];
    assert_eq!(fields["data"], json!({}), "JSON scalars are unconstrained");

    let search = op(&m, "search");
    assert_eq!(
        search.body.as_ref().unwrap().graphql.as_deref(),
        Some("query Search($term: String!) { search(term: $term) { __typename ... on Issue { identifier } ... on Comment { body } } }")
    );
    let count = op(&m, "issueCount");
    assert_eq!(
        count.body.as_ref().unwrap().graphql.as_deref(),
        Some("query IssueCount { issueCount }")
    );
    assert_eq!(
        count.body.as_ref().unwrap().schema,
        json!({"type": "object", "properties": {}})
    );
    assert!(op(&m, "oldIssues").deprecated);
    assert!(!count.deprecated);
    // `extend type Query` added a field.
    assert!(op(&m, "teams")
        .body
        .as_ref()
        .unwrap()
        .graphql
        .as_deref()
        .unwrap()
        .contains("teams(first: $first)"));
}

#[test]
fn unknown_fields_and_selections_name_the_operation() {
    let (location, message) = invalid(
        SDL,
        &one_op("{kind: mutation, field: issueDelete, select: success}"),
    );
    assert_eq!(location, "operations[0].field");
    assert!(message.contains("issueDelete"), "{message}");

    let (location, message) = invalid(
        SDL,
        &one_op("{kind: query, field: issue, select: \"id nope\"}"),
    );
    assert_eq!(location, "operations[0].select");
    assert!(message.contains("Issue has no field \"nope\""), "{message}");

    let (location, message) = invalid(
        SDL,
        &one_op("{kind: query, field: issue, select: \"team { }\"}"),
    );
    assert_eq!(location, "operations[0].select");
    assert!(message.contains("empty selection"), "{message}");

    let (location, _) = invalid(SDL, &one_op("{kind: query, field: issue}"));
    assert_eq!(
        location, "operations[0].select",
        "an object needs a selection"
    );

    let (location, _) = invalid(SDL, &one_op("{kind: query, field: issueCount, select: x}"));
    assert_eq!(location, "operations[0].select", "a scalar takes none");

    let (location, _) = invalid(SDL, &one_op("{kind: query, field: issues, select: \"nodes { id }\", pagination: {style: cursor, param: before}}"));
    assert_eq!(location, "operations[0].pagination.param");

    let twice = "endpoint: https://x.dev/graphql\noperations:\n  - {kind: query, field: issueCount}\n  - {kind: query, field: issueCount}\n";
    let (location, _) = invalid(SDL, twice);
    assert_eq!(location, "operations[1].id");
}

#[test]
fn unknown_types_in_the_sdl_name_the_argument() {
    let sdl = "type Query { a(x: Missing): Int }";
    let (location, message) = invalid(sdl, &one_op("{kind: query, field: a}"));
    assert!(location.starts_with("operations[0]"), "{location}");
    assert!(message.contains("Missing"), "{message}");

    let sdl = "type Query { a(x: Query): Int }";
    let (_, message) = invalid(sdl, &one_op("{kind: query, field: a}"));
    assert!(message.contains("output type"), "{message}");

    let (location, _) = invalid(
        "type Query { a: Int }",
        &one_op("{kind: mutation, field: a}"),
    );
    assert_eq!(location, "operations[0].kind", "no Mutation type");
}

#[test]
fn broken_sdl_names_line_and_column() {
    let (location, message) = invalid(
        "type Query {\n  a: Int\n  b Int\n}",
        &one_op("{kind: query, field: a}"),
    );
    assert_eq!(location, "sdl:3:5");
    assert!(message.contains("':'"), "{message}");
    let (location, _) = invalid(
        "type Query {\n  a: Int\n",
        &one_op("{kind: query, field: a}"),
    );
    assert!(location.starts_with("sdl:3"), "{location}");
    let (location, _) = invalid(
        "type Query { a: Int }\n\"unterminated",
        &one_op("{kind: query, field: a}"),
    );
    assert_eq!(location, "sdl:2:1");
    let (location, _) = invalid(
        "type Query { a: Int }\ntype Query { b: Int }",
        &one_op("{kind: query, field: a}"),
    );
    assert_eq!(location, "sdl:2:1");
    let deep = format!(
        "type Query {{ a: {}Int{} }}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(graphql::parse(&deep, &one_op("{kind: query, field: a}")).is_err());
}

#[test]
fn broken_operations_files_are_invalid() {
    let (location, _) = invalid(
        SDL,
        "endpoint: https://x.dev/graphql\noperations:\n  - {kind: subscription, field: a}\n",
    );
    assert!(location.starts_with("operations file line 3"), "{location}");
    let (location, _) = invalid(SDL, "endpoint: ftp://x.dev/graphql\noperations: []\n");
    assert_eq!(location, "endpoint");
    let (location, _) = invalid(
        SDL,
        "endpoint: https://x.dev/graphql\nextra: 1\noperations: []\n",
    );
    assert!(location.starts_with("operations file"), "{location}");
}

#[test]
fn an_endpoint_at_the_root_posts_to_slash() {
    let m = graphql::parse(
        "type Query { a: Int }",
        "endpoint: https://gql.example.com\noperations:\n  - {kind: query, field: a}\n",
    )
    .unwrap();
    assert_eq!(m.base_url, "https://gql.example.com");
    assert_eq!(m.title, "gql.example.com");
    assert_eq!(m.operations[0].path, "/");
    assert!(m.auth.is_empty());
}
