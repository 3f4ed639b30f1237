//! TLS for real: the whole platform against a private TLS-only Redis and NATS that require
//! client certificates (`rediss://`, `tls://`, `redis.tls`, `nats.tls`); what happens without
//! the CA, without a client certificate or in plain text (a clear error at once, not a hang);
//! and the gateway's gRPC listener with mutual TLS (`gateway.tls`). Certificates are made per
//! test with rcgen.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod servers;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use servers::{TlsNats, TlsRedis};
use switchboard_config::{Config, ServerTlsConfig};
use switchboard_proto::v1::*;
use switchboard_testkit::calls::*;
use switchboard_testkit::pki::Pki;
use switchboard_testkit::triggers::Listener;
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_tls_test_token_0123456789";

/// [`test_config`] pointed at the private TLS servers, trusting the test CA and presenting the
/// test client certificate to both.
fn tls_config(pki: &Pki, redis: &TlsRedis, nats: &TlsNats) -> Config {
    let mut config = test_config();
    config.redis.url = redis.url();
    config.redis.cluster = false;
    config.redis.tls = pki.client_tls();
    config.nats.url = nats.url();
    config.nats.replicas = 1;
    config.nats.tls = pki.client_tls();
    config
}

/// A real example payload of GitHub's `issues`/`opened` delivery (`tests/fixtures/`).
fn issue_opened_example() -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/github/webhook-examples.json");
    let all: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    all.into_iter()
        .find(|e| e["name"] == "issues")
        .and_then(|e| {
            e["examples"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["action"] == "opened")
                .cloned()
        })
        .expect("an issues/opened example")
}

/// Posts `payload` as a GitHub delivery signed with `secret`; the response status.
async fn deliver(url: &str, secret: &str, delivery: &str, payload: &Value) -> u16 {
    let body = serde_json::to_vec(payload).unwrap();
    let signature: String = switchboard_crypto::hmac_sha256(secret.as_bytes(), &body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", format!("sha256={signature}"))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The GitHub stand-in: creating an issue, and registering a repository hook.
async fn github_stand_in() -> MockServer {
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"number": 7, "title": "Crash on start", "state": "open"})),
        )
        .expect(1)
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/hooks"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 42, "active": true})))
        .mount(&github)
        .await;
    github
}

/// The secret and URL the platform registered the repository hook with.
async fn registered_hook(github: &MockServer) -> (String, String) {
    let requests = github.received_requests().await.unwrap();
    let register = requests
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == "/repos/acme/api/hooks")
        .expect("a hook was registered");
    let body: Value = serde_json::from_slice(&register.body).unwrap();
    (
        body["config"]["secret"].as_str().unwrap().to_owned(),
        body["config"]["url"].as_str().unwrap().to_owned(),
    )
}

