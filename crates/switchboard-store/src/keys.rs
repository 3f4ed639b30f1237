//! Key layout. Everything of a project lives under `<prefix>:{<project id>}:` so one hash slot
//! holds it; only the project registry is global.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The global registry of project ids (a lexicographic sorted set).
    pub(crate) fn projects(&self) -> String {
        format!("{}:projects", self.prefix)
    }

    pub(crate) fn project(&self, project: &str) -> String {
        format!("{}:{{{project}}}:project", self.prefix)
    }

    /// Hash: custom toolkit slug → its stored record (the project's own toolkits).
    pub(crate) fn custom_toolkits(&self, project: &str) -> String {
        format!("{}:{{{project}}}:ctk", self.prefix)
    }

    /// Counter: bumped on every change of the project's custom toolkits.
    pub(crate) fn custom_toolkits_version(&self, project: &str) -> String {
        format!("{}:{{{project}}}:ctkv", self.prefix)
    }

    /// Hash: key id → encoded `ApiKey`.
    pub(crate) fn api_keys(&self, project: &str) -> String {
        format!("{}:{{{project}}}:apikeys", self.prefix)
    }

    /// Hash: SHA-256 of a live secret → key id. Revoking removes the entry.
    pub(crate) fn api_key_hashes(&self, project: &str) -> String {
        format!("{}:{{{project}}}:apikeyhash", self.prefix)
    }

    /// Hash with fields `v` (config version) and `d` (encoded `Session`).
    pub(crate) fn session(&self, project: &str, session: &str) -> String {
        format!("{}:{{{project}}}:ses:{session}", self.prefix)
    }

    /// Sorted set of the project's session ids.
    pub(crate) fn sessions(&self, project: &str) -> String {
        format!("{}:{{{project}}}:sessions", self.prefix)
    }

    /// Sorted set of one user's session ids. The user id is base64url-encoded so any string
    /// is a safe key part.
    pub(crate) fn user_sessions(&self, project: &str, user_id: &str) -> String {
        format!(
            "{}:{{{project}}}:u:{}:sessions",
            self.prefix,
            URL_SAFE_NO_PAD.encode(user_id)
        )
    }

    /// An auth config (encoded `AuthConfig`).
    pub(crate) fn auth_config(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:ac:{id}", self.prefix)
    }

    /// Sorted set of the project's auth config ids.
    pub(crate) fn auth_configs(&self, project: &str) -> String {
        format!("{}:{{{project}}}:acs", self.prefix)
    }

    /// Set of the account ids that use an auth config.
    pub(crate) fn auth_config_accounts(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:ac:{id}:cas", self.prefix)
    }

    /// Hash with fields `d` (encoded `ConnectedAccount`) and `c` (sealed credential).
    pub(crate) fn account(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:ca:{id}", self.prefix)
    }

    /// Sorted set of the project's account ids.
    pub(crate) fn accounts(&self, project: &str) -> String {
        format!("{}:{{{project}}}:cas", self.prefix)
    }

    /// A user id as it appears in key names (base64url), stored as a session's `u`.
    pub(crate) fn user_part(user_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(user_id)
    }

    /// What every key of one user starts with: append [`Keys::user_part`] and a suffix
    /// (`:cas`). Same hash tag as every other key of the project.
    pub(crate) fn user_prefix(&self, project: &str) -> String {
        format!("{}:{{{project}}}:u:", self.prefix)
    }

    /// Sorted set of one user's account ids.
    pub(crate) fn user_accounts(&self, project: &str, user_id: &str) -> String {
        format!(
            "{}:{{{project}}}:u:{}:cas",
            self.prefix,
            URL_SAFE_NO_PAD.encode(user_id)
        )
    }

    /// Hash `<toolkit>/<alias>` → account id, for one user: aliases are unique per toolkit.
    pub(crate) fn user_aliases(&self, project: &str, user_id: &str) -> String {
        format!(
            "{}:{{{project}}}:u:{}:aliases",
            self.prefix,
            URL_SAFE_NO_PAD.encode(user_id)
        )
    }

    /// Hash of one execution: `d` (encoded `Execution`), `st` (status), `args` (JSON),
    /// `reply` (reply subject), `deadline` (unix ms).
    pub(crate) fn execution(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:ex:{id}", self.prefix)
    }

    /// Sorted set of one session's execution ids.
    pub(crate) fn session_executions(&self, project: &str, session: &str) -> String {
        format!("{}:{{{project}}}:ses:{session}:exs", self.prefix)
    }

    /// An idempotency key of a session → `<execution id> <arguments digest>`, kept 24 hours.
    pub(crate) fn idempotency(&self, project: &str, session: &str, key_digest: &str) -> String {
        format!("{}:{{{project}}}:idem:{session}:{key_digest}", self.prefix)
    }

    /// A custom OAuth app's sealed client secret.
    pub(crate) fn auth_config_secret(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:ac:{id}:secret", self.prefix)
    }

    /// A connection request (JSON `LinkRecord`).
    pub(crate) fn connection_request(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:cr:{id}", self.prefix)
    }

    /// A live Connect Link: SHA-256 of its token → request id.
    pub(crate) fn link(&self, project: &str, hash: &str) -> String {
        format!("{}:{{{project}}}:link:{hash}", self.prefix)
    }

    /// A live OAuth `state` or form CSRF token: its SHA-256 → request id.
    pub(crate) fn link_state(&self, project: &str, hash: &str) -> String {
        format!("{}:{{{project}}}:state:{hash}", self.prefix)
    }

    /// The lock one token refresh of an account holds.
    pub(crate) fn refresh_lock(&self, project: &str, account_id: &str) -> String {
        format!("{}:{{{project}}}:ca:{account_id}:refresh", self.prefix)
    }

    /// A meta-tool workflow's memory (JSON).
    pub(crate) fn workflow(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:wf:{id}", self.prefix)
    }

    /// Hash of a trigger: `d` (encoded `Trigger`), `k` (upsert digest), `r` (route id).
    pub(crate) fn trigger(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:ti:{id}", self.prefix)
    }

    /// Upsert key of a trigger (account, type, config) → trigger id.
    pub(crate) fn trigger_key(&self, project: &str, digest: &str) -> String {
        format!("{}:{{{project}}}:tikey:{digest}", self.prefix)
    }

    /// Sorted set of the project's trigger ids.
    pub(crate) fn triggers(&self, project: &str) -> String {
        format!("{}:{{{project}}}:tis", self.prefix)
    }

    /// Sorted set of one user's trigger ids.
    pub(crate) fn user_triggers(&self, project: &str, user_id: &str) -> String {
        format!(
            "{}:{{{project}}}:u:{}:tis",
            self.prefix,
            URL_SAFE_NO_PAD.encode(user_id)
        )
    }

    /// Set of one account's trigger ids.
    pub(crate) fn account_triggers(&self, project: &str, account_id: &str) -> String {
        format!("{}:{{{project}}}:ca:{account_id}:tis", self.prefix)
    }

    /// Hash of a provider webhook route: `d` (JSON `Route`), `s` (sealed secret).
    pub(crate) fn route(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:rt:{id}", self.prefix)
    }

    /// A route's identity (account + target) → route id.
    pub(crate) fn route_key(&self, project: &str, digest: &str) -> String {
        format!("{}:{{{project}}}:rtkey:{digest}", self.prefix)
    }

    /// Set of the trigger ids a route feeds.
    pub(crate) fn route_triggers(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:rt:{id}:tis", self.prefix)
    }

    /// The global polling schedule (members `<project>/<trigger id>`, score: due unix ms).
    pub(crate) fn polls(&self) -> String {
        format!("{}:polls", self.prefix)
    }

    /// The lease of the listener polling a trigger.
    pub(crate) fn poll_lease(&self, project: &str, trigger_id: &str) -> String {
        format!("{}:{{{project}}}:ti:{trigger_id}:lease", self.prefix)
    }

    /// A polling trigger's cursor.
    pub(crate) fn poll_cursor(&self, project: &str, trigger_id: &str) -> String {
        format!("{}:{{{project}}}:ti:{trigger_id}:cursor", self.prefix)
    }

    /// A delivery seen (de-duplication), e.g. `github:<delivery id>`.
    pub(crate) fn seen(&self, project: &str, key: &str) -> String {
        format!("{}:{{{project}}}:seen:{key}", self.prefix)
    }

    /// Hash of a webhook subscription: `d` (encoded), `s` (sealed secret).
    pub(crate) fn webhook_subscription(&self, project: &str, id: &str) -> String {
        format!("{}:{{{project}}}:whs:{id}", self.prefix)
    }

    /// Sorted set of the project's webhook subscription ids.
    pub(crate) fn webhook_subscriptions(&self, project: &str) -> String {
        format!("{}:{{{project}}}:whss", self.prefix)
    }
}
