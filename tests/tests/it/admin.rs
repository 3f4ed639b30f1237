#![allow(clippy::unwrap_used, clippy::expect_used)]
//! AdminService as an operator sees it: the admin token guards every call, projects are
//! created and listed, API keys are shown once, stored only as hashes, and a revoked key stops
//! working at once while the project's other keys keep working. A key never reaches another
//! project's data.

use std::collections::BTreeSet;

use switchboard_proto::v1::*;
use switchboard_testkit::*;
use tonic::Code;

async fn create_project(admin: &mut Admin, name: &str) -> Result<Project, tonic::Status> {
    admin
        .create_project(CreateProjectRequest { name: name.into() })
        .await
        .map(|r| r.into_inner().project.expect("project in response"))
}

async fn create_key(admin: &mut Admin, project_id: &str, name: &str) -> CreateApiKeyResponse {
    admin
        .create_api_key(CreateApiKeyRequest {
            project_id: project_id.into(),
            name: name.into(),
        })
        .await
        .expect("create api key")
        .into_inner()
}

async fn get_project(admin: &mut Admin, id: &str) -> Result<Project, tonic::Status> {
    admin
        .get_project(GetProjectRequest {
            project_id: id.into(),
        })
        .await
        .map(|r| r.into_inner().project.expect("project in response"))
}

