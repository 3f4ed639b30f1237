//! Why a description could not be imported.

/// An import failure, naming where in the description it is.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The text is not JSON/YAML, or not a description this front end reads.
    #[error("{what}: {message}")]
    Unreadable { what: String, message: String },
    /// The description breaks its own format at `location` (a JSON pointer such as
    /// `/paths/~1repos~1{owner}/get/parameters/2`, or a Discovery path such as
    /// `resources.users.methods.get`).
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
    /// The overlay names something the description does not have, or breaks a rule.
    #[error("overlay {location}: {message}")]
    Overlay { location: String, message: String },
}
