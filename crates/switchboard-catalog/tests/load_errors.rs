#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every rule a toolkit file must follow, one broken file at a time: loading fails with an error
//! that names the file, the tool and the problem. And the real `toolkits/` directory loads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchboard_catalog::{Catalog, CatalogError, LoadOptions};

const TOOLKITS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../toolkits");

const HEADER: &str = "\
slug: demo
name: Demo
description: A demo toolkit for tests.
base_url: https://api.example.com
auth:
  schemes: [API_KEY]
tools:
";

/// A valid tool; the cases below each break one thing in a copy of it.
const GOOD_TOOL: &str = "  - slug: DEMO_GET_THING
    name: Get a thing
    description: Gets one thing by id.
    tags: [things, readOnlyHint, idempotentHint]
    input_schema:
      type: object
      properties:
        id: {type: string}
        verbose: {type: boolean}
      required: [id]
    output_schema: {type: object}
    http:
      method: GET
      path: /things/{id}
      query: [verbose]
";

/// A second valid tool with a JSON body.
const GOOD_POST: &str = "  - slug: DEMO_CREATE_THING
    name: Create a thing
    description: Creates a thing.
    tags: [things]
    input_schema:
      type: object
      properties:
        title: {type: string}
      required: [title]
    output_schema: {type: object}
    http:
      method: POST
      path: /things
      body:
        encoding: json
        params: [title]
";

fn demo(tools: &str) -> String {
    format!("{HEADER}{tools}")
}

fn load(sources: &[(&str, String)]) -> Result<Catalog, CatalogError> {
    load_with(sources, &LoadOptions::default())
}

fn load_with(sources: &[(&str, String)], options: &LoadOptions) -> Result<Catalog, CatalogError> {
    let sources: Vec<(PathBuf, String)> = sources
        .iter()
        .map(|(name, text)| (PathBuf::from(format!("toolkits/{name}")), text.clone()))
        .collect();
    Catalog::from_sources(&sources, options)
}

/// Loads `demo.yaml` with `tools` and expects a tool error naming `tool` and every one of
/// `problem`'s fragments; returns the message.
#[track_caller]
fn expect_tool_error(tools: &str, tool: &str, problem: &[&str]) -> String {
    let err = load(&[("demo.yaml", demo(tools))]).expect_err("the file must be refused");
    let message = err.to_string();
    match &err {
        CatalogError::Tool {
            file,
            tool: named,
            problem: text,
        } => {
            assert_eq!(file, Path::new("toolkits/demo.yaml"), "{message}");
            assert_eq!(named, tool, "{message}");
            for fragment in problem {
                assert!(
                    text.contains(fragment),
                    "problem {text:?} lacks {fragment:?}"
                );
            }
        }
        other => panic!("expected a tool error, got {other:?}"),
    }
    assert!(message.contains("demo.yaml"), "{message}");
    assert!(message.contains(tool), "{message}");
    message
}

#[test]
fn the_good_demo_file_loads() {
    // Every failing case below is a one-line change from this file.
    let catalog = load(&[("demo.yaml", demo(&format!("{GOOD_TOOL}{GOOD_POST}")))]).unwrap();
    let toolkit = catalog.toolkit("demo").unwrap();
    assert_eq!(toolkit.tools.len(), 2);
    assert_eq!(toolkit.base_url, "https://api.example.com");
    let tool = catalog.tool("DEMO_GET_THING").unwrap();
    assert_eq!(tool.toolkit, "demo");
    let hints = tool.proto.hints.as_ref().unwrap();
    assert!(hints.read_only && hints.idempotent && !hints.destructive);
    assert!(catalog.tool("DEMO_CREATE_THING").is_some());
    // The compiled validator checks arguments.
    assert!(tool
        .input_validator
        .is_valid(&serde_json::json!({"id": "1"})));
    assert!(!tool.input_validator.is_valid(&serde_json::json!({})));
}

