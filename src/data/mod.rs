//! Data I/O and preprocessing: `.h5ad`, `.zarr` and Cell Ranger readers, the expression matrix,
//! cell annotations, scanpy-compatible preprocessing and gene sets. Knows nothing of models or UI.

pub mod csc;
pub mod genesets;
pub mod h5ad;
pub mod matrix;
pub mod preprocess;
pub mod probe;
pub mod stream;
pub mod summary;
pub mod synthetic;
pub mod table;
pub mod tenx;
pub mod zarr;

pub use csc::CscMatrix;
pub use matrix::CsrMatrix;
pub use preprocess::{
    GeneAlignment, GeneStat, Prepared, ValueKind, align_genes, detect_value_kind, gene_stats,
    highly_variable_genes_seurat_v3, log1p, normalize_total, prepare, validate_counts,
};
pub use summary::{DatasetSummary, summarize};
pub use table::{Column, ColumnValues};

use std::path::{Path, PathBuf};

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
    #[error("{path}: the file is corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },
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

/// The kinds of input files cellscope reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// AnnData .h5ad (any version).
    H5ad,
    /// AnnData .zarr store (a directory, zarr v2 or v3).
    Zarr,
    /// Cell Ranger filtered_*_bc_matrix.h5.
    TenxH5,
    /// Cell Ranger mtx folder.
    TenxMtx,
}

impl DataFormat {
    /// Whether this is an AnnData input (`.h5ad` or `.zarr`), with obs/var, layers and obsm.
    pub fn is_anndata(self) -> bool {
        matches!(self, Self::H5ad | Self::Zarr)
    }
}

/// Tells the format of `path`: a folder with zarr metadata is an AnnData zarr store (a
/// `*.zarr` folder without it is an error); another folder (or a matrix.mtx inside one) is a
/// Cell Ranger mtx folder; an HDF5 file is AnnData when it has `obs`, Cell Ranger when it has
/// matrix groups.
pub fn data_format(path: &Path) -> Result<DataFormat, DataError> {
    if zarr::is_store(path) {
        return Ok(DataFormat::Zarr);
    }
    if path.is_dir() && zarr::looks_like_store(path) {
        return Err(zarr::not_a_store(path));
    }
    let mtx_file = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("matrix.mtx"));
    if path.is_dir() || mtx_file {
        return Ok(DataFormat::TenxMtx);
    }
    let file = h5ad::hdf::open_read_only(path)?;
    if file.link_exists("obs") {
        Ok(DataFormat::H5ad)
    } else if tenx::is_tenx_h5(&file) {
        Ok(DataFormat::TenxH5)
    } else {
        Err(DataError::Invalid {
            path: path.to_path_buf(),
            what: "an HDF5 file that is neither AnnData (no obs) nor a Cell Ranger matrix".into(),
        })
    }
}

/// Reads a dataset (.h5ad, .zarr store, Cell Ranger .h5 or mtx folder) with the chosen matrix
/// (`X`, `raw` or `layer:NAME`; Cell Ranger files only have `X`), checking the values are
/// finite and non-negative and the matrix is not empty.
pub fn read_dataset(path: &Path, matrix: &str) -> Result<Dataset, DataError> {
    let choice = h5ad::MatrixChoice::parse(matrix).map_err(|what| DataError::Invalid {
        path: path.to_path_buf(),
        what,
    })?;
    let format = data_format(path)?;
    if !format.is_anndata() && choice != h5ad::MatrixChoice::X {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            what: format!("Cell Ranger outputs have one matrix; `{matrix}` is not available"),
        });
    }
    let dataset = match format {
        DataFormat::H5ad | DataFormat::Zarr => h5ad::H5adFile::open(path)?.read_dataset(&choice)?,
        DataFormat::TenxH5 => tenx::read_tenx_h5(path)?,
        DataFormat::TenxMtx => tenx::read_mtx_dir(path)?,
    };
    validate_counts(&dataset.x, path)?;
    Ok(dataset)
}
