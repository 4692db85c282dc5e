//! Principal component analysis from the covariance matrix (linfa-linalg `eigh`, which stays
//! robust on clustered data where linfa's `Pca` panics), for dense embeddings and sparse genes.

use linfa_linalg::eigh::{EigValsh, Eigh};
use linfa_linalg::qr::QR;
use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use rayon::prelude::*;

use super::AnalysisError;
use crate::data::CsrMatrix;

/// A fitted PCA: the centre and the leading principal axes.
#[derive(Debug, Clone)]
pub struct Pca {
    /// Per-feature mean subtracted before projecting.
    pub mean: Array1<f64>,
    /// Principal axes as columns (n_features x n_components), sign-fixed so each axis's largest
    /// absolute loading is positive.
    pub components: Array2<f64>,
    /// Variance along each axis (covariance eigenvalues, ddof = 1).
    pub explained_variance: Vec<f64>,
    /// Each axis's share of the total variance (the covariance trace), as sklearn's.
    pub explained_variance_ratio: Vec<f64>,
}

/// A PCA fit together with the scores of the rows it was fitted on.
#[derive(Debug, Clone)]
pub struct PcaFit {
    pub pca: Pca,
    /// Rows projected on the axes (n_rows x n_components).
    pub scores: Array2<f32>,
}

/// Rows per parallel task when accumulating covariances or projecting.
const ROW_BLOCK: usize = 1024;

/// Fits PCA with `n_components` axes on dense rows (e.g. embeddings) and projects them.
pub fn pca_dense(x: ArrayView2<f32>, n_components: usize) -> Result<PcaFit, AnalysisError> {
    check_shape(x.nrows(), x.ncols(), n_components)?;
    let n = x.nrows();
    let mean = x.mapv(f64::from).mean_axis(Axis(0)).expect("rows > 0");
    let starts: Vec<usize> = (0..n).step_by(ROW_BLOCK).collect();
    let scatter = starts
        .par_iter()
        .map(|&r0| {
            let r1 = (r0 + ROW_BLOCK).min(n);
            let centred = &x.slice(s![r0..r1, ..]).mapv(f64::from) - &mean;
            centred.t().dot(&centred)
        })
        .reduce_with(|a, b| a + b)
        .expect("rows > 0");
    let pca = from_covariance(scatter / (n as f64 - 1.0), mean, n_components)?;
    let scores = pca.transform_dense(x);
    Ok(PcaFit { pca, scores })
}

/// Fits PCA on a sparse cells x genes matrix without densifying it: the gene covariance is
/// accumulated from each row's non-zero pairs, then the scores are projected row by row.
pub fn pca_sparse(x: &CsrMatrix, n_components: usize) -> Result<PcaFit, AnalysisError> {
    check_shape(x.n_rows, x.n_cols, n_components)?;
    let (n, d) = (x.n_rows, x.n_cols);
    // One d x d accumulator per thread: more chunks would multiply the memory.
    let chunks = rayon::current_num_threads().max(1);
    let rows_per = n.div_ceil(chunks);
    let (sums, mut gram) = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut sums = vec![0.0f64; d];
            let mut gram = Array2::<f64>::zeros((d, d));
            for i in (c * rows_per)..((c + 1) * rows_per).min(n) {
                let (idx, val) = x.row(i);
                for (a, (&ja, &va)) in idx.iter().zip(val).enumerate() {
                    let va = f64::from(va);
                    sums[ja as usize] += va;
                    let mut row = gram.row_mut(ja as usize);
                    for (&jb, &vb) in idx[a..].iter().zip(&val[a..]) {
                        row[jb as usize] += va * f64::from(vb);
                    }
                }
            }
            (sums, gram)
        })
        .reduce_with(|(mut s1, g1), (s2, g2)| {
            s1.iter_mut().zip(&s2).for_each(|(a, b)| *a += b);
            (s1, g1 + g2)
        })
        .expect("chunks > 0");
    // Rows are not sorted by column in general: fold the lower triangle onto the upper one.
    for a in 0..d {
        for b in 0..a {
            let lower = gram[[a, b]];
            gram[[b, a]] += lower;
            gram[[a, b]] = 0.0;
        }
    }
    let mean = Array1::from(sums) / n as f64;
    let mut cov = Array2::<f64>::zeros((d, d));
    for a in 0..d {
        for b in a..d {
            let c = (gram[[a, b]] - n as f64 * mean[a] * mean[b]) / (n as f64 - 1.0);
            cov[[a, b]] = c;
            cov[[b, a]] = c;
        }
    }
    let pca = from_covariance(cov, mean, n_components)?;
    let scores = pca.transform_sparse(x);
    Ok(PcaFit { pca, scores })
}

