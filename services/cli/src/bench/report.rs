//! What the bench prints: the table of calls, ExecuteTool against the direct call and the goals
//! of issue 3, and where ExecuteTool's time went.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use switchboard_proto::v1::Execution;

use super::load::{Latency, Rate};

/// One line of the table: a throughput phase and a latency phase of the same call.
pub struct Row {
    pub name: &'static str,
    pub rate: Rate,
    pub lat: Latency,
}

impl Row {
    pub fn new(name: &'static str, rate: Rate, lat: Latency) -> Row {
        Row { name, rate, lat }
    }
}

/// MCP beside gRPC: what the MCP layer adds to the same tool call, and SEARCH_TOOLS latency.
pub fn mcp_goals(grpc: &Row, mcp: &Row, search: &Row) {
    let ms = |us: u64| us as f64 / 1000.0;
    let added = ms(mcp.lat.p50()) - ms(grpc.lat.p50());
    println!();
    println!(
        "MCP MULTI_EXECUTE_TOOL (1 call) vs ExecuteTool over gRPC: p50 {:.2} ms vs {:.2} ms, adds {added:.2} ms (goal ≤ 0.3 ms) — {}",
        ms(mcp.lat.p50()),
        ms(grpc.lat.p50()),
        if added <= 0.3 { "met" } else { "NOT met" }
    );
    println!(
        "MCP SEARCH_TOOLS over HTTP (27 catalog tools): p50 {:.2} ms, p99 {:.2} ms",
        ms(search.lat.p50()),
        ms(search.lat.p99())
    );
}

pub fn table(rows: &[&Row]) {
    println!();
    println!(
        "{:<14} {:>10} {:>7} {:>7} {:>9} {:>9} {:>9}",
        "call", "calls/s", "errors", "failed", "p50 µs", "p99 µs", "max µs"
    );
    for row in rows {
        println!(
            "{:<14} {:>10.0} {:>7} {:>7} {:>9} {:>9} {:>9}",
            row.name,
            row.rate.per_sec,
            row.rate.tally.errors() + row.lat.tally.errors(),
            row.rate.tally.not_succeeded() + row.lat.tally.not_succeeded(),
            row.lat.p50(),
            row.lat.p99(),
            row.lat.micros.max()
        );
    }
    println!("(failed: the call answered, but the execution did not end SUCCEEDED)");
    for row in rows {
        let rate = row.rate.tally.first_problem();
        if let Some(problem) = rate.or_else(|| row.lat.tally.first_problem()) {
            println!("  {}: first problem: {problem}", row.name);
        }
    }
}

pub fn goals(exec: &Row, direct: &Row, concurrency: usize) {
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    let ms = |us: u64| us as f64 / 1000.0;
    let ratio = |a: f64, b: f64| a / b.max(f64::MIN_POSITIVE);
    let (e, d) = (&exec.lat, &direct.lat);
    let added_p50 = ms(e.p50()) - ms(d.p50());
    let added_p99 = ms(e.p99()) - ms(d.p99());
    println!();
    println!("ExecuteTool end to end vs a direct HTTP call to the same stand-in, same run:");
    println!(
        "  {:<24} {:>8.0}/s vs {:>7.0}/s  ratio {:.3}   goal ≥ 6000/s at 64: {}",
        format!("throughput (conc. {concurrency})"),
        exec.rate.per_sec,
        direct.rate.per_sec,
        ratio(exec.rate.per_sec, direct.rate.per_sec),
        verdict(exec.rate.per_sec >= 6000.0)
    );
    for (name, added, exec_ms, direct_ms, goal) in [
        ("p50", added_p50, ms(e.p50()), ms(d.p50()), 0.6),
        ("p99", added_p99, ms(e.p99()), ms(d.p99()), 1.5),
    ] {
        println!(
            "  {:<24} {:>8.3} ms vs {:>6.3} ms  added {:+.3} ms   goal ≤ {goal} ms added: {}",
            format!("latency {name} (conc. 1)"),
            exec_ms,
            direct_ms,
            added,
            verdict(added <= goal)
        );
    }
}

