//! Which connected account a tool runs with. The rules of DESIGN.md: an account of the
//! session's own user, of the tool's toolkit, ACTIVE, inside the session's pinned accounts if it
//! pins any; chosen by id or alias, else the default one; with several candidates and
//! `require_explicit_selection`, an error listing the choices. The model never picks the user.

use switchboard_proto::v1::{ConnectedAccount, SessionConfig};

use crate::error::{Error, Result};

/// A connected account's status (the `status` string of `ConnectedAccount`), and of a
/// connection request. The one list of them: every crate uses these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    /// A connection request is under way; the account is not usable yet.
    Initiated,
    /// Usable.
    Active,
    /// Turned off through the API; usable again once enabled.
    Disabled,
    /// The provider refused its refresh token, or its Connect Link ran out.
    Expired,
    /// The connection failed (refused consent, a provider error).
    Failed,
    /// Its tokens were revoked.
    Revoked,
}

impl AccountStatus {
    /// Every status, in the order of the account's life.
    pub const ALL: [AccountStatus; 6] = [
        AccountStatus::Initiated,
        AccountStatus::Active,
        AccountStatus::Disabled,
        AccountStatus::Expired,
        AccountStatus::Failed,
        AccountStatus::Revoked,
    ];

    /// Its name on the wire and in the store.
    pub const fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Initiated => "INITIATED",
            AccountStatus::Active => "ACTIVE",
            AccountStatus::Disabled => "DISABLED",
            AccountStatus::Expired => "EXPIRED",
            AccountStatus::Failed => "FAILED",
            AccountStatus::Revoked => "REVOKED",
        }
    }

    /// The status a wire or stored name stands for.
    pub fn parse(name: &str) -> Option<AccountStatus> {
        AccountStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The statuses' names, for the string fields that carry them.
pub const INITIATED: &str = AccountStatus::Initiated.as_str();
pub const ACTIVE: &str = AccountStatus::Active.as_str();
pub const DISABLED: &str = AccountStatus::Disabled.as_str();
pub const EXPIRED: &str = AccountStatus::Expired.as_str();
pub const FAILED: &str = AccountStatus::Failed.as_str();
pub const REVOKED: &str = AccountStatus::Revoked.as_str();

/// The accounts of `toolkit` a session may use, oldest first: the user's accounts of that
/// toolkit, narrowed to the session's pins and auth config when it sets them. Any status.
pub fn candidates<'a>(
    config: &SessionConfig,
    user_accounts: &'a [ConnectedAccount],
    toolkit: &str,
) -> Vec<&'a ConnectedAccount> {
    let pins = config.connected_accounts.get(toolkit);
    let auth_config = config.auth_configs.get(toolkit);
    user_accounts
        .iter()
        .filter(|a| a.toolkit == toolkit)
        .filter(|a| pins.is_none_or(|p| p.ids.contains(&a.id)))
        .filter(|a| auth_config.is_none_or(|ac| &a.auth_config_id == ac))
        .collect()
}

/// The default account of a toolkit for a session: the first pinned one that is ACTIVE, else
/// the oldest ACTIVE one.
pub fn default_account<'a>(
    config: &SessionConfig,
    user_accounts: &'a [ConnectedAccount],
    toolkit: &str,
) -> Option<&'a ConnectedAccount> {
    let active: Vec<&ConnectedAccount> = candidates(config, user_accounts, toolkit)
        .into_iter()
        .filter(|a| a.status == ACTIVE)
        .collect();
    if let Some(pins) = config.connected_accounts.get(toolkit) {
        return pins
            .ids
            .iter()
            .find_map(|id| active.iter().copied().find(|a| &a.id == id));
    }
    active.first().copied()
}

fn describe(a: &ConnectedAccount) -> String {
    if a.alias.is_empty() {
        a.id.clone()
    } else {
        format!("{} ({})", a.id, a.alias)
    }
}

