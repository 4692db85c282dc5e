//! Principal component analysis from the covariance matrix (linfa-linalg `eigh`, which stays
//! robust on clustered data where linfa's `Pca` panics), for dense embeddings and sparse genes.

use linfa_linalg::eigh::Eigh;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, s};
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

/// Fits PCA on a sparse cells x genes matrix without densifying it: the gene covariance comes
/// from each row's non-zero pairs ([`sparse_gram`]), then the scores are projected row by row.
pub fn pca_sparse(x: &CsrMatrix, n_components: usize) -> Result<PcaFit, AnalysisError> {
    check_shape(x.n_rows, x.n_cols, n_components)?;
    let (n, d) = (x.n_rows, x.n_cols);
    let (sums, gram) = sparse_gram(x);
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

/// Genes per side of a tile of the Gram matrix: a tile of f64 stays in the core's cache.
const GRAM_TILE: usize = 128;

/// Per-gene sums and the Gram matrix X^T X of a sparse matrix, in f64. The Gram matrix is built
/// tile by tile (in parallel): each tile visits every row's non-zeros in its two gene ranges,
/// so its accumulator stays in cache instead of scattering over the whole d x d matrix.
fn sparse_gram(x: &CsrMatrix) -> (Vec<f64>, Array2<f64>) {
    let d = x.n_cols;
    let sorted;
    let x = if (0..x.n_rows).all(|i| x.row(i).0.is_sorted()) {
        x
    } else {
        sorted = x.with_sorted_rows();
        &sorted
    };
    let mut sums = vec![0.0f64; d];
    for (&j, &v) in x.indices.iter().zip(&x.data) {
        sums[j as usize] += f64::from(v);
    }
    let n_tiles = d.div_ceil(GRAM_TILE);
    // bounds[i * (n_tiles + 1) + t]: where row i's entries of tile t start.
    let bounds: Vec<usize> = (0..x.n_rows)
        .flat_map(|i| {
            let (idx, _) = x.row(i);
            let start = x.indptr[i];
            (0..=n_tiles)
                .map(move |t| start + idx.partition_point(|&j| (j as usize) < t * GRAM_TILE))
        })
        .collect();
    let pairs: Vec<(usize, usize)> = (0..n_tiles)
        .flat_map(|a| (a..n_tiles).map(move |b| (a, b)))
        .collect();
    let tiles: Vec<Vec<f64>> = pairs
        .par_iter()
        .map(|&(ta, tb)| {
            let mut tile = vec![0.0f64; GRAM_TILE * GRAM_TILE];
            let (a0, b0) = (ta * GRAM_TILE, tb * GRAM_TILE);
            for i in 0..x.n_rows {
                let row = &bounds[i * (n_tiles + 1)..(i + 1) * (n_tiles + 1)];
                let (sa, sb) = (row[ta]..row[ta + 1], row[tb]..row[tb + 1]);
                if sa.is_empty() || sb.is_empty() {
                    continue;
                }
                let (ib, vb) = (&x.indices[sb.clone()], &x.data[sb]);
                for (&ja, &va) in x.indices[sa.clone()].iter().zip(&x.data[sa]) {
                    let va = f64::from(va);
                    let out = &mut tile[(ja as usize - a0) * GRAM_TILE..][..GRAM_TILE];
                    for (&jb, &vb) in ib.iter().zip(vb) {
                        out[jb as usize - b0] += va * f64::from(vb);
                    }
                }
            }
            tile
        })
        .collect();
    let mut gram = Array2::<f64>::zeros((d, d));
    for (&(ta, tb), tile) in pairs.iter().zip(&tiles) {
        for r in 0..GRAM_TILE.min(d - ta * GRAM_TILE) {
            for c in 0..GRAM_TILE.min(d - tb * GRAM_TILE) {
                let v = tile[r * GRAM_TILE + c];
                gram[[ta * GRAM_TILE + r, tb * GRAM_TILE + c]] = v;
                gram[[tb * GRAM_TILE + c, ta * GRAM_TILE + r]] = v;
            }
        }
    }
    (sums, gram)
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

/// Above this many features, the leading eigenpairs come from Lanczos iteration: linfa-linalg's
/// full eigendecomposition (O(d^3), single-threaded) takes minutes at 2,000 genes.
const FULL_EIGH_MAX: usize = 128;
/// A Ritz pair has converged when its residual is under this fraction of the largest eigenvalue.
const LANCZOS_TOL: f64 = 1e-10;

/// The `k` largest eigenvalues (descending) and their eigenvectors (columns) of a symmetric
/// positive semi-definite matrix.
fn leading_eigenpairs(
    cov: &Array2<f64>,
    k: usize,
) -> Result<(Vec<f64>, Array2<f64>), AnalysisError> {
    let d = cov.nrows();
    if d <= FULL_EIGH_MAX || 2 * k >= d {
        let (values, vectors) = cov.eigh().map_err(eigen_failed)?;
        return Ok(leading(values, vectors, k));
    }
    // Lanczos with full reorthogonalisation from a fixed pseudo-random start; more steps until
    // the k leading Ritz pairs have converged (at d steps the decomposition is exact).
    let mut steps = (6 * k).max(k + 64).min(d);
    loop {
        let (values, vectors, converged) = lanczos(cov, k, steps)?;
        if converged || steps == d {
            tracing::debug!(steps, features = d, converged, "PCA Lanczos");
            return Ok((values, vectors));
        }
        steps = (2 * steps).min(d);
    }
}

fn eigen_failed(e: linfa_linalg::LinalgError) -> AnalysisError {
    AnalysisError::Invalid(format!("PCA eigen-decomposition failed: {e}"))
}

/// The `k` largest eigenpairs of a full decomposition, in descending order.
fn leading(values: Array1<f64>, vectors: Array2<f64>, k: usize) -> (Vec<f64>, Array2<f64>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    order.truncate(k);
    (
        order.iter().map(|&i| values[i]).collect(),
        vectors.select(Axis(1), &order),
    )
}

/// A unit vector of pseudo-random entries (xorshift), the same for the same `seed`.
fn pseudo_random_unit(d: usize, seed: u64) -> Array1<f64> {
    let mut state = seed | 1;
    let v = Array1::from_shape_fn(d, |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    });
    let norm = v.dot(&v).sqrt();
    v / norm
}

/// `m v` with the rows of `m` shared among the threads.
fn par_matvec(m: ArrayView2<f64>, v: ArrayView1<f64>) -> Array1<f64> {
    let rows: Vec<f64> = m
        .axis_iter(Axis(0))
        .into_par_iter()
        .with_min_len(64)
        .map(|row| row.dot(&v))
        .collect();
    Array1::from(rows)
}

/// Removes from `w` its components along the (orthonormal) rows of `basis`: w -= B^T (B w),
/// both products spread over the threads.
fn orthogonalise(w: &mut Array1<f64>, basis: ArrayView2<f64>) {
    let c = par_matvec(basis, w.view());
    let w = w.as_slice_mut().expect("a fresh vector is contiguous");
    w.par_chunks_mut(256).enumerate().for_each(|(k, chunk)| {
        let start = k * 256;
        for (row, &ci) in basis.axis_iter(Axis(0)).zip(&c) {
            let part = row.slice(s![start..start + chunk.len()]);
            chunk.iter_mut().zip(part).for_each(|(x, b)| *x -= ci * b);
        }
    });
}

/// `m` Lanczos steps on `a`: the k leading Ritz pairs and whether all have converged. An
/// exhausted Krylov space (exactly low-rank data) continues from a fresh orthogonal vector.
fn lanczos(
    a: &Array2<f64>,
    k: usize,
    m: usize,
) -> Result<(Vec<f64>, Array2<f64>, bool), AnalysisError> {
    let d = a.nrows();
    let scale = a
        .diag()
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    let mut basis = Array2::<f64>::zeros((m, d));
    let (mut alpha, mut beta) = (vec![0.0f64; m], vec![0.0f64; m]);
    basis
        .row_mut(0)
        .assign(&pseudo_random_unit(d, 0x9E37_79B9_7F4A_7C15));
    for j in 0..m {
        let mut w = par_matvec(a.view(), basis.row(j));
        alpha[j] = w.dot(&basis.row(j));
        // Full reorthogonalisation against every basis vector so far, twice (Gram-Schmidt).
        for _ in 0..2 {
            orthogonalise(&mut w, basis.slice(s![..=j, ..]));
        }
        if j + 1 == m {
            beta[j] = w.dot(&w).sqrt();
            break;
        }
        let mut norm = w.dot(&w).sqrt();
        if norm <= 1e-12 * scale {
            // The Krylov space is exhausted: restart from a fresh direction (T decouples).
            norm = 0.0;
            for attempt in 1.. {
                w = pseudo_random_unit(d, 0x2545_F491_4F6C_DD1D ^ (j as u64 * 7919 + attempt));
                for _ in 0..2 {
                    orthogonalise(&mut w, basis.slice(s![..=j, ..]));
                }
                let n = w.dot(&w).sqrt();
                if n > 1e-8 || attempt > 8 {
                    w /= n.max(f64::MIN_POSITIVE);
                    break;
                }
            }
        } else {
            w /= norm;
        }
        beta[j] = norm;
        basis.row_mut(j + 1).assign(&w);
    }
    let (theta, s_vecs) = tridiagonal_eigen(alpha, &beta[..m - 1])?;
    let (values, small) = leading(theta, s_vecs, k);
    // Residual of Ritz pair i: |beta_m * last component of its eigenvector of T|.
    let converged = small
        .columns()
        .into_iter()
        .all(|col| (beta[m - 1] * col[m - 1]).abs() <= LANCZOS_TOL * scale.max(values[0].abs()));
    Ok((values, basis.t().dot(&small), converged))
}

/// Eigenvalues and eigenvectors (columns) of the symmetric tridiagonal matrix with diagonal
/// `diag` and sub-diagonal `sub`, by the implicit QL method (EISPACK's tql2, as in JAMA).
fn tridiagonal_eigen(
    mut diag: Vec<f64>,
    sub: &[f64],
) -> Result<(Array1<f64>, Array2<f64>), AnalysisError> {
    let n = diag.len();
    let mut e = vec![0.0f64; n];
    e[..n - 1].copy_from_slice(sub);
    // Row i of `vt` is eigenvector i (rows keep the rotations below contiguous).
    let mut vt = Array2::<f64>::eye(n).into_raw_vec_and_offset().0;
    let (mut shift, mut tst1) = (0.0f64, 0.0f64);
    for l in 0..n {
        tst1 = tst1.max(diag[l].abs() + e[l].abs());
        let m = (l..n)
            .find(|&m| e[m].abs() <= f64::EPSILON * tst1)
            .unwrap_or(n - 1);
        let mut iterations = 0;
        while m > l && e[l].abs() > f64::EPSILON * tst1 {
            iterations += 1;
            if iterations > 60 {
                return Err(AnalysisError::Invalid(
                    "PCA: the tridiagonal eigenproblem did not converge".into(),
                ));
            }
            let g = diag[l];
            let mut p = (diag[l + 1] - g) / (2.0 * e[l]);
            let r = p.hypot(1.0).copysign(p);
            diag[l] = e[l] / (p + r);
            diag[l + 1] = e[l] * (p + r);
            let dl1 = diag[l + 1];
            let h = g - diag[l];
            diag[l + 2..].iter_mut().for_each(|d| *d -= h);
            shift += h;
            p = diag[m];
            let (mut c, mut c2, mut c3) = (1.0f64, 1.0f64, 1.0f64);
            let (el1, mut s, mut s2) = (e[l + 1], 0.0f64, 0.0f64);
            for i in (l..m).rev() {
                c3 = c2;
                c2 = c;
                s2 = s;
                let g = c * e[i];
                let h = c * p;
                let r = p.hypot(e[i]);
                e[i + 1] = s * r;
                s = e[i] / r;
                c = p / r;
                p = c * diag[i] - s * g;
                diag[i + 1] = h + s * (c * g + s * diag[i]);
                let (upper, lower) = vt.split_at_mut((i + 1) * n);
                let (vi, vi1) = (&mut upper[i * n..], &mut lower[..n]);
                for (a, b) in vi.iter_mut().zip(vi1.iter_mut()) {
                    let h = *b;
                    *b = s * *a + c * h;
                    *a = c * *a - s * h;
                }
            }
            p = -s * s2 * c3 * el1 * e[l] / dl1;
            e[l] = s * p;
            diag[l] = c * p;
        }
        diag[l] += shift;
        e[l] = 0.0;
    }
    let vectors = Array2::from_shape_vec((n, n), vt)
        .map_err(|e| AnalysisError::Invalid(e.to_string()))?
        .reversed_axes();
    Ok((Array1::from(diag), vectors))
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
    fn lanczos_matches_the_full_decomposition() {
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
    fn lanczos_handles_exactly_low_rank_covariances() {
        // Rank 3 without noise: the Krylov space runs out after a few steps.
        let d = FULL_EIGH_MAX + 40;
        let x = random_points(300, 3, 8)
            .dot(&random_points(3, d, 9))
            .mapv(f64::from);
        let centred = &x - &x.mean_axis(Axis(0)).unwrap();
        let cov = centred.t().dot(&centred) / 299.0;
        let (values, vectors) = leading_eigenpairs(&cov, 6).unwrap();
        let (all, all_vectors) = cov.eigh().unwrap();
        let (want, want_vectors) = leading(all, all_vectors, 6);
        for c in 0..6 {
            assert!((values[c] - want[c]).abs() < 1e-8 * want[0], "{c}");
        }
        for c in 0..3 {
            let cos = vectors.column(c).dot(&want_vectors.column(c)).abs();
            assert!(cos > 1.0 - 1e-6, "axis {c}: |cos| {cos}");
        }
        let gram = vectors.t().dot(&vectors);
        assert!(
            (&gram - &Array2::<f64>::eye(6))
                .iter()
                .all(|v| v.abs() < 1e-8)
        );
    }

    #[test]
    fn tiled_gram_equals_the_dense_product_even_with_unsorted_rows() {
        let d = 2 * GRAM_TILE + 17;
        let mut x = random_points(40, d, 11);
        x.mapv_inplace(|v| if v < 0.8 { 0.0 } else { v });
        let mut sparse = CsrMatrix::from_dense(40, d, x.as_slice().unwrap());
        // Reverse each row's entries: readers may hand over unsorted rows.
        for i in 0..sparse.n_rows {
            let span = sparse.indptr[i]..sparse.indptr[i + 1];
            sparse.indices[span.clone()].reverse();
            sparse.data[span].reverse();
        }
        let (sums, gram) = sparse_gram(&sparse);
        let dense = x.mapv(f64::from);
        let want = dense.t().dot(&dense);
        assert!((&gram - &want).iter().all(|v| v.abs() < 1e-9));
        let want_sums = dense.sum_axis(Axis(0));
        assert!(
            sums.iter()
                .zip(&want_sums)
                .all(|(a, b)| (a - b).abs() < 1e-9)
        );
    }

    #[test]
    fn tridiagonal_solver_matches_the_dense_one() {
        let n = 40;
        let diag: Vec<f64> = (0..n).map(|i| ((i * 37) % 11) as f64 - 3.0).collect();
        let sub: Vec<f64> = (0..n - 1)
            .map(|i| ((i * 13) % 7) as f64 * 0.5 - 1.0)
            .collect();
        let t = Array2::from_shape_fn((n, n), |(r, c)| match r.abs_diff(c) {
            0 => diag[r],
            1 => sub[r.min(c)],
            _ => 0.0,
        });
        let (values, vectors) = tridiagonal_eigen(diag, &sub).unwrap();
        let (want, _) = t.eigh().unwrap();
        let (mut got, mut want) = (values.to_vec(), want.to_vec());
        got.sort_by(f64::total_cmp);
        want.sort_by(f64::total_cmp);
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-10));
        // T v = lambda v, with orthonormal v.
        let residual = t.dot(&vectors) - &vectors * &values;
        assert!(residual.iter().all(|v| v.abs() < 1e-10));
        let gram = vectors.t().dot(&vectors);
        assert!(
            (&gram - &Array2::<f64>::eye(n))
                .iter()
                .all(|v| v.abs() < 1e-10)
        );
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let x = random_points(5, 3, 1);
        assert!(pca_dense(x.view(), 4).is_err());
        assert!(pca_dense(x.view(), 0).is_err());
        assert!(pca_dense(x.slice(s![..1, ..]), 1).is_err());
    }
}
