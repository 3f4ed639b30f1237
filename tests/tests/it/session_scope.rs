//! What a session may use: ListSessionToolkits (enabled toolkits, connection blocks, search,
//! connected filter, pagination) and ListSessionTools (meta tools by default, the direct view
//! after the toolkit, tool and tag filters, the preload preset). The catalog service is the
//! oracle for which tools exist and what they carry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};

use switchboard_proto::v1::*;
use switchboard_testkit::*;
use tonic::{Code, Status};

// ---- helpers ----------------------------------------------------------------------------------

struct Fixture {
    stack: Stack,
    key: String,
    s: Sessions,
}

impl Fixture {
    async fn new() -> Fixture {
        let (stack, p, s) = Stack::spawn_sessions().await;
        Fixture {
            stack,
            key: p.api_key,
            s,
        }
    }

    async fn session(&mut self, config: SessionConfig) -> Session {
        create_session(&mut self.s, "user_1", config).await
    }

    async fn toolkits(
        &mut self,
        req: ListSessionToolkitsRequest,
    ) -> Result<ListSessionToolkitsResponse, Status> {
        self.s
            .list_session_toolkits(req)
            .await
            .map(|r| r.into_inner())
    }

    /// Every toolkit row, following page tokens.
    async fn all_toolkits(&mut self, mut req: ListSessionToolkitsRequest) -> Vec<SessionToolkit> {
        let mut out = Vec::new();
        for _ in 0..100 {
            let page = self.toolkits(req.clone()).await.expect("list toolkits");
            if req.page_size > 0 {
                assert!(page.toolkits.len() <= req.page_size as usize);
            }
            out.extend(page.toolkits);
            if page.next_page_token.is_empty() {
                return out;
            }
            req.page_token = page.next_page_token;
        }
        panic!("pagination did not end");
    }

    async fn tools(
        &mut self,
        req: ListSessionToolsRequest,
    ) -> Result<ListSessionToolsResponse, Status> {
        self.s.list_session_tools(req).await.map(|r| r.into_inner())
    }

    /// Every tool listed, following page tokens, with the view each page reported.
    async fn all_tools(&mut self, mut req: ListSessionToolsRequest) -> (Vec<Tool>, ToolView) {
        let mut out = Vec::new();
        let mut view = None;
        for _ in 0..200 {
            let page = self.tools(req.clone()).await.expect("list tools");
            if req.page_size > 0 {
                assert!(page.tools.len() <= req.page_size as usize);
            }
            let this = ToolView::try_from(page.view).expect("view");
            assert_eq!(*view.get_or_insert(this), this, "one view across pages");
            out.extend(page.tools);
            if page.next_page_token.is_empty() {
                return (out, view.unwrap());
            }
            req.page_token = page.next_page_token;
        }
        panic!("pagination did not end");
    }

    async fn direct(&mut self, session: &Session) -> Vec<Tool> {
        let (tools, view) = self
            .all_tools(ListSessionToolsRequest {
                session_id: session.id.clone(),
                view: ToolView::Direct as i32,
                ..Default::default()
            })
            .await;
        assert_eq!(view, ToolView::Direct);
        tools
    }

    /// The catalog's tools of `toolkits` (all when empty) carrying every tag of `tags`.
    async fn catalog_tools(&self, toolkits: &[&str], tags: &[&str]) -> Vec<Tool> {
        let mut c = self.stack.catalog(Some(&self.key));
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let page = c
                .list_tools(ListToolsRequest {
                    toolkits: strings(toolkits),
                    tags: strings(tags),
                    search: String::new(),
                    page_size: 500,
                    page_token: token,
                })
                .await
                .expect("catalog tools")
                .into_inner();
            out.extend(page.tools);
            if page.next_page_token.is_empty() {
                return out;
            }
            token = page.next_page_token;
        }
    }

    async fn catalog_toolkit_slugs(&self) -> Vec<String> {
        catalog_toolkit_slugs(&self.stack, &self.key).await
    }

    fn meta(&self, action: &str) -> String {
        self.stack.meta_tool(action)
    }

    async fn stop(self) {
        self.stack.stop().await;
    }
}

