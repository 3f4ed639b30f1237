//! Validation and normalisation of a session's user id and config against the catalog. A config
//! that passes is stored as returned here (defaults filled in, duplicates dropped); one that
//! fails names the field and stores nothing.

use std::collections::HashSet;

use switchboard_catalog::{is_hint_tag, Catalog, HINT_TAGS};
use switchboard_proto::v1::{self, SessionConfig};

use crate::error::{Error, Result};
use crate::ids::is_ref_id;
use crate::scope::{Scope, PRELOAD_ALL_CAP};

/// Longest user id, in bytes.
pub const MAX_USER_ID_BYTES: usize = 256;
/// Default and bounds of `multi_account.max_accounts_per_toolkit`.
pub const DEFAULT_MAX_ACCOUNTS: u32 = 5;
pub const MAX_ACCOUNTS_RANGE: std::ops::RangeInclusive<u32> = 2..=10;
/// Default and bounds of `workbench.auto_offload_threshold`.
pub const DEFAULT_OFFLOAD_THRESHOLD: u32 = 20_000;
pub const OFFLOAD_RANGE: std::ops::RangeInclusive<u32> = 1_000..=1_000_000;

/// Checks a user id: 1–256 bytes, no control characters.
pub fn validate_user_id(user_id: &str, field: &str) -> Result<()> {
    if user_id.is_empty() {
        return Err(Error::invalid(
            crate::reason::INVALID_USER_ID,
            field,
            "is required",
        ));
    }
    if user_id.len() > MAX_USER_ID_BYTES {
        return Err(Error::invalid(
            crate::reason::INVALID_USER_ID,
            field,
            format!(
                "is {} bytes; at most {MAX_USER_ID_BYTES} are allowed",
                user_id.len()
            ),
        ));
    }
    if user_id.chars().any(char::is_control) {
        return Err(Error::invalid(
            crate::reason::INVALID_USER_ID,
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Validates `config` against `catalog` and returns it normalised, with warnings.
pub fn normalize(
    config: &SessionConfig,
    catalog: &Catalog,
) -> Result<(SessionConfig, Vec<v1::Warning>)> {
    let mut out = config.clone();
    let mut warnings = Vec::new();
    toolkit_filter(&mut out, catalog)?;
    tool_filters(&mut out, catalog)?;
    tag_filter(&mut out)?;
    auth_configs(&out, catalog)?;
    manage_connections(&mut out)?;
    let max_accounts = multi_account(&mut out)?;
    connected_accounts(&mut out, catalog, max_accounts)?;
    workbench(&mut out, &mut warnings)?;
    preload(&mut out, catalog, &mut warnings)?;
    scope_warnings(&out, catalog, &mut warnings);
    Ok((out, warnings))
}

/// The toolkit filter: enable or disable, with known toolkits.
fn toolkit_filter(out: &mut SessionConfig, catalog: &Catalog) -> Result<()> {
    if let Some(filter) = &mut out.toolkits {
        match (&mut filter.enable, &mut filter.disable) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    crate::reason::CONFLICTING_FILTER,
                    "config.toolkits",
                    "enable and disable cannot be given together",
                ))
            }
            (None, None) => {
                return Err(Error::invalid(
                    crate::reason::MISSING_FILTER,
                    "config.toolkits",
                    "give enable (only these toolkits) or disable (all but these)",
                ))
            }
            (Some(list), None) => {
                check_toolkits(&mut list.slugs, "config.toolkits.enable", catalog)?
            }
            (None, Some(list)) => {
                check_toolkits(&mut list.slugs, "config.toolkits.disable", catalog)?
            }
        }
    }
    Ok(())
}

