//! Hand-written training pass of a contrastive head ([`Projector`]): per hidden width a Linear
//! without bias, BatchNorm1d on batch statistics (updating the running ones exactly as
//! `BatchNorm1d::forward` does) and ReLU, then a Linear; forward and backward on reusable buffers.

use candle_core::{CpuStorage, InplaceOp1, Layout, Tensor, Var};
use rayon::prelude::*;

use crate::model::ModelError;
use crate::model::backprop::values;
use crate::model::batch_stats::{
    ColumnStats, Then, column_stats, column_sums_pair, standardise_backward,
};
use crate::model::contrastive::{BN_EPS, BN_MOMENTUM, Projector};
use crate::model::matmul::{Operand, matmul};
use crate::model::optim::storage_mut;
use crate::model::vector::with_avx2;

/// What the backward pass needs of one hidden layer.
#[derive(Debug, Default)]
struct HiddenLayer {
    /// The standardised Linear output.
    xhat: Vec<f32>,
    /// The batch statistics of each segment.
    stats: Vec<ColumnStats>,
    /// `ReLU(gamma * xhat + beta)`: the next layer's input.
    h: Vec<f32>,
}

/// Reusable buffers of one head's pass on one batch.
#[derive(Debug, Default)]
pub struct HeadWorkspace {
    layers: Vec<HiddenLayer>,
    linear: Vec<f32>,
    out: Vec<f32>,
    delta: Vec<f32>,
    back: Vec<f32>,
    /// Per segment: column sums of the gradient, and of the gradient times `xhat`.
    sum_g: Vec<Vec<f32>>,
    sum_gx: Vec<Vec<f32>>,
    /// Gradients in parameter order: Linear weight, BN weight, BN bias of each hidden layer,
    /// then the last Linear weight (all segments summed).
    pub grads: Vec<Vec<f32>>,
}

impl HeadWorkspace {
    /// The head's output of the last forward pass (rows x output width).
    pub fn output(&self) -> &[f32] {
        &self.out
    }
}

/// `running = (1 - momentum) * running + momentum * (scale * batch)`, in place.
struct RunningUpdate<'a> {
    batch: &'a [f32],
    scale: f32,
}

impl InplaceOp1 for RunningUpdate<'_> {
    fn name(&self) -> &'static str {
        "bn-running-update"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout) -> candle_core::Result<()> {
        let r = storage_mut(dst, dst_l)?;
        let (keep, m) = ((1.0 - BN_MOMENTUM) as f32, BN_MOMENTUM as f32);
        r.iter_mut()
            .zip(self.batch)
            .for_each(|(r, &b)| *r = *r * keep + (b * self.scale) * m);
        Ok(())
    }
}

fn update_running(var: &Var, batch: &[f32], scale: f32) -> Result<(), ModelError> {
    Ok(var
        .as_tensor()
        .inplace_op1(&RunningUpdate { batch, scale })?)
}

/// `dst (m x n) = lhs (m x k) * W^T` for a row-major weight `W` (n x k).
fn times_transposed(
    dst: &mut Vec<f32>,
    lhs: &[f32],
    w: &Tensor,
    m: usize,
) -> Result<(), ModelError> {
    let (n, k) = w.dims2()?;
    let guard = w.storage_and_layout();
    dst.resize(m * n, 0.0);
    matmul(
        dst,
        (m, n, k),
        &Operand::rows(lhs, k),
        &Operand::transposed(values(&guard)?, k),
        false,
    );
    Ok(())
}

/// Forward pass of `head` in training mode on `rows` rows of `input` made of `segments` equal
/// batches (the two views of a contrastive step), each normalised with its own statistics and
/// updating the BatchNorms' running statistics in turn, as one call per batch would; returns
/// the output (rows x output width), kept in `ws`.
pub fn head_forward<'w>(
    head: &Projector,
    input: &[f32],
    rows: usize,
    segments: usize,
    ws: &'w mut HeadWorkspace,
) -> Result<&'w [f32], ModelError> {
    ws.layers
        .resize_with(head.hidden.len(), HiddenLayer::default);
    let per = rows / segments.max(1);
    let unbiased = (per as f64 / (per as f64 - 1.0).max(1.0)) as f32;
    for (i, (w, bn)) in head.hidden.iter().enumerate() {
        let (done, rest) = ws.layers.split_at_mut(i);
        let layer = &mut rest[0];
        let x = if i == 0 { input } else { &done[i - 1].h };
        times_transposed(&mut ws.linear, x, w, rows)?;
        let out = w.dims2()?.0;
        layer.stats.resize_with(segments, ColumnStats::default);
        for (y, stats) in ws.linear.chunks(per * out).zip(&mut layer.stats) {
            column_stats(y, out, BN_EPS, stats);
            update_running(&bn.running_mean, &stats.mean, 1.0)?;
            update_running(&bn.running_var, &stats.var, unbiased)?;
        }
        let (gg, bg) = (bn.gamma.storage_and_layout(), bn.beta.storage_and_layout());
        let (gamma, beta) = (values(&gg)?, values(&bg)?);
        // xhat and the ReLU output in one pass over the rows.
        layer.xhat.resize(rows * out, 0.0);
        layer.h.resize(rows * out, 0.0);
        let stats = &layer.stats;
        layer
            .h
            .par_chunks_mut(out)
            .zip(layer.xhat.par_chunks_mut(out))
            .zip(ws.linear.par_chunks(out))
            .enumerate()
            .for_each(|(r, ((h, xhat), y))| {
                let s = &stats[r / per.max(1)];
                with_avx2(
                    #[inline(always)]
                    || {
                        let columns = s.mean.iter().zip(&s.inv_std).zip(gamma).zip(beta);
                        for (((h, x), &y), (((&m, &i), &g), &b)) in
                            h.iter_mut().zip(xhat.iter_mut()).zip(y).zip(columns)
                        {
                            *x = (y - m) * i;
                            *h = (g * *x + b).max(0.0);
                        }
                    },
                )
            });
    }
    let last_in = ws.layers.last().map_or(input, |l| &l.h);
    times_transposed(&mut ws.out, last_in, &head.last, rows)?;
    Ok(&ws.out)
}

