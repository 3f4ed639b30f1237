//! The sessions ExecuteTool was last checked against, per gateway. A hit saves the read before
//! a call: the call is checked against the cached session and accounts, and the step that
//! stores its execution confirms, atomically, that the caller's key is still valid and that
//! the session and its user's accounts are still byte for byte what was cached (the read's
//! fingerprint). When anything changed, nothing is stored and the call is checked again against
//! a fresh read, so a cached entry can make a call cheaper, never different.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use switchboard_store::AuthorizedSession;

/// Entries kept before the cache starts over (a session is a few hundred bytes).
const CAPACITY: usize = 16_384;

/// Entries by session id (ids are unique across projects; a hit is checked for the project).
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, Arc<AuthorizedSession>>>,
}

impl SessionCache {
    /// The cached read of session `id` of `project`.
    pub fn get(&self, project: &str, id: &str) -> Option<Arc<AuthorizedSession>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(id)
            .filter(|read| read.project == project)
            .cloned()
    }

    /// Keeps a fresh read (one with the user's accounts read in the same step only).
    pub fn put(&self, read: Arc<AuthorizedSession>) {
        if !read.accounts_covered {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(read.session.id.clone(), read);
    }

    /// Drops the entry of a session this gateway changed or deleted.
    pub fn forget(&self, project: &str, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.get(id).is_some_and(|read| read.project == project) {
            entries.remove(id);
        }
    }
}
