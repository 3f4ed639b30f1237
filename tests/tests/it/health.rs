#![allow(clippy::unwrap_used, clippy::expect_used)]
//! What an operator and a load balancer see: HTTP liveness and readiness, grpc.health.v1,
//! server reflection for grpcurl-style clients, a clear start-up error when Redis is down or a
//! toolkit file is broken, and a graceful stop that closes the ports.

use std::time::Duration;

use futures::StreamExt;
use switchboard_testkit::*;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn healthz_and_readyz() {
    let stack = Stack::spawn().await;
    let (status, body) = http_get(&format!("http://{}/healthz", stack.http_addr))
        .await
        .expect("healthz answers");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get(&format!("http://{}/readyz", stack.http_addr))
        .await
        .expect("readyz answers");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("readyz returns JSON");
    assert_eq!(json["ready"], true, "{body}");
    assert_eq!(json["redis"], true, "{body}");
    assert_eq!(json["nats"], true, "{body}");
    let (status, _) = http_get(&format!("http://{}/no-such-path", stack.http_addr))
        .await
        .expect("http answers");
    assert_eq!(status, 404);
    stack.stop().await;
}

#[tokio::test]
async fn grpc_health_reports_serving() {
    let stack = Stack::spawn().await;
    let mut health = HealthClient::new(stack.channel.clone());
    for service in [
        "",
        "switchboard.v1.SessionService",
        "switchboard.v1.CatalogService",
        "switchboard.v1.AdminService",
    ] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health check of {service:?}: {e:?}"))
            .into_inner();
        assert_eq!(
            response.status(),
            ServingStatus::Serving,
            "service {service:?}"
        );
    }
    let err = health
        .check(HealthCheckRequest {
            service: "switchboard.v1.NoSuchService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    stack.stop().await;
}

async fn reflect(stack: &Stack, request: MessageRequest) -> MessageResponse {
    try_reflect(stack, request).await.expect("response ok")
}

async fn try_reflect(
    stack: &Stack,
    request: MessageRequest,
) -> Result<MessageResponse, tonic::Status> {
    let mut client = ServerReflectionClient::new(stack.channel.clone());
    let outbound = futures::stream::iter([ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    }]);
    let mut inbound = timeout(WAIT, client.server_reflection_info(outbound))
        .await
        .expect("reflection answers in time")
        .expect("reflection call")
        .into_inner();
    timeout(WAIT, inbound.next())
        .await
        .expect("reflection answers in time")
        .expect("one response")
        .map(|r| r.message_response.expect("a message"))
}

