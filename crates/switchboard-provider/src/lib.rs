//! Provider I/O: everything the platform sends to a provider's API. The services decide when
//! to talk to a provider; this crate knows how, so no service imports another to reach one.
//!
//! - the generic tool call ([`call`]): the HTTP request from a tool's mapping (or a native
//!   handler), the credential, timeouts, retries and the answer mapped to data or an error;
//! - [`native`]: the registry of native handlers, for tools a declarative mapping cannot
//!   express;
//! - per provider: [`gmail`] (sending and drafting, the history API the poller reads).

mod call;
pub mod gmail;
pub mod native;

pub use call::{
    call, CallPolicy, CallResult, Outcome, INVALID_REQUEST, PROVIDER_ERROR, PROVIDER_TIMEOUT,
    PROVIDER_UNAVAILABLE,
};
