//! scanpy-compatible preprocessing: count checks, normalize_total, log1p, seurat_v3 highly
//! variable genes, alignment to a reference gene list, and the `prepare` pipeline models use.

pub mod hvg;
pub mod loess;
pub mod scan;

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

pub use hvg::highly_variable_genes_seurat_v3;
pub use scan::{KindScan, Moments, RowBlocks, Whole};

use crate::config::PreprocessConfig;
use crate::data::{CsrMatrix, DataError, Dataset};

/// What the values of a matrix look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// Non-negative integers.
    RawCounts,
    /// Non-integer values above the log range (e.g. normalize_total without log1p).
    Normalized,
    /// Non-integer values with a maximum below ~20 (log1p of normalized counts).
    LogNormalized,
    /// Non-integer values with negative entries (scaled / centred data, not usable as counts).
    Scaled,
}

impl std::fmt::Display for ValueKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::RawCounts => "raw counts",
            Self::Normalized => "normalized (not log-transformed)",
            Self::LogNormalized => "log-normalized",
            Self::Scaled => "scaled (negative values; not counts)",
        })
    }
}

/// Largest value still taken as log-scale: log1p(1e4 * cell fraction) stays well below it.
const LOG_MAX: f32 = 20.0;

/// Guesses whether values are counts, normalized, log-normalized or scaled.
pub fn detect_value_kind(x: &CsrMatrix) -> ValueKind {
    let mut scan = KindScan::default();
    scan.add(x);
    scan.kind()
}

/// Rejects an empty matrix, NaN/infinite values and negative values, naming the file and
/// where the first offending value sits.
pub fn validate_counts(x: &CsrMatrix, path: &Path) -> Result<(), DataError> {
    let fail = |what: String| {
        Err(DataError::Invalid {
            path: path.to_path_buf(),
            what,
        })
    };
    if x.n_rows == 0 || x.n_cols == 0 {
        return fail(format!(
            "empty matrix ({} cells x {} genes)",
            x.n_rows, x.n_cols
        ));
    }
    let locate = |pos: usize| {
        let row = x.indptr.partition_point(|&p| p <= pos) - 1;
        (row, x.indices[pos])
    };
    let report = |what: &str, bad: Vec<usize>| {
        let (row, col) = locate(bad[0]);
        let rows = bad
            .iter()
            .map(|&p| locate(p).0)
            .collect::<std::collections::BTreeSet<_>>();
        let cols = bad
            .iter()
            .map(|&p| locate(p).1)
            .collect::<std::collections::BTreeSet<_>>();
        format!(
            "{} {what} values in the matrix ({} cells, {} genes affected; first at cell {row}, gene {col})",
            bad.len(),
            rows.len(),
            cols.len()
        )
    };
    let non_finite: Vec<usize> = (0..x.nnz()).filter(|&p| !x.data[p].is_finite()).collect();
    if !non_finite.is_empty() {
        return fail(report("NaN or infinite", non_finite));
    }
    let negative: Vec<usize> = (0..x.nnz()).filter(|&p| x.data[p] < 0.0).collect();
    if !negative.is_empty() {
        return fail(report("negative", negative));
    }
    Ok(())
}

/// Scales each cell to `target_sum` total counts (cells with no counts stay zero), as
/// `sc.pp.normalize_total(adata, target_sum)`.
pub fn normalize_total(x: &mut CsrMatrix, target_sum: f64) {
    let totals = row_totals(x);
    scale_to_totals(x, &totals, target_sum);
}

/// Each row's sum of values (its library size, for counts).
fn row_totals(x: &CsrMatrix) -> Vec<f64> {
    (0..x.n_rows)
        .map(|i| x.row(i).1.iter().map(|&v| f64::from(v)).sum())
        .collect()
}

/// Divides row i by `totals[i] / target_sum` (rows with a zero total stay as they are).
fn scale_to_totals(x: &mut CsrMatrix, totals: &[f64], target_sum: f64) {
    for (i, &total) in totals.iter().enumerate() {
        if total > 0.0 {
            let divisor = total / target_sum;
            for v in &mut x.data[x.indptr[i]..x.indptr[i + 1]] {
                *v = (f64::from(*v) / divisor) as f32;
            }
        }
    }
}

/// Natural log of 1 + x, in place (`sc.pp.log1p`).
pub fn log1p(x: &mut CsrMatrix) {
    for v in &mut x.data {
        *v = f64::from(*v).ln_1p() as f32;
    }
}

/// Per-gene summary for the gene list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GeneStat {
    /// Mean value over cells.
    pub mean: f64,
    /// Fraction of cells with a non-zero value.
    pub detection_rate: f64,
    /// Variance over cells (ddof 1, as scanpy).
    pub variance: f64,
}

