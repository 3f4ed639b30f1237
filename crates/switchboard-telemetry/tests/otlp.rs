//! With `telemetry.otlp_endpoint` set, spans reach an OTLP/gRPC collector (a local stand-in),
//! at the latest when the guard is dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use switchboard_config::TelemetryConfig;
use tonic::{Request, Response, Status};

/// Exported spans: (name, trace id bytes).
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Collector {
    spans: Received,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push((span.name, span.trace_id));
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_and_flushed_when_the_guard_drops() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let collector = Collector::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let guard = switchboard_telemetry::init(&TelemetryConfig {
        otlp_endpoint: Some(format!("http://{addr}")),
        ..Default::default()
    });
    let span = tracing::info_span!("exported");
    let trace_id = switchboard_telemetry::trace_id_of(&span).expect("a real trace id");
    span.in_scope(|| tracing::info!("inside"));
    drop(span);
    drop(guard);

    let spans = collector.spans.lock().unwrap().clone();
    let exported: Vec<_> = spans
        .iter()
        .filter(|(name, _)| name == "exported")
        .collect();
    assert_eq!(exported.len(), 1, "{spans:?}");
    assert_eq!(hex(&exported[0].1), trace_id);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
