//! Provider I/O: everything the platform sends to a provider's API, and the checks on what a
//! provider sends back unasked (webhook signatures). The services decide when to talk to a
//! provider; this crate knows how, so no service imports another to reach one.
//!
//! - the generic tool call ([`call`]): the HTTP request from a tool's mapping (or a native
//!   handler), the credential, timeouts, retries and the answer mapped to data or an error;
//! - [`native`]: the registry of native handlers, for tools a declarative mapping cannot
//!   express;
//! - per provider: [`github`] (repository hooks, `X-Hub-Signature-256`), [`slack`] (`v0`
//!   request signatures) and [`gmail`] (sending and drafting, the history API the poller
//!   reads).

mod call;
pub mod egress;
pub mod github;
pub mod gmail;
pub mod native;
pub mod slack;

pub use call::{
    call, CallPolicy, CallResult, Outcome, INVALID_REQUEST, PROVIDER_ERROR, PROVIDER_TIMEOUT,
    PROVIDER_UNAVAILABLE,
};

/// Lower-case hex, as providers print their signatures.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality in time independent of where the inputs differ, for signatures.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
