//! Label-agreement and classification metrics with scikit-learn's definitions (ARI, NMI, ASW,
//! F1, confusion matrix, balanced class weights). Degenerate inputs give `None` or sklearn's value.

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Contingency table of two labelings over their sorted distinct values (rows: `a`, cols: `b`).
struct Contingency {
    cells: BTreeMap<(usize, usize), u64>,
    row_sums: Vec<u64>,
    col_sums: Vec<u64>,
    n: u64,
}

impl Contingency {
    fn new(a: &[usize], b: &[usize]) -> Self {
        let ra = rank_labels(a);
        let rb = rank_labels(b);
        let mut row_sums = vec![0u64; ra.1];
        let mut col_sums = vec![0u64; rb.1];
        let mut cells = BTreeMap::new();
        for (&i, &j) in ra.0.iter().zip(&rb.0) {
            *cells.entry((i, j)).or_insert(0) += 1;
            row_sums[i] += 1;
            col_sums[j] += 1;
        }
        Self {
            cells,
            row_sums,
            col_sums,
            n: a.len() as u64,
        }
    }
}

/// Maps labels to 0..n_distinct in sorted order; returns (codes, n_distinct).
fn rank_labels(labels: &[usize]) -> (Vec<usize>, usize) {
    let mut distinct: Vec<usize> = labels.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let codes = labels
        .iter()
        .map(|l| distinct.binary_search(l).expect("label present"))
        .collect();
    (codes, distinct.len())
}

/// Adjusted Rand index (sklearn `adjusted_rand_score`); `None` if lengths differ.
/// Identical partitions (including all-one-cluster or all-singletons on both sides) give 1.0.
pub fn adjusted_rand_score(truth: &[usize], pred: &[usize]) -> Option<f64> {
    if truth.len() != pred.len() {
        return None;
    }
    let c = Contingency::new(truth, pred);
    let n = c.n as i128;
    // sklearn's pair confusion matrix, in exact integers.
    let sum_sq: i128 = c.cells.values().map(|&v| (v as i128) * (v as i128)).sum();
    let sq = |s: &[u64]| s.iter().map(|&v| (v as i128) * (v as i128)).sum::<i128>();
    let row_sq = sq(&c.row_sums);
    let col_sq = sq(&c.col_sums);
    let tp = sum_sq - n;
    let fp = col_sq - sum_sq; // pairs together in pred, apart in truth
    let fn_ = row_sq - sum_sq;
    let tn = n * n - fp - fn_ - sum_sq;
    if fn_ == 0 && fp == 0 {
        return Some(1.0);
    }
    let (tp, fp, fn_, tn) = (tp as f64, fp as f64, fn_ as f64, tn as f64);
    Some(2.0 * (tp * tn - fn_ * fp) / ((tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn)))
}

/// Mutual information (natural log) of two labelings.
pub fn mutual_info(truth: &[usize], pred: &[usize]) -> Option<f64> {
    if truth.len() != pred.len() || truth.is_empty() {
        return None;
    }
    let c = Contingency::new(truth, pred);
    let n = c.n as f64;
    let mut mi = 0.0;
    for (&(i, j), &v) in &c.cells {
        let v = v as f64;
        mi += v / n * (v * n / (c.row_sums[i] as f64 * c.col_sums[j] as f64)).ln();
    }
    Some(mi.max(0.0))
}

fn entropy(labels: &[usize]) -> f64 {
    let mut counts: BTreeMap<usize, u64> = BTreeMap::new();
    for &l in labels {
        *counts.entry(l).or_insert(0) += 1;
    }
    let n = labels.len() as f64;
    -counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            p * p.ln()
        })
        .sum::<f64>()
}

