#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Every rule a toolkit file must follow, one broken file at a time: loading fails with an error
//! that names the file, the tool and the problem. And the real `toolkits/` directory loads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchboard_catalog::spec::{ClientAuth, RevokeStyle};
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
fn renamed_parameters_and_whole_bodies_are_checked_too() {
    // A renamed query parameter maps its argument; the wire name may repeat the path's.
    let tool = GOOD_TOOL.replace("query: [verbose]", "query: [{arg: verbose, name: id}]");
    assert!(load(&[("demo.yaml", demo(&tool))]).is_ok());
    let tool = GOOD_TOOL.replace("query: [verbose]", "query: [{arg: nope, name: verbose}]");
    expect_tool_error(
        &tool,
        "DEMO_GET_THING",
        &["http.query", "\"nope\"", "not in input_schema.properties"],
    );
    let tool = GOOD_TOOL.replace(
        "query: [verbose]",
        "query: [verbose, {arg: id, name: verbose}]",
    );
    expect_tool_error(
        &tool,
        "DEMO_GET_THING",
        &["\"id\"", "mapped to the request twice"],
    );
    // The whole body is one argument, never beside fields.
    let tool = GOOD_POST.replace("params: [title]", "value: title");
    assert!(load(&[("demo.yaml", demo(&tool))]).is_ok());
    let tool = GOOD_POST.replace("params: [title]", "params: [title]\n        value: title");
    expect_tool_error(&tool, "DEMO_CREATE_THING", &["both value and params"]);
    // `{+name}` is a path parameter like `{name}`.
    let tool = GOOD_TOOL.replace("/things/{id}", "/things/{+id}");
    assert!(load(&[("demo.yaml", demo(&tool))]).is_ok());
    let tool = GOOD_TOOL.replace("/things/{id}", "/things/{+other}");
    expect_tool_error(&tool, "DEMO_GET_THING", &["path parameter \"other\""]);
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

// ---------------------------------------------------------------------------------------------
// auth.oauth2

/// A valid toolkit head with an OAuth 2.0 block; each case below breaks one thing in it.
const OAUTH2_HEADER: &str = "\
slug: demo
name: Demo
description: A demo toolkit for tests.
base_url: https://api.example.com
auth:
  schemes: [OAUTH2, API_KEY]
  oauth2:
    authorize_url: https://example.com/oauth/authorize
    token_url: https://api.example.com/oauth/token
    scopes: [read, write]
    authorize_params:
      access_type: offline
    revoke:
      url: https://api.example.com/apps/{client_id}/grant
      style: github_grant
    identity:
      path: /me
      field: user.login
tools:
";

fn oauth2_demo(replace: &str, with: &str) -> String {
    assert!(
        OAUTH2_HEADER.contains(replace),
        "the header has no {replace:?} to replace"
    );
    format!("{}{GOOD_TOOL}", OAUTH2_HEADER.replacen(replace, with, 1))
}

/// Loads `demo.yaml` and expects a toolkit-level error carrying every fragment.
#[track_caller]
fn expect_toolkit_error(text: String, fragments: &[&str]) -> String {
    let err = load(&[("demo.yaml", text)]).expect_err("the file must be refused");
    let message = err.to_string();
    match &err {
        CatalogError::Toolkit { file, problem } => {
            assert_eq!(file, Path::new("toolkits/demo.yaml"), "{message}");
            for fragment in fragments {
                assert!(
                    problem.contains(fragment),
                    "problem {problem:?} lacks {fragment:?}"
                );
            }
        }
        other => panic!("expected a toolkit error, got {other:?}"),
    }
    assert!(message.contains("demo.yaml"), "{message}");
    message
}

#[test]
fn the_good_oauth2_block_loads_with_its_defaults() {
    let catalog = load(&[("demo.yaml", oauth2_demo("", ""))]).unwrap();
    let toolkit = catalog.toolkit("demo").unwrap();
    let oauth2 = toolkit.oauth2().expect("the oauth2 block");
    assert_eq!(oauth2.authorize_url, "https://example.com/oauth/authorize");
    assert_eq!(oauth2.scopes, ["read", "write"]);
    assert_eq!(
        oauth2.scope_separator, " ",
        "RFC 6749 joins scopes with a space"
    );
    assert_eq!(oauth2.client_auth, ClientAuth::ClientSecretBasic);
    assert!(
        !oauth2.pkce,
        "PKCE is off unless the provider is known to take it"
    );
    assert_eq!(
        oauth2.revoke.as_ref().unwrap().style,
        RevokeStyle::GithubGrant
    );
    assert_eq!(oauth2.identity.as_ref().unwrap().field, "user.login");

    // Plain http is fine (a local stand-in), and so is an IP host with a port.
    let text = oauth2_demo(
        "https://api.example.com/oauth/token",
        "http://127.0.0.1:8080/oauth/token",
    );
    load(&[("demo.yaml", text)]).unwrap();

    // A toolkit without OAuth needs no block (the API_KEY demo above has none).
    assert!(load(&[("demo.yaml", demo(GOOD_TOOL))])
        .unwrap()
        .toolkit("demo")
        .unwrap()
        .oauth2()
        .is_none());
}

#[test]
fn oauth2_block_present_exactly_when_the_schemes_list_oauth2() {
    let start = OAUTH2_HEADER.find("  oauth2:\n").unwrap();
    let end = OAUTH2_HEADER.find("tools:\n").unwrap();
    let without_block = format!(
        "{}{}{GOOD_TOOL}",
        &OAUTH2_HEADER[..start],
        &OAUTH2_HEADER[end..]
    );
    expect_toolkit_error(without_block, &["auth.schemes lists OAUTH2", "auth.oauth2"]);

    let text = oauth2_demo("schemes: [OAUTH2, API_KEY]", "schemes: [API_KEY]");
    expect_toolkit_error(text, &["auth.oauth2 is set", "does not list OAUTH2"]);
}

#[test]
fn oauth2_urls_are_absolute_http_urls_with_a_host() {
    for (field, good) in [
        (
            "auth.oauth2.authorize_url",
            "https://example.com/oauth/authorize",
        ),
        (
            "auth.oauth2.token_url",
            "https://api.example.com/oauth/token",
        ),
        (
            "auth.oauth2.revoke.url",
            "https://api.example.com/apps/{client_id}/grant",
        ),
    ] {
        for (bad, rule) in [
            (
                "ftp://example.com/oauth",
                "absolute http:// or https:// URL",
            ),
            ("example.com/oauth", "absolute http:// or https:// URL"),
            ("/oauth/token", "absolute http:// or https:// URL"),
            (
                "HTTPS://example.com/oauth",
                "absolute http:// or https:// URL",
            ),
            ("https://user:secret@example.com/oauth", "userinfo"),
            ("https://example.com/oauth#top", "fragment"),
            ("https:///oauth", "must name a host"),
            ("https://:443/oauth", "must name a host"),
            ("https://example.com:http/oauth", "must name a host"),
            ("https://exa_mple.com/oauth", "must name a host"),
            ("'https://example.com/o auth'", "whitespace"),
        ] {
            let message = expect_toolkit_error(oauth2_demo(good, bad), &[field, rule]);
            let shown = bad.trim_matches('\'');
            assert!(
                message.contains(shown),
                "names the value {shown}: {message}"
            );
        }
    }
}

#[test]
fn only_the_revoke_url_may_carry_the_client_id_placeholder() {
    for (field, good) in [
        (
            "auth.oauth2.authorize_url",
            "https://example.com/oauth/authorize",
        ),
        (
            "auth.oauth2.token_url",
            "https://api.example.com/oauth/token",
        ),
    ] {
        let text = oauth2_demo(good, "https://example.com/{client_id}/oauth");
        expect_toolkit_error(text, &[field, "must not contain placeholders"]);
    }
    let text = oauth2_demo(
        "https://api.example.com/apps/{client_id}/grant",
        "https://api.example.com/apps/{app_id}/grant",
    );
    expect_toolkit_error(
        text,
        &[
            "auth.oauth2.revoke.url",
            "only use the {client_id} placeholder",
        ],
    );
    // Not in the host either.
    let text = oauth2_demo(
        "https://api.example.com/apps/{client_id}/grant",
        "https://{client_id}.example.com/grant",
    );
    expect_toolkit_error(text, &["auth.oauth2.revoke.url", "must name a host"]);
    // In the query it is fine.
    let text = oauth2_demo(
        "https://api.example.com/apps/{client_id}/grant",
        "https://api.example.com/revoke?client={client_id}",
    );
    load(&[("demo.yaml", text)]).unwrap();
}

#[test]
fn oauth2_scopes_and_separator() {
    let text = oauth2_demo("scopes: [read, write]", "scopes: [read, write, read]");
    expect_toolkit_error(text, &["auth.oauth2.scopes", "\"read\" twice"]);

    for bad in ["'read write'", "''", "\"read\\t\""] {
        let text = oauth2_demo("scopes: [read, write]", &format!("scopes: [read, {bad}]"));
        expect_toolkit_error(
            text,
            &[
                "auth.oauth2.scopes[1]",
                "non-empty and contain no whitespace",
            ],
        );
    }

    let text = oauth2_demo(
        "scopes: [read, write]",
        "scopes: ['read,write']\n    scope_separator: ','",
    );
    expect_toolkit_error(
        text,
        &["auth.oauth2.scopes[0]", "contains the scope separator"],
    );

    let text = oauth2_demo(
        "scopes: [read, write]",
        "scopes: [read]\n    scope_separator: ''",
    );
    expect_toolkit_error(text, &["auth.oauth2.scope_separator must not be empty"]);

    // No scopes at all is allowed (Notion has none).
    let text = oauth2_demo("scopes: [read, write]", "scopes: []");
    load(&[("demo.yaml", text)]).unwrap();
}

#[test]
fn authorize_params_cannot_override_what_the_platform_sets() {
    for name in switchboard_catalog::RESERVED_AUTHORIZE_PARAMS {
        let text = oauth2_demo("access_type: offline", &format!("{name}: x"));
        expect_toolkit_error(
            text,
            &[
                &format!("auth.oauth2.authorize_params.{name}"),
                "set by the platform",
            ],
        );
    }
    let text = oauth2_demo("access_type: offline", "'': x");
    expect_toolkit_error(
        text,
        &["auth.oauth2.authorize_params", "empty parameter name"],
    );
}

#[test]
fn identity_path_and_field() {
    let text = oauth2_demo("path: /me", "path: me");
    expect_toolkit_error(
        text,
        &["auth.oauth2.identity.path", "\"me\"", "start with '/'"],
    );

    let text = oauth2_demo("path: /me", "path: /users/{id}");
    expect_toolkit_error(text, &["auth.oauth2.identity.path", "placeholders"]);

    for bad in ["''", "a..b", ".login", "login.", "'user login'"] {
        let text = oauth2_demo("field: user.login", &format!("field: {bad}"));
        expect_toolkit_error(text, &["auth.oauth2.identity.field", "dotted path"]);
    }
}

#[test]
fn oauth2_typos_and_unknown_values_name_the_field() {
    let text = oauth2_demo("    scopes:", "    pkc: true\n    scopes:");
    let err = load(&[("demo.yaml", text)]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("demo.yaml") && message.contains("pkc"),
        "{message}"
    );

    let text = oauth2_demo(
        "    scopes:",
        "    client_auth: private_key_jwt\n    scopes:",
    );
    let err = load(&[("demo.yaml", text)]).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("demo.yaml") && message.contains("private_key_jwt"),
        "{message}"
    );

    let text = oauth2_demo("style: github_grant", "style: delete");
    let err = load(&[("demo.yaml", text)]).unwrap_err();
    assert!(err.to_string().contains("delete"), "{err}");
}