/// Mean, detection rate and variance of each gene (column).
pub fn gene_stats(x: &CsrMatrix) -> Vec<GeneStat> {
    let mut moments = Moments::new(x.n_cols);
    moments.add(x);
    moments.stats()
}

/// How a dataset's genes were mapped onto a reference list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GeneAlignment {
    /// Reference genes found in the data.
    pub matched: usize,
    /// Reference genes absent from the data (zero-filled).
    pub missing: usize,
    /// Data genes not in the reference (dropped).
    pub extra: usize,
}

/// Matching key of a gene name: case-insensitive, Ensembl version suffix (`.N`) removed.
fn gene_key(name: &str) -> String {
    let upper = name.trim().to_uppercase();
    match upper.split_once('.') {
        Some((stem, version))
            if stem.starts_with("ENS") && version.chars().all(|c| c.is_ascii_digit()) =>
        {
            stem.to_string()
        }
        _ => upper,
    }
}

/// Reorders columns to `reference` (matched case-insensitively by symbol or Ensembl id,
/// ignoring id versions); reference genes absent from the data become zero columns.
pub fn align_genes(
    x: &CsrMatrix,
    var_names: &[String],
    reference: &[String],
) -> (CsrMatrix, GeneAlignment) {
    let (target, alignment) = gene_targets(var_names, reference);
    (remap_columns(x, &target, reference.len()), alignment)
}

/// The new column of each data gene in `reference` order (None = dropped), and the counts.
fn gene_targets(var_names: &[String], reference: &[String]) -> (Vec<Option<u32>>, GeneAlignment) {
    let mut position: HashMap<String, usize> = HashMap::new();
    for (j, name) in var_names.iter().enumerate() {
        position.entry(gene_key(name)).or_insert(j);
    }
    let mut target = vec![None; var_names.len()];
    let mut matched = 0;
    for (k, name) in reference.iter().enumerate() {
        if let Some(&j) = position
            .get(&gene_key(name))
            .filter(|&&j| target[j].is_none())
        {
            target[j] = Some(k as u32);
            matched += 1;
        }
    }
    let kept = target.iter().filter(|t| t.is_some()).count();
    let alignment = GeneAlignment {
        matched,
        missing: reference.len() - matched,
        extra: var_names.len() - kept,
    };
    (target, alignment)
}

/// Moves each column j to `target[j]` (dropping None) in a matrix of `n_cols` columns.
fn remap_columns(x: &CsrMatrix, target: &[Option<u32>], n_cols: usize) -> CsrMatrix {
    let mut indptr = Vec::with_capacity(x.n_rows + 1);
    indptr.push(0);
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    let mut row: Vec<(u32, f32)> = Vec::new();
    for i in 0..x.n_rows {
        let (idx, val) = x.row(i);
        row.clear();
        row.extend(
            idx.iter()
                .zip(val)
                .filter_map(|(&j, &v)| target[j as usize].map(|k| (k, v))),
        );
        row.sort_unstable_by_key(|e| e.0);
        indices.extend(row.iter().map(|e| e.0));
        data.extend(row.iter().map(|e| e.1));
        indptr.push(data.len());
    }
    CsrMatrix {
        n_rows: x.n_rows,
        n_cols,
        indptr,
        indices,
        data,
    }
}

/// A matrix ready for a model: selected genes, normalize_total + log1p applied.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Cells x selected genes, normalized and log-transformed.
    pub x: CsrMatrix,
    /// The selected genes, in column order.
    pub genes: Vec<String>,
    /// How the data mapped onto a given gene list (None when genes were selected here).
    pub alignment: Option<GeneAlignment>,
    /// What was done or skipped, for the user.
    pub notes: Vec<String>,
}

/// Chooses genes on counts (align to `genes`, else the top `n_top_genes` seurat_v3 HVGs,
/// 0 = all), applies normalize_total(target_sum) + log1p over every gene of the dataset unless
/// already applied, then keeps the chosen genes (missing reference genes zero-filled).
pub fn prepare(
    dataset: &Dataset,
    cfg: &PreprocessConfig,
    genes: Option<&[String]>,
) -> Result<Prepared, DataError> {
    let plan = PrepPlan::scan(
        &mut Whole(&dataset.x),
        &dataset.var_names,
        cfg,
        genes,
        &dataset.path,
    )?;
    Ok(Prepared {
        x: plan.apply(&dataset.x),
        genes: plan.genes,
        alignment: plan.alignment,
        notes: plan.notes,
    })
}

/// What `prepare` does to any rows of a dataset, decided from whole-matrix passes over its
/// blocks (checks, value kind, HVG statistics); `apply` then works on any row block alone.
#[derive(Debug, Clone)]
pub struct PrepPlan {
    /// The selected genes, in column order.
    pub genes: Vec<String>,
    /// How the data mapped onto a given gene list (None when genes were selected here).
    pub alignment: Option<GeneAlignment>,
    /// What was done or skipped, for the user.
    pub notes: Vec<String>,
    /// New column of each data column (None = dropped); None = keep all columns.
    target: Option<Vec<Option<u32>>>,
    kind: ValueKind,
    target_sum: f64,
    log1p: bool,
}

