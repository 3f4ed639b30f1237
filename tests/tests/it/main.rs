//! The integration suite, as one test binary (one link instead of one per file keeps the build
//! small and fast). `tracing.rs` and `secrets.rs` stay separate binaries: each installs its own
//! global tracing subscriber.

mod admin;
mod catalog_api;
mod connections;
mod custom_toolkits;
mod execute;
mod execute_checks;
mod execute_fresh;
mod execute_progress;
mod execute_scale;
mod execute_toolkits;
mod health;
mod mcp;
mod oauth;
mod session_scope;
mod session_update;
mod sessions;
mod smoke;
mod tls;
mod triggers;
