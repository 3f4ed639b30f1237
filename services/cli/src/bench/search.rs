//! Tool search figures, in process: quality on the labelled set over the shipped catalog
//! (recall@5, MRR) and latency over 5,000 synthetic tools.

use std::time::Instant;

use hdrhistogram::Histogram;
use switchboard_catalog::search::{evaluate, load_cases, synthetic_catalog};
use switchboard_catalog::{Catalog, LoadOptions};
use switchboard_config::Config;

const QUERIES: [&str; 6] = [
    "file a bug in my repo",
    "tell the team in the deploys channel that the build is green",
    "what did alice email me about the invoice",
    "open a pull request from my feature branch into main",
    "list the open tickets assigned to me this sprint",
    "find the onboarding page in our docs",
];

pub fn report(config: &Config) -> anyhow::Result<()> {
    println!();
    let catalog = Catalog::load_dir(
        &config.catalog.dir,
        &LoadOptions {
            base_url_overrides: config.catalog.base_urls.clone(),
        },
    )?;
    let cases_path = std::path::Path::new("crates/switchboard-catalog/search/cases.yaml");
    match load_cases(cases_path) {
        Ok(cases) => {
            let evaluation = evaluate(catalog.search_index(), &cases);
            println!(
                "search quality ({} labelled use cases, {} catalog tools): recall@5 {:.3} (goal ≥ 0.9), MRR {:.3}, {} misses",
                evaluation.cases,
                catalog.tool_count(),
                evaluation.recall_at_5,
                evaluation.mrr,
                evaluation.misses.len()
            );
        }
        Err(e) => {
            println!("search quality: labelled set not found ({e}); run from the repository root")
        }
    }
    let synthetic = synthetic_catalog(5000)?;
    let index = synthetic.search_index();
    let mut micros = Histogram::<u64>::new(3)?;
    for round in 0..2000 {
        let query = QUERIES[round % QUERIES.len()];
        let start = Instant::now();
        let hits = index.search(query, |_| true, 8);
        let took = start.elapsed();
        std::hint::black_box(hits);
        micros.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1))?;
    }
    println!(
        "search over {} synthetic tools (in process, 2,000 queries): p50 {} µs, p99 {} µs (goal p99 < 2 ms), max {} µs",
        synthetic.tool_count(),
        micros.value_at_quantile(0.5),
        micros.value_at_quantile(0.99),
        micros.max()
    );
    Ok(())
}
