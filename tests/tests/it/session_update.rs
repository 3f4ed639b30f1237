//! UpdateSession: partial updates (absent kept, named-but-absent removed, maps replaced whole),
//! versioning with `expected_config_version`, refused patches that change nothing, and real
//! concurrency against Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost_types::FieldMask;
use switchboard_proto::v1::*;
use switchboard_testkit::*;
use tonic::{Code, Status};

// ---- helpers ----------------------------------------------------------------------------------

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: strings(paths),
    })
}

fn patch(config: SessionConfig) -> UpdateSessionRequest {
    UpdateSessionRequest {
        config: Some(config),
        ..Default::default()
    }
}

/// A patch that applies only while the stored config is at `version`.
fn patch_at(version: i64, config: SessionConfig) -> UpdateSessionRequest {
    UpdateSessionRequest {
        expected_config_version: Some(version),
        ..patch(config)
    }
}

/// An update that removes the fields named in `paths`.
fn removing(paths: &[&str]) -> UpdateSessionRequest {
    UpdateSessionRequest {
        update_mask: mask(paths),
        ..Default::default()
    }
}

/// A config that only sets `toolkit`'s auth config.
fn auth_config_only(toolkit: &str, auth_config: &str) -> SessionConfig {
    SessionConfig {
        auth_configs: auth_configs(&[(toolkit, auth_config)]),
        ..Default::default()
    }
}

async fn get(s: &mut Sessions, id: &str) -> Session {
    get_session(s, id).await.expect("get session")
}

async fn update(
    s: &mut Sessions,
    id: &str,
    mut req: UpdateSessionRequest,
) -> Result<UpdateSessionResponse, Status> {
    req.session_id = id.to_owned();
    s.update_session(req).await.map(|r| r.into_inner())
}

/// An update that must apply: the updated session.
async fn applied(s: &mut Sessions, id: &str, req: UpdateSessionRequest) -> Session {
    update(s, id, req)
        .await
        .expect("update session")
        .session
        .expect("session")
}

fn config_of(session: &Session) -> SessionConfig {
    session.config.clone().expect("config")
}

async fn toolkit_slugs(s: &mut Sessions, id: &str) -> Vec<String> {
    s.list_session_toolkits(ListSessionToolkitsRequest {
        session_id: id.to_owned(),
        ..Default::default()
    })
    .await
    .expect("list toolkits")
    .into_inner()
    .toolkits
    .into_iter()
    .map(|t| t.slug)
    .collect()
}

// ---- semantics --------------------------------------------------------------------------------

#[tokio::test]
async fn absent_fields_are_kept_and_given_maps_replace_the_stored_ones_whole() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;
    let session = create_session(
        &mut s,
        "user_1",
        SessionConfig {
            toolkits: enable_toolkits(&["github", "slack"]),
            auth_configs: auth_configs(&[("github", "ac_1")]),
            tags: tag_filter(&[], &["destructiveHint"]),
            ..Default::default()
        },
    )
    .await;

    let updated = update(
        &mut s,
        &session.id,
        patch(auth_config_only("slack", "ac_2")),
    )
    .await
    .unwrap();
    assert!(updated.warnings.is_empty(), "{:?}", updated.warnings);
    let next = updated.session.unwrap();
    let config = config_of(&next);
    // The map is replaced, not merged: github's auth config is gone.
    assert_eq!(config.auth_configs, auth_configs(&[("slack", "ac_2")]));
    // Fields the update did not name are kept.
    assert_eq!(config.toolkits, enable_toolkits(&["github", "slack"]));
    assert_eq!(config.tags, config_of(&session).tags);
    assert_eq!(next.config_version, 2);
    // Identity does not change.
    assert_eq!(next.id, session.id);
    assert_eq!(next.user_id, session.user_id);
    assert_eq!(next.mcp, session.mcp);
    assert_eq!(next.create_time, session.create_time);
    let (before, after) = (session.update_time.unwrap(), next.update_time.unwrap());
    assert!(
        (after.seconds, after.nanos) >= (before.seconds, before.nanos),
        "update_time moves forward"
    );
    // What update returned is what is stored.
    assert_eq!(get(&mut s, &session.id).await, next);

    // A second update without auth_configs keeps the replaced map; the version goes on.
    let third = applied(&mut s, &session.id, patch(toolkits_config(&["slack"]))).await;
    assert_eq!(third.config_version, 3);
    assert_eq!(
        config_of(&third).auth_configs,
        auth_configs(&[("slack", "ac_2")])
    );
    assert_eq!(config_of(&third).toolkits, enable_toolkits(&["slack"]));
    assert_eq!(toolkit_slugs(&mut s, &session.id).await, ["slack"]);
    stack.stop().await;
}

