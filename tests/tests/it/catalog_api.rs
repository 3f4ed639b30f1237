#![allow(clippy::unwrap_used, clippy::expect_used)]
//! CatalogService as a caller with a project API key sees it: the toolkits of `toolkits/`,
//! their tools with schemas and hints, search, filters, pagination and errors that name the
//! field.

use std::collections::BTreeSet;

use serde_json::Value;
use switchboard_proto::v1::*;
use switchboard_testkit::*;
use tonic::Code;

const TOOLKITS: [&str; 5] = ["github", "gmail", "linear", "notion", "slack"];

async fn list_toolkits(catalog: &mut Catalog, req: ListToolkitsRequest) -> ListToolkitsResponse {
    catalog.list_toolkits(req).await.unwrap().into_inner()
}

async fn list_tools(catalog: &mut Catalog, req: ListToolsRequest) -> ListToolsResponse {
    catalog.list_tools(req).await.unwrap().into_inner()
}

async fn get_toolkit(catalog: &mut Catalog, slug: &str) -> Result<Toolkit, tonic::Status> {
    catalog
        .get_toolkit(GetToolkitRequest { slug: slug.into() })
        .await
        .map(|r| r.into_inner().toolkit.expect("toolkit"))
}

async fn get_tool(catalog: &mut Catalog, slug: &str) -> Result<Tool, tonic::Status> {
    catalog
        .get_tool(GetToolRequest { slug: slug.into() })
        .await
        .map(|r| r.into_inner().tool.expect("tool"))
}

/// Every tool matching `req`, following page tokens.
async fn all_tools(catalog: &mut Catalog, mut req: ListToolsRequest) -> Vec<Tool> {
    let mut out = Vec::new();
    for _ in 0..100 {
        let page = list_tools(catalog, req.clone()).await;
        out.extend(page.tools);
        if page.next_page_token.is_empty() {
            return out;
        }
        req.page_token = page.next_page_token;
    }
    panic!("pagination does not end");
}

#[tokio::test]
async fn catalog_needs_an_api_key() {
    let stack = Stack::spawn().await;
    for key in [None, Some("sk_nope"), Some("")] {
        let mut catalog = stack.catalog(key);
        let err = catalog
            .list_toolkits(ListToolkitsRequest::default())
            .await
            .unwrap_err();
        expect_error(&err, Code::Unauthenticated);
        let err = get_toolkit(&mut catalog, "github").await.unwrap_err();
        expect_error(&err, Code::Unauthenticated);
        let err = catalog
            .list_tools(ListToolsRequest::default())
            .await
            .unwrap_err();
        expect_error(&err, Code::Unauthenticated);
        let err = get_tool(&mut catalog, "GITHUB_CREATE_ISSUE")
            .await
            .unwrap_err();
        expect_error(&err, Code::Unauthenticated);
    }
    // The admin token is not an API key.
    let admin_token = stack.config.gateway.admin_token.clone().unwrap();
    let mut catalog = stack.catalog(Some(&admin_token));
    let err = catalog
        .list_toolkits(ListToolkitsRequest::default())
        .await
        .unwrap_err();
    expect_error(&err, Code::Unauthenticated);
    stack.stop().await;
}

