//! Toolkits from the providers' own API descriptions.
//!
//! Each front end reads one kind of description into the same model ([`ir::ApiModel`]: the
//! API's name, base URL, auth and its operations with parameters in their locations):
//!
//! - [`openapi`]: OpenAPI 2.0 (Swagger), 3.0 and 3.1, JSON or YAML;
//! - [`discovery`]: Google API Discovery documents;
//! - [`graphql`]: a curated list of operations over a GraphQL SDL schema.
//!
//! The back end ([`build`]) turns a model and a hand-written [`overlay`] into a toolkit file of
//! the catalog's format (`switchboard_catalog::spec::ToolkitSpec`) and a [`report`] of what was
//! skipped and why. `switchboard catalog import` is the command over this crate.

pub mod discovery;
pub mod error;
pub mod graphql;
pub mod ir;

pub use error::ImportError;
