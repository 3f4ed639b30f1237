//! Prefixed, time-ordered ids (`ses_01j…`): a ULID in lowercase Crockford base32 after a type
//! prefix, so ids sort by creation time and tell their type at a glance.

use std::sync::{Mutex, PoisonError};

/// One monotonic generator per process: ids made within the same millisecond still increase,
/// so listings ordered by id are ordered by creation.
static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

/// Makes a new id with `prefix` (without the underscore), e.g. `new_id("ses")`. Ids made by one
/// process increase strictly.
pub fn new_id(prefix: &str) -> String {
    let next = GENERATOR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .generate();
    // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random one.
    let ulid = next
        .unwrap_or_else(|_| ulid::Ulid::new())
        .to_string()
        .to_lowercase();
    let mut id = String::with_capacity(prefix.len() + 1 + ulid.len());
    id.push_str(prefix);
    id.push('_');
    id.push_str(&ulid);
    id
}

/// Whether `id` has the shape of an id made by [`new_id`] with `prefix`.
pub fn is_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|ulid| {
            ulid.len() == 26
                && ulid
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        })
}

/// Whether `id` looks like a reference id of another service (`ac_…`, `ca_…`): the prefix, then
/// 1–64 letters, digits, `_` or `-`.
pub fn is_ref_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 64
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_unique_and_recognised() {
        let a = new_id("ses");
        let b = new_id("ses");
        assert_ne!(a, b);
        assert!(is_id("ses", &a));
        assert!(!is_id("prj", &a));
        assert!(!is_id("ses", "ses_"));
        assert!(!is_id("ses", "ses_../../etc"));
    }

    #[test]
    fn ids_made_in_a_row_increase() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id("ses")).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn reference_ids() {
        assert!(is_ref_id("ac", "ac_github-1"));
        assert!(!is_ref_id("ac", "ca_x"));
        assert!(!is_ref_id("ac", "ac_"));
        assert!(!is_ref_id("ac", "ac_a b"));
    }
}