#[tokio::test]
async fn list_toolkits_search_and_pages() {
    let (stack, _, mut catalog) = Stack::spawn_catalog().await;

    let all = list_toolkits(&mut catalog, ListToolkitsRequest::default()).await;
    let slugs: Vec<&str> = all.toolkits.iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(slugs, TOOLKITS, "every toolkit, sorted by slug");
    assert!(all.next_page_token.is_empty());
    for toolkit in &all.toolkits {
        assert!(!toolkit.name.is_empty(), "{}", toolkit.slug);
        assert!(!toolkit.description.is_empty(), "{}", toolkit.slug);
        assert!(
            toolkit.base_url.starts_with("https://"),
            "{}: {}",
            toolkit.slug,
            toolkit.base_url
        );
        assert!(!toolkit.auth_schemes.is_empty(), "{}", toolkit.slug);
        assert!(!toolkit.is_no_auth, "{} needs credentials", toolkit.slug);
        // tool_count is the number of tools ListTools gives for the toolkit.
        let tools = all_tools(
            &mut catalog,
            ListToolsRequest {
                toolkits: vec![toolkit.slug.clone()],
                ..Default::default()
            },
        )
        .await;
        assert_eq!(toolkit.tool_count as usize, tools.len(), "{}", toolkit.slug);
    }
    let github = &all.toolkits[0];
    assert!(github.auth_schemes.contains(&"OAUTH2".to_string()));
    assert_eq!(github.base_url, "https://api.github.com");
    assert!(github.tool_count >= 12, "github has {}", github.tool_count);
    let slack = all.toolkits.iter().find(|t| t.slug == "slack").unwrap();
    assert!(slack.tool_count >= 5);
    let gmail = all.toolkits.iter().find(|t| t.slug == "gmail").unwrap();
    assert!(gmail.tool_count >= 4);

    // Search is case-insensitive over slug, name, description and categories.
    for needle in ["mail", "MAIL", " Mail "] {
        let found = list_toolkits(
            &mut catalog,
            ListToolkitsRequest {
                search: needle.into(),
                ..Default::default()
            },
        )
        .await;
        let slugs: Vec<&str> = found.toolkits.iter().map(|t| t.slug.as_str()).collect();
        assert!(
            slugs.contains(&"gmail"),
            "{needle:?} finds gmail: {slugs:?}"
        );
        assert!(!slugs.contains(&"github"), "{needle:?}: {slugs:?}");
        for t in &found.toolkits {
            let text = format!(
                "{} {} {} {}",
                t.slug,
                t.name,
                t.description,
                t.categories.join(" ")
            )
            .to_lowercase();
            assert!(text.contains("mail"), "{} does not match", t.slug);
        }
    }
    let none = list_toolkits(
        &mut catalog,
        ListToolkitsRequest {
            search: "no-such-toolkit-anywhere".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(none.toolkits.is_empty());
    assert!(none.next_page_token.is_empty());

    // Page size 2 lists every toolkit exactly once, in order, over three pages.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list_toolkits(
            &mut catalog,
            ListToolkitsRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await;
        pages += 1;
        assert!(page.toolkits.len() <= 2);
        seen.extend(page.toolkits.into_iter().map(|t| t.slug));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, TOOLKITS);
    assert_eq!(pages, 3);

    // Bad paging input names the field.
    let err = catalog
        .list_toolkits(ListToolkitsRequest {
            page_size: -5,
            ..Default::default()
        })
        .await
        .unwrap_err();
    let (_, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!(field, "page_size");
    let err = catalog
        .list_toolkits(ListToolkitsRequest {
            page_token: "garbage!".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let (_, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!(field, "page_token");
    stack.stop().await;
}

#[tokio::test]
async fn get_toolkit_found_unknown_and_empty() {
    let (stack, _, mut catalog) = Stack::spawn_catalog().await;

    let listed = list_toolkits(&mut catalog, ListToolkitsRequest::default()).await;
    for slug in TOOLKITS {
        let got = get_toolkit(&mut catalog, slug).await.unwrap();
        let in_list = listed.toolkits.iter().find(|t| t.slug == slug).unwrap();
        assert_eq!(&got, in_list, "get and list agree on {slug}");
    }

    for slug in ["nope", "GITHUB", "git"] {
        let err = get_toolkit(&mut catalog, slug).await.unwrap_err();
        let (reason, _) = expect_error(&err, Code::NotFound);
        assert_eq!(reason, "TOOLKIT_NOT_FOUND", "slug {slug:?}");
    }
    let err = get_toolkit(&mut catalog, "").await.unwrap_err();
    let (_, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!(field, "slug");
    stack.stop().await;
}

#[tokio::test]
async fn list_tools_by_toolkit_tags_and_text() {
    let (stack, _, mut catalog) = Stack::spawn_catalog().await;

    let everything = all_tools(&mut catalog, ListToolsRequest::default()).await;
    let all_slugs: BTreeSet<String> = tool_slugs(&everything).into_iter().collect();
    assert_eq!(all_slugs.len(), everything.len(), "no tool listed twice");
    assert!(everything.len() >= 25, "{} tools", everything.len());
    for tool in &everything {
        assert!(!tool.is_meta, "{} is a catalog tool", tool.slug);
        assert!(
            tool.slug
                .starts_with(&format!("{}_", tool.toolkit.to_uppercase())),
            "{} belongs to {}",
            tool.slug,
            tool.toolkit
        );
        assert!(tool.input_schema.is_some(), "{}", tool.slug);
        assert!(tool.output_schema.is_some(), "{}", tool.slug);
        assert!(tool.hints.is_some(), "{}", tool.slug);
    }

    // By toolkit.
    let slack = all_tools(
        &mut catalog,
        ListToolsRequest {
            toolkits: vec!["slack".into()],
            ..Default::default()
        },
    )
    .await;
    assert!(slack.len() >= 5);
    assert!(slack.iter().all(|t| t.toolkit == "slack"));
    assert!(tool_slugs(&slack).contains(&"SLACK_SEND_MESSAGE".to_string()));
    let two = all_tools(
        &mut catalog,
        ListToolsRequest {
            toolkits: vec!["notion".into(), "linear".into()],
            ..Default::default()
        },
    )
    .await;
    let kits: BTreeSet<&str> = two.iter().map(|t| t.toolkit.as_str()).collect();
    assert_eq!(kits, BTreeSet::from(["linear", "notion"]));

    // By tags: every listed tag must match.
    let read_only = all_tools(
        &mut catalog,
        ListToolsRequest {
            tags: vec!["readOnlyHint".into()],
            ..Default::default()
        },
    )
    .await;
    assert!(!read_only.is_empty());
    assert!(read_only.len() < everything.len());
    for tool in &read_only {
        assert!(
            tool.tags.contains(&"readOnlyHint".to_string()),
            "{}",
            tool.slug
        );
        let hints = tool.hints.as_ref().unwrap();
        assert!(hints.read_only && !hints.destructive, "{}", tool.slug);
    }
    let read_only_slugs = tool_slugs(&read_only);
    assert!(read_only_slugs.contains(&"GITHUB_GET_ISSUE".to_string()));
    assert!(!read_only_slugs.contains(&"GITHUB_CREATE_ISSUE".to_string()));
    // Every read-only tool of the full list is in the filtered one.
    let expected: Vec<String> = everything
        .iter()
        .filter(|t| t.tags.contains(&"readOnlyHint".to_string()))
        .map(|t| t.slug.clone())
        .collect();
    assert_eq!(read_only_slugs, expected);

    let both = all_tools(
        &mut catalog,
        ListToolsRequest {
            tags: vec!["issues".into(), "readOnlyHint".into()],
            ..Default::default()
        },
    )
    .await;
    let both_slugs = tool_slugs(&both);
    assert!(both_slugs.contains(&"GITHUB_GET_ISSUE".to_string()));
    assert!(both_slugs.contains(&"LINEAR_LIST_ISSUES".to_string()));
    assert!(!both_slugs.contains(&"GITHUB_CREATE_ISSUE".to_string()));
    assert!(!both_slugs.contains(&"SLACK_LIST_USERS".to_string()));
    for tool in &both {
        assert!(tool.tags.contains(&"issues".to_string()), "{}", tool.slug);
        assert!(
            tool.tags.contains(&"readOnlyHint".to_string()),
            "{}",
            tool.slug
        );
    }
    let no_such_tag = all_tools(
        &mut catalog,
        ListToolsRequest {
            tags: vec!["readOnlyHint".into(), "no-such-tag".into()],
            ..Default::default()
        },
    )
    .await;
    assert!(no_such_tag.is_empty());

    // By toolkit and tag together.
    let github_ro = all_tools(
        &mut catalog,
        ListToolsRequest {
            toolkits: vec!["github".into()],
            tags: vec!["readOnlyHint".into()],
            ..Default::default()
        },
    )
    .await;
    assert!(!github_ro.is_empty());
    assert!(github_ro
        .iter()
        .all(|t| t.toolkit == "github" && t.hints.as_ref().unwrap().read_only));

    // By text, case-insensitive, over slug, name, description and tags.
    for needle in ["issue", "ISSUE"] {
        let found = all_tools(
            &mut catalog,
            ListToolsRequest {
                search: needle.into(),
                ..Default::default()
            },
        )
        .await;
        let slugs = tool_slugs(&found);
        for expected in [
            "GITHUB_CREATE_ISSUE",
            "GITHUB_GET_ISSUE",
            "LINEAR_CREATE_ISSUE",
        ] {
            assert!(
                slugs.contains(&expected.to_string()),
                "{needle:?}: {slugs:?}"
            );
        }
        assert!(!slugs.contains(&"SLACK_ADD_REACTION".to_string()));
        for t in &found {
            let text = format!(
                "{} {} {} {}",
                t.slug,
                t.name,
                t.description,
                t.tags.join(" ")
            )
            .to_lowercase();
            assert!(text.contains("issue"), "{} does not match", t.slug);
        }
    }

    // Unknown toolkit names the index of the bad entry.
    let err = catalog
        .list_tools(ListToolsRequest {
            toolkits: vec!["nope".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    let (reason, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!(field, "toolkits[0]");
    assert_eq!(reason, "UNKNOWN_TOOLKIT");
    let err = catalog
        .list_tools(ListToolsRequest {
            toolkits: vec!["github".into(), "nope".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    let (_, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!(field, "toolkits[1]");
    stack.stop().await;
}

#[tokio::test]
async fn list_tools_pages_cover_every_tool_once() {
    let (stack, _, mut catalog) = Stack::spawn_catalog().await;

    let one_page = list_tools(
        &mut catalog,
        ListToolsRequest {
            page_size: 500,
            ..Default::default()
        },
    )
    .await;
    assert!(one_page.next_page_token.is_empty());
    let expected = tool_slugs(&one_page.tools);

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list_tools(
            &mut catalog,
            ListToolsRequest {
                page_size: 4,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await;
        pages += 1;
        assert!(page.tools.len() <= 4);
        assert!(!page.tools.is_empty(), "no empty pages");
        seen.extend(tool_slugs(&page.tools));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages < 100, "pagination does not end");
    }
    assert_eq!(seen, expected, "pages concatenate to the full list");
    assert_eq!(pages, expected.len().div_ceil(4));
    stack.stop().await;
}

#[tokio::test]
async fn get_tool_has_schema_and_hints() {
    let (stack, _, mut catalog) = Stack::spawn_catalog().await;

    let tool = get_tool(&mut catalog, "GITHUB_CREATE_ISSUE").await.unwrap();
    assert_eq!(tool.slug, "GITHUB_CREATE_ISSUE");
    assert_eq!(tool.toolkit, "github");
    assert!(!tool.name.is_empty());
    assert!(tool.description.len() > 20, "an honest description");
    assert!(!tool.version.is_empty());
    assert!(!tool.is_meta);
    let schema = switchboard_proto::struct_to_json(tool.input_schema.as_ref().unwrap());
    assert_eq!(schema["type"], "object");
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, BTreeSet::from(["owner", "repo", "title"]));
    let props = schema["properties"].as_object().unwrap();
    for name in ["owner", "repo", "title", "body", "labels"] {
        assert!(props.contains_key(name), "property {name}");
    }
    assert_eq!(props["title"]["type"], "string");
    assert_eq!(props["labels"]["type"], "array");
    let output = switchboard_proto::struct_to_json(tool.output_schema.as_ref().unwrap());
    assert_eq!(output["type"], "object");
    assert!(output["properties"]["number"].is_object());
    // Creating an issue changes the world, is not read-only, not idempotent, not destructive.
    assert_eq!(
        tool.hints,
        Some(ToolHints {
            read_only: false,
            destructive: false,
            idempotent: false,
            open_world: true,
        })
    );
    assert!(tool.tags.contains(&"openWorldHint".to_string()));
    assert!(!tool.tags.contains(&"readOnlyHint".to_string()));

    // A read-only tool says so in its hints.
    let get_issue = get_tool(&mut catalog, "GITHUB_GET_ISSUE").await.unwrap();
    let hints = get_issue.hints.unwrap();
    assert!(hints.read_only && hints.idempotent && !hints.destructive);
    let schema = switchboard_proto::struct_to_json(get_issue.input_schema.as_ref().unwrap());
    assert_eq!(schema["properties"]["issue_number"]["type"], "integer");
    assert!(schema["required"]
        .as_array()
        .unwrap()
        .contains(&Value::from("issue_number")));

    // GetTool and ListTools agree.
    let listed = list_tools(
        &mut catalog,
        ListToolsRequest {
            toolkits: vec!["github".into()],
            page_size: 500,
            ..Default::default()
        },
    )
    .await;
    let in_list = listed
        .tools
        .iter()
        .find(|t| t.slug == "GITHUB_CREATE_ISSUE")
        .unwrap();
    assert_eq!(in_list, &tool);

    for slug in ["GITHUB_NOPE", "github_create_issue", "CREATE_ISSUE"] {
        let err = get_tool(&mut catalog, slug).await.unwrap_err();
        let (reason, _) = expect_error(&err, Code::NotFound);
        assert_eq!(reason, "TOOL_NOT_FOUND", "slug {slug:?}");
    }
    let err = get_tool(&mut catalog, "").await.unwrap_err();
    let (_, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!(field, "slug");
    stack.stop().await;
}

#[tokio::test]
async fn base_url_override_shows_in_the_catalog() {
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), "http://127.0.0.1:9".into());
    let stack = Stack::spawn_with(config).await;
    let p = stack.project().await;
    let mut catalog = stack.catalog(Some(&p.api_key));
    let github = get_toolkit(&mut catalog, "github").await.unwrap();
    assert_eq!(github.base_url, "http://127.0.0.1:9");
    let listed = list_toolkits(&mut catalog, ListToolkitsRequest::default()).await;
    let in_list = listed.toolkits.iter().find(|t| t.slug == "github").unwrap();
    assert_eq!(in_list.base_url, "http://127.0.0.1:9");
    // Other toolkits keep their own.
    let slack = listed.toolkits.iter().find(|t| t.slug == "slack").unwrap();
    assert!(
        slack.base_url.starts_with("https://slack.com"),
        "{}",
        slack.base_url
    );
    stack.stop().await;
}
