//! The loaded catalog and its lookups. Everything a request needs is computed once at load,
//! including the protobuf form of each tool, so listing tools copies and never converts.
//! Trigger types live in [`crate::TriggerType`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use switchboard_proto::v1;

use crate::search::{Hit, SearchIndex};
use crate::spec::{AuthScheme, OAuth2Spec, ToolSpec, ToolkitSpec};
use crate::trigger_type::TriggerType;

/// A toolkit of the catalog.
#[derive(Debug)]
pub struct Toolkit {
    pub slug: String,
    pub spec: ToolkitSpec,
    /// Base URL after any configured override.
    pub base_url: String,
    /// Its tools, sorted by slug.
    pub tools: Vec<Arc<Tool>>,
    /// Its trigger types, sorted by slug.
    pub trigger_types: Vec<Arc<TriggerType>>,
    /// Tags used by its tools, sorted.
    pub tags: Vec<String>,
    pub proto: v1::Toolkit,
    search_text: String,
}

impl Toolkit {
    /// True when the toolkit needs no credential.
    pub fn is_no_auth(&self) -> bool {
        self.spec.auth.schemes.first() == Some(&AuthScheme::NoAuth)
    }

    /// The provider's OAuth 2.0 flow; present exactly when the toolkit accepts `OAUTH2`
    /// (checked at load).
    pub fn oauth2(&self) -> Option<&OAuth2Spec> {
        self.spec.auth.oauth2.as_ref()
    }

    /// Case-insensitive match of `needle` (already lowercased) against slug, name, description
    /// and categories.
    pub fn matches(&self, needle_lower: &str) -> bool {
        needle_lower.is_empty() || self.search_text.contains(needle_lower)
    }

    pub(crate) fn new(
        spec: ToolkitSpec,
        base_url: String,
        tools: Vec<Arc<Tool>>,
        trigger_types: Vec<Arc<TriggerType>>,
    ) -> Toolkit {
        let mut tags: Vec<String> = tools.iter().flat_map(|t| t.spec.tags.clone()).collect();
        tags.sort();
        tags.dedup();
        let proto = v1::Toolkit {
            slug: spec.slug.clone(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            logo: spec.logo.clone(),
            categories: spec.categories.clone(),
            auth_schemes: spec
                .auth
                .schemes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            is_no_auth: spec.auth.schemes.first() == Some(&AuthScheme::NoAuth),
            tool_count: u32::try_from(tools.len()).unwrap_or(u32::MAX),
            base_url: base_url.clone(),
            is_custom: false,
        };
        let search_text = format!(
            "{} {} {} {}",
            spec.slug,
            spec.name,
            spec.description,
            spec.categories.join(" ")
        )
        .to_lowercase();
        Toolkit {
            slug: spec.slug.clone(),
            spec,
            base_url,
            tools,
            trigger_types,
            tags,
            proto,
            search_text,
        }
    }
}

/// A tool of the catalog.
#[derive(Debug)]
pub struct Tool {
    pub slug: String,
    pub toolkit: String,
    pub spec: ToolSpec,
    pub proto: v1::Tool,
    /// Compiled validator of the input schema.
    pub input_validator: Arc<jsonschema::Validator>,
    search_text: String,
}

impl Tool {
    pub(crate) fn new(
        toolkit: &str,
        spec: ToolSpec,
        input_validator: jsonschema::Validator,
    ) -> Tool {
        let has = |t: &str| spec.tags.iter().any(|x| x == t);
        let hints = v1::ToolHints {
            read_only: has("readOnlyHint"),
            destructive: has("destructiveHint"),
            idempotent: has("idempotentHint") || has("readOnlyHint"),
            open_world: has("openWorldHint"),
        };
        let proto = v1::Tool {
            slug: spec.slug.clone(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            toolkit: toolkit.to_owned(),
            tags: spec.tags.clone(),
            hints: Some(hints),
            input_schema: Some(switchboard_proto::json_to_struct(&spec.input_schema)),
            output_schema: Some(switchboard_proto::json_to_struct(&spec.output_schema)),
            version: spec.version.clone(),
            is_meta: false,
        };
        let search_text = format!(
            "{} {} {} {}",
            spec.slug,
            spec.name,
            spec.description,
            spec.tags.join(" ")
        )
        .to_lowercase();
        Tool {
            slug: spec.slug.clone(),
            toolkit: toolkit.to_owned(),
            spec,
            proto,
            input_validator: Arc::new(input_validator),
            search_text,
        }
    }

    /// Whether the tool carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.spec.tags.iter().any(|t| t == tag)
    }

    /// Whether repeating the call is safe (read-only or marked idempotent).
    pub fn is_idempotent(&self) -> bool {
        self.proto.hints.as_ref().is_some_and(|h| h.idempotent)
    }

