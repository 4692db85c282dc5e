//! The in-memory expression matrix: compressed sparse rows of f32 values.
//! Dense inputs are stored as CSR too, so every later stage has one code path.

use crate::data::DataError;

/// A cells x genes matrix in CSR layout (row `i` owns `indptr[i]..indptr[i + 1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct CsrMatrix {
    pub n_rows: usize,
    pub n_cols: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub data: Vec<f32>,
}

impl CsrMatrix {
    /// Builds a matrix after checking that indptr is monotone and indices are in range.
    pub fn new(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f32>,
    ) -> Result<Self, DataError> {
        let bad = |why: String| Err(DataError::Inconsistent(why));
        if indptr.len() != n_rows + 1 {
            return bad(format!(
                "indptr has {} entries for {} rows (expected {})",
                indptr.len(),
                n_rows,
                n_rows + 1
            ));
        }
        if indices.len() != data.len() {
            return bad(format!(
                "indices ({}) and data ({}) differ in length",
                indices.len(),
                data.len()
            ));
        }
        if indptr[0] != 0 || indptr[n_rows] != data.len() {
            return bad(format!(
                "indptr runs {}..{} but there are {} stored values",
                indptr[0],
                indptr[n_rows],
                data.len()
            ));
        }
        if let Some(row) = indptr.windows(2).position(|w| w[1] < w[0]) {
            return bad(format!("indptr decreases at row {row}"));
        }
        if let Some(pos) = indices.iter().position(|&j| j as usize >= n_cols) {
            return bad(format!(
                "column index {} at position {pos} is out of range for {n_cols} columns",
                indices[pos]
            ));
        }
        Ok(Self {
            n_rows,
            n_cols,
            indptr,
            indices,
            data,
        })
    }

    /// Builds a CSR matrix from a row-major dense buffer, keeping the non-zeros.
    pub fn from_dense(n_rows: usize, n_cols: usize, values: &[f32]) -> Self {
        assert_eq!(values.len(), n_rows * n_cols, "dense buffer size");
        let mut indptr = Vec::with_capacity(n_rows + 1);
        let mut indices = Vec::new();
        let mut data = Vec::new();
        indptr.push(0);
        for row in values.chunks_exact(n_cols.max(1)).take(n_rows) {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    indices.push(j as u32);
                    data.push(v);
                }
            }
            indptr.push(data.len());
        }
        if n_cols == 0 {
            indptr.resize(n_rows + 1, 0);
        }
        Self {
            n_rows,
            n_cols,
            indptr,
            indices,
            data,
        }
    }

    /// Number of stored (non-zero) values.
    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// Column indices and values of row `i`.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let span = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[span.clone()], &self.data[span])
    }

    /// Writes the given rows densely, row-major, into `out` (`rows.len() * n_cols` values).
    pub fn densify_rows(&self, rows: &[usize], out: &mut [f32]) {
        assert_eq!(out.len(), rows.len() * self.n_cols, "output buffer size");
        out.fill(0.0);
        for (k, &i) in rows.iter().enumerate() {
            let dst = &mut out[k * self.n_cols..(k + 1) * self.n_cols];
            let (idx, val) = self.row(i);
            for (&j, &v) in idx.iter().zip(val) {
                dst[j as usize] = v;
            }
        }
    }

    /// A new matrix holding the given rows, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> Self {
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        indptr.push(0);
        let nnz: usize = rows
            .iter()
            .map(|&i| self.indptr[i + 1] - self.indptr[i])
            .sum();
        let mut indices = Vec::with_capacity(nnz);
        let mut data = Vec::with_capacity(nnz);
        for &i in rows {
            let (idx, val) = self.row(i);
            indices.extend_from_slice(idx);
            data.extend_from_slice(val);
            indptr.push(data.len());
        }
        Self {
            n_rows: rows.len(),
            n_cols: self.n_cols,
            indptr,
            indices,
            data,
        }
    }

    /// A copy whose rows list their columns in increasing order.
    pub fn with_sorted_rows(&self) -> Self {
        let mut out = self.clone();
        for i in 0..self.n_rows {
            let span = self.indptr[i]..self.indptr[i + 1];
            let mut pairs: Vec<(u32, f32)> = self.indices[span.clone()]
                .iter()
                .copied()
                .zip(self.data[span.clone()].iter().copied())
                .collect();
            pairs.sort_unstable_by_key(|p| p.0);
            for (k, (j, v)) in span.zip(pairs) {
                out.indices[k] = j;
                out.data[k] = v;
            }
        }
        out
    }

    /// The rows of `parts` one after another (all with `n_cols` columns).
    pub fn vstack(parts: &[CsrMatrix], n_cols: usize) -> Self {
        let mut out = Self {
            n_rows: 0,
            n_cols,
            indptr: vec![0],
            indices: Vec::new(),
            data: Vec::new(),
        };
        for part in parts {
            debug_assert_eq!(part.n_cols, n_cols);
            let (base, span) = (out.data.len(), part.indptr[0]..part.indptr[part.n_rows]);
            out.indptr
                .extend(part.indptr[1..].iter().map(|&p| base + p - span.start));
            out.indices.extend_from_slice(&part.indices[span.clone()]);
            out.data.extend_from_slice(&part.data[span]);
            out.n_rows += part.n_rows;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_round_trip_keeps_values_and_order() {
        let dense = [0.0, 1.0, 0.0, 2.0, 0.0, 3.0];
        let m = CsrMatrix::from_dense(2, 3, &dense);
        assert_eq!(m.nnz(), 3);
        let mut out = vec![9.0; 6];
        m.densify_rows(&[1, 0], &mut out);
        assert_eq!(out, [2.0, 0.0, 3.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            m.select_rows(&[1]).row(0),
            (&[0u32, 2][..], &[2.0f32, 3.0][..])
        );
    }

    #[test]
    fn rejects_out_of_range_index_and_bad_indptr() {
        assert!(CsrMatrix::new(1, 2, vec![0, 1], vec![5], vec![1.0]).is_err());
        assert!(CsrMatrix::new(2, 2, vec![0, 1, 0], vec![0], vec![1.0]).is_err());
        assert!(CsrMatrix::new(1, 2, vec![0, 1], vec![1], vec![1.0]).is_ok());
    }
}
