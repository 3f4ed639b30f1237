//! Measuring search quality on labelled use cases (`search/cases.yaml`): recall@5 and MRR.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::SearchIndex;

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
