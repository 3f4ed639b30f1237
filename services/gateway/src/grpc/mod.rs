//! The gRPC adapters: one type per service of `proto/switchboard/v1`. A handler authenticates
//! the caller from the request's metadata ([`auth`]), calls the use case in [`crate::app`]
//! and maps its domain error to a status through `switchboard_core::Error`'s one `From`. No
//! business rule lives here.

pub mod admin;
pub mod auth;
pub mod catalog;
pub mod connection;
pub mod session;
pub mod triggers;