#[test]
fn bad_tool_slugs() {
    for slug in [
        "demo_get_thing",
        "OTHER_GET_THING",
        "DEMO__GET_THING",
        "DEMO_GET_THING_",
        "DEMO_",
        "DEMO",
        "DEMO_GET-THING",
        "DEMO_Get_THING",
    ] {
        let tool = GOOD_TOOL.replace("DEMO_GET_THING", slug);
        expect_tool_error(&tool, slug, &["slug must be DEMO_{ACTION}"]);
    }
}

#[test]
fn duplicate_slug_in_one_file_and_across_files() {
    let twice = format!("{GOOD_TOOL}{GOOD_TOOL}");
    expect_tool_error(&twice, "DEMO_GET_THING", &["declared twice"]);

    // `DEMO_X_GET` is a valid slug in both `demo` and `demo_x`.
    let shared = GOOD_TOOL.replace("DEMO_GET_THING", "DEMO_X_GET");
    let other = format!("{}{shared}", HEADER.replace("slug: demo", "slug: demo_x"));
    let err = load(&[("demo.yaml", demo(&shared)), ("demo_x.yaml", other)]).unwrap_err();
    match &err {
        CatalogError::Tool {
            file,
            tool,
            problem,
        } => {
            assert_eq!(file, Path::new("toolkits/demo_x.yaml"));
            assert_eq!(tool, "DEMO_X_GET");
            assert!(problem.contains("declared twice"), "{problem}");
        }
        other => panic!("expected a tool error, got {other:?}"),
    }
}

#[test]
fn invalid_json_schemas() {
    let tool = GOOD_TOOL.replace("id: {type: string}", "id: {type: 12}");
    let message = expect_tool_error(&tool, "DEMO_GET_THING", &["input_schema"]);
    assert!(message.contains("not a valid JSON Schema"), "{message}");

    let tool = GOOD_TOOL.replace("output_schema: {type: object}", "output_schema: {type: 12}");
    expect_tool_error(
        &tool,
        "DEMO_GET_THING",
        &["output_schema", "not a valid JSON Schema"],
    );

    let tool = GOOD_TOOL.replace(
        "verbose: {type: boolean}",
        "verbose: {type: boolean, minimum: nope}",
    );
    expect_tool_error(&tool, "DEMO_GET_THING", &["input_schema"]);
}

#[test]
fn input_schema_must_be_an_object_schema() {
    let tool = GOOD_TOOL.replace("      type: object\n", "      type: string\n");
    expect_tool_error(&tool, "DEMO_GET_THING", &["input_schema", "\"object\""]);

    let tool = GOOD_TOOL.replace("      type: object\n", "");
    expect_tool_error(&tool, "DEMO_GET_THING", &["input_schema", "\"object\""]);

    let tool = GOOD_TOOL.replace("required: [id]", "required: [id, colour]");
    expect_tool_error(&tool, "DEMO_GET_THING", &["\"colour\"", "required"]);
}

#[test]
fn path_parameters_must_be_required_properties() {
    let tool = GOOD_TOOL.replace("path: /things/{id}", "path: /things/{thing_id}");
    expect_tool_error(
        &tool,
        "DEMO_GET_THING",
        &[
            "path parameter",
            "\"thing_id\"",
            "not in input_schema.properties",
        ],
    );

    let tool = GOOD_TOOL.replace("required: [id]", "required: []");
    expect_tool_error(
        &tool,
        "DEMO_GET_THING",
        &[
            "path parameter",
            "\"id\"",
            "must be in input_schema.required",
        ],
    );

    let tool = GOOD_TOOL.replace("path: /things/{id}", "path: /things/{id");
    expect_tool_error(&tool, "DEMO_GET_THING", &["unclosed"]);

    let tool = GOOD_TOOL.replace("path: /things/{id}", "path: things/{id}");
    expect_tool_error(&tool, "DEMO_GET_THING", &["must start with '/'"]);
}

