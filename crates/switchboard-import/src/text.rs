//! Descriptions trimmed to what a model reads well: Markdown links and images reduced to
//! their text, HTML tags and headings removed, whitespace collapsed, the first paragraph only,
//! cut at a sentence end.

/// Tool descriptions: at most this many characters.
pub const DESCRIPTION_MAX: usize = 400;
/// Argument and schema descriptions.
pub const FIELD_MAX: usize = 300;
/// Tool names.
pub const NAME_MAX: usize = 80;

/// The first paragraph of `text`, cleaned and cut to at most `max` characters (at the last
/// sentence end that fits, else at a word with `…`).
pub fn brief(text: &str, max: usize) -> String {
    let stripped = strip_markup(text);
    let paragraph = stripped
        .split("\n\n")
        .map(collapse)
        .find(|p| !p.is_empty())
        .unwrap_or_default();
    cut(&paragraph, max)
}

/// HTML tags removed without a space in their place.
const INLINE_TAGS: [&str; 9] = ["a", "b", "i", "em", "strong", "code", "span", "kbd", "tt"];

/// Removes HTML tags, Markdown images, links (keeping their text), headings, emphasis and
/// block quote markers; keeps line breaks so paragraphs stay apart.
fn strip_markup(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '<' => {
                // An HTML tag: skip to `>` if it closes on this line; `<p>` breaks paragraphs.
                let close = chars[i..]
                    .iter()
                    .take(200)
                    .position(|&c| c == '>' || c == '\n');
                match close {
                    Some(n) if chars[i + n] == '>' && n > 1 && is_tag_start(chars[i + 1]) => {
                        let tag: String = chars[i + 1..i + n].iter().collect();
                        let tag = tag.trim_start_matches('/').to_ascii_lowercase();
                        let tag_name = tag.split([' ', '/']).next().unwrap_or_default();
                        if tag_name == "p" {
                            out.push_str("\n\n");
                        } else if !INLINE_TAGS.contains(&tag_name) {
                            out.push(' ');
                        }
                        i += n + 1;
                        continue;
                    }
                    _ => out.push(c),
                }
            }
            '!' if chars.get(i + 1) == Some(&'[') => {
                // An image: drop it entirely.
                if let Some(end) = link_end(&chars, i + 1) {
                    i = end;
                    continue;
                }
                out.push(c);
            }
            '[' => {
                if let Some(end) = link_end(&chars, i) {
                    let label_end = chars[i..end].iter().position(|&c| c == ']').unwrap_or(0);
                    out.extend(&chars[i + 1..i + label_end]);
                    i = end;
                    continue;
                }
                out.push(c);
            }
            '*' | '_' if chars.get(i + 1) == Some(&c) => {
                i += 2;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out.lines()
        .map(|line| {
            let line = line.trim_start();
            let line = line.trim_start_matches('#').trim_start_matches('>');
            line.trim()
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
}

fn is_tag_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '/' || c == '!'
}

/// For `[label](target)` starting at `start` (the `[`), the index after `)`.
fn link_end(chars: &[char], start: usize) -> Option<usize> {
    let close = start + chars[start..].iter().take(300).position(|&c| c == ']')?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let paren = close + 1;
    let end = paren + chars[paren..].iter().take(500).position(|&c| c == ')')?;
    Some(end + 1)
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Cuts at the last sentence end within `max` characters, else at a word with `…`.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max).collect();
    let sentence_end = head
        .char_indices()
        .filter(|&(i, c)| matches!(c, '.' | '!' | '?') && head[i + c.len_utf8()..].starts_with(' '))
        .map(|(i, c)| i + c.len_utf8())
        .next_back();
    match sentence_end {
        Some(end) if end >= max / 3 => head[..end].to_owned(),
        _ => {
            let word_end = head.rfind(' ').unwrap_or(head.len());
            format!("{}…", head[..word_end].trim_end_matches([',', ';', ':']))
        }
    }
}

/// A tool name from a summary: one line, no trailing period.
pub fn name(summary: &str) -> String {
    let name = brief(summary, NAME_MAX);
    name.trim_end_matches('.').trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_stripped_and_the_first_paragraph_kept() {
        let text = "Creates an [issue](https://docs.github.com/issues) for **you**.<br/>\n\
                    ![img](x.png) See <a href=\"x\">docs</a>.\n\n## Second\nparagraph";
        assert_eq!(brief(text, 400), "Creates an issue for you. See docs.");
    }

    #[test]
    fn long_text_is_cut_at_a_sentence_end() {
        let text = "First sentence here. Second sentence is a bit longer than that. Third.";
        assert_eq!(brief(text, 50), "First sentence here.");
        let words = "word ".repeat(40);
        let cut = brief(&words, 30);
        assert!(cut.ends_with('…') && cut.chars().count() <= 31, "{cut}");
    }

    #[test]
    fn names_lose_their_trailing_period() {
        assert_eq!(name("Create an issue.\n"), "Create an issue");
    }

    #[test]
    fn comparisons_are_not_tags() {
        assert_eq!(brief("Returns a < b items", 100), "Returns a < b items");
    }
}
