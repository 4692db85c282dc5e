//! The AnnData reader: `.h5ad` files in every on-disk flavour from anndata 0.6 to 0.12 and
//! `.zarr` stores (zarr v2 and v3), X / raw / layers selectable, row-range reads for streaming.
//! Inputs are always opened read-only.

pub(crate) mod frame;
pub mod fresh;
pub(crate) mod hdf;
mod hdf_store;
pub(crate) mod matrix;
pub(crate) mod store;
pub mod write;

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use frame::Frame;
pub use matrix::MatrixEncoding;
pub(crate) use matrix::{ElementError, MatrixElement};

use crate::data::{CsrMatrix, DataError, Dataset};
use hdf::Msg;
use store::Store;

/// Which generation of the AnnData on-disk format a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavour {
    /// anndata < 0.7: compound obs/var records, `uns/<col>_categories`, `raw.X`.
    Legacy,
    /// anndata 0.7: dataframe groups, categories in `__categories`.
    Anndata07,
    /// anndata >= 0.8: root `encoding-type = anndata`, categorical groups.
    Modern,
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Legacy => "anndata < 0.7 (compound obs/var records)",
            Self::Anndata07 => "anndata 0.7 (dataframe groups, __categories)",
            Self::Modern => "anndata >= 0.8 (encoded elements)",
        })
    }
}

/// Which matrix of the file to use: `X`, `raw` or `layer:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatrixChoice {
    X,
    Raw,
    Layer(String),
}

impl MatrixChoice {
    /// Parses `X`, `raw` or `layer:NAME`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "X" | "x" => Ok(Self::X),
            "raw" => Ok(Self::Raw),
            _ => match s.strip_prefix("layer:") {
                Some(name) if !name.is_empty() => Ok(Self::Layer(name.to_string())),
                _ => Err(format!("unknown matrix `{s}` (use X, raw or layer:NAME)")),
            },
        }
    }
}

/// An open AnnData input: an `.h5ad` file or a `.zarr` store.
pub struct H5adFile {
    path: PathBuf,
    store: Box<dyn Store>,
    flavour: Flavour,
    n_obs: usize,
    n_vars: usize,
}

impl H5adFile {
    /// Opens a file (or zarr store) read-only and reads its shape (from X, else from obs/var).
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let store: Box<dyn Store> = if crate::data::zarr::is_store(path) {
            Box::new(crate::data::zarr::ZarrStore::open(path)?)
        } else {
            Box::new(hdf::open_read_only(path)?)
        };
        let fail = |what: Msg| DataError::Invalid {
            path: path.to_path_buf(),
            what,
        };
        if store.kind("/obs").is_none() {
            return Err(fail("not an AnnData file: it has no `obs`".into()));
        }
        let flavour = if store.attr_string("/", "encoding-type").as_deref() == Some("anndata") {
            Flavour::Modern
        } else if store.is_group("/obs") {
            Flavour::Anndata07
        } else {
            Flavour::Legacy
        };
        let mut this = Self {
            path: path.to_path_buf(),
            store,
            flavour,
            n_obs: 0,
            n_vars: 0,
        };
        // The annotations' lengths bound every declared size, so a corrupt shape attribute
        // cannot make us allocate for cells or genes that are not there.
        let n_obs = frame::frame_len(this.store(), "/obs").map_err(fail)?;
        let n_vars = frame::frame_len(this.store(), "/var").map_err(fail)?;
        if let Some(x) = this.element("/X") {
            let x = x.map_err(|e| this.element_error(e))?;
            if x.shape != (n_obs, n_vars) {
                return Err(this.invalid(format!(
                    "X is {} x {} but obs has {n_obs} rows and var {n_vars}",
                    x.shape.0, x.shape.1
                )));
            }
        }
        (this.n_obs, this.n_vars) = (n_obs, n_vars);
        Ok(this)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store the elements are read from.
    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The on-disk format generation.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// Number of cells.
    pub fn n_obs(&self) -> usize {
        self.n_obs
    }