#[test]
fn every_argument_is_mapped_exactly_once() {
    let tool = GOOD_TOOL.replace("query: [verbose]", "query: [verbose, limit]");
    expect_tool_error(
        &tool,
        "DEMO_GET_THING",
        &["http.query", "\"limit\"", "not in input_schema.properties"],
    );

    let tool = GOOD_TOOL.replace("      query: [verbose]\n", "");
    expect_tool_error(
        &tool,
        "DEMO_GET_THING",
        &["\"verbose\"", "not mapped to the request"],
    );

    let tool = GOOD_TOOL.replace("query: [verbose]", "query: [verbose, id]");
    expect_tool_error(
        &tool,
        "DEMO_GET_THING",
        &["\"id\"", "mapped to the request twice"],
    );

    let tool = GOOD_POST.replace("params: [title]", "params: [title, colour]");
    expect_tool_error(
        &tool,
        "DEMO_CREATE_THING",
        &["http.body.params", "\"colour\""],
    );
}

#[test]
fn exactly_one_of_http_and_native() {
    let tool = format!("{GOOD_TOOL}    native: gmail_send_email\n");
    expect_tool_error(&tool, "DEMO_GET_THING", &["both http and native"]);

    let start = GOOD_TOOL.find("    http:").unwrap();
    let no_http = &GOOD_TOOL[..start];
    expect_tool_error(no_http, "DEMO_GET_THING", &["neither http nor native"]);

    let unknown = format!("{no_http}    native: send_fax\n");
    expect_tool_error(
        &unknown,
        "DEMO_GET_THING",
        &["native handler \"send_fax\" does not exist"],
    );

    // A known native handler is accepted.
    let known = format!("{no_http}    native: gmail_send_email\n");
    load(&[("demo.yaml", demo(&known))]).unwrap();
}

#[test]
fn unknown_field_is_refused_naming_file_tool_and_field() {
    let tool = GOOD_TOOL.replace("    description:", "    descripton:");
    let err = load(&[("demo.yaml", demo(&tool))]).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("demo.yaml"), "{message}");
    assert!(
        message.contains("DEMO_GET_THING"),
        "names the tool: {message}"
    );
    assert!(message.contains("descripton"), "names the field: {message}");

    // A typo inside the http block too.
    let tool = GOOD_POST.replace("      method: POST", "      methd: POST");
    let err = load(&[("demo.yaml", demo(&format!("{GOOD_TOOL}{tool}")))]).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("demo.yaml"), "{message}");
    assert!(
        message.contains("DEMO_CREATE_THING"),
        "names the tool: {message}"
    );
    assert!(message.contains("methd"), "names the field: {message}");

    // A tool without a slug is named by its position.
    let tool = GOOD_POST.replace("  - slug: DEMO_CREATE_THING\n    name:", "  - name:");
    let err = load(&[("demo.yaml", demo(&format!("{GOOD_TOOL}{tool}")))]).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, CatalogError::Tool { tool, .. } if tool == "tools[1]"),
        "{err:?}"
    );
    assert!(message.contains("slug"), "{message}");

    // And at toolkit level.
    let text = demo(GOOD_TOOL).replace("base_url:", "baseurl:");
    let err = load(&[("demo.yaml", text)]).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("demo.yaml"), "{message}");
    assert!(message.contains("baseurl"), "{message}");
}

#[test]
fn hint_and_topic_tags() {
    let tool = GOOD_TOOL.replace(
        "tags: [things, readOnlyHint, idempotentHint]",
        "tags: [things, readOnlyHint, destructiveHint]",
    );
    expect_tool_error(
        &tool,
        "DEMO_GET_THING",
        &["both readOnlyHint and destructiveHint"],
    );

    for bad in ["ReadOnly", "readonlyhint!", "Things", "two words", ""] {
        let tool = GOOD_TOOL.replace(
            "tags: [things, readOnlyHint, idempotentHint]",
            &format!("tags: [things, {bad:?}]"),
        );
        expect_tool_error(&tool, "DEMO_GET_THING", &["tag", "neither a hint tag"]);
    }

    let tool = GOOD_TOOL.replace(
        "tags: [things, readOnlyHint, idempotentHint]",
        "tags: [things, things]",
    );
    expect_tool_error(&tool, "DEMO_GET_THING", &["\"things\"", "listed twice"]);
}

#[test]
fn get_cannot_have_a_body() {
    let tool = GOOD_POST.replace("method: POST", "method: GET");
    expect_tool_error(
        &tool,
        "DEMO_CREATE_THING",
        &["GET request cannot have a body"],
    );
}

