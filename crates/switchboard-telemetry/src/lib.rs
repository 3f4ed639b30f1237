//! Telemetry shared by every service: logging set-up (an `EnvFilter` from config, or `RUST_LOG`
//! when set; pretty or JSON output on stderr) and OpenTelemetry tracing. (Signals and the
//! drain on shutdown live in `switchboard-platform`.)
//!
//! Tracing: [`init`] installs an OpenTelemetry tracer provider behind the `tracing` spans, so every
//! span at INFO or above has real W3C trace and span ids whatever the log filter says; they are
//! exported over OTLP/gRPC only when `telemetry.otlp_endpoint` is set. The context crosses process
//! boundaries as a W3C `traceparent` value: [`traceparent_of`] writes it (the gateway puts it in
//! the job's NATS headers) and [`set_parent_from_traceparent`] continues it (the worker).

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use switchboard_config::{LogFormat, TelemetryConfig};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::{fmt, prelude::*, EnvFilter, Layer, Registry};

/// The W3C trace-context header (and NATS header) name.
pub const TRACEPARENT: &str = "traceparent";

/// How long dropping the [`Guard`] waits for buffered spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps telemetry alive; dropping it flushes buffered spans and shuts the tracer provider down.
#[must_use = "telemetry stops when the guard is dropped"]
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        let shutdown = move || {
            if let Err(e) = provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
                eprintln!("telemetry: flushing traces failed: {e}");
            }
        };
        // The OTLP exporter needs the runtime while it flushes: on a multi-thread runtime, give
        // this worker thread's tasks to others while blocking.
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(shutdown),
            _ => shutdown(),
        }
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the global subscriber and, with it, the OpenTelemetry tracer provider and the W3C
/// trace-context propagator. Calling it twice keeps the first subscriber. Export over OTLP needs
/// a Tokio runtime: call it inside one.
pub fn init(config: &TelemetryConfig) -> Guard {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(&config.log_filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let logs: BoxedLayer = match config.log_format {
        LogFormat::Json => fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
    };
    // Spans are built for OpenTelemetry only when they go somewhere: without an OTLP endpoint
    // the layer would cost every request and job its share for nothing. Trace ids are still
    // made and carried (see [`child_traceparent`]).
    let provider = config
        .otlp_endpoint
        .as_ref()
        .map(|_| tracer_provider(config));
    let mut layers = vec![logs];
    if let Some(provider) = &provider {
        // Traces have their own level, so a quiet log filter does not take spans out of them.
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("switchboard"))
                .with_filter(LevelFilter::INFO)
                .boxed(),
        );
    }
    let guard = Guard {
        provider: provider.clone(),
    };
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_err()
    {
        // A subscriber is already installed (tests, `switchboard dev`): keep it; this provider
        // is not used and the guard shuts it down at once.
        return guard;
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    if let Some(provider) = provider {
        opentelemetry::global::set_tracer_provider(provider);
    }
    guard
}

/// The tracer provider, exporting over OTLP to the configured endpoint.
fn tracer_provider(config: &TelemetryConfig) -> SdkTracerProvider {
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "switchboard".into());
        resource = resource.with_service_name(name);
    }
    let builder = SdkTracerProvider::builder().with_resource(resource.build());
    let Some(endpoint) = &config.otlp_endpoint else {
        return builder.build();
    };
    match otlp_exporter(endpoint) {
        Ok(exporter) => builder.with_batch_exporter(exporter).build(),
        Err(e) => {
            eprintln!("telemetry: traces will not be exported to {endpoint}: {e}");
            builder.build()
        }
    }
}

fn otlp_exporter(endpoint: &str) -> Result<opentelemetry_otlp::SpanExporter, String> {
    use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
    if tokio::runtime::Handle::try_current().is_err() {
        return Err("the OTLP exporter needs a Tokio runtime".into());
    }
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10));
    if endpoint.starts_with("https://") {
        builder = builder.with_tls_config(
            opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new().with_webpki_roots(),
        );
    }
    builder.build().map_err(|e| e.to_string())
}

