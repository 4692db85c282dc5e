//! Hand-written training pass of a contrastive head ([`Projector`]): per hidden width a Linear
//! without bias, BatchNorm1d on batch statistics (updating the running ones exactly as
//! `BatchNorm1d::forward` does) and ReLU, then a Linear; forward and backward on reusable buffers.

use candle_core::{CpuStorage, InplaceOp1, Layout, Tensor, Var};
use rayon::prelude::*;

use crate::model::ModelError;
use crate::model::backprop::values;
use crate::model::batch_stats::{ColumnStats, column_sums_pair, standardise, standardise_backward};
use crate::model::contrastive::{BN_EPS, BN_MOMENTUM, Projector};
use crate::model::matmul::{Operand, matmul};
use crate::model::optim::storage_mut;
use crate::model::vector::with_avx2;

/// What the backward pass needs of one hidden layer.
#[derive(Debug, Default)]
struct HiddenLayer {
    /// The standardised Linear output.
    xhat: Vec<f32>,
    stats: ColumnStats,
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
    sum_g: Vec<f32>,
    sum_gx: Vec<f32>,
    /// Gradients in parameter order: Linear weight, BN weight, BN bias of each hidden layer,
    /// then the last Linear weight.
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

/// Forward pass of `head` in training mode on `rows` rows of `input`, updating the BatchNorms'
/// running statistics; returns the output (rows x output width), kept in `ws`.
pub fn head_forward<'w>(
    head: &Projector,
    input: &[f32],
    rows: usize,
    ws: &'w mut HeadWorkspace,
) -> Result<&'w [f32], ModelError> {
    ws.layers
        .resize_with(head.hidden.len(), HiddenLayer::default);
    let unbiased = (rows as f64 / (rows as f64 - 1.0).max(1.0)) as f32;
    for (i, (w, bn)) in head.hidden.iter().enumerate() {
        let (done, rest) = ws.layers.split_at_mut(i);
        let layer = &mut rest[0];
        let x = if i == 0 { input } else { &done[i - 1].h };
        times_transposed(&mut ws.linear, x, w, rows)?;
        let out = w.dims2()?.0;
        standardise(&ws.linear, out, BN_EPS, &mut layer.stats, &mut layer.xhat);
        let (gg, bg) = (bn.gamma.storage_and_layout(), bn.beta.storage_and_layout());
        let (gamma, beta) = (values(&gg)?, values(&bg)?);
        layer.h.resize(rows * out, 0.0);
        layer
            .h
            .par_chunks_mut(out)
            .zip(layer.xhat.par_chunks(out))
            .for_each(|(h, x)| {
                with_avx2(
                    #[inline(always)]
                    || {
                        for j in 0..out {
                            h[j] = (gamma[j] * x[j] + beta[j]).max(0.0);
                        }
                    },
                )
            });
        update_running(&bn.running_mean, &layer.stats.mean, 1.0)?;
        update_running(&bn.running_var, &layer.stats.var, unbiased)?;
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

/// Backward pass of `head` after [`head_forward`] on the same `input`, from dLoss/d(output);
/// leaves the parameter gradients in `ws.grads` and returns dLoss/d(input).
pub fn head_backward<'w>(
    head: &Projector,
    input: &[f32],
    rows: usize,
    d_out: &[f32],
    ws: &'w mut HeadWorkspace,
) -> Result<&'w [f32], ModelError> {
    let n_hidden = head.hidden.len();
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
        // Through ReLU (candle's gradient: 1 where its input is >= 0).
        ws.delta
            .par_chunks_mut(out)
            .zip(layer.xhat.par_chunks(out))
            .for_each(|(d, x)| {
                with_avx2(
                    #[inline(always)]
                    || {
                        for j in 0..out {
                            if gamma[j] * x[j] + beta[j] < 0.0 {
                                d[j] = 0.0;
                            }
                        }
                    },
                )
            });
        column_sums_pair(&ws.delta, &layer.xhat, out, &mut ws.sum_g, &mut ws.sum_gx);
        ws.grads[3 * i + 1].clone_from(&ws.sum_gx);
        ws.grads[3 * i + 2].clone_from(&ws.sum_g);
        standardise_backward(
            &mut ws.delta,
            &layer.xhat,
            &layer.stats,
            Some(gamma),
            &ws.sum_g,
            &ws.sum_gx,
            out,
        );
        let x = if i == 0 { input } else { &ws.layers[i - 1].h };
        linear_backward(w, x, &ws.delta, rows, &mut ws.grads[3 * i], &mut ws.back)?;
        std::mem::swap(&mut ws.delta, &mut ws.back);
    }
    Ok(&ws.delta)
}
