//! What an import did: the tools made (and from which operation), the ones the overlay renamed
//! or left out, what the front end or back end skipped and why, and notes (an auth scheme the
//! catalog cannot express). [`Report::text`] is what `switchboard catalog import` prints.

use std::fmt::Write as _;

use crate::ir::Skipped;

/// The outcome of one import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// `(operation id, tool slug)` for every tool made, in the description's order.
    pub imported: Vec<(String, String)>,
    /// `(operation id, tool slug)` for the tools whose slug the overlay set.
    pub renamed: Vec<(String, String)>,
    /// `(operation id, why)` for operations left out by the overlay's rules (`drop`,
    /// `exclude`, not `include`d, deprecated).
    pub dropped: Vec<(String, String)>,
    /// Parts of the description that could not become tools, with location and reason.
    pub skipped: Vec<Skipped>,
    /// Anything else worth a look (an API key in a query parameter, scopes left out).
    pub notes: Vec<String>,
}

impl Report {
    /// One line of counts: `812 tools, 3 renamed, 40 dropped by the overlay, 12 skipped`.
    pub fn summary(&self) -> String {
        format!(
            "{} tools, {} renamed, {} dropped by the overlay, {} skipped",
            self.imported.len(),
            self.renamed.len(),
            self.dropped.len(),
            self.skipped.len()
        )
    }

    /// The whole report, for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.summary());
        let mut section = |title: &str, lines: Vec<String>| {
            if !lines.is_empty() {
                let _ = writeln!(out, "\n{title} ({}):", lines.len());
                for line in lines {
                    let _ = writeln!(out, "  {line}");
                }
            }
        };
        section(
            "imported",
            self.imported
                .iter()
                .map(|(id, slug)| format!("{slug} <- {id}"))
                .collect(),
        );
        section(
            "renamed by the overlay",
            self.renamed
                .iter()
                .map(|(id, slug)| format!("{id} -> {slug}"))
                .collect(),
        );
        section(
            "dropped by the overlay",
            self.dropped
                .iter()
                .map(|(id, why)| format!("{id}: {why}"))
                .collect(),
        );
        section(
            "skipped",
            self.skipped
                .iter()
                .map(|s| format!("{}: {}", s.location, s.reason))
                .collect(),
        );
        section("notes", self.notes.clone());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lists_counts_and_sections() {
        let report = Report {
            imported: vec![("issues/create".into(), "GITHUB_CREATE_ISSUE".into())],
            dropped: vec![("issues/lock".into(), "drop".into())],
            skipped: vec![Skipped {
                location: "/paths/~1upload/post".into(),
                reason: "multipart/form-data body (file upload)".into(),
            }],
            ..Report::default()
        };
        let text = report.text();
        assert!(text.starts_with("1 tools, 0 renamed, 1 dropped by the overlay, 1 skipped\n"));
        assert!(text.contains("GITHUB_CREATE_ISSUE <- issues/create"));
        assert!(text.contains("/paths/~1upload/post: multipart/form-data body (file upload)"));
        assert!(!text.contains("renamed by the overlay"));
    }
}
