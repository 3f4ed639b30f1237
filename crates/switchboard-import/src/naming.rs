//! Names the back end makes: tool slugs from operation ids, argument names from wire names,
//! topic tags from the description's tags.
//!
//! Tool slug rule (`{TOOLKIT}_{ACTION}`):
//! 1. The id is split into words at `/`, `.`, `-`, `_`, spaces and other punctuation, and at
//!    camelCase boundaries (`postMessage` → `post`, `message`; `HTMLPage` → `html`, `page`);
//!    apostrophes vanish (`Organization's` → `organizations`).
//! 2. An id of the form `noun/verb-phrase` (exactly one `/`, no space before it: GitHub's
//!    style) is reordered verb
//!    first: the verb, then the noun — singular, unless the verb is `list` and nothing but a
//!    preposition follows it —
//!    then the rest of the phrase; the noun is left out when the phrase already names it
//!    (`issues/create` → `CREATE_ISSUE`, `issues/list-for-repo` → `LIST_ISSUES_FOR_REPO`,
//!    `issues/create-comment` → `CREATE_ISSUE_COMMENT`, `repos/get` → `GET_REPO`).
//!    Other ids keep their order (`chat.postMessage` → `CHAT_POST_MESSAGE`).
//! 3. A leading word equal to the toolkit slug, or of four letters or more ending it, is
//!    dropped (`gmail.users.messages.list` in toolkit `gmail` → `USERS_MESSAGES_LIST`,
//!    `calendar.events.list` in `googlecalendar` → `EVENTS_LIST`); a word repeated right after
//!    itself is said once (`people.people.get` → `PEOPLE_GET`, `copilot/copilot-metrics` →
//!    `COPILOT_METRICS`).
//! 4. Words are upper-cased ASCII letters and digits joined by `_`, at most 64 characters of
//!    whole words.
//! 5. A slug already taken gets `_2`, `_3`… in the description's order, so the same
//!    description always gives the same slugs.

/// The words of an operation id (lower case), reordered verb-first for `noun/verb` ids.
pub fn action_words(id: &str, toolkit: &str) -> Vec<String> {
    let mut words = match id.split_once('/') {
        Some((noun, phrase))
            if !noun.is_empty()
                && !noun.contains(char::is_whitespace)
                && !phrase.is_empty()
                && !phrase.contains('/') =>
        {
            let noun = split_words(noun);
            let phrase = split_words(phrase);
            verb_first(noun, phrase)
        }
        _ => split_words(id),
    };
    // The API's own name leads many ids (`calendar.events.list` in toolkit `googlecalendar`).
    if words.len() > 1
        && words
            .first()
            .is_some_and(|w| w == toolkit || (w.len() >= 4 && toolkit.ends_with(w.as_str())))
    {
        words.remove(0);
    }
    words.dedup();
    words
}

/// Words after which a listed noun stays plural (`list-for-repo` → `LIST_ISSUES_FOR_REPO`).
const PREPOSITIONS: [&str; 8] = ["for", "in", "by", "on", "from", "of", "with", "at"];

fn verb_first(noun: Vec<String>, phrase: Vec<String>) -> Vec<String> {
    let Some((verb, rest)) = phrase.split_first() else {
        return noun;
    };
    let mut out = vec![verb.clone()];
    let names_noun = noun.last().is_some_and(|last| {
        let singular = singular(last);
        rest.iter().any(|w| *w == *last || *w == singular)
    });
    if !names_noun {
        let keep_plural = verb == "list"
            && rest
                .first()
                .is_none_or(|w| PREPOSITIONS.contains(&w.as_str()));
        let count = noun.len();
        for (i, word) in noun.into_iter().enumerate() {
            if i + 1 == count && !keep_plural {
                out.push(singular(&word));
            } else {
                out.push(word);
            }
        }
    }
    out.extend(rest.iter().cloned());
    out
}

/// English singular of a plural noun, for the common cases (`repos`, `issues`, `policies`).
fn singular(word: &str) -> String {
    if word.len() <= 3 {
        return word.to_owned();
    }
    if let Some(stem) = word.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for keep in ["ss", "us", "is", "ics", "news", "status"] {
        if word.ends_with(keep) {
            return word.to_owned();
        }
    }
    if let Some(stem) = word.strip_suffix("sses") {
        return format!("{stem}ss");
    }
    if let Some(stem) = word.strip_suffix("ches") {
        return format!("{stem}ch");
    }
    if let Some(stem) = word.strip_suffix("xes") {
        return format!("{stem}x");
    }
    word.strip_suffix('s').unwrap_or(word).to_owned()
}

/// Splits an identifier or phrase into lowercase ASCII words.
pub fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().filter(|c| *c != '\'' && *c != '’').collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_ascii_uppercase()
            && prev.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `WORDS_JOINED`, cut at a word boundary to at most `max` characters.
