//! The reference/query split of a labelled target: whole groups of an obs column (donor,
//! batch) when given, else stratified at random so every class appears on both sides.

use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde::{Deserialize, Serialize};

use crate::data::Column;
use crate::train::split::split_cells;

/// Cell indices (into the target dataset) of the reference and query parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferSplit {
    /// How the split was made ("stratified" or "by <column>").
    pub how: String,
    pub reference: Vec<usize>,
    pub query: Vec<usize>,
}

/// Splits the labelled cells (`labels[i]` = class of cell `i`, None = unlabelled and left out)
/// holding out about `fraction` of each class as query (at least one cell of each side for a
/// class with two or more cells).
pub fn stratified_split(
    labels: &[Option<usize>],
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let n_classes = labels.iter().flatten().max().map_or(0, |m| m + 1);
    let mut by_class = vec![Vec::new(); n_classes];
    for (i, l) in labels.iter().enumerate() {
        if let Some(c) = l {
            by_class[*c].push(i);
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut reference, mut query) = (Vec::new(), Vec::new());
    for mut cells in by_class {
        cells.shuffle(&mut rng);
        let n = cells.len();
        let take = ((n as f64 * fraction).round() as usize)
            .clamp(usize::from(n >= 2), n.saturating_sub(1));
        query.extend_from_slice(&cells[..take]);
        reference.extend_from_slice(&cells[take..]);
    }
    reference.sort_unstable();
    query.sort_unstable();
    (reference, query)
}

/// The split for a target: by whole groups of `by` when given, else stratified; unlabelled
/// cells are on neither side.
pub fn transfer_split(
    labels: &[Option<usize>],
    fraction: f64,
    by: Option<&Column>,
    seed: u64,
) -> anyhow::Result<TransferSplit> {
    let (reference, query, how) = match by {
        None => {
            let (r, q) = stratified_split(labels, fraction, seed);
            (r, q, "stratified".to_string())
        }
        Some(col) => {
            let s = split_cells(labels.len(), fraction, Some(col), seed)?;
            let labelled = |v: Vec<usize>| -> Vec<usize> {
                v.into_iter().filter(|&i| labels[i].is_some()).collect()
            };
            (
                labelled(s.train),
                labelled(s.val),
                format!("by {}", col.name),
            )
        }
    };
    anyhow::ensure!(
        !reference.is_empty() && !query.is_empty(),
        "the split left no labelled cells on one side ({} reference, {} query){}",
        reference.len(),
        query.len(),
        singleton_hint(labels)
    );
    Ok(TransferSplit {
        how,
        reference,
        query,
    })
}

/// Why a split can fail on tiny classes: how many classes have a single labelled cell.
fn singleton_hint(labels: &[Option<usize>]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for c in labels.iter().flatten() {
        *counts.entry(*c).or_insert(0usize) += 1;
    }
    let single = counts.values().filter(|&&n| n == 1).count();
    if single == 0 {
        return String::new();
    }
    format!(
        "; {single} of {} classes have a single labelled cell, which cannot be on both sides",
        counts.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cell_per_class_is_refused_with_the_reason() {
        let labels: Vec<Option<usize>> = (0..5).map(Some).collect();
        let e = transfer_split(&labels, 0.3, None, 1)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("0 query") && e.contains("5 of 5 classes have a single labelled cell"),
            "{e}"
        );
    }

    #[test]
    fn stratified_split_keeps_every_class_on_both_sides() {
        let mut labels: Vec<Option<usize>> =
            (0..100).map(|i| Some(usize::from(i % 10 == 0))).collect();
        labels[3] = None;
        let (r, q) = stratified_split(&labels, 0.3, 7);
        assert_eq!(r.len() + q.len(), 99);
        assert!(!r.contains(&3) && !q.contains(&3));
        for c in 0..2 {
            assert!(q.iter().any(|&i| labels[i] == Some(c)));
            assert!(r.iter().any(|&i| labels[i] == Some(c)));
        }
        assert_eq!(q.iter().filter(|&&i| labels[i] == Some(1)).count(), 3);
    }
}
