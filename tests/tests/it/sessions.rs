//! SessionService: create, get, delete and list sessions; authentication; bad input (each one
//! refused with its reason and field path, nothing stored); isolation between projects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchboard_proto::v1::*;
use switchboard_testkit::*;
use tonic::{Code, Status};

// ---- helpers ----------------------------------------------------------------------------------

async fn list_page(
    s: &mut Sessions,
    user: &str,
    size: i32,
    token: &str,
) -> Result<ListSessionsResponse, Status> {
    s.list_sessions(ListSessionsRequest {
        user_id: user.to_owned(),
        page_size: size,
        page_token: token.to_owned(),
    })
    .await
    .map(|r| r.into_inner())
}

/// Every session id listed (for `user`, or all when empty), following page tokens.
async fn list_ids(s: &mut Sessions, user: &str, size: i32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = String::new();
    for _ in 0..100 {
        let page = list_page(s, user, size, &token)
            .await
            .expect("list sessions");
        if size > 0 {
            assert!(page.sessions.len() <= size as usize, "page over its size");
        }
        ids.extend(page.sessions.into_iter().map(|s| s.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        token = page.next_page_token;
    }
    panic!("pagination did not end");
}

fn meta_names(stack: &Stack, actions: &[&str]) -> Vec<String> {
    actions.iter().map(|a| stack.meta_tool(a)).collect()
}

fn warning_codes(warnings: &[Warning]) -> Vec<(&str, &str)> {
    warnings
        .iter()
        .map(|w| (w.code.as_str(), w.field.as_str()))
        .collect()
}

// ---- create and get ---------------------------------------------------------------------------

#[tokio::test]
async fn create_returns_a_new_id_every_time_and_get_returns_the_same_session() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;
    let config = toolkits_config(&["github", "slack"]);

    let a = create_session(&mut s, "user_1", config.clone()).await;
    let b = create_session(&mut s, "user_1", config.clone()).await;
    assert!(a.id.starts_with("ses_"), "id {:?}", a.id);
    assert!(b.id.starts_with("ses_"), "id {:?}", b.id);
    assert_ne!(a.id, b.id, "identical configs still get new ids");

    for created in [&a, &b] {
        assert_eq!(created.user_id, "user_1");
        assert_eq!(created.config_version, 1);
        assert_eq!(created.config.as_ref(), Some(&config));
        let mcp = created.mcp.as_ref().expect("mcp block");
        assert_eq!(mcp.r#type, "http");
        assert_eq!(
            mcp.url,
            format!("http://{}/mcp/{}", stack.http_addr, created.id)
        );
        assert_eq!(
            created.tools,
            meta_names(
                &stack,
                &[
                    "SEARCH_TOOLS",
                    "GET_TOOL_SCHEMAS",
                    "MANAGE_CONNECTIONS",
                    "MULTI_EXECUTE_TOOL"
                ]
            )
        );
        let (created_at, updated_at) = (created.create_time.unwrap(), created.update_time.unwrap());
        assert!(created_at.seconds > 1_600_000_000, "create_time is set");
        assert_eq!(created_at, updated_at);

        // The "use" call returns exactly what create returned.
        let got = get_session(&mut s, &created.id).await.unwrap();
        assert_eq!(&got, created);
    }
    stack.stop().await;
}

#[tokio::test]
async fn create_returns_the_normalised_config() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;
    let given = SessionConfig {
        // Duplicates are dropped, the first occurrence's order kept.
        toolkits: enable_toolkits(&["slack", "github", "slack"]),
        manage_connections: Some(ManageConnections {
            enable: None,
            callback_url: "https://app.example.com/connected".into(),
            enable_connection_removal: None,
            enable_wait_for_connections: None,
        }),
        multi_account: Some(MultiAccount {
            enable: true,
            max_accounts_per_toolkit: None,
            require_explicit_selection: false,
        }),
        workbench: Some(Workbench {
            enable: false,
            auto_offload_threshold: None,
        }),
        connected_accounts: accounts("github", &["ca_work", "ca_home", "ca_work"]),
        ..Default::default()
    };
    let created = create(&mut s, "user_1", given).await;
    let session = created.session.unwrap();
    let config = session.config.clone().unwrap();
    assert_eq!(config.toolkits, enable_toolkits(&["slack", "github"]));
    assert_eq!(
        config.manage_connections,
        Some(ManageConnections {
            enable: Some(true),
            callback_url: "https://app.example.com/connected".into(),
            enable_connection_removal: Some(true),
            enable_wait_for_connections: Some(false),
        })
    );
    assert_eq!(
        config.multi_account,
        Some(MultiAccount {
            enable: true,
            max_accounts_per_toolkit: Some(5),
            require_explicit_selection: false,
        })
    );
    assert_eq!(
        config.workbench,
        Some(Workbench {
            enable: false,
            auto_offload_threshold: Some(20_000),
        })
    );
    assert_eq!(
        config.connected_accounts,
        accounts("github", &["ca_work", "ca_home"])
    );
    assert!(created.warnings.is_empty(), "{:?}", created.warnings);
    // The normalised config is what is stored.
    assert_eq!(get_session(&mut s, &session.id).await.unwrap(), session);
    stack.stop().await;
}

#[tokio::test]
async fn create_lists_preloaded_tools_instead_of_meta_tools() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;

    let listed = create_session(
        &mut s,
        "user_1",
        SessionConfig {
            preload: preload(&["SLACK_SEND_MESSAGE", "GITHUB_GET_ISSUE"]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        listed.tools,
        strings(&["SLACK_SEND_MESSAGE", "GITHUB_GET_ISSUE"])
    );

    let all = create_session(
        &mut s,
        "user_1",
        SessionConfig {
            toolkits: enable_toolkits(&["linear"]),
            preload: preload_all(),
            ..Default::default()
        },
    )
    .await;
    let mut tools = all.tools.clone();
    tools.sort();
    assert_eq!(
        tools,
        strings(&["LINEAR_CREATE_ISSUE", "LINEAR_LIST_ISSUES"])
    );
    assert_eq!(get_session(&mut s, &all.id).await.unwrap().tools, all.tools);
    stack.stop().await;
}

#[tokio::test]
async fn create_warns_about_what_will_not_work() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;

    let plain = create(&mut s, "user_1", SessionConfig::default()).await;
    assert!(plain.warnings.is_empty(), "{:?}", plain.warnings);

    let workbench = create(
        &mut s,
        "user_1",
        SessionConfig {
            workbench: Some(Workbench {
                enable: true,
                auto_offload_threshold: None,
            }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        warning_codes(&workbench.warnings),
        [("WORKBENCH_UNAVAILABLE", "config.workbench.enable")]
    );
    assert!(workbench.warnings[0].message.len() > 10);

    let none = create(&mut s, "user_1", toolkits_config(&[])).await;
    assert_eq!(warning_codes(&none.warnings), [("NO_TOOLS", "config")]);
    // An empty enable list is kept as "none", not dropped to "all".
    assert_eq!(
        none.session.unwrap().config.unwrap().toolkits,
        enable_toolkits(&[])
    );

    let filtered_out = create(
        &mut s,
        "user_1",
        SessionConfig {
            toolkits: enable_toolkits(&["slack"]),
            tools: tools_map("github", tool_filter("enable", &["GITHUB_GET_ISSUE"])),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        warning_codes(&filtered_out.warnings),
        [("FILTER_FOR_DISABLED_TOOLKIT", "config.tools.github")]
    );

    let empty_toolkit = create(
        &mut s,
        "user_1",
        SessionConfig {
            toolkits: enable_toolkits(&["github", "slack"]),
            tools: tools_map("github", tool_filter("enable", &[])),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        warning_codes(&empty_toolkit.warnings),
        [("TOOLKIT_HAS_NO_TOOLS", "config.tools.github")]
    );
    stack.stop().await;
}

#[tokio::test]
async fn user_id_bounds() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;
    for user in [
        "x".repeat(256),
        "é".repeat(128), // 256 bytes
        "user with spaces".to_owned(),
        "550e8400-e29b-41d4-a716-446655440000".to_owned(),
        "{braces}:and:colons*".to_owned(),
    ] {
        let session = create_session(&mut s, &user, SessionConfig::default()).await;
        assert_eq!(session.user_id, user);
        assert_eq!(
            get_session(&mut s, &session.id).await.unwrap().user_id,
            user
        );
        assert_eq!(list_ids(&mut s, &user, 0).await, [session.id]);
    }
    stack.stop().await;
}

// ---- bad input --------------------------------------------------------------------------------

struct Bad {
    what: &'static str,
    user: String,
    config: SessionConfig,
    reason: &'static str,
    field: &'static str,
}

fn bad(
    what: &'static str,
    config: SessionConfig,
    reason: &'static str,
    field: &'static str,
) -> Bad {
    Bad {
        what,
        user: "user_1".into(),
        config,
        reason,
        field,
    }
}

fn bad_user(what: &'static str, user: String) -> Bad {
    Bad {
        what,
        user,
        config: SessionConfig::default(),
        reason: "INVALID_USER_ID",
        field: "user_id",
    }
}

fn bad_inputs() -> Vec<Bad> {
    let cfg = SessionConfig::default;
    let multi = |max: u32| MultiAccount {
        enable: true,
        max_accounts_per_toolkit: Some(max),
        require_explicit_selection: false,
    };
    let callback = |url: &str| SessionConfig {
        manage_connections: Some(ManageConnections {
            callback_url: url.into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        bad_user("empty user id", String::new()),
        bad_user("257-byte user id", "x".repeat(257)),
        bad_user(
            "257-byte multibyte user id",
            format!("{}x", "é".repeat(128)),
        ),
        bad_user("newline in user id", "a\nb".into()),
        bad_user("bell in user id", "\u{7}".into()),
        bad_user("DEL in user id", "user\u{7f}".into()),
        bad(
            "unknown toolkit in enable",
            SessionConfig {
                toolkits: enable_toolkits(&["github", "jira"]),
                ..cfg()
            },
            "UNKNOWN_TOOLKIT",
            "config.toolkits.enable[1]",
        ),
        bad(
            "unknown toolkit in disable",
            SessionConfig {
                toolkits: Some(ToolkitFilter {
                    enable: None,
                    disable: slugs(&["jira"]),
                }),
                ..cfg()
            },
            "UNKNOWN_TOOLKIT",
            "config.toolkits.disable[0]",
        ),
        bad(
            "toolkits enable and disable together",
            SessionConfig {
                toolkits: Some(ToolkitFilter {
                    enable: slugs(&["github"]),
                    disable: slugs(&["slack"]),
                }),
                ..cfg()
            },
            "CONFLICTING_FILTER",
            "config.toolkits",
        ),
        bad(
            "toolkits filter with neither enable nor disable",
            SessionConfig {
                toolkits: Some(ToolkitFilter::default()),
                ..cfg()
            },
            "MISSING_FILTER",
            "config.toolkits",
        ),
        bad(
            "unknown tool slug",
            SessionConfig {
                tools: tools_map(
                    "github",
                    tool_filter("enable", &["GITHUB_GET_ISSUE", "GITHUB_DELETE_EVERYTHING"]),
                ),
                ..cfg()
            },
            "UNKNOWN_TOOL",
            "config.tools.github.enable[1]",
        ),
        bad(
            "tool of another toolkit",
            SessionConfig {
                tools: tools_map("github", tool_filter("disable", &["SLACK_SEND_MESSAGE"])),
                ..cfg()
            },
            "UNKNOWN_TOOL",
            "config.tools.github.disable[0]",
        ),
        bad(
            "tool filter for an unknown toolkit",
            SessionConfig {
                tools: tools_map("jira", tool_filter("enable", &["JIRA_CREATE_ISSUE"])),
                ..cfg()
            },
            "UNKNOWN_TOOLKIT",
            "config.tools.jira",
        ),
        bad(
            "tool filter with enable and disable",
            SessionConfig {
                tools: tools_map(
                    "github",
                    ToolFilter {
                        enable: slugs(&["GITHUB_GET_ISSUE"]),
                        disable: slugs(&["GITHUB_CREATE_ISSUE"]),
                        tags: None,
                    },
                ),
                ..cfg()
            },
            "CONFLICTING_FILTER",
            "config.tools.github",
        ),
        bad(
            "tag no tool of the toolkit carries",
            SessionConfig {
                tools: tools_map("github", tool_filter("tags", &["issues", "emails"])),
                ..cfg()
            },
            "UNKNOWN_TAG",
            "config.tools.github.tags[1]",
        ),
        bad(
            "unknown hint tag",
            SessionConfig {
                tags: tag_filter(&["readOnlyHint", "fastHint"], &[]),
                ..cfg()
            },
            "UNKNOWN_TAG",
            "config.tags.enable[1]",
        ),
        bad(
            "tag both enabled and disabled",
            SessionConfig {
                tags: tag_filter(&["readOnlyHint"], &["readOnlyHint"]),
                ..cfg()
            },
            "CONFLICTING_FILTER",
            "config.tags",
        ),
        bad(
            "max_accounts_per_toolkit 1",
            SessionConfig {
                multi_account: Some(multi(1)),
                ..cfg()
            },
            "OUT_OF_RANGE",
            "config.multi_account.max_accounts_per_toolkit",
        ),
        bad(
            "max_accounts_per_toolkit 11",
            SessionConfig {
                multi_account: Some(multi(11)),
                ..cfg()
            },
            "OUT_OF_RANGE",
            "config.multi_account.max_accounts_per_toolkit",
        ),
        bad(
            "two accounts without multi-account",
            SessionConfig {
                connected_accounts: accounts("github", &["ca_a", "ca_b"]),
                ..cfg()
            },
            "OUT_OF_RANGE",
            "config.connected_accounts.github",
        ),
        bad(
            "more accounts than max_accounts_per_toolkit",
            SessionConfig {
                multi_account: Some(multi(2)),
                connected_accounts: accounts("github", &["ca_a", "ca_b", "ca_c"]),
                ..cfg()
            },
            "OUT_OF_RANGE",
            "config.connected_accounts.github",
        ),
        bad(
            "bad connected account id",
            SessionConfig {
                connected_accounts: accounts("github", &["ac_not_an_account"]),
                ..cfg()
            },
            "INVALID_ID",
            "config.connected_accounts.github[0]",
        ),
        bad(
            "connected account of an unknown toolkit",
            SessionConfig {
                connected_accounts: accounts("jira", &["ca_a"]),
                ..cfg()
            },
            "UNKNOWN_TOOLKIT",
            "config.connected_accounts.jira",
        ),
        bad(
            "bad auth config id",
            SessionConfig {
                auth_configs: auth_configs(&[("github", "ca_123")]),
                ..cfg()
            },
            "INVALID_ID",
            "config.auth_configs.github",
        ),
        bad(
            "auth config with spaces",
            SessionConfig {
                auth_configs: auth_configs(&[("slack", "ac_a b")]),
                ..cfg()
            },
            "INVALID_ID",
            "config.auth_configs.slack",
        ),
        bad(
            "auth config of an unknown toolkit",
            SessionConfig {
                auth_configs: auth_configs(&[("jira", "ac_1")]),
                ..cfg()
            },
            "UNKNOWN_TOOLKIT",
            "config.auth_configs.jira",
        ),
        bad(
            "preload of a tool outside the toolkit filter",
            SessionConfig {
                toolkits: enable_toolkits(&["github"]),
                preload: preload(&["GITHUB_GET_ISSUE", "SLACK_SEND_MESSAGE"]),
                ..cfg()
            },
            "TOOL_OUT_OF_SCOPE",
            "config.preload.tools[1]",
        ),
        bad(
            "preload of a tool removed by the tag filter",
            SessionConfig {
                tags: tag_filter(&["readOnlyHint"], &[]),
                preload: preload(&["GITHUB_CREATE_ISSUE"]),
                ..cfg()
            },
            "TOOL_OUT_OF_SCOPE",
            "config.preload.tools[0]",
        ),
        bad(
            "preload of an unknown tool",
            SessionConfig {
                preload: preload(&["GITHUB_NOPE"]),
                ..cfg()
            },
            "UNKNOWN_TOOL",
            "config.preload.tools[0]",
        ),
        bad(
            "preload all without a positive filter",
            SessionConfig {
                toolkits: Some(ToolkitFilter {
                    enable: None,
                    disable: slugs(&["gmail"]),
                }),
                preload: preload_all(),
                ..cfg()
            },
            "PRELOAD_NEEDS_FILTER",
            "config.preload.all",
        ),
        bad(
            "callback url without scheme",
            callback("app.example.com/cb"),
            "INVALID_URL",
            "config.manage_connections.callback_url",
        ),
        bad(
            "callback url with another scheme",
            callback("javascript:alert(1)"),
            "INVALID_URL",
            "config.manage_connections.callback_url",
        ),
        bad(
            "callback url without host",
            callback("https://"),
            "INVALID_URL",
            "config.manage_connections.callback_url",
        ),
        bad(
            "callback url with a space",
            callback("https://app.example.com/a b"),
            "INVALID_URL",
            "config.manage_connections.callback_url",
        ),
    ]
}

#[tokio::test]
async fn bad_create_input_is_refused_with_reason_and_field_and_stores_nothing() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;
    let keys_before = stack.key_count().await;

    for case in bad_inputs() {
        let user = case.user.clone();
        let status = s
            .create_session(create_req(&case.user, case.config))
            .await
            .expect_err(case.what);
        assert_refused(
            &status,
            Code::InvalidArgument,
            case.reason,
            case.field,
            case.what,
        );
        assert!(
            status.message().starts_with(case.field),
            "{}: the message names the field: {:?}",
            case.what,
            status.message()
        );
        assert_eq!(
            stack.key_count().await,
            keys_before,
            "{}: nothing stored",
            case.what
        );
        if !user.is_empty() && !user.chars().any(char::is_control) && user.len() <= 256 {
            assert!(list_ids(&mut s, &user, 0).await.is_empty(), "{}", case.what);
        }
    }
    assert!(list_ids(&mut s, "", 0).await.is_empty());
    stack.stop().await;
}

#[tokio::test]
async fn bad_list_and_lookup_input_is_refused() {
    let (stack, p, mut s) = Stack::spawn_sessions().await;
    create(&mut s, "user_1", SessionConfig::default()).await;

    let cases: [(&str, &str, i32, &str, &str); 6] = [
        ("", "garbage!", 0, "INVALID_PAGE_TOKEN", "page_token"),
        // Valid base64url, but not a token this API made.
        ("", "aGVsbG8", 0, "INVALID_PAGE_TOKEN", "page_token"),
        ("", "", -1, "OUT_OF_RANGE", "page_size"),
        ("a\nb", "", 0, "INVALID_USER_ID", "user_id"),
        (&"x".repeat(257), "", 0, "INVALID_USER_ID", "user_id"),
        ("user_1", "", i32::MIN, "OUT_OF_RANGE", "page_size"),
    ];
    for (user, token, size, want_reason, want_field) in cases {
        let status = list_page(&mut s, user, size, token).await.unwrap_err();
        let (reason, field) = expect_error(&status, Code::InvalidArgument);
        assert_eq!(
            (reason.as_str(), field.as_str()),
            (want_reason, want_field),
            "list user={user:?} token={token:?} size={size}"
        );
    }

    // Every RPC taking a session id requires one.
    let statuses = [
        s.get_session(GetSessionRequest::default())
            .await
            .unwrap_err(),
        s.update_session(UpdateSessionRequest::default())
            .await
            .unwrap_err(),
        s.delete_session(DeleteSessionRequest::default())
            .await
            .unwrap_err(),
        s.list_session_toolkits(ListSessionToolkitsRequest::default())
            .await
            .unwrap_err(),
        s.list_session_tools(ListSessionToolsRequest::default())
            .await
            .unwrap_err(),
    ];
    for status in statuses {
        let (reason, field) = expect_error(&status, Code::InvalidArgument);
        assert_eq!(
            (reason.as_str(), field.as_str()),
            ("REQUIRED", "session_id")
        );
    }

    // A malformed or unknown id is simply not found.
    let unknown = random_id("ses");
    for id in [
        "ses_nope",
        "nope",
        "ses_../../etc/passwd",
        "SES_01JABCDEFGHJKMNPQRSTVWXYZ0",
        &p.id,
        &unknown,
    ] {
        let status = get_session(&mut s, id).await.unwrap_err();
        let (reason, _) = expect_error(&status, Code::NotFound);
        assert_eq!(reason, "SESSION_NOT_FOUND", "get {id:?}");
        let status = s
            .delete_session(DeleteSessionRequest {
                session_id: id.to_owned(),
            })
            .await
            .unwrap_err();
        assert_eq!(expect_error(&status, Code::NotFound).0, "SESSION_NOT_FOUND");
    }
    stack.stop().await;
}

// ---- authentication ---------------------------------------------------------------------------

#[tokio::test]
async fn calls_without_a_valid_api_key_are_unauthenticated() {
    let stack = Stack::spawn().await;
    let p = stack.project().await;
    let mut owner = stack.sessions(Some(&p.api_key));
    let session = create_session(&mut owner, "user_1", SessionConfig::default()).await;
    let keys_before = stack.key_count().await;

    // A key of the right shape whose secret part is wrong.
    let mut tampered = p.api_key.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'a' { 'b' } else { 'a' });
    // A well-formed key of a project that does not exist.
    let stranger = format!("{}_{}", random_id("sk"), "a".repeat(43));
    let cases: [(Option<&str>, &str); 5] = [
        (None, "MISSING_API_KEY"),
        (Some("garbage"), "INVALID_API_KEY"),
        (Some(&tampered), "INVALID_API_KEY"),
        (Some(&stranger), "INVALID_API_KEY"),
        // The admin token is not an API key.
        (
            stack.config.gateway.admin_token.as_deref(),
            "INVALID_API_KEY",
        ),
    ];
    for (key, want) in cases {
        let mut s = stack.sessions(key);
        let statuses = [
            s.create_session(create_req("user_1", SessionConfig::default()))
                .await
                .unwrap_err(),
            get_session(&mut s, &session.id).await.unwrap_err(),
            s.list_sessions(ListSessionsRequest::default())
                .await
                .unwrap_err(),
            s.update_session(UpdateSessionRequest {
                session_id: session.id.clone(),
                config: Some(toolkits_config(&[])),
                ..Default::default()
            })
            .await
            .unwrap_err(),
            s.delete_session(DeleteSessionRequest {
                session_id: session.id.clone(),
            })
            .await
            .unwrap_err(),
            s.list_session_toolkits(ListSessionToolkitsRequest {
                session_id: session.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
            s.list_session_tools(ListSessionToolsRequest {
                session_id: session.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        ];
        for status in statuses {
            let (reason, _) = expect_error(&status, Code::Unauthenticated);
            assert_eq!(reason, want, "key {key:?}");
            assert!(
                !status.message().contains(&p.api_key),
                "the message never echoes a secret"
            );
        }
    }
    assert_eq!(stack.key_count().await, keys_before, "nothing was written");
    assert_eq!(get_session(&mut owner, &session.id).await.unwrap(), session);

    // The key also works as `x-api-key`.
    let mut plain = stack.sessions(None);
    let request = with_x_api_key(
        GetSessionRequest {
            session_id: session.id.clone(),
        },
        &p.api_key,
    );
    let got = plain.get_session(request).await.unwrap().into_inner();
    assert_eq!(got.session.unwrap(), session);
    stack.stop().await;
}

// ---- isolation --------------------------------------------------------------------------------

#[tokio::test]
async fn a_session_of_another_project_does_not_exist() {
    let stack = Stack::spawn().await;
    let a = stack.project().await;
    let b = stack.project().await;
    let mut sa = stack.sessions(Some(&a.api_key));
    let mut sb = stack.sessions(Some(&b.api_key));
    let session = create_session(&mut sa, "user_1", SessionConfig::default()).await;
    // B has a session of a user with the same id: still unrelated.
    let b_session = create_session(&mut sb, "user_1", SessionConfig::default()).await;

    let id = session.id.clone();
    let statuses = [
        get_session(&mut sb, &id).await.unwrap_err(),
        sb.update_session(UpdateSessionRequest {
            session_id: id.clone(),
            config: Some(toolkits_config(&[])),
            ..Default::default()
        })
        .await
        .unwrap_err(),
        sb.update_session(UpdateSessionRequest {
            session_id: id.clone(),
            expected_config_version: Some(1),
            ..Default::default()
        })
        .await
        .unwrap_err(),
        sb.delete_session(DeleteSessionRequest {
            session_id: id.clone(),
        })
        .await
        .unwrap_err(),
        sb.list_session_toolkits(ListSessionToolkitsRequest {
            session_id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err(),
        sb.list_session_tools(ListSessionToolsRequest {
            session_id: id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err(),
    ];
    for status in statuses {
        let (reason, _) = expect_error(&status, Code::NotFound);
        assert_eq!(reason, "SESSION_NOT_FOUND");
    }

    assert_eq!(list_ids(&mut sb, "", 0).await, [b_session.id.as_str()]);
    assert_eq!(
        list_ids(&mut sb, "user_1", 0).await,
        [b_session.id.as_str()]
    );
    assert_eq!(list_ids(&mut sa, "", 0).await, [id.as_str()]);
    assert_eq!(list_ids(&mut sa, "user_1", 0).await, [id.as_str()]);
    assert!(list_ids(&mut sa, "user_2", 0).await.is_empty());
    // Nothing B tried changed A's session.
    assert_eq!(get_session(&mut sa, &id).await.unwrap(), session);
    stack.stop().await;
}

// ---- delete -----------------------------------------------------------------------------------

#[tokio::test]
async fn delete_removes_the_session_and_everything_it_stored() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;
    let keep = create_session(&mut s, "user_keep", SessionConfig::default()).await;
    let keys_before = stack.key_count().await;
    let session = create_session(&mut s, "user_1", toolkits_config(&["github"])).await;
    assert!(stack.key_count().await > keys_before);

    s.delete_session(DeleteSessionRequest {
        session_id: session.id.clone(),
    })
    .await
    .unwrap();

    let status = get_session(&mut s, &session.id).await.unwrap_err();
    assert_eq!(expect_error(&status, Code::NotFound).0, "SESSION_NOT_FOUND");
    let status = s
        .delete_session(DeleteSessionRequest {
            session_id: session.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(expect_error(&status, Code::NotFound).0, "SESSION_NOT_FOUND");
    let status = s
        .update_session(UpdateSessionRequest {
            session_id: session.id.clone(),
            config: Some(toolkits_config(&["slack"])),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(expect_error(&status, Code::NotFound).0, "SESSION_NOT_FOUND");

    assert_eq!(list_ids(&mut s, "", 0).await, [keep.id.as_str()]);
    assert!(list_ids(&mut s, "user_1", 0).await.is_empty());
    assert_eq!(
        stack.key_count().await,
        keys_before,
        "no key of the deleted session is left (nor one its failed update made)"
    );
    assert_eq!(get_session(&mut s, &keep.id).await.unwrap(), keep);
    stack.stop().await;
}

// ---- list -------------------------------------------------------------------------------------

#[tokio::test]
async fn list_is_newest_first_filters_by_user_and_pages_by_cursor() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;

    let mut created = Vec::new();
    for i in 0..7 {
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        let session = create_session(&mut s, user, SessionConfig::default()).await;
        created.push((user, session));
    }
    let newest_first = |user: Option<&str>| -> Vec<String> {
        created
            .iter()
            .rev()
            .filter(|(u, _)| user.is_none_or(|want| *u == want))
            .map(|(_, s)| s.id.clone())
            .collect()
    };

    let page = list_page(&mut s, "", 0, "").await.unwrap();
    assert!(page.next_page_token.is_empty());
    let ids: Vec<_> = page.sessions.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids, newest_first(None));
    // Listed sessions are the full records.
    for listed in &page.sessions {
        let (_, original) = created.iter().find(|(_, s)| s.id == listed.id).unwrap();
        assert_eq!(listed, original);
    }

    assert_eq!(
        list_ids(&mut s, "alice", 0).await,
        newest_first(Some("alice"))
    );
    assert_eq!(list_ids(&mut s, "bob", 0).await, newest_first(Some("bob")));
    assert!(list_ids(&mut s, "carol", 0).await.is_empty());

    // Page size 2: 2 + 2 + 2 + 1, each session exactly once, still newest first.
    let first = list_page(&mut s, "", 2, "").await.unwrap();
    assert_eq!(first.sessions.len(), 2);
    assert!(!first.next_page_token.is_empty());
    assert_eq!(list_ids(&mut s, "", 2).await, newest_first(None));
    assert_eq!(
        list_ids(&mut s, "alice", 2).await,
        newest_first(Some("alice"))
    );
    assert_eq!(list_ids(&mut s, "", 1).await, newest_first(None));
    // An exact multiple of the page size ends without an empty extra page.
    let bob = list_page(&mut s, "bob", 3, "").await.unwrap();
    assert_eq!(bob.sessions.len(), 3);
    assert!(bob.next_page_token.is_empty());

    // A cursor stays valid while sessions are created and deleted around it.
    let page1 = list_page(&mut s, "", 3, "").await.unwrap();
    create(&mut s, "alice", SessionConfig::default()).await;
    s.delete_session(DeleteSessionRequest {
        session_id: page1.sessions[2].id.clone(),
    })
    .await
    .unwrap();
    let page2 = list_page(&mut s, "", 3, &page1.next_page_token)
        .await
        .unwrap();
    let ids2: Vec<_> = page2.sessions.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids2, newest_first(None)[3..6]);
    stack.stop().await;
}
