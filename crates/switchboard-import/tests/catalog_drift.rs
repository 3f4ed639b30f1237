//! The generated catalog is what its inputs make, every time: regenerating every toolkit from
//! the providers' descriptions (`../shared/provider-specs` or `$PROVIDER_SPECS`), the overlays
//! (`toolkits/overlays/`) and the hand-written toolkits (`toolkits/*.yaml`) gives exactly the
//! files `make catalog` wrote to `toolkits/generated/` (which `make test-specs` runs first), and
//! no file there is left over from an overlay that is gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use switchboard_import::generate::{generate_all, HEADER_MARK};

fn specs_dir() -> PathBuf {
    std::env::var_os("PROVIDER_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/provider-specs")
        })
}

fn toolkits_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../toolkits/generated")
}

#[test]
fn the_committed_catalog_is_what_the_specs_and_overlays_generate() {
    let toolkits = toolkits_dir();
    let generated = generate_all(&specs_dir(), &toolkits.join("../overlays"))
        .unwrap_or_else(|e| panic!("generation failed: {e}"));
    assert!(generated.len() >= 40, "only {} toolkits", generated.len());
    let mut differ = Vec::new();
    for g in &generated {
        let path = toolkits.join(format!("{}.yaml", g.slug));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != g.text {
            let line = committed
                .lines()
                .zip(g.text.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "length".to_owned(), |n| format!("line {}", n + 1));
            differ.push(format!("{} (first difference: {line})", path.display()));
        }
    }
    for entry in std::fs::read_dir(&toolkits).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if !generated.iter().any(|g| g.slug == stem) {
            let text = std::fs::read_to_string(&path).unwrap();
            let how = if text.starts_with(HEADER_MARK) {
                "generated, but no overlay makes it any more"
            } else {
                "not generated: every toolkit needs an overlay"
            };
            differ.push(format!("{} ({how})", path.display()));
        }
    }
    let tools: usize = generated.iter().map(|g| g.tools).sum();
    println!("{} toolkits, {tools} tools regenerated", generated.len());
    assert!(
        differ.is_empty(),
        "the catalog differs from its specs and overlays; run `make catalog`:\n  {}",
        differ.join("\n  ")
    );
}
