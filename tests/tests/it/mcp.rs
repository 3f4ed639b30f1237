//! Every session's MCP server, driven by the official MCP Python SDK (`mcp`, installed into
//! `.venv-mcp` by `make deps`) over Streamable HTTP: initialize, tools/list, the meta tools
//! against a provider stand-in, errors as `isError`, and tokens that grant one session only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::{json, Value};
use switchboard_proto::v1::*;
use switchboard_testkit::build::*;
use switchboard_testkit::calls::*;
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_mcp_test_token_0a1b2c";

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-mcp/bin/python");
    assert!(
        venv.exists(),
        "the MCP Python SDK is missing: run `make deps` (scripts/ensure-deps.sh)"
    );
    venv
}

/// Runs the SDK client with `url`, `headers` and `steps`; what it printed.
async fn sdk(
    url: &str,
    headers: &std::collections::HashMap<String, String>,
    steps: Value,
) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mcp/client.py");
    let scenario = json!({"url": url, "headers": headers, "steps": steps});
    let python = python();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(scenario.to_string())
            .output()
    })
    .await
    .unwrap()
    .expect("run the MCP SDK client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("client printed {stdout:?}: {e}"))
}

fn mcp_of(session: &Session) -> (String, std::collections::HashMap<String, String>) {
    let mcp = session.mcp.clone().expect("session.mcp");
    (mcp.url, mcp.headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_with_only_the_session_url_and_headers_finds_and_runs_tools() {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(json!({"title": "Crash on start"})))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"number": 7, "title": "Crash on start"})),
        )
        .expect(1)
        .mount(&github)
        .await;
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    let stack = Stack::spawn_with(config).await;
    let workers = Workers::spawn(&stack.config, 1);
    let project = stack.project().await;
    let (_, session) = github_account_session(&stack, &project, "GitHub", "ada", "", TOKEN).await;
    let (url, headers) = mcp_of(&session);
    assert_eq!(
        url,
        format!("http://{}/mcp/{}", stack.http_addr, session.id)
    );
    assert!(headers["Authorization"].starts_with("Bearer "));
    assert!(
        !headers["Authorization"].contains(&project.api_key),
        "never the project key"
    );

    let p = stack.meta_tool("");
    let out = sdk(
        &url,
        &headers,
        json!([
            {"list": true},
            {"call": format!("{p}SEARCH_TOOLS"), "arguments": {"queries": [{"use_case": "file a bug in my repo"}]}},
            {"call": format!("{p}GET_TOOL_SCHEMAS"), "arguments": {"tool_slugs": ["GITHUB_CREATE_ISSUE", "SLACK_SEND_MESSAGE", "NOPE"]}},
            {"call": format!("{p}MULTI_EXECUTE_TOOL"), "arguments": {"tools": [
                {"tool_slug": "GITHUB_CREATE_ISSUE", "arguments": {"owner": "acme", "repo": "api", "title": "Crash on start"}},
                {"tool_slug": "GITHUB_CREATE_ISSUE", "arguments": {"owner": "acme"}},
                {"tool_slug": "SLACK_SEND_MESSAGE", "arguments": {"channel": "C1", "text": "hi"}}
            ]}},
            {"call": format!("{p}MULTI_EXECUTE_TOOL"), "arguments": {"tools": []}},
            {"call": "GITHUB_CREATE_ISSUE", "arguments": {"owner": "acme", "repo": "api", "title": "x"}},
            {"call": format!("{p}GET_TOOL_SCHEMAS"), "arguments": {"tool_slugs": [], "session_id": "$workflow"}}
        ]),
    )
    .await;
    assert_eq!(out["server"], "switchboard", "{out}");
    let steps = out["steps"].as_array().unwrap();
    let names: Vec<&str> = steps[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            format!("{p}SEARCH_TOOLS"),
            format!("{p}GET_TOOL_SCHEMAS"),
            format!("{p}MANAGE_CONNECTIONS"),
            format!("{p}MULTI_EXECUTE_TOOL")
        ]
    );

    let search = &steps[1];
    assert_eq!(search["isError"], false, "{search}");
    let data = &search["structuredContent"]["data"];
    assert_eq!(
        data["results"][0]["primary_tool_slugs"][0], "GITHUB_CREATE_ISSUE",
        "{data}"
    );
    assert!(
        data["tool_schemas"]["GITHUB_CREATE_ISSUE"]["input_schema"]["properties"]["title"]
            .is_object()
    );
    let statuses = data["toolkit_connection_statuses"].as_array().unwrap();
    assert!(
        statuses
            .iter()
            .any(|s| s["toolkit"] == "github" && s["status"] == "ACTIVE"),
        "{statuses:?}"
    );
    assert!(data["session_id"].as_str().unwrap().starts_with("wf_"));
    // Only this session's tools: slack is not in it.
    assert!(!data.to_string().contains("SLACK_"), "{data}");

    let schemas = &steps[2]["structuredContent"]["data"];
    assert!(schemas["tool_schemas"]["GITHUB_CREATE_ISSUE"].is_object());
    assert_eq!(schemas["not_found"], json!(["SLACK_SEND_MESSAGE", "NOPE"]));

    let multi = &steps[3];
    assert_eq!(multi["isError"], false, "{multi}");
    let data = &multi["structuredContent"]["data"];
    assert_eq!(
        (
            data["success_count"].as_u64(),
            data["error_count"].as_u64(),
            data["total_count"].as_u64()
        ),
        (Some(1), Some(2), Some(3)),
        "{data}"
    );
    assert_eq!(data["results"][0]["response"]["number"], 7);
    let bad_args = data["results"][1]["error"].as_str().unwrap();
    assert!(
        bad_args.contains("INVALID_ARGUMENTS") || bad_args.contains("repo"),
        "{bad_args}"
    );
    assert!(data["results"][2]["error"]
        .as_str()
        .unwrap()
        .contains("TOOL_NOT_IN_SESSION"));

    // A call the tool refuses as a whole is a tool error the model can read, not a transport
    // failure.
    let empty = &steps[4];
    assert_eq!(empty["isError"], true, "{empty}");
    assert!(empty["structuredContent"]["error"]
        .as_str()
        .unwrap()
        .contains("1 to 50"));
    // Tools outside tools/list are not callable by name.
    assert!(steps[5]["protocolError"].is_string(), "{}", steps[5]);
    // The workflow id of the search brings its hits back.
    let remembered = &steps[6]["structuredContent"]["data"]["tool_schemas"];
    assert!(
        remembered["GITHUB_CREATE_ISSUE"].is_object(),
        "{}",
        steps[6]
    );

    workers.stop().await;
    github.verify().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_grants_its_own_session_and_nothing_else() {
    let stack = Stack::spawn().await;
    let project = stack.project().await;
    let other_project = stack.project().await;
    let mut sessions = stack.sessions(Some(&project.api_key));
    let a = create_session(&mut sessions, "ada", toolkits_config(&["github"])).await;
    let same_user = create_session(&mut sessions, "ada", toolkits_config(&["github"])).await;
    let other_user = create_session(&mut sessions, "bob", toolkits_config(&["github"])).await;
    let other_project_session = create_session(
        &mut stack.sessions(Some(&other_project.api_key)),
        "ada",
        toolkits_config(&["github"]),
    )
    .await;
    let (url_a, headers_a) = mcp_of(&a);

    // The real client with the right pair works.
    let ok = sdk(&url_a, &headers_a, json!([{"list": true}])).await;
    assert!(ok["steps"][0]["tools"].is_array(), "{ok}");
    // GetSession gives the same pair back (store the id, use it later).
    let again = get_session(&mut sessions, &a.id).await.unwrap();
    assert_eq!(mcp_of(&again), (url_a.clone(), headers_a.clone()));

    let bearer = |h: &std::collections::HashMap<String, String>| h["Authorization"].clone();
    let cases = [
        ("no token", url_a.clone(), None),
        (
            "a wrong token",
            url_a.clone(),
            Some("Bearer nope".to_owned()),
        ),
        (
            "the project API key",
            url_a.clone(),
            Some(format!("Bearer {}", project.api_key)),
        ),
        (
            "session A's token on another session of the same user",
            mcp_of(&same_user).0,
            Some(bearer(&headers_a)),
        ),
        (
            "session A's token on another user's session",
            mcp_of(&other_user).0,
            Some(bearer(&headers_a)),
        ),
        (
            "session A's token on another project's session",
            mcp_of(&other_project_session).0,
            Some(bearer(&headers_a)),
        ),
        (
            "another project's session token on A",
            url_a.clone(),
            Some(bearer(&mcp_of(&other_project_session).1)),
        ),
    ];
    let http = reqwest::Client::new();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    for (what, url, auth) in cases {
        let mut req = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(auth) = &auth {
            req = req.header("authorization", auth);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 401, "{what}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{what}"
        );
    }
    // The SDK sees the refusal too.
    let mut wrong = headers_a.clone();
    wrong.insert("Authorization".into(), "Bearer nope".into());
    let refused = sdk(&url_a, &wrong, json!([{"list": true}])).await;
    assert!(refused["refused"].is_string(), "{refused}");

    // Deleting the session revokes its token.
    sessions
        .delete_session(DeleteSessionRequest {
            session_id: a.id.clone(),
        })
        .await
        .unwrap();
    let response = http
        .post(&url_a)
        .header("accept", "application/json, text/event-stream")
        .header("authorization", bearer(&headers_a))
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manage_and_wait_for_connections_hand_out_a_connect_link() {
    let mut config = test_config();
    config.oauth.providers.insert(
        "gmail".into(),
        switchboard_config::OAuthProviderConfig {
            client_id: Some("managed-client".into()),
            client_secret: Some("managed-secret".into()),
            ..Default::default()
        },
    );
    let stack = Stack::spawn_with(config).await;
    let project = stack.project().await;
    let mut session_config = toolkits_config(&["gmail"]);
    session_config.manage_connections = Some(ManageConnections {
        enable: Some(true),
        enable_wait_for_connections: Some(true),
        ..Default::default()
    });
    let session = create_session(
        &mut stack.sessions(Some(&project.api_key)),
        "ada",
        session_config,
    )
    .await;
    let (url, headers) = mcp_of(&session);
    let p = stack.meta_tool("");
    let out = sdk(
        &url,
        &headers,
        json!([
            {"list": true},
            {"call": format!("{p}MANAGE_CONNECTIONS"), "arguments": {"toolkits": ["gmail", "github"]}},
            {"call": format!("{p}WAIT_FOR_CONNECTIONS"), "arguments": {"toolkits": ["gmail"], "timeout_seconds": 1}},
            {"call": format!("{p}SEARCH_TOOLS"), "arguments": {"queries": [{"use_case": "send an email to my boss"}]}}
        ]),
    )
    .await;
    let steps = out["steps"].as_array().unwrap();
    assert!(steps[0]["tools"]
        .as_array()
        .unwrap()
        .contains(&json!(format!("{p}WAIT_FOR_CONNECTIONS"))));
    let manage = &steps[1]["structuredContent"]["data"];
    let gmail = &manage["results"]["gmail"];
    assert_eq!(gmail["status"], "INITIATED", "{manage}");
    assert!(gmail["redirect_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("http://{}/connect/", stack.http_addr)));
    assert_eq!(
        manage["results"]["github"]["status"], "ERROR",
        "github is not in this session"
    );
    assert_eq!(manage["summary"]["initiated"], 1);
    // The link is real: it leads to Google's authorize endpoint with the managed client.
    let link = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let hop = link
        .get(gmail["redirect_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(hop.status(), 302);
    let location = hop.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://accounts.google.com/o/oauth2/v2/auth?"),
        "{location}"
    );
    assert!(
        location.contains("client_id=managed-client") && location.contains("access_type=offline")
    );

    let wait = &steps[2]["structuredContent"]["data"];
    assert_eq!(wait["statuses"]["gmail"], "NOT_CONNECTED", "{wait}");
    assert_eq!(wait["all_connected"], false);
    let search = &steps[3]["structuredContent"]["data"];
    assert_eq!(
        search["results"][0]["primary_tool_slugs"][0], "GMAIL_SEND_EMAIL",
        "{search}"
    );
    let guidance = search["next_steps_guidance"].to_string();
    assert!(guidance.contains("connect gmail first"), "{guidance}");
    stack.stop().await;
}

#[tokio::test]
async fn search_tools_over_grpc_ranks_only_the_sessions_tools() {
    let (stack, project, mut sessions) = Stack::spawn_sessions().await;
    let both = create_session(&mut sessions, "ada", toolkits_config(&["github", "slack"])).await;
    let github_only = create_session(&mut sessions, "ada", toolkits_config(&["github"])).await;
    let search = |session: &Session, queries: Vec<&str>| SearchToolsRequest {
        session_id: session.id.clone(),
        queries: queries.into_iter().map(str::to_owned).collect(),
        limit: 5,
    };
    let results = sessions
        .search_tools(search(
            &both,
            vec![
                "file a bug in my repo",
                "tell the team in #deploys the build is green",
            ],
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    let top = |r: &SearchResult| r.hits[0].tool.as_ref().unwrap().slug.clone();
    assert_eq!(top(&results[0]), "GITHUB_CREATE_ISSUE");
    assert_eq!(top(&results[1]), "SLACK_SEND_MESSAGE");
    assert!(
        !results[1].hits[0].toolkit_connected,
        "slack is not connected"
    );
    assert!(results[0].hits.windows(2).all(|w| w[0].score >= w[1].score));
    let narrowed = sessions
        .search_tools(search(
            &github_only,
            vec!["tell the team in #deploys the build is green"],
        ))
        .await
        .unwrap()
        .into_inner()
        .results;
    assert!(narrowed[0]
        .hits
        .iter()
        .all(|h| h.tool.as_ref().unwrap().toolkit == "github"));

    // Bad input, and other projects.
    for (req, field) in [
        (search(&both, vec![]), "queries"),
        (search(&both, vec![" "]), "queries[0]"),
        (
            SearchToolsRequest {
                limit: 50,
                ..search(&both, vec!["x"])
            },
            "limit",
        ),
    ] {
        let status = sessions.search_tools(req).await.unwrap_err();
        assert_eq!(expect_error(&status, tonic::Code::InvalidArgument).1, field);
    }
    let other = stack.project().await;
    let status = stack
        .sessions(Some(&other.api_key))
        .search_tools(search(&both, vec!["file a bug"]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);

    // Function-calling renderings.
    for (format, check) in [
        (ToolFormat::Openai, "function"),
        (ToolFormat::Anthropic, "input_schema"),
    ] {
        let listed = sessions
            .list_session_tools(ListSessionToolsRequest {
                session_id: github_only.id.clone(),
                view: ToolView::Direct as i32,
                format: format as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.formatted.len(), listed.tools.len());
        for (tool, rendered) in listed.tools.iter().zip(&listed.formatted) {
            let json = switchboard_proto::struct_to_json(rendered);
            let name = if format == ToolFormat::Openai {
                &json["function"]["name"]
            } else {
                &json["name"]
            };
            assert_eq!(name, &json!(tool.slug));
            assert!(json.get(check).is_some() || json["function"].get("parameters").is_some());
        }
    }
    let _ = project;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_direct_tools_preset_lists_and_runs_the_sessions_own_tools() {
    let github = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/issues/404"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&github)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/issues/1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"number": 1, "title": "First"})),
        )
        .mount(&github)
        .await;
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    let stack = Stack::spawn_with(config).await;
    let workers = Workers::spawn(&stack.config, 1);
    let project = stack.project().await;
    let (_, session) = github_account_session(&stack, &project, "GitHub", "ada", "", TOKEN).await;
    let mut sessions = stack.sessions(Some(&project.api_key));
    let mut patch = toolkits_config(&["github"]);
    patch.preload = preload(&["GITHUB_GET_ISSUE", "GITHUB_CREATE_ISSUE"]);
    let updated = sessions
        .update_session(UpdateSessionRequest {
            session_id: session.id.clone(),
            config: Some(patch),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["preload".into()],
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    let (url, headers) = mcp_of(&updated);
    let out = sdk(
        &url,
        &headers,
        json!([
            {"list": true},
            {"call": "GITHUB_GET_ISSUE", "arguments": {"owner": "acme", "repo": "api", "issue_number": 1}},
            {"call": "GITHUB_GET_ISSUE", "arguments": {"owner": "acme", "repo": "api", "issue_number": 404}},
            {"call": "GITHUB_GET_ISSUE", "arguments": {"owner": "acme"}}
        ]),
    )
    .await;
    let steps = out["steps"].as_array().unwrap();
    assert_eq!(
        steps[0]["tools"],
        json!(["GITHUB_GET_ISSUE", "GITHUB_CREATE_ISSUE"])
    );
    assert_eq!(steps[1]["isError"], false, "{}", steps[1]);
    assert!(steps[1]["text"][0].as_str().unwrap().contains("First"));
    // A provider error and bad arguments are tool errors the model can read.
    assert_eq!(steps[2]["isError"], true);
    assert!(
        steps[2]["text"][0].as_str().unwrap().contains("404"),
        "{}",
        steps[2]
    );
    assert_eq!(steps[3]["isError"], true);
    assert!(
        steps[3]["text"][0].as_str().unwrap().contains("repo"),
        "{}",
        steps[3]
    );
    workers.stop().await;
    stack.stop().await;
}
