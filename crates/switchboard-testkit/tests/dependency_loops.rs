//! No workspace package dev-depends on something that depends on it: a service whose tests
//! used the test kit (which depends on the services) would be built twice in its own tests, as
//! the crate under test and as the kit's dependency, two copies whose types do not match.
//! Reads `cargo metadata --no-deps` and follows the workspace's path dependencies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

/// A workspace package: its name and its path dependencies, as (kind, manifest directory);
/// kind is `normal`, `dev` or `build`.
struct Package {
    name: String,
    deps: Vec<(String, PathBuf)>,
}

/// The workspace's packages by manifest directory, from `cargo metadata` output.
fn packages(metadata: &Value) -> BTreeMap<PathBuf, Package> {
    let mut out = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let manifest = Path::new(package["manifest_path"].as_str().expect("manifest_path"));
        let deps = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter_map(|dep| {
                let path = dep["path"].as_str()?;
                let kind = dep["kind"].as_str().unwrap_or("normal").to_owned();
                Some((kind, PathBuf::from(path)))
            })
            .collect();
        out.insert(
            manifest.parent().expect("a directory").to_path_buf(),
            Package {
                name: package["name"].as_str().expect("name").to_owned(),
                deps,
            },
        );
    }
    out
}

/// Every package reachable from `start` through normal and build dependencies (not dev ones,
/// which do not come along when a package is used), `start` included.
fn reachable(packages: &BTreeMap<PathBuf, Package>, start: &Path) -> BTreeSet<PathBuf> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_path_buf()];
    while let Some(dir) = todo.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        if let Some(package) = packages.get(&dir) {
            for (kind, path) in &package.deps {
                if kind != "dev" {
                    todo.push(path.clone());
                }
            }
        }
    }
    seen
}

/// Each loop as "package -> [dev] dependency -> … -> package", naming the dev-dependency.
fn dev_loops(metadata: &Value) -> Vec<String> {
    let packages = packages(metadata);
    let mut loops = Vec::new();
    for (dir, package) in &packages {
        for (kind, dep) in &package.deps {
            if kind == "dev" && reachable(&packages, dep).contains(dir) {
                let dep_name = packages.get(dep).map_or("?", |p| p.name.as_str());
                loops.push(format!(
                    "{} -> [dev] {dep_name} -> … -> {}",
                    package.name, package.name
                ));
            }
        }
    }
    loops
}

fn workspace_metadata() -> Value {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON")
}

#[test]
fn no_workspace_package_dev_depends_on_a_package_that_depends_on_it() {
    let metadata = workspace_metadata();
    let names: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // The check sees the packages it is about.
    for expected in [
        "switchboard-gateway",
        "switchboard-worker",
        "switchboard-triggers",
        "switchboard-testkit",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    // Every path dependency is a package it knows (paths compare as cargo wrote them), so a
    // loop cannot hide behind a path spelled another way.
    let packages = packages(&metadata);
    for (dir, package) in &packages {
        for (_, dep) in &package.deps {
            assert!(
                packages.contains_key(dep),
                "{} ({}): {} is no workspace package",
                package.name,
                dir.display(),
                dep.display()
            );
        }
    }
    assert_eq!(dev_loops(&metadata), Vec::<String>::new());
}

/// What `cargo metadata` says of a package at `dir` with path dependencies `deps`.
fn package(name: &str, dir: &str, deps: &[(&str, Option<&str>)]) -> Value {
    let deps: Vec<Value> = deps
        .iter()
        .map(|(path, kind)| json!({"name": "x", "path": path, "kind": kind}))
        .collect();
    json!({"name": name, "manifest_path": format!("{dir}/Cargo.toml"), "dependencies": deps})
}

#[test]
fn a_dev_dependency_on_a_kit_that_depends_on_the_package_is_a_loop() {
    // gateway -> [dev] kit -> core -> … and kit -> gateway: a loop through a normal dependency
    // two steps away; worker -> [dev] wiremock-like package outside the workspace: none.
    let metadata = json!({"packages": [
        package("gateway", "/w/services/gateway", &[("/w/crates/core", None), ("/w/crates/kit", Some("dev"))]),
        package("worker", "/w/services/worker", &[("/w/crates/core", None), ("/w/crates/other", Some("dev"))]),
        package("core", "/w/crates/core", &[]),
        package("other", "/w/crates/other", &[("/w/crates/core", None)]),
        package("mid", "/w/crates/mid", &[("/w/services/gateway", None)]),
        package("kit", "/w/crates/kit", &[("/w/crates/mid", None), ("/w/services/worker", Some("dev"))]),
    ]});
    assert_eq!(
        dev_loops(&metadata),
        vec!["gateway -> [dev] kit -> … -> gateway".to_owned()]
    );
}