impl PrepPlan {
    /// Validates the counts and decides the gene selection and transforms (two passes over
    /// `blocks`, three when highly variable genes are selected).
    pub fn scan(
        blocks: &mut dyn RowBlocks,
        var_names: &[String],
        cfg: &PreprocessConfig,
        genes: Option<&[String]>,
        path: &Path,
    ) -> Result<Self, DataError> {
        if cfg.target_sum.is_nan() || cfg.target_sum <= 0.0 {
            return Err(DataError::Invalid {
                path: path.to_path_buf(),
                what: format!("preprocess.target_sum must be > 0, got {}", cfg.target_sum),
            });
        }
        let n_genes = blocks.n_cols();
        let mut kinds = KindScan::default();
        let mut moments = Moments::new(n_genes);
        let want_hvg = genes.is_none() && cfg.n_top_genes > 0 && cfg.n_top_genes < n_genes;
        blocks.for_each_block(&mut |start, block| {
            validate_block(block, start, path)?;
            kinds.add(block);
            if want_hvg {
                moments.add(block);
            }
            Ok(())
        })?;
        let kind = kinds.kind();
        let mut notes = vec![format!("input values look like {kind}")];
        let (target, names, alignment) = match genes {
            Some(reference) => {
                let (target, a) = gene_targets(var_names, reference);
                notes.push(format!(
                    "aligned to {} reference genes: {} matched, {} missing (zero-filled), {} dropped",
                    reference.len(),
                    a.matched,
                    a.missing,
                    a.extra
                ));
                (Some(target), reference.to_vec(), Some(a))
            }
            None if want_hvg => {
                if kind != ValueKind::RawCounts {
                    notes
                        .push("seurat_v3 expects counts; ranking genes on the given values".into());
                }
                let mut top = hvg::top_genes_seurat_v3(blocks, &moments, cfg.n_top_genes)?;
                top.sort_unstable();
                notes.push(format!(
                    "selected {} highly variable genes (seurat_v3) of {}",
                    top.len(),
                    n_genes
                ));
                let mut target = vec![None; n_genes];
                for (k, &j) in top.iter().enumerate() {
                    target[j] = Some(k as u32);
                }
                let names = top.iter().map(|&j| var_names[j].clone()).collect();
                (Some(target), names, None)
            }
            None => (None, var_names.to_vec(), None),
        };
        match kind {
            ValueKind::RawCounts => notes.push(format!(
                "normalize_total({}) over all {n_genes} genes of the dataset, then log1p, then the gene subset",
                cfg.target_sum
            )),
            ValueKind::Normalized => {
                notes.push("already normalized: normalize_total skipped".into());
            }
            ValueKind::LogNormalized | ValueKind::Scaled => {
                notes.push(format!("already {kind}: normalize_total and log1p skipped"));
            }
        }
        Ok(Self {
            genes: names,
            alignment,
            notes,
            target,
            kind,
            target_sum: cfg.target_sum,
            log1p: cfg.log1p,
        })
    }

    /// Normalises a block of counts over all of the dataset's own genes, log-transforms it,
    /// then selects (or maps onto) the planned genes, as scanpy's usual workflow does: the
    /// subset is never renormalised, so a cell's scale does not depend on which genes were kept.
    pub fn apply(&self, counts: &CsrMatrix) -> CsrMatrix {
        // Library sizes over every gene, taken before the subset; only kept values are then
        // scaled and logged.
        let totals = (self.kind == ValueKind::RawCounts).then(|| row_totals(counts));
        let mut x = match &self.target {
            Some(target) => remap_columns(counts, target, self.genes.len()),
            None => counts.clone(),
        };
        if let Some(totals) = &totals {
            scale_to_totals(&mut x, totals, self.target_sum);
        }
        if self.log1p && matches!(self.kind, ValueKind::RawCounts | ValueKind::Normalized) {
            log1p(&mut x);
        }
        x
    }
}

