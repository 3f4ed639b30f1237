//! Errors of loading the catalog: each names the file, the tool and the problem.

use std::path::PathBuf;

/// Why the catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("failed to read toolkit directory {dir}: {source}")]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to read toolkit file {file}: {source}")]
    ReadFile {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("toolkit file {file}: invalid YAML: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("toolkit file {file}: {problem}")]
    Toolkit { file: PathBuf, problem: String },
    #[error("toolkit file {file}: tool {tool}: {problem}")]
    Tool {
        file: PathBuf,
        tool: String,
        problem: String,
    },
    #[error("base URL override for unknown toolkit {toolkit:?}")]
    UnknownOverride { toolkit: String },
    #[error("no toolkit files (*.yaml) in {dir}")]
    Empty { dir: PathBuf },
}
