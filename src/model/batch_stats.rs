//! Column-wise batch standardisation of a row-major matrix (BatchNorm1d's training-mode
//! normalisation, biased variance) and its backward pass, on reusable buffers: shared by the
//! hand-written contrastive heads and the Barlow Twins loss.

use rayon::prelude::*;

use crate::model::vector::with_avx2;

/// Columns per parallel task of the column reductions.
const BAND: usize = 64;

/// Per-column statistics of the last standardisation, kept for its backward pass.
#[derive(Debug, Default)]
pub struct ColumnStats {
    pub mean: Vec<f32>,
    /// The biased (divide by rows) variance.
    pub var: Vec<f32>,
    /// `1 / sqrt(var + eps)`.
    pub inv_std: Vec<f32>,
}

/// `xhat = (y - mean) / sqrt(var + eps)` per column of `y` (rows of `cols`; `xhat` of the same
/// length), recording the statistics in `stats`.
pub fn standardise(y: &[f32], cols: usize, eps: f64, stats: &mut ColumnStats, xhat: &mut [f32]) {
    column_stats(y, cols, eps, stats);
    let (mean, inv_std) = (&stats.mean, &stats.inv_std);
    xhat.par_chunks_mut(cols)
        .zip(y.par_chunks(cols))
        .for_each(|(x, y)| {
            with_avx2(
                #[inline(always)]
                || {
                    for (((x, &y), &m), &s) in x.iter_mut().zip(y).zip(mean).zip(inv_std) {
                        *x = (y - m) * s;
                    }
                },
            )
        });
}

/// The statistics [`standardise`] records, of each column of `y` (rows of `cols`).
pub fn column_stats(y: &[f32], cols: usize, eps: f64, stats: &mut ColumnStats) {
    let rows = y.len() / cols.max(1);
    let n = rows.max(1) as f32;
    for v in [&mut stats.mean, &mut stats.var, &mut stats.inv_std] {
        v.resize(cols, 0.0);
    }
    stats
        .mean
        .par_chunks_mut(BAND)
        .zip(stats.var.par_chunks_mut(BAND))
        .zip(stats.inv_std.par_chunks_mut(BAND))
        .enumerate()
        .for_each(|(b, ((mean, var), inv_std))| {
            with_avx2(
                #[inline(always)]
                || {
                    let at = b * BAND;
                    mean.fill(0.0);
                    for row in y.chunks_exact(cols) {
                        mean.iter_mut().zip(&row[at..]).for_each(|(m, &v)| *m += v);
                    }
                    mean.iter_mut().for_each(|m| *m /= n);
                    var.fill(0.0);
                    for row in y.chunks_exact(cols) {
                        var.iter_mut()
                            .zip(&row[at..])
                            .zip(&*mean)
                            .for_each(|((s, &v), &m)| *s += (v - m) * (v - m));
                    }
                    for (s, i) in var.iter_mut().zip(inv_std) {
                        *s /= n;
                        *i = 1.0 / (f64::from(*s) + eps).sqrt() as f32;
                    }
                },
            )
        });
}

/// `sum_g[j] = sum_r g[r, j]` and `sum_gx[j] = sum_r g[r, j] * xhat[r, j]`.
pub fn column_sums_pair(
    g: &[f32],
    xhat: &[f32],
    cols: usize,
    sum_g: &mut Vec<f32>,
    sum_gx: &mut Vec<f32>,
) {
    sum_g.resize(cols, 0.0);
    sum_gx.resize(cols, 0.0);
    sum_g
        .par_chunks_mut(BAND)
        .zip(sum_gx.par_chunks_mut(BAND))
        .enumerate()
        .for_each(|(b, (sg, sx))| {
            with_avx2(
                #[inline(always)]
                || {
                    let at = b * BAND;
                    sg.fill(0.0);
                    sx.fill(0.0);
                    for (gr, xr) in g.chunks_exact(cols).zip(xhat.chunks_exact(cols)) {
                        for (((s, t), &gv), &xv) in sg
                            .iter_mut()
                            .zip(sx.iter_mut())
                            .zip(&gr[at..])
                            .zip(&xr[at..])
                        {
                            *s += gv;
                            *t += gv * xv;
                        }
                    }
                },
            )
        });
}