#[test]
fn toolkit_level_rules() {
    // File name must equal the slug.
    let err = load(&[("other.yaml", demo(GOOD_TOOL))]).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, CatalogError::Toolkit { file, .. } if file == Path::new("toolkits/other.yaml")),
        "{err:?}"
    );
    assert!(
        message.contains("\"demo\"") && message.contains("\"other\""),
        "{message}"
    );

    // Bad toolkit slug.
    let text = demo(GOOD_TOOL).replace("slug: demo\n", "slug: Demo\n");
    let err = load(&[("Demo.yaml", text)]).unwrap_err();
    assert!(matches!(err, CatalogError::Toolkit { .. }), "{err:?}");
    assert!(err.to_string().contains("\"Demo\""), "{err}");

    // No tools, no schemes, a base URL that is not HTTP.
    let err = load(&[(
        "demo.yaml",
        format!("{HEADER}  []\n").replace("tools:\n  []", "tools: []"),
    )])
    .unwrap_err();
    assert!(err.to_string().contains("at least one tool"), "{err}");
    let text = demo(GOOD_TOOL).replace("schemes: [API_KEY]", "schemes: []");
    let err = load(&[("demo.yaml", text)]).unwrap_err();
    assert!(err.to_string().contains("auth.schemes"), "{err}");
    let text = demo(GOOD_TOOL).replace("https://api.example.com", "ftp://example.com");
    let err = load(&[("demo.yaml", text)]).unwrap_err();
    assert!(err.to_string().contains("ftp://example.com"), "{err}");

    // An unknown auth scheme is a parse error naming the file and the value.
    let text = demo(GOOD_TOOL).replace("schemes: [API_KEY]", "schemes: [PASSWORD]");
    let err = load(&[("demo.yaml", text)]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("demo.yaml") && message.contains("PASSWORD"),
        "{message}"
    );

    // Not YAML at all.
    let err = load(&[("demo.yaml", "slug: [unclosed".to_string())]).unwrap_err();
    assert!(matches!(err, CatalogError::Parse { .. }), "{err:?}");
    assert!(err.to_string().contains("demo.yaml"), "{err}");
}

#[test]
fn empty_or_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("README.md"), "not a toolkit").unwrap();
    let err = Catalog::load_dir(dir.path(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, CatalogError::Empty { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "names the directory: {err}"
    );

    let missing = dir.path().join("nope");
    let err = Catalog::load_dir(&missing, &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, CatalogError::ReadDir { .. }), "{err:?}");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn load_dir_names_the_broken_file_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("demo.yaml"), demo(GOOD_TOOL)).unwrap();
    Catalog::load_dir(dir.path(), &LoadOptions::default()).unwrap();
    std::fs::write(
        dir.path().join("demo.yaml"),
        demo(&GOOD_TOOL.replace("required: [id]", "required: []")),
    )
    .unwrap();
    let err = Catalog::load_dir(dir.path(), &LoadOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().join("demo.yaml").display().to_string()),
        "{message}"
    );
    assert!(message.contains("DEMO_GET_THING"), "{message}");
}

#[test]
fn base_url_override_for_unknown_toolkit() {
    let options = LoadOptions {
        base_url_overrides: BTreeMap::from([("gitlab".to_string(), "http://127.0.0.1:9".into())]),
    };
    let err = load_with(&[("demo.yaml", demo(GOOD_TOOL))], &options).unwrap_err();
    assert!(
        matches!(&err, CatalogError::UnknownOverride { toolkit } if toolkit == "gitlab"),
        "{err:?}"
    );
    assert!(err.to_string().contains("gitlab"), "{err}");

    // An override that is not an http(s) URL is refused too.
    let options = LoadOptions {
        base_url_overrides: BTreeMap::from([("demo".to_string(), "127.0.0.1:9".into())]),
    };
    let err = load_with(&[("demo.yaml", demo(GOOD_TOOL))], &options).unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
}

