//! Prometheus metrics for every service: one process-wide registry holding the platform's
//! metrics, small functions the services call where something happens (one line each, so the
//! names and label sets live here only), [`render`] for the text exposition format and
//! [`handler`] serving it as `GET /metrics`.
//!
//! The registry is process-wide, so `switchboard dev` (gateway, worker and triggers in one
//! process) shows every service's metrics on the gateway's `/metrics`.
//!
//! Labels are bounded: toolkit and tool slugs come from the catalog, every other label value is
//! one of a fixed set named on the function that sets it. No ids, no user ids. A labelled
//! metric appears in the output once it has been set for some label values.
//!
//! `/metrics` is served without authentication beside `/healthz`: operators should not expose
//! it publicly (keep it off the public ingress or restrict it with a NetworkPolicy).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::response::IntoResponse;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Seconds; calls wait up to the execution limits (minutes at most).
const EXECUTION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Seconds; one provider call, its retries included.
const PROVIDER_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Every metric of the platform, registered in [`Metrics::registry`].
pub struct Metrics {
    /// Executions ended, by `toolkit`, `tool`, `status`.
    pub executions_total: IntCounterVec,
    /// Executions the gateway stored and queued, by `toolkit`.
    pub executions_accepted_total: IntCounterVec,
    /// ExecuteTool calls refused, by `reason`.
    pub execution_rejections_total: IntCounterVec,
    /// ExecuteTool at the gateway from request to answer, by `toolkit`, `mode`.
    pub execution_duration_seconds: HistogramVec,
    /// The worker's provider call, by `toolkit`, `tool`, `outcome`.
    pub provider_call_duration_seconds: HistogramVec,
    /// Jobs waiting for or held by workers (the shared consumer's pending + ack pending).
    pub job_backlog: IntGauge,
    /// Job deliveries after the first.
    pub job_redeliveries_total: IntCounter,
    /// OAuth token refreshes at the provider, by `toolkit`, `outcome`.
    pub token_refreshes_total: IntCounterVec,
    /// Trigger events published, by `toolkit`, `source`.
    pub trigger_events_in_total: IntCounterVec,
    /// Trigger events handed on, by `channel`.
    pub trigger_events_delivered_total: IntCounterVec,
    /// Outgoing webhook attempts, by `outcome`.
    pub webhook_deliveries_total: IntCounterVec,
    /// Provider webhook deliveries received, by `provider`, `outcome`.
    pub webhook_intake_total: IntCounterVec,
    /// MCP requests, by `method`, `tool`.
    pub mcp_requests_total: IntCounterVec,
    /// The registry all of the above are in.
    pub registry: Registry,
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> Result<HistogramVec, prometheus::Error> {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let metric = HistogramVec::new(opts, labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl Metrics {
    fn build() -> Result<Metrics, prometheus::Error> {
        let r = Registry::new();
        let job_backlog = IntGauge::new(
            "switchboard_job_backlog",
            "Jobs not yet acknowledged by a worker: pending plus ack pending on the shared consumer",
        )?;
        r.register(Box::new(job_backlog.clone()))?;
        let job_redeliveries_total = IntCounter::new(
            "switchboard_job_redeliveries_total",
            "Job deliveries whose delivery count was over 1",
        )?;
        r.register(Box::new(job_redeliveries_total.clone()))?;
        Ok(Metrics {
            executions_total: counter(
                &r,
                "switchboard_executions_total",
                "Executions ended, by final status",
                &["toolkit", "tool", "status"],
            )?,
            executions_accepted_total: counter(
                &r,
                "switchboard_executions_accepted_total",
                "Executions stored and queued by the gateway",
                &["toolkit"],
            )?,
            execution_rejections_total: counter(
                &r,
                "switchboard_execution_rejections_total",
                "ExecuteTool calls refused before running",
                &["reason"],
            )?,
            execution_duration_seconds: histogram(
                &r,
                "switchboard_execution_duration_seconds",
                "ExecuteTool at the gateway from request to answer (async: until queued)",
                &["toolkit", "mode"],
                EXECUTION_BUCKETS,
            )?,
            provider_call_duration_seconds: histogram(
                &r,
                "switchboard_provider_call_duration_seconds",
                "The worker's call to the provider, retries included",
                &["toolkit", "tool", "outcome"],
                PROVIDER_BUCKETS,
            )?,
            job_backlog,
            job_redeliveries_total,
            token_refreshes_total: counter(
                &r,
                "switchboard_token_refreshes_total",
                "OAuth token refreshes at the provider",
                &["toolkit", "outcome"],
            )?,
            trigger_events_in_total: counter(
                &r,
                "switchboard_trigger_events_in_total",
                "Trigger events published on the event stream",
                &["toolkit", "source"],
            )?,
            trigger_events_delivered_total: counter(
                &r,
                "switchboard_trigger_events_delivered_total",
                "Trigger events handed to a subscriber or webhook",
                &["channel"],
            )?,
            webhook_deliveries_total: counter(
                &r,
                "switchboard_webhook_deliveries_total",
                "Outgoing webhook delivery attempts",
                &["outcome"],
            )?,
            webhook_intake_total: counter(
                &r,
                "switchboard_webhook_intake_total",
                "Provider webhook deliveries received",
                &["provider", "outcome"],
            )?,
            mcp_requests_total: counter(
                &r,
                "switchboard_mcp_requests_total",
                "MCP requests to session servers",
                &["method", "tool"],
            )?,
            registry: r,
        })
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(build);

#[allow(
    clippy::expect_used,
    reason = "the definitions are constants, registered once; the tests build them"
)]
fn build() -> Metrics {
    Metrics::build().expect("metric definitions are valid")
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Every metric in the text exposition format.
pub fn render() -> String {
    TextEncoder::new()
        .encode_to_string(&metrics().registry.gather())
        .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
}

/// `GET /metrics`.
pub async fn handler() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], render())
}

/// Observes the time since its start into a histogram when dropped, so every way out of a
/// function counts.
#[must_use = "the time is observed when the timer is dropped"]
pub struct Timer {
    histogram: Histogram,
    started: Instant,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

/// An execution ended with `status` (`SUCCEEDED`, `FAILED`, `TIMED_OUT`, `OUTCOME_UNKNOWN`).
pub fn execution_ended(toolkit: &str, tool: &str, status: &str) {
    metrics()
        .executions_total
        .with_label_values(&[toolkit, tool, status])
        .inc();
}

/// The gateway stored and queued an execution.
pub fn execution_accepted(toolkit: &str) {
    metrics()
        .executions_accepted_total
        .with_label_values(&[toolkit])
        .inc();
}

/// ExecuteTool refused a call: `scope`, `arguments`, `queue_full` or `bus_unavailable`.
pub fn execution_rejected(reason: &'static str) {
    metrics()
        .execution_rejections_total
        .with_label_values(&[reason])
        .inc();
}

/// Times an accepted execution at the gateway from `started` until the timer drops; `mode` is
/// `sync` or `async`.
pub fn execution_timer(toolkit: &str, mode: &'static str, started: Instant) -> Timer {
    Timer {
        histogram: metrics()
            .execution_duration_seconds
            .with_label_values(&[toolkit, mode]),
        started,
    }
}

/// A provider call took `elapsed`; `outcome` is `ok`, `error` or `timeout`.
pub fn provider_call(toolkit: &str, tool: &str, outcome: &'static str, elapsed: Duration) {
    metrics()
        .provider_call_duration_seconds
        .with_label_values(&[toolkit, tool, outcome])
        .observe(elapsed.as_secs_f64());
}

/// The shared job consumer has `jobs` not yet acknowledged.
pub fn set_job_backlog(jobs: u64) {
    metrics()
        .job_backlog
        .set(i64::try_from(jobs).unwrap_or(i64::MAX));
}

/// A job was delivered again.
pub fn job_redelivered() {
    metrics().job_redeliveries_total.inc();
}

/// A token refresh at the provider ended: `ok`, `expired` (refused, the account expired) or
/// `unavailable` (the provider did not answer in time).
pub fn token_refresh(toolkit: &str, outcome: &'static str) {
    metrics()
        .token_refreshes_total
        .with_label_values(&[toolkit, outcome])
        .inc();
}

/// A trigger event was published; `source` is `webhook` or `poll`.
pub fn trigger_event_in(toolkit: &str, source: &'static str) {
    metrics()
        .trigger_events_in_total
        .with_label_values(&[toolkit, source])
        .inc();
}

/// A trigger event was handed on; `channel` is `grpc` or `webhook`.
pub fn trigger_event_delivered(channel: &'static str) {
    metrics()
        .trigger_events_delivered_total
        .with_label_values(&[channel])
        .inc();
}

/// An outgoing webhook attempt ended (`ok` or `failed`).
pub fn webhook_delivery(ok: bool) {
    metrics()
        .webhook_deliveries_total
        .with_label_values(&[if ok { "ok" } else { "failed" }])
        .inc();
}

/// A provider webhook delivery was handled; `provider` is `github` or `slack`, `outcome` is
/// `accepted`, `duplicate`, `bad_signature` or `error`.
pub fn webhook_intake(provider: &'static str, outcome: &'static str) {
    metrics()
        .webhook_intake_total
        .with_label_values(&[provider, outcome])
        .inc();
}

/// An MCP request: `method` is `list_tools` or `call_tool`; `tool` is the meta tool's action
/// (`SEARCH_TOOLS`…) for meta tools, `direct` for a session's own tools, `unknown` for a name
/// the session does not offer, empty for `list_tools`.
pub fn mcp_request(method: &'static str, tool: &str) {
    metrics()
        .mcp_requests_total
        .with_label_values(&[method, tool])
        .inc();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn render_shows_every_metric_once_set() {
        execution_ended("github", "GITHUB_CREATE_ISSUE", "SUCCEEDED");
        execution_accepted("github");
        execution_rejected("scope");
        drop(execution_timer("github", "sync", Instant::now()));
        provider_call(
            "github",
            "GITHUB_CREATE_ISSUE",
            "ok",
            Duration::from_millis(20),
        );
        set_job_backlog(7);
        job_redelivered();
        token_refresh("gmail", "ok");
        trigger_event_in("github", "webhook");
        trigger_event_delivered("grpc");
        webhook_delivery(false);
        webhook_intake("slack", "bad_signature");
        mcp_request("call_tool", "SEARCH_TOOLS");

        let text = render();
        for line in [
            r#"switchboard_executions_total{status="SUCCEEDED",tool="GITHUB_CREATE_ISSUE",toolkit="github"} "#,
            r#"switchboard_executions_accepted_total{toolkit="github"} "#,
            r#"switchboard_execution_rejections_total{reason="scope"} "#,
            r#"switchboard_execution_duration_seconds_count{mode="sync",toolkit="github"} "#,
            r#"switchboard_provider_call_duration_seconds_bucket{outcome="ok",tool="GITHUB_CREATE_ISSUE",toolkit="github",le="0.025"} "#,
            "switchboard_job_backlog 7",
            "switchboard_job_redeliveries_total ",
            r#"switchboard_token_refreshes_total{outcome="ok",toolkit="gmail"} "#,
            r#"switchboard_trigger_events_in_total{source="webhook",toolkit="github"} "#,
            r#"switchboard_trigger_events_delivered_total{channel="grpc"} "#,
            r#"switchboard_webhook_deliveries_total{outcome="failed"} "#,
            r#"switchboard_webhook_intake_total{outcome="bad_signature",provider="slack"} "#,
            r#"switchboard_mcp_requests_total{method="call_tool",tool="SEARCH_TOOLS"} "#,
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
        assert!(text.contains("# TYPE switchboard_execution_duration_seconds histogram"));
    }

    #[test]
    fn a_counter_counts() {
        let before = metrics()
            .webhook_intake_total
            .with_label_values(&["github", "duplicate"])
            .get();
        webhook_intake("github", "duplicate");
        webhook_intake("github", "duplicate");
        let after = metrics()
            .webhook_intake_total
            .with_label_values(&["github", "duplicate"])
            .get();
        assert_eq!(after - before, 2);
    }

    #[tokio::test]
    async fn handler_serves_the_text_format() {
        job_redelivered();
        let response = handler().await.into_response();
        assert_eq!(response.status(), axum::http::StatusCode::OK);
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(CONTENT_TYPE.as_bytes())
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("switchboard_job_redeliveries_total "));
    }
}
