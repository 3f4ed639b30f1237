//! Imports every OpenAPI description in the providers' specs directory (`../shared/provider-specs`
//! or `$PROVIDER_SPECS`) and checks each gives a toolkit the catalog loads, with tools; prints
//! the tools and skipped counts per provider.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use switchboard_import::{build, parse, Overlay, Source};

fn specs_dir() -> PathBuf {
    std::env::var_os("PROVIDER_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/provider-specs")
        })
}

/// Every `*.json`/`*.yaml`/`*.yml` under the directory whose top names `openapi` or `swagger`.
fn openapi_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read specs dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !["json", "yaml", "yml"].contains(&ext) {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read spec");
            // The version field may come anywhere in a JSON object (Slack's is last).
            let is_openapi = ["\"openapi\":", "\"swagger\":", "\nopenapi:", "\nswagger:"]
                .iter()
                .any(|m| text.contains(m))
                || text.starts_with("openapi:")
                || text.starts_with("swagger:");
            // GitHub's webhooks description has no paths, only `webhooks`.
            if is_openapi && !path.ends_with("github/webhooks-openapi.json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_provider_openapi_description_imports_into_a_loadable_toolkit() {
    let dir = specs_dir();
    let files = openapi_files(&dir);
    assert!(
        files.len() >= 14,
        "expected the 14 OpenAPI descriptions in {}, found {files:?}",
        dir.display()
    );
    let mut total = 0;
    for file in files {
        let provider = file
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("api")
            .to_owned();
        let text = std::fs::read_to_string(&file).expect("read spec");
        let overlay = Overlay {
            slug: Some(provider.clone()),
            ..Overlay::default()
        };
        let started = Instant::now();
        let model =
            parse(&Source::OpenApi(text)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let parsed = started.elapsed();
        let imported =
            build::toolkit(&model, &overlay).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let built = started.elapsed() - parsed;
        common::assert_loads(&imported.toolkit);
        let report = &imported.report;
        assert!(!imported.toolkit.tools.is_empty(), "{provider}: no tools");
        println!(
            "{provider:<10} {:>4} tools {:>3} dropped (deprecated) {:>3} skipped  auth {:?}  parse {:.2}s build {:.2}s",
            imported.toolkit.tools.len(),
            report.dropped.len(),
            report.skipped.len(),
            imported.toolkit.auth.schemes,
            parsed.as_secs_f64(),
            built.as_secs_f64(),
        );
        for skipped in report.skipped.iter().take(3) {
            println!(
                "           skipped {}: {}",
                skipped.location, skipped.reason
            );
        }
        for note in &report.notes {
            println!("           note: {note}");
        }
        total += imported.toolkit.tools.len();
    }
    println!("total: {total} tools");
}
