//! The contrastive losses and their gradients on plain buffers, as
//! [`crate::model::contrastive::byol_loss`] and [`crate::model::contrastive::barlow_loss`]
//! define them: BYOL's `2 - 2 cos` against a constant target, Barlow Twins' cross-correlation.

use rayon::prelude::*;

use crate::model::batch_stats::{
    ColumnStats, Then, column_sums_pair, standardise, standardise_backward,
};
use crate::model::contrastive::BN_EPS;
use crate::model::matmul::{Operand, matmul};
use crate::model::vector::with_avx2;

/// Rows per parallel chunk of the loss sums (fixed, so the loss repeats exactly).
const LOSS_ROWS: usize = 16;

/// Added to squared norms before the square root (as the candle loss does).
const NORM_EPS: f32 = 1e-12;

/// BYOL's `mean_r (2 - 2 cos(p_r, z_r))` over rows of `cols` with `z` constant; writes
/// dLoss/dp into `dp`, of `p`'s length (`parts` is scratch).
pub fn byol_loss_grad(
    p: &[f32],
    z: &[f32],
    cols: usize,
    dp: &mut [f32],
    parts: &mut Vec<f64>,
) -> f64 {
    let rows = p.len() / cols.max(1);
    let n = rows.max(1) as f32;
    dp.par_chunks_mut(LOSS_ROWS * cols)
        .zip(p.par_chunks(LOSS_ROWS * cols))
        .zip(z.par_chunks(LOSS_ROWS * cols))
        .map(|((d, p), z)| {
            with_avx2(
                #[inline(always)]
                || {
                    let mut sum = 0f64;
                    for ((d, p), z) in d
                        .chunks_exact_mut(cols)
                        .zip(p.chunks_exact(cols))
                        .zip(z.chunks_exact(cols))
                    {
                        let dot =
                            |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
                        let np = (dot(p, p) + NORM_EPS).sqrt();
                        let nz = (dot(z, z) + NORM_EPS).sqrt();
                        let cos = dot(p, z) / (np * nz);
                        sum += f64::from(2.0 - 2.0 * cos);
                        let (a, b) = (-2.0 / (n * np * nz), 2.0 * cos / (n * np * np));
                        for ((d, &z), &p) in d.iter_mut().zip(z).zip(p) {
                            *d = a * z + b * p;
                        }
                    }
                    sum
                },
            )
        })
        .collect_into_vec(parts);
    parts.iter().sum::<f64>() / f64::from(n)
}

/// Reusable buffers of the Barlow Twins loss.
#[derive(Debug, Default)]
pub struct BarlowWorkspace {
    standardised: [Vec<f32>; 2],
    stats: [ColumnStats; 2],
    /// The cross-correlation matrix, then dLoss/dC divided by the batch size.
    c: Vec<f32>,
    sum_g: Vec<f32>,
    sum_gx: Vec<f32>,
    parts: Vec<f64>,
}

/// Barlow Twins' `sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2`, C the cross-correlation of
/// the batch-standardised projections `z` (rows of `cols`); writes dLoss/dz of both into `dz`
/// (view 0's rows first).
pub fn barlow_loss_grad(
    z: [&[f32]; 2],
    cols: usize,
    lambda: f64,
    ws: &mut BarlowWorkspace,
    dz: &mut Vec<f32>,
) -> f64 {
    let rows = z[0].len() / cols.max(1);
    let n = rows.max(1) as f32;
    for (k, &z) in z.iter().enumerate() {
        ws.standardised[k].resize(z.len(), 0.0);
        standardise(z, cols, BN_EPS, &mut ws.stats[k], &mut ws.standardised[k]);
    }
    let [s0, s1] = &ws.standardised;
    ws.c.resize(cols * cols, 0.0);
    matmul(
        &mut ws.c,
        (cols, cols, rows),
        &Operand::transposed(s0, cols),
        &Operand::rows(s1, cols),
        false,
    );
    let lambda = lambda as f32;
    // C /= n, the loss, and C replaced by dLoss/dC / n, row by row.
    ws.c.par_chunks_mut(cols)
        .enumerate()
        .map(|(i, row)| {
            let mut sum = 0f64;
            for (j, c) in row.iter_mut().enumerate() {
                let v = *c / n;
                if i == j {
                    sum += f64::from((1.0 - v) * (1.0 - v));
                    *c = -2.0 * (1.0 - v) / n;
                } else {
                    sum += f64::from(lambda * v * v);
                    *c = 2.0 * lambda * v / n;
                }
            }
            sum
        })
        .collect_into_vec(&mut ws.parts);
    let loss = ws.parts.iter().sum::<f64>();
    // dL/ds0 = s1 G^T / n and dL/ds1 = s0 G / n (G = dLoss/dC), then through standardise.
    dz.resize(2 * rows * cols, 0.0);
    for (k, d) in dz.chunks_mut(rows * cols).enumerate() {
        let (other, g) = if k == 0 {
            (s1, Operand::transposed(&ws.c, cols))
        } else {
            (s0, Operand::rows(&ws.c, cols))
        };
        matmul(
            d,
            (rows, cols, cols),
            &Operand::rows(other, cols),
            &g,
            false,
        );
        let s = &ws.standardised[k];
        column_sums_pair(d, s, Then::Nothing, cols, &mut ws.sum_g, &mut ws.sum_gx);
        standardise_backward(
            d,
            s,
            &ws.stats[k],
            Then::Nothing,
            &ws.sum_g,
            &ws.sum_gx,
            cols,
        );
    }
    loss
}