pub fn session_goal(create: &Row) {
    println!(
        "  {:<24} {:>8.0}/s   goal ≥ 10000/s: {}",
        "CreateSession",
        create.rate.per_sec,
        if create.rate.per_sec >= 10_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// Where an execution's time went, from its create, start and end times (set by the gateway
/// as it stores the execution, and by the worker as it claims it and as the provider answers).
pub struct Breakdown {
    /// The client's time less the two below: gRPC, auth and checks before the execution is
    /// stored, and after the provider answered: storing the result, the reply, the response.
    edges: Mutex<Histogram<u64>>,
    /// create → start: storing, publishing, delivery to the worker, its first read.
    queued: Mutex<Histogram<u64>>,
    /// start → end: the claim, the account read, the provider call.
    running: Mutex<Histogram<u64>>,
}

impl Breakdown {
    pub fn new() -> anyhow::Result<Breakdown> {
        Ok(Breakdown {
            edges: Mutex::new(Histogram::new(3)?),
            queued: Mutex::new(Histogram::new(3)?),
            running: Mutex::new(Histogram::new(3)?),
        })
    }

    /// Records a succeeded execution the client waited `took` for.
    pub fn record(&self, took: Duration, e: &Execution) {
        let micros = |t: &Option<prost_types::Timestamp>| {
            t.as_ref()
                .map(|t| t.seconds.saturating_mul(1_000_000) + i64::from(t.nanos / 1000))
        };
        let (Some(created), Some(started), Some(ended)) = (
            micros(&e.create_time),
            micros(&e.start_time),
            micros(&e.end_time),
        ) else {
            return;
        };
        let queued = u64::try_from(started - created).unwrap_or(0);
        let running = u64::try_from(ended - started).unwrap_or(0);
        let total = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let edges = total.saturating_sub(queued + running);
        for (h, v) in [
            (&self.edges, edges),
            (&self.queued, queued),
            (&self.running, running),
        ] {
            let _ = h.lock().unwrap_or_else(PoisonError::into_inner).record(v);
        }
    }

    /// `p50 / p99` of each part, named.
    fn parts(&self) -> [(&'static str, String); 3] {
        let show = |h: &Mutex<Histogram<u64>>| {
            let h = h.lock().unwrap_or_else(PoisonError::into_inner);
            format!(
                "{} / {}",
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99)
            )
        };
        [
            (
                "gateway until create_time, after end_time",
                show(&self.edges),
            ),
            (
                "create → start (store, publish, pull, read)",
                show(&self.queued),
            ),
            (
                "start → end (claim, account, provider call)",
                show(&self.running),
            ),
        ]
    }
}

/// The breakdowns of the throughput phase and of the latency phase side by side.
pub fn breakdown(
    [loaded, alone]: &[Breakdown; 2],
    concurrency: usize,
    gateway_only: &Latency,
    get: Option<&Row>,
) {
    println!();
    println!(
        "ExecuteTool time by part, p50 / p99 µs (from the execution's create/start/end times):"
    );
    println!(
        "  {:<44} {:>15} {:>15}",
        "",
        format!("conc. {concurrency}"),
        "conc. 1"
    );
    for ((name, under_load), (_, one)) in loaded.parts().into_iter().zip(alone.parts()) {
        println!("  {name:<44} {under_load:>15} {one:>15}");
    }
    println!(
        "  {:<44} {:>15} {:>15}",
        "ExecuteTool ASYNC: answered once published",
        "",
        format!("{} / {}", gateway_only.p50(), gateway_only.p99())
    );
    if let Some(get) = get {
        println!(
            "  {:<44} {:>15} {:>15}",
            "GetSession: auth and one read",
            "",
            format!("{} / {}", get.lat.p50(), get.lat.p99())
        );
    }
    let failed = gateway_only.tally.errors() + gateway_only.tally.not_succeeded();
    if failed > 0 {
        println!(
            "  ExecuteTool ASYNC: {failed} calls failed; first: {}",
            gateway_only.tally.first_problem().unwrap_or_default()
        );
    }
}
