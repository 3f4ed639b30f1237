//! `switchboard catalog import`: a toolkit file from a provider's API description and an
//! optional overlay; `switchboard catalog generate`: every toolkit of the catalog from the
//! overlays in `toolkits/overlays` and the descriptions in the provider-specs directory
//! (`make catalog`). Both only read and write files: no config, NATS or Redis needed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use switchboard_import::generate::{generate_all, HEADER_MARK};
use switchboard_import::{build, import, Overlay, Source};

#[derive(Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    command: CatalogCommand,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Generate a toolkit file from an OpenAPI 2.0/3.0/3.1 description (JSON or YAML).
    Import(ImportArgs),
    /// Generate every toolkit of the catalog: one file per overlay, from the description the
    /// overlay names; files an earlier run generated whose overlay is gone are removed.
    Generate(GenerateArgs),
}

#[derive(Args)]
struct GenerateArgs {
    /// The providers' API descriptions (`../shared/provider-specs`).
    #[arg(long)]
    specs: PathBuf,
    /// The overlays, one per toolkit.
    #[arg(long, default_value = "toolkits/overlays")]
    overlays: PathBuf,
    /// Where the toolkit files go.
    #[arg(long, default_value = "toolkits/generated")]
    out: PathBuf,
    /// Write nothing; fail when a file would change (the drift check).
    #[arg(long)]
    check: bool,
}

#[derive(Args)]
struct ImportArgs {
    /// The provider's API description.
    #[arg(long)]
    from: PathBuf,
    /// The overlay (toolkits/overlays/<slug>.yaml): slug, auth, include/exclude, renames.
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// Where to write the toolkit YAML; default: stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the whole report (every tool, drop and skip) to stderr, not only the counts.
    #[arg(long)]
    report: bool,
}

pub fn run(args: CatalogArgs) -> anyhow::Result<()> {
    match args.command {
        CatalogCommand::Import(args) => run_import(args),
        CatalogCommand::Generate(args) => run_generate(args),
    }
}

fn run_generate(args: GenerateArgs) -> anyhow::Result<()> {
    let generated = generate_all(&args.specs, &args.overlays)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    let mut changed: Vec<String> = Vec::new();
    let mut tools = 0;
    for g in &generated {
        tools += g.tools;
        let path = args.out.join(format!("{}.yaml", g.slug));
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != g.text {
            changed.push(path.display().to_string());
            if !args.check {
                std::fs::write(&path, &g.text)
                    .with_context(|| format!("failed to write {}", path.display()))?;
            }
        }
        eprintln!("{:<24} {}", g.slug, g.report.summary());
    }
    for stale in stale_files(&args.out, &generated)? {
        changed.push(format!("{} (no overlay)", stale.display()));
        if !args.check {
            std::fs::remove_file(&stale)
                .with_context(|| format!("failed to remove {}", stale.display()))?;
        }
    }
    eprintln!(
        "{} toolkits, {tools} tools; {} file(s) {}",
        generated.len(),
        changed.len(),
        if args.check { "differ" } else { "written" }
    );
    if args.check && !changed.is_empty() {
        anyhow::bail!(
            "the catalog differs from its overlays and descriptions (run `make catalog`):\n  {}",
            changed.join("\n  ")
        );
    }
    Ok(())
}

/// Generated files (by their header) in `out` that no overlay produced this time.
fn stale_files(
    out: &Path,
    generated: &[switchboard_import::generate::Generated],
) -> anyhow::Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    for entry in
        std::fs::read_dir(out).with_context(|| format!("failed to list {}", out.display()))?
    {
        let path = entry?.path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml");
        let slug = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        if !is_yaml || generated.iter().any(|g| Some(&g.slug) == slug.as_ref()) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.starts_with(HEADER_MARK) {
            stale.push(path);
        }
    }
    stale.sort();
    Ok(stale)
}

fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.from)
        .with_context(|| format!("failed to read {}", args.from.display()))?;
    let mut overlay = match &args.overlay {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            Overlay::from_yaml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => Overlay::default(),
    };
    let curated = match (&overlay.curated, &args.overlay) {
        (Some(curated), Some(overlay_path)) => {
            let path = overlay_path
                .parent()
                .unwrap_or(Path::new("."))
                .join(curated);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            let curated: switchboard_catalog::spec::ToolkitSpec = serde_yaml_ng::from_str(&text)
                .with_context(|| format!("{} is not a toolkit file", path.display()))?;
            if overlay.slug.is_none() {
                overlay.slug = Some(curated.slug.clone());
            }
            Some(curated)
        }
        _ => None,
    };
    let mut imported = import(&Source::detect(text), &overlay)
        .with_context(|| format!("failed to import {}", args.from.display()))?;
    if let Some(curated) = curated {
        imported = build::with_curated(imported, curated)?;
    }
    let yaml = serde_yaml_ng::to_string(&imported.toolkit).context("failed to write YAML")?;
    let header = format!(
        "# Generated by `switchboard catalog import` from {}; edit the overlay, not this file.\n",
        args.from
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    match &args.out {
        Some(path) => std::fs::write(path, format!("{header}{yaml}"))
            .with_context(|| format!("failed to write {}", path.display()))?,
        None => print!("{header}{yaml}"),
    }
    if args.report {
        eprint!("{}", imported.report.text());
    } else {
        eprintln!("{}", imported.report.summary());
    }
    Ok(())
}