/// Normalised mutual information with the arithmetic-mean normaliser (sklearn's default).
/// Both labelings with a single class give 1.0 (as sklearn); `None` on empty or unequal input.
pub fn normalized_mutual_info_score(truth: &[usize], pred: &[usize]) -> Option<f64> {
    if truth.len() != pred.len() || truth.is_empty() {
        return None;
    }
    let (_, kt) = rank_labels(truth);
    let (_, kp) = rank_labels(pred);
    if kt == 1 && kp == 1 {
        return Some(1.0);
    }
    let mi = mutual_info(truth, pred)?;
    let norm = (entropy(truth) + entropy(pred)) / 2.0;
    Some(mi / norm.max(f64::EPSILON))
}

/// Mean silhouette coefficient with Euclidean distance (sklearn `silhouette_score`).
/// Cells alone in their cluster score 0. `None` unless 2 <= n_clusters <= n_cells - 1.
/// Exact O(n^2 d): subsample large sets before calling (see [`subsample_indices`](crate::analysis::knn::subsample_indices)).
pub fn silhouette_score(x: ArrayView2<f32>, labels: &[usize]) -> Option<f64> {
    let n = x.nrows();
    if labels.len() != n {
        return None;
    }
    let (codes, k) = rank_labels(labels);
    if k < 2 || k > n.saturating_sub(1) {
        return None;
    }
    let mut sizes = vec![0usize; k];
    for &c in &codes {
        sizes[c] += 1;
    }
    let xf = x.mapv(f64::from);
    let norms: Vec<f64> = xf.rows().into_iter().map(|r| r.dot(&r)).collect();
    const BLOCK: usize = 256;
    let starts: Vec<usize> = (0..n).step_by(BLOCK).collect();
    let total: f64 = starts
        .par_iter()
        .map(|&s| {
            let e = (s + BLOCK).min(n);
            let dots = xf.slice(ndarray::s![s..e, ..]).dot(&xf.t());
            let mut sum = 0.0;
            let mut per_cluster = vec![0.0f64; k];
            for (bi, row) in dots.axis_iter(Axis(0)).enumerate() {
                let i = s + bi;
                per_cluster.fill(0.0);
                for (j, &d) in row.iter().enumerate() {
                    if j != i {
                        let sq = (norms[i] + norms[j] - 2.0 * d).max(0.0);
                        per_cluster[codes[j]] += sq.sqrt();
                    }
                }
                let own = codes[i];
                if sizes[own] <= 1 {
                    continue;
                }
                let a = per_cluster[own] / (sizes[own] - 1) as f64;
                let b = (0..k)
                    .filter(|&c| c != own)
                    .map(|c| per_cluster[c] / sizes[c] as f64)
                    .fold(f64::INFINITY, f64::min);
                // identical points (a = b = 0) score 0, as sklearn's nan_to_num
                let m = a.max(b);
                if m > 0.0 {
                    sum += (b - a) / m;
                }
            }
            sum
        })
        .sum();
    Some(total / n as f64)
}

/// scIB's cell-type ASW: the silhouette rescaled to [0, 1] as (asw + 1) / 2.
pub fn cell_type_asw(x: ArrayView2<f32>, labels: &[usize]) -> Option<f64> {
    silhouette_score(x, labels).map(|s| (s + 1.0) / 2.0)
}

