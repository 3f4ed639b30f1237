//! Partial session updates: the fields named by the update mask (or, without a mask, the fields
//! set in the patch) replace the stored ones whole; a named field absent from the patch is
//! removed (back to its default).

use switchboard_proto::v1::SessionConfig;

use crate::error::{Error, Result};

/// The top-level config fields an update can name.
pub const FIELDS: [&str; 9] = [
    "toolkits",
    "tools",
    "tags",
    "auth_configs",
    "connected_accounts",
    "manage_connections",
    "multi_account",
    "workbench",
    "preload",
];

/// The fields an update changes: the mask's paths (checked), or the fields set in `patch`.
pub fn changed_fields(
    patch: &SessionConfig,
    mask: Option<&prost_types::FieldMask>,
) -> Result<Vec<&'static str>> {
    match mask {
        Some(mask) if !mask.paths.is_empty() => {
            let mut out = Vec::with_capacity(mask.paths.len());
            for (i, path) in mask.paths.iter().enumerate() {
                let path = path.strip_prefix("config.").unwrap_or(path);
                let field = FIELDS.iter().find(|f| **f == path).ok_or_else(|| {
                    Error::invalid(
                        crate::reason::UNKNOWN_FIELD,
                        format!("update_mask.paths[{i}]"),
                        format!(
                            "{path:?} is not a session config field (one of: {})",
                            FIELDS.join(", ")
                        ),
                    )
                })?;
                if !out.contains(field) {
                    out.push(*field);
                }
            }
            Ok(out)
        }
        _ => Ok(FIELDS
            .iter()
            .copied()
            .filter(|f| is_set(patch, f))
            .collect()),
    }
}

fn is_set(c: &SessionConfig, field: &str) -> bool {
    match field {
        "toolkits" => c.toolkits.is_some(),
        "tools" => !c.tools.is_empty(),
        "tags" => c.tags.is_some(),
        "auth_configs" => !c.auth_configs.is_empty(),
        "connected_accounts" => !c.connected_accounts.is_empty(),
        "manage_connections" => c.manage_connections.is_some(),
        "multi_account" => c.multi_account.is_some(),
        "workbench" => c.workbench.is_some(),
        "preload" => c.preload.is_some(),
        _ => false,
    }
}

/// Applies `patch` to `stored` for `fields`, returning the new config.
pub fn apply(stored: &SessionConfig, patch: &SessionConfig, fields: &[&str]) -> SessionConfig {
    let mut next = stored.clone();
    for field in fields {
        match *field {
            "toolkits" => next.toolkits = patch.toolkits.clone(),
            "tools" => next.tools = patch.tools.clone(),
            "tags" => next.tags = patch.tags.clone(),
            "auth_configs" => next.auth_configs = patch.auth_configs.clone(),
            "connected_accounts" => next.connected_accounts = patch.connected_accounts.clone(),
            "manage_connections" => next.manage_connections = patch.manage_connections.clone(),
            "multi_account" => next.multi_account = patch.multi_account,
            "workbench" => next.workbench = patch.workbench,
            "preload" => next.preload = patch.preload.clone(),
            _ => {}
        }
    }
    next
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use switchboard_proto::v1::{SlugList, ToolkitFilter, Workbench};

    fn enable(slugs: &[&str]) -> Option<ToolkitFilter> {
        Some(ToolkitFilter {
            enable: Some(SlugList {
                slugs: slugs.iter().map(|s| s.to_string()).collect(),
            }),
            disable: None,
        })
    }

    #[test]
    fn absent_fields_are_kept_and_given_ones_replaced() {
        let stored = SessionConfig {
            toolkits: enable(&["github"]),
            auth_configs: [("github".to_string(), "ac_1".to_string())].into(),
            ..Default::default()
        };
        let patch = SessionConfig {
            auth_configs: [("slack".to_string(), "ac_2".to_string())].into(),
            ..Default::default()
        };
        let fields = changed_fields(&patch, None).unwrap();
        assert_eq!(fields, ["auth_configs"]);
        let next = apply(&stored, &patch, &fields);
        assert_eq!(next.toolkits, stored.toolkits);
        // Maps are replaced whole, not merged.
        assert_eq!(next.auth_configs, patch.auth_configs);
    }

    #[test]
    fn a_masked_absent_field_is_removed() {
        let stored = SessionConfig {
            toolkits: enable(&["github"]),
            workbench: Some(Workbench {
                enable: true,
                auto_offload_threshold: Some(20_000),
            }),
            ..Default::default()
        };
        let mask = prost_types::FieldMask {
            paths: vec!["toolkits".into()],
        };
        let fields = changed_fields(&SessionConfig::default(), Some(&mask)).unwrap();
        let next = apply(&stored, &SessionConfig::default(), &fields);
        assert_eq!(next.toolkits, None);
        assert_eq!(next.workbench, stored.workbench);
    }

    #[test]
    fn unknown_mask_paths_name_the_path() {
        let mask = prost_types::FieldMask {
            paths: vec!["tools".into(), "user_id".into()],
        };
        let err = changed_fields(&SessionConfig::default(), Some(&mask)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { ref field, .. } if field == "update_mask.paths[1]")
        );
    }
}