impl Pca {
    /// Number of principal axes.
    pub fn n_components(&self) -> usize {
        self.components.ncols()
    }

    /// Projects dense rows onto the axes.
    pub fn transform_dense(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let k = self.n_components();
        let mut out = Array2::<f32>::zeros((x.nrows(), k));
        out.axis_chunks_iter_mut(Axis(0), ROW_BLOCK)
            .into_par_iter()
            .zip(x.axis_chunks_iter(Axis(0), ROW_BLOCK).into_par_iter())
            .for_each(|(mut dst, src)| {
                let centred = &src.mapv(f64::from) - &self.mean;
                dst.assign(&centred.dot(&self.components).mapv(|v| v as f32));
            });
        out
    }

    /// Projects sparse rows onto the axes: x.V - mean.V, touching only the non-zeros.
    pub fn transform_sparse(&self, x: &CsrMatrix) -> Array2<f32> {
        let k = self.n_components();
        let offset = self.mean.dot(&self.components);
        let mut out = Array2::<f32>::zeros((x.n_rows, k));
        out.axis_chunks_iter_mut(Axis(0), ROW_BLOCK)
            .into_par_iter()
            .enumerate()
            .for_each(|(b, mut dst)| {
                let mut acc = vec![0.0f64; k];
                for (r, mut out_row) in dst.rows_mut().into_iter().enumerate() {
                    acc.iter_mut().zip(&offset).for_each(|(a, o)| *a = -o);
                    let (idx, val) = x.row(b * ROW_BLOCK + r);
                    for (&j, &v) in idx.iter().zip(val) {
                        let axis_row = self.components.row(j as usize);
                        acc.iter_mut()
                            .zip(axis_row.iter())
                            .for_each(|(a, c)| *a += f64::from(v) * c);
                    }
                    out_row
                        .iter_mut()
                        .zip(&acc)
                        .for_each(|(o, a)| *o = *a as f32);
                }
            });
        out
    }
}

fn check_shape(n_rows: usize, n_cols: usize, n_components: usize) -> Result<(), AnalysisError> {
    if n_rows < 2 {
        return Err(AnalysisError::TooFew {
            what: "cells for PCA",
            got: n_rows,
            need: 2,
        });
    }
    if n_components == 0 || n_components > n_cols {
        return Err(AnalysisError::Invalid(format!(
            "PCA with {n_components} components needs 1..={n_cols} (the number of features)"
        )));
    }
    Ok(())
}

/// The leading eigenpairs of a covariance matrix as a fitted PCA.
fn from_covariance(cov: Array2<f64>, mean: Array1<f64>, k: usize) -> Result<Pca, AnalysisError> {
    if cov.iter().any(|v| !v.is_finite()) {
        return Err(AnalysisError::Invalid(
            "non-finite values in the data given to PCA".into(),
        ));
    }
    let total: f64 = cov.diag().sum();
    let (values, vectors) = leading_eigenpairs(&cov, k)?;
    let mut components = vectors;
    for mut axis in components.columns_mut() {
        let peak = axis
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(0.0);
        if peak < 0.0 {
            axis.mapv_inplace(|v| -v);
        }
    }
    let explained_variance: Vec<f64> = values.iter().map(|v| v.max(0.0)).collect();
    let explained_variance_ratio = explained_variance
        .iter()
        .map(|v| if total > 0.0 { v / total } else { 0.0 })
        .collect();
    Ok(Pca {
        mean,
        components,
        explained_variance,
        explained_variance_ratio,
    })
}

/// Above this many features, the leading eigenpairs come from subspace iteration: linfa-linalg's
/// full eigendecomposition (O(d^3), single-threaded) takes minutes at 2,000 genes.
const FULL_EIGH_MAX: usize = 128;