fn toolkits_req(session: &Session) -> ListSessionToolkitsRequest {
    ListSessionToolkitsRequest {
        session_id: session.id.clone(),
        ..Default::default()
    }
}

fn tools_req(session: &Session) -> ListSessionToolsRequest {
    ListSessionToolsRequest {
        session_id: session.id.clone(),
        ..Default::default()
    }
}

fn slug_set(tools: &[Tool]) -> BTreeSet<String> {
    tools.iter().map(|t| t.slug.clone()).collect()
}

fn row_slugs(rows: &[SessionToolkit]) -> Vec<&str> {
    rows.iter().map(|r| r.slug.as_str()).collect()
}

fn schema_is_object(schema: Option<&prost_types::Struct>) -> bool {
    schema.is_some_and(|s| {
        matches!(
            s.fields.get("type").and_then(|v| v.kind.as_ref()),
            Some(prost_types::value::Kind::StringValue(t)) if t == "object"
        )
    })
}

// ---- ListSessionToolkits ----------------------------------------------------------------------

#[tokio::test]
async fn toolkits_lists_the_enabled_toolkits_with_their_connection_state() {
    let mut f = Fixture::new().await;
    let session = f
        .session(SessionConfig {
            toolkits: enable_toolkits(&["slack", "github"]),
            auth_configs: auth_configs(&[("github", "ac_github_main")]),
            ..Default::default()
        })
        .await;
    let page = f.toolkits(toolkits_req(&session)).await.unwrap();
    assert!(page.next_page_token.is_empty());
    assert_eq!(row_slugs(&page.toolkits), ["github", "slack"]);

    let github_tools = f.catalog_tools(&["github"], &[]).await.len();
    let slack_tools = f.catalog_tools(&["slack"], &[]).await.len();
    assert!(github_tools >= 12 && slack_tools >= 5);
    for row in &page.toolkits {
        assert!(row.enabled, "{}", row.slug);
        assert!(!row.is_no_auth, "{} needs auth", row.slug);
        assert!(!row.name.is_empty() && !row.description.is_empty());
        let connection = row.connection.as_ref().expect("connection block");
        assert!(!connection.is_active, "no account is connected yet");
        assert_eq!(connection.status, "NOT_CONNECTED");
        assert_eq!(connection.connected_account, None);
        let want_count = if row.slug == "github" {
            github_tools
        } else {
            slack_tools
        };
        assert_eq!(row.tool_count as usize, want_count, "{}", row.slug);
    }
    let github = &page.toolkits[0];
    assert_eq!(github.name, "GitHub");
    let auth = github
        .connection
        .as_ref()
        .unwrap()
        .auth_config
        .as_ref()
        .expect("the session's auth config shows");
    assert_eq!(auth.id, "ac_github_main");
    assert_eq!(auth.mode, "OAUTH2");
    assert_eq!(
        page.toolkits[1].connection.as_ref().unwrap().auth_config,
        None,
        "slack has no auth config in this session"
    );

    // include_disabled: the rest of the catalog, marked disabled and with no usable tools.
    let all = f
        .all_toolkits(ListSessionToolkitsRequest {
            include_disabled: true,
            ..toolkits_req(&session)
        })
        .await;
    let catalog = f.catalog_toolkit_slugs().await;
    assert_eq!(row_slugs(&all), catalog);
    for row in &all {
        let enabled = row.slug == "github" || row.slug == "slack";
        assert_eq!(row.enabled, enabled, "{}", row.slug);
        if !enabled {
            assert_eq!(row.tool_count, 0, "{}", row.slug);
        }
    }
    f.stop().await;
}

