//! Tool search for `SEARCH_TOOLS` and `SessionService.SearchTools`: a BM25F index over every
//! tool of the catalog, built once at load, that ranks tools for a use case written in plain
//! words ("file a bug in my repo").
//!
//! Each tool is a document of six fields (slug, name, description, topic tags, toolkit, toolkit
//! description), each with its own boost and length normalisation. Because boosts, lengths and
//! document frequencies are fixed at build time, every posting holds its final BM25F weight, so
//! a query only adds up the postings of its own terms. Query words are expanded through a small
//! table of general synonyms ("bug" → issue, "repo" → repository), weighted below the word
//! itself; each query word scores a tool by its best match among itself and its synonyms, so a
//! tool never wins by matching many synonyms of one word.
//!
//! The labelled use cases in `search/cases.yaml` measure it: see [`evaluate`].

mod analyzer;
mod eval;
mod synthetic;

pub use eval::{evaluate, load_cases, Case, Evaluation, Miss};
pub use synthetic::{synthetic_catalog, synthetic_toolkits};

use analyzer::*;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::catalog::{Tool, Toolkit};
use crate::is_hint_tag;

// ---------------------------------------------------------------------------------------------
// Ranking parameters

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;

/// The fields of a tool document.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// `GITHUB_CREATE_ISSUE`, toolkit prefix included.
    Slug,
    Name,
    Description,
    /// Topic tags; hint tags (`readOnlyHint`, …) say nothing about the topic and are left out.
    Tags,
    /// Toolkit slug, name and categories: a query naming the product should favour its tools.
    Toolkit,
    /// The toolkit's description ("Slack messages, channels, reactions and users …").
    ToolkitAbout,
}

const FIELD_COUNT: usize = 6;

/// Boost and length normalisation (`b`) per field, in [`Field`] order. Slug and name say what a
/// tool does in a few words, so a match there counts most; descriptions are long and full of
/// incidental words (`label:bug` in an example query, `username:branch`), so a match there
/// counts least. Tuned on `search/cases.yaml`, where recall@5 stays at 1.0 for description
/// boosts from 0.3 to 1.0 and these values sit on a plateau of MRR.
const FIELD_PARAMS: [(f32, f32); FIELD_COUNT] = [
    (2.0, 0.5),  // slug
    (2.5, 0.5),  // name
    (0.5, 0.75), // description
    (1.5, 0.5),  // tags
    (2.0, 0.3),  // toolkit
    (0.3, 0.75), // toolkit description
];

/// Weight of a synonym or related word relative to the query word itself: a tool named for
/// the word the user typed ranks above one named for its synonym.
const EXPANSION_WEIGHT: f32 = 0.5;

// ---------------------------------------------------------------------------------------------
// The index

/// A tool matching a search, with its score (higher is better).
#[derive(Debug, Clone)]
pub struct Hit {
    pub tool: Arc<Tool>,
    pub score: f32,
}

/// One entry of a term's posting list: a tool and the term's BM25F weight in it.
#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    weight: f32,
}

/// The BM25F index over a catalog's tools. Read-only once built; share it freely.
#[derive(Default)]
pub struct SearchIndex {
    /// Document id → tool, sorted by slug, so ties broken by id are broken by slug.
    tools: Vec<Arc<Tool>>,
    /// Stemmed term → term id.
    terms: HashMap<String, u32>,
    /// Term id → postings, by document id.
    postings: Vec<Vec<Posting>>,
    /// Stemmed query word → (term id, weight) of its synonyms and related words in the index.
    expansions: HashMap<String, Vec<(u32, f32)>>,
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("tools", &self.tools.len())
            .field("terms", &self.terms.len())
            .finish()
    }
}

/// One word of a query: the terms that can satisfy it, with their weights.
type Concept = Vec<(u32, f32)>;

