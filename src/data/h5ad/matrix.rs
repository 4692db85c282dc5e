//! One expression matrix inside a store (X, raw/X, layers/NAME, a 10x matrix): dense, CSR or
//! CSC with any numeric dtype, read whole or by row range, sizes checked before allocating.

use std::ops::Range;

use serde::Serialize;

use super::hdf::Msg;
use super::store::{Scalar, Store, join};
use crate::data::CsrMatrix;

/// Elements read per store call when streaming indices or dense rows (bounds temporary memory).
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

/// A matrix found in a store, not yet read; its reads take that store.
#[derive(Debug, Clone)]
pub(crate) struct MatrixElement {
    /// Where it lives: the dense array, or the sparse group.
    pub name: String,
    pub encoding: MatrixEncoding,
    /// Rows x columns as stored (cells x genes for AnnData).
    pub shape: (usize, usize),
    /// The stored value type, e.g. "float32".
    pub dtype: String,
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
    /// A dense 2-D array.
    pub fn dense(s: &dyn Store, name: &str) -> Result<Self, ElementError> {
        let shape = s.shape(name)?;
        if shape.len() != 2 {
            return Err(ElementError::Invalid(format!(
                "{name}: a dense matrix must be 2-D, found {} dimensions",
                shape.len()
            )));
        }
        let dtype = numeric_dtype(s, name)?;
        Ok(Self {
            name: name.to_string(),
            encoding: MatrixEncoding::Dense,
            shape: (shape[0], shape[1]),
            dtype,
        })
    }

    /// A sparse group (anndata `csr_matrix`/`csc_matrix`, legacy `h5sparse_format`); `layout`
    /// overrides the attributes (Cell Ranger files carry none).
    pub fn sparse(
        s: &dyn Store,
        name: &str,
        layout: Option<(MatrixEncoding, (usize, usize))>,
    ) -> Result<Self, ElementError> {
        let (encoding, shape) = match layout {
            Some(l) => l,
            None => sparse_layout(s, name)?,
        };
        for part in ["data", "indices", "indptr"] {
            if !s.is_array(&join(name, part)) {
                return Err(ElementError::Invalid(format!(
                    "{name}: sparse matrix has no `{part}` array"
                )));
            }
        }
        let dtype = numeric_dtype(s, &join(name, "data"))?;
        Ok(Self {
            name: name.to_string(),
            encoding,
            shape,
            dtype,
        })
    }

    /// Stored values: non-zeros of a sparse matrix, rows x columns of a dense one.
    pub fn n_stored(&self, s: &dyn Store) -> usize {
        match self.encoding {
            MatrixEncoding::Dense => self.shape.0.saturating_mul(self.shape.1),
            _ => s.len(&join(&self.name, "data")).unwrap_or(0),
        }
    }

    /// Whether rows can be read without reading the whole matrix (CSR or dense).
    pub fn row_readable(&self) -> bool {
        self.encoding != MatrixEncoding::Csc
    }

    /// Reads the whole matrix as CSR (CSC is transposed, dense rows are read in blocks).
    pub fn read_all(&self, s: &dyn Store) -> Result<CsrMatrix, Msg> {
        self.read_rows(s, 0..self.shape.0)
    }

    /// Reads rows `range` as CSR. For CSR only that slice of data/indices is read; for dense
    /// the row block; CSC has no row access, so the whole matrix is read and sliced.
    pub fn read_rows(&self, s: &dyn Store, range: Range<usize>) -> Result<CsrMatrix, Msg> {
        let (n_rows, n_cols) = self.shape;
        if range.start > range.end || range.end > n_rows {
            return Err(format!(
                "{}: row range {}..{} is outside 0..{n_rows}",
                self.name, range.start, range.end
            ));
        }
        match self.encoding {
            MatrixEncoding::Dense => read_dense_rows(s, &self.name, range, n_cols),
            MatrixEncoding::Csc => {
                let full = read_compressed(s, &self.name, 0..n_cols, n_rows)?;
                let csr = transpose(&full, n_rows);
                if range == (0..n_rows) {
                    Ok(csr)
                } else {
                    Ok(csr.select_rows(&range.collect::<Vec<_>>()))
                }
            }
            MatrixEncoding::Csr => read_compressed(s, &self.name, range, n_cols),
        }
    }