/// Per-toolkit tool filters: exactly one of enable, disable or tags, each naming what the toolkit has.
fn tool_filters(out: &mut SessionConfig, catalog: &Catalog) -> Result<()> {
    for (toolkit_slug, filter) in out.tools.iter_mut() {
        let field = format!("config.tools.{toolkit_slug}");
        let toolkit = catalog.toolkit(toolkit_slug).ok_or_else(|| {
            Error::invalid(
                crate::reason::UNKNOWN_TOOLKIT,
                &field,
                format!("unknown toolkit {toolkit_slug:?}"),
            )
        })?;
        let given = [
            filter.enable.is_some(),
            filter.disable.is_some(),
            filter.tags.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if given != 1 {
            return Err(Error::invalid(
                crate::reason::CONFLICTING_FILTER,
                &field,
                "give exactly one of enable, disable or tags",
            ));
        }
        for (kind, list) in [
            ("enable", &mut filter.enable),
            ("disable", &mut filter.disable),
        ] {
            if let Some(list) = list {
                dedup(&mut list.slugs);
                for (i, slug) in list.slugs.iter().enumerate() {
                    match catalog.tool(slug) {
                        Some(tool) if tool.toolkit == *toolkit_slug => {}
                        Some(_) => {
                            return Err(Error::invalid(
                                crate::reason::UNKNOWN_TOOL,
                                format!("{field}.{kind}[{i}]"),
                                format!("tool {slug:?} is not a tool of toolkit {toolkit_slug:?}"),
                            ))
                        }
                        None => {
                            return Err(Error::invalid(
                                crate::reason::UNKNOWN_TOOL,
                                format!("{field}.{kind}[{i}]"),
                                format!("unknown tool {slug:?}"),
                            ))
                        }
                    }
                }
            }
        }
        if let Some(tags) = &mut filter.tags {
            dedup(&mut tags.slugs);
            for (i, tag) in tags.slugs.iter().enumerate() {
                if !toolkit.tags.iter().any(|t| t == tag) {
                    return Err(Error::invalid(
                        crate::reason::UNKNOWN_TAG,
                        format!("{field}.tags[{i}]"),
                        format!(
                            "no tool of {toolkit_slug:?} carries tag {tag:?} (its tags: {})",
                            toolkit.tags.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The hint-tag filter: known hint tags, none both enabled and disabled.
fn tag_filter(out: &mut SessionConfig) -> Result<()> {
    if let Some(tags) = &mut out.tags {
        dedup(&mut tags.enable);
        dedup(&mut tags.disable);
        for (kind, list) in [("enable", &tags.enable), ("disable", &tags.disable)] {
            for (i, tag) in list.iter().enumerate() {
                if !is_hint_tag(tag) {
                    return Err(Error::invalid(
                        crate::reason::UNKNOWN_TAG,
                        format!("config.tags.{kind}[{i}]"),
                        format!(
                            "{tag:?} is not a hint tag (one of: {})",
                            HINT_TAGS.join(", ")
                        ),
                    ));
                }
            }
        }
        if let Some(tag) = tags.enable.iter().find(|t| tags.disable.contains(t)) {
            return Err(Error::invalid(
                crate::reason::CONFLICTING_FILTER,
                "config.tags",
                format!("tag {tag:?} is both enabled and disabled"),
            ));
        }
    }
    Ok(())
}

/// Pinned auth configs: a known toolkit and an `ac_…` id each.
fn auth_configs(out: &SessionConfig, catalog: &Catalog) -> Result<()> {
    for (toolkit, ac) in &out.auth_configs {
        let field = format!("config.auth_configs.{toolkit}");
        if catalog.toolkit(toolkit).is_none() {
            return Err(Error::invalid(
                crate::reason::UNKNOWN_TOOLKIT,
                field,
                format!("unknown toolkit {toolkit:?}"),
            ));
        }
        if !is_ref_id("ac", ac) {
            return Err(Error::invalid(
                crate::reason::INVALID_ID,
                field,
                format!("{ac:?} is not an auth config id (ac_…)"),
            ));
        }
    }
    Ok(())
}

/// Connection management: defaults filled in, an http(s) callback URL.
fn manage_connections(out: &mut SessionConfig) -> Result<()> {
    if let Some(mc) = &mut out.manage_connections {
        mc.enable.get_or_insert(true);
        mc.enable_connection_removal.get_or_insert(true);
        mc.enable_wait_for_connections.get_or_insert(false);
        if !mc.callback_url.is_empty() && !is_http_url(&mc.callback_url) {
            return Err(Error::invalid(
                crate::reason::INVALID_URL,
                "config.manage_connections.callback_url",
                "must be an absolute http(s) URL",
            ));
        }
    }
    Ok(())
}

/// Multiple accounts per toolkit: the limit in range; the limit that applies (1 when off).
fn multi_account(out: &mut SessionConfig) -> Result<usize> {
    if let Some(ma) = &mut out.multi_account {
        let max = *ma
            .max_accounts_per_toolkit
            .get_or_insert(DEFAULT_MAX_ACCOUNTS);
        if !MAX_ACCOUNTS_RANGE.contains(&max) {
            return Err(Error::invalid(
                crate::reason::OUT_OF_RANGE,
                "config.multi_account.max_accounts_per_toolkit",
                format!(
                    "{max} is out of range {}–{}",
                    MAX_ACCOUNTS_RANGE.start(),
                    MAX_ACCOUNTS_RANGE.end()
                ),
            ));
        }
    }
    Ok(match &out.multi_account {
        Some(ma) if ma.enable => {
            ma.max_accounts_per_toolkit.unwrap_or(DEFAULT_MAX_ACCOUNTS) as usize
        }
        _ => 1,
    })
}

/// Pinned connected accounts: a known toolkit, 1 to `max_accounts` `ca_…` ids each.
fn connected_accounts(
    out: &mut SessionConfig,
    catalog: &Catalog,
    max_accounts: usize,
) -> Result<()> {
    for (toolkit, accounts) in out.connected_accounts.iter_mut() {
        let field = format!("config.connected_accounts.{toolkit}");
        if catalog.toolkit(toolkit).is_none() {
            return Err(Error::invalid(
                crate::reason::UNKNOWN_TOOLKIT,
                field,
                format!("unknown toolkit {toolkit:?}"),
            ));
        }
        dedup(&mut accounts.ids);
        if accounts.ids.is_empty() {
            return Err(Error::invalid(
                crate::reason::OUT_OF_RANGE,
                field,
                "must name at least one connected account",
            ));
        }
        if accounts.ids.len() > max_accounts {
            let why = if max_accounts == 1 {
                "at most 1 account per toolkit unless multi_account is enabled".to_owned()
            } else {
                format!("at most {max_accounts} accounts per toolkit (multi_account.max_accounts_per_toolkit)")
            };
            return Err(Error::invalid(
                crate::reason::OUT_OF_RANGE,
                field,
                format!("{} accounts given; {why}", accounts.ids.len()),
            ));
        }
        for (i, id) in accounts.ids.iter().enumerate() {
            if !is_ref_id("ca", id) {
                return Err(Error::invalid(
                    crate::reason::INVALID_ID,
                    format!("{field}[{i}]"),
                    format!("{id:?} is not a connected account id (ca_…)"),
                ));
            }
        }
    }
    Ok(())
}

/// The workbench: the offload threshold in range; a warning that it is not offered yet.
fn workbench(out: &mut SessionConfig, warnings: &mut Vec<v1::Warning>) -> Result<()> {
    if let Some(wb) = &mut out.workbench {
        let threshold = *wb
            .auto_offload_threshold
            .get_or_insert(DEFAULT_OFFLOAD_THRESHOLD);
        if !OFFLOAD_RANGE.contains(&threshold) {
            return Err(Error::invalid(
                crate::reason::OUT_OF_RANGE,
                "config.workbench.auto_offload_threshold",
                format!(
                    "{threshold} is out of range {}–{}",
                    OFFLOAD_RANGE.start(),
                    OFFLOAD_RANGE.end()
                ),
            ));
        }
        if wb.enable {
            warnings.push(warning(
                "WORKBENCH_UNAVAILABLE",
                "config.workbench.enable",
                "this platform does not offer the remote workbench yet; results are returned inline",
            ));
        }
    }
    Ok(())
}

/// Preloaded tools: tools or all (with a positive filter, capped), each inside the session's scope.
fn preload(
    out: &mut SessionConfig,
    catalog: &Catalog,
    warnings: &mut Vec<v1::Warning>,
) -> Result<()> {
    if let Some(preload) = &mut out.preload {
        dedup(&mut preload.tools);
    }
    let scope = Scope::new(out, catalog);
    if let Some(preload) = &out.preload {
        if preload.all && !preload.tools.is_empty() {
            return Err(Error::invalid(
                crate::reason::CONFLICTING_FILTER,
                "config.preload",
                "give tools or all, not both",
            ));
        }
        if preload.all {
            let positive = out.toolkits.as_ref().is_some_and(|f| f.enable.is_some())
                || out
                    .tools
                    .values()
                    .any(|f| f.enable.is_some() || f.tags.is_some());
            if !positive {
                return Err(Error::invalid(
                    crate::reason::PRELOAD_NEEDS_FILTER,
                    "config.preload.all",
                    "preloading all tools needs a positive filter (toolkits.enable, or tools.<toolkit>.enable or .tags)",
                ));
            }
            let count = scope.tools().count();
            if count > PRELOAD_ALL_CAP {
                warnings.push(warning(
                    "PRELOAD_CAPPED",
                    "config.preload.all",
                    &format!("{count} tools match; only the first {PRELOAD_ALL_CAP} are preloaded"),
                ));
            }
        }
        for (i, slug) in preload.tools.iter().enumerate() {
            let field = format!("config.preload.tools[{i}]");
            let tool = catalog.tool(slug).ok_or_else(|| {
                Error::invalid(
                    crate::reason::UNKNOWN_TOOL,
                    &field,
                    format!("unknown tool {slug:?}"),
                )
            })?;
            if !scope.tool_allowed(tool) {
                return Err(Error::invalid(
                    crate::reason::TOOL_OUT_OF_SCOPE,
                    field,
                    format!("tool {slug:?} is outside the session's toolkit, tool and tag filters"),
                ));
            }
        }
    }
    Ok(())
}

/// Warnings about filters with no effect and a session that leaves no tool.
fn scope_warnings(out: &SessionConfig, catalog: &Catalog, warnings: &mut Vec<v1::Warning>) {
    let scope = Scope::new(out, catalog);
    for slug in out.tools.keys() {
        if !scope.toolkit_enabled(slug) {
            warnings.push(warning(
                "FILTER_FOR_DISABLED_TOOLKIT",
                &format!("config.tools.{slug}"),
                &format!(
                    "toolkit {slug:?} is not enabled in this session, so this filter has no effect"
                ),
            ));
        }
    }
    let mut any_tool = false;
    for toolkit in scope.toolkits() {
        if scope.toolkit_tools(toolkit).next().is_some() {
            any_tool = true;
        } else if out.toolkits.as_ref().is_some_and(|f| f.enable.is_some())
            || out.tools.contains_key(&toolkit.slug)
        {
            warnings.push(warning(
                "TOOLKIT_HAS_NO_TOOLS",
                &format!("config.tools.{}", toolkit.slug),
                &format!(
                    "no tool of toolkit {:?} passes the session's filters",
                    toolkit.slug
                ),
            ));
        }
    }
    if !any_tool {
        warnings.push(warning(
            "NO_TOOLS",
            "config",
            "the session's filters leave no tool the agent can use",
        ));
    }
}

fn check_toolkits(slugs: &mut Vec<String>, field: &str, catalog: &Catalog) -> Result<()> {
    dedup(slugs);
    for (i, slug) in slugs.iter().enumerate() {
        if catalog.toolkit(slug).is_none() {
            return Err(Error::invalid(
                crate::reason::UNKNOWN_TOOLKIT,
                format!("{field}[{i}]"),
                format!("unknown toolkit {slug:?}"),
            ));
        }
    }
    Ok(())
}

/// Drops repeated entries, keeping the first occurrence's order.
fn dedup(list: &mut Vec<String>) {
    let mut seen = HashSet::with_capacity(list.len());
    list.retain(|s| seen.insert(s.clone()));
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && !r.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

fn warning(code: &str, field: &str, message: &str) -> v1::Warning {
    v1::Warning {
        code: code.to_owned(),
        message: message.to_owned(),
        field: field.to_owned(),
    }
}