#[tokio::test]
async fn grpc_reflection_lists_and_describes_services() {
    let stack = Stack::spawn().await;
    let MessageResponse::ListServicesResponse(list) =
        reflect(&stack, MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "switchboard.v1.SessionService",
        "switchboard.v1.CatalogService",
        "switchboard.v1.AdminService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    // A reflection client can fetch the descriptors to build requests.
    let MessageResponse::FileDescriptorResponse(files) = reflect(
        &stack,
        MessageRequest::FileContainingSymbol("switchboard.v1.CatalogService".into()),
    )
    .await
    else {
        panic!("expected file descriptors");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    let all = files.file_descriptor_proto.concat();
    let contains = |needle: &str| all.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("CatalogService"));
    assert!(contains("ListToolkits"));

    let err = try_reflect(
        &stack,
        MessageRequest::FileContainingSymbol("switchboard.v1.NoSuchService".into()),
    )
    .await
    .expect_err("an unknown symbol is an error");
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    stack.stop().await;
}

#[tokio::test]
async fn stop_closes_both_ports() {
    let stack = Stack::spawn().await;
    let grpc_addr = stack.grpc_addr;
    let http_addr = stack.http_addr;
    // Open before stopping.
    assert!(tokio::net::TcpStream::connect(grpc_addr).await.is_ok());
    assert!(tokio::net::TcpStream::connect(http_addr).await.is_ok());
    // stop() asserts the gateway task ends cleanly within a bound.
    stack.stop().await;
    for addr in [grpc_addr, http_addr] {
        let connect = timeout(WAIT, tokio::net::TcpStream::connect(addr))
            .await
            .expect("connect attempt ends");
        assert!(connect.is_err(), "{addr} still accepts after stop");
    }
    assert!(
        http_get(&format!("http://{http_addr}/healthz"))
            .await
            .is_none(),
        "nothing answers after stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_lets_go_cannot_hold_shutdown_past_the_grace_period() {
    let mut config = test_config();
    config.shutdown_grace_secs = 1;
    let stack = Stack::spawn_with(config).await;
    let project = stack.project().await;
    let addr = stack.grpc_addr;
    let key = project.api_key.clone();
    // A client on its own runtime makes a call, then freezes (its runtime is blocked), so it
    // never answers the gateway's GOAWAY. It is released only after stop() has returned.
    let (release, frozen) = std::sync::mpsc::channel::<()>();
    let (called, call_done) = tokio::sync::oneshot::channel::<()>();
    let client = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let channel = connect(addr).await;
            let mut catalog =
                switchboard_proto::v1::catalog_service_client::CatalogServiceClient::new(
                    channel.clone(),
                );
            let req = with_x_api_key(
                switchboard_proto::v1::GetToolkitRequest {
                    slug: "github".into(),
                },
                &key,
            );
            catalog.get_toolkit(req).await.unwrap();
            called.send(()).unwrap();
            // Blocks this runtime: the connection stays open and unserviced.
            frozen.recv().unwrap();
            drop(channel);
        });
    });
    call_done.await.unwrap();
    // stop() returns (it asserts a clean end within 10 s) although the client still holds
    // its connection: the 1 s grace period closed it.
    stack.stop().await;
    release.send(()).unwrap();
    tokio::task::spawn_blocking(move || client.join().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn unreachable_redis_is_a_clear_start_up_error() {
    let mut config = test_config();
    // Nothing listens on port 1; the URL carries a password that must not be echoed.
    config.redis.url = "redis://:hunter2@127.0.0.1:1".into();
    let listeners = switchboard_gateway::Listeners::bind(&config).await.unwrap();
    let http_addr = listeners.http_addr().unwrap();
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(switchboard_testkit::run_gateway(
        config,
        listeners,
        shutdown.clone(),
    ));
    let result = timeout(WAIT, run)
        .await
        .expect("the gateway gives up on Redis instead of hanging")
        .expect("task does not panic");
    let err = result.expect_err("the gateway refuses to start without Redis");
    let message = err.to_string();
    assert!(
        message.to_lowercase().contains("redis") && message.contains("127.0.0.1:1"),
        "the error names Redis and its address: {message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the error does not echo the password: {message}"
    );
    assert!(
        matches!(
            err,
            switchboard_gateway::GatewayError::Platform(
                switchboard_platform::PlatformError::Redis { .. }
            )
        ),
        "{err:?}"
    );
    // It never served: nothing answers readiness on its port.
    assert!(
        http_get(&format!("http://{http_addr}/readyz"))
            .await
            .is_none(),
        "a gateway without Redis does not serve"
    );
    shutdown.cancel();
}

/// A temp copy of `toolkits/` with `edit` applied to `github.yaml`.
fn broken_toolkits(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(toolkits_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = if path.file_name().is_some_and(|n| n == "github.yaml") {
                let edited = edit(&text);
                assert_ne!(edited, text, "the edit changed the file");
                edited
            } else {
                text
            };
            std::fs::write(dir.path().join(path.file_name().unwrap()), text).unwrap();
        }
    }
    dir
}

#[tokio::test]
async fn malformed_toolkit_file_stops_the_gateway_and_names_the_problem() {
    // GITHUB_GET_ISSUE's path uses a placeholder its input schema doesn't declare.
    let dir = broken_toolkits(|text| {
        text.replacen(
            "path: /repos/{owner}/{repo}/issues/{issue_number}",
            "path: /repos/{owner}/{repo}/issues/{issue_id}",
            1,
        )
    });
    // The copy without the edit loads, so the edit is what breaks it.
    let mut good = test_config();
    let pristine = broken_toolkits(|text| format!("{text}\n# unchanged\n"));
    good.catalog.dir = pristine.path().to_owned();
    switchboard_platform::load_catalog(&good).expect("an intact copy loads");

    let mut config = test_config();
    config.catalog.dir = dir.path().to_owned();
    let err = switchboard_platform::load_catalog(&config).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("github.yaml"), "names the file: {message}");
    assert!(
        message.contains("GITHUB_GET_ISSUE"),
        "names the tool: {message}"
    );
    assert!(
        message.contains("issue_id") && message.contains("path parameter"),
        "names the problem: {message}"
    );

    // run() refuses to start with the same error, promptly.
    let listeners = switchboard_gateway::Listeners::bind(&config).await.unwrap();
    let shutdown = CancellationToken::new();
    let result = timeout(
        WAIT,
        switchboard_testkit::run_gateway(config, listeners, shutdown.clone()),
    )
    .await
    .expect("run returns instead of hanging");
    let err = result.expect_err("the gateway refuses to start");
    assert!(
        matches!(
            err,
            switchboard_gateway::GatewayError::Platform(
                switchboard_platform::PlatformError::Catalog(_)
            )
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), message);
    shutdown.cancel();
}

#[tokio::test]
async fn unknown_base_url_override_stops_the_gateway() {
    let mut config = test_config();
    config
        .catalog
        .base_urls
        .insert("gitlab".into(), "http://127.0.0.1:9".into());
    let err = switchboard_platform::load_catalog(&config).unwrap_err();
    assert!(err.to_string().contains("gitlab"), "{err}");

    let mut config = test_config();
    config.catalog.dir =
        std::env::temp_dir().join(format!("switchboard-no-such-dir-{}", ulid::Ulid::new()));
    let err = switchboard_platform::load_catalog(&config).unwrap_err();
    assert!(
        err.to_string().contains("switchboard-no-such-dir-"),
        "names the directory: {err}"
    );
}
