//! Builders for session configs and requests, so tests say what they configure in one line.

use std::collections::HashMap;

use switchboard_proto::v1::{
    AccountList, CreateSessionRequest, Preload, SessionConfig, SlugList, TagFilter, ToolFilter,
    ToolkitFilter,
};

/// Owned copies of `list`.
pub fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub fn slugs(list: &[&str]) -> Option<SlugList> {
    Some(SlugList {
        slugs: strings(list),
    })
}

/// A toolkit filter enabling just `list` (empty: no toolkit at all).
pub fn enable_toolkits(list: &[&str]) -> Option<ToolkitFilter> {
    Some(ToolkitFilter {
        enable: slugs(list),
        disable: None,
    })
}

/// A config that only enables the toolkits of `list`.
pub fn toolkits_config(list: &[&str]) -> SessionConfig {
    SessionConfig {
        toolkits: enable_toolkits(list),
        ..Default::default()
    }
}

/// A tool filter of one kind: `"enable"`, `"disable"` or `"tags"`.
pub fn tool_filter(kind: &str, list: &[&str]) -> ToolFilter {
    let mut f = ToolFilter::default();
    match kind {
        "enable" => f.enable = slugs(list),
        "disable" => f.disable = slugs(list),
        "tags" => f.tags = slugs(list),
        other => panic!("no tool filter kind {other}"),
    }
    f
}

/// The `tools` map of a config with one toolkit's filter.
pub fn tools_map(toolkit: &str, filter: ToolFilter) -> HashMap<String, ToolFilter> {
    [(toolkit.to_owned(), filter)].into()
}

pub fn tag_filter(enable: &[&str], disable: &[&str]) -> Option<TagFilter> {
    Some(TagFilter {
        enable: strings(enable),
        disable: strings(disable),
    })
}

/// The `connected_accounts` map of a config with one toolkit's accounts.
pub fn accounts(toolkit: &str, ids: &[&str]) -> HashMap<String, AccountList> {
    [(toolkit.to_owned(), AccountList { ids: strings(ids) })].into()
}

/// The `auth_configs` map of a config: toolkit to auth config id.
pub fn auth_configs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Preloads exactly the tools of `tools`.
pub fn preload(tools: &[&str]) -> Option<Preload> {
    Some(Preload {
        tools: strings(tools),
        all: false,
    })
}

/// Preloads every tool of the positive filter.
pub fn preload_all() -> Option<Preload> {
    Some(Preload {
        tools: vec![],
        all: true,
    })
}

pub fn create_req(user: &str, config: SessionConfig) -> CreateSessionRequest {
    CreateSessionRequest {
        user_id: user.to_owned(),
        config: Some(config),
    }
}

/// `message` with the API key in the `x-api-key` header instead of a bearer token.
pub fn with_x_api_key<T>(message: T, api_key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-api-key", api_key.parse().expect("ascii key"));
    request
}

/// A fresh, well-formed id with `prefix` (`prj`, `ses`, …) that nothing was created with.
pub fn random_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}
