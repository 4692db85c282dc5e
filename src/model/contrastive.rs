//! Contrastive learning: BYOL (online/target networks, EMA target, symmetric 2 - 2cos loss) and
//! Barlow Twins (cross-correlation of batch-normalised projections), with their BN + ReLU heads.

use candle_core::{D, Device, Tensor, Var};

use crate::config::{ContrastiveConfig, ModelConfig};
#[cfg(test)]
use crate::model::kernels::to_vec;
use crate::model::optim::ema_update;
use crate::model::params::{Init, ParamStore};
use crate::model::random::mix;
use crate::model::{Encoder, ModelError};

/// BatchNorm's variance epsilon and running-statistics momentum (PyTorch's defaults).
pub(crate) const BN_EPS: f64 = 1e-5;
pub(crate) const BN_MOMENTUM: f64 = 0.1;

/// Normalises each column over the batch (no affine), as BatchNorm1d(affine=False) in training.
fn standardise(x: &Tensor) -> Result<Tensor, ModelError> {
    let mean = x.mean_keepdim(0)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(0)?;
    Ok(centred.broadcast_div(&(var + BN_EPS)?.sqrt()?)?)
}

/// BatchNorm1d with learned scale/shift and running statistics for evaluation.
#[derive(Debug, Clone)]
pub struct BatchNorm1d {
    pub(crate) gamma: Tensor,
    pub(crate) beta: Tensor,
    pub(crate) running_mean: Var,
    pub(crate) running_var: Var,
}

impl BatchNorm1d {
    fn new(
        params: &mut ParamStore,
        buffers: &mut ParamStore,
        name: &str,
        width: usize,
        dev: &Device,
    ) -> Result<Self, ModelError> {
        let gamma = params.add(format!("{name}.weight"), &[width], vec![1.0; width], dev)?;
        let beta = params.add(format!("{name}.bias"), &[width], vec![0.0; width], dev)?;
        buffers.add(
            format!("{name}.running_mean"),
            &[width],
            vec![0.0; width],
            dev,
        )?;
        buffers.add(
            format!("{name}.running_var"),
            &[width],
            vec![1.0; width],
            dev,
        )?;
        let n = buffers.vars().len();
        Ok(Self {
            gamma,
            beta,
            running_mean: buffers.vars()[n - 2].clone(),
            running_var: buffers.vars()[n - 1].clone(),
        })
    }

    /// Batch statistics (updating the running ones) when `train`, running statistics otherwise.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        let normed = if train {
            let n = x.dim(0)? as f64;
            let mean = x.mean_keepdim(0)?;
            let centred = x.broadcast_sub(&mean)?;
            let var = centred.sqr()?.mean_keepdim(0)?;
            let unbiased = (var.detach() * (n / (n - 1.0).max(1.0)))?.squeeze(0)?;
            let rm = ((self.running_mean.as_tensor() * (1.0 - BN_MOMENTUM))?
                + (mean.detach().squeeze(0)? * BN_MOMENTUM)?)?;
            let rv = ((self.running_var.as_tensor() * (1.0 - BN_MOMENTUM))?
                + (unbiased * BN_MOMENTUM)?)?;
            self.running_mean.set(&rm)?;
            self.running_var.set(&rv)?;
            centred.broadcast_div(&(var + BN_EPS)?.sqrt()?)?
        } else {
            let std = (self.running_var.as_tensor() + BN_EPS)?.sqrt()?;
            x.broadcast_sub(self.running_mean.as_tensor())?
                .broadcast_div(&std)?
        };
        Ok(normed
            .broadcast_mul(&self.gamma)?
            .broadcast_add(&self.beta)?)
    }
}

/// A projection head: (Linear without bias, BatchNorm, ReLU) per hidden width, then a Linear.
#[derive(Debug, Clone)]
pub struct Projector {
    pub(crate) hidden: Vec<(Tensor, BatchNorm1d)>,
    pub(crate) last: Tensor,
}

