//! Synthetic catalogs for benchmarks: thousands of plausible toolkits and tools, generated
//! deterministically, to measure search latency and quality at scale.

use std::path::PathBuf;

use crate::catalog::Catalog;
use crate::error::CatalogError;
use crate::load::LoadOptions;
use crate::spec::{AuthScheme, AuthSpec, HttpMethod, HttpSpec, ToolSpec, ToolkitSpec};

const SYNTHETIC_BRANDS: [&str; 20] = [
    "acme", "nova", "zen", "blue", "orbit", "pixel", "cloud", "swift", "echo", "atlas", "lumen",
    "vertex", "quill", "harbor", "pulse", "cedar", "summit", "bolt", "ember", "north",
];
const SYNTHETIC_KINDS: [&str; 5] = ["desk", "flow", "hub", "base", "sync"];

/// Categories and the things a toolkit of that category manages.
const SYNTHETIC_DOMAINS: [(&str, [&str; 6]); 12] = [
    (
        "crm",
        ["contact", "lead", "deal", "company", "note", "pipeline"],
    ),
    (
        "support",
        [
            "ticket",
            "customer",
            "agent",
            "macro",
            "conversation",
            "rating",
        ],
    ),
    (
        "finance",
        [
            "invoice",
            "payment",
            "refund",
            "subscription",
            "payout",
            "customer",
        ],
    ),
    (
        "marketing",
        [
            "campaign", "audience", "segment", "template", "form", "email",
        ],
    ),
    (
        "devops",
        ["deployment", "build", "alert", "incident", "service", "log"],
    ),
    (
        "storage",
        ["file", "folder", "bucket", "object", "link", "version"],
    ),
    (
        "calendar",
        [
            "event", "calendar", "attendee", "meeting", "room", "reminder",
        ],
    ),
    (
        "hr",
        [
            "employee",
            "candidate",
            "job",
            "interview",
            "offer",
            "timeoff",
        ],
    ),
    (
        "analytics",
        ["report", "dashboard", "metric", "query", "chart", "export"],
    ),
    (
        "ecommerce",
        [
            "order",
            "product",
            "cart",
            "shipment",
            "discount",
            "inventory",
        ],
    ),
    (
        "communication",
        [
            "message",
            "channel",
            "thread",
            "contact",
            "call",
            "voicemail",
        ],
    ),
    (
        "productivity",
        ["task", "project", "note", "board", "card", "comment"],
    ),
];

/// Verbs, with how the description starts and whether the call only reads.
const SYNTHETIC_VERBS: [(&str, &str, bool); 18] = [
    ("create", "Creates a new", false),
    ("get", "Fetches one", true),
    ("list", "Lists every", true),
    ("update", "Updates the fields of a", false),
    ("delete", "Permanently deletes a", false),
    ("search", "Searches by keyword for a", true),
    ("archive", "Archives a", false),
    ("export", "Exports as CSV each", true),
    ("assign", "Assigns an owner to a", false),
    ("close", "Closes an open", false),
    ("send", "Sends a", false),
    ("share", "Shares with a teammate a", false),
    ("cancel", "Cancels a pending", false),
    ("approve", "Approves a submitted", false),
    ("duplicate", "Makes a copy of a", false),
    ("restore", "Restores a deleted", false),
    ("move", "Moves to another workspace a", false),
    ("publish", "Publishes a draft", false),
];

const SYNTHETIC_DETAILS: [&str; 8] = [
    "given its id, with optional status, owner and due date",
    "filtered by status, owner or update time, sorted and paginated (page_size max 100)",
    "with a name, a description and optional tags",
    "and notifies the people watching it",
    "in the connected workspace, as the connected user",
    "including its history, comments and attachments",
    "by priority, amount or creation date",
    "and returns the changed record",
];

/// A deterministic pseudo-random sequence (SplitMix64), so synthetic catalogs are reproducible.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        usize::try_from(z % bound.max(1) as u64).unwrap_or(0)
    }
}