#[test]
fn the_real_toolkits_carry_their_providers_oauth2_flows() {
    let catalog = Catalog::load_dir(Path::new(TOOLKITS_DIR), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    for toolkit in catalog.toolkits() {
        let lists_oauth2 = toolkit
            .spec
            .auth
            .schemes
            .contains(&switchboard_catalog::spec::AuthScheme::Oauth2);
        assert_eq!(
            toolkit.oauth2().is_some(),
            lists_oauth2,
            "{}: an oauth2 block exactly when OAUTH2 is offered",
            toolkit.slug
        );
        if let Some(oauth2) = toolkit.oauth2() {
            for url in [&oauth2.authorize_url, &oauth2.token_url] {
                assert!(url.starts_with("https://"), "{}: {url}", toolkit.slug);
            }
        }
    }
    let oauth2 = |slug: &str| {
        catalog
            .toolkit(slug)
            .and_then(|t| t.oauth2())
            .unwrap_or_else(|| panic!("{slug} has an oauth2 block"))
            .clone()
    };

    let github = oauth2("github");
    assert_eq!(
        github.authorize_url,
        "https://github.com/login/oauth/authorize"
    );
    assert_eq!(
        github.token_url,
        "https://github.com/login/oauth/access_token"
    );
    assert_eq!(github.scopes, ["repo", "read:user"]);
    assert_eq!(github.scope_separator, " ");
    assert_eq!(github.client_auth, ClientAuth::ClientSecretPost);
    assert!(github.pkce);
    let revoke = github.revoke.as_ref().unwrap();
    assert_eq!(revoke.style, RevokeStyle::GithubGrant);
    assert_eq!(
        revoke.url,
        "https://api.github.com/applications/{client_id}/grant"
    );
    let identity = github.identity.as_ref().unwrap();
    assert_eq!(
        (identity.path.as_str(), identity.field.as_str()),
        ("/user", "login")
    );

    let gmail = oauth2("gmail");
    assert_eq!(
        gmail.authorize_url,
        "https://accounts.google.com/o/oauth2/v2/auth"
    );
    assert_eq!(gmail.token_url, "https://oauth2.googleapis.com/token");
    assert_eq!(gmail.authorize_params["access_type"], "offline");
    assert_eq!(gmail.authorize_params["prompt"], "consent");
    assert_eq!(gmail.authorize_params["include_granted_scopes"], "true");
    assert!(gmail.pkce);
    assert_eq!(gmail.revoke.as_ref().unwrap().style, RevokeStyle::Rfc7009);
    assert_eq!(gmail.identity.as_ref().unwrap().field, "emailAddress");

    let slack = oauth2("slack");
    assert_eq!(slack.token_url, "https://slack.com/api/oauth.v2.access");
    assert_eq!(slack.scope_separator, ",");
    assert!(slack.scopes.iter().any(|s| s == "chat:write"));
    assert_eq!(slack.client_auth, ClientAuth::ClientSecretBasic);
    assert!(!slack.pkce);
    assert_eq!(slack.revoke.as_ref().unwrap().style, RevokeStyle::Bearer);
    assert_eq!(slack.identity.as_ref().unwrap().path, "/auth.test");

    let linear = oauth2("linear");
    assert_eq!(linear.scopes, ["read", "write"]);
    assert_eq!(linear.scope_separator, ",");
    assert!(linear.pkce);
    assert!(
        linear.identity.is_none(),
        "Linear's API is GraphQL POST only"
    );

    let notion = oauth2("notion");
    assert!(notion.scopes.is_empty());
    assert_eq!(notion.authorize_params["owner"], "user");
    assert_eq!(notion.client_auth, ClientAuth::ClientSecretBasic);
    assert!(!notion.pkce);
    assert_eq!(notion.identity.as_ref().unwrap().path, "/v1/users/me");
}

// ---------------------------------------------------------------------------------------------
// triggers

/// A read-only list tool that a generic poll trigger can call: `project` is required.
const GOOD_LIST: &str = "  - slug: DEMO_LIST_THINGS
    name: List things
    description: Lists the things of a project.
    tags: [things, readOnlyHint]
    input_schema:
      type: object
      properties:
        project: {type: string}
        kind: {type: string}
      required: [project]
    output_schema:
      type: object
      properties:
        data:
          type: object
          properties:
            things:
              type: array
              items:
                type: object
                properties:
                  id: {type: string}
                  title: {type: string}
    http:
      method: GET
      path: /things
      query: [project, kind]
";

/// A valid webhook trigger; the cases below each break one thing in a copy of it.
const GOOD_WEBHOOK: &str = "  - slug: DEMO_THING_CHANGED
    name: Thing changed
    description: Fires when a thing changes.
    config_schema:
      type: object
      properties:
        project: {type: string}
      required: [project]
      additionalProperties: false
    payload_schema:
      type: object
      properties:
        action: {type: string}
    webhook:
      event: thing
      actions: [changed, renamed]
";

/// A valid generic poll trigger calling `DEMO_LIST_THINGS`.
const GOOD_POLL: &str = "  - slug: DEMO_THING_CREATED
    name: Thing created
    description: Fires for each new thing of a project.
    config_schema:
      type: object
      properties:
        project: {type: string}
        kind: {type: string}
        interval_seconds: {type: integer, minimum: 30}
      required: [project]
      additionalProperties: false
    payload_schema:
      type: object
      properties:
        id: {type: string}
    poll:
      tool: DEMO_LIST_THINGS
      items_path: data.things
      id_field: id
      interval_secs: 120
";

/// A valid native poll trigger.
const GOOD_NATIVE_POLL: &str = "  - slug: DEMO_MAIL_ARRIVED
    name: Mail arrived
    description: Fires for each new message.
    config_schema: {type: object}
    payload_schema: {type: object}
    poll:
      native: gmail_history
";

fn demo_triggers(triggers: &str) -> String {
    format!(
        "{}triggers:\n{triggers}",
        demo(&format!("{GOOD_TOOL}{GOOD_POST}{GOOD_LIST}"))
    )
}

/// Loads `demo.yaml` with `triggers` and expects a trigger error naming `trigger`, the field path
/// `field` and every one of `problem`'s fragments; returns the message.
#[track_caller]
fn expect_trigger_error(triggers: &str, trigger: &str, field: &str, problem: &[&str]) -> String {
    let err =
        load(&[("demo.yaml", demo_triggers(triggers))]).expect_err("the file must be refused");
    let message = err.to_string();
    match &err {
        CatalogError::Trigger {
            file,
            trigger: named,
            field: path,
            problem: text,
        } => {
            assert_eq!(file, Path::new("toolkits/demo.yaml"), "{message}");
            assert_eq!(named, trigger, "{message}");
            assert_eq!(path, field, "{message}");
            for fragment in problem {
                assert!(
                    text.contains(fragment),
                    "problem {text:?} lacks {fragment:?}"
                );
            }
        }
        other => panic!("expected a trigger error, got {other:?}"),
    }
    for part in ["demo.yaml", trigger, field] {
        assert!(message.contains(part), "{message} lacks {part:?}");
    }
    message
}

#[test]
fn the_good_triggers_load() {
    let text = demo_triggers(&format!("{GOOD_WEBHOOK}{GOOD_POLL}{GOOD_NATIVE_POLL}"));
    let catalog = load(&[("demo.yaml", text)]).unwrap();
    let toolkit = catalog.toolkit("demo").unwrap();
    let slugs: Vec<&str> = toolkit
        .trigger_types
        .iter()
        .map(|t| t.slug.as_str())
        .collect();
    assert_eq!(
        slugs,
        [
            "DEMO_MAIL_ARRIVED",
            "DEMO_THING_CHANGED",
            "DEMO_THING_CREATED"
        ],
        "sorted by slug"
    );
    let listed: Vec<&str> = catalog.trigger_types().map(|t| t.slug.as_str()).collect();
    assert_eq!(listed, slugs);
    let changed = catalog.trigger_type("DEMO_THING_CHANGED").unwrap();
    assert_eq!(changed.toolkit, "demo");
    assert_eq!(changed.kind(), "webhook");
    assert_eq!(
        changed.spec.webhook.as_ref().unwrap().actions,
        ["changed", "renamed"]
    );
    let created = catalog.trigger_type("DEMO_THING_CREATED").unwrap();
    assert_eq!(created.kind(), "poll");
    assert_eq!(created.to_json()["kind"], "poll");
    assert_eq!(created.spec.poll.as_ref().unwrap().interval_secs, 120);
    // Defaults: id field `id`, a minute between polls.
    let native = catalog.trigger_type("DEMO_MAIL_ARRIVED").unwrap();
    let poll = native.spec.poll.as_ref().unwrap();
    assert_eq!((poll.id_field.as_str(), poll.interval_secs), ("id", 60));
    // The compiled config validator.
    assert!(created
        .config_validator
        .is_valid(&serde_json::json!({"project": "p"})));
    assert!(!created.config_validator.is_valid(&serde_json::json!({})));
    assert!(catalog.trigger_type("DEMO_GET_THING").is_none());
    // A toolkit without triggers has none.
    let plain = load(&[("demo.yaml", demo(GOOD_TOOL))]).unwrap();
    assert!(plain.toolkit("demo").unwrap().trigger_types.is_empty());
    assert_eq!(plain.trigger_types().count(), 0);
}

#[test]
fn bad_trigger_slugs() {
    for slug in [
        "demo_thing_changed",
        "OTHER_THING_CHANGED",
        "DEMO__THING",
        "DEMO_THING_",
        "DEMO_",
        "DEMO",
        "DEMO_THING-CHANGED",
    ] {
        let trigger = GOOD_WEBHOOK.replace("DEMO_THING_CHANGED", slug);
        expect_trigger_error(
            &trigger,
            slug,
            "triggers[0].slug",
            &["must be DEMO_{EVENT}"],
        );
    }
}

#[test]
fn trigger_slugs_are_unique_among_triggers_and_tools() {
    let twice = format!("{GOOD_POLL}{GOOD_WEBHOOK}{GOOD_WEBHOOK}");
    expect_trigger_error(
        &twice,
        "DEMO_THING_CHANGED",
        "triggers[2].slug",
        &["declared twice", "already by a trigger"],
    );
    let like_a_tool = GOOD_WEBHOOK.replace("DEMO_THING_CHANGED", "DEMO_GET_THING");
    expect_trigger_error(
        &like_a_tool,
        "DEMO_GET_THING",
        "triggers[0].slug",
        &["declared twice", "already by a tool"],
    );
    // A tool of a later file cannot take a trigger's slug either.
    let trigger = GOOD_NATIVE_POLL.replace("DEMO_MAIL_ARRIVED", "DEMO_X_MAIL");
    let tool = GOOD_TOOL.replace("DEMO_GET_THING", "DEMO_X_MAIL");
    let first = format!("{}triggers:\n{trigger}", demo(GOOD_TOOL));
    let second = format!("{}{tool}", HEADER.replace("slug: demo", "slug: demo_x"));
    let err = load(&[("demo.yaml", first), ("demo_x.yaml", second)]).unwrap_err();
    assert!(
        matches!(&err, CatalogError::Tool { file, tool, problem }
            if file == Path::new("toolkits/demo_x.yaml") && tool == "DEMO_X_MAIL"
                && problem.contains("already by a trigger")),
        "{err:?}"
    );
}

#[test]
fn exactly_one_of_webhook_and_poll() {
    let both = format!("{GOOD_WEBHOOK}    poll:\n      native: gmail_history\n");
    expect_trigger_error(
        &both,
        "DEMO_THING_CHANGED",
        "triggers[0]",
        &["both webhook and poll"],
    );
    let neither = GOOD_WEBHOOK.replace(
        "    webhook:\n      event: thing\n      actions: [changed, renamed]\n",
        "",
    );
    expect_trigger_error(
        &neither,
        "DEMO_THING_CHANGED",
        "triggers[0]",
        &["neither webhook nor poll"],
    );
}

#[test]
fn trigger_names_and_schemas() {
    let nameless = GOOD_WEBHOOK.replace("name: Thing changed", "name: \" \"");
    expect_trigger_error(
        &nameless,
        "DEMO_THING_CHANGED",
        "triggers[0].name",
        &["empty"],
    );
    let undescribed = GOOD_WEBHOOK.replace(
        "description: Fires when a thing changes.",
        "description: \"\"",
    );
    expect_trigger_error(
        &undescribed,
        "DEMO_THING_CHANGED",
        "triggers[0].description",
        &["empty"],
    );

    // config_schema: an object schema, valid, its `required` naming its properties.
    let not_object = GOOD_WEBHOOK.replacen("      type: object\n", "      type: array\n", 1);
    expect_trigger_error(
        &not_object,
        "DEMO_THING_CHANGED",
        "triggers[0].config_schema",
        &["\"object\""],
    );
    let invalid = GOOD_WEBHOOK.replace("project: {type: string}", "project: {type: 12}");
    expect_trigger_error(
        &invalid,
        "DEMO_THING_CHANGED",
        "triggers[0].config_schema",
        &["not a valid JSON Schema"],
    );
    let unknown_required = GOOD_WEBHOOK.replace("required: [project]", "required: [project, repo]");
    expect_trigger_error(
        &unknown_required,
        "DEMO_THING_CHANGED",
        "triggers[0].config_schema.required",
        &["\"repo\"", "not in config_schema.properties"],
    );

    // payload_schema: valid (any type).
    let invalid = GOOD_WEBHOOK.replace("action: {type: string}", "action: {type: strng}");
    expect_trigger_error(
        &invalid,
        "DEMO_THING_CHANGED",
        "triggers[0].payload_schema",
        &["not a valid JSON Schema"],
    );
    let array_payload = GOOD_WEBHOOK.replace(
        "    payload_schema:\n      type: object\n",
        "    payload_schema:\n      type: array\n",
    );
    load(&[("demo.yaml", demo_triggers(&array_payload))]).unwrap();
}

#[test]
fn webhook_event_and_actions() {
    let empty = GOOD_WEBHOOK.replace("event: thing", "event: \"\"");
    expect_trigger_error(
        &empty,
        "DEMO_THING_CHANGED",
        "triggers[0].webhook.event",
        &["must not be empty"],
    );
    let twice = GOOD_WEBHOOK.replace("[changed, renamed]", "[changed, changed]");
    expect_trigger_error(
        &twice,
        "DEMO_THING_CHANGED",
        "triggers[0].webhook.actions[1]",
        &["twice"],
    );
    let blank = GOOD_WEBHOOK.replace("[changed, renamed]", "[changed, \"\"]");
    expect_trigger_error(
        &blank,
        "DEMO_THING_CHANGED",
        "triggers[0].webhook.actions[1]",
        &["empty"],
    );
    // No actions: every delivery of the event.
    let any = GOOD_WEBHOOK.replace("      actions: [changed, renamed]\n", "");
    load(&[("demo.yaml", demo_triggers(&any))]).unwrap();
}

#[test]
fn poll_tool_or_native() {
    let both = GOOD_POLL.replace(
        "      tool: DEMO_LIST_THINGS\n",
        "      tool: DEMO_LIST_THINGS\n      native: gmail_history\n",
    );
    expect_trigger_error(
        &both,
        "DEMO_THING_CREATED",
        "triggers[0].poll",
        &["both tool and native"],
    );
    let neither = GOOD_POLL.replace("      tool: DEMO_LIST_THINGS\n", "");
    expect_trigger_error(
        &neither,
        "DEMO_THING_CREATED",
        "triggers[0].poll",
        &["neither tool nor native"],
    );

    let unknown = GOOD_NATIVE_POLL.replace("native: gmail_history", "native: imap_idle");
    expect_trigger_error(
        &unknown,
        "DEMO_MAIL_ARRIVED",
        "triggers[0].poll.native",
        &["\"imap_idle\" does not exist", "gmail_history"],
    );
    assert_eq!(switchboard_catalog::NATIVE_POLLERS, ["gmail_history"]);

    // The tool: of this toolkit, and read-only.
    let missing = GOOD_POLL.replace("tool: DEMO_LIST_THINGS", "tool: DEMO_LIST_THINGZ");
    expect_trigger_error(
        &missing,
        "DEMO_THING_CREATED",
        "triggers[0].poll.tool",
        &["not a tool of this toolkit"],
    );
    let other_toolkit = GOOD_POLL.replace(
        "tool: DEMO_LIST_THINGS",
        "tool: GITHUB_LIST_REPOSITORY_ISSUES",
    );
    expect_trigger_error(
        &other_toolkit,
        "DEMO_THING_CREATED",
        "triggers[0].poll.tool",
        &["not a tool of this toolkit"],
    );
    let writes = GOOD_POLL.replace("tool: DEMO_LIST_THINGS", "tool: DEMO_CREATE_THING");
    expect_trigger_error(
        &writes,
        "DEMO_THING_CREATED",
        "triggers[0].poll.tool",
        &["readOnlyHint"],
    );
}

#[test]
fn poll_intervals_have_a_floor() {
    let fast = GOOD_POLL.replace("interval_secs: 120", "interval_secs: 9");
    expect_trigger_error(
        &fast,
        "DEMO_THING_CREATED",
        "triggers[0].poll.interval_secs",
        &["is 9", "at least 10"],
    );
    let ten = GOOD_POLL.replace("interval_secs: 120", "interval_secs: 10");
    load(&[("demo.yaml", demo_triggers(&ten))]).unwrap();

    // An instance's `interval_seconds` may not go below it either.
    let field = "triggers[0].config_schema.properties.interval_seconds";
    for bad in [
        "{type: integer, minimum: 1}",
        "{type: integer}",
        "{type: number, minimum: 30}",
    ] {
        let trigger = GOOD_POLL.replace("{type: integer, minimum: 30}", bad);
        expect_trigger_error(&trigger, "DEMO_THING_CREATED", field, &["at least 10"]);
    }
    let native = GOOD_NATIVE_POLL.replace(
        "config_schema: {type: object}",
        "config_schema: {type: object, properties: {interval_seconds: {type: integer, minimum: 5}}}",
    );
    expect_trigger_error(&native, "DEMO_MAIL_ARRIVED", field, &["at least 10"]);
}

#[test]
fn generic_poll_config_is_the_tools_arguments() {
    let extra = GOOD_POLL.replace(
        "        kind: {type: string}\n",
        "        colour: {type: string}\n",
    );
    expect_trigger_error(
        &extra,
        "DEMO_THING_CREATED",
        "triggers[0].config_schema.properties.colour",
        &["not an argument of DEMO_LIST_THINGS"],
    );
    let optional = GOOD_POLL.replace("      required: [project]\n", "");
    expect_trigger_error(
        &optional,
        "DEMO_THING_CREATED",
        "triggers[0].config_schema.required",
        &["\"project\"", "required argument of DEMO_LIST_THINGS"],
    );
}

#[test]
fn generic_poll_items_path_and_id_field() {
    let wrong = GOOD_POLL.replace("items_path: data.things", "items_path: data.thingz");
    expect_trigger_error(
        &wrong,
        "DEMO_THING_CREATED",
        "triggers[0].poll.items_path",
        &["no property \"thingz\""],
    );
    let not_array = GOOD_POLL.replace("items_path: data.things", "items_path: data");
    expect_trigger_error(
        &not_array,
        "DEMO_THING_CREATED",
        "triggers[0].poll.items_path",
        &["does not name an array"],
    );
    let root = GOOD_POLL.replace("items_path: data.things", "items_path: \"\"");
    expect_trigger_error(
        &root,
        "DEMO_THING_CREATED",
        "triggers[0].poll.items_path",
        &["does not name an array"],
    );
    let id = GOOD_POLL.replace("id_field: id", "id_field: uuid");
    expect_trigger_error(
        &id,
        "DEMO_THING_CREATED",
        "triggers[0].poll.id_field",
        &["\"uuid\" is not a property"],
    );
}

#[test]
fn trigger_typos_name_the_trigger_and_field() {
    let typo = GOOD_POLL.replace("interval_secs: 120", "interval_sec: 120");
    let err = load(&[("demo.yaml", demo_triggers(&format!("{GOOD_WEBHOOK}{typo}")))]).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, CatalogError::Trigger { trigger, field, .. }
            if trigger == "DEMO_THING_CREATED" && field == "triggers[1].poll"),
        "{err:?}"
    );
    assert!(
        message.contains("demo.yaml") && message.contains("interval_sec"),
        "{message}"
    );

    // Without a slug the trigger is named by its position.
    let nameless = GOOD_WEBHOOK.replace("  - slug: DEMO_THING_CHANGED\n    name:", "  - name:");
    let err = load(&[("demo.yaml", demo_triggers(&nameless))]).unwrap_err();
    assert!(
        matches!(&err, CatalogError::Trigger { trigger, .. } if trigger == "triggers[0]"),
        "{err:?}"
    );
    assert!(err.to_string().contains("slug"), "{err}");
}
