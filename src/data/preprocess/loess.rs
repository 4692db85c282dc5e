//! Local quadratic regression (loess) in one dimension, as the netlib `dloess` code behind
//! scikit-misc (which scanpy's seurat_v3 uses) computes it with its default settings.
//!
//! Defaults reproduced: degree 2, tricube weights on the `floor(n * span)` nearest points,
//! `surface = "interpolate"`: exact local fits (value and slope) at the vertices of a k-d tree
//! whose cells hold at most `floor(n * span * 0.2)` points, joined by cubic Hermite
//! interpolation; family gaussian (no robustness iterations). Least squares are solved through
//! an SVD with the same pseudo-inverse tolerance (100 * machine epsilon * largest singular value).

/// `cell` of skmisc/dloess: the k-d tree leaf size as a fraction of the span.
const CELL: f64 = 0.2;

/// Fitted values of `y ~ loess(x, span, degree 2)` at the observed `x`.
pub fn loess_fitted(x: &[f64], y: &[f64], span: f64) -> Result<Vec<f64>, String> {
    let n = x.len();
    assert_eq!(n, y.len(), "x and y differ in length");
    let nf = ((n as f64 * span).floor() as usize).min(n);
    if nf < 4 {
        return Err(format!(
            "loess with span {span} needs at least 4 neighbours, has {nf} of {n} points"
        ));
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err("loess input contains NaN or infinite values".into());
    }
    let tree = KdTree1::build(x, (n as f64 * (span * CELL)).floor() as usize);
    let fits: Vec<(f64, f64)> = tree
        .vertices
        .iter()
        .map(|&q| local_quadratic(x, y, q, nf, span))
        .collect();
    Ok(x.iter().map(|&z| tree.interpolate(z, &fits)).collect())
}

/// The one-dimensional k-d tree of dloess: cells split at the median (ties kept together).
struct KdTree1 {
    /// Sorted vertex positions.
    vertices: Vec<f64>,
    /// Cells: either a split (value, low child, high child) or a leaf (vertex indices).
    cells: Vec<Cell>,
}

enum Cell {
    Split { at: f64, lo: usize, hi: usize },
    Leaf { v0: usize, v1: usize },
}

impl KdTree1 {
    fn build(x: &[f64], fc: usize) -> Self {
        let n = x.len();
        let mut xs = x.to_vec();
        xs.sort_by(f64::total_cmp);
        let (min, max) = (xs[0], xs[n - 1]);
        let margin = 0.005 * (max - min).max(1e-10 * min.abs().max(max.abs()) + 1e-30);
        let limit = n.max(200); // dloess's nvmax = ncmax = max(200, n)
        // Pending cells: (first, last) sorted positions and bounding vertex values.
        let mut pending = vec![(0usize, n - 1, min - margin, max + margin)];
        let mut shapes: Vec<Option<(f64, usize, usize)>> = Vec::new();
        let (mut n_cells, mut n_vertices) = (1usize, 2usize);
        let mut p = 0;
        while p < pending.len() {
            let (l, u, lo_v, hi_v) = pending[p];
            let mut leaf = u - l < fc || hi_v - lo_v <= 0.0;
            if !leaf {
                leaf = limit < n_cells + 2 || limit < n_vertices + 1;
            }
            let mut split = None;
            if !leaf {
                let m = split_position(&xs, l, u);
                let at = xs[m];
                if at == lo_v || at == hi_v {
                    leaf = true;
                } else {
                    split = Some((m, at));
                }
            }
            match split.filter(|_| !leaf) {
                Some((m, at)) => {
                    let lo = pending.len();
                    pending.push((l, m, lo_v, at));
                    pending.push((m + 1, u, at, hi_v));
                    shapes.push(Some((at, lo, lo + 1)));
                    n_cells += 2;
                    n_vertices += 1;
                }
                None => shapes.push(None),
            }
            p += 1;
        }
        let mut vertices: Vec<f64> = pending.iter().flat_map(|c| [c.2, c.3]).collect();
        vertices.sort_by(f64::total_cmp);
        vertices.dedup();
        let vertex = |v: f64| vertices.partition_point(|&w| w < v);
        let cells = shapes
            .iter()
            .zip(&pending)
            .map(|(shape, &(_, _, lo_v, hi_v))| match *shape {
                Some((at, lo, hi)) => Cell::Split { at, lo, hi },
                None => Cell::Leaf {
                    v0: vertex(lo_v),
                    v1: vertex(hi_v),
                },
            })
            .collect();
        Self { vertices, cells }
    }

    /// Cubic Hermite interpolation of the vertex fits (value, slope) in the leaf holding `z`.
    fn interpolate(&self, z: f64, fits: &[(f64, f64)]) -> f64 {
        let mut c = 0;
        loop {
            match self.cells[c] {
                Cell::Split { at, lo, hi } => c = if z <= at { lo } else { hi },
                Cell::Leaf { v0, v1 } => {
                    let (a, b) = (self.vertices[v0], self.vertices[v1]);
                    let (g0, d0) = fits[v0];
                    let (g1, d1) = fits[v1];
                    let h = (z - a) / (b - a);
                    let phi0 = (1.0 - h).powi(2) * (1.0 + 2.0 * h);
                    let phi1 = h * h * (3.0 - 2.0 * h);
                    let psi0 = h * (1.0 - h).powi(2);
                    let psi1 = h * h * (h - 1.0);
                    return phi0 * g0 + phi1 * g1 + (psi0 * d0 + psi1 * d1) * (b - a);
                }
            }
        }
    }
}