#[tokio::test]
async fn toolkits_search_connected_filter_and_pagination() {
    let mut f = Fixture::new().await;
    let everything = f.session(SessionConfig::default()).await;
    let catalog = f.catalog_toolkit_slugs().await;

    let rows = f.all_toolkits(toolkits_req(&everything)).await;
    assert_eq!(row_slugs(&rows), catalog, "no filter: every toolkit");

    for (search, want) in [
        ("git", vec!["github"]),
        ("  GIT ", vec!["github"]),
        ("Slack", vec!["slack"]),
        ("zzzz-nothing", vec![]),
    ] {
        let rows = f
            .all_toolkits(ListSessionToolkitsRequest {
                search: search.into(),
                ..toolkits_req(&everything)
            })
            .await;
        assert_eq!(row_slugs(&rows), want, "search {search:?}");
    }

    // Search only looks at the session's toolkits unless disabled ones are asked for.
    let slack_only = f.session(toolkits_config(&["slack"])).await;
    let rows = f
        .all_toolkits(ListSessionToolkitsRequest {
            search: "git".into(),
            ..toolkits_req(&slack_only)
        })
        .await;
    assert!(rows.is_empty(), "{:?}", row_slugs(&rows));
    let rows = f
        .all_toolkits(ListSessionToolkitsRequest {
            search: "git".into(),
            include_disabled: true,
            ..toolkits_req(&slack_only)
        })
        .await;
    assert_eq!(row_slugs(&rows), ["github"]);
    assert!(!rows[0].enabled);

    // No account exists yet: nothing is connected.
    let connected = f
        .all_toolkits(ListSessionToolkitsRequest {
            is_connected: Some(true),
            ..toolkits_req(&everything)
        })
        .await;
    assert!(connected.is_empty(), "{:?}", row_slugs(&connected));
    let unconnected = f
        .all_toolkits(ListSessionToolkitsRequest {
            is_connected: Some(false),
            ..toolkits_req(&everything)
        })
        .await;
    assert_eq!(row_slugs(&unconnected), catalog);

    // Page size 1: every toolkit exactly once, in order.
    let first = f
        .toolkits(ListSessionToolkitsRequest {
            page_size: 1,
            ..toolkits_req(&everything)
        })
        .await
        .unwrap();
    assert_eq!(first.toolkits.len(), 1);
    assert!(!first.next_page_token.is_empty());
    let paged = f
        .all_toolkits(ListSessionToolkitsRequest {
            page_size: 1,
            ..toolkits_req(&everything)
        })
        .await;
    assert_eq!(row_slugs(&paged), catalog);
    let paged = f
        .all_toolkits(ListSessionToolkitsRequest {
            page_size: 2,
            is_connected: Some(false),
            ..toolkits_req(&everything)
        })
        .await;
    assert_eq!(row_slugs(&paged), catalog);

    for (token, size, want_reason, want_field) in [
        ("not-a-token", 0, "INVALID_PAGE_TOKEN", "page_token"),
        ("", -5, "OUT_OF_RANGE", "page_size"),
    ] {
        let status = f
            .toolkits(ListSessionToolkitsRequest {
                page_token: token.into(),
                page_size: size,
                ..toolkits_req(&everything)
            })
            .await
            .unwrap_err();
        let (reason, field) = expect_error(&status, Code::InvalidArgument);
        assert_eq!((reason.as_str(), field.as_str()), (want_reason, want_field));
    }
    f.stop().await;
}

