//! The declarative toolkit catalog: one YAML file per toolkit under `toolkits/`, loaded and
//! validated at start, then served read-only (an `Arc<Catalog>` shared by every request).

mod catalog;
mod check_oauth2;
mod check_trigger;
mod error;
mod load;
pub mod meta;
pub mod search;
pub mod spec;
mod trigger_type;

pub use catalog::{Catalog, Tool, Toolkit};
pub use check_oauth2::RESERVED_AUTHORIZE_PARAMS;
pub use check_trigger::{INTERVAL_CONFIG_FIELD, MIN_POLL_INTERVAL_SECS, NATIVE_POLLERS};
pub use error::CatalogError;
pub use load::{LoadOptions, NATIVE_HANDLERS};
pub use search::{Hit, SearchIndex};
pub use trigger_type::TriggerType;

/// The hint tags a tool may carry (MCP tool annotations).
pub const HINT_TAGS: [&str; 4] = [
    "readOnlyHint",
    "destructiveHint",
    "idempotentHint",
    "openWorldHint",
];

/// Whether `tag` is one of the four hint tags.
pub fn is_hint_tag(tag: &str) -> bool {
    HINT_TAGS.contains(&tag)
}