/// Gateway, worker and triggers service against TLS-only Redis and NATS that require client
/// certificates: a tool call runs end to end (gateway → NATS → worker → provider stand-in →
/// Redis → reply) and a webhook delivery reaches an event subscriber (triggers → NATS →
/// gateway), every hop to Redis and NATS over mutual TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_runs_over_mutual_tls_to_redis_and_nats() {
    let pki = Pki::generate();
    let redis = TlsRedis::start(&pki, true);
    let nats = TlsNats::start(&pki);
    let github = github_stand_in().await;
    let mut config = tls_config(&pki, &redis, &nats);
    config
        .catalog
        .base_urls
        .insert("github".into(), github.uri());
    let listener = Listener::bind(&mut config).await;
    let stack = Stack::spawn_with(config).await;
    let workers = Workers::spawn(&stack.config, 1);
    let triggers = listener.spawn(&stack.config);
    triggers.ready().await;
    let project = stack.project().await;
    let (_, session) = github_account_session(&stack, &project, "pat", "ada", "work", TOKEN).await;

    let execution = stack
        .sessions(Some(&project.api_key))
        .execute_tool(ExecuteToolRequest {
            session_id: session.id.clone(),
            tool_slug: "GITHUB_CREATE_ISSUE".into(),
            arguments_json: r#"{"owner": "acme", "repo": "api", "title": "Crash on start"}"#.into(),
            mode: ExecutionMode::Sync as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .execution
        .unwrap();
    assert_eq!(
        execution.status(),
        ExecutionStatus::Succeeded,
        "{execution:?}"
    );
    let data = switchboard_proto::value_to_json(execution.data.as_ref().unwrap());
    assert_eq!(data["number"], 7);

    let trigger = stack
        .triggers(Some(&project.api_key))
        .create_trigger(CreateTriggerRequest {
            r#type: "GITHUB_ISSUE_OPENED".into(),
            user_id: "ada".into(),
            connected_account_id: String::new(),
            config: Some(switchboard_proto::json_to_struct(
                &json!({"owner": "acme", "repo": "api"}),
            )),
        })
        .await
        .unwrap()
        .into_inner()
        .trigger
        .unwrap();
    let (secret, url) = registered_hook(&github).await;
    let mut events = stack
        .triggers(Some(&project.api_key))
        .subscribe_events(SubscribeEventsRequest {
            user_id: "ada".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let payload = issue_opened_example();
    assert_eq!(deliver(&url, &secret, "d-tls-1", &payload).await, 200);
    let event = tokio::time::timeout(Duration::from_secs(10), events.message())
        .await
        .expect("the event arrives")
        .unwrap()
        .expect("an event");
    assert_eq!(event.r#type, "trigger.message");
    assert_eq!(event.metadata.unwrap().trigger_id, trigger.id);

    // It all lives on the private TLS Redis (read back over TLS with the same settings).
    assert!(stack.key_count().await > 0);
    drop(events);
    workers.stop().await;
    triggers.stop().await;
    stack.stop().await;
}

/// A server certificate the client cannot verify, a missing client certificate, a plain-text
/// client on a TLS port, a TLS file that is not there: each fails the connection (or the
/// service's start) at once, with an error that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_servers_missing_certificates_and_plain_text_fail_at_once_and_say_why() {
    let pki = Pki::generate();
    // Client certificates optional here, so what fails is the trust in the server alone.
    let redis = TlsRedis::start(&pki, false);
    let nats = TlsNats::start(&pki);
    let good = tls_config(&pki, &redis, &nats);
    let within = |secs| Duration::from_secs(secs);

    // Without the CA the server's certificate is from an unknown issuer.
    let mut redis_no_ca = good.redis.clone();
    redis_no_ca.tls.ca_file = None;
    let err = tokio::time::timeout(
        within(15),
        switchboard_store::Store::from_config(&redis_no_ca),
    )
    .await
    .expect("no hang")
    .err()
    .expect("an untrusted Redis is refused")
    .to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // A plain-text client on the TLS-only port.
    let mut plain = good.redis.clone();
    plain.url = format!("redis://127.0.0.1:{}", redis.port);
    plain.tls = Default::default();
    let result = tokio::time::timeout(within(20), switchboard_store::Store::from_config(&plain))
        .await
        .expect("no hang");
    let err = result.err().expect("plain text to the TLS port is refused");
    assert!(
        err.to_string().contains("failed to connect to Redis"),
        "{err}"
    );

    let mut nats_no_ca = good.nats.clone();
    nats_no_ca.tls.ca_file = None;
    let err = switchboard_bus::Bus::from_config(&nats_no_ca, within(10))
        .await
        .err()
        .expect("an untrusted NATS is refused")
        .to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");
    // This NATS requires a client certificate (`verify: true`).
    let mut nats_no_cert = good.nats.clone();
    nats_no_cert.tls.cert_file = None;
    nats_no_cert.tls.key_file = None;
    let err = switchboard_bus::Bus::from_config(&nats_no_cert, within(10))
        .await
        .err()
        .expect("a client without a certificate is refused")
        .to_string();
    assert!(
        err.contains("failed to connect to NATS") && err.contains("fatal alert"),
        "{err}"
    );

    // The services stop with that error instead of waiting.
    let mut config = good.clone();
    config.redis.tls.ca_file = None;
    let listeners = switchboard_gateway::Listeners::bind(&config).await.unwrap();
    let err = tokio::time::timeout(
        within(20),
        switchboard_testkit::run_gateway(config, listeners, CancellationToken::new()),
    )
    .await
    .expect("no hang")
    .expect_err("the gateway does not start")
    .to_string();
    assert!(
        err.contains(&redis.url()) && err.contains("UnknownIssuer"),
        "{err}"
    );
    let mut config = good.clone();
    config.nats.tls.ca_file = None;
    let err = tokio::time::timeout(
        within(20),
        switchboard_testkit::workers::run_worker(config, CancellationToken::new()),
    )
    .await
    .expect("no hang")
    .expect_err("the worker does not start")
    .to_string();
    assert!(
        err.contains(&nats.url()) && err.contains("UnknownIssuer"),
        "{err}"
    );
    let mut config = good.clone();
    config.redis.tls.ca_file = Some(pki.dir.path().join("missing-ca.crt"));
    let err = tokio::time::timeout(
        within(5),
        switchboard_testkit::workers::run_worker(config, CancellationToken::new()),
    )
    .await
    .expect("no hang")
    .expect_err("the worker does not start")
    .to_string();
    assert!(
        err.contains("redis.tls.ca_file") && err.contains("missing-ca.crt"),
        "{err}"
    );
    let mut config = good;
    config.nats.tls.key_file = Some(pki.dir.path().join("missing.key"));
    let err = switchboard_bus::Bus::from_config(&config.nats, within(5))
        .await
        .err()
        .expect("a missing key file")
        .to_string();
    assert!(err.contains("nats.tls.key_file"), "{err}");
}

/// `redis.cluster` over TLS: the cluster client takes the same CA and client certificate, and
/// reaches the nodes the cluster names over TLS too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_is_reached_over_mutual_tls() {
    let pki = Pki::generate();
    let node = TlsRedis::start_cluster(&pki);
    let mut redis = test_config().redis;
    redis.url = node.url();
    redis.cluster = true;
    redis.tls = pki.client_tls();
    node.assign_all_slots(&redis).await;

    let store = switchboard_store::Store::from_config(&redis).await.unwrap();
    let project = store.create_project("tls-cluster").await.unwrap();
    assert_eq!(
        store.get_project(&project.id).await.unwrap().name,
        "tls-cluster"
    );

    redis.tls.ca_file = None;
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        switchboard_store::Store::from_config(&redis),
    )
    .await
    .expect("no hang")
    .err()
    .expect("an untrusted cluster is refused")
    .to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");
}

/// A channel to the gateway at `addr` over TLS that trusts `ca`, presenting `identity`.
fn tls_channel(addr: std::net::SocketAddr, ca: &Path, identity: Option<(&Path, &Path)>) -> Channel {
    let mut tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(ca).unwrap()));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(cert).unwrap(),
            std::fs::read(key).unwrap(),
        ));
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_lazy()
}