/// `dst (rows x k) = delta (rows x n) * W` for a row-major weight `W` (n x k), and the weight
/// gradient `gw (n x k) = delta^T x` for the layer input `x` (rows x k).
fn linear_backward(
    w: &Tensor,
    x: &[f32],
    delta: &[f32],
    rows: usize,
    gw: &mut Vec<f32>,
    dst: &mut Vec<f32>,
) -> Result<(), ModelError> {
    let (n, k) = w.dims2()?;
    gw.resize(n * k, 0.0);
    matmul(
        gw,
        (n, k, rows),
        &Operand::transposed(delta, n),
        &Operand::rows(x, k),
        false,
    );
    let guard = w.storage_and_layout();
    dst.resize(rows * k, 0.0);
    matmul(
        dst,
        (rows, k, n),
        &Operand::rows(delta, n),
        &Operand::rows(values(&guard)?, k),
        false,
    );
    Ok(())
}

/// `dst` = the element-wise sum of `parts` (in order).
fn sum_segments(dst: &mut Vec<f32>, parts: &[Vec<f32>]) {
    dst.clone_from(&parts[0]);
    for p in &parts[1..] {
        dst.iter_mut().zip(p).for_each(|(d, v)| *d += v);
    }
}

/// Backward pass of `head` after [`head_forward`] on the same `input`, `rows` and segments,
/// from dLoss/d(output); leaves the parameter gradients in `ws.grads` and returns
/// dLoss/d(input).
pub fn head_backward<'w>(
    head: &Projector,
    input: &[f32],
    rows: usize,
    d_out: &[f32],
    ws: &'w mut HeadWorkspace,
) -> Result<&'w [f32], ModelError> {
    let n_hidden = head.hidden.len();
    let segments = ws.layers.first().map_or(1, |l| l.stats.len());
    let per = rows / segments.max(1);
    ws.sum_g.resize_with(segments, Vec::new);
    ws.sum_gx.resize_with(segments, Vec::new);
    ws.grads.resize_with(3 * n_hidden + 1, Vec::new);
    let last_in = ws.layers.last().map_or(input, |l| &l.h);
    linear_backward(
        &head.last,
        last_in,
        d_out,
        rows,
        &mut ws.grads[3 * n_hidden],
        &mut ws.delta,
    )?;
    for (i, (w, bn)) in head.hidden.iter().enumerate().rev() {
        let layer = &ws.layers[i];
        let out = w.dims2()?.0;
        let (gg, bg) = (bn.gamma.storage_and_layout(), bn.beta.storage_and_layout());
        let (gamma, beta) = (values(&gg)?, values(&bg)?);
        // Through ReLU (gated on the fly), BatchNorm's affine map and the standardisation.
        let then = Then::AffineRelu { gamma, beta };
        for ((((g, xhat), stats), sum_g), sum_gx) in ws
            .delta
            .chunks_mut(per * out)
            .zip(layer.xhat.chunks(per * out))
            .zip(&layer.stats)
            .zip(&mut ws.sum_g)
            .zip(&mut ws.sum_gx)
        {
            column_sums_pair(g, xhat, then, out, sum_g, sum_gx);
            standardise_backward(g, xhat, stats, then, sum_g, sum_gx, out);
        }
        sum_segments(&mut ws.grads[3 * i + 1], &ws.sum_gx);
        sum_segments(&mut ws.grads[3 * i + 2], &ws.sum_g);
        let x = if i == 0 { input } else { &ws.layers[i - 1].h };
        linear_backward(w, x, &ws.delta, rows, &mut ws.grads[3 * i], &mut ws.back)?;
        std::mem::swap(&mut ws.delta, &mut ws.back);
    }
    Ok(&ws.delta)
}