/// Where dloess splits sorted positions `l..=u`: the median, moved outwards (alternately
/// up and down) to the nearest place where the value changes, so ties stay in one cell.
fn split_position(xs: &[f64], l: usize, u: usize) -> usize {
    let m = (l + u) / 2;
    let mut offset: isize = 0;
    loop {
        let k = m as isize + offset;
        if k >= u as isize || k < l as isize {
            return m;
        }
        let k = k as usize;
        if xs[k] == xs[k + 1] {
            offset = -offset;
            if offset >= 0 {
                offset += 1;
            }
        } else {
            return k;
        }
    }
}

/// Weighted local quadratic fit at `q`: (value, slope). Tricube weights on the `nf` nearest.
fn local_quadratic(x: &[f64], y: &[f64], q: f64, nf: usize, span: f64) -> (f64, f64) {
    let mut dist: Vec<f64> = x.iter().map(|&xi| (xi - q) * (xi - q)).collect();
    let rho = {
        let mut d = dist.clone();
        let (_, nth, _) = d.select_nth_unstable_by(nf - 1, f64::total_cmp);
        *nth * span.max(1.0)
    };
    // Rows of the weighted design [w, w*dx, w*dx^2] and right-hand side w*y.
    let mut cols: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut rhs = Vec::new();
    for (i, d) in dist.iter_mut().enumerate() {
        if *d >= rho {
            continue;
        }
        let r = (*d / rho).sqrt();
        let w = (1.0 - r * r * r).powi(3).sqrt();
        let dx = x[i] - q;
        cols[0].push(w);
        cols[1].push(w * dx);
        cols[2].push(w * dx * dx);
        rhs.push(w * y[i]);
    }
    let mut scale = [1.0; 3];
    for (c, s) in cols.iter_mut().zip(scale.iter_mut()) {
        let norm = c.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            c.iter_mut().for_each(|v| *v /= norm);
            *s = norm;
        }
    }
    let beta = svd_solve(cols, &rhs);
    (beta[0] / scale[0], beta[1] / scale[1])
}

/// Least squares `min |A b - rhs|` for a 3-column A through a one-sided Jacobi SVD, with
/// singular values below 100 * eps * sigma_max treated as zero (pseudo-inverse).
fn svd_solve(mut a: [Vec<f64>; 3], rhs: &[f64]) -> [f64; 3] {
    let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(a, b)| a * b).sum::<f64>();
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _sweep in 0..60 {
        let mut rotated = false;
        for p in 0..2 {
            for q in p + 1..3 {
                let alpha = dot(&a[p], &a[p]);
                let beta = dot(&a[q], &a[q]);
                let gamma = dot(&a[p], &a[q]);
                if gamma == 0.0 || gamma.abs() <= 1e-15 * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                let (ap, aq) = (a[p].clone(), a[q].clone());
                for i in 0..ap.len() {
                    a[p][i] = c * ap[i] - s * aq[i];
                    a[q][i] = s * ap[i] + c * aq[i];
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
        if !rotated {
            break;
        }
    }
    let sigma: Vec<f64> = a.iter().map(|c| dot(c, c).sqrt()).collect();
    let tol = sigma.iter().cloned().fold(0.0, f64::max) * 100.0 * f64::EPSILON;
    let mut b = [0.0; 3];
    for j in 0..3 {
        if sigma[j] > tol {
            let gamma = dot(&a[j], rhs) / (sigma[j] * sigma[j]);
            for (k, bk) in b.iter_mut().enumerate() {
                *bk += v[k][j] * gamma;
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_a_quadratic_exactly() {
        let x: Vec<f64> = (0..200).map(|i| i as f64 / 10.0).collect();
        let y: Vec<f64> = x.iter().map(|v| 1.0 - 2.0 * v + 0.5 * v * v).collect();
        let fit = loess_fitted(&x, &y, 0.3).unwrap();
        for (f, t) in fit.iter().zip(&y) {
            assert!((f - t).abs() < 1e-8, "{f} vs {t}");
        }
    }

    #[test]
    fn smooths_noise_towards_the_trend() {
        let x: Vec<f64> = (0..500).map(|i| i as f64 / 50.0).collect();
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| v.sin() + if i % 2 == 0 { 0.3 } else { -0.3 })
            .collect();
        let fit = loess_fitted(&x, &y, 0.3).unwrap();
        let err: f64 = fit
            .iter()
            .zip(&x)
            .map(|(f, v)| (f - v.sin()).abs())
            .sum::<f64>()
            / 500.0;
        assert!(err < 0.1, "mean error {err}");
    }

    #[test]
    fn ties_stay_in_one_cell() {
        let xs = [1.0, 2.0, 2.0, 2.0, 2.0, 3.0];
        let m = split_position(&xs, 0, 5);
        assert!(xs[m] != xs[m + 1]);
    }

    #[test]
    fn too_few_points_is_an_error() {
        assert!(loess_fitted(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], 0.3).is_err());
    }
}
