#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A project's view of the catalog: its own toolkits laid over the built-in ones.

use std::path::Path;
use std::sync::Arc;

use switchboard_catalog::spec::ToolkitSpec;
use switchboard_catalog::{Catalog, CatalogError, LoadOptions};

const TOOLKITS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../toolkits");

/// The hand-written toolkits: layering does not depend on the base's size, and ranking over the
/// whole generated catalog is `search_quality.rs`'s.
fn base() -> Arc<Catalog> {
    let dir = Path::new(TOOLKITS_DIR);
    Arc::new(Catalog::load_dir(dir, &LoadOptions::default()).unwrap())
}

const INVENTORY: &str = r#"
slug: acme_inventory
name: Acme Inventory
description: Warehouse stock levels and purchase orders of Acme's own inventory API.
base_url: https://inventory.acme.example
auth:
  schemes: [API_KEY]
  placement: {header: X-Api-Key}
tools:
  - slug: ACME_INVENTORY_GET_STOCK_LEVEL
    name: Get stock level
    description: Returns how many units of a product are in stock in one warehouse.
    tags: [stock, readOnlyHint, idempotentHint]
    input_schema:
      type: object
      properties:
        sku: {type: string}
      required: [sku]
    output_schema: {type: object}
    http:
      method: GET
      path: /stock/{sku}
"#;

fn inventory() -> ToolkitSpec {
    serde_yaml_ng::from_str(INVENTORY).unwrap()
}

#[test]
fn a_layer_serves_its_own_toolkits_and_the_base_and_leaves_the_base_alone() {
    let base = base();
    let layered = Catalog::layered(Arc::clone(&base), vec![inventory()]).unwrap();

    assert!(layered.toolkit("acme_inventory").is_some());
    assert!(layered.tool("ACME_INVENTORY_GET_STOCK_LEVEL").is_some());
    assert!(layered.toolkit("github").is_some());
    assert!(layered.tool("GITHUB_CREATE_ISSUE").is_some());
    assert!(layered.trigger_type("GITHUB_ISSUE_OPENED").is_some());
    assert!(layered.is_own_toolkit("acme_inventory"));
    assert!(!layered.is_own_toolkit("github"));
    assert_eq!(layered.tool_count(), base.tool_count() + 1);

    let slugs: Vec<&str> = layered.toolkits().map(|t| t.slug.as_str()).collect();
    let mut sorted = slugs.clone();
    sorted.sort_unstable();
    assert_eq!(slugs, sorted, "toolkits come sorted by slug across layers");
    assert_eq!(slugs.len(), base.toolkits().count() + 1);

    // The base knows nothing of the project's toolkit.
    assert!(base.toolkit("acme_inventory").is_none());
    assert!(base.tool("ACME_INVENTORY_GET_STOCK_LEVEL").is_none());
    assert!(!base.is_own_toolkit("github"));
}

#[test]
fn search_ranks_a_projects_tools_among_the_built_in_ones() {
    let layered = Catalog::layered(base(), vec![inventory()]).unwrap();
    let hits = layered.search("how many units of this product are in stock", |_| true, 5);
    assert_eq!(
        hits.first().map(|h| h.tool.slug.as_str()),
        Some("ACME_INVENTORY_GET_STOCK_LEVEL"),
        "{:?}",
        hits.iter().map(|h| &h.tool.slug).collect::<Vec<_>>()
    );
    // The base's tools rank as they do without the layer.
    let alone = base().search("create a new issue on github", |_| true, 5);
    let hits = layered.search("create a new issue on github", |_| true, 5);
    assert_eq!(
        hits.iter().map(|h| &h.tool.slug).collect::<Vec<_>>(),
        alone.iter().map(|h| &h.tool.slug).collect::<Vec<_>>()
    );
    assert!(hits.iter().any(|h| h.tool.slug == "GITHUB_CREATE_ISSUE"));
    // The filter applies to both layers.
    let hits = layered.search("stock level", |t| t.toolkit != "acme_inventory", 5);
    assert!(hits.iter().all(|h| h.tool.toolkit != "acme_inventory"));
}

fn refusal(spec: ToolkitSpec) -> String {
    match Catalog::layered(base(), vec![spec]) {
        Err(e @ (CatalogError::Toolkit { .. } | CatalogError::Tool { .. })) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_project_cannot_shadow_the_built_in_catalog_or_use_built_in_only_features() {
    let mut spec = inventory();
    spec.slug = "github".into();
    assert!(refusal(spec).contains("built-in toolkit"));

    let mut spec = inventory();
    spec.tools[0].slug = "GITHUB_CREATE_ISSUE".into();
    assert!(refusal(spec).contains("built-in tool"));

    let mut spec = inventory();
    spec.tools[0].slug = "GITHUB_ISSUE_OPENED".into();
    assert!(refusal(spec).contains("built-in tool"));

    let mut spec = inventory();
    spec.tools[0].http = None;
    spec.tools[0].native = Some("gmail_send_email".into());
    assert!(refusal(spec).contains("native handlers are built-in only"));

    let mut spec = inventory();
    let github: ToolkitSpec = serde_yaml_ng::from_str(
        &std::fs::read_to_string(format!("{TOOLKITS_DIR}/github.yaml")).unwrap(),
    )
    .unwrap();
    spec.triggers = github.triggers.clone();
    assert!(refusal(spec).contains("cannot declare triggers"));

    // And every rule of a toolkit file still holds.
    let mut spec = inventory();
    spec.tools[0].http.as_mut().unwrap().path = "/stock/{nope}".into();
    assert!(refusal(spec).contains("path parameter"));

    // Two custom toolkits with one slug.
    let err = Catalog::layered(base(), vec![inventory(), inventory()]).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}
