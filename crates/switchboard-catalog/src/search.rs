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

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::catalog::{Catalog, Tool, Toolkit};
use crate::error::CatalogError;
use crate::is_hint_tag;
use crate::load::LoadOptions;
use crate::spec::{AuthScheme, AuthSpec, HttpMethod, HttpSpec, ToolSpec, ToolkitSpec};

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

/// Words that carry no meaning on their own: never indexed, and never matched directly in a
/// query (a few still hint at something through [`RELATED`], e.g. "what" at reading).
const STOP_WORDS: &[&str] = &[
    "a", "about", "actually", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "but", "by", "can", "could", "did", "do", "does", "don", "each", "every", "for",
    "from", "had", "has", "have", "he", "her", "here", "him", "his", "how", "i", "if", "im", "in",
    "into", "is", "isn", "it", "its", "just", "let", "lets", "me", "mine", "my", "no", "not",
    "now", "of", "on", "one", "only", "onto", "or", "our", "ours", "out", "over", "please",
    "should", "so", "some", "she", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "to", "too", "up", "us", "via", "was", "we", "were", "what",
    "whats", "when", "where", "which", "while", "who", "will", "with", "would", "yet", "you",
    "your", "yours",
];

/// The term every read-only tool carries (from its `readOnlyHint`), so that a question ("what
/// …", "which …") or a reading verb ("show", "find") leans towards tools that read.
const READ_ONLY_TERM: &str = "readonly";

/// Words that mean the same in a request for a tool; each expands to the others.
const SYNONYMS: &[&[&str]] = &[
    &["issue", "ticket", "bug"],
    &["email", "mail", "gmail"],
    &["pr", "pull"],
    &["repo", "repository"],
    &["post", "send"],
    &["find", "search", "lookup"],
    &["create", "new", "add", "make"],
    &["comment", "reply"],
    &["star", "bookmark", "favorite", "favourite"],
    &["page", "doc", "document", "wiki"],
    &["draft", "compose"],
    &["label", "tag", "folder"],
    &["get", "fetch", "retrieve", "read", "view"],
    &["user", "member", "people", "person", "profile", "account"],
    &["channel", "conversation", "room"],
    &["message", "msg", "chat"],
    &["reaction", "react", "emoji"],
    &["update", "edit", "change", "modify", "rename"],
    &["database", "table"],
    &["workspace", "org", "organization"],
    &["state", "status"],
];

/// One-way suggestions: the word on the left hints at those on the right, not the reverse.
const RELATED: &[(&str, &[&str])] = &[
    // Reading: questions and reading verbs.
    ("what", &[READ_ONLY_TERM]),
    ("whats", &[READ_ONLY_TERM]),
    ("which", &[READ_ONLY_TERM]),
    ("any", &[READ_ONLY_TERM]),
    ("list", &[READ_ONLY_TERM]),
    ("get", &[READ_ONLY_TERM]),
    ("find", &[READ_ONLY_TERM]),
    ("search", &[READ_ONLY_TERM]),
    ("show", &["list", "get", READ_ONLY_TERM]),
    ("see", &["list", "get", READ_ONLY_TERM]),
    ("check", &["get", READ_ONLY_TERM]),
    ("look", &["search", "get", READ_ONLY_TERM]),
    ("detail", &["get"]),
    ("who", &["user", "profile", READ_ONLY_TERM]),
    ("whoami", &["user", "profile", "authenticated"]),
    ("many", &["count"]),
    // Writing.
    ("file", &["create"]),
    ("raise", &["create"]),
    ("report", &["create", "issue"]),
    ("log", &["create"]),
    ("submit", &["create"]),
    ("track", &["create", "issue"]),
    ("write", &["send", "create", "draft"]),
    ("prepare", &["draft", "create"]),
    ("close", &["update", "state"]),
    ("reopen", &["update", "state"]),
    ("assign", &["update", "assignee"]),
    // Telling people.
    ("ping", &["send", "message"]),
    ("shoot", &["send", "message"]),
    ("notify", &["send", "message"]),
    ("tell", &["send", "message"]),
    ("know", &["send", "message"]),
    ("announce", &["send", "message"]),
    ("dm", &["direct", "send", "message"]),
    ("thread", &["message", "reply"]),
    ("say", &["message", "history"]),
    ("said", &["message", "history"]),
    ("latest", &["history", "newest"]),
    ("recent", &["history", "newest"]),
    ("thumbs", &["reaction", "emoji"]),
    ("thumbsup", &["reaction", "emoji"]),
    // Mail.
    ("inbox", &["email", "message", "mailbox"]),
    ("unread", &["email", "message"]),
    ("body", &["content", "message"]),
    ("headers", &["message", "metadata"]),
    // Code hosting and work tracking.
    ("task", &["issue"]),
    ("backlog", &["issue", "list"]),
    ("sprint", &["issue", "list"]),
    ("merge", &["pull", "request"]),
    ("branch", &["pull", "repository"]),
    ("project", &["repository"]),
    ("codebase", &["repository"]),
    ("public", &["visibility"]),
    ("private", &["visibility"]),
    // People and documents.
    ("username", &["user", "login"]),
    ("login", &["user", "authenticated"]),
    ("everyone", &["user", "member"]),
    ("note", &["page", "comment", "message"]),
];

