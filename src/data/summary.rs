//! `DatasetSummary`: what `cellscope info` shows about a dataset (shape, encoding, value kind,
//! obs columns with category counts, gene id kind, layers, raw, obsm), built from any reader.

use std::path::Path;

use serde::Serialize;

use super::h5ad::{Flavour, H5adFile, MatrixChoice, MatrixEncoding};
use super::preprocess::{ValueKind, detect_value_kind, validate_counts};
use super::{Column, ColumnValues, CsrMatrix, DataError, DataFormat, Dataset, data_format};

/// Most categories listed with their counts per column.
const MAX_LISTED: usize = 50;

/// Everything `cellscope info` reports.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    pub path: String,
    /// "h5ad", "zarr", "10x-h5" or "10x-mtx".
    pub format: String,
    /// AnnData generation (h5ad only).
    pub flavour: Option<Flavour>,
    pub n_cells: usize,
    pub n_genes: usize,
    pub x: MatrixSummary,
    pub obs: Vec<ColumnSummary>,
    /// obs columns not read, with the reason.
    pub obs_skipped: Vec<String>,
    pub var_id_kind: VarIdKind,
    /// First few gene names, for orientation.
    pub var_examples: Vec<String>,
    pub layers: Vec<String>,
    pub has_raw: bool,
    pub obsm: Vec<String>,
}

impl DatasetSummary {
    /// The report's headline lines (format, shape, X, genes, layers, raw, obsm, obs columns),
    /// shared by `cellscope info` and the UI's Data pane.
    pub fn overview(&self) -> Vec<(&'static str, String)> {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let flavour = self.flavour.map(|f| format!(", {f}")).unwrap_or_default();
        vec![
            ("format", format!("{}{flavour}", self.format)),
            (
                "shape",
                format!("{} cells x {} genes", self.n_cells, self.n_genes),
            ),
            (
                "X",
                format!(
                    "{} {}, {} stored values, {:.1}% zeros, {}",
                    self.x.encoding,
                    self.x.dtype,
                    self.x.nnz,
                    100.0 * self.x.sparsity,
                    self.x.value_kind
                ),
            ),
            (
                "genes",
                format!(
                    "{} (e.g. {})",
                    self.var_id_kind,
                    self.var_examples.join(", ")
                ),
            ),
            ("layers", list(&self.layers)),
            ("raw", if self.has_raw { "yes" } else { "no" }.to_string()),
            ("obsm", list(&self.obsm)),
            ("obs columns", self.obs.len().to_string()),
        ]
    }

    /// The matrices one can train on: "X", then "raw" and each layer as "layer:<name>".
    pub fn matrix_choices(&self) -> Vec<String> {
        let raw = self.has_raw.then(|| "raw".to_string());
        std::iter::once("X".to_string())
            .chain(raw)
            .chain(self.layers.iter().map(|l| format!("layer:{l}")))
            .collect()
    }
}

/// The expression matrix as stored.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixSummary {
    pub encoding: MatrixEncoding,
    pub dtype: String,
    pub nnz: usize,
    /// Fraction of zero entries.
    pub sparsity: f64,
    pub value_kind: ValueKind,
}

/// One obs column.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnSummary {
    pub name: String,
    /// "categorical", "string", "int", "float" or "bool".
    pub kind: String,
    /// The on-disk element encoding when the column is an encoded group (`categorical`,
    /// `nullable-integer`, `nullable-boolean`, `nullable-string-array`); None for plain arrays.
    pub stored_as: Option<String>,
    /// Distinct values (None for float columns).
    pub n_categories: Option<usize>,
    /// Entries with no value (missing category, NaN).
    pub missing: usize,
    /// Cells per value, largest first (at most 50 listed).
    pub counts: Vec<CategoryCount>,
}

/// Cells carrying one label.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CategoryCount {
    pub name: String,
    pub count: usize,
}

/// What the gene names are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VarIdKind {
    /// Gene symbols such as CD3E.
    Symbols,
    /// Ensembl ids such as ENSG00000167286.
    Ensembl,
    /// Some of each.
    Mixed,
}

impl std::fmt::Display for VarIdKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Symbols => "gene symbols",
            Self::Ensembl => "Ensembl ids",
            Self::Mixed => "mixed symbols and Ensembl ids",
        })
    }
}

/// Whether a name looks like an Ensembl gene id (ENSG..., ENSMUSG..., optional `.version`).
fn is_ensembl(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("ENS") else {
        return false;
    };
    let stem = rest.split('.').next().unwrap_or(rest);
    let digits = stem.trim_start_matches(|c: char| c.is_ascii_uppercase());
    stem.len() > digits.len()
        && stem[..stem.len() - digits.len()].ends_with('G')
        && digits.len() >= 5
        && digits.chars().all(|c| c.is_ascii_digit())
}

/// Classifies gene names as symbols, Ensembl ids or a mix.
pub fn var_id_kind(names: &[String]) -> VarIdKind {
    let ids = names.iter().filter(|n| is_ensembl(n)).count();
    let frac = ids as f64 / names.len().max(1) as f64;
    if frac >= 0.9 {
        VarIdKind::Ensembl
    } else if frac <= 0.1 {
        VarIdKind::Symbols
    } else {
        VarIdKind::Mixed
    }
}

