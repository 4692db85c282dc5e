//! One expression matrix inside an HDF5 file (X, raw/X, layers/NAME, a 10x matrix): dense,
//! CSR or CSC with any numeric dtype, read whole or by row range, sizes checked before allocating.

use std::ops::Range;

use hdf5::types::TypeDescriptor;
use hdf5::{Dataset, Group};
use ndarray::s;
use serde::Serialize;

use super::hdf::{Msg, at, attr_ints, attr_string, descriptor};
use crate::data::CsrMatrix;

/// Elements read per HDF5 call when streaming indices or dense rows (bounds temporary memory).
const CHUNK: usize = 1 << 20;

/// How a matrix is laid out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatrixEncoding {
    Csr,
    Csc,
    Dense,
}

impl std::fmt::Display for MatrixEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Csr => "csr",
            Self::Csc => "csc",
            Self::Dense => "dense",
        })
    }
}

/// A matrix found in the file, not yet read.
#[derive(Debug, Clone)]
pub(crate) struct MatrixElement {
    /// Where it lives (for messages).
    pub name: String,
    pub encoding: MatrixEncoding,
    /// Rows x columns as stored (cells x genes for AnnData).
    pub shape: (usize, usize),
    /// The stored value type, e.g. "float32".
    pub dtype: String,
    node: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Dense(Dataset),
    Sparse(Group),
}

/// Why a matrix element could not be used: malformed, or an encoding we do not read.
#[derive(Debug)]
pub(crate) enum ElementError {
    Invalid(Msg),
    Unsupported { group: String, what: String },
}

impl From<Msg> for ElementError {
    fn from(m: Msg) -> Self {
        Self::Invalid(m)
    }
}

impl MatrixElement {
    /// A dense 2-D dataset.
    pub fn dense(ds: Dataset) -> Result<Self, ElementError> {
        let name = ds.name();
        let shape = ds.shape();
        if shape.len() != 2 {
            return Err(ElementError::Invalid(format!(
                "{name}: a dense matrix must be 2-D, found {} dimensions",
                shape.len()
            )));
        }
        let dtype = numeric_dtype(&name, &descriptor(&ds)?)?;
        Ok(Self {
            name,
            encoding: MatrixEncoding::Dense,
            shape: (shape[0], shape[1]),
            dtype,
            node: Node::Dense(ds),
        })
    }

    /// A sparse group (anndata `csr_matrix`/`csc_matrix`, legacy `h5sparse_format`); `layout`
    /// overrides the attributes (Cell Ranger files carry none).
    pub fn sparse(
        group: Group,
        layout: Option<(MatrixEncoding, (usize, usize))>,
    ) -> Result<Self, ElementError> {
        let name = group.name();
        let (encoding, shape) = match layout {
            Some(l) => l,
            None => sparse_layout(&group)?,
        };
        for part in ["data", "indices", "indptr"] {
            if !group.link_exists(part) {
                return Err(ElementError::Invalid(format!(
                    "{name}: sparse matrix has no `{part}` dataset"
                )));
            }
        }
        let data = group.dataset("data").map_err(|e| at(&name, e))?;
        let dtype = numeric_dtype(&data.name(), &descriptor(&data)?)?;
        Ok(Self {
            name,
            encoding,
            shape,
            dtype,
            node: Node::Sparse(group),
        })
    }

    /// Stored values: non-zeros of a sparse matrix, rows x columns of a dense one.
    pub fn n_stored(&self) -> usize {
        match &self.node {
            Node::Dense(_) => self.shape.0.saturating_mul(self.shape.1),
            Node::Sparse(g) => g.dataset("data").map_or(0, |d| d.size()),
        }
    }

    /// Whether rows can be read without reading the whole matrix (CSR or dense).
    pub fn row_readable(&self) -> bool {
        self.encoding != MatrixEncoding::Csc
    }

    /// Reads the whole matrix as CSR (CSC is transposed, dense rows are read in blocks).
    pub fn read_all(&self) -> Result<CsrMatrix, Msg> {
        self.read_rows(0..self.shape.0)
    }

    /// Reads rows `range` as CSR. For CSR only that slice of data/indices is read; for dense
    /// the row hyperslab; CSC has no row access, so the whole matrix is read and sliced.
    pub fn read_rows(&self, range: Range<usize>) -> Result<CsrMatrix, Msg> {
        let (n_rows, n_cols) = self.shape;
        if range.start > range.end || range.end > n_rows {
            return Err(format!(
                "{}: row range {}..{} is outside 0..{n_rows}",
                self.name, range.start, range.end
            ));
        }
        match (&self.node, self.encoding) {
            (Node::Dense(ds), _) => read_dense_rows(ds, range, n_cols),
            (Node::Sparse(g), MatrixEncoding::Csc) => {
                let full = read_compressed(g, 0..n_cols, n_rows)?;
                let csr = transpose(&full, n_rows);
                if range == (0..n_rows) {
                    Ok(csr)
                } else {
                    Ok(csr.select_rows(&range.collect::<Vec<_>>()))
                }
            }
            (Node::Sparse(g), _) => read_compressed(g, range, n_cols),
        }
    }

