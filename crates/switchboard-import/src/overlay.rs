//! The overlay: a small hand-written YAML file (`toolkits/overlays/<slug>.yaml`) that says what
//! the provider's description cannot — the toolkit's identity, auth details, which operations
//! to take — so a regenerated toolkit keeps the same curation.
//!
//! Every field is optional:
//!
//! | field | meaning |
//! |---|---|
//! | `source` | the description's file, relative to the provider-specs directory (`github/rest-openapi.json`); read by `switchboard catalog generate` ([`crate::generate`]), which imports every overlay's source. No `source` but `curated`: the toolkit is the curated file as it is (a pass-through, for a provider without a published description) |
//! | `license` | the description's license and origin, one line, for the generated file's header comment |
//! | `curated` | a hand-written toolkit file, relative to the overlay (`../github.yaml`): the generated toolkit takes its toolkit-level fields (name, description, logo, categories, base URL, auth with its OAuth 2.0 block, headers, response, triggers) and its tools verbatim, first, and leaves out every generated operation a curated tool already covers (same method and path template, placeholders compared by position); a generated tool whose slug a curated tool holds is an error (rename it) |
//! | `slug` | toolkit slug (lowercase, `[a-z][a-z0-9_]*`); default: from the API's title |
//! | `name`, `description`, `logo`, `categories` | the toolkit's; default: title and description of the API |
//! | `base_url` | replaces the description's server (needed when it has none, or a relative one) |
//! | `headers` | headers sent on every request (`X-GitHub-Api-Version: "2022-11-28"`) |
//! | `auth.schemes` | replaces the schemes read from the description (`[OAUTH2, BEARER_TOKEN]`) |
//! | `auth.placement` | `{header, prefix}` for a static key |
//! | `auth.oauth2` | the whole OAuth 2.0 block of the catalog (`authorize_url`, `token_url`, `scopes`, `scope_separator`, `authorize_params`, `client_auth`, `pkce`, `revoke`, `identity` — the "who am I" call); replaces the generated one |
//! | `response` | `{ok_field, error_field}` for providers that answer 2xx with a failure flag (Slack) |
//! | `include` | operation id globs (`*`, `?`); when set, only matching operations are taken |
//! | `include_tags` | the description's tags; when set (with or without `include`), operations with one of them are taken too |
//! | `exclude`, `exclude_tags` | operation id globs / tags left out (after `include`) |
//! | `ignore_params` | query, header or body parameter names (on the wire) left out of every tool, e.g. Slack's `token`, which the platform's auth supplies |
//! | `include_deprecated` | take deprecated operations too (default `false`) |
//! | `max_tools` | refuse to generate more tools than this (a safety cap against a too-wide include) |
//! | `operations.<operationId>.rename` | the tool's slug, `{TOOLKIT}_{ACTION}` or just `ACTION` |
//! | `operations.<operationId>.description` | replaces the generated tool description |
//! | `operations.<operationId>.drop` | leave this operation out |
//!
//! An overlay that names an operation, glob or tag matching nothing in the description is an
//! error ([`crate::ImportError::Overlay`]): after the provider renames an operation, the
//! overlay must be updated rather than silently stop applying.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_catalog::spec::{AuthScheme, CredentialPlacement, OAuth2Spec, ResponseSpec};

use crate::ImportError;

/// One overlay file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub curated: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub logo: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub auth: Option<AuthOverlay>,
    #[serde(default)]
    pub response: Option<ResponseSpec>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub include_tags: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub exclude_tags: Vec<String>,
    #[serde(default)]
    pub ignore_params: Vec<String>,
    #[serde(default)]
    pub include_deprecated: bool,
    #[serde(default)]
    pub max_tools: Option<usize>,
    /// Per operation, by the description's operation id.
    #[serde(default)]
    pub operations: BTreeMap<String, OperationOverlay>,
}

/// Replacements for the generated `auth` block; each field given replaces the generated one.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthOverlay {
    #[serde(default)]
    pub schemes: Option<Vec<AuthScheme>>,
    #[serde(default)]
    pub placement: Option<CredentialPlacement>,
    #[serde(default)]
    pub oauth2: Option<OAuth2Spec>,
}

/// What to change about one operation.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OperationOverlay {
    #[serde(default)]
    pub rename: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub drop: bool,
}

impl Overlay {
    /// Reads an overlay file's text.
    pub fn from_yaml(text: &str) -> Result<Overlay, ImportError> {
        serde_yaml_ng::from_str(text).map_err(|e| ImportError::Overlay {
            location: e
                .location()
                .map(|l| format!("line {} column {}", l.line(), l.column()))
                .unwrap_or_else(|| "file".into()),
            message: e.to_string(),
        })
    }
}

/// Whether `text` matches `pattern`, where `*` is any run of characters and `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn globs_match_stars_and_question_marks() {
        assert!(glob_match("issues/*", "issues/create"));
        assert!(glob_match("*", ""));
        assert!(glob_match("chat.post?essage", "chat.postMessage"));
        assert!(glob_match("*comment*", "issues/create-comment"));
        assert!(!glob_match("issues/*", "pulls/create"));
        assert!(!glob_match("issues/get", "issues/get-comment"));
    }

    #[test]
    fn unknown_overlay_fields_are_refused() {
        let err = Overlay::from_yaml("slug: x\nbase: y\n").unwrap_err();
        assert!(matches!(err, ImportError::Overlay { .. }), "{err}");
    }
}
