//! End to end, as a user runs it: the `switchboard` binary as a process. `switchboard dev`
//! prints its addresses and the development project's API key, the key works, SIGTERM stops it
//! cleanly, a restart keeps the same key, `switchboard admin` works against it, and a broken
//! toolkit file stops it before it listens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use switchboard_proto::v1::{
    session_service_client::SessionServiceClient, CreateSessionRequest, ListSessionsRequest,
};
use tonic::metadata::MetadataValue;

mod common;
use common::{Dev, Prefixes};

#[tokio::test]
async fn dev_prints_a_working_key_stops_on_sigterm_and_keeps_the_key_across_restarts() {
    let prefixes = Prefixes::new();
    let data = tempfile::tempdir().unwrap();

    let first = Dev::start(&prefixes, data.path());
    assert!(first.banner.contains("(created)"), "{}", first.banner);
    assert!(first.api_key.starts_with("sk_"), "{}", first.banner);
    first.wait_serving().await;

    // The key works for the Sessions API.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", first.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let key = MetadataValue::try_from(first.api_key.as_str()).unwrap();
    let mut sessions =
        SessionServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("x-api-key", key.clone());
            Ok(r)
        });
    let created = sessions
        .create_session(CreateSessionRequest {
            user_id: "user_123".into(),
            config: None,
        })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();

    // The admin CLI finds the gateway and the token dev keeps.
    let out = prefixes
        .command(data.path())
        .args([
            "admin",
            "--gateway",
            &format!("http://{}", first.grpc),
            "create-project",
            "--name",
            "acme",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\tacme\t"));
    let wrong = prefixes
        .command(data.path())
        .args([
            "admin",
            "--gateway",
            &format!("http://{}", first.grpc),
            "--admin-token",
            "not-the-token-at-all",
            "list-projects",
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("Unauthenticated"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );

    // `sessions` keeps its connection open, as a backend would.
    let status = first.terminate().await;
    assert!(
        status.success(),
        "switchboard dev exited with {status} after SIGTERM"
    );
    // The key is kept; it is stored on disk only in the 0600 state file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("dev.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let second = Dev::start(&prefixes, data.path());
    assert!(
        second.banner.contains("(kept from the last run)"),
        "{}",
        second.banner
    );
    let first_key = created.id.clone();
    second.wait_serving().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", second.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let key = MetadataValue::try_from(second.api_key.as_str()).unwrap();
    let mut sessions =
        SessionServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("x-api-key", key.clone());
            Ok(r)
        });
    let listed = sessions
        .list_sessions(ListSessionsRequest {
            user_id: "user_123".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(
        listed.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![first_key]
    );
    let stopping = Instant::now();
    assert!(second.terminate().await.success());
    println!("second dev stopped {:?} after SIGTERM", stopping.elapsed());
    prefixes.cleanup().await;
}

#[tokio::test]
async fn a_broken_toolkit_file_stops_dev_with_the_file_tool_and_problem() {
    let prefixes = Prefixes::new();
    let data = tempfile::tempdir().unwrap();
    let toolkits = tempfile::tempdir().unwrap();
    std::fs::write(
        toolkits.path().join("demo.yaml"),
        "slug: demo\nname: Demo\ndescription: d\nbase_url: https://example.com\nauth: {schemes: [NO_AUTH]}\ntools:\n  - slug: DEMO_GET\n    name: Get\n    description: d\n    input_schema: {type: object, properties: {}}\n    output_schema: {type: object}\n    http: {method: GET, path: \"/things/{id}\"}\n",
    )
    .unwrap();
    let out = prefixes
        .command(data.path())
        .env("SWITCHBOARD_CATALOG__DIR", toolkits.path())
        .arg("dev")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("demo.yaml") && stderr.contains("DEMO_GET") && stderr.contains("\"id\""),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("gRPC"),
        "it must not start listening"
    );
    prefixes.cleanup().await;
}

#[test]
fn dump_config_shows_layers_and_hides_the_admin_token() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("c.toml");
    std::fs::write(
        &file,
        "[gateway]\ngrpc_addr = \"127.0.0.1:7001\"\nadmin_token = \"a-secret-admin-token-123\"\n",
    )
    .unwrap();
    let out = Prefixes::new()
        .command(data.path())
        .env("SWITCHBOARD_CONFIG", &file)
        .args([
            "--dump-config",
            "--set",
            "redis.key_prefix=from-flag",
            "dev",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // The environment sets grpc_addr to port 0 over the file; the flag wins over the env.
    assert!(text.contains("grpc_addr: 127.0.0.1:0"), "{text}");
    assert!(text.contains("key_prefix: from-flag"), "{text}");
    assert!(!text.contains("a-secret-admin-token-123"), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
}

/// `switchboard admin` reaches a gateway whose gRPC listener requires mutual TLS: an https://
/// URL, `--ca-file` and the client certificate; without the certificate it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reaches_a_gateway_that_requires_mutual_tls() {
    let pki = switchboard_testkit::pki::Pki::generate();
    let mut config = switchboard_testkit::test_config();
    config.gateway.tls = switchboard_config::ServerTlsConfig {
        cert_file: Some(pki.server_cert.clone()),
        key_file: Some(pki.server_key.clone()),
        client_ca_file: Some(pki.ca.clone()),
    };
    let stack = switchboard_testkit::Stack::spawn_with(config).await;
    let token = stack.config.gateway.admin_token.clone().unwrap();
    let data = tempfile::tempdir().unwrap();
    let url = format!("https://{}", stack.grpc_addr);
    let admin = |client_cert: bool| {
        let mut cmd = Prefixes::new().command(data.path());
        cmd.args(["admin", "--gateway", &url, "--admin-token", &token])
            .arg("--ca-file")
            .arg(&pki.ca);
        if client_cert {
            cmd.arg("--cert-file")
                .arg(&pki.client_cert)
                .arg("--key-file")
                .arg(&pki.client_key);
        }
        cmd.args(["create-project", "--name", "tls-co"])
            .output()
            .unwrap()
    };
    let out = admin(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\ttls-co\t"));
    let refused = admin(false);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("connection"),
        "no client certificate: {stderr}"
    );
    stack.stop().await;
}
