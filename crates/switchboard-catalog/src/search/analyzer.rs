//! Words: how tool texts and queries are cut into terms (camelCase parts, numbers, stop words,
//! a light Porter-style stemmer), and the tables of synonyms and related words a query term
//! expands through.

/// Words that carry no meaning on their own: never indexed, and never matched directly in a
/// query (a few still hint at something through [`RELATED`], e.g. "what" at reading).
pub(super) const STOP_WORDS: &[&str] = &[
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
pub(super) const READ_ONLY_TERM: &str = "readonly";

/// Words that mean the same in a request for a tool; each expands to the others.
pub(super) const SYNONYMS: &[&[&str]] = &[
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
pub(super) const RELATED: &[(&str, &[&str])] = &[
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
pub(super) const NUMBER_TERMS: &[&str] = &["number", "id"];
/// The expansion key of a number in a query (not a word, so no word can collide with it).
pub(super) const NUMBER_CONCEPT: &str = "#number";

/// Calls `f` with each lowercase word of `text` and whether it follows a `#`. Words are runs of
/// letters and digits; a camelCase word gives itself and then its parts, so `GitHub` matches
/// both `github` and `git hub`, and `labelIds` matches `label`.
pub(super) fn for_each_word(text: &str, mut f: impl FnMut(&str, bool)) {
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
pub(super) fn index_word(word: &str) -> Option<String> {
    if word.chars().count() < 2 || STOP_WORDS.contains(&word) {
        return None;
    }
    Some(stem(word))
}

/// The index terms of `text`, in order, appended to `out`.
pub(super) fn analyze(text: &str, out: &mut Vec<String>) {
    for_each_word(text, |word, _| out.extend(index_word(word)));
}

/// A small deterministic suffix stripper for English: plurals (`issues`, `repositories`,
/// `branches`), `-ing` and `-ed`, a final `e` and a final doubled consonant, so `create`,
/// `creates`, `created` and `creating` all become `creat`, and `starred` becomes `star`.
pub(super) fn stem(word: &str) -> String {
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

pub(super) fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

/// `starr` → `star`, `pull` → `pul`; `ss` stays (`access`).
pub(super) fn undouble(w: &mut String) {
    let b = w.as_bytes();
    if b.len() >= 3 {
        let (x, y) = (b[b.len() - 2], b[b.len() - 1]);
        if x == y && y.is_ascii_alphabetic() && !is_vowel(char::from(y)) && y != b's' {
            w.pop();
        }
    }
}

/// Consonant, vowel, consonant (not w, x or y) at the end: `fil` of `filed` becomes `file`.
pub(super) fn ends_cvc(w: &str) -> bool {
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