async fn list_keys(
    admin: &mut Admin,
    project_id: &str,
) -> Result<ListApiKeysResponse, tonic::Status> {
    admin
        .list_api_keys(ListApiKeysRequest {
            project_id: project_id.into(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn revoke_key(
    admin: &mut Admin,
    project_id: &str,
    key_id: &str,
) -> Result<RevokeApiKeyResponse, tonic::Status> {
    admin
        .revoke_api_key(RevokeApiKeyRequest {
            project_id: project_id.into(),
            key_id: key_id.into(),
        })
        .await
        .map(|r| r.into_inner())
}

/// A valid-looking project id nobody created.
fn unknown_project_id() -> String {
    random_id("prj")
}

#[tokio::test]
async fn every_admin_call_needs_the_admin_token() {
    let stack = Stack::spawn().await;
    let project = stack.project().await;

    let no_token = stack.admin_with(None);
    let wrong = stack.admin_with(Some("admin-not-the-token"));
    let api_key_as_admin = stack.admin_with(Some(&project.api_key));
    let almost = format!("{}x", stack.config.gateway.admin_token.as_deref().unwrap());
    let near_miss = stack.admin_with(Some(&almost));
    for (what, client) in [
        ("no token", no_token),
        ("wrong token", wrong),
        ("a project API key", api_key_as_admin),
        ("the admin token plus one character", near_miss),
    ] {
        let err = create_project(&mut client.clone(), "p").await.unwrap_err();
        let (reason, _) = expect_error(&err, Code::Unauthenticated);
        assert_eq!(reason, "INVALID_ADMIN_TOKEN", "{what}");

        let refused = [
            client
                .clone()
                .list_projects(ListProjectsRequest::default())
                .await
                .unwrap_err(),
            get_project(&mut client.clone(), &project.id)
                .await
                .unwrap_err(),
            client
                .clone()
                .create_api_key(CreateApiKeyRequest {
                    project_id: project.id.clone(),
                    name: "k".into(),
                })
                .await
                .unwrap_err(),
            list_keys(&mut client.clone(), &project.id)
                .await
                .unwrap_err(),
            revoke_key(&mut client.clone(), &project.id, &project.key_id)
                .await
                .unwrap_err(),
        ];
        for err in refused {
            expect_error(&err, Code::Unauthenticated);
        }
    }

    // None of the refused calls created or revoked anything.
    let mut admin = stack.admin();
    let listed = admin
        .list_projects(ListProjectsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.projects.len(), 1);
    let mut sessions = stack.sessions(Some(&project.api_key));
    create_without_config(&mut sessions, "user_1")
        .await
        .unwrap();
    stack.stop().await;
}

#[tokio::test]
async fn admin_api_is_disabled_without_a_configured_token() {
    let mut config = test_config();
    config.gateway.admin_token = None;
    let stack = Stack::spawn_with(config).await;
    for token in [None, Some(""), Some("anything")] {
        let mut admin = stack.admin_with(token);
        let err = create_project(&mut admin, "p").await.unwrap_err();
        let (reason, _) = expect_error(&err, Code::FailedPrecondition);
        assert_eq!(reason, "ADMIN_DISABLED", "token {token:?}");
        assert!(
            err.message().contains("admin_token"),
            "the message says how to turn it on: {err:?}"
        );
    }
    assert_eq!(stack.key_count().await, 0, "nothing was stored");
    stack.stop().await;
}

#[tokio::test]
async fn create_project_validates_the_name() {
    let stack = Stack::spawn().await;
    let mut admin = stack.admin();

    for (name, reason) in [
        ("", "REQUIRED"),
        ("   ", "REQUIRED"),
        ("bad\nname", "INVALID_NAME"),
        ("bad\u{7}name", "INVALID_NAME"),
        ("tab\tinside", "INVALID_NAME"),
    ] {
        let err = create_project(&mut admin, name).await.unwrap_err();
        let (got_reason, field) = expect_error(&err, Code::InvalidArgument);
        assert_eq!(field, "name", "name {name:?}");
        assert_eq!(got_reason, reason, "name {name:?}");
    }
    let too_long = "a".repeat(129);
    let err = create_project(&mut admin, &too_long).await.unwrap_err();
    let (reason, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!((reason.as_str(), field.as_str()), ("INVALID_NAME", "name"));
    // 129 bytes made of multi-byte characters is also too long.
    let too_long_bytes = format!("{}a", "é".repeat(64));
    assert_eq!(too_long_bytes.len(), 129);
    let err = create_project(&mut admin, &too_long_bytes)
        .await
        .unwrap_err();
    expect_error(&err, Code::InvalidArgument);
    assert_eq!(stack.key_count().await, 0, "no refused project was stored");

    // The limit itself is accepted, and a valid project reads back as created.
    let max = "b".repeat(128);
    let created = create_project(&mut admin, &max).await.unwrap();
    assert!(created.id.starts_with("prj_"), "{}", created.id);
    assert_eq!(created.name, max);
    assert!(created.create_time.is_some());
    let unicode = create_project(&mut admin, "Équipe données").await.unwrap();
    assert_eq!(unicode.name, "Équipe données");
    let got = get_project(&mut admin, &created.id).await.unwrap();
    assert_eq!(got, created);
    stack.stop().await;
}

#[tokio::test]
async fn get_project_unknown_or_malformed_is_not_found() {
    let stack = Stack::spawn().await;
    let mut admin = stack.admin();
    let real = create_project(&mut admin, "real").await.unwrap();
    for id in [
        unknown_project_id(),
        "nope".to_string(),
        "prj_".to_string(),
        real.id.to_uppercase(),
        format!("{}x", real.id),
        real.id.replace("prj_", "ses_"),
    ] {
        let err = get_project(&mut admin, &id).await.unwrap_err();
        let (reason, _) = expect_error(&err, Code::NotFound);
        assert_eq!(reason, "PROJECT_NOT_FOUND", "id {id:?}");
    }
    let err = get_project(&mut admin, "").await.unwrap_err();
    let (_, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!(field, "project_id");

    // Keys of a project that does not exist can't be created or listed.
    let err = admin
        .create_api_key(CreateApiKeyRequest {
            project_id: unknown_project_id(),
            name: "k".into(),
        })
        .await
        .unwrap_err();
    let (reason, _) = expect_error(&err, Code::NotFound);
    assert_eq!(reason, "PROJECT_NOT_FOUND");
    let err = list_keys(&mut admin, &unknown_project_id())
        .await
        .unwrap_err();
    expect_error(&err, Code::NotFound);
    stack.stop().await;
}

#[tokio::test]
async fn list_projects_pages_through_every_project_once() {
    let stack = Stack::spawn().await;
    let mut admin = stack.admin();
    let mut created = BTreeSet::new();
    for i in 0..5 {
        created.insert(
            create_project(&mut admin, &format!("p{i}"))
                .await
                .unwrap()
                .id,
        );
    }

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = admin
            .list_projects(ListProjectsRequest {
                page_size: 2,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.projects.len() <= 2, "page of {}", page.projects.len());
        assert!(!page.projects.is_empty(), "no empty pages");
        seen.extend(page.projects.into_iter().map(|p| p.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "a project was listed twice: {seen:?}"
    );
    assert_eq!(unique, created);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "listed in a stable (id) order");

    // Default page size lists all five with no next page.
    let all = admin
        .list_projects(ListProjectsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.projects.len(), 5);
    assert!(all.next_page_token.is_empty());

    // Bad paging input names the field.
    let err = admin
        .list_projects(ListProjectsRequest {
            page_size: -1,
            page_token: String::new(),
        })
        .await
        .unwrap_err();
    let (_, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!(field, "page_size");
    let err = admin
        .list_projects(ListProjectsRequest {
            page_size: 2,
            page_token: "not-a-token".into(),
        })
        .await
        .unwrap_err();
    let (_, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!(field, "page_token");
    stack.stop().await;
}

#[tokio::test]
async fn api_key_secret_is_shown_once_and_works() {
    let stack = Stack::spawn().await;
    let mut admin = stack.admin();
    let project = create_project(&mut admin, "keys").await.unwrap();
    let created = create_key(&mut admin, &project.id, "ci").await;
    let secret = created.secret.clone();
    let key = created.api_key.clone().unwrap();
    assert!(secret.starts_with("sk_"), "{secret}");
    assert!(secret.len() >= 40, "a secret has enough entropy: {secret}");
    assert!(key.id.starts_with("key_"), "{}", key.id);
    assert_eq!(key.project_id, project.id);
    assert_eq!(key.name, "ci");
    assert!(key.create_time.is_some());
    assert!(key.revoke_time.is_none());
    assert!(!key.prefix.is_empty());
    assert!(
        secret.starts_with(&key.prefix),
        "prefix {:?} is the start of the secret",
        key.prefix
    );
    assert!(
        key.prefix.len() < secret.len() / 2,
        "the prefix does not give away the secret"
    );
    assert!(
        !format!("{key:?}").contains(&secret),
        "the key record itself does not carry the secret"
    );

    // A second key gets a different secret.
    let other = create_key(&mut admin, &project.id, "").await;
    assert_ne!(other.secret, secret);
    assert!(other.api_key.as_ref().unwrap().name.is_empty());

    // Listing shows both keys, their prefixes, and never a secret.
    let listed = list_keys(&mut admin, &project.id).await.unwrap();
    assert_eq!(listed.api_keys.len(), 2);
    let listed_key = listed.api_keys.iter().find(|k| k.id == key.id).unwrap();
    assert_eq!(listed_key, &key);
    let debug = format!("{listed:?}");
    assert!(!debug.contains(&secret), "ListApiKeys leaks a secret");
    assert!(!debug.contains(&other.secret), "ListApiKeys leaks a secret");
    let random_part = &secret[secret.len() - 32..];
    assert!(!debug.contains(random_part), "ListApiKeys leaks a secret");

    // The secret authenticates the session API, as a bearer token and as x-api-key.
    let mut sessions = stack.sessions(Some(&secret));
    let session = create_without_config(&mut sessions, "user_1")
        .await
        .unwrap();
    assert_eq!(
        get_session(&mut sessions, &session.id).await.unwrap().id,
        session.id
    );
    let mut raw = switchboard_proto::v1::session_service_client::SessionServiceClient::new(
        stack.channel.clone(),
    );
    let request = with_x_api_key(
        GetSessionRequest {
            session_id: session.id.clone(),
        },
        &secret,
    );
    raw.get_session(request).await.unwrap();

    // Without a key, or with a made-up one, the session API refuses.
    let mut anonymous = stack.sessions(None);
    let err = create_without_config(&mut anonymous, "user_1")
        .await
        .unwrap_err();
    expect_error(&err, Code::Unauthenticated);
    let forged = format!("{}A", &secret[..secret.len() - 1]);
    let forged = if forged == secret {
        format!("{}B", &secret[..secret.len() - 1])
    } else {
        forged
    };
    let mut forged_client = stack.sessions(Some(&forged));
    let err = get_session(&mut forged_client, &session.id)
        .await
        .unwrap_err();
    let (reason, _) = expect_error(&err, Code::Unauthenticated);
    assert_eq!(reason, "INVALID_API_KEY");
    // The admin token is not an API key either.
    let admin_token = stack.config.gateway.admin_token.clone().unwrap();
    let mut as_admin = stack.sessions(Some(&admin_token));
    let err = create_without_config(&mut as_admin, "user_1")
        .await
        .unwrap_err();
    expect_error(&err, Code::Unauthenticated);
    stack.stop().await;
}

#[tokio::test]
async fn create_api_key_validates_the_name() {
    let stack = Stack::spawn().await;
    let mut admin = stack.admin();
    let project = create_project(&mut admin, "p").await.unwrap();
    for name in ["a".repeat(129), "line\nbreak".into()] {
        let err = admin
            .create_api_key(CreateApiKeyRequest {
                project_id: project.id.clone(),
                name: name.clone(),
            })
            .await
            .unwrap_err();
        let (_, field) = expect_error(&err, Code::InvalidArgument);
        assert_eq!(field, "name", "name {name:?}");
    }
    let listed = list_keys(&mut admin, &project.id).await.unwrap();
    assert!(listed.api_keys.is_empty(), "no refused key was stored");
    stack.stop().await;
}

#[tokio::test]
async fn secrets_are_stored_only_as_hashes() {
    let stack = Stack::spawn().await;
    let mut admin = stack.admin();
    let project = create_project(&mut admin, "hashed").await.unwrap();
    let mut secrets = Vec::new();
    for i in 0..3 {
        secrets.push(
            create_key(&mut admin, &project.id, &format!("k{i}"))
                .await
                .secret,
        );
    }
    // Revoked keys must not leave their secret behind either.
    let revoked = create_key(&mut admin, &project.id, "revoked").await;
    revoke_key(&mut admin, &project.id, &revoked.api_key.unwrap().id)
        .await
        .unwrap();
    secrets.push(revoked.secret);

    let client = redis_client(&stack.config.redis.url);
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut stored: Vec<(String, Vec<u8>)> = Vec::new();
    for key in stack.keys().await {
        let kind: String = redis_cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![redis_cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap()],
            "hash" => redis_cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "zset" => redis_cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .unwrap(),
            "set" => redis_cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "list" => redis_cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap(),
            other => panic!("unexpected Redis type {other} at {key}"),
        };
        stored.push((key.clone(), key.clone().into_bytes()));
        stored.extend(values.into_iter().map(|v| (key.clone(), v)));
    }
    assert!(
        stored.iter().any(|(k, _)| k.contains(&project.id)),
        "the scan sees the project's keys: {stored:?}"
    );
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    for secret in &secrets {
        // The tail of a secret is random: it must not appear anywhere either.
        let random_part = &secret[secret.len() - 32..];
        for (key, bytes) in &stored {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "the secret is stored in clear at {key}"
            );
            assert!(
                !contains(bytes, random_part.as_bytes()),
                "the secret's random part is stored in clear at {key}"
            );
        }
    }
    // The unrevoked keys still authenticate, so what is stored is enough to check them.
    for secret in &secrets[..3] {
        let mut sessions = stack.sessions(Some(secret));
        create_without_config(&mut sessions, "user_1")
            .await
            .unwrap();
    }
    stack.stop().await;
}

#[tokio::test]
async fn revoked_key_fails_at_once_and_other_keys_keep_working() {
    let stack = Stack::spawn().await;
    let mut admin = stack.admin();
    let project = create_project(&mut admin, "revoke").await.unwrap();
    let doomed = create_key(&mut admin, &project.id, "doomed").await;
    let kept = create_key(&mut admin, &project.id, "kept").await;
    let doomed_id = doomed.api_key.as_ref().unwrap().id.clone();

    let mut doomed_sessions = stack.sessions(Some(&doomed.secret));
    let mut kept_sessions = stack.sessions(Some(&kept.secret));
    let session = create_without_config(&mut doomed_sessions, "user_1")
        .await
        .unwrap();

    let revoked = revoke_key(&mut admin, &project.id, &doomed_id)
        .await
        .unwrap()
        .api_key
        .unwrap();
    assert_eq!(revoked.id, doomed_id);
    let revoke_time = revoked.revoke_time.expect("revoke_time set");

    // The very next call with the revoked key fails; the other key still works.
    let err = get_session(&mut doomed_sessions, &session.id)
        .await
        .unwrap_err();
    let (reason, _) = expect_error(&err, Code::Unauthenticated);
    assert_eq!(reason, "INVALID_API_KEY");
    let err = create_without_config(&mut doomed_sessions, "user_1")
        .await
        .unwrap_err();
    expect_error(&err, Code::Unauthenticated);
    let mut catalog = stack.catalog(Some(&doomed.secret));
    let err = catalog
        .list_toolkits(ListToolkitsRequest::default())
        .await
        .unwrap_err();
    expect_error(&err, Code::Unauthenticated);
    assert_eq!(
        get_session(&mut kept_sessions, &session.id)
            .await
            .unwrap()
            .id,
        session.id,
        "sessions belong to the project, not the key"
    );

    // Revoking again is fine and keeps the first revoke_time.
    let again = revoke_key(&mut admin, &project.id, &doomed_id)
        .await
        .unwrap()
        .api_key
        .unwrap();
    assert_eq!(again.revoke_time.as_ref(), Some(&revoke_time));
    let listed = list_keys(&mut admin, &project.id).await.unwrap().api_keys;
    assert_eq!(listed.len(), 2, "a revoked key stays listed");
    let listed_doomed = listed.iter().find(|k| k.id == doomed_id).unwrap();
    assert_eq!(listed_doomed.revoke_time.as_ref(), Some(&revoke_time));
    let listed_kept = listed
        .iter()
        .find(|k| k.id == kept.api_key.as_ref().unwrap().id)
        .unwrap();
    assert!(listed_kept.revoke_time.is_none());

    // Still refused after the second revoke; the kept key still works.
    let err = get_session(&mut doomed_sessions, &session.id)
        .await
        .unwrap_err();
    expect_error(&err, Code::Unauthenticated);
    create_without_config(&mut kept_sessions, "user_2")
        .await
        .unwrap();

    // Unknown key ids and missing fields.
    let err = revoke_key(&mut admin, &project.id, "key_does_not_exist")
        .await
        .unwrap_err();
    let (reason, _) = expect_error(&err, Code::NotFound);
    assert_eq!(reason, "API_KEY_NOT_FOUND");
    let err = revoke_key(&mut admin, &project.id, "").await.unwrap_err();
    let (_, field) = expect_error(&err, Code::InvalidArgument);
    assert_eq!(field, "key_id");
    stack.stop().await;
}

#[tokio::test]
async fn a_project_cannot_revoke_or_see_another_projects_keys_and_sessions() {
    let stack = Stack::spawn().await;
    let a = stack.project().await;
    let b = stack.project().await;
    let mut admin = stack.admin();

    // Revoking A's key through B's id: not found, and A's key keeps working.
    let err = revoke_key(&mut admin, &b.id, &a.key_id).await.unwrap_err();
    let (reason, _) = expect_error(&err, Code::NotFound);
    assert_eq!(reason, "API_KEY_NOT_FOUND");
    let mut a_sessions = stack.sessions(Some(&a.api_key));
    let mut b_sessions = stack.sessions(Some(&b.api_key));
    create_without_config(&mut a_sessions, "user_1")
        .await
        .unwrap();

    // Each project lists only its own keys.
    let b_keys = list_keys(&mut admin, &b.id).await.unwrap().api_keys;
    assert_eq!(
        b_keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>(),
        vec![b.key_id.clone()]
    );
    assert!(b_keys.iter().all(|k| k.project_id == b.id));

    // A session of B does not exist for A's key, even for the same user id.
    let b_session = create_without_config(&mut b_sessions, "user_1")
        .await
        .unwrap();
    let err = get_session(&mut a_sessions, &b_session.id)
        .await
        .unwrap_err();
    let (reason, _) = expect_error(&err, Code::NotFound);
    assert!(!reason.is_empty(), "a machine-readable reason: {err:?}");
    assert!(
        !err.message().contains(&b.id),
        "the error does not name the other project: {err:?}"
    );
    // B still reads its own session.
    assert_eq!(
        get_session(&mut b_sessions, &b_session.id)
            .await
            .unwrap()
            .id,
        b_session.id
    );
    stack.stop().await;
}
