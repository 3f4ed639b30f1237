//! Cursor pagination helpers: page sizes and opaque page tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{Error, Result};

/// Page size used when the caller gives 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page size.
pub const MAX_PAGE_SIZE: usize = 500;

/// The effective page size of a request (`field` names it in errors).
pub fn page_size(requested: i32, field: &str) -> Result<usize> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err(Error::invalid(
            crate::reason::OUT_OF_RANGE,
            field,
            "must not be negative",
        )),
        n => Ok((n as usize).min(MAX_PAGE_SIZE)),
    }
}

/// Encodes the position after which the next page starts.
pub fn encode_token(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{after}"))
}

/// Decodes a page token; empty means the first page.
pub fn decode_token(token: &str, field: &str) -> Result<Option<String>> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        Error::invalid(
            crate::reason::INVALID_PAGE_TOKEN,
            field,
            "is not a page token this API returned",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix("v1:")
        .filter(|rest| !rest.is_empty())
        .map(|rest| Some(rest.to_owned()))
        .ok_or_else(invalid)
}

/// Pages through an already sorted, filtered list by a key.
pub fn page_by_key<T, K: AsRef<str>>(
    items: impl Iterator<Item = T>,
    key: impl Fn(&T) -> K,
    after: Option<&str>,
    size: usize,
) -> (Vec<T>, String) {
    let mut out = Vec::with_capacity(size.min(64));
    let mut more = false;
    for item in items {
        if let Some(after) = after {
            if key(&item).as_ref() <= after {
                continue;
            }
        }
        if out.len() == size {
            more = true;
            break;
        }
        out.push(item);
    }
    let next = match (more, out.last()) {
        (true, Some(last)) => encode_token(key(last).as_ref()),
        _ => String::new(),
    };
    (out, next)
}

/// Pages through a list in its own order (not sorted by any key), by position.
pub fn page_by_position<T>(
    items: impl Iterator<Item = T>,
    after: Option<&str>,
    size: usize,
) -> (Vec<T>, String) {
    let (page, next) = page_by_key(items.enumerate(), |(i, _)| format!("{i:06}"), after, size);
    (page.into_iter().map(|(_, item)| item).collect(), next)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let t = encode_token("github");
        assert_eq!(
            decode_token(&t, "page_token").unwrap().as_deref(),
            Some("github")
        );
        assert_eq!(decode_token("", "page_token").unwrap(), None);
        let err = decode_token("!!!", "page_token").unwrap_err();
        assert_eq!(err.reason(), "INVALID_PAGE_TOKEN");
    }

    #[test]
    fn pages_cover_everything_once() {
        let items = ["a", "b", "c", "d", "e"];
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = page_by_key(items.iter(), |s| s.to_string(), after.as_deref(), 2);
            seen.extend(page.into_iter().copied());
            if next.is_empty() {
                break;
            }
            after = decode_token(&next, "t").unwrap();
        }
        assert_eq!(seen, items);
    }
}