impl SearchIndex {
    /// Indexes every tool of `toolkits`.
    pub fn build<'a>(toolkits: impl IntoIterator<Item = &'a Toolkit>) -> SearchIndex {
        let mut docs: Vec<(&Toolkit, &Arc<Tool>)> = toolkits
            .into_iter()
            .flat_map(|toolkit| toolkit.tools.iter().map(move |tool| (toolkit, tool)))
            .collect();
        docs.sort_by(|a, b| a.1.slug.cmp(&b.1.slug));

        // Per document: term → frequency per field, and the length of each field.
        let mut terms: HashMap<String, u32> = HashMap::new();
        let mut doc_terms: Vec<HashMap<u32, [u16; FIELD_COUNT]>> = Vec::with_capacity(docs.len());
        let mut doc_lengths: Vec<[u32; FIELD_COUNT]> = Vec::with_capacity(docs.len());
        let mut words = Vec::new();
        for (toolkit, tool) in &docs {
            let mut tfs: HashMap<u32, [u16; FIELD_COUNT]> = HashMap::new();
            let mut lengths = [0u32; FIELD_COUNT];
            for (field, text) in field_texts(toolkit, tool) {
                words.clear();
                analyze(&text, &mut words);
                lengths[field as usize] = u32::try_from(words.len()).unwrap_or(u32::MAX);
                for word in &words {
                    let next = u32::try_from(terms.len()).unwrap_or(u32::MAX);
                    let id = *terms.entry(word.clone()).or_insert(next);
                    let tf = &mut tfs.entry(id).or_default()[field as usize];
                    *tf = tf.saturating_add(1);
                }
            }
            doc_terms.push(tfs);
            doc_lengths.push(lengths);
        }

        let n = docs.len() as f32;
        let mut average = [0f32; FIELD_COUNT];
        for lengths in &doc_lengths {
            for (sum, len) in average.iter_mut().zip(lengths) {
                *sum += *len as f32;
            }
        }
        for sum in &mut average {
            *sum = if n > 0.0 { (*sum / n).max(1.0) } else { 1.0 };
        }
        let mut df = vec![0u32; terms.len()];
        for tfs in &doc_terms {
            for id in tfs.keys() {
                df[*id as usize] += 1;
            }
        }

        let mut postings: Vec<Vec<Posting>> = vec![Vec::new(); terms.len()];
        for (doc, (tfs, lengths)) in doc_terms.iter().zip(&doc_lengths).enumerate() {
            let doc = u32::try_from(doc).unwrap_or(u32::MAX);
            for (id, tf) in tfs {
                let mut pseudo_tf = 0.0;
                for (f, (boost, b)) in FIELD_PARAMS.iter().enumerate() {
                    if tf[f] > 0 {
                        let norm = 1.0 - b + b * lengths[f] as f32 / average[f];
                        pseudo_tf += boost * f32::from(tf[f]) / norm;
                    }
                }
                let df = df[*id as usize] as f32;
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                let weight = idf * pseudo_tf * (K1 + 1.0) / (K1 + pseudo_tf);
                postings[*id as usize].push(Posting { doc, weight });
            }
        }
        for list in &mut postings {
            list.sort_by_key(|p| p.doc);
        }

        let expansions = expansions(&terms);
        SearchIndex {
            tools: docs.into_iter().map(|(_, tool)| Arc::clone(tool)).collect(),
            terms,
            postings,
            expansions,
        }
    }

    /// Tools matching `query`, best first, at most `limit`, only those for which `allowed` is
    /// true. Ties are broken by slug; a tool matching no query word is never returned.
    pub fn search(&self, query: &str, allowed: impl Fn(&Tool) -> bool, limit: usize) -> Vec<Hit> {
        let concepts = self.concepts(query);
        if concepts.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut total = vec![0f32; self.tools.len()];
        let mut best = vec![0f32; self.tools.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut matched: Vec<u32> = Vec::new();
        for concept in &concepts {
            for &(term, weight) in concept {
                for posting in &self.postings[term as usize] {
                    let slot = &mut best[posting.doc as usize];
                    if *slot == 0.0 {
                        touched.push(posting.doc);
                    }
                    *slot = slot.max(weight * posting.weight);
                }
            }
            for &doc in &touched {
                if total[doc as usize] == 0.0 {
                    matched.push(doc);
                }
                total[doc as usize] += std::mem::take(&mut best[doc as usize]);
            }
            touched.clear();
        }

        let mut hits: Vec<(u32, f32)> = matched
            .into_iter()
            .map(|doc| (doc, total[doc as usize]))
            .filter(|&(doc, score)| score > 0.0 && allowed(&self.tools[doc as usize]))
            .collect();
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if hits.len() > limit {
            hits.select_nth_unstable_by(limit - 1, order);
            hits.truncate(limit);
        }
        hits.sort_unstable_by(order);
        hits.into_iter()
            .map(|(doc, score)| Hit {
                tool: Arc::clone(&self.tools[doc as usize]),
                score,
            })
            .collect()
    }

    /// Number of indexed tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// True when no tool is indexed.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The query's words, each with the index terms that satisfy it. A stop word counts only
    /// through what it hints at; a word that is neither in the index nor has a synonym there is
    /// dropped; a repeated word counts once, at its strongest.
    fn concepts(&self, query: &str) -> Vec<Concept> {
        // (expansion key, whether the key itself may match, weight), one entry per key.
        let mut words: Vec<(String, bool, f32)> = Vec::new();
        let mut note = |key: String, direct: bool, scale: f32| match words
            .iter_mut()
            .find(|(k, _, _)| *k == key)
        {
            Some(seen) => {
                seen.1 |= direct;
                seen.2 = seen.2.max(scale);
            }
            None => words.push((key, direct, scale)),
        };
        for_each_word(query, |word, after_hash| {
            if word.chars().all(|c| c.is_ascii_digit()) {
                // `42`, `#512`: an item picked by its number, not the number in a description.
                note(NUMBER_CONCEPT.to_owned(), false, 1.0);
                return;
            }
            if after_hash {
                // `#deploys` names a channel.
                note(stem("channel"), true, EXPANSION_WEIGHT);
            }
            if word.chars().count() >= 2 {
                note(stem(word), !STOP_WORDS.contains(&word), 1.0);
            }
        });

        let mut concepts = Vec::with_capacity(words.len());
        for (key, direct, scale) in words {
            let mut concept: Concept = Vec::new();
            if let Some(&id) = self.terms.get(&key).filter(|_| direct) {
                concept.push((id, scale));
            }
            for &(id, weight) in self.expansions.get(&key).into_iter().flatten() {
                match concept.iter_mut().find(|(t, _)| *t == id) {
                    Some(existing) => existing.1 = existing.1.max(weight * scale),
                    None => concept.push((id, weight * scale)),
                }
            }
            if !concept.is_empty() {
                concepts.push(concept);
            }
        }
        concepts
    }
}

