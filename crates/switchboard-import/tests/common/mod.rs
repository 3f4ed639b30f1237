//! Helpers shared by the import tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use switchboard_catalog::spec::ToolkitSpec;
use switchboard_catalog::{Catalog, LoadOptions};

/// Loads `toolkit` through the catalog's own loader, as `toolkits/<slug>.yaml` would be, and
/// panics with the loader's message when it refuses it.
pub fn assert_loads(toolkit: &ToolkitSpec) -> Catalog {
    let yaml = serde_yaml_ng::to_string(toolkit).expect("serialize toolkit");
    let file = PathBuf::from(format!("{}.yaml", toolkit.slug));
    Catalog::from_sources(&[(file, yaml)], &LoadOptions::default()).unwrap_or_else(|e| {
        panic!(
            "the catalog refuses the generated toolkit {}: {e}",
            toolkit.slug
        )
    })
}