/// Backward pass of [`standardise`] followed by a per-column `scale` (BatchNorm's weight;
/// `None`: 1): `g` holds dLoss/d(scaled xhat) on entry and dLoss/dy on return, with `sum_g` and
/// `sum_gx` from [`column_sums_pair`] of that entry value.
pub fn standardise_backward(
    g: &mut [f32],
    xhat: &[f32],
    stats: &ColumnStats,
    scale: Option<&[f32]>,
    sum_g: &[f32],
    sum_gx: &[f32],
    cols: usize,
) {
    let n = (g.len() / cols.max(1)).max(1) as f32;
    let inv_std = &stats.inv_std;
    g.par_chunks_mut(cols)
        .zip(xhat.par_chunks(cols))
        .for_each(|(g, x)| {
            with_avx2(
                #[inline(always)]
                || {
                    let columns = inv_std.iter().zip(sum_g).zip(sum_gx);
                    let terms = g.iter_mut().zip(x).zip(columns);
                    match scale {
                        Some(scale) => {
                            terms
                                .zip(scale)
                                .for_each(|(((g, &x), ((&s, &sg), &sx)), &c)| {
                                    *g = c * s * (*g - sg / n - x * sx / n);
                                })
                        }
                        None => terms.for_each(|((g, &x), ((&s, &sg), &sx))| {
                            *g = s * (*g - sg / n - x * sx / n);
                        }),
                    }
                },
            )
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardised_columns_have_zero_mean_and_unit_variance_and_the_gradient_is_numeric() {
        let (rows, cols) = (9, 70);
        let y: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37 % 23) as f32 - 9.0) / 4.0 + (i % cols) as f32)
            .collect();
        let (mut stats, mut xhat) = (ColumnStats::default(), vec![0.0; y.len()]);
        standardise(&y, cols, 1e-5, &mut stats, &mut xhat);
        for j in 0..cols {
            let col: Vec<f32> = (0..rows).map(|r| xhat[r * cols + j]).collect();
            let mean = col.iter().sum::<f32>() / rows as f32;
            let var = col.iter().map(|v| v * v).sum::<f32>() / rows as f32;
            assert!(
                mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
                "{j}: {mean} {var}"
            );
        }
        // loss = sum(w * xhat * scale): compare the analytic gradient with central differences.
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 11 % 7) as f32 - 3.0) / 3.0)
            .collect();
        let scale: Vec<f32> = (0..cols).map(|j| 0.5 + j as f32 / cols as f32).collect();
        let loss = |y: &[f32]| -> f64 {
            let (mut s, mut x) = (ColumnStats::default(), vec![0.0; y.len()]);
            standardise(y, cols, 1e-5, &mut s, &mut x);
            (0..y.len())
                .map(|i| f64::from(w[i] * x[i] * scale[i % cols]))
                .sum()
        };
        let mut g = w.clone();
        let (mut sg, mut sx) = (Vec::new(), Vec::new());
        column_sums_pair(&g, &xhat, cols, &mut sg, &mut sx);
        standardise_backward(&mut g, &xhat, &stats, Some(&scale), &sg, &sx, cols);
        for i in [0, 5, 77, 300, rows * cols - 1] {
            let h = 1e-2;
            let (mut up, mut down) = (y.clone(), y.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * f64::from(h));
            assert!(
                (f64::from(g[i]) - numeric).abs() < 2e-3 * (1.0 + numeric.abs()),
                "{i}: {} vs {numeric}",
                g[i]
            );
        }
    }
}