    /// Case-insensitive match of `needle` (already lowercased) against slug, name, description
    /// and tags.
    pub fn matches(&self, needle_lower: &str) -> bool {
        needle_lower.is_empty() || self.search_text.contains(needle_lower)
    }
}

/// The whole catalog: the built-in toolkits, or one project's view of them, which lays the
/// project's own (custom) toolkits over the built-in catalog ([`Catalog::layered`]). Every
/// lookup of a layered catalog looks at the project's toolkits first, then at the base; their
/// slugs never overlap (checked when the layer is built).
#[derive(Debug, Default)]
pub struct Catalog {
    toolkits: BTreeMap<String, Arc<Toolkit>>,
    tools: HashMap<String, Arc<Tool>>,
    trigger_types: BTreeMap<String, Arc<TriggerType>>,
    search: SearchIndex,
    /// The catalog this one is laid over (None: this is the built-in catalog).
    pub(crate) base: Option<Arc<Catalog>>,
}

impl Catalog {
    pub(crate) fn from_toolkits(toolkits: Vec<Toolkit>) -> Catalog {
        let mut catalog = Catalog::default();
        for toolkit in toolkits {
            for tool in &toolkit.tools {
                catalog.tools.insert(tool.slug.clone(), Arc::clone(tool));
            }
            for trigger in &toolkit.trigger_types {
                catalog
                    .trigger_types
                    .insert(trigger.slug.clone(), Arc::clone(trigger));
            }
            catalog
                .toolkits
                .insert(toolkit.slug.clone(), Arc::new(toolkit));
        }
        catalog.search = SearchIndex::build(catalog.toolkits.values().map(|t| t.as_ref()));
        catalog
    }

    /// Toolkits sorted by slug (a project's own with the base's).
    pub fn toolkits(&self) -> impl Iterator<Item = &Arc<Toolkit>> {
        let mut all: Vec<&Arc<Toolkit>> = self.toolkits.values().collect();
        if let Some(base) = &self.base {
            all.extend(base.toolkits());
            all.sort_by(|a, b| a.slug.cmp(&b.slug));
        }
        all.into_iter()
    }

    pub fn toolkit(&self, slug: &str) -> Option<&Arc<Toolkit>> {
        self.toolkits
            .get(slug)
            .or_else(|| self.base.as_ref()?.toolkit(slug))
    }

    pub fn tool(&self, slug: &str) -> Option<&Arc<Tool>> {
        self.tools
            .get(slug)
            .or_else(|| self.base.as_ref()?.tool(slug))
    }

    /// A trigger type by slug, e.g. `GITHUB_ISSUE_OPENED`.
    pub fn trigger_type(&self, slug: &str) -> Option<&Arc<TriggerType>> {
        self.trigger_types
            .get(slug)
            .or_else(|| self.base.as_ref()?.trigger_type(slug))
    }

    /// Every trigger type of the catalog, sorted by slug.
    pub fn trigger_types(&self) -> impl Iterator<Item = &Arc<TriggerType>> {
        let mut all: Vec<&Arc<TriggerType>> = self.trigger_types.values().collect();
        if let Some(base) = &self.base {
            all.extend(base.trigger_types());
            all.sort_by(|a, b| a.slug.cmp(&b.slug));
        }
        all.into_iter()
    }

    /// Number of tools in the whole catalog.
    pub fn tool_count(&self) -> usize {
        self.tools.len() + self.base.as_ref().map_or(0, |b| b.tool_count())
    }

    /// The search index over this layer's tools, built at load (a layered catalog's base has
    /// its own: search both with [`Catalog::search`]).
    pub fn search_index(&self) -> &SearchIndex {
        &self.search
    }

    /// The `limit` best tools for `query` among those `allowed`, over every layer: each
    /// layer's index ranks its own tools, and the hits are merged by score.
    pub fn search(&self, query: &str, allowed: impl Fn(&Tool) -> bool, limit: usize) -> Vec<Hit> {
        self.search_layers(query, &allowed, limit)
    }

    fn search_layers(
        &self,
        query: &str,
        allowed: &dyn Fn(&Tool) -> bool,
        limit: usize,
    ) -> Vec<Hit> {
        let mut hits = self.search.search(query, allowed, limit);
        if let Some(base) = &self.base {
            hits.extend(base.search_layers(query, allowed, limit));
            hits.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then_with(|| a.tool.slug.cmp(&b.tool.slug))
            });
            hits.truncate(limit);
        }
        hits
    }

    /// Whether `slug` is one of this layer's own toolkits (a project's custom toolkit when the
    /// catalog is layered).
    pub fn is_own_toolkit(&self, slug: &str) -> bool {
        self.base.is_some() && self.toolkits.contains_key(slug)
    }

    /// The catalog under this layer, if it is one.
    pub fn base(&self) -> Option<&Arc<Catalog>> {
        self.base.as_ref()
    }
}
