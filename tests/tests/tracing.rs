//! One trace per tool call: the gateway's `ExecuteTool` span, the worker's `job` span (its parent
//! carried in the job's `traceparent` NATS header) and the worker's `provider call` span share
//! one trace id, which is the execution's `trace_id`; no span holds the account's credential.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use switchboard_proto::v1::*;
use switchboard_testkit::workers::Workers;
use switchboard_testkit::*;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_trace_secret_9f8e7d6c5b4a";

struct Traces {
    provider: SdkTracerProvider,
    exporter: InMemorySpanExporter,
}

/// Installs, once for this test binary, a subscriber whose OpenTelemetry layer records every
/// span and DEBUG event into memory.
fn traces() -> &'static Traces {
    static TRACES: OnceLock<Traces> = OnceLock::new();
    TRACES.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("switchboard-tests"))
            .with_filter(LevelFilter::DEBUG);
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .expect("no other subscriber in this test binary");
        Traces { provider, exporter }
    })
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// Waits until the spans of `execution_id` have ended (the worker acks after it replies).
async fn spans_of(execution_id: &str) -> (SpanData, SpanData, SpanData, Vec<SpanData>) {
    let traces = traces();
    for _ in 0..200 {
        traces.provider.force_flush().unwrap();
        let all = traces.exporter.get_finished_spans().unwrap();
        let named = |name: &str| {
            all.iter()
                .find(|s| {
                    s.name == name && attribute(s, "execution_id").as_deref() == Some(execution_id)
                })
                .cloned()
        };
        if let (Some(gateway), Some(job)) = (named("ExecuteTool"), named("job")) {
            let call = all
                .iter()
                .find(|s| {
                    s.name == "provider call" && s.parent_span_id == job.span_context.span_id()
                })
                .cloned();
            if let Some(call) = call {
                return (gateway, job, call, all);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let names: Vec<_> = traces
        .exporter
        .get_finished_spans()
        .unwrap()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    panic!("the spans of {execution_id} did not all end; finished spans: {names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_the_grpc_call_the_job_and_the_provider_call() {
    traces();
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/issues"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"number": 7})))
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
    let (_, session) =
        github_account_session(&stack, &project, "pat", "user_1", "work", TOKEN).await;
    let mut sessions = stack.sessions(Some(&project.api_key));

    let execution = sessions
        .execute_tool(ExecuteToolRequest {
            session_id: session.id.clone(),
            tool_slug: "GITHUB_CREATE_ISSUE".into(),
            arguments_json: r#"{"owner": "acme", "repo": "api", "title": "Traced"}"#.into(),
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
    // The provider call happened, under the trace below.
    assert_eq!(github.received_requests().await.unwrap().len(), 1);

    let (gateway, job, call, all) = spans_of(&execution.id).await;
    let trace_id = gateway.span_context.trace_id().to_string();
    assert_eq!(trace_id, execution.trace_id, "the execution's trace id");
    assert_eq!(job.span_context.trace_id().to_string(), trace_id);
    assert_eq!(call.span_context.trace_id().to_string(), trace_id);
    assert_eq!(
        attribute(&gateway, "tool").as_deref(),
        Some("GITHUB_CREATE_ISSUE")
    );
    // The job continues the gateway's span from the NATS header: a remote parent.
    assert_eq!(job.parent_span_id, gateway.span_context.span_id());
    assert!(job.parent_span_is_remote);
    assert_eq!(gateway.parent_span_id, SpanId::INVALID, "a root span");
    assert_eq!(call.parent_span_id, job.span_context.span_id());
    assert_eq!(attribute(&call, "toolkit").as_deref(), Some("github"));
    assert_eq!(
        attribute(&call, "tool").as_deref(),
        Some("GITHUB_CREATE_ISSUE")
    );
    assert_eq!(attribute(&call, "http.status").as_deref(), Some("201"));
    assert!(
        call.start_time >= job.start_time && call.end_time <= job.end_time,
        "the provider call runs inside the job"
    );

    // The credential is in no span of the run: names, attributes, events, anything.
    let events: usize = all.iter().map(|s| s.events.len()).sum();
    assert!(
        events > 0,
        "DEBUG events are recorded, so the check below means something"
    );
    for span in &all {
        for kv in &span.attributes {
            assert!(!kv.value.to_string().contains(TOKEN), "attribute {kv:?}");
        }
        for event in span.events.iter() {
            assert!(!event.name.contains(TOKEN), "event {event:?}");
            for kv in &event.attributes {
                assert!(!kv.value.to_string().contains(TOKEN), "event {event:?}");
            }
        }
        assert!(!format!("{span:?}").contains(TOKEN), "span {}", span.name);
    }

    workers.stop().await;
    stack.stop().await;
}
