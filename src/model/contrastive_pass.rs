//! One hand-written training pass of BYOL or Barlow Twins on two views: encoders, heads, loss
//! and backward on reusable buffers (no autograd), the contrastive counterpart of
//! [`crate::model::backprop::autoencoder_pass`], checked against the candle models.

use rayon::prelude::*;
use std::time::Instant;

use crate::model::ModelError;
use crate::model::backprop::{Workspace, encoder_backward, encoder_forward};
use crate::model::contrastive::{BarlowTwins, Byol, Projector};
use crate::model::contrastive_loss::{BarlowWorkspace, barlow_loss_grad, byol_loss_grad};
use crate::model::heads::{HeadWorkspace, head_backward, head_forward};
use crate::model::random::mix;
use crate::model::vector::with_avx2;

/// Elements per parallel task when summing the two views' gradients.
const SUM_CHUNK: usize = 1 << 14;

/// Reusable buffers of a contrastive step; per view unless named otherwise.
#[derive(Debug, Default)]
pub struct ContrastiveWorkspace {
    encoder: [Workspace; 2],
    projector: [HeadWorkspace; 2],
    predictor: [HeadWorkspace; 2],
    target_encoder: Workspace,
    target_projector: HeadWorkspace,
    /// BYOL's target projections of each view.
    target_out: [Vec<f32>; 2],
    /// dLoss/d(the last head's output).
    d_out: [Vec<f32>; 2],
    barlow: BarlowWorkspace,
    loss_parts: Vec<f64>,
    /// Gradients, one buffer per trainable parameter in store order (both views summed).
    pub grads: Vec<Vec<f32>>,
    /// Seconds spent in forward (with the loss) and backward passes so far.
    pub forward_secs: f64,
    pub backward_secs: f64,
}

/// The online encoder's dropout seed of view `k` (as `Byol::loss` and `BarlowTwins::loss`).
fn view_seed(dropout_seed: u64, k: usize) -> u64 {
    mix(dropout_seed, k as u64 + 1)
}

/// `dst = a + b`, in parallel.
fn sum_into(dst: &mut Vec<f32>, a: &[f32], b: &[f32]) {
    dst.resize(a.len(), 0.0);
    dst.par_chunks_mut(SUM_CHUNK)
        .zip(a.par_chunks(SUM_CHUNK).zip(b.par_chunks(SUM_CHUNK)))
        .for_each(|(d, (a, b))| {
            with_avx2(
                #[inline(always)]
                || {
                    d.iter_mut()
                        .zip(a.iter().zip(b))
                        .for_each(|(d, (a, b))| *d = a + b)
                },
            )
        });
}

/// Writes into `out` the gradients of the parameter groups (encoder, then heads, in store
/// order), each the sum of its two views' buffers.
fn sum_views(out: &mut Vec<Vec<f32>>, groups: &[[&[Vec<f32>]; 2]]) {
    let total = groups.iter().map(|g| g[0].len()).sum();
    out.resize_with(total, Vec::new);
    let mut dst = out.iter_mut();
    for [a, b] in groups {
        for ((a, b), d) in a.iter().zip(*b).zip(&mut dst) {
            sum_into(d, a, b);
        }
    }
}

/// The output width of a head.
fn width(head: &Projector) -> Result<usize, ModelError> {
    Ok(head.last.dims2()?.0)
}

