//! Data I/O and preprocessing: `.h5ad` and Cell Ranger readers, the expression matrix,
//! cell annotations, scanpy-compatible preprocessing and gene sets. Knows nothing of models or UI.

pub mod genesets;
pub mod matrix;
pub mod synthetic;
pub mod table;

pub use matrix::CsrMatrix;
pub use table::{Column, ColumnValues};

use std::path::PathBuf;

/// Everything that can go wrong while reading or checking input data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: no such file")]
    Missing { path: PathBuf },
    #[error("{path}: not an HDF5 file (or truncated/corrupt): {detail}")]
    NotHdf5 { path: PathBuf, detail: String },
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
    #[error("{path}: unsupported encoding at {group}: {what}")]
    Unsupported {
        path: PathBuf,
        group: String,
        what: String,
    },
    #[error("inconsistent matrix: {0}")]
    Inconsistent(String),
}

/// A loaded dataset: the chosen expression matrix with its cell and gene annotations.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where it was read from.
    pub path: PathBuf,
    /// Cells x genes.
    pub x: CsrMatrix,
    /// Cell barcodes / obs index.
    pub obs_names: Vec<String>,
    /// Gene names as stored in the var index (symbols or ids).
    pub var_names: Vec<String>,
    /// Cell annotations (obs columns).
    pub obs: Vec<Column>,
}

impl Dataset {
    /// Number of cells.
    pub fn n_cells(&self) -> usize {
        self.x.n_rows
    }

    /// Number of genes.
    pub fn n_genes(&self) -> usize {
        self.x.n_cols
    }

    /// The obs column with this name, if any.
    pub fn obs_column(&self, name: &str) -> Option<&Column> {
        self.obs.iter().find(|c| c.name == name)
    }
}