    /// Number of genes (of X).
    pub fn n_vars(&self) -> usize {
        self.n_vars
    }

    /// Whether the file has raw counts (`raw/X` or legacy `raw.X`).
    pub fn has_raw(&self) -> bool {
        self.raw_x_path().is_some()
    }

    /// Names of the matrices under `layers/`.
    pub fn layers(&self) -> Vec<String> {
        self.store.members("/layers")
    }

    /// Keys of `obsm` (embeddings); legacy files store them as fields of one record array.
    pub fn obsm_keys(&self) -> Vec<String> {
        if self.store.is_array("/obsm") {
            return self.store.record_fields("/obsm");
        }
        self.store.members("/obsm")
    }

    /// The dense 2-D `obsm` arrays as f32, and the keys left out (sparse or dataframe
    /// elements, legacy record arrays) with why.
    pub fn obsm_dense(&self) -> (Vec<(String, ndarray::Array2<f32>)>, Vec<String>) {
        if self.store.is_array("/obsm") {
            let skipped = self
                .obsm_keys()
                .into_iter()
                .map(|k| format!("{k}: a field of a legacy obsm record array"))
                .collect();
            return (Vec::new(), skipped);
        }
        let (mut arrays, mut skipped) = (Vec::new(), Vec::new());
        for key in self.obsm_keys() {
            let path = format!("/obsm/{key}");
            let read = self
                .store
                .shape(&path)
                .ok()
                .filter(|shape| shape.len() == 2 && shape[0] == self.n_obs)
                .and_then(|shape| {
                    let values = self.store.f32_rows(&path, 0..shape[0], shape[1]).ok()?;
                    ndarray::Array2::from_shape_vec((shape[0], shape[1]), values).ok()
                });
            match read {
                Some(a) => arrays.push((key, a)),
                None => skipped.push(format!("{key}: not a dense numeric cells x k array")),
            }
        }
        (arrays, skipped)
    }

    /// Reads rows `range` of X as CSR (only that part of a CSR X is read from disk).
    pub fn read_x_rows(&self, range: Range<usize>) -> Result<CsrMatrix, DataError> {
        let x = self.matrix(&MatrixChoice::X)?;
        x.read_rows(self.store(), range)
            .map_err(|what| self.invalid(what))
    }

    /// Bytes X takes in memory as CSR (8 per stored value plus the row pointers), and whether
    /// its rows can be read block by block (not CSC).
    pub fn x_memory(&self) -> Result<(u64, bool), DataError> {
        let x = self.matrix(&MatrixChoice::X)?;
        let bytes = 8 * (x.n_stored(self.store()) as u64 + x.shape.0 as u64 + 1);
        Ok((bytes, x.row_readable()))
    }

    /// Reads the chosen matrix whole.
    pub fn read_matrix(&self, choice: &MatrixChoice) -> Result<CsrMatrix, DataError> {
        let m = self.matrix(choice)?;
        m.read_all(self.store()).map_err(|what| self.invalid(what))
    }

    /// Reads the obs dataframe (cell annotations).
    pub fn obs(&self) -> Result<Frame, DataError> {
        frame::read_frame(self.store(), "/obs").map_err(|what| self.invalid(what))
    }

    /// Reads the var dataframe (gene annotations of X).
    pub fn var(&self) -> Result<Frame, DataError> {
        frame::read_frame(self.store(), "/var").map_err(|what| self.invalid(what))
    }

    /// The gene names that label the columns of the chosen matrix (raw has its own var).
    pub fn var_names(&self, choice: &MatrixChoice) -> Result<Vec<String>, DataError> {
        let var = match choice {
            MatrixChoice::Raw if self.store.is_group("/raw/var") => "/raw/var",
            MatrixChoice::Raw if self.store.is_array("/raw.var") => "/raw.var",
            _ => "/var",
        };
        frame::read_frame(self.store(), var)
            .map(|f| f.index)
            .map_err(|what| self.invalid(what))
    }

