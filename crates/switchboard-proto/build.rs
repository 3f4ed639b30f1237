//! Compiles the protos with protox (pure Rust: no protoc needed):
//! - `proto/switchboard/v1/*.proto`, the public gRPC contract, with its service stubs and the
//!   file descriptor set that gRPC reflection serves;
//! - `proto/switchboard/bus/v1/*.proto`, the internal envelopes on the bus: messages only, and
//!   kept out of that descriptor set (clients never see them).

use std::path::{Path, PathBuf};

/// The `.proto` files of `dir`, sorted, each watched for changes.
fn protos(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "proto") {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push(path);
        }
    }
    files.sort();
    println!("cargo:rerun-if-changed={}", dir.display());
    Ok(files)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let fds = protox::compile(protos(&root.join("switchboard/v1"))?, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("switchboard_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    let bus = protox::compile(protos(&root.join("switchboard/bus/v1"))?, [&root])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(false)
        .compile_fds(bus)?;
    Ok(())
}
