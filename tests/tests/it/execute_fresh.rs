//! A gateway checks a call against the session it read for the last call of that session, and
//! confirms it as the execution is stored. Changes made through another gateway take effect on
//! the very next call: a session update, a disabled account, a revoked key, a deleted session.
//! Each refused call reaches no provider and stores nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use switchboard_proto::v1::*;
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use tonic::Code;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "ghp_fresh_checks_token";

/// Counts the issues created.
struct Count(Arc<AtomicUsize>);

impl Respond for Count {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(201).set_body_json(serde_json::json!({"number": n}))
    }
}

fn create_issue(session_id: &str, title: &str) -> ExecuteToolRequest {
    ExecuteToolRequest {
        session_id: session_id.into(),
        tool_slug: "GITHUB_CREATE_ISSUE".into(),
        arguments_json: serde_json::json!({"owner": "acme", "repo": "api", "title": title})
            .to_string(),
        timeout_ms: 10_000,
        ..Default::default()
    }
}

fn toolkits(slugs: &[&str]) -> SessionConfig {
    SessionConfig {
        toolkits: Some(ToolkitFilter {
            enable: Some(SlugList {
                slugs: slugs.iter().map(|s| (*s).to_owned()).collect(),
            }),
            disable: None,
        }),
        ..Default::default()
    }
}

async fn succeeds(sessions: &mut Sessions, request: ExecuteToolRequest, what: &str) {
    let execution = sessions
        .execute_tool(request)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:?}"))
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(
        execution.status(),
        ExecutionStatus::Succeeded,
        "{what}: {:?}",
        execution.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_another_gateway_apply_to_the_next_call() {
    let github = MockServer::start().await;
    let created = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .respond_with(Count(Arc::clone(&created)))
        .mount(&github)
        .await;
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    let a = Stack::spawn_with(config.clone()).await;
    let b = Stack::spawn_with(config.clone()).await;
    let workers = Workers::spawn(&config, 1);
    let project = a.project().await;
    let (account, session) =
        github_account_session(&a, &project, "pat", "user_1", "work", TOKEN).await;
    let mut on_a = a.sessions(Some(&project.api_key));
    let mut on_b = b.sessions(Some(&project.api_key));
    let mut connections_b = b.connections(Some(&project.api_key));

    // Gateway A reads the session for its first call.
    succeeds(&mut on_a, create_issue(&session.id, "first"), "first call").await;
    assert_eq!(created.load(Ordering::SeqCst), 1);

    // B takes GitHub out of the session: A's next call is outside it.
    on_b.update_session(UpdateSessionRequest {
        session_id: session.id.clone(),
        config: Some(toolkits(&["slack"])),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["toolkits".into()],
        }),
        expected_config_version: None,
    })
    .await
    .unwrap();
    let refused = on_a
        .execute_tool(create_issue(&session.id, "outside"))
        .await
        .unwrap_err();
    assert_refused(
        &refused,
        Code::PermissionDenied,
        "TOOL_NOT_IN_SESSION",
        "",
        "a tool the session no longer has",
    );
    // And back in: A's next call runs.
    on_b.update_session(UpdateSessionRequest {
        session_id: session.id.clone(),
        config: Some(toolkits(&["github"])),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["toolkits".into()],
        }),
        expected_config_version: None,
    })
    .await
    .unwrap();
    succeeds(
        &mut on_a,
        create_issue(&session.id, "back"),
        "back in the session",
    )
    .await;
    assert_eq!(created.load(Ordering::SeqCst), 2);

    // B disables the account: A's next call has no active account.
    connections_b
        .disable_connected_account(DisableConnectedAccountRequest {
            connected_account_id: account.id.clone(),
        })
        .await
        .unwrap();
    let refused = on_a
        .execute_tool(create_issue(&session.id, "disabled"))
        .await
        .unwrap_err();
    assert_refused(
        &refused,
        Code::FailedPrecondition,
        "ACCOUNT_NOT_ACTIVE",
        "",
        "a disabled account",
    );
    connections_b
        .enable_connected_account(EnableConnectedAccountRequest {
            connected_account_id: account.id.clone(),
        })
        .await
        .unwrap();
    succeeds(
        &mut on_a,
        create_issue(&session.id, "enabled"),
        "enabled again",
    )
    .await;
    assert_eq!(created.load(Ordering::SeqCst), 3);

    // The key A's calls used is revoked: the next call is unauthenticated.
    let mut admin = b.admin();
    let spare = admin
        .create_api_key(CreateApiKeyRequest {
            project_id: project.id.clone(),
            name: "spare".into(),
        })
        .await
        .unwrap()
        .into_inner();
    admin
        .revoke_api_key(RevokeApiKeyRequest {
            project_id: project.id.clone(),
            key_id: project.key_id.clone(),
        })
        .await
        .unwrap();
    let refused = on_a
        .execute_tool(create_issue(&session.id, "revoked"))
        .await
        .unwrap_err();
    assert_refused(
        &refused,
        Code::Unauthenticated,
        "INVALID_API_KEY",
        "",
        "a revoked key",
    );
    // Not even a call with bad arguments learns more than that.
    let mut bad = create_issue(&session.id, "x");
    bad.arguments_json = r#"{"owner": 7}"#.into();
    let refused = on_a.execute_tool(bad).await.unwrap_err();
    assert_refused(
        &refused,
        Code::Unauthenticated,
        "INVALID_API_KEY",
        "",
        "bad arguments with a revoked key",
    );

    // B deletes the session: A's next call (with the other key) does not find it.
    let mut on_a = a.sessions(Some(&spare.secret));
    let mut on_b = b.sessions(Some(&spare.secret));
    succeeds(
        &mut on_a,
        create_issue(&session.id, "spare key"),
        "the spare key",
    )
    .await;
    assert_eq!(created.load(Ordering::SeqCst), 4);
    on_b.delete_session(DeleteSessionRequest {
        session_id: session.id.clone(),
    })
    .await
    .unwrap();
    let refused = on_a
        .execute_tool(create_issue(&session.id, "deleted"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");

    // Only the calls that ran reached GitHub, and only they were stored.
    assert_eq!(created.load(Ordering::SeqCst), 4);
    let stored = a
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains(":ex:"))
        .count();
    assert_eq!(stored, 4, "executions stored");
    workers.stop().await;
    b.stop_keep_data().await;
    a.stop().await;
}