impl Projector {
    /// Widths `dims[0] -> ... -> dims[last]`, weights named `{prefix}.{i}.*`.
    pub fn new(
        params: &mut ParamStore,
        buffers: &mut ParamStore,
        init: &mut Init,
        prefix: &str,
        dims: &[usize],
    ) -> Result<Self, ModelError> {
        let dev = init.device().clone();
        let mut linear = |params: &mut ParamStore, i: usize| {
            let (a, b) = (dims[i], dims[i + 1]);
            let w = init.uniform(a * b, 1.0 / (a as f32).sqrt());
            params.add(format!("{prefix}.{i}.weight"), &[b, a], w, &dev)
        };
        let mut hidden = Vec::new();
        for i in 0..dims.len() - 2 {
            let w = linear(params, i)?;
            let name = format!("{prefix}.{i}.bn");
            let bn = BatchNorm1d::new(params, buffers, &name, dims[i + 1], &dev)?;
            hidden.push((w, bn));
        }
        let last = linear(params, dims.len() - 2)?;
        Ok(Self { hidden, last })
    }

    /// Projects a batch; `train` selects batch statistics in the BatchNorms.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        let mut h = x.clone();
        for (w, bn) in &self.hidden {
            h = bn.forward(&h.matmul(&w.t()?)?, train)?.relu()?;
        }
        Ok(h.matmul(&self.last.t()?)?)
    }

    /// Multiply-adds (x2) of one forward pass for one row.
    pub fn flops_per_row(&self) -> usize {
        let hidden: usize = self.hidden.iter().map(|(w, _)| w.elem_count()).sum();
        2 * (hidden + self.last.elem_count())
    }
}

