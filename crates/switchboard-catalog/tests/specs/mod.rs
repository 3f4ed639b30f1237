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

pub fn load_toolkit(slug: &str) -> ToolkitSpec {
    let path = Path::new(TOOLKITS_DIR).join(format!("{slug}.yaml"));
    let text = std::fs::read_to_string(&path)
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
        serde_json::from_str(&text).unwrap_or_else(|err| {
            panic!("provider description {} is not JSON: {err}", path.display())
        })
    })
}
