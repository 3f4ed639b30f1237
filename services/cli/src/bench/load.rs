//! The load generator: a call run from many tasks for a while (throughput), or one at a time
//! (latency), counting what came back.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// How one call ended.
pub enum Outcome {
    /// It worked (for ExecuteTool: the execution SUCCEEDED).
    Ok,
    /// The RPC worked but the execution ended otherwise; the status.
    NotSucceeded(String),
    /// The call failed; why.
    Error(String),
}

/// What a run of calls gave.
#[derive(Default)]
pub struct Tally {
    pub ok: AtomicU64,
    pub errors: AtomicU64,
    pub not_succeeded: AtomicU64,
    /// The first error or non-success, to show what went wrong.
    pub first_problem: Mutex<Option<String>>,
}

impl Tally {
    fn count(&self, outcome: Outcome) -> bool {
        let problem = match outcome {
            Outcome::Ok => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Outcome::NotSucceeded(status) => {
                self.not_succeeded.fetch_add(1, Ordering::Relaxed);
                status
            }
            Outcome::Error(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                e
            }
        };
        self.first_problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(problem);
        false
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    pub fn not_succeeded(&self) -> u64 {
        self.not_succeeded.load(Ordering::Relaxed)
    }

    pub fn first_problem(&self) -> Option<String> {
        self.first_problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Throughput at a concurrency: successful calls per second, and the tally.
pub struct Rate {
    pub per_sec: f64,
    pub tally: Tally,
}

/// Latency at concurrency 1, in microseconds, of the successful calls.
pub struct Latency {
    pub micros: Histogram<u64>,
    pub tally: Tally,
}

impl Latency {
    pub fn p50(&self) -> u64 {
        self.micros.value_at_quantile(0.50)
    }

    pub fn p99(&self) -> u64 {
        self.micros.value_at_quantile(0.99)
    }
}

/// Runs `call(task, i)` from `concurrency` tasks until `duration` is over.
pub async fn throughput<F, Fut>(concurrency: usize, duration: Duration, call: F) -> Rate
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for task in 0..concurrency.max(1) {
        let (tally, call) = (Arc::clone(&tally), call.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = task as u64 * 1_000_000;
            while Instant::now() < deadline {
                i += 1;
                tally.count(call(task, i).await);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let tally = Arc::try_unwrap(tally).unwrap_or_default();
    Rate {
        per_sec: tally.ok.load(Ordering::Relaxed) as f64 / elapsed,
        tally,
    }
}

/// Runs `call(i)` `samples` times, one at a time, timing each.
pub async fn latency<F, Fut>(samples: usize, call: F) -> anyhow::Result<Latency>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut micros = Histogram::<u64>::new(3)?;
    let tally = Tally::default();
    for i in 0..samples as u64 {
        let start = Instant::now();
        let outcome = call(i).await;
        let took = start.elapsed();
        if tally.count(outcome) {
            micros.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX))?;
        }
    }
    Ok(Latency { micros, tally })
}
