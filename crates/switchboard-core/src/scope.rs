//! A session's scope: which toolkits and tools it may use after its toolkit, tool and tag
//! filters, and which tools the agent sees (meta tools, or the direct-tools preset).

use std::sync::Arc;

use switchboard_catalog::meta::{MetaOptions, MetaTools};
use switchboard_catalog::{Catalog, Tool, Toolkit};
use switchboard_proto::v1::{self, SessionConfig};

/// Most tools `preload.all` lists.
pub const PRELOAD_ALL_CAP: usize = 1000;

/// A session config read against the catalog.
pub struct Scope<'a> {
    config: &'a SessionConfig,
    catalog: &'a Catalog,
}

impl<'a> Scope<'a> {
    pub fn new(config: &'a SessionConfig, catalog: &'a Catalog) -> Scope<'a> {
        Scope { config, catalog }
    }

    /// Whether the session's toolkit filter lets `slug` in.
    pub fn toolkit_enabled(&self, slug: &str) -> bool {
        match &self.config.toolkits {
            None => true,
            Some(filter) => match (&filter.enable, &filter.disable) {
                (Some(enable), _) => enable.slugs.iter().any(|s| s == slug),
                (None, Some(disable)) => !disable.slugs.iter().any(|s| s == slug),
                (None, None) => true,
            },
        }
    }

    /// Whether the session may use `tool`.
    pub fn tool_allowed(&self, tool: &Tool) -> bool {
        if !self.toolkit_enabled(&tool.toolkit) {
            return false;
        }
        if let Some(filter) = self.config.tools.get(&tool.toolkit) {
            let contains = |list: &Option<v1::SlugList>| {
                list.as_ref()
                    .is_some_and(|l| l.slugs.iter().any(|s| s == &tool.slug))
            };
            if filter.enable.is_some() && !contains(&filter.enable) {
                return false;
            }
            if contains(&filter.disable) {
                return false;
            }
            if let Some(tags) = &filter.tags {
                if !tags.slugs.iter().any(|t| tool.has_tag(t)) {
                    return false;
                }
            }
        }
        if let Some(tags) = &self.config.tags {
            if !tags.enable.is_empty() && !tags.enable.iter().any(|t| tool.has_tag(t)) {
                return false;
            }
            if tags.disable.iter().any(|t| tool.has_tag(t)) {
                return false;
            }
        }
        true
    }

    /// The toolkits the session may use, by slug.
    pub fn toolkits(&self) -> impl Iterator<Item = &'a Arc<Toolkit>> + '_ {
        self.catalog
            .toolkits()
            .filter(move |t| self.toolkit_enabled(&t.slug))
    }

    /// The tools of `toolkit` the session may use.
    pub fn toolkit_tools(&self, toolkit: &'a Toolkit) -> impl Iterator<Item = &'a Arc<Tool>> + '_ {
        toolkit.tools.iter().filter(move |t| self.tool_allowed(t))
    }

    /// Every tool the session may use, ordered by toolkit then slug.
    pub fn tools(&self) -> impl Iterator<Item = &'a Arc<Tool>> + '_ {
        self.toolkits()
            .flat_map(move |tk| tk.tools.iter())
            .filter(move |t| self.tool_allowed(t))
    }

    /// Whether the session uses the direct-tools preset.
    pub fn is_direct(&self) -> bool {
        self.config
            .preload
            .as_ref()
            .is_some_and(|p| p.all || !p.tools.is_empty())
    }

    /// The preloaded tools of the direct-tools preset, in the order given (`all`: every tool
    /// the session may use, capped at [`PRELOAD_ALL_CAP`]).
    pub fn preloaded(&self) -> Vec<&'a Arc<Tool>> {
        match &self.config.preload {
            Some(p) if p.all => self.tools().take(PRELOAD_ALL_CAP).collect(),
            Some(p) => p
                .tools
                .iter()
                .filter_map(|slug| self.catalog.tool(slug))
                .filter(|t| self.tool_allowed(t))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Which optional meta tools the session exposes.
    pub fn meta_options(&self) -> MetaOptions {
        let mc = self.config.manage_connections.as_ref();
        let manage = mc.and_then(|m| m.enable).unwrap_or(true);
        MetaOptions {
            manage_connections: manage,
            wait_for_connections: manage
                && mc
                    .and_then(|m| m.enable_wait_for_connections)
                    .unwrap_or(false),
        }
    }

    /// The meta tools of this session.
    pub fn meta_tools<'m>(&self, meta: &'m MetaTools) -> impl Iterator<Item = &'m v1::Tool> + 'm {
        meta.for_options(self.meta_options())
    }

    /// Names of the tools the agent sees: the preloaded tools, or the meta tools.
    pub fn agent_tool_names(&self, meta: &MetaTools) -> Vec<String> {
        if self.is_direct() {
            self.preloaded().iter().map(|t| t.slug.clone()).collect()
        } else {
            self.meta_tools(meta).map(|t| t.slug.clone()).collect()
        }
    }
}