/// Summarises one obs column.
pub fn summarize_column(col: &Column) -> ColumnSummary {
    let kind = match col.values {
        ColumnValues::Categorical { .. } => "categorical",
        ColumnValues::Str(_) => "string",
        ColumnValues::Int(_) => "int",
        ColumnValues::Float(_) => "float",
        ColumnValues::Bool(_) => "bool",
    };
    let (n_categories, missing, counts) = match (&col.values, col.as_labels()) {
        (ColumnValues::Float(v), _) => (None, v.iter().filter(|x| x.is_nan()).count(), vec![]),
        (_, Some((codes, names))) => {
            let mut tally = vec![0usize; names.len()];
            let mut missing = 0;
            for c in &codes {
                match c {
                    Some(k) => tally[*k] += 1,
                    None => missing += 1,
                }
            }
            let mut counts: Vec<CategoryCount> = names
                .into_iter()
                .zip(tally)
                .map(|(name, count)| CategoryCount { name, count })
                .collect();
            counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
            let n = counts.len();
            counts.truncate(MAX_LISTED);
            (Some(n), missing, counts)
        }
        (_, None) => (None, 0, vec![]),
    };
    ColumnSummary {
        name: col.name.clone(),
        kind: kind.into(),
        stored_as: None,
        n_categories,
        missing,
        counts,
    }
}

fn matrix_summary(x: &CsrMatrix, encoding: MatrixEncoding, dtype: String) -> MatrixSummary {
    let cells = x.n_rows as f64 * x.n_cols as f64;
    MatrixSummary {
        encoding,
        dtype,
        nnz: x.nnz(),
        sparsity: if cells > 0.0 {
            1.0 - x.nnz() as f64 / cells
        } else {
            1.0
        },
        value_kind: detect_value_kind(x),
    }
}

/// Reads a dataset's X and annotations and describes them. X must be non-empty and finite,
/// and integer-valued X (counts) must not be negative; scaled X (negative non-integers) is
/// described, not rejected.
pub fn summarize(path: &Path) -> Result<DatasetSummary, DataError> {
    match data_format(path)? {
        DataFormat::H5ad => summarize_anndata(path, "h5ad"),
        DataFormat::Zarr => summarize_anndata(path, "zarr"),
        format => {
            let ds = super::read_dataset(path, "X")?;
            let name = match format {
                DataFormat::TenxH5 => "10x-h5",
                _ => "10x-mtx",
            };
            // Cell Ranger stores genes x cells column-compressed (mtx: coordinates).
            let dtype = super::tenx::stored_dtype(path, format).unwrap_or_else(|| "unknown".into());
            Ok(from_dataset(&ds, name, MatrixEncoding::Csc, dtype))
        }
    }
}

fn from_dataset(
    ds: &Dataset,
    format: &str,
    encoding: MatrixEncoding,
    dtype: String,
) -> DatasetSummary {
    DatasetSummary {
        path: ds.path.display().to_string(),
        format: format.into(),
        flavour: None,
        n_cells: ds.n_cells(),
        n_genes: ds.n_genes(),
        x: matrix_summary(&ds.x, encoding, dtype),
        obs: ds.obs.iter().map(summarize_column).collect(),
        obs_skipped: vec![],
        var_id_kind: var_id_kind(&ds.var_names),
        var_examples: ds.var_names.iter().take(5).cloned().collect(),
        layers: vec![],
        has_raw: false,
        obsm: vec![],
    }
}

fn summarize_anndata(path: &Path, format: &str) -> Result<DatasetSummary, DataError> {
    let file = H5adFile::open(path)?;
    let element = file.matrix(&MatrixChoice::X)?;
    let x = file.read_matrix(&MatrixChoice::X)?;
    let scaled = detect_value_kind(&x) == ValueKind::Scaled && x.data.iter().all(|v| v.is_finite());
    if !scaled {
        validate_counts(&x, path)?;
    }
    let mut obs = file.obs()?;
    let stored_as = std::mem::take(&mut obs.stored_as);
    let var_names = file.var_names(&MatrixChoice::X)?;
    let mut summary = from_dataset(
        &Dataset {
            path: path.to_path_buf(),
            x,
            obs_names: obs.index,
            var_names,
            obs: obs.columns,
        },
        format,
        element.encoding,
        element.dtype.clone(),
    );
    for column in &mut summary.obs {
        column.stored_as = stored_as.get(&column.name).cloned();
    }
    summary.flavour = Some(file.flavour());
    summary.obs_skipped = obs.skipped;
    summary.layers = file.layers();
    summary.has_raw = file.has_raw();
    summary.obsm = file.obsm_keys();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensembl_ids_and_symbols_are_told_apart() {
        assert!(is_ensembl("ENSG00000167286"));
        assert!(is_ensembl("ENSMUSG00000026581.3"));
        assert!(!is_ensembl("CD3E"));
        assert!(!is_ensembl("ENSA"));
        let ids: Vec<String> = vec!["ENSG00000167286".into(); 10];
        assert_eq!(var_id_kind(&ids), VarIdKind::Ensembl);
        assert_eq!(var_id_kind(&["CD3E".to_string()]), VarIdKind::Symbols);
    }

    #[test]
    fn category_counts_are_sorted_and_missing_counted() {
        let col = Column {
            name: "t".into(),
            values: ColumnValues::Categorical {
                codes: vec![0, 1, 1, -1],
                categories: vec!["a".into(), "b".into()],
            },
        };
        let s = summarize_column(&col);
        assert_eq!(s.n_categories, Some(2));
        assert_eq!(s.missing, 1);
        assert_eq!(
            s.counts[0],
            CategoryCount {
                name: "b".into(),
                count: 2
            }
        );
    }
}