/// One BYOL pass on the two `views` (rows x genes each): the symmetric loss of the online
/// predictions against the target projections, gradients in `ws.grads`; the BatchNorms'
/// running statistics (online and target) move as in `Byol::loss`.
pub fn byol_pass(
    model: &Byol,
    views: [&[f32]; 2],
    rows: usize,
    dropout_seed: u64,
    ws: &mut ContrastiveWorkspace,
) -> Result<f32, ModelError> {
    let start = Instant::now();
    // The order of `Byol::loss_from_latents` (it orders the running-statistics updates):
    // online view 0, target view 1, online view 1, target view 0.
    for k in 0..2 {
        let seed = Some(view_seed(dropout_seed, k));
        let z = encoder_forward(&model.encoder, views[k], rows, seed, &mut ws.encoder[k])?;
        let p = head_forward(&model.projector, z, rows, &mut ws.projector[k])?;
        head_forward(&model.predictor, p, rows, &mut ws.predictor[k])?;
        let other = 1 - k;
        let encoder = model.target_encoder();
        let t = encoder_forward(encoder, views[other], rows, None, &mut ws.target_encoder)?;
        let t = head_forward(&model.target_projector, t, rows, &mut ws.target_projector)?;
        ws.target_out[other].clear();
        ws.target_out[other].extend_from_slice(t);
    }
    let cols = width(&model.predictor)?;
    let mut loss = 0.0;
    for k in 0..2 {
        let (p, t) = (ws.predictor[k].output(), &ws.target_out[1 - k]);
        loss += byol_loss_grad(p, t, cols, &mut ws.d_out[k], &mut ws.loss_parts);
    }
    let mid = Instant::now();
    ws.forward_secs += (mid - start).as_secs_f64();
    for (k, &view) in views.iter().enumerate() {
        let p = ws.projector[k].output();
        let d = head_backward(
            &model.predictor,
            p,
            rows,
            &ws.d_out[k],
            &mut ws.predictor[k],
        )?;
        let z = ws.encoder[k].output();
        let dz = head_backward(&model.projector, z, rows, d, &mut ws.projector[k])?;
        let seed = Some(view_seed(dropout_seed, k));
        encoder_backward(&model.encoder, view, rows, seed, dz, &mut ws.encoder[k])?;
    }
    let [e0, e1] = &ws.encoder;
    let [p0, p1] = &ws.projector;
    let [q0, q1] = &ws.predictor;
    sum_views(
        &mut ws.grads,
        &[
            [&e0.grads, &e1.grads],
            [&p0.grads, &p1.grads],
            [&q0.grads, &q1.grads],
        ],
    );
    ws.backward_secs += mid.elapsed().as_secs_f64();
    Ok(loss as f32)
}

/// One Barlow Twins pass on the two `views` (rows x genes each): the loss, gradients in
/// `ws.grads`; the projector's running statistics move as in `BarlowTwins::loss`.
pub fn barlow_pass(
    model: &BarlowTwins,
    views: [&[f32]; 2],
    rows: usize,
    dropout_seed: u64,
    ws: &mut ContrastiveWorkspace,
) -> Result<f32, ModelError> {
    let start = Instant::now();
    for (k, &view) in views.iter().enumerate() {
        let seed = Some(view_seed(dropout_seed, k));
        let z = encoder_forward(&model.encoder, view, rows, seed, &mut ws.encoder[k])?;
        head_forward(&model.projector, z, rows, &mut ws.projector[k])?;
    }
    let cols = width(&model.projector)?;
    let [d0, d1] = &mut ws.d_out;
    let p = [ws.projector[0].output(), ws.projector[1].output()];
    let loss = barlow_loss_grad(p, cols, model.lambda, &mut ws.barlow, [d0, d1]);
    let mid = Instant::now();
    ws.forward_secs += (mid - start).as_secs_f64();
    for (k, &view) in views.iter().enumerate() {
        let z = ws.encoder[k].output();
        let dz = head_backward(
            &model.projector,
            z,
            rows,
            &ws.d_out[k],
            &mut ws.projector[k],
        )?;
        let seed = Some(view_seed(dropout_seed, k));
        encoder_backward(&model.encoder, view, rows, seed, dz, &mut ws.encoder[k])?;
    }
    let [e0, e1] = &ws.encoder;
    let [p0, p1] = &ws.projector;
    sum_views(
        &mut ws.grads,
        &[[&e0.grads, &e1.grads], [&p0.grads, &p1.grads]],
    );
    ws.backward_secs += mid.elapsed().as_secs_f64();
    Ok(loss as f32)
}