/// Counts with true class as row and predicted class as column, over classes `0..n_classes`.
/// Labels at or above `n_classes` are ignored.
pub fn confusion_matrix(truth: &[usize], pred: &[usize], n_classes: usize) -> Vec<Vec<u64>> {
    let mut m = vec![vec![0u64; n_classes]; n_classes];
    for (&t, &p) in truth.iter().zip(pred) {
        if t < n_classes && p < n_classes {
            m[t][p] += 1;
        }
    }
    m
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

/// Per-class scores for classes `0..n_classes` (sklearn `precision_recall_fscore_support`
/// with zero_division=0: an undefined ratio is 0; F1 = 2tp / (2tp + fp + fn)).
pub fn per_class_scores(truth: &[usize], pred: &[usize], n_classes: usize) -> Vec<ClassScore> {
    let cm = confusion_matrix(truth, pred, n_classes);
    (0..n_classes)
        .map(|c| {
            let tp = cm[c][c] as f64;
            let support: u64 = cm[c].iter().sum();
            let predicted: u64 = cm.iter().map(|row| row[c]).sum();
            let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
            let fp = predicted as f64 - tp;
            let fn_ = support as f64 - tp;
            ClassScore {
                precision: ratio(tp, predicted as f64),
                recall: ratio(tp, support as f64),
                f1: ratio(2.0 * tp, 2.0 * tp + fp + fn_),
                support,
            }
        })
        .collect()
}

/// Macro-averaged F1 over the classes present in `truth` or `pred` (sklearn `f1_score(average=
/// 'macro')`); `None` on empty or unequal input.
pub fn macro_f1(truth: &[usize], pred: &[usize]) -> Option<f64> {
    if truth.len() != pred.len() || truth.is_empty() {
        return None;
    }
    let n_classes = truth.iter().chain(pred).max()? + 1;
    let scores = per_class_scores(truth, pred, n_classes);
    let mut present = vec![false; n_classes];
    for &l in truth.iter().chain(pred) {
        present[l] = true;
    }
    let (sum, count) = scores
        .iter()
        .zip(&present)
        .filter(|(_, p)| **p)
        .fold((0.0, 0usize), |(s, c), (score, _)| (s + score.f1, c + 1));
    Some(sum / count as f64)
}

/// Fraction of exact matches (= micro-F1 for single-label classification); `None` on empty input.
pub fn accuracy(truth: &[usize], pred: &[usize]) -> Option<f64> {
    if truth.len() != pred.len() || truth.is_empty() {
        return None;
    }
    let hits = truth.iter().zip(pred).filter(|(t, p)| t == p).count();
    Some(hits as f64 / truth.len() as f64)
}

/// sklearn's 'balanced' class weights, n_samples / (n_present_classes * count), for classes
/// `0..n_classes`; a class absent from `labels` gets weight 0 (it never enters the loss).
pub fn balanced_class_weights(labels: &[usize], n_classes: usize) -> Vec<f64> {
    let mut counts = vec![0u64; n_classes];
    for &l in labels {
        if l < n_classes {
            counts[l] += 1;
        }
    }
    let n: u64 = counts.iter().sum();
    let present = counts.iter().filter(|&&c| c > 0).count() as f64;
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                n as f64 / (present * c as f64)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn identical_partitions_score_one_whatever_the_names() {
        let a = [0, 0, 1, 1, 2];
        let b = [5, 5, 3, 3, 9];
        assert_eq!(adjusted_rand_score(&a, &b), Some(1.0));
        assert!((normalized_mutual_info_score(&a, &b).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs_follow_sklearn() {
        assert_eq!(adjusted_rand_score(&[0, 0, 0], &[1, 1, 1]), Some(1.0));
        assert_eq!(normalized_mutual_info_score(&[0, 0], &[3, 3]), Some(1.0));
        assert_eq!(
            normalized_mutual_info_score(&[0, 0, 0], &[0, 1, 2]),
            Some(0.0)
        );
        assert_eq!(macro_f1(&[], &[]), None);
        let x = array![[0.0f32, 0.0], [1.0, 1.0], [2.0, 2.0]];
        assert_eq!(silhouette_score(x.view(), &[0, 0, 0]), None);
        assert_eq!(silhouette_score(x.view(), &[0, 1, 2]), None);
    }

    #[test]
    fn identical_points_give_a_zero_silhouette_not_nan() {
        let x = array![[1.0f32, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.0]];
        assert_eq!(silhouette_score(x.view(), &[0, 0, 1, 1]), Some(0.0));
        assert_eq!(cell_type_asw(x.view(), &[0, 0, 1, 1]), Some(0.5));
    }

    #[test]
    fn class_absent_from_training_gets_zero_weight() {
        let w = balanced_class_weights(&[0, 0, 0, 2], 3);
        assert_eq!(w, vec![4.0 / 6.0, 0.0, 2.0]);
    }
}