    /// Makes every kind of read a full read makes, cheaply for a large matrix, ignoring errors
    /// (for the crash probe): walks each array's chunk index, reads indptr whole, and reads
    /// all values when at most `budget` are stored, else `windows` evenly spaced windows of
    /// the major axis holding about `budget` values in all. Returns the values read.
    pub fn sample_reads(&self, s: &dyn Store, budget: usize, windows: usize) -> usize {
        let dense = self.encoding == MatrixEncoding::Dense;
        let arrays: Vec<String> = if dense {
            vec![self.name.clone()]
        } else {
            ["indptr", "indices", "data"]
                .iter()
                .map(|p| join(&self.name, p))
                .collect()
        };
        arrays.iter().for_each(|a| s.touch(a));
        let (n_rows, n_cols) = self.shape;
        let (n_major, n_minor) = match self.encoding {
            MatrixEncoding::Csc => (n_cols, n_rows),
            _ => (n_rows, n_cols),
        };
        if !dense {
            let indptr = join(&self.name, "indptr");
            let n = s.len(&indptr).unwrap_or(0).min(n_major + 1);
            let _ = s.i64s(&indptr, 0..n);
        }
        let n_stored = self.n_stored(s);
        if n_stored <= budget {
            return self.read_all(s).map_or(0, |m| m.nnz());
        }
        let windows = windows.max(2);
        let per_window = (budget / windows) as u128;
        let width = (n_major as u128 * per_window / n_stored as u128).max(1) as usize;
        let width = width.min(n_major);
        (0..windows)
            .map(|k| {
                let start = (n_major - width) * k / (windows - 1);
                let window = start..start + width;
                let part = if dense {
                    read_dense_rows(s, &self.name, window, n_cols)
                } else {
                    read_compressed(s, &self.name, window, n_minor)
                };
                part.map_or(0, |m| m.nnz())
            })
            .sum()
    }
}

fn numeric_dtype(s: &dyn Store, name: &str) -> Result<String, ElementError> {
    let ty = s.value_type(name)?;
    match ty.kind {
        Scalar::Int | Scalar::Float | Scalar::Bool => Ok(ty.name),
        _ => Err(ElementError::Unsupported {
            group: name.to_string(),
            what: format!("matrix values of type {} (expected numbers)", ty.name),
        }),
    }
}

fn sparse_layout(
    s: &dyn Store,
    name: &str,
) -> Result<(MatrixEncoding, (usize, usize)), ElementError> {
    let format = s
        .attr_string(name, "encoding-type")
        .or_else(|| s.attr_string(name, "h5sparse_format"));
    let encoding = match format.as_deref() {
        Some("csr_matrix" | "csr") => MatrixEncoding::Csr,
        Some("csc_matrix" | "csc") => MatrixEncoding::Csc,
        Some(other) => {
            return Err(ElementError::Unsupported {
                group: name.to_string(),
                what: format!(
                    "matrix encoding `{other}` (expected csr_matrix, csc_matrix or a dense array)"
                ),
            });
        }
        None => {
            return Err(ElementError::Unsupported {
                group: name.to_string(),
                what: "a group without encoding-type or h5sparse_format attributes".into(),
            });
        }
    };
    let shape = s
        .attr_ints(name, "shape")
        .or_else(|| s.attr_ints(name, "h5sparse_shape"))
        .ok_or_else(|| format!("{name}: sparse matrix has no `shape` attribute"))?;
    match shape[..] {
        [r, c] if r >= 0 && c >= 0 => Ok((encoding, (r as usize, c as usize))),
        _ => Err(ElementError::Invalid(format!(
            "{name}: bad shape attribute {shape:?}"
        ))),
    }
}

/// Reads the major-axis slice `major` of the compressed (CSR or CSC) group `name` whose minor
/// axis has `n_minor` entries, as a CSR-layout matrix with `major.len()` rows.
fn read_compressed(
    s: &dyn Store,
    name: &str,
    major: Range<usize>,
    n_minor: usize,
) -> Result<CsrMatrix, Msg> {
    let (indptr_path, indices_path, data_path) = (
        join(name, "indptr"),
        join(name, "indices"),
        join(name, "data"),
    );
    let nnz_total = s.len(&data_path)?;
    let n_indices = s.len(&indices_path)?;
    if n_indices != nnz_total {
        return Err(format!(
            "{name}: indices ({n_indices}) and data ({nnz_total}) differ in length"
        ));
    }
    let n_indptr = s.len(&indptr_path)?;
    if n_indptr < major.end + 1 {
        return Err(format!(
            "{name}: indptr has {n_indptr} entries, need at least {}",
            major.end + 1
        ));
    }
    let raw_ptr = s.i64s(&indptr_path, major.start..major.end + 1)?;
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
        let block = s.i64s(&indices_path, start..end)?;
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
        s.f32s(&data_path, lo..hi)?
    } else {
        Vec::new()
    };
    CsrMatrix::new(major.len(), n_minor, indptr, indices, data).map_err(|e| format!("{name}: {e}"))
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

fn read_dense_rows(
    s: &dyn Store,
    name: &str,
    range: Range<usize>,
    n_cols: usize,
) -> Result<CsrMatrix, Msg> {
    let mut indptr = Vec::with_capacity(range.len() + 1);
    indptr.push(0);
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    let block_rows = (CHUNK / n_cols.max(1)).max(1);
    let mut r0 = range.start;
    while r0 < range.end {
        let r1 = (r0 + block_rows).min(range.end);
        let block = s.f32_rows(name, r0..r1, n_cols)?;
        if block.len() != (r1 - r0) * n_cols {
            return Err(format!(
                "{name}: read {} values for {} rows of {n_cols}",
                block.len(),
                r1 - r0
            ));
        }
        for row in 0..r1 - r0 {
            for (j, &v) in block[row * n_cols..(row + 1) * n_cols].iter().enumerate() {
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
        let n = x.n_stored(file.store());
        assert_eq!(x.sample_reads(file.store(), n, 16), n);
        let sampled = x.sample_reads(file.store(), n / 10, 4);
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
