//! Toolkits from the providers' own API descriptions.
//!
//! Each front end reads one kind of description into the same model ([`ir::ApiModel`]: the
//! API's name, base URL, auth and its operations with parameters in their locations):
//!
//! - [`openapi`]: OpenAPI 2.0 (Swagger), 3.0 and 3.1, JSON or YAML;
//! - `discovery`: Google API Discovery documents (to land; plugs into [`parse`]);
//! - `graphql`: a curated list of operations over a GraphQL SDL schema (to land; plugs into
//!   [`parse`]).
//!
//! The back end ([`build`]) turns a model and a hand-written [`overlay`] into a toolkit file of
//! the catalog's format (`switchboard_catalog::spec::ToolkitSpec`) and a [`report`] of what was
//! skipped and why; [`generate`] runs every overlay of a directory (`make catalog`).
//! `switchboard catalog import` and `switchboard catalog generate` are the commands over this
//! crate.

pub mod build;
pub mod discovery;
pub mod error;
pub mod generate;
pub mod graphql;
pub mod ir;
pub mod naming;
pub mod openapi;
pub mod overlay;
pub mod report;
pub mod text;

pub use build::Imported;
pub use error::ImportError;
pub use overlay::Overlay;
pub use report::Report;

/// A description to import, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// OpenAPI 2.0/3.0/3.1, JSON or YAML.
    OpenApi(String),
    /// A Google API Discovery document.
    Discovery(String),
    /// A GraphQL schema (SDL) and the YAML list of operations to expose over it.
    Graphql { sdl: String, operations: String },
}

impl Source {
    /// The kind of a JSON/YAML description from its text: a Discovery document names its
    /// `discoveryVersion` (or `"kind": "discovery#restDescription"`) near the top; anything
    /// else is read as OpenAPI, whose front end says when it is not.
    pub fn detect(text: String) -> Source {
        let head: String = text.chars().take(64 * 1024).collect();
        let openapi = ["\"openapi\"", "\"swagger\"", "\nopenapi:", "\nswagger:"]
            .iter()
            .any(|marker| head.contains(marker))
            || head.starts_with("openapi:")
            || head.starts_with("swagger:");
        let discovery =
            head.contains("discovery#restDescription") || head.contains("\"discoveryVersion\"");
        if discovery && !openapi {
            Source::Discovery(text)
        } else {
            Source::OpenApi(text)
        }
    }
}

/// Reads a description into the model with the front end for its kind.
pub fn parse(source: &Source) -> Result<ir::ApiModel, ImportError> {
    match source {
        Source::OpenApi(text) => openapi::parse(text),
        Source::Discovery(text) => discovery::parse(text),
        Source::Graphql { sdl, operations } => graphql::parse(sdl, operations),
    }
}

/// Imports a description under an overlay: the toolkit and the report.
pub fn import(source: &Source, overlay: &Overlay) -> Result<Imported, ImportError> {
    build::toolkit(&parse(source)?, overlay)
}