pub fn screaming(words: &[String], max: usize) -> String {
    let mut out = String::new();
    for word in words {
        let extra = if out.is_empty() { 0 } else { 1 } + word.len();
        if !out.is_empty() && out.len() + extra > max {
            break;
        }
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(&word.to_ascii_uppercase());
    }
    out
}

/// Whether `action` is a valid slug action: upper-case letters and digits in `_`-separated
/// non-empty words.
pub fn is_action(action: &str) -> bool {
    !action.is_empty()
        && action.split('_').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

/// A toolkit slug from a title: `Slack Web API` → `slack_web_api`.
pub fn toolkit_slug(title: &str) -> String {
    let words: Vec<String> = split_words(title)
        .into_iter()
        .skip_while(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    let slug = words.join("_");
    if slug.is_empty() {
        "api".into()
    } else {
        slug
    }
}

/// An argument name from a wire name: letters, digits and `_` only (`page[size]` →
/// `page_size`, `X-Request-Id` → `X_Request_Id`), not starting with a digit, at most 64
/// characters. Case is kept so an argument reads like the provider's documentation.
pub fn arg_name(wire: &str) -> String {
    let mut out = String::new();
    for c in wire.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_owned();
    if out.is_empty() {
        out = "value".into();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "n_");
    }
    out.truncate(64);
    out
}

/// A topic tag from a description's tag: `Pull Requests` → `pull-requests`; `None` when
/// nothing usable is left.
pub fn topic_tag(tag: &str) -> Option<String> {
    let words = split_words(tag);
    let tag = words.join("-");
    let tag = tag.trim_start_matches(|c: char| !c.is_ascii_lowercase());
    (!tag.is_empty()).then(|| tag.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(id: &str) -> String {
        screaming(&action_words(id, "x"), 64)
    }

    #[test]
    fn github_ids_read_verb_first() {
        assert_eq!(slug("issues/create"), "CREATE_ISSUE");
        assert_eq!(slug("issues/list-for-repo"), "LIST_ISSUES_FOR_REPO");
        assert_eq!(slug("issues/create-comment"), "CREATE_ISSUE_COMMENT");
        assert_eq!(slug("issues/list"), "LIST_ISSUES");
        assert_eq!(slug("repos/get"), "GET_REPO");
        assert_eq!(slug("repos/get-content"), "GET_REPO_CONTENT");
        assert_eq!(
            slug("pulls/list-review-comments"),
            "LIST_PULL_REVIEW_COMMENTS"
        );
        assert_eq!(slug("repos/list-for-org"), "LIST_REPOS_FOR_ORG");
        assert_eq!(
            slug("code-scanning/list-alerts-for-repo"),
            "LIST_CODE_SCANNING_ALERTS_FOR_REPO"
        );
        assert_eq!(slug("repos/create-in-org"), "CREATE_REPO_IN_ORG");
        assert_eq!(slug("issues/add-labels"), "ADD_ISSUE_LABELS");
    }

    #[test]
    fn other_ids_keep_their_order() {
        assert_eq!(slug("chat.postMessage"), "CHAT_POST_MESSAGE");
        assert_eq!(slug("createChatCompletion"), "CREATE_CHAT_COMPLETION");
        assert_eq!(slug("CreateMessage"), "CREATE_MESSAGE");
        assert_eq!(slug("get_my_user"), "GET_MY_USER");
        assert_eq!(
            slug("List an Organization's Projects"),
            "LIST_AN_ORGANIZATIONS_PROJECTS"
        );
        assert_eq!(slug("getHTMLPage2"), "GET_HTML_PAGE2");
        // An id the front end derived from method and path.
        assert_eq!(slug("get /search/{id}"), "GET_SEARCH_ID");
        assert_eq!(
            screaming(&action_words("gmail.users.messages.list", "gmail"), 64),
            "USERS_MESSAGES_LIST"
        );
    }

    #[test]
    fn slugs_are_capped_at_whole_words() {
        let long = "a-very-long-operation-identifier-that-goes-on-and-on-and-on-and-on-forever";
        let s = slug(long);
        assert!(s.len() <= 64 && is_action(&s), "{s}");
        let full = long.to_uppercase().replace('-', "_");
        assert!(
            full.starts_with(&s) && full[s.len()..].starts_with('_'),
            "{s}"
        );
    }

    #[test]
    fn argument_names_and_tags_are_normalised() {
        assert_eq!(arg_name("page[size]"), "page_size");
        assert_eq!(arg_name("X-Request-Id"), "X_Request_Id");
        assert_eq!(arg_name("$filter"), "filter");
        assert_eq!(arg_name("1st"), "n_1st");
        assert_eq!(arg_name("pageToken"), "pageToken");
        assert_eq!(topic_tag("Pull Requests").as_deref(), Some("pull-requests"));
        assert_eq!(topic_tag("codeScanning").as_deref(), Some("code-scanning"));
        assert_eq!(topic_tag("2FA"), Some("fa".into()));
        assert_eq!(topic_tag("!!!"), None);
        assert_eq!(toolkit_slug("Slack Web API"), "slack_web_api");
    }
}