/// The W3C `traceparent` value of `span`'s OpenTelemetry context; `None` when the span has no
/// valid context (no tracing layer installed, or the span is disabled).
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The `traceparent` value of the current span (see [`traceparent_of`]).
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// Makes the remote context in `traceparent` the parent of `span`, which must not have been
/// entered yet. A malformed value is ignored (the span starts a trace of its own).
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// A new span's `(trace id, traceparent)` without a tracing layer: in the trace of `parent`
/// (a caller's W3C `traceparent`) when it is valid, else in a new trace; a random span id.
pub fn child_traceparent(parent: Option<&str>) -> (String, String) {
    use rand::RngCore;
    let mut span = [0u8; 8];
    rand::rng().fill_bytes(&mut span);
    let span = hex::encode(span);
    if let Some((trace_id, flags)) = parent.and_then(parse_traceparent) {
        let traceparent = format!("00-{trace_id}-{span}-{flags}");
        return (trace_id.to_owned(), traceparent);
    }
    let mut trace = [0u8; 16];
    rand::rng().fill_bytes(&mut trace);
    let trace_id = hex::encode(trace);
    let traceparent = format!("00-{trace_id}-{span}-01");
    (trace_id, traceparent)
}

/// The trace id and flags of a valid version-00 `traceparent` (W3C Trace Context).
fn parse_traceparent(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, span_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = parts.next().is_none()
        && version == "00"
        && hex(trace_id, 32)
        && hex(span_id, 16)
        && hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && span_id.bytes().any(|b| b != b'0');
    valid.then_some((trace_id, flags))
}

/// The 32-hex-digit OpenTelemetry trace id of `span`, when it has a valid context.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let span_context = cx.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with_tracing<T>(f: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, f)
    }

    #[test]
    fn traceparent_carries_the_trace_to_a_remote_span() {
        with_tracing(|| {
            let caller = tracing::info_span!("caller");
            let trace_id = trace_id_of(&caller).unwrap();
            assert_eq!(trace_id.len(), 32);
            assert!(trace_id.chars().all(|c| c.is_ascii_hexdigit()));
            let traceparent = caller.in_scope(current_traceparent).unwrap();
            assert_eq!(
                traceparent_of(&caller).as_deref(),
                Some(traceparent.as_str())
            );
            let parts: Vec<&str> = traceparent.split('-').collect();
            assert_eq!(parts.len(), 4, "{traceparent}");
            assert_eq!(parts[0], "00");
            assert_eq!(parts[1], trace_id);

            let remote = tracing::info_span!("remote");
            set_parent_from_traceparent(&remote, &traceparent);
            assert_eq!(trace_id_of(&remote).unwrap(), trace_id);
            let remote_parent = traceparent_of(&remote).unwrap();
            assert_ne!(remote_parent.split('-').nth(2), Some(parts[2]));
        });
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace() {
        with_tracing(|| {
            let span = tracing::info_span!("job");
            set_parent_from_traceparent(&span, "00-not-a-trace-01");
            let id = trace_id_of(&span).unwrap();
            assert_ne!(id, "0".repeat(32));
        });
    }

    #[test]
    fn child_traceparents_continue_a_valid_parent_only() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (trace_id, traceparent) = child_traceparent(Some(parent));
        assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1], trace_id);
        assert_eq!(parts[2].len(), 16);
        assert_ne!(parts[2], "00f067aa0ba902b7");
        assert_eq!(parts[3], "01");
        for bad in [
            "",
            "00-not-a-trace-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            let (trace_id, traceparent) = child_traceparent(Some(bad));
            assert_ne!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
            assert_eq!(trace_id.len(), 32);
            assert!(traceparent.starts_with(&format!("00-{trace_id}-")), "{bad}");
        }
        let (a, _) = child_traceparent(None);
        let (b, _) = child_traceparent(None);
        assert_ne!(a, b);
    }

    #[test]
    fn without_a_tracing_layer_there_is_no_context() {
        let span = tracing::info_span!("untraced");
        assert_eq!(trace_id_of(&span), None);
        assert_eq!(traceparent_of(&span), None);
        assert_eq!(current_traceparent(), None);
    }
}
