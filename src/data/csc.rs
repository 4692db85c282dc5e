//! The column-major copy of a CSR matrix: the cells expressing each gene, for colouring cells
//! by a gene's expression.

use super::CsrMatrix;

/// A sparse matrix stored by column (compressed sparse column).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CscMatrix {
    indptr: Vec<usize>,
    rows: Vec<u32>,
    values: Vec<f32>,
}

impl CsrMatrix {
    /// Transposes the storage to columns (counting sort by column).
    pub fn to_csc(&self) -> CscMatrix {
        let mut indptr = vec![0usize; self.n_cols + 1];
        for &j in &self.indices {
            indptr[j as usize + 1] += 1;
        }
        for j in 0..self.n_cols {
            indptr[j + 1] += indptr[j];
        }
        let mut next = indptr.clone();
        let (mut rows, mut values) = (vec![0u32; self.nnz()], vec![0f32; self.nnz()]);
        for i in 0..self.n_rows {
            let (idx, val) = self.row(i);
            for (&j, &v) in idx.iter().zip(val) {
                let at = &mut next[j as usize];
                rows[*at] = i as u32;
                values[*at] = v;
                *at += 1;
            }
        }
        CscMatrix {
            indptr,
            rows,
            values,
        }
    }
}

impl CscMatrix {
    /// The rows with a stored value in column `j` and those values (empty for an unknown column).
    pub fn column(&self, j: usize) -> (&[u32], &[f32]) {
        match (self.indptr.get(j), self.indptr.get(j + 1)) {
            (Some(&a), Some(&b)) => (&self.rows[a..b], &self.values[a..b]),
            _ => (&[], &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_csc_transposes_the_storage() {
        let x = CsrMatrix::from_dense(3, 3, &[1.0, 0.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0]);
        let cols = x.to_csc();
        assert_eq!(cols.column(0), (&[0u32, 2][..], &[1.0f32, 4.0][..]));
        assert_eq!(cols.column(1), (&[][..], &[][..]));
        assert_eq!(cols.column(2), (&[0u32, 1][..], &[2.0f32, 3.0][..]));
        assert_eq!(cols.column(9), (&[][..], &[][..]));
    }
}
