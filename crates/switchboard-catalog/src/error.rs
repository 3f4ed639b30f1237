//! Errors of loading the catalog: each names the file, the tool or trigger and the problem.

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
    /// A broken trigger type; `field` is its path in the file, e.g. `triggers[2].poll.tool`.
    #[error("toolkit file {file}: trigger {trigger}: {field}: {problem}")]
    Trigger {
        file: PathBuf,
        /// The trigger's slug, or `triggers[i]` when the file could not be read that far.
        trigger: String,
        field: String,
        problem: String,
    },
    #[error("base URL override for unknown toolkit {toolkit:?}")]
    UnknownOverride { toolkit: String },
    #[error("no toolkit files (*.yaml) in {dir}")]
    Empty { dir: PathBuf },
}