/// `n` plausible tools over up to 100 made-up toolkits (about 50 tools each), for benchmarks:
/// varied verbs, nouns and descriptions; the same `n` always gives the same toolkits.
pub fn synthetic_toolkits(n: usize) -> Vec<ToolkitSpec> {
    let toolkit_count = n.div_ceil(50).clamp(1, 100);
    let mut rng = Sequence(0x5EED);
    let mut toolkits = Vec::with_capacity(toolkit_count);
    for k in 0..toolkit_count {
        let brand = SYNTHETIC_BRANDS[k % SYNTHETIC_BRANDS.len()];
        let kind = SYNTHETIC_KINDS[(k / SYNTHETIC_BRANDS.len()) % SYNTHETIC_KINDS.len()];
        let slug = format!("{brand}{kind}");
        let name = format!("{}{}", capitalize(brand), capitalize(kind));
        let first = SYNTHETIC_DOMAINS[rng.next(SYNTHETIC_DOMAINS.len())];
        let second = SYNTHETIC_DOMAINS[rng.next(SYNTHETIC_DOMAINS.len())];
        let mut nouns: Vec<&str> = first.1.iter().chain(second.1.iter()).copied().collect();
        nouns.sort_unstable();
        nouns.dedup();
        let mut categories = vec![first.0.to_owned()];
        if second.0 != first.0 {
            categories.push(second.0.to_owned());
        }
        let count = n / toolkit_count + usize::from(k < n % toolkit_count);
        let pairs = nouns.len() * SYNTHETIC_VERBS.len();
        let offset = rng.next(pairs);
        let mut tools = Vec::with_capacity(count);
        for i in 0..count {
            // Walk the verb × noun grid from a random start with a step coprime to its size.
            let cell = (offset + i * 7) % pairs;
            let (verb, opening, read_only) = SYNTHETIC_VERBS[cell % SYNTHETIC_VERBS.len()];
            let noun = nouns[(cell / SYNTHETIC_VERBS.len()) % nouns.len()];
            let round = i / pairs;
            let mut tool_slug = format!(
                "{}_{}_{}",
                slug.to_uppercase(),
                verb.to_uppercase(),
                noun.to_uppercase()
            );
            if round > 0 {
                tool_slug.push_str(&format!("_V{}", round + 1));
            }
            let detail = SYNTHETIC_DETAILS[rng.next(SYNTHETIC_DETAILS.len())];
            let mut tags = vec![format!("{noun}s")];
            if read_only {
                tags.extend(["readOnlyHint".to_owned(), "idempotentHint".to_owned()]);
            }
            tools.push(ToolSpec {
                slug: tool_slug,
                name: format!("{} a {noun}", capitalize(verb)),
                description: format!("{opening} {noun} in {name} {detail}. Returns the {noun}."),
                tags,
                version: "1.0.0".to_owned(),
                input_schema: serde_json::json!({
                    "type": "object",
                    "properties": {"id": {"type": "string"}},
                    "required": ["id"],
                }),
                output_schema: serde_json::json!({"type": "object"}),
                http: Some(HttpSpec {
                    method: if read_only {
                        HttpMethod::Get
                    } else {
                        HttpMethod::Post
                    },
                    path: format!("/{noun}s/{{id}}/{verb}"),
                    query: Vec::new(),
                    headers: Default::default(),
                    body: None,
                }),
                native: None,
                pagination: None,
            });
        }
        toolkits.push(ToolkitSpec {
            description: format!(
                "{name} {} through the {name} REST API, with an API key.",
                nouns.join(", ")
            ),
            slug,
            name,
            logo: String::new(),
            categories,
            base_url: format!("https://api.{brand}{kind}.example.com"),
            auth: AuthSpec {
                schemes: vec![AuthScheme::ApiKey],
                placement: None,
                oauth2: None,
            },
            headers: Default::default(),
            response: None,
            tools,
            triggers: Vec::new(),
        });
    }
    toolkits
}

/// A catalog of `n` synthetic tools ([`synthetic_toolkits`]) through the ordinary loader, so it
/// is checked like a real one.
pub fn synthetic_catalog(n: usize) -> Result<Catalog, CatalogError> {
    let mut sources = Vec::new();
    for spec in synthetic_toolkits(n) {
        let file = PathBuf::from(format!("{}.yaml", spec.slug));
        let text = serde_yaml_ng::to_string(&spec).map_err(|e| CatalogError::Parse {
            file: file.clone(),
            message: e.to_string(),
        })?;
        sources.push((file, text));
    }
    Catalog::from_sources(&sources, &LoadOptions::default())
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