#[tokio::test]
async fn toolkit_tool_counts_follow_the_tool_and_tag_filters() {
    let mut f = Fixture::new().await;
    let github_read_only = f.catalog_tools(&["github"], &["readOnlyHint"]).await.len();
    let slack_read_only = f.catalog_tools(&["slack"], &["readOnlyHint"]).await.len();
    let github_issues = f.catalog_tools(&["github"], &["issues"]).await.len();
    let slack_all = f.catalog_tools(&["slack"], &[]).await.len();
    assert!(github_read_only > 0 && slack_read_only > 0 && github_issues > 0);

    let counts = |rows: Vec<SessionToolkit>| -> HashMap<String, u32> {
        rows.into_iter().map(|r| (r.slug, r.tool_count)).collect()
    };

    let session = f
        .session(SessionConfig {
            toolkits: enable_toolkits(&["github", "slack"]),
            tools: tools_map(
                "github",
                tool_filter("enable", &["GITHUB_GET_ISSUE", "GITHUB_CREATE_ISSUE"]),
            ),
            ..Default::default()
        })
        .await;
    let got = counts(f.all_toolkits(toolkits_req(&session)).await);
    assert_eq!(got["github"], 2);
    assert_eq!(got["slack"] as usize, slack_all);

    let session = f
        .session(SessionConfig {
            toolkits: enable_toolkits(&["github", "slack"]),
            tags: tag_filter(&["readOnlyHint"], &[]),
            ..Default::default()
        })
        .await;
    let got = counts(f.all_toolkits(toolkits_req(&session)).await);
    assert_eq!(got["github"] as usize, github_read_only);
    assert_eq!(got["slack"] as usize, slack_read_only);

    let session = f
        .session(SessionConfig {
            toolkits: enable_toolkits(&["github"]),
            tools: tools_map("github", tool_filter("tags", &["issues"])),
            ..Default::default()
        })
        .await;
    let got = counts(f.all_toolkits(toolkits_req(&session)).await);
    assert_eq!(got["github"] as usize, github_issues);
    f.stop().await;
}

// ---- ListSessionTools: meta view --------------------------------------------------------------

#[tokio::test]
async fn a_normal_session_lists_its_meta_tools_with_schemas() {
    let mut f = Fixture::new().await;
    let session = f.session(SessionConfig::default()).await;
    let (tools, view) = f.all_tools(tools_req(&session)).await;
    assert_eq!(view, ToolView::Meta);
    let names = tool_slugs(&tools);
    assert_eq!(
        names,
        [
            f.meta("SEARCH_TOOLS"),
            f.meta("GET_TOOL_SCHEMAS"),
            f.meta("MANAGE_CONNECTIONS"),
            f.meta("MULTI_EXECUTE_TOOL"),
        ]
    );
    assert_eq!(
        names, session.tools,
        "the session's tool list names them too"
    );
    for tool in &tools {
        assert!(tool.is_meta, "{}", tool.slug);
        assert!(!tool.description.is_empty(), "{}", tool.slug);
        assert!(
            schema_is_object(tool.input_schema.as_ref()),
            "{}",
            tool.slug
        );
        assert!(
            tool.input_schema
                .as_ref()
                .unwrap()
                .fields
                .contains_key("properties"),
            "{}",
            tool.slug
        );
        assert!(
            schema_is_object(tool.output_schema.as_ref()),
            "{}",
            tool.slug
        );
    }

    // Asking for META explicitly gives the same.
    let (explicit, view) = f
        .all_tools(ListSessionToolsRequest {
            view: ToolView::Meta as i32,
            ..tools_req(&session)
        })
        .await;
    assert_eq!(view, ToolView::Meta);
    assert_eq!(tool_slugs(&explicit), names);
    assert_eq!(explicit, tools);

    // Page sizes 1 and 3 walk the same list, in the same order, each tool once.
    for size in [1, 3] {
        let (paged, _) = f
            .all_tools(ListSessionToolsRequest {
                page_size: size,
                ..tools_req(&session)
            })
            .await;
        assert_eq!(tool_slugs(&paged), names);
        assert_eq!(paged, tools);
    }
    f.stop().await;
}