/// The call never reached the service: the status comes from the client's transport (the
/// connection failed, or was closed during or right after the handshake: with TLS 1.3 the
/// server refuses a client certificate after the client's side of the handshake is done), not
/// from the gateway. Its code varies with the moment the connection broke.
fn assert_transport_refusal(status: &tonic::Status, what: &str) {
    assert!(
        std::error::Error::source(status).is_some_and(|s| s.is::<tonic::transport::Error>()),
        "{what}: {status:?}"
    );
}

/// `gateway.tls` with `client_ca_file`: the gRPC listener speaks TLS only and takes only
/// clients with a certificate signed by that CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_grpc_listener_serves_mutual_tls_only() {
    let pki = Pki::generate();
    let mut config = test_config();
    config.gateway.tls = ServerTlsConfig {
        cert_file: Some(pki.server_cert.clone()),
        key_file: Some(pki.server_key.clone()),
        client_ca_file: Some(pki.ca.clone()),
    };
    let mut stack = Stack::spawn_with(config).await;
    stack.channel = tls_channel(
        stack.grpc_addr,
        &pki.ca,
        Some((&pki.client_cert, &pki.client_key)),
    );
    // Admin and session calls work with the client certificate.
    let project = stack.project().await;
    let session = create_session(
        &mut stack.sessions(Some(&project.api_key)),
        "ada",
        toolkits_config(&["github"]),
    )
    .await;
    assert!(session.id.starts_with("ses_"), "{session:?}");

    let request = || CreateSessionRequest {
        user_id: "ada".into(),
        config: None,
    };
    for (what, channel) in [
        (
            "no client certificate",
            tls_channel(stack.grpc_addr, &pki.ca, None),
        ),
        (
            "a client certificate from another CA",
            tls_channel(
                stack.grpc_addr,
                &pki.ca,
                Some((&pki.stranger_cert, &pki.stranger_key)),
            ),
        ),
        (
            "plain text",
            Channel::from_shared(format!("http://{}", stack.grpc_addr))
                .unwrap()
                .connect_lazy(),
        ),
    ] {
        let result = tokio::time::timeout(
            Duration::from_secs(10),
            sessions_on(channel, Some(&project.api_key)).create_session(request()),
        )
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer"));
        let status = result.expect_err(what);
        assert_transport_refusal(&status, what);
    }
    // A client that does not trust the gateway's CA refuses it too.
    let untrusting = Channel::from_shared(format!("https://{}", stack.grpc_addr))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .with_webpki_roots()
                .identity(Identity::from_pem(
                    std::fs::read(&pki.client_cert).unwrap(),
                    std::fs::read(&pki.client_key).unwrap(),
                )),
        )
        .unwrap()
        .connect_lazy();
    let status = sessions_on(untrusting, Some(&project.api_key))
        .create_session(request())
        .await
        .expect_err("an untrusted gateway");
    assert_transport_refusal(&status, "a client that does not trust the gateway");
    stack.stop().await;
}

/// A gateway whose certificate or key file is missing, or is not PEM, does not start, and says
/// which setting is wrong (before it connects to anything).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_gateway_tls_file_stops_the_start_and_names_the_setting() {
    let pki = Pki::generate();
    let junk = pki.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let cases = [
        (
            ServerTlsConfig {
                cert_file: Some(pki.server_cert.clone()),
                key_file: Some(pki.dir.path().join("missing.key")),
                client_ca_file: None,
            },
            "gateway.tls.key_file",
        ),
        (
            ServerTlsConfig {
                cert_file: Some(junk),
                key_file: Some(pki.server_key.clone()),
                client_ca_file: None,
            },
            "gateway.tls.cert_file",
        ),
        (
            // A key that is not the certificate's.
            ServerTlsConfig {
                cert_file: Some(pki.server_cert.clone()),
                key_file: Some(pki.client_key.clone()),
                client_ca_file: None,
            },
            "gateway.tls",
        ),
    ];
    for (tls, field) in cases {
        let mut config = test_config();
        config.gateway.tls = tls;
        let listeners = switchboard_gateway::Listeners::bind(&config).await.unwrap();
        let err = tokio::time::timeout(
            Duration::from_secs(10),
            switchboard_testkit::run_gateway(config, listeners, CancellationToken::new()),
        )
        .await
        .expect("no hang")
        .expect_err("the gateway does not start")
        .to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
}