/// The `k` largest eigenvalues (descending) and their eigenvectors (columns) of a symmetric
/// positive semi-definite matrix.
fn leading_eigenpairs(
    cov: &Array2<f64>,
    k: usize,
) -> Result<(Vec<f64>, Array2<f64>), AnalysisError> {
    let d = cov.nrows();
    let failed = |e: linfa_linalg::LinalgError| {
        AnalysisError::Invalid(format!("PCA eigen-decomposition failed: {e}"))
    };
    let sorted = |values: Array1<f64>, vectors: Array2<f64>, k: usize| {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        order.truncate(k);
        (
            order.iter().map(|&i| values[i]).collect::<Vec<_>>(),
            vectors.select(Axis(1), &order),
        )
    };
    let block = (2 * k).max(k + 16).min(d);
    if d <= FULL_EIGH_MAX || block == d {
        let (values, vectors) = cov.eigh().map_err(failed)?;
        return Ok(sorted(values, vectors, k));
    }
    // Block power (subspace) iteration from a fixed pseudo-random start, with Rayleigh-Ritz
    // at the end; stops when the leading k Ritz values move by under 1e-9 of the largest.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut q = Array2::from_shape_fn((d, block), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    });
    let mut previous = vec![0.0f64; k];
    let mut iterations = 0;
    for iter in 0..300 {
        iterations = iter + 1;
        q = cov.dot(&q).qr().map_err(failed)?.generate_q();
        if iter % 5 == 4 {
            let ritz = q.t().dot(cov).dot(&q);
            let values = ritz.eigvalsh().map_err(failed)?;
            let mut values = values.to_vec();
            values.sort_by(|a, b| b.total_cmp(a));
            let scale = values[0].abs().max(f64::MIN_POSITIVE);
            let moved = values[..k]
                .iter()
                .zip(&previous)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            previous.copy_from_slice(&values[..k]);
            if moved <= 1e-9 * scale {
                break;
            }
        }
    }
    tracing::debug!(iterations, features = d, block, "PCA subspace iteration");
    let ritz = q.t().dot(cov).dot(&q);
    let (values, small) = ritz.eigh().map_err(failed)?;
    let (values, small) = sorted(values, small, k);
    Ok((values, q.dot(&small)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::tests::random_points;

    #[test]
    fn dense_and_sparse_fits_agree() {
        let mut x = random_points(300, 12, 7);
        x.mapv_inplace(|v| if v < 0.5 { 0.0 } else { v });
        let sparse = CsrMatrix::from_dense(300, 12, x.as_slice().unwrap());
        let a = pca_dense(x.view(), 3).unwrap();
        let b = pca_sparse(&sparse, 3).unwrap();
        for (p, q) in a
            .pca
            .explained_variance
            .iter()
            .zip(&b.pca.explained_variance)
        {
            assert!((p - q).abs() < 1e-9);
        }
        assert!((&a.scores - &b.scores).iter().all(|v| v.abs() < 1e-4));
    }

    #[test]
    fn subspace_iteration_matches_the_full_decomposition() {
        // Low rank plus noise: a decaying spectrum, as expression data has.
        let d = FULL_EIGH_MAX + 12;
        let x =
            random_points(400, 8, 3).dot(&random_points(8, d, 4)) + random_points(400, d, 5) * 0.1;
        let x = x.mapv(f64::from);
        let centred = &x - &x.mean_axis(Axis(0)).unwrap();
        let cov = centred.t().dot(&centred) / 399.0;
        let (values, vectors) = leading_eigenpairs(&cov, 5).unwrap();
        let (all, all_vectors) = cov.eigh().unwrap();
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.sort_by(|&a, &b| all[b].total_cmp(&all[a]));
        for c in 0..5 {
            assert!((values[c] - all[order[c]]).abs() < 1e-9 * all[order[0]]);
            let cos = vectors.column(c).dot(&all_vectors.column(order[c])).abs();
            assert!(cos > 1.0 - 1e-6, "axis {c}: |cos| {cos}");
        }
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let x = random_points(5, 3, 1);
        assert!(pca_dense(x.view(), 4).is_err());
        assert!(pca_dense(x.view(), 0).is_err());
        assert!(pca_dense(x.slice(s![..1, ..]), 1).is_err());
    }
}