/// What a query word that is a number (`42`, `#512`) stands for: an item picked by number.
const NUMBER_TERMS: &[&str] = &["number", "id"];
/// The expansion key of a number in a query (not a word, so no word can collide with it).
const NUMBER_CONCEPT: &str = "#number";

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

/// Calls `f` with each lowercase word of `text` and whether it follows a `#`. Words are runs of
/// letters and digits; a camelCase word gives itself and then its parts, so `GitHub` matches
/// both `github` and `git hub`, and `labelIds` matches `label`.
fn for_each_word(text: &str, mut f: impl FnMut(&str, bool)) {
    let chars: Vec<char> = text.chars().collect();
    let mut lower = String::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_alphanumeric() {
            i += 1;
        }
        let run = &chars[start..i];
        let after_hash = start > 0 && chars[start - 1] == '#';
        lower.clear();
        lower.extend(run.iter().flat_map(|c| c.to_lowercase()));
        f(&lower, after_hash);
        let humps: Vec<usize> = (1..run.len())
            .filter(|&j| run[j - 1].is_lowercase() && run[j].is_uppercase())
            .collect();
        if !humps.is_empty() {
            let mut from = 0;
            for to in humps.into_iter().chain(std::iter::once(run.len())) {
                lower.clear();
                lower.extend(run[from..to].iter().flat_map(|c| c.to_lowercase()));
                f(&lower, false);
                from = to;
            }
        }
    }
}

/// The index term of a lowercase word, or `None` for a stop word or a single character.
fn index_word(word: &str) -> Option<String> {
    if word.chars().count() < 2 || STOP_WORDS.contains(&word) {
        return None;
    }
    Some(stem(word))
}

/// The index terms of `text`, in order, appended to `out`.
fn analyze(text: &str, out: &mut Vec<String>) {
    for_each_word(text, |word, _| out.extend(index_word(word)));
}