/// `validate_counts` on a block whose first row is `start` (an empty block is fine unless it
/// is the whole matrix); messages name the block's rows.
fn validate_block(block: &CsrMatrix, start: usize, path: &Path) -> Result<(), DataError> {
    if start > 0 && block.n_rows == 0 {
        return Ok(());
    }
    validate_counts(block, path).map_err(|e| match e {
        DataError::Invalid { path, what } if start > 0 => DataError::Invalid {
            path,
            what: format!("{what} (in the block of rows from {start})"),
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `prepare` on a two-cell, two-gene dataset, keeping every gene.
    fn prepare_all_genes(x: CsrMatrix) -> Prepared {
        let ds = Dataset {
            path: "t".into(),
            x,
            obs_names: vec!["a".into(), "b".into()],
            var_names: vec!["g1".into(), "g2".into()],
            obs: vec![],
        };
        let cfg = PreprocessConfig {
            n_top_genes: 0,
            ..PreprocessConfig::default()
        };
        prepare(&ds, &cfg, None).unwrap()
    }

    fn m(rows: &[&[f32]]) -> CsrMatrix {
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        CsrMatrix::from_dense(rows.len(), rows[0].len(), &flat)
    }

    #[test]
    fn normalize_total_scales_rows_and_keeps_empty_rows() {
        let mut x = m(&[&[1.0, 3.0], &[0.0, 0.0]]);
        normalize_total(&mut x, 100.0);
        assert_eq!(x.row(0).1, &[25.0, 75.0]);
        assert_eq!(x.nnz(), 2);
    }

    #[test]
    fn zero_count_cells_stay_zero_through_prepare() {
        let p = prepare_all_genes(m(&[&[0.0, 0.0], &[2.0, 6.0]]));
        assert!(p.x.data.iter().all(|v| v.is_finite()), "{:?}", p.x.data);
        assert_eq!(p.x.row(0).1.len(), 0, "an empty cell stays empty");
        let mut dense = vec![1.0; 2];
        p.x.densify_rows(&[0], &mut dense);
        assert_eq!(dense, [0.0, 0.0]);
    }

    #[test]
    fn value_kinds_are_told_apart() {
        assert_eq!(detect_value_kind(&m(&[&[1.0, 3.0]])), ValueKind::RawCounts);
        assert_eq!(
            detect_value_kind(&m(&[&[0.5, 3.2]])),
            ValueKind::LogNormalized
        );
        assert_eq!(
            detect_value_kind(&m(&[&[25.5, 74.5]])),
            ValueKind::Normalized
        );
        assert_eq!(detect_value_kind(&m(&[&[-0.5, 1.2]])), ValueKind::Scaled);
    }

    #[test]
    fn validation_names_the_problem() {
        let p = Path::new("f.h5ad");
        let nan = validate_counts(&m(&[&[1.0, f32::NAN]]), p)
            .unwrap_err()
            .to_string();
        assert!(
            nan.contains("f.h5ad") && nan.contains("NaN") && nan.contains("gene 1"),
            "{nan}"
        );
        let many = m(&[
            &[f32::NAN, 1.0, f32::INFINITY],
            &[0.0, 1.0, 2.0],
            &[f32::NEG_INFINITY, 0.0, 1.0],
        ]);
        let many = validate_counts(&many, p).unwrap_err().to_string();
        assert!(
            many.contains("3 NaN or infinite values")
                && many.contains("2 cells, 2 genes affected")
                && many.contains("first at cell 0, gene 0"),
            "{many}"
        );
        let neg = validate_counts(&m(&[&[1.0], &[-2.0]]), p)
            .unwrap_err()
            .to_string();
        assert!(neg.contains("negative") && neg.contains("cell 1"), "{neg}");
        let empty = CsrMatrix::from_dense(0, 3, &[]);
        assert!(
            validate_counts(&empty, p)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn alignment_matches_case_and_versions_and_zero_fills() {
        let x = m(&[&[1.0, 2.0, 3.0]]);
        let names: Vec<String> = ["cd3e", "ENSG0001.4", "XIST"].map(String::from).to_vec();
        let reference: Vec<String> = ["ENSG0001", "CD3E", "MISSING"].map(String::from).to_vec();
        let (a, info) = align_genes(&x, &names, &reference);
        let mut dense = vec![0.0; 3];
        a.densify_rows(&[0], &mut dense);
        assert_eq!(dense, [2.0, 1.0, 0.0]);
        assert_eq!(
            info,
            GeneAlignment {
                matched: 2,
                missing: 1,
                extra: 1
            }
        );
    }

    #[test]
    fn prepare_never_logs_twice() {
        let mut x = m(&[&[1.0, 3.0], &[2.0, 2.0]]);
        normalize_total(&mut x, 1e4);
        log1p(&mut x);
        let p = prepare_all_genes(x.clone());
        assert_eq!(p.x, x);
        assert!(
            p.notes.iter().any(|n| n.contains("log1p skipped")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn gene_stats_match_hand_values() {
        let s = gene_stats(&m(&[&[1.0, 0.0], &[3.0, 0.0]]));
        assert_eq!(s[0].mean, 2.0);
        assert_eq!(s[0].variance, 2.0);
        assert_eq!(s[0].detection_rate, 1.0);
        assert_eq!(s[1].detection_rate, 0.0);
    }
}
