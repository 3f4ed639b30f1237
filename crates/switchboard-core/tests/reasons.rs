//! Every reason a caller can see comes from `switchboard_core::reason`: no source file of the
//! workspace builds an error with a literal reason (outside tests, which check the wire names).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// Where a reason is given: error constructors and `reason:` fields.
const SITES: [&str; 3] = ["Error::invalid(", "Error::not_found(", "reason:"];

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("target") && !path.ends_with("tests") {
                rust_sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A string literal of an upper-case name (`"UNKNOWN_TOOL"`) right after `site`.
fn literal_after(text: &str, site: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices(site) {
        let rest = text[at + site.len()..].trim_start();
        let Some(rest) = rest.strip_prefix('"') else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if name.len() > 1 && rest[name.len()..].starts_with('"') {
            found.push(name);
        }
    }
    found
}

#[test]
fn no_error_is_built_with_a_literal_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for top in ["crates", "services"] {
        rust_sources(&root.join(top), &mut files);
    }
    assert!(files.len() > 50, "the sources were found: {}", files.len());
    let mut literals = Vec::new();
    for file in files {
        if file.ends_with("reason.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests compare against the wire names on purpose.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for site in SITES {
            for name in literal_after(code, site) {
                literals.push(format!("{}: {site} \"{name}\"", file.display()));
            }
        }
    }
    assert!(
        literals.is_empty(),
        "use switchboard_core::reason instead of:\n{}",
        literals.join("\n")
    );
}

#[test]
fn the_scan_finds_a_literal_reason() {
    assert_eq!(
        literal_after(
            "Error::invalid(\n    \"NOT_LISTED\", field, m)",
            "Error::invalid("
        ),
        ["NOT_LISTED"]
    );
    assert!(literal_after("Error::invalid(reason::REQUIRED, f, m)", "Error::invalid(").is_empty());
}