#[test]
fn the_real_toolkits_load() {
    let catalog = Catalog::load_dir(Path::new(TOOLKITS_DIR), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let counts: BTreeMap<&str, usize> = catalog
        .toolkits()
        .map(|t| (t.slug.as_str(), t.tools.len()))
        .collect();
    for (slug, min) in [
        ("github", 13),
        ("slack", 5),
        ("gmail", 4),
        ("linear", 2),
        ("notion", 2),
    ] {
        let n = counts.get(slug).copied().unwrap_or(0);
        assert!(n >= min, "{slug} has {n} tools, want at least {min}");
    }
    for name in [
        "GITHUB_CREATE_ISSUE",
        "GITHUB_GET_ISSUE",
        "GITHUB_LIST_REPOSITORY_ISSUES",
        "GITHUB_UPDATE_ISSUE",
        "GITHUB_CREATE_ISSUE_COMMENT",
        "GITHUB_CREATE_PULL_REQUEST",
        "GITHUB_LIST_PULL_REQUESTS",
        "GITHUB_GET_PULL_REQUEST",
        "GITHUB_GET_REPOSITORY",
        "GITHUB_STAR_REPOSITORY",
        "GITHUB_SEARCH_ISSUES_AND_PULL_REQUESTS",
        "SLACK_SEND_MESSAGE",
        "SLACK_LIST_CONVERSATIONS",
        "SLACK_FETCH_CONVERSATION_HISTORY",
        "SLACK_ADD_REACTION",
        "SLACK_LIST_USERS",
        "GMAIL_SEND_EMAIL",
        "GMAIL_LIST_MESSAGES",
        "GMAIL_GET_MESSAGE",
        "GMAIL_CREATE_EMAIL_DRAFT",
        "LINEAR_CREATE_ISSUE",
        "LINEAR_LIST_ISSUES",
        "NOTION_SEARCH",
        "NOTION_CREATE_PAGE",
    ] {
        assert!(catalog.tool(name).is_some(), "{name} missing");
    }
    assert_eq!(
        catalog.tool_count(),
        counts.values().sum::<usize>(),
        "tool slugs are unique across toolkits"
    );
    for toolkit in catalog.toolkits() {
        assert_eq!(toolkit.proto.tool_count as usize, toolkit.tools.len());
        assert!(toolkit.base_url.starts_with("https://"), "{}", toolkit.slug);
        let mut sorted: Vec<&str> = toolkit.tools.iter().map(|t| t.slug.as_str()).collect();
        sorted.sort_unstable();
        let listed: Vec<&str> = toolkit.tools.iter().map(|t| t.slug.as_str()).collect();
        assert_eq!(listed, sorted, "{} tools sorted by slug", toolkit.slug);
        for tool in &toolkit.tools {
            let hints = tool.proto.hints.as_ref().unwrap();
            assert!(
                !(hints.read_only && hints.destructive),
                "{} is both read-only and destructive",
                tool.slug
            );
            assert!(
                hints.open_world,
                "{} calls a provider API, so it is open-world",
                tool.slug
            );
            assert!(
                tool.spec.description.len() >= 40,
                "{} needs a description an agent can choose by",
                tool.slug
            );
            assert_eq!(
                tool.spec.http.is_some(),
                tool.spec.native.is_none(),
                "{}: exactly one of http and native",
                tool.slug
            );
        }
    }
    // Gmail's send and draft need code (a raw RFC 822 message): native handlers.
    assert!(catalog
        .tool("GMAIL_SEND_EMAIL")
        .unwrap()
        .spec
        .native
        .is_some());
}

#[test]
fn override_replaces_the_base_url_of_the_real_catalog() {
    let options = LoadOptions {
        base_url_overrides: BTreeMap::from([(
            "github".to_string(),
            "http://127.0.0.1:9".to_string(),
        )]),
    };
    let catalog = Catalog::load_dir(Path::new(TOOLKITS_DIR), &options).unwrap();
    let github = catalog.toolkit("github").unwrap();
    assert_eq!(github.base_url, "http://127.0.0.1:9");
    assert_eq!(github.proto.base_url, "http://127.0.0.1:9");
    assert_eq!(
        github.spec.base_url, "https://api.github.com",
        "the file is unchanged"
    );
    let slack = catalog.toolkit("slack").unwrap();
    assert_eq!(slack.base_url, slack.spec.base_url);
    assert!(slack.base_url.starts_with("https://"));
}
