#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tool search quality on the labelled use cases of `search/cases.yaml`, over the shipped
//! catalog (the full generated one, ~4,600 tools, loaded once): prints recall@5, MRR and every
//! miss, and holds recall@5 at 0.9 or better. The cases cover every hand-written tool of
//! `toolkits/` at least twice.
//!
//! The ignored `search_speed_over_synthetic_tools` measures search over 5,000 synthetic tools
//! and prints percentiles (never asserts on time): run it with
//! `cargo test --release -p switchboard-catalog --test search_quality -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use switchboard_catalog::search::{evaluate, load_cases, synthetic_catalog};
use switchboard_catalog::{Catalog, LoadOptions, SearchIndex};

const TOOLKITS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../toolkits");
const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/search/cases.yaml");

fn shipped_catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::load_dir(Path::new(TOOLKITS_DIR), &LoadOptions::default()).unwrap()
    })
}

#[test]
fn cases_name_real_tools_and_cover_each_curated_tool_at_least_twice() {
    let catalog = shipped_catalog();
    let curated = Catalog::load_dir(Path::new(TOOLKITS_DIR), &LoadOptions::default()).unwrap();
    let cases = load_cases(CASES).unwrap();
    assert!(cases.len() >= 70, "only {} cases", cases.len());
    let mut covered: BTreeMap<&str, usize> = curated
        .toolkits()
        .flat_map(|t| t.tools.iter().map(|tool| (tool.slug.as_str(), 0)))
        .collect();
    for case in &cases {
        for slug in &case.expected {
            assert!(
                catalog.tool(slug).is_some(),
                "case {:?} expects unknown {slug}",
                case.use_case
            );
            if let Some(n) = covered.get_mut(slug.as_str()) {
                *n += 1;
            }
        }
    }
    let thin: Vec<_> = covered.iter().filter(|(_, n)| **n < 2).collect();
    assert!(thin.is_empty(), "tools in fewer than two cases: {thin:?}");
}

#[test]
fn recall_at_5_on_labelled_cases() {
    let catalog = shipped_catalog();
    let cases = load_cases(CASES).unwrap();
    let evaluation = evaluate(catalog.search_index(), &cases);
    println!("{evaluation}");
    assert!(
        evaluation.recall_at_5 >= 0.9,
        "recall@5 {:.3} is below 0.9\n{evaluation}",
        evaluation.recall_at_5
    );
}

#[test]
#[ignore = "a benchmark: prints timings, run with --release --ignored --nocapture"]
fn search_speed_over_synthetic_tools() {
    let started = Instant::now();
    let catalog = synthetic_catalog(5_000).unwrap();
    let index = catalog.search_index();
    println!(
        "loaded and indexed {} synthetic tools in {:?}",
        index.len(),
        started.elapsed()
    );
    let started = Instant::now();
    let rebuilt = SearchIndex::build(catalog.toolkits().map(|t| t.as_ref()));
    println!(
        "built the search index alone ({} tools) in {:?}",
        rebuilt.len(),
        started.elapsed()
    );
    let queries = [
        "create a new invoice for the customer",
        "list open tickets assigned to the support agent",
        "send a message to the team channel now",
        "export the monthly revenue report as csv",
        "archive old deployment alerts in devops",
        "find the meeting event on my calendar tomorrow",
        "approve the pending refund payment request",
        "search products by keyword in the store inventory",
    ];
    let rounds = 500;
    let mut times: Vec<Duration> = Vec::with_capacity(rounds * queries.len());
    let mut found = 0usize;
    for _ in 0..rounds {
        for query in queries {
            let start = Instant::now();
            let hits = index.search(query, |_| true, 10);
            times.push(start.elapsed());
            found += hits.len();
        }
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{} searches over {} tools: p50 {:?}, p90 {:?}, p99 {:?}, max {:?} ({} hits)",
        times.len(),
        index.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        found
    );
}