/// The text of each field of one tool document.
fn field_texts(toolkit: &Toolkit, tool: &Tool) -> [(Field, String); FIELD_COUNT] {
    let spec = &toolkit.spec;
    let mut tags: Vec<&str> = tool
        .spec
        .tags
        .iter()
        .map(String::as_str)
        .filter(|t| !is_hint_tag(t))
        .collect();
    if tool.has_tag("readOnlyHint") {
        tags.push(READ_ONLY_TERM);
    }
    [
        (Field::Slug, tool.slug.clone()),
        (Field::Name, tool.spec.name.clone()),
        (Field::Description, tool.spec.description.clone()),
        (Field::Tags, tags.join(" ")),
        (
            Field::Toolkit,
            format!("{} {} {}", spec.slug, spec.name, spec.categories.join(" ")),
        ),
        (Field::ToolkitAbout, spec.description.clone()),
    ]
}

/// The synonym and related-word tables, stemmed and resolved to the index's terms.
fn expansions(terms: &HashMap<String, u32>) -> HashMap<String, Vec<(u32, f32)>> {
    let mut out: HashMap<String, Vec<(u32, f32)>> = HashMap::new();
    let mut link = |from: &str, to: &str| {
        let weight = EXPANSION_WEIGHT;
        let (from, to) = (stem(from), stem(to));
        if from == to {
            return;
        }
        if let Some(&id) = terms.get(&to) {
            let list = out.entry(from).or_default();
            match list.iter_mut().find(|(t, _)| *t == id) {
                Some(existing) => existing.1 = existing.1.max(weight),
                None => list.push((id, weight)),
            }
        }
    };
    for group in SYNONYMS {
        for from in *group {
            for to in *group {
                link(from, to);
            }
        }
    }
    for (from, tos) in RELATED {
        for to in *tos {
            link(from, to);
        }
    }
    for to in NUMBER_TERMS {
        if let Some(&id) = terms.get(&stem(to)) {
            out.entry(NUMBER_CONCEPT.to_owned())
                .or_default()
                .push((id, EXPANSION_WEIGHT));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Text analysis: the same for tools and queries

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::Path;

    use super::*;
    use crate::catalog::Catalog;
    use crate::load::LoadOptions;

    fn catalog() -> Catalog {
        // The hand-written toolkits: quick to load in a debug build; tests/search_quality.rs
        // and tests/full_catalog.rs search the whole generated catalog.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../toolkits");
        Catalog::load_dir(&dir, &LoadOptions::default()).unwrap()
    }

    fn slugs(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.tool.slug.as_str()).collect()
    }

    #[test]
    fn stems_agree_across_forms() {
        for group in [
            &["create", "creates", "created", "creating"][..],
            &["issue", "issues"],
            &["repository", "repositories"],
            &["star", "stars", "starred", "starring"],
            &["file", "files", "filed", "filing"],
            &["message", "messages"],
            &["branch", "branches"],
            &["label", "labels", "labelled", "labeled"],
            &["reply", "replies", "replied", "replying"],
            &["database", "databases"],
        ] {
            let stems: Vec<String> = group.iter().map(|w| stem(w)).collect();
            assert!(
                stems.iter().all(|s| *s == stems[0]),
                "{group:?} → {stems:?}"
            );
        }
        assert_eq!(stem("access"), "access");
        assert_eq!(stem("status"), "status");
    }

    #[test]
    fn words_split_on_punctuation_and_camel_case() {
        let mut words = Vec::new();
        for_each_word("GitHub labelIds, per_page #deploys", |w, hash| {
            words.push((w.to_owned(), hash))
        });
        let words: Vec<(&str, bool)> = words.iter().map(|(w, h)| (w.as_str(), *h)).collect();
        assert_eq!(
            words,
            [
                ("github", false),
                ("git", false),
                ("hub", false),
                ("labelids", false),
                ("label", false),
                ("ids", false),
                ("per", false),
                ("page", false),
                ("deploys", true),
            ]
        );
    }

    #[test]
    fn a_bug_in_my_repo_is_a_new_github_issue() {
        let catalog = catalog();
        let hits = catalog
            .search_index()
            .search("file a bug in my repo", |_| true, 5);
        assert_eq!(
            hits.first().map(|h| h.tool.slug.as_str()),
            Some("GITHUB_CREATE_ISSUE"),
            "{:?}",
            slugs(&hits)
        );
    }

    #[test]
    fn allowed_filters_tools_out() {
        let catalog = catalog();
        let index = catalog.search_index();
        let hits = index.search("file a bug in my repo", |t| t.toolkit != "github", 5);
        assert!(!hits.is_empty());
        assert!(
            hits.iter().all(|h| h.tool.toolkit != "github"),
            "{:?}",
            slugs(&hits)
        );
        assert!(index
            .search("file a bug in my repo", |_| false, 5)
            .is_empty());
    }

    #[test]
    fn empty_or_stop_word_queries_find_nothing() {
        let catalog = catalog();
        let index = catalog.search_index();
        for query in ["", "   ", "the of a to in my", "?!", "zzqx blorf"] {
            assert!(index.search(query, |_| true, 5).is_empty(), "{query:?}");
        }
    }

    #[test]
    fn results_are_ordered_limited_and_deterministic() {
        let catalog = catalog();
        let index = catalog.search_index();
        assert_eq!(index.len(), catalog.tool_count());
        let first = index.search("list issues", |_| true, 3);
        assert_eq!(first.len(), 3);
        for pair in first.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(a.score > b.score || (a.score == b.score && a.tool.slug < b.tool.slug));
        }
        for _ in 0..5 {
            let again = index.search("list issues", |_| true, 3);
            assert_eq!(slugs(&again), slugs(&first));
            assert_eq!(
                again.iter().map(|h| h.score).collect::<Vec<_>>(),
                first.iter().map(|h| h.score).collect::<Vec<_>>()
            );
        }
        // A rebuilt index ranks the same way.
        let rebuilt = SearchIndex::build(catalog.toolkits().map(|t| t.as_ref()));
        assert_eq!(
            slugs(&rebuilt.search("list issues", |_| true, 3)),
            slugs(&first)
        );
        assert!(index.search("list issues", |_| true, 0).is_empty());
    }

    #[test]
    fn ties_are_broken_by_slug() {
        // Three tools whose documents analyse to the same terms score exactly alike.
        let tool = |slug: &str| {
            format!(
                "  - slug: {slug}
    name: Fetch a thing
    description: Fetches one thing by id.
    input_schema: {{type: object, properties: {{id: {{type: string}}}}, required: [id]}}
    output_schema: {{type: object}}
    http: {{method: GET, path: '/things/{{id}}'}}
"
            )
        };
        let text = format!(
            "slug: demo\nname: Demo\ndescription: Demo things.\nbase_url: https://api.example.com\n\
             auth: {{schemes: [API_KEY]}}\ntools:\n{}{}{}",
            tool("DEMO_FETCH_THINGS"),
            tool("DEMO_FETCH_THING"),
            tool("DEMO_FETCHED_THING"),
        );
        let catalog =
            Catalog::from_sources(&[("demo.yaml".into(), text)], &LoadOptions::default()).unwrap();
        let hits = catalog.search_index().search("fetch things", |_| true, 5);
        assert_eq!(
            slugs(&hits),
            [
                "DEMO_FETCHED_THING",
                "DEMO_FETCH_THING",
                "DEMO_FETCH_THINGS"
            ]
        );
        assert!(hits.iter().all(|h| h.score == hits[0].score));
    }

    #[test]
    fn a_repeated_word_counts_once_at_its_strongest() {
        let catalog = catalog();
        let index = catalog.search_index();
        let score = |q: &str| index.search(q, |_| true, 1)[0].score;
        assert_eq!(score("send message message"), score("send message"));
        // The `#general` hint at a channel does not weaken the word "channel" itself.
        assert_eq!(
            score("post to #general channel"),
            score("post to channel general")
        );
    }

    #[test]
    fn synthetic_catalogs_load_and_search() {
        let catalog = synthetic_catalog(300).unwrap();
        assert_eq!(catalog.tool_count(), 300);
        assert_eq!(catalog.search_index().len(), 300);
        assert_eq!(synthetic_toolkits(300).len(), 6);
        let hits = catalog
            .search_index()
            .search("create an invoice", |_| true, 5);
        assert!(!hits.is_empty());
    }
}