/// Mean over the batch of 2 - 2 cos(p, z), with `z` treated as a constant.
pub fn byol_loss(p: &Tensor, z: &Tensor) -> Result<Tensor, ModelError> {
    let unit = |t: &Tensor| -> Result<Tensor, ModelError> {
        let norm = (t.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
        Ok(t.broadcast_div(&norm)?)
    };
    let cos = (unit(p)? * unit(&z.detach())?)?.sum(D::Minus1)?;
    Ok(((cos.mean_all()? * -2.0)? + 2.0)?)
}

/// Barlow Twins loss: sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2 with C the
/// cross-correlation of the batch-normalised projections.
pub fn barlow_loss(z1: &Tensor, z2: &Tensor, lambda: f64) -> Result<Tensor, ModelError> {
    let n = z1.dim(0)? as f64;
    let c = (standardise(z1)?.t()?.matmul(&standardise(z2)?)? / n)?;
    let d = c.dim(0)?;
    let eye = Tensor::eye(d, c.dtype(), c.device())?;
    let diag = (&c * &eye)?.sum(D::Minus1)?;
    let on = (diag.clone() - 1.0)?.sqr()?.sum_all()?;
    let off = (c.sqr()?.sum_all()? - diag.sqr()?.sum_all()?)?;
    Ok((on + (off * lambda)?)?)
}

/// Trainable parameters of the online network and non-trainable state (BN statistics, target).
#[derive(Debug, Clone)]
pub struct ContrastiveState {
    pub params: ParamStore,
    pub buffers: ParamStore,
}

/// `input` followed by the configured `widths` of the head named `key`, checked to be usable.
fn head_dims(key: &'static str, input: usize, widths: &[usize]) -> Result<Vec<usize>, ModelError> {
    if widths.is_empty() || widths.contains(&0) {
        return Err(ModelError::ProjectorWidths {
            key,
            widths: widths.to_vec(),
        });
    }
    Ok(std::iter::once(input)
        .chain(widths.iter().copied())
        .collect())
}

/// BYOL: online encoder + projector + predictor; target encoder + projector by EMA.
#[derive(Debug, Clone)]
pub struct Byol {
    pub encoder: Encoder,
    pub(crate) projector: Projector,
    pub(crate) predictor: Projector,
    target_encoder: Encoder,
    pub(crate) target_projector: Projector,
    /// Online parameters (trained) and buffers (BN statistics).
    pub state: ContrastiveState,
    /// Target parameters, updated by EMA only.
    pub target: ParamStore,
    n_shared: usize,
    tau: f64,
}

impl Byol {
    /// Builds online and target networks (the target a copy of the online one) with the
    /// weights, device and kernels of `init`.
    pub fn build(
        model: &ModelConfig,
        c: &ContrastiveConfig,
        n_genes: usize,
        mut init: Init,
    ) -> Result<Self, ModelError> {
        let mut target_init = init.clone();
        let (mut params, mut buffers, mut target) =
            (ParamStore::new(), ParamStore::new(), ParamStore::new());
        let mut target_buffers = ParamStore::new();
        let dims = head_dims("byol_projector", model.latent, &c.byol_projector)?;
        let out = dims[dims.len() - 1];
        let pred_dims = head_dims("byol_projector", out, &c.byol_projector)?;
        let encoder = Encoder::new(model, n_genes, &mut params, &mut init)?;
        let projector = Projector::new(&mut params, &mut buffers, &mut init, "projector", &dims)?;
        let n_shared = params.vars().len();
        let predictor = Projector::new(
            &mut params,
            &mut buffers,
            &mut init,
            "predictor",
            &pred_dims,
        )?;
        let target_encoder = Encoder::new(model, n_genes, &mut target, &mut target_init)?;
        let target_projector = Projector::new(
            &mut target,
            &mut target_buffers,
            &mut target_init,
            "projector",
            &dims,
        )?;
        buffers.extend_prefixed(target_buffers, "target.");
        let byol = Self {
            encoder,
            projector,
            predictor,
            target_encoder,
            target_projector,
            state: ContrastiveState { params, buffers },
            target,
            n_shared,
            tau: c.byol_tau,
        };
        Ok(byol)
    }

    /// The symmetric BYOL loss of two views; `seed` drives dropout in the online network.
    pub fn loss(&self, v1: &Tensor, v2: &Tensor, seed: Option<u64>) -> Result<Tensor, ModelError> {
        let online = |v: &Tensor, k: u64| self.encoder.forward(v, seed.map(|s| mix(s, k)));
        let z = [online(v1, 1)?, online(v2, 2)?];
        let t = [
            self.target_encoder.forward(v1, None)?,
            self.target_encoder.forward(v2, None)?,
        ];
        self.loss_from_latents([&z[0], &z[1]], [&t[0], &t[1]], seed.is_some())
    }

    /// The BYOL loss from the online (`z`) and target (`t`) encoders' latents of both views.
    pub fn loss_from_latents(
        &self,
        z: [&Tensor; 2],
        t: [&Tensor; 2],
        train: bool,
    ) -> Result<Tensor, ModelError> {
        let online = |z: &Tensor| {
            self.predictor
                .forward(&self.projector.forward(z, train)?, train)
        };
        let target = |t: &Tensor| -> Result<Tensor, ModelError> {
            Ok(self.target_projector.forward(&t.detach(), train)?.detach())
        };
        Ok((byol_loss(&online(z[0])?, &target(t[1])?)?
            + byol_loss(&online(z[1])?, &target(t[0])?)?)?)
    }

    /// Floating-point operations of one training step per cell: both views through the online
    /// network (forward + backward) and through the target (forward).
    pub fn train_flops_per_cell(&self) -> usize {
        let enc = self.encoder.mlp.flops_per_row();
        let online = enc + self.projector.flops_per_row() + self.predictor.flops_per_row();
        let target = enc + self.target_projector.flops_per_row();
        2 * (3 * online + target)
    }

    /// The target network's encoder.
    pub fn target_encoder(&self) -> &Encoder {
        &self.target_encoder
    }

    /// target = tau * target + (1 - tau) * online, for the encoder and projector.
    pub fn update_target(&self) -> Result<(), ModelError> {
        let (target, online, tau) = self.ema_pairs();
        ema_update(target, online, tau)
    }

    /// The target parameters, the online parameters they follow, and the EMA rate.
    pub fn ema_pairs(&self) -> (&[Var], &[Var], f64) {
        (
            self.target.vars(),
            &self.state.params.vars()[..self.n_shared],
            self.tau,
        )
    }
}

/// Barlow Twins: encoder + projector, cross-correlation loss.
#[derive(Debug, Clone)]
pub struct BarlowTwins {
    pub encoder: Encoder,
    pub(crate) projector: Projector,
    pub state: ContrastiveState,
    pub(crate) lambda: f64,
}

impl BarlowTwins {
    /// Builds the encoder and projector with the weights, device and kernels of `init`.
    pub fn build(
        model: &ModelConfig,
        c: &ContrastiveConfig,
        n_genes: usize,
        mut init: Init,
    ) -> Result<Self, ModelError> {
        let (mut params, mut buffers) = (ParamStore::new(), ParamStore::new());
        let encoder = Encoder::new(model, n_genes, &mut params, &mut init)?;
        let dims = head_dims("barlow_projector", model.latent, &c.barlow_projector)?;
        let projector = Projector::new(&mut params, &mut buffers, &mut init, "projector", &dims)?;
        Ok(Self {
            encoder,
            projector,
            state: ContrastiveState { params, buffers },
            lambda: c.barlow_lambda,
        })
    }

    /// The Barlow Twins loss of two views; `seed` drives dropout (training mode).
    pub fn loss(&self, v1: &Tensor, v2: &Tensor, seed: Option<u64>) -> Result<Tensor, ModelError> {
        let encode = |v: &Tensor, k: u64| self.encoder.forward(v, seed.map(|s| mix(s, k)));
        let z = [encode(v1, 1)?, encode(v2, 2)?];
        self.loss_from_latents([&z[0], &z[1]], seed.is_some())
    }

    /// Floating-point operations of one training step per cell: both views, forward + backward,
    /// and the loss's cross-correlation matrix (d x d from the batch) with its two gradients.
    pub fn train_flops_per_cell(&self) -> usize {
        let d = self.projector.last.dims().first().copied().unwrap_or(0);
        2 * 3 * (self.encoder.mlp.flops_per_row() + self.projector.flops_per_row()) + 3 * 2 * d * d
    }

    /// The Barlow Twins loss from the encoder's latents of both views.
    pub fn loss_from_latents(&self, z: [&Tensor; 2], train: bool) -> Result<Tensor, ModelError> {
        let p1 = self.projector.forward(z[0], train)?;
        let p2 = self.projector.forward(z[1], train)?;
        barlow_loss(&p1, &p2, self.lambda)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AdamW;

    #[test]
    fn barlow_loss_is_zero_for_identical_decorrelated_projections() {
        // Columns are centred, orthogonal and of equal norm: C is the identity.
        let z = Tensor::from_vec(
            vec![1f32, 1., 1., -1., -1., 1., -1., -1.],
            (4, 2),
            &Device::Cpu,
        )
        .unwrap();
        let loss = barlow_loss(&z, &z, 0.0051)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(loss.abs() < 1e-4, "{loss}");
        let shuffled = Tensor::from_vec(
            vec![1f32, -1., 1., 1., -1., -1., -1., 1.],
            (4, 2),
            &Device::Cpu,
        )
        .unwrap();
        let loss = barlow_loss(&z, &shuffled, 0.0051)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(loss > 0.5, "uncorrelated views are penalised: {loss}");
    }

    /// Names and shapes of the head weights (not BatchNorm) of a parameter store.
    fn head_shapes(store: &ParamStore) -> Vec<(String, Vec<usize>)> {
        store
            .names()
            .iter()
            .zip(store.vars())
            .filter(|(n, _)| !n.starts_with("encoder") && !n.contains(".bn."))
            .map(|(n, v)| (n.clone(), v.dims().to_vec()))
            .collect()
    }

    fn shapes(expect: &[(&str, [usize; 2])]) -> Vec<(String, Vec<usize>)> {
        expect
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_vec()))
            .collect()
    }

    #[test]
    fn default_heads_have_the_shapes_of_method_md() {
        let (model, c) = (ModelConfig::default(), ContrastiveConfig::default());
        assert_eq!(model.latent, 64);
        let byol = Byol::build(&model, &c, 10, Init::new(0, Device::Cpu)).unwrap();
        assert_eq!(
            head_shapes(&byol.state.params),
            shapes(&[
                ("projector.0.weight", [4096, 64]),
                ("projector.1.weight", [256, 4096]),
                ("predictor.0.weight", [4096, 256]),
                ("predictor.1.weight", [256, 4096]),
            ])
        );
        assert_eq!(
            head_shapes(&byol.target),
            head_shapes(&byol.state.params)[..2]
        );
        let barlow = BarlowTwins::build(&model, &c, 10, Init::new(0, Device::Cpu)).unwrap();
        assert_eq!(
            head_shapes(&barlow.state.params),
            shapes(&[
                ("projector.0.weight", [256, 64]),
                ("projector.1.weight", [256, 256]),
                ("projector.2.weight", [512, 256]),
                ("projector.3.weight", [512, 512]),
            ])
        );
        let bn: Vec<usize> = barlow
            .state
            .params
            .names()
            .iter()
            .zip(barlow.state.params.vars())
            .filter(|(n, _)| n.ends_with(".bn.weight"))
            .map(|(_, v)| v.elem_count())
            .collect();
        assert_eq!(bn, [256, 256, 512], "BatchNorm on every hidden layer");
    }

    #[test]
    fn unusable_head_widths_are_an_error_naming_the_key() {
        let model = ModelConfig {
            hidden: vec![8],
            latent: 4,
            ..ModelConfig::default()
        };
        let empty = ContrastiveConfig {
            byol_projector: vec![],
            barlow_projector: vec![8, 0],
            ..ContrastiveConfig::default()
        };
        let e = Byol::build(&model, &empty, 10, Init::new(0, Device::Cpu))
            .unwrap_err()
            .to_string();
        assert!(e.contains("contrastive.byol_projector"), "{e}");
        let e = BarlowTwins::build(&model, &empty, 10, Init::new(0, Device::Cpu))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("contrastive.barlow_projector") && e.contains("[8, 0]"),
            "{e}"
        );
    }

    #[test]
    fn byol_target_moves_by_the_ema_formula_after_a_step() {
        let model = ModelConfig {
            hidden: vec![8],
            latent: 4,
            dropout: 0.0,
            ..ModelConfig::default()
        };
        let c = ContrastiveConfig {
            byol_projector: vec![8, 6],
            ..ContrastiveConfig::default()
        };
        let byol = Byol::build(&model, &c, 10, Init::new(3, Device::Cpu)).unwrap();
        let before: Vec<Vec<f32>> = byol
            .target
            .vars()
            .iter()
            .map(|v| to_vec(v).unwrap())
            .collect();
        let x1 = Tensor::rand(0f32, 1., (16, 10), &Device::Cpu).unwrap();
        let x2 = Tensor::rand(0f32, 1., (16, 10), &Device::Cpu).unwrap();
        let loss = byol.loss(&x1, &x2, Some(1)).unwrap();
        let grads = loss.backward().unwrap();
        let mut opt = AdamW::new(byol.state.params.vars(), 0.0);
        opt.step(byol.state.params.vars(), &grads, 1e-2, 0.0)
            .unwrap();
        byol.update_target().unwrap();
        let online = &byol.state.params.vars()[..byol.target.vars().len()];
        for ((t, o), b) in byol.target.vars().iter().zip(online).zip(&before) {
            let (t, o) = (to_vec(t).unwrap(), to_vec(o).unwrap());
            assert_ne!(&t, b, "target weights changed");
            for i in 0..t.len() {
                let expect = 0.99 * b[i] + 0.01 * o[i];
                assert!((t[i] - expect).abs() < 1e-6);
            }
        }
    }
}