/// Chooses the account for a call of a `toolkit` tool; `requested` is an id or alias, or empty.
pub fn select<'a>(
    config: &SessionConfig,
    user_accounts: &'a [ConnectedAccount],
    toolkit: &str,
    requested: &str,
) -> Result<&'a ConnectedAccount> {
    let candidates = candidates(config, user_accounts, toolkit);
    if !requested.is_empty() {
        let found = candidates
            .iter()
            .copied()
            .find(|a| a.id == requested || (!a.alias.is_empty() && a.alias == requested));
        let Some(account) = found else {
            // Another user's account, another project's, another toolkit's, or outside the
            // session's pins: for this call it does not exist.
            return Err(Error::not_found(
                crate::reason::ACCOUNT_NOT_FOUND,
                format!("no {toolkit} account {requested:?} is available in this session"),
            ));
        };
        if account.status != ACTIVE {
            return Err(Error::FailedPrecondition {
                reason: crate::reason::ACCOUNT_NOT_ACTIVE,
                message: format!(
                    "{toolkit} account {} is {}",
                    describe(account),
                    account.status
                ),
            });
        }
        return Ok(account);
    }
    let active: Vec<&ConnectedAccount> = candidates
        .iter()
        .copied()
        .filter(|a| a.status == ACTIVE)
        .collect();
    let explicit = config
        .multi_account
        .as_ref()
        .is_some_and(|m| m.enable && m.require_explicit_selection);
    if explicit && active.len() > 1 {
        let choices: Vec<String> = active.iter().map(|a| describe(a)).collect();
        return Err(Error::FailedPrecondition {
            reason: crate::reason::ACCOUNT_SELECTION_REQUIRED,
            message: format!(
                "this session requires choosing a {toolkit} account: one of {}",
                choices.join(", ")
            ),
        });
    }
    if let Some(account) = default_account(config, user_accounts, toolkit) {
        return Ok(account);
    }
    match candidates.first() {
        Some(inactive) => Err(Error::FailedPrecondition {
            reason: crate::reason::ACCOUNT_NOT_ACTIVE,
            message: format!("the {toolkit} account {} is {}; enable or reconnect it", describe(inactive), inactive.status),
        }),
        None => Err(Error::FailedPrecondition {
            reason: crate::reason::NO_CONNECTED_ACCOUNT,
            message: format!("the user has no connected {toolkit} account in this session; connect {toolkit} first"),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use switchboard_proto::v1::{AccountList, MultiAccount};

    #[test]
    fn every_status_has_one_name_that_parses_back() {
        let names: Vec<&str> = AccountStatus::ALL.map(AccountStatus::as_str).to_vec();
        assert_eq!(
            names,
            [
                "INITIATED",
                "ACTIVE",
                "DISABLED",
                "EXPIRED",
                "FAILED",
                "REVOKED"
            ]
        );
        for status in AccountStatus::ALL {
            assert_eq!(AccountStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        assert_eq!(AccountStatus::parse("active"), None);
        assert_eq!(AccountStatus::parse(""), None);
    }

    fn account(id: &str, alias: &str, status: &str) -> ConnectedAccount {
        ConnectedAccount {
            id: id.into(),
            alias: alias.into(),
            toolkit: "github".into(),
            status: status.into(),
            auth_config_id: "ac_1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn selection_by_id_alias_default_and_pins() {
        let accounts = vec![
            account("ca_1", "work", ACTIVE),
            account("ca_2", "personal", ACTIVE),
            account("ca_3", "old", DISABLED),
        ];
        let config = SessionConfig::default();
        assert_eq!(select(&config, &accounts, "github", "").unwrap().id, "ca_1");
        assert_eq!(
            select(&config, &accounts, "github", "personal").unwrap().id,
            "ca_2"
        );
        assert_eq!(
            select(&config, &accounts, "github", "ca_2").unwrap().id,
            "ca_2"
        );
        assert_eq!(
            select(&config, &accounts, "github", "old")
                .unwrap_err()
                .reason(),
            "ACCOUNT_NOT_ACTIVE"
        );
        assert_eq!(
            select(&config, &accounts, "github", "ca_9")
                .unwrap_err()
                .reason(),
            "ACCOUNT_NOT_FOUND"
        );
        assert_eq!(
            select(&config, &accounts, "slack", "")
                .unwrap_err()
                .reason(),
            "NO_CONNECTED_ACCOUNT"
        );

        let pinned = SessionConfig {
            connected_accounts: [(
                "github".to_string(),
                AccountList {
                    ids: vec!["ca_2".into()],
                },
            )]
            .into(),
            ..Default::default()
        };
        assert_eq!(select(&pinned, &accounts, "github", "").unwrap().id, "ca_2");
        assert_eq!(
            select(&pinned, &accounts, "github", "work")
                .unwrap_err()
                .reason(),
            "ACCOUNT_NOT_FOUND"
        );
    }

    #[test]
    fn explicit_selection_lists_the_choices() {
        let accounts = vec![
            account("ca_1", "work", ACTIVE),
            account("ca_2", "personal", ACTIVE),
        ];
        let config = SessionConfig {
            multi_account: Some(MultiAccount {
                enable: true,
                max_accounts_per_toolkit: Some(5),
                require_explicit_selection: true,
            }),
            ..Default::default()
        };
        let err = select(&config, &accounts, "github", "").unwrap_err();
        assert_eq!(err.reason(), "ACCOUNT_SELECTION_REQUIRED");
        assert!(
            err.to_string().contains("ca_1 (work)") && err.to_string().contains("ca_2 (personal)")
        );
        assert_eq!(
            select(&config, &accounts, "github", "work").unwrap().id,
            "ca_1"
        );
    }
}