#[tokio::test]
async fn manage_connections_options_choose_the_meta_tools() {
    let mut f = Fixture::new().await;

    let off = f
        .session(SessionConfig {
            manage_connections: Some(ManageConnections {
                enable: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let (tools, _) = f.all_tools(tools_req(&off)).await;
    assert_eq!(
        tool_slugs(&tools),
        [
            f.meta("SEARCH_TOOLS"),
            f.meta("GET_TOOL_SCHEMAS"),
            f.meta("MULTI_EXECUTE_TOOL"),
        ]
    );
    assert_eq!(off.tools, tool_slugs(&tools));

    let wait = f
        .session(SessionConfig {
            manage_connections: Some(ManageConnections {
                enable_wait_for_connections: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let (tools, _) = f.all_tools(tools_req(&wait)).await;
    let listed = tool_slugs(&tools);
    assert!(listed.contains(&f.meta("MANAGE_CONNECTIONS")), "{listed:?}");
    assert!(
        listed.contains(&f.meta("WAIT_FOR_CONNECTIONS")),
        "{listed:?}"
    );
    assert_eq!(listed.len(), 5);
    assert_eq!(wait.tools, listed);
    let wait_tool = tools
        .iter()
        .find(|t| t.slug == f.meta("WAIT_FOR_CONNECTIONS"))
        .unwrap();
    assert!(wait_tool.is_meta && schema_is_object(wait_tool.input_schema.as_ref()));
    f.stop().await;
}

// ---- ListSessionTools: direct view ------------------------------------------------------------

#[tokio::test]
async fn the_direct_view_lists_the_tools_after_the_filters_with_full_schemas() {
    let mut f = Fixture::new().await;
    let session = f.session(toolkits_config(&["github", "slack"])).await;
    let direct = f.direct(&session).await;
    let catalog = f.catalog_tools(&["github", "slack"], &[]).await;
    assert_eq!(slug_set(&direct), slug_set(&catalog));
    assert_eq!(direct.len(), catalog.len(), "each tool once");
    for tool in &direct {
        assert!(!tool.is_meta, "{}", tool.slug);
        assert!(
            schema_is_object(tool.input_schema.as_ref()),
            "{}",
            tool.slug
        );
        assert!(tool.output_schema.is_some(), "{}", tool.slug);
        // The same full definition the catalog has.
        let want = catalog.iter().find(|t| t.slug == tool.slug).unwrap();
        assert_eq!(tool, want);
    }

    // The request's toolkit filter narrows the view.
    let (slack, _) = f
        .all_tools(ListSessionToolsRequest {
            view: ToolView::Direct as i32,
            toolkits: strings(&["slack"]),
            ..tools_req(&session)
        })
        .await;
    assert_eq!(
        slug_set(&slack),
        slug_set(&f.catalog_tools(&["slack"], &[]).await)
    );
    // A toolkit the session can't use gives nothing, not an error.
    let (gmail, _) = f
        .all_tools(ListSessionToolsRequest {
            view: ToolView::Direct as i32,
            toolkits: strings(&["gmail"]),
            ..tools_req(&session)
        })
        .await;
    assert!(gmail.is_empty());

    // Pagination covers every tool exactly once, in the unpaged order.
    for size in [1, 4, 5] {
        let (paged, _) = f
            .all_tools(ListSessionToolsRequest {
                view: ToolView::Direct as i32,
                page_size: size,
                ..tools_req(&session)
            })
            .await;
        assert_eq!(tool_slugs(&paged), tool_slugs(&direct), "page size {size}");
        assert_eq!(paged, direct, "page size {size}");
    }

    for (toolkits, field) in [
        (vec!["jira"], "toolkits[0]"),
        (vec!["slack", "jira"], "toolkits[1]"),
    ] {
        let status = f
            .tools(ListSessionToolsRequest {
                view: ToolView::Direct as i32,
                toolkits: strings(&toolkits),
                ..tools_req(&session)
            })
            .await
            .unwrap_err();
        let (reason, got) = expect_error(&status, Code::InvalidArgument);
        assert_eq!((reason.as_str(), got.as_str()), ("UNKNOWN_TOOLKIT", field));
    }
    let status = f
        .tools(ListSessionToolsRequest {
            view: 7,
            ..tools_req(&session)
        })
        .await
        .unwrap_err();
    assert_eq!(
        expect_error(&status, Code::InvalidArgument),
        ("INVALID_VIEW".to_owned(), "view".to_owned())
    );
    let status = f
        .tools(ListSessionToolsRequest {
            page_token: "bogus".into(),
            ..tools_req(&session)
        })
        .await
        .unwrap_err();
    assert_eq!(
        expect_error(&status, Code::InvalidArgument),
        ("INVALID_PAGE_TOKEN".to_owned(), "page_token".to_owned())
    );
    f.stop().await;
}

#[tokio::test]
async fn tool_and_tag_filters_shape_the_direct_view() {
    let mut f = Fixture::new().await;

    // Session-wide tag filter: only read-only tools, of every toolkit.
    let session = f
        .session(SessionConfig {
            tags: tag_filter(&["readOnlyHint"], &[]),
            ..Default::default()
        })
        .await;
    let direct = f.direct(&session).await;
    let read_only = f.catalog_tools(&[], &["readOnlyHint"]).await;
    assert!(!read_only.is_empty());
    assert_eq!(slug_set(&direct), slug_set(&read_only));
    for tool in &direct {
        assert!(
            tool.tags.iter().any(|t| t == "readOnlyHint"),
            "{}",
            tool.slug
        );
        assert!(tool.hints.as_ref().unwrap().read_only, "{}", tool.slug);
    }
    assert!(!slug_set(&direct).contains("GITHUB_CREATE_ISSUE"));
    assert!(slug_set(&direct).contains("GITHUB_GET_ISSUE"));

    // Disabled tags remove the tools carrying them.
    let session = f
        .session(SessionConfig {
            toolkits: enable_toolkits(&["github"]),
            tags: tag_filter(&[], &["destructiveHint"]),
            ..Default::default()
        })
        .await;
    let direct = slug_set(&f.direct(&session).await);
    let destructive = slug_set(&f.catalog_tools(&["github"], &["destructiveHint"]).await);
    let github = slug_set(&f.catalog_tools(&["github"], &[]).await);
    assert!(!destructive.is_empty());
    assert_eq!(
        direct,
        github
            .difference(&destructive)
            .cloned()
            .collect::<BTreeSet<_>>()
    );

    // A disabled tool is absent; the toolkit's other tools and other toolkits stay.
    let session = f
        .session(SessionConfig {
            toolkits: enable_toolkits(&["github", "notion"]),
            tools: tools_map("github", tool_filter("disable", &["GITHUB_CREATE_ISSUE"])),
            ..Default::default()
        })
        .await;
    let direct = slug_set(&f.direct(&session).await);
    let mut want = github.clone();
    want.remove("GITHUB_CREATE_ISSUE");
    want.extend(slug_set(&f.catalog_tools(&["notion"], &[]).await));
    assert_eq!(direct, want);

    // Per-toolkit enable list.
    let session = f
        .session(SessionConfig {
            tools: tools_map(
                "github",
                tool_filter("enable", &["GITHUB_GET_ISSUE", "GITHUB_STAR_REPOSITORY"]),
            ),
            toolkits: enable_toolkits(&["github"]),
            ..Default::default()
        })
        .await;
    assert_eq!(
        slug_set(&f.direct(&session).await),
        BTreeSet::from([
            "GITHUB_GET_ISSUE".to_owned(),
            "GITHUB_STAR_REPOSITORY".to_owned()
        ])
    );

    // Per-toolkit tags: github limited to issue tools, slack untouched.
    let session = f
        .session(SessionConfig {
            toolkits: enable_toolkits(&["github", "slack"]),
            tools: tools_map("github", tool_filter("tags", &["issues"])),
            ..Default::default()
        })
        .await;
    let direct = f.direct(&session).await;
    let mut want = slug_set(&f.catalog_tools(&["github"], &["issues"]).await);
    want.extend(slug_set(&f.catalog_tools(&["slack"], &[]).await));
    assert_eq!(slug_set(&direct), want);
    for tool in direct.iter().filter(|t| t.toolkit == "github") {
        assert!(tool.tags.iter().any(|t| t == "issues"), "{}", tool.slug);
    }
    assert!(!slug_set(&direct).contains("GITHUB_GET_REPOSITORY"));

    // Toolkits disabled by name.
    let session = f
        .session(SessionConfig {
            toolkits: Some(ToolkitFilter {
                enable: None,
                disable: slugs(&["github", "gmail"]),
            }),
            ..Default::default()
        })
        .await;
    let direct = f.direct(&session).await;
    let toolkits: BTreeSet<&str> = direct.iter().map(|t| t.toolkit.as_str()).collect();
    assert!(!toolkits.contains("github") && !toolkits.contains("gmail"));
    assert!(toolkits.contains("slack") && toolkits.contains("linear"));
    f.stop().await;
}

#[tokio::test]
async fn a_preloaded_session_lists_just_its_preloaded_tools_by_default() {
    let mut f = Fixture::new().await;
    let session = f
        .session(SessionConfig {
            preload: preload(&[
                "SLACK_SEND_MESSAGE",
                "GITHUB_GET_ISSUE",
                "GITHUB_CREATE_ISSUE",
            ]),
            ..Default::default()
        })
        .await;
    let (tools, view) = f.all_tools(tools_req(&session)).await;
    assert_eq!(view, ToolView::Direct);
    assert_eq!(
        slug_set(&tools),
        BTreeSet::from([
            "SLACK_SEND_MESSAGE".to_owned(),
            "GITHUB_GET_ISSUE".to_owned(),
            "GITHUB_CREATE_ISSUE".to_owned()
        ])
    );
    assert_eq!(tools.len(), 3);
    // Listed in the order the session gave, exactly as `session.tools`.
    assert_eq!(tool_slugs(&tools), session.tools);
    let catalog = f.catalog_tools(&[], &[]).await;
    for tool in &tools {
        assert!(!tool.is_meta);
        assert_eq!(tool, catalog.iter().find(|t| t.slug == tool.slug).unwrap());
    }

    // Paged, filtered by toolkit.
    let (paged, _) = f
        .all_tools(ListSessionToolsRequest {
            page_size: 1,
            ..tools_req(&session)
        })
        .await;
    assert_eq!(tool_slugs(&paged), tool_slugs(&tools));
    assert_eq!(paged, tools);
    let (github, _) = f
        .all_tools(ListSessionToolsRequest {
            toolkits: strings(&["github"]),
            ..tools_req(&session)
        })
        .await;
    assert_eq!(
        slug_set(&github),
        BTreeSet::from([
            "GITHUB_GET_ISSUE".to_owned(),
            "GITHUB_CREATE_ISSUE".to_owned()
        ])
    );

    // The other views stay reachable: meta tools, and everything in scope.
    let (meta, view) = f
        .all_tools(ListSessionToolsRequest {
            view: ToolView::Meta as i32,
            ..tools_req(&session)
        })
        .await;
    assert_eq!(view, ToolView::Meta);
    assert!(meta.iter().all(|t| t.is_meta));
    assert_eq!(meta[0].slug, f.meta("SEARCH_TOOLS"));
    assert_eq!(f.direct(&session).await.len(), catalog.len());

    // preload.all: every tool of the positive filter.
    let all = f
        .session(SessionConfig {
            toolkits: enable_toolkits(&["notion", "linear"]),
            preload: preload_all(),
            ..Default::default()
        })
        .await;
    let (tools, view) = f.all_tools(tools_req(&all)).await;
    assert_eq!(view, ToolView::Direct);
    assert_eq!(
        slug_set(&tools),
        slug_set(&f.catalog_tools(&["notion", "linear"], &[]).await)
    );
    assert_eq!(slug_set(&tools), all.tools.iter().cloned().collect());
    f.stop().await;
}