#[tokio::test]
async fn a_field_named_in_the_mask_but_absent_is_removed() {
    let (stack, p, mut s) = Stack::spawn_sessions().await;
    let session = create_session(
        &mut s,
        "user_1",
        SessionConfig {
            toolkits: enable_toolkits(&["github"]),
            auth_configs: auth_configs(&[("github", "ac_1")]),
            workbench: Some(Workbench {
                enable: false,
                auto_offload_threshold: Some(5_000),
            }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(toolkit_slugs(&mut s, &session.id).await, ["github"]);

    // `toolkits` removed: every toolkit of the catalog again. The other fields stay.
    let next = applied(&mut s, &session.id, removing(&["toolkits"])).await;
    let config = config_of(&next);
    assert_eq!(config.toolkits, None);
    assert_eq!(config.auth_configs, auth_configs(&[("github", "ac_1")]));
    assert_eq!(config.workbench, config_of(&session).workbench);
    assert_eq!(next.config_version, 2);
    assert_eq!(
        toolkit_slugs(&mut s, &session.id).await,
        catalog_toolkit_slugs(&stack, &p.api_key).await
    );

    // A map named in the mask and absent is emptied; `config.`-prefixed paths work too.
    let next = applied(
        &mut s,
        &session.id,
        UpdateSessionRequest {
            update_mask: mask(&["config.auth_configs", "workbench"]),
            config: Some(SessionConfig {
                // Not named in the mask: ignored.
                toolkits: enable_toolkits(&["slack"]),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    let config = config_of(&next);
    assert!(config.auth_configs.is_empty());
    assert_eq!(config.workbench, None);
    assert_eq!(
        config.toolkits, None,
        "fields outside the mask are untouched"
    );
    assert_eq!(next.config_version, 3);
    assert_eq!(get(&mut s, &session.id).await, next);
    stack.stop().await;
}

#[tokio::test]
async fn an_empty_enable_list_denies_every_toolkit() {
    let (stack, p, mut s) = Stack::spawn_sessions().await;
    let session = create_session(&mut s, "user_1", SessionConfig::default()).await;
    assert_eq!(
        toolkit_slugs(&mut s, &session.id).await,
        catalog_toolkit_slugs(&stack, &p.api_key).await
    );

    let updated = update(&mut s, &session.id, patch(toolkits_config(&[])))
        .await
        .unwrap();
    assert!(
        updated.warnings.iter().any(|w| w.code == "NO_TOOLS"),
        "{:?}",
        updated.warnings
    );
    let next = updated.session.unwrap();
    assert_eq!(config_of(&next).toolkits, enable_toolkits(&[]));
    assert!(toolkit_slugs(&mut s, &session.id).await.is_empty());
    let direct = s
        .list_session_tools(ListSessionToolsRequest {
            session_id: session.id.clone(),
            view: ToolView::Direct as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(direct.tools.is_empty(), "{:?}", direct.tools);
    stack.stop().await;
}

#[tokio::test]
async fn updates_can_switch_to_and_from_the_direct_preset() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;
    let session = create_session(&mut s, "user_1", SessionConfig::default()).await;
    let meta = session.tools.clone();
    let search = stack.meta_tool("SEARCH_TOOLS");
    assert!(meta.contains(&search), "{meta:?}");

    let direct = applied(
        &mut s,
        &session.id,
        patch(SessionConfig {
            preload: preload(&["GITHUB_GET_ISSUE"]),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(direct.tools, ["GITHUB_GET_ISSUE"]);

    let back = applied(&mut s, &session.id, removing(&["preload"])).await;
    assert_eq!(back.tools, meta);
    assert_eq!(back.config_version, 3);
    stack.stop().await;
}

// ---- refused updates --------------------------------------------------------------------------

#[tokio::test]
async fn refused_updates_change_nothing() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;
    let session = create_session(
        &mut s,
        "user_1",
        SessionConfig {
            toolkits: enable_toolkits(&["github"]),
            preload: preload(&["GITHUB_GET_ISSUE"]),
            ..Default::default()
        },
    )
    .await;
    let keys_before = stack.key_count().await;

    let cases: Vec<(&str, UpdateSessionRequest, Code, &str, &str)> = vec![
        (
            "unknown mask path",
            UpdateSessionRequest {
                update_mask: mask(&["user_id"]),
                config: Some(SessionConfig::default()),
                ..Default::default()
            },
            Code::InvalidArgument,
            "UNKNOWN_FIELD",
            "update_mask.paths[0]",
        ),
        (
            "second mask path unknown",
            removing(&["toolkits", "config.toolkits.enable"]),
            Code::InvalidArgument,
            "UNKNOWN_FIELD",
            "update_mask.paths[1]",
        ),
        (
            "unknown toolkit",
            patch(toolkits_config(&["github", "jira"])),
            Code::InvalidArgument,
            "UNKNOWN_TOOLKIT",
            "config.toolkits.enable[1]",
        ),
        (
            "enable with disable",
            patch(SessionConfig {
                toolkits: Some(ToolkitFilter {
                    enable: slugs(&["github"]),
                    disable: slugs(&["slack"]),
                }),
                ..Default::default()
            }),
            Code::InvalidArgument,
            "CONFLICTING_FILTER",
            "config.toolkits",
        ),
        (
            "out-of-range multi-account",
            patch(SessionConfig {
                multi_account: Some(MultiAccount {
                    enable: true,
                    max_accounts_per_toolkit: Some(11),
                    require_explicit_selection: false,
                }),
                ..Default::default()
            }),
            Code::InvalidArgument,
            "OUT_OF_RANGE",
            "config.multi_account.max_accounts_per_toolkit",
        ),
        (
            // Valid on its own, but it leaves the stored preload outside the scope.
            "patch that makes the stored preload out of scope",
            patch(toolkits_config(&["slack"])),
            Code::InvalidArgument,
            "TOOL_OUT_OF_SCOPE",
            "config.preload.tools[0]",
        ),
        (
            "version below 1",
            patch_at(0, toolkits_config(&["slack"])),
            Code::InvalidArgument,
            "OUT_OF_RANGE",
            "expected_config_version",
        ),
        (
            "stale expected version",
            patch_at(2, auth_config_only("github", "ac_2")),
            Code::Aborted,
            "CONFIG_VERSION_CONFLICT",
            "",
        ),
        (
            "stale expected version with an invalid patch",
            patch_at(7, toolkits_config(&["jira"])),
            Code::Aborted,
            "CONFIG_VERSION_CONFLICT",
            "",
        ),
    ];
    for (what, req, code, want_reason, want_field) in cases {
        let status = update(&mut s, &session.id, req).await.expect_err(what);
        assert_refused(&status, code, want_reason, want_field, what);
        assert_eq!(get(&mut s, &session.id).await, session, "{what}: unchanged");
        assert_eq!(stack.key_count().await, keys_before, "{what}");
    }

    // With the right version the same update applies.
    let ok = applied(
        &mut s,
        &session.id,
        patch_at(1, auth_config_only("github", "ac_2")),
    )
    .await;
    assert_eq!(ok.config_version, 2);
    // …and the old version is now stale.
    let status = update(
        &mut s,
        &session.id,
        patch_at(1, auth_config_only("github", "ac_3")),
    )
    .await
    .unwrap_err();
    assert_eq!(
        expect_error(&status, Code::Aborted).0,
        "CONFIG_VERSION_CONFLICT"
    );
    assert!(status.message().contains('2'), "{:?}", status.message());
    assert_eq!(get(&mut s, &session.id).await, ok);
    stack.stop().await;
}

#[tokio::test]
async fn updating_one_session_leaves_the_users_other_sessions_alone() {
    let (stack, _, mut s) = Stack::spawn_sessions().await;
    let config = toolkits_config(&["github"]);
    let first = create_session(&mut s, "user_1", config.clone()).await;
    let second = create_session(&mut s, "user_1", config).await;
    assert_ne!(first.id, second.id);

    let updated = applied(&mut s, &first.id, patch(toolkits_config(&["slack"]))).await;
    assert_eq!(updated.config_version, 2);
    assert_eq!(get(&mut s, &second.id).await, second);
    assert_eq!(toolkit_slugs(&mut s, &first.id).await, ["slack"]);
    assert_eq!(toolkit_slugs(&mut s, &second.id).await, ["github"]);

    s.delete_session(DeleteSessionRequest {
        session_id: first.id.clone(),
    })
    .await
    .unwrap();
    assert_eq!(get(&mut s, &second.id).await, second);
    stack.stop().await;
}

// ---- concurrency ------------------------------------------------------------------------------

const WRITERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_with_the_same_expected_version_have_exactly_one_winner() {
    let (stack, p, mut s) = Stack::spawn_sessions().await;
    let session = create_session(&mut s, "user_1", SessionConfig::default()).await;

    // Every writer has its own connection, so the calls really race in the gateway and Redis.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let mut client = sessions_on(connect(stack.grpc_addr).await, Some(&p.api_key));
        let id = session.id.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let ac = format!("ac_writer_{i}");
            barrier.wait().await;
            let result = update(
                &mut client,
                &id,
                patch_at(1, auth_config_only("github", &ac)),
            )
            .await;
            (ac, result)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (ac, result) = task.await.unwrap();
        match result {
            Ok(response) => winners.push((ac, response.session.unwrap())),
            Err(status) => {
                let (reason, _) = expect_error(&status, Code::Aborted);
                assert_eq!(reason, "CONFIG_VERSION_CONFLICT");
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    let (ac, won) = &winners[0];
    assert_eq!(won.config_version, 2);
    let stored = get(&mut s, &session.id).await;
    assert_eq!(&stored, won);
    assert_eq!(
        config_of(&stored).auth_configs,
        auth_configs(&[("github", ac)])
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_without_expected_version_all_apply() {
    let (stack, p, mut s) = Stack::spawn_sessions().await;
    let session = create_session(&mut s, "user_1", SessionConfig::default()).await;

    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let mut client = stack.sessions(Some(&p.api_key));
        let id = session.id.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let ac = format!("ac_writer_{i}");
            barrier.wait().await;
            let response = update(&mut client, &id, patch(auth_config_only("slack", &ac)))
                .await
                .expect("update without expected version");
            (ac, response.session.unwrap())
        }));
    }
    let mut versions = Vec::new();
    let mut last = None;
    for task in tasks {
        let (ac, session) = task.await.unwrap();
        // Each writer's own result carries its own change.
        assert_eq!(
            config_of(&session).auth_configs,
            auth_configs(&[("slack", &ac)])
        );
        if session.config_version == WRITERS as i64 + 1 {
            last = Some(session.clone());
        }
        versions.push(session.config_version);
    }
    versions.sort();
    let expected: Vec<i64> = (2..=WRITERS as i64 + 1).collect();
    assert_eq!(versions, expected, "every update got its own version");
    let stored = get(&mut s, &session.id).await;
    assert_eq!(stored.config_version, WRITERS as i64 + 1);
    assert_eq!(Some(stored), last, "the stored config is the last writer's");
    stack.stop().await;
}
