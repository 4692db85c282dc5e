//! One hand-written training pass of BYOL or Barlow Twins on two views: encoders, heads, loss
//! and backward on reusable buffers (no autograd), the contrastive counterpart of
//! [`crate::model::backprop::autoencoder_pass`], checked against the candle models.

use std::time::Instant;

use crate::model::ModelError;
use crate::model::backprop::{Workspace, encoder_backward, encoder_forward};
use crate::model::contrastive::{BarlowTwins, Byol, Projector};
use crate::model::contrastive_loss::{BarlowWorkspace, barlow_loss_grad, byol_loss_grad};
use crate::model::heads::{HeadWorkspace, head_backward, head_forward};
use crate::model::random::mix;

/// Reusable buffers of a contrastive step.
#[derive(Debug, Default)]
pub struct ContrastiveWorkspace {
    /// The online network on both views at once (and their summed gradients).
    encoder: Workspace,
    projector: HeadWorkspace,
    predictor: HeadWorkspace,
    target_encoder: Workspace,
    target_projector: HeadWorkspace,
    /// BYOL's target latents with the views swapped (view 1's rows first).
    target_in: Vec<f32>,
    /// dLoss/d(the last head's output), both views.
    d_out: Vec<f32>,
    barlow: BarlowWorkspace,
    loss_parts: Vec<f64>,
    /// Gradients, one buffer per trainable parameter in store order (both views summed).
    pub grads: Vec<Vec<f32>>,
    /// Seconds spent in forward (with the loss) and backward passes so far.
    pub forward_secs: f64,
    pub backward_secs: f64,
}

/// The online encoder's dropout seeds of the two views (as `Byol::loss` and
/// `BarlowTwins::loss`).
fn view_seeds(dropout_seed: u64) -> [u64; 2] {
    [mix(dropout_seed, 1), mix(dropout_seed, 2)]
}

/// View `k`'s rows of a batch of both views (`2 rows` rows).
fn half(values: &[f32], k: usize) -> &[f32] {
    let n = values.len() / 2;
    &values[k * n..(k + 1) * n]
}

/// Fills `out` with the gradients in store order, moved out of the workspaces of the
/// encoder and the heads (each gets the buffers of the last step back, so nothing is copied or
/// allocated).
fn collect_grads(out: &mut Vec<Vec<f32>>, parts: &mut [&mut Vec<Vec<f32>>]) {
    let total = parts.iter().map(|p| p.len()).sum();
    out.resize_with(total, Vec::new);
    out.iter_mut()
        .zip(parts.iter_mut().flat_map(|p| p.iter_mut()))
        .for_each(|(d, g)| std::mem::swap(d, g));
}

/// The output width of a head.
fn width(head: &Projector) -> Result<usize, ModelError> {
    Ok(head.last.dims2()?.0)
}

/// One BYOL pass on `views` (both views of `rows` cells, view 0's rows first, x genes): the
/// symmetric loss of the online predictions against the target projections, gradients in
/// `ws.grads`; the BatchNorms' running statistics (online and target) move as in `Byol::loss`.
pub fn byol_pass(
    model: &Byol,
    views: &[f32],
    rows: usize,
    dropout_seed: u64,
    ws: &mut ContrastiveWorkspace,
) -> Result<f32, ModelError> {
    let start = Instant::now();
    let (seeds, both) = (view_seeds(dropout_seed), 2 * rows);
    let z = encoder_forward(&model.encoder, views, both, &seeds, &mut ws.encoder)?;
    let p = head_forward(&model.projector, z, both, 2, &mut ws.projector)?;
    let q = head_forward(&model.predictor, p, both, 2, &mut ws.predictor)?;
    let target = model.target_encoder();
    let t = encoder_forward(target, views, both, &[], &mut ws.target_encoder)?;
    // The target projector sees view 1 first, as in `Byol::loss_from_latents` (the order of
    // its running-statistics updates): its output's first half is then the target of online
    // view 0, its second half that of view 1.
    ws.target_in.clear();
    ws.target_in.extend_from_slice(half(t, 1));
    ws.target_in.extend_from_slice(half(t, 0));
    let targets = head_forward(
        &model.target_projector,
        &ws.target_in,
        both,
        2,
        &mut ws.target_projector,
    )?;
    let cols = width(&model.predictor)?;
    ws.d_out.resize(q.len(), 0.0);
    let mut loss = 0.0;
    for (k, d) in ws.d_out.chunks_mut(q.len() / 2).enumerate() {
        loss += byol_loss_grad(half(q, k), half(targets, k), cols, d, &mut ws.loss_parts);
    }
    let mid = Instant::now();
    ws.forward_secs += (mid - start).as_secs_f64();
    let p = ws.projector.output();
    let d = head_backward(&model.predictor, p, both, &ws.d_out, &mut ws.predictor)?;
    let z = ws.encoder.output();
    let dz = head_backward(&model.projector, z, both, d, &mut ws.projector)?;
    encoder_backward(&model.encoder, views, both, dz, &mut ws.encoder)?;
    collect_grads(
        &mut ws.grads,
        &mut [
            &mut ws.encoder.grads,
            &mut ws.projector.grads,
            &mut ws.predictor.grads,
        ],
    );
    ws.backward_secs += mid.elapsed().as_secs_f64();
    Ok(loss as f32)
}

/// One Barlow Twins pass on `views` (both views of `rows` cells, view 0's rows first, x
/// genes): the loss, gradients in `ws.grads`; the projector's running statistics move as in
/// `BarlowTwins::loss`.
pub fn barlow_pass(
    model: &BarlowTwins,
    views: &[f32],
    rows: usize,
    dropout_seed: u64,
    ws: &mut ContrastiveWorkspace,
) -> Result<f32, ModelError> {
    let start = Instant::now();
    let (seeds, both) = (view_seeds(dropout_seed), 2 * rows);
    let z = encoder_forward(&model.encoder, views, both, &seeds, &mut ws.encoder)?;
    let p = head_forward(&model.projector, z, both, 2, &mut ws.projector)?;
    let cols = width(&model.projector)?;
    let loss = barlow_loss_grad(
        [half(p, 0), half(p, 1)],
        cols,
        model.lambda,
        &mut ws.barlow,
        &mut ws.d_out,
    );
    let mid = Instant::now();
    ws.forward_secs += (mid - start).as_secs_f64();
    let z = ws.encoder.output();
    let dz = head_backward(&model.projector, z, both, &ws.d_out, &mut ws.projector)?;
    encoder_backward(&model.encoder, views, both, dz, &mut ws.encoder)?;
    collect_grads(
        &mut ws.grads,
        &mut [&mut ws.encoder.grads, &mut ws.projector.grads],
    );
    ws.backward_secs += mid.elapsed().as_secs_f64();
    Ok(loss as f32)
}