    /// Reads the chosen matrix with its cell and gene annotations.
    pub fn read_dataset(&self, choice: &MatrixChoice) -> Result<Dataset, DataError> {
        let x = self.read_matrix(choice)?;
        let obs = self.obs()?;
        let var_names = self.var_names(choice)?;
        if obs.index.len() != x.n_rows || var_names.len() != x.n_cols {
            return Err(self.invalid(format!(
                "matrix is {} x {} but obs has {} rows and var {}",
                x.n_rows,
                x.n_cols,
                obs.index.len(),
                var_names.len()
            )));
        }
        Ok(Dataset {
            path: self.path.clone(),
            x,
            obs_names: obs.index,
            var_names,
            obs: obs.columns,
        })
    }

    /// Locates the chosen matrix, with a clear error when it is absent.
    pub(crate) fn matrix(&self, choice: &MatrixChoice) -> Result<MatrixElement, DataError> {
        let name = match choice {
            MatrixChoice::X => "/X".to_string(),
            MatrixChoice::Raw => self.raw_x_path().ok_or_else(|| {
                self.invalid("no raw matrix (neither raw/X nor raw.X) in this file".into())
            })?,
            MatrixChoice::Layer(l) => format!("/layers/{l}"),
        };
        match self.element(&name) {
            Some(m) => {
                let m = m.map_err(|e| self.element_error(e))?;
                let n_vars = match choice {
                    MatrixChoice::Raw => {
                        let var = if self.store.is_array("/raw.var") {
                            "/raw.var"
                        } else {
                            "/raw/var"
                        };
                        frame::frame_len(self.store(), var).map_err(|what| self.invalid(what))?
                    }
                    _ => self.n_vars,
                };
                if m.shape != (self.n_obs, n_vars) {
                    return Err(self.invalid(format!(
                        "{name} is {} x {} but the file has {} cells and {n_vars} genes for it",
                        m.shape.0, m.shape.1, self.n_obs
                    )));
                }
                Ok(m)
            }
            None => Err(self.invalid(match choice {
                MatrixChoice::X => {
                    let mut alternatives = Vec::new();
                    if self.has_raw() {
                        alternatives.push("raw".to_string());
                    }
                    alternatives.extend(self.layers().iter().map(|l| format!("layer:{l}")));
                    if alternatives.is_empty() {
                        "no X matrix: this file holds only annotations (obs/var), no expression values".into()
                    } else {
                        format!(
                            "no X matrix; choose one of: {}",
                            alternatives.join(", ")
                        )
                    }
                }
                _ => format!(
                    "no layer `{name}`; layers are: [{}]",
                    self.layers().join(", ")
                ),
            })),
        }
    }

    /// A summary of the chosen matrix without reading its values.
    pub(crate) fn element(&self, name: &str) -> Option<Result<MatrixElement, ElementError>> {
        match self.store.kind(name)? {
            store::NodeKind::Array => Some(MatrixElement::dense(self.store(), name)),
            store::NodeKind::Group => Some(MatrixElement::sparse(self.store(), name, None)),
        }
    }

    fn raw_x_path(&self) -> Option<String> {
        ["/raw/X", "/raw.X"]
            .into_iter()
            .find(|p| self.store.kind(p).is_some())
            .map(str::to_string)
    }

    fn invalid(&self, what: Msg) -> DataError {
        DataError::Invalid {
            path: self.path.clone(),
            what,
        }
    }

    fn element_error(&self, e: ElementError) -> DataError {
        match e {
            ElementError::Invalid(what) => self.invalid(what),
            ElementError::Unsupported { group, what } => DataError::Unsupported {
                path: self.path.clone(),
                group,
                what,
            },
        }
    }
}
