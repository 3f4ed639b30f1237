//! `switchboard catalog import` as a process: a fixture description and overlay in, a toolkit
//! the catalog loads out, the report on stderr; no config file, NATS or Redis involved.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use switchboard_catalog::{Catalog, LoadOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/switchboard-import/tests/fixtures")
        .join(name)
}

fn switchboard(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    // An empty working directory and a config path that does not exist: the command must not
    // need either.
    cmd.current_dir(dir)
        .env("SWITCHBOARD_CONFIG", dir.join("missing.toml"));
    cmd
}

#[test]
fn import_writes_a_loadable_toolkit_and_reports_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().join("overlay.yaml");
    std::fs::write(
        &overlay,
        "slug: pets\noperations:\n  pets/get: {rename: FETCH_PET}\n",
    )
    .unwrap();
    let out = dir.path().join("pets.yaml");
    let output = switchboard(dir.path())
        .args(["catalog", "import", "--from"])
        .arg(fixture("petstore-v2.yaml"))
        .arg("--overlay")
        .arg(&overlay)
        .arg("--out")
        .arg(&out)
        .arg("--report")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(
        stderr.starts_with("5 tools, 1 renamed, 1 dropped by the overlay, 1 skipped"),
        "{stderr}"
    );
    assert!(stderr.contains("PETS_FETCH_PET <- pets/get"), "{stderr}");
    assert!(
        stderr.contains("multipart/form-data body (file upload)"),
        "{stderr}"
    );

    let yaml = std::fs::read_to_string(&out).unwrap();
    let catalog = Catalog::from_sources(&[(out.clone(), yaml)], &LoadOptions::default())
        .expect("the catalog loads the generated file");
    assert!(catalog.tool("PETS_FETCH_PET").is_some());
    assert!(catalog.tool("PETS_CREATE_PET").is_some());
}

#[test]
fn import_prints_to_stdout_and_fails_on_a_bad_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let output = switchboard(dir.path())
        .args(["catalog", "import", "--from"])
        .arg(fixture("store-v3.json"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("slug: STORE_LIST_ORDERS"), "{stdout}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "5 tools, 0 renamed, 0 dropped by the overlay, 3 skipped"
    );

    let overlay = dir.path().join("overlay.yaml");
    std::fs::write(&overlay, "operations:\n  nope: {drop: true}\n").unwrap();
    let output = switchboard(dir.path())
        .args(["catalog", "import", "--from"])
        .arg(fixture("store-v3.json"))
        .arg("--overlay")
        .arg(&overlay)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("overlay operations.nope"), "{stderr}");
}
