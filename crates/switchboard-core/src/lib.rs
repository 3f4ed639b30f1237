//! Domain rules shared by the services: ids, the error model and its one mapping to gRPC
//! statuses, session config validation, partial updates, and a session's scope (which toolkits
//! and tools it may use).

pub mod accounts;
pub mod arguments;
pub mod credential;
pub mod error;
pub mod ids;
pub mod page;
pub mod reason;
pub mod scope;
pub mod session_config;
pub mod time;
pub mod update;

pub use credential::Credential;
pub use error::{Error, Result};