    /// Makes every kind of read a full read makes, cheaply for a large matrix, ignoring errors
    /// (for the crash probe): walks each dataset's chunk index, reads indptr whole, and reads
    /// all values when at most `budget` are stored, else `windows` evenly spaced windows of
    /// the major axis holding about `budget` values in all. Returns the values read.
    pub fn sample_reads(&self, budget: usize, windows: usize) -> usize {
        let datasets: Vec<Dataset> = match &self.node {
            Node::Dense(ds) => vec![ds.clone()],
            Node::Sparse(g) => ["indptr", "indices", "data"]
                .iter()
                .filter_map(|p| g.dataset(p).ok())
                .collect(),
        };
        for ds in &datasets {
            let _ = ds.storage_size();
        }
        let (n_rows, n_cols) = self.shape;
        let (n_major, n_minor) = match self.encoding {
            MatrixEncoding::Csc => (n_cols, n_rows),
            _ => (n_rows, n_cols),
        };
        if let Node::Sparse(g) = &self.node
            && let Ok(indptr) = g.dataset("indptr")
        {
            let _ = indptr.read_slice_1d::<i64, _>(0..indptr.size().min(n_major + 1));
        }
        let n_stored = self.n_stored();
        if n_stored <= budget {
            return self.read_all().map_or(0, |m| m.nnz());
        }
        let windows = windows.max(2);
        let per_window = (budget / windows) as u128;
        let width = (n_major as u128 * per_window / n_stored as u128).max(1) as usize;
        let width = width.min(n_major);
        (0..windows)
            .map(|k| {
                let start = (n_major - width) * k / (windows - 1);
                let window = start..start + width;
                let part = match &self.node {
                    Node::Dense(ds) => read_dense_rows(ds, window, n_cols),
                    Node::Sparse(g) => read_compressed(g, window, n_minor),
                };
                part.map_or(0, |m| m.nnz())
            })
            .sum()
    }
}

fn numeric_dtype(name: &str, desc: &TypeDescriptor) -> Result<String, ElementError> {
    match desc {
        TypeDescriptor::Integer(_)
        | TypeDescriptor::Unsigned(_)
        | TypeDescriptor::Float(_)
        | TypeDescriptor::Boolean => Ok(desc.to_string()),
        other => Err(ElementError::Unsupported {
            group: name.to_string(),
            what: format!("matrix values of type {other} (expected numbers)"),
        }),
    }
}

fn sparse_layout(group: &Group) -> Result<(MatrixEncoding, (usize, usize)), ElementError> {
    let name = group.name();
    let format =
        attr_string(group, "encoding-type").or_else(|| attr_string(group, "h5sparse_format"));
    let encoding = match format.as_deref() {
        Some("csr_matrix" | "csr") => MatrixEncoding::Csr,
        Some("csc_matrix" | "csc") => MatrixEncoding::Csc,
        Some(other) => {
            return Err(ElementError::Unsupported {
                group: name,
                what: format!(
                    "matrix encoding `{other}` (expected csr_matrix, csc_matrix or a dense array)"
                ),
            });
        }
        None => {
            return Err(ElementError::Unsupported {
                group: name,
                what: "a group without encoding-type or h5sparse_format attributes".into(),
            });
        }
    };
    let shape = attr_ints(group, "shape")
        .or_else(|| attr_ints(group, "h5sparse_shape"))
        .ok_or_else(|| format!("{name}: sparse matrix has no `shape` attribute"))?;
    match shape[..] {
        [r, c] if r >= 0 && c >= 0 => Ok((encoding, (r as usize, c as usize))),
        _ => Err(ElementError::Invalid(format!(
            "{name}: bad shape attribute {shape:?}"
        ))),
    }
}

