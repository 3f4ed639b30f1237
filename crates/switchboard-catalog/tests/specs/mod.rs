//! What the provider-spec checks share: the toolkit files and the providers' own API
//! descriptions. Those descriptions live outside the repository, in `../shared/provider-specs`
//! beside the checkout (or wherever `PROVIDER_SPECS` points), so these checks are their own
//! make target (`make test-specs`, run by `.ci/run`) behind the `provider-specs` feature, and
//! `make test` needs nothing outside the repository.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;
use switchboard_catalog::spec::ToolkitSpec;

pub const TOOLKITS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../toolkits");

/// `PROVIDER_SPECS`, or `shared/provider-specs` beside the checkout.
pub fn specs_dir() -> PathBuf {
    std::env::var_os("PROVIDER_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/provider-specs")
        })
}

/// A generated toolkit (`toolkits/generated/`, which `make catalog` writes before these checks).
pub fn load_toolkit(slug: &str) -> ToolkitSpec {
    load_toolkit_file(&Path::new(TOOLKITS_DIR).join(format!("generated/{slug}.yaml")))
}

/// The hand-written toolkit of `toolkits/`, whose tools and auth the generated
/// `toolkits/generated/<slug>.yaml` holds unchanged.
pub fn load_curated(slug: &str) -> ToolkitSpec {
    load_toolkit_file(&Path::new(TOOLKITS_DIR).join(format!("{slug}.yaml")))
}

fn load_toolkit_file(path: &Path) -> ToolkitSpec {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read toolkit file {}: {err}", path.display()));
    serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|err| panic!("toolkit file {} does not parse: {err}", path.display()))
}

/// A provider description, read once per test binary. Missing means failing, not skipping: a
/// run of these checks without the descriptions proves nothing.
pub fn provider_doc(cell: &'static OnceLock<Value>, relative: &str) -> &'static Value {
    cell.get_or_init(|| {
        let path = specs_dir().join(relative);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "provider description {} is missing ({err}); shared/provider-specs must sit \
                 beside the checkout, or PROVIDER_SPECS name its directory",
                path.display()
            )
        });
        parse_doc(&path, &text)
    })
}

/// A description's text as JSON, from JSON or (`.yaml`, `.yml`) YAML.
pub fn parse_doc(path: &Path, text: &str) -> Value {
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    if yaml {
        serde_yaml_ng::from_str(text).unwrap_or_else(|err| {
            panic!("provider description {} is not YAML: {err}", path.display())
        })
    } else {
        serde_json::from_str(text).unwrap_or_else(|err| {
            panic!("provider description {} is not JSON: {err}", path.display())
        })
    }
}

/// The overlays of the generated catalog (`toolkits/overlays/*.yaml`), as YAML values, with
/// their file stems (the toolkit slugs).
pub fn overlays() -> Vec<(String, Value)> {
    let dir = Path::new(TOOLKITS_DIR).join("overlays");
    let mut out = Vec::new();
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
    {
        let path = entry.expect("an overlays dir entry").path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a readable overlay");
        let value: Value = serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|err| panic!("{} does not parse: {err}", path.display()));
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        out.push((stem, value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
