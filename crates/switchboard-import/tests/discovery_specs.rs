//! Every Google Discovery document in the shared provider specs (`../shared/provider-specs/google`
//! beside the workspace, or `$PROVIDER_SPECS/google`) imports: each yields operations, every
//! path placeholder is a path parameter of its operation, and the counts are printed per API.
//! Run with `cargo test -p switchboard-import --features provider-specs --test discovery_specs
//! -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use switchboard_import::discovery;
use switchboard_import::ir::Location;

fn specs_dir() -> PathBuf {
    match std::env::var_os("PROVIDER_SPECS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/provider-specs"),
    }
}

fn path_placeholders(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}').expect("closed placeholder");
        out.push(after[..end].trim_start_matches('+').to_owned());
        rest = &after[end + 1..];
    }
    out
}

#[test]
fn every_google_discovery_document_imports() {
    let dir = specs_dir().join("google");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 21,
        "expected the 21 Google documents, found {}",
        files.len()
    );
    let (mut ops, mut skipped, mut bytes) = (0, 0, 0);
    println!(
        "{:<28} {:>5} {:>7} {:>6} {:>9} {:>8}",
        "api", "ops", "skipped", "paged", "reserved", "schema KB"
    );
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        let text = std::fs::read_to_string(file).expect("read");
        let model = discovery::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!model.operations.is_empty(), "{name}: no operations");
        assert!(
            model.base_url.starts_with("https://") && !model.base_url.ends_with('/'),
            "{name}: base {}",
            model.base_url
        );
        assert!(!model.auth.is_empty(), "{name}: no auth");
        let mut size = 0;
        for op in &model.operations {
            assert!(
                op.path.starts_with('/'),
                "{name} {}: path {}",
                op.id,
                op.path
            );
            for ph in path_placeholders(&op.path) {
                assert!(
                    op.params
                        .iter()
                        .any(|p| p.name == ph && p.location == Location::Path && p.required),
                    "{name} {}: placeholder {ph} in {} is no required path parameter",
                    op.id,
                    op.path
                );
            }
            for p in &op.params {
                assert!(
                    ![
                        "alt",
                        "fields",
                        "key",
                        "oauth_token",
                        "prettyPrint",
                        "quotaUser",
                        "uploadType",
                        "upload_protocol",
                        "$.xgafv",
                        "access_token",
                        "callback"
                    ]
                    .contains(&p.name.as_str()),
                    "{name} {}: API-wide parameter {} kept",
                    op.id,
                    p.name
                );
            }
            let s = serde_json::to_string(&op.body.as_ref().map(|b| &b.schema))
                .unwrap()
                .len()
                + serde_json::to_string(&op.params.iter().map(|p| &p.schema).collect::<Vec<_>>())
                    .unwrap()
                    .len();
            size += s;
        }
        let paged = model
            .operations
            .iter()
            .filter(|o| o.pagination.is_some())
            .count();
        let reserved = model
            .operations
            .iter()
            .filter(|o| o.path.contains("{+"))
            .count();
        println!(
            "{:<28} {:>5} {:>7} {:>6} {:>9} {:>8}",
            name,
            model.operations.len(),
            model.skipped.len(),
            paged,
            reserved,
            size / 1024
        );
        for s in &model.skipped {
            println!("    skipped {}: {}", s.location, s.reason);
        }
        ops += model.operations.len();
        skipped += model.skipped.len();
        bytes += size;
    }
    println!(
        "{} documents: {ops} operations, {skipped} skipped, input schemas {} KB",
        files.len(),
        bytes / 1024
    );
}