/// Reads the major-axis slice `major` of a compressed (CSR or CSC) group whose minor axis has
/// `n_minor` entries, as a CSR-layout matrix with `major.len()` rows.
fn read_compressed(g: &Group, major: Range<usize>, n_minor: usize) -> Result<CsrMatrix, Msg> {
    let name = g.name();
    let open = |part: &str| {
        g.dataset(part)
            .map_err(|e| at(&format!("{name}/{part}"), e))
    };
    let (indptr_ds, indices_ds, data_ds) = (open("indptr")?, open("indices")?, open("data")?);
    let nnz_total = data_ds.size();
    if indices_ds.size() != nnz_total {
        return Err(format!(
            "{name}: indices ({}) and data ({nnz_total}) differ in length",
            indices_ds.size()
        ));
    }
    if indptr_ds.size() < major.end + 1 {
        return Err(format!(
            "{name}: indptr has {} entries, need at least {}",
            indptr_ds.size(),
            major.end + 1
        ));
    }
    let raw_ptr: Vec<i64> = indptr_ds
        .read_slice_1d::<i64, _>(major.start..major.end + 1)
        .map(into_vec)
        .map_err(|e| at(&indptr_ds.name(), e))?;
    if let Some(pos) = raw_ptr.windows(2).position(|w| w[1] < w[0]) {
        return Err(format!(
            "{name}: indptr decreases at entry {}",
            major.start + pos
        ));
    }
    let (first, last) = (raw_ptr[0], raw_ptr[raw_ptr.len() - 1]);
    if first < 0 || last as u64 > nnz_total as u64 {
        return Err(format!(
            "{name}: indptr runs {first}..{last} but there are {nnz_total} stored values"
        ));
    }
    if major.start == 0 && first != 0 {
        return Err(format!("{name}: indptr does not start at 0"));
    }
    let (lo, hi) = (first as usize, last as usize);
    let indptr = raw_ptr.iter().map(|&p| p as usize - lo).collect();
    if n_minor > u32::MAX as usize + 1 {
        return Err(format!(
            "{name}: {n_minor} columns exceed the supported 2^32"
        ));
    }
    let mut indices = Vec::with_capacity(hi - lo);
    for start in (lo..hi).step_by(CHUNK) {
        let end = (start + CHUNK).min(hi);
        let block = indices_ds
            .read_slice_1d::<i64, _>(start..end)
            .map_err(|e| at(&indices_ds.name(), e))?;
        for (k, &j) in block.iter().enumerate() {
            if j < 0 || j as u64 >= n_minor as u64 {
                return Err(format!(
                    "{name}: index {j} at position {} is out of range 0..{n_minor}",
                    start + k
                ));
            }
            indices.push(j as u32);
        }
    }
    let data = if hi > lo {
        data_ds
            .read_slice_1d::<f32, _>(lo..hi)
            .map(into_vec)
            .map_err(|e| at(&data_ds.name(), e))?
    } else {
        Vec::new()
    };
    CsrMatrix::new(major.len(), n_minor, indptr, indices, data).map_err(|e| format!("{name}: {e}"))
}

/// The buffer of a freshly read 1-D array, without copying it.
fn into_vec<T: Clone>(a: ndarray::Array1<T>) -> Vec<T> {
    if a.is_standard_layout() {
        a.into_raw_vec_and_offset().0
    } else {
        a.to_vec()
    }
}

/// Turns a compressed matrix read along columns (rows of `csc` are columns) into CSR with
/// `n_rows` rows.
pub(crate) fn transpose(csc: &CsrMatrix, n_rows: usize) -> CsrMatrix {
    let mut counts = vec![0usize; n_rows + 1];
    for &i in &csc.indices {
        counts[i as usize + 1] += 1;
    }
    for i in 0..n_rows {
        counts[i + 1] += counts[i];
    }
    let indptr = counts.clone();
    let mut next = counts;
    let mut indices = vec![0u32; csc.nnz()];
    let mut data = vec![0f32; csc.nnz()];
    for j in 0..csc.n_rows {
        let (rows, vals) = csc.row(j);
        for (&i, &v) in rows.iter().zip(vals) {
            let slot = &mut next[i as usize];
            indices[*slot] = j as u32;
            data[*slot] = v;
            *slot += 1;
        }
    }
    CsrMatrix {
        n_rows,
        n_cols: csc.n_rows,
        indptr,
        indices,
        data,
    }
}

fn read_dense_rows(ds: &Dataset, range: Range<usize>, n_cols: usize) -> Result<CsrMatrix, Msg> {
    let name = ds.name();
    let mut indptr = Vec::with_capacity(range.len() + 1);
    indptr.push(0);
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    let block_rows = (CHUNK / n_cols.max(1)).max(1);
    let mut r0 = range.start;
    while r0 < range.end {
        let r1 = (r0 + block_rows).min(range.end);
        let block = if n_cols == 0 {
            ndarray::Array2::<f32>::zeros((r1 - r0, 0))
        } else {
            ds.read_slice_2d::<f32, _>(s![r0..r1, ..])
                .map_err(|e| at(&name, e))?
        };
        for row in block.rows() {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    indices.push(j as u32);
                    data.push(v);
                }
            }
            indptr.push(data.len());
        }
        r0 = r1;
    }
    if range.is_empty() {
        indptr.truncate(1);
    }
    CsrMatrix::new(range.len(), n_cols, indptr, indices, data).map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_reads_read_everything_within_budget_and_windows_beyond() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scanpy/counts.h5ad");
        let file = crate::data::h5ad::H5adFile::open(&path).unwrap();
        let x = file.matrix(&crate::data::h5ad::MatrixChoice::X).unwrap();
        let n = x.n_stored();
        assert_eq!(x.sample_reads(n, 16), n);
        let sampled = x.sample_reads(n / 10, 4);
        assert!(sampled > 0 && sampled < n / 2, "{sampled} of {n}");
    }

    #[test]
    fn transpose_turns_columns_into_rows() {
        // 2 columns x 3 rows stored by column: col0 = {row0: 1, row2: 2}, col1 = {row1: 3}.
        let csc = CsrMatrix::new(2, 3, vec![0, 2, 3], vec![0, 2, 1], vec![1.0, 2.0, 3.0]).unwrap();
        let csr = transpose(&csc, 3);
        let mut dense = vec![0.0; 6];
        csr.densify_rows(&[0, 1, 2], &mut dense);
        assert_eq!(dense, [1.0, 0.0, 0.0, 3.0, 2.0, 0.0]);
    }
}