/// A small deterministic suffix stripper for English: plurals (`issues`, `repositories`,
/// `branches`), `-ing` and `-ed`, a final `e` and a final doubled consonant, so `create`,
/// `creates`, `created` and `creating` all become `creat`, and `starred` becomes `star`.
fn stem(word: &str) -> String {
    if !word.is_ascii() || word.len() < 3 {
        return word.to_owned();
    }
    let mut w = word.to_owned();
    // Plurals.
    if w.ends_with("sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with("ies") && w.len() > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if ["ches", "shes", "xes", "zes"]
        .iter()
        .any(|s| w.ends_with(s))
    {
        w.truncate(w.len() - 2);
    } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        w.pop();
    }
    // Past tense and gerund.
    if w.ends_with("ied") && w.len() > 4 {
        w.truncate(w.len() - 3);
        w.push('y');
    } else if let Some(base) = w.strip_suffix("ing").or_else(|| w.strip_suffix("ed")) {
        if base.len() >= 3 && base.chars().any(is_vowel) {
            let mut base = base.to_owned();
            undouble(&mut base);
            if base.len() == 3 && ends_cvc(&base) {
                base.push('e');
            }
            w = base;
        }
    }
    if w.len() > 4 && w.ends_with('e') {
        w.pop();
    }
    undouble(&mut w);
    w
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

/// `starr` → `star`, `pull` → `pul`; `ss` stays (`access`).
fn undouble(w: &mut String) {
    let b = w.as_bytes();
    if b.len() >= 3 {
        let (x, y) = (b[b.len() - 2], b[b.len() - 1]);
        if x == y && y.is_ascii_alphabetic() && !is_vowel(char::from(y)) && y != b's' {
            w.pop();
        }
    }
}

/// Consonant, vowel, consonant (not w, x or y) at the end: `fil` of `filed` becomes `file`.
fn ends_cvc(w: &str) -> bool {
    let b = w.as_bytes();
    if b.len() < 3 {
        return false;
    }
    let (c1, v, c2) = (
        char::from(b[b.len() - 3]),
        char::from(b[b.len() - 2]),
        char::from(b[b.len() - 1]),
    );
    !is_vowel(c1) && is_vowel(v) && !is_vowel(c2) && !matches!(c2, 'w' | 'x' | 'y')
}

// ---------------------------------------------------------------------------------------------
// Measuring quality on labelled use cases

/// A labelled use case: the request and every slug that would be a right answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub use_case: String,
    pub expected: Vec<String>,
}

/// A case whose expected slugs were all missing from the top 5.
#[derive(Debug, Clone)]
pub struct Miss {
    pub use_case: String,
    pub expected: Vec<String>,
    /// The top 5 slugs returned.
    pub got: Vec<String>,
}

/// Quality figures over a set of cases.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub cases: usize,
    /// Fraction of cases with an expected slug in the top 5.
    pub recall_at_5: f64,
    /// Mean reciprocal rank of the first expected slug in the top 10 (0 when absent).
    pub mrr: f64,
    pub misses: Vec<Miss>,
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tool search: {} cases, recall@5 {:.3}, MRR {:.3}",
            self.cases, self.recall_at_5, self.mrr
        )?;
        for miss in &self.misses {
            writeln!(
                f,
                "  miss: {:?} expected {:?}, got {:?}",
                miss.use_case, miss.expected, miss.got
            )?;
        }
        Ok(())
    }
}

/// Runs every case over all tools of `index` and measures recall@5 and MRR.
pub fn evaluate(index: &SearchIndex, cases: &[Case]) -> Evaluation {
    let mut found = 0usize;
    let mut reciprocal_ranks = 0f64;
    let mut misses = Vec::new();
    for case in cases {
        let hits = index.search(&case.use_case, |_| true, 10);
        let rank = hits
            .iter()
            .position(|h| case.expected.iter().any(|e| *e == h.tool.slug));
        if let Some(rank) = rank {
            reciprocal_ranks += 1.0 / (rank as f64 + 1.0);
        }
        if rank.is_some_and(|r| r < 5) {
            found += 1;
        } else {
            misses.push(Miss {
                use_case: case.use_case.clone(),
                expected: case.expected.clone(),
                got: hits.iter().take(5).map(|h| h.tool.slug.clone()).collect(),
            });
        }
    }
    let total = cases.len().max(1) as f64;
    Evaluation {
        cases: cases.len(),
        recall_at_5: found as f64 / total,
        mrr: reciprocal_ranks / total,
        misses,
    }
}

/// Reads labelled cases (a YAML list of `{use_case, expected}`) from `path`.
pub fn load_cases(path: impl AsRef<Path>) -> Result<Vec<Case>, String> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read {}: {e}", path.display()))?;
    let cases: Vec<Case> = serde_yaml_ng::from_str(&text)
        .map_err(|e| format!("{} is not a list of cases: {e}", path.display()))?;
    if let Some(case) = cases
        .iter()
        .find(|c| c.expected.is_empty() || c.use_case.trim().is_empty())
    {
        return Err(format!(
            "{}: case {:?} needs a use_case and at least one expected slug",
            path.display(),
            case.use_case
        ));
    }
    Ok(cases)
}

// ---------------------------------------------------------------------------------------------
// Synthetic catalogs for benchmarks

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::Path;

    use super::*;

    fn catalog() -> Catalog {
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
