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

/// What follows a standardisation: nothing (the Barlow Twins loss), or BatchNorm's affine map
/// and a ReLU, `max(gamma * xhat + beta, 0)` (a head's hidden layer).
#[derive(Debug, Clone, Copy)]
pub enum Then<'a> {
    Nothing,
    AffineRelu { gamma: &'a [f32], beta: &'a [f32] },
}

/// `g` gated by the ReLU of `gamma * x + beta` (candle's gradient: passes where its input is
/// >= 0).
#[inline(always)]
fn gate(g: f32, x: f32, gamma: f32, beta: f32) -> f32 {
    if gamma * x + beta < 0.0 { 0.0 } else { g }
}

/// `sum_g[j] = sum_r g'[r, j]` and `sum_gx[j] = sum_r g'[r, j] * xhat[r, j]`, where `g` is
/// dLoss/d(the output of `then`) and `g'` the gradient before `then`'s ReLU (the gradients of
/// BatchNorm's bias and weight).
pub fn column_sums_pair(
    g: &[f32],
    xhat: &[f32],
    then: Then,
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
                        let terms = sg
                            .iter_mut()
                            .zip(sx.iter_mut())
                            .zip(&gr[at..])
                            .zip(&xr[at..]);
                        match then {
                            Then::Nothing => terms.for_each(|(((s, t), &gv), &xv)| {
                                *s += gv;
                                *t += gv * xv;
                            }),
                            Then::AffineRelu { gamma, beta } => terms
                                .zip(&gamma[at..])
                                .zip(&beta[at..])
                                .for_each(|(((((s, t), &gv), &xv), &ga), &be)| {
                                    let gv = gate(gv, xv, ga, be);
                                    *s += gv;
                                    *t += gv * xv;
                                }),
                        }
                    }
                },
            )
        });
}

/// Backward pass of [`standardise`] followed by `then`: `g` holds dLoss/d(the output of
/// `then`) on entry and dLoss/dy on return, with `sum_g` and `sum_gx` from
/// [`column_sums_pair`] of that entry value.
pub fn standardise_backward(
    g: &mut [f32],
    xhat: &[f32],
    stats: &ColumnStats,
    then: Then,
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
                    match then {
                        Then::Nothing => terms.for_each(|((g, &x), ((&s, &sg), &sx))| {
                            *g = s * (*g - sg / n - x * sx / n);
                        }),
                        Then::AffineRelu { gamma, beta } => terms.zip(gamma).zip(beta).for_each(
                            |((((g, &x), ((&s, &sg), &sx)), &ga), &be)| {
                                *g = ga * s * (gate(*g, x, ga, be) - sg / n - x * sx / n);
                            },
                        ),
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
        // loss = sum(w * xhat), and sum(w * ReLU(scale * xhat + beta)) with every third column
        // switched off by its beta: the analytic gradients against central differences (w
        // varies within each column: a constant one would make every gradient zero).
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 11 % 13) as f32 - 6.0) / 6.0)
            .collect();
        let scale: Vec<f32> = (0..cols).map(|j| 0.5 + j as f32 / cols as f32).collect();
        let beta: Vec<f32> = (0..cols)
            .map(|j| if j % 3 == 0 { -10.0 } else { 10.0 })
            .collect();
        let relu = Then::AffineRelu {
            gamma: &scale,
            beta: &beta,
        };
        for then in [Then::Nothing, relu] {
            let loss = |y: &[f32]| -> f64 {
                let (mut s, mut x) = (ColumnStats::default(), vec![0.0; y.len()]);
                standardise(y, cols, 1e-5, &mut s, &mut x);
                let out = |i: usize| match then {
                    Then::Nothing => x[i],
                    Then::AffineRelu { gamma, beta } => {
                        (gamma[i % cols] * x[i] + beta[i % cols]).max(0.0)
                    }
                };
                (0..y.len()).map(|i| f64::from(w[i] * out(i))).sum()
            };
            let mut g = w.clone();
            let (mut sg, mut sx) = (Vec::new(), Vec::new());
            column_sums_pair(&g, &xhat, then, cols, &mut sg, &mut sx);
            standardise_backward(&mut g, &xhat, &stats, then, &sg, &sx, cols);
            for i in [0, 5, 77, 300, rows * cols - 1] {
                let h = 1e-2;
                let (mut up, mut down) = (y.clone(), y.clone());
                up[i] += h;
                down[i] -= h;
                let numeric = (loss(&up) - loss(&down)) / (2.0 * f64::from(h));
                assert!(
                    (f64::from(g[i]) - numeric).abs() < 2e-3 * (1.0 + numeric.abs()),
                    "{then:?} {i}: {} vs {numeric}",
                    g[i]
                );
                if matches!(then, Then::AffineRelu { .. }) {
                    assert_eq!(g[i] == 0.0, i % cols % 3 == 0, "{i}: gated where beta < 0");
                }
            }
        }
    }
}
