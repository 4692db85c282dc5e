//! The device path: the same methods, weights, masks and checkpoints as the CPU fast path
//! ([`crate::train::Learner`]), run as candle tensor ops with autograd and a tensor AdamW on any
//! candle `Device` (a CUDA GPU, or the CPU for tests and for users who force it).
//!
//! Batches (masks, augmented views, dropout masks) are drawn on the host from the same seeds
//! as the fast path and copied to the device once per step; the loss is read back once per step
//! (the worker logs it and stops on a non-finite value).

use candle_core::{Device, Tensor};
use std::time::Instant;

use crate::config::Config;
use crate::data::CsrMatrix;
use crate::data::genesets::MatchedSets;
use crate::model::augment::Augmenter;
use crate::model::masking::MaskedBatch;
use crate::model::params::{Init, NamedTensor};
use crate::model::random::mix;
use crate::model::tensor_adamw::{TensorAdamW, ema_towards};
use crate::model::{Encoder, ModelError, ParamStore};
use crate::train::checkpoint::TensorMap;
use crate::train::method::{
    BatchScore, DROPOUT_SALT, EvalScore, Method, PhaseTimes, evaluate_batches,
};
use crate::train::net::Net;

/// A model on a device, its tensor optimiser and the host buffers batches are drawn into.
pub struct DeviceLearner {
    device: Device,
    method: Method,
    net: Net,
    opt: TensorAdamW,
    batch: MaskedBatch,
    views: [Vec<f32>; 2],
    augmenter: Augmenter,
    times: PhaseTimes,
}

/// Sum of `weight * (pred - target)^2` over all entries, divided by `denom` (at least 1).
fn masked_mse(
    pred: &Tensor,
    target: &Tensor,
    weight: &Tensor,
    denom: f64,
) -> candle_core::Result<Tensor> {
    ((pred - target)?.sqr()? * weight)?.sum_all()? / denom.max(1.0)
}

/// A masked batch on the device: (input, target, weight).
type MaskedTensors = (Tensor, Tensor, Tensor);

impl DeviceLearner {
    /// Builds the model for `method` on `device` with the fast path's initial weights
    /// (`config.train.seed`).
    pub fn new(
        config: &Config,
        method: Method,
        n_genes: usize,
        sets: Option<&MatchedSets>,
        device: Device,
    ) -> anyhow::Result<Self> {
        let init = Init::plain(config.train.seed, device.clone());
        let net = Net::build(config, method, n_genes, sets, init)?;
        let opt = TensorAdamW::new(net.params().vars(), config.train.weight_decay)?;
        Ok(Self {
            device,
            method,
            net,
            opt,
            batch: MaskedBatch::default(),
            views: [Vec::new(), Vec::new()],
            augmenter: Augmenter::from_config(&config.contrastive),
            times: PhaseTimes::default(),
        })
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The method trained.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The trainable parameters (on the device).
    pub fn params(&self) -> &ParamStore {
        self.net.params()
    }

    /// The encoder (on the device).
    pub fn encoder(&self) -> &Encoder {
        self.net.encoder()
    }

    /// Floating-point operations of one training step per cell (matmuls only).
    pub fn flops_per_cell(&self) -> f64 {
        self.net.flops_per_cell()
    }

    /// Time spent per phase over the training steps so far (a GPU runs asynchronously: its
    /// work is counted where the host waits for it, mostly at the loss read-back).
    pub fn phase_times(&self) -> PhaseTimes {
        self.times
    }

    fn upload(&self, values: &[f32], rows: usize, cols: usize) -> Result<Tensor, ModelError> {
        Ok(Tensor::from_slice(values, (rows, cols), &self.device)?)
    }

    /// Masks `rows` of `x` as the pretext task does and copies the batch to the device.
    fn masked_batch(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        seed: u64,
    ) -> Result<MaskedTensors, ModelError> {
        let Net::Autoencoder(_, pretext) = &self.net else {
            unreachable!("masked methods only")
        };
        pretext.fill(x, rows, seed, &mut self.batch);
        let (r, c) = (rows.len(), x.n_cols);
        let b = &self.batch;
        Ok((
            self.upload(&b.input, r, c)?,
            self.upload(&b.target, r, c)?,
            self.upload(&b.weight, r, c)?,
        ))
    }

    /// Densifies `rows` of `x`, draws its two augmented views and copies them to the device.
    fn view_pair(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        seed: u64,
    ) -> Result<[Tensor; 2], ModelError> {
        let c = x.n_cols;
        self.batch.target.resize(rows.len() * c, 0.0);
        x.densify_rows(rows, &mut self.batch.target);
        for (k, view) in self.views.iter_mut().enumerate() {
            view.resize(self.batch.target.len(), 0.0);
            self.augmenter
                .view(&self.batch.target, c, mix(seed, k as u64), view);
        }
        Ok([
            self.upload(&self.views[0], rows.len(), c)?,
            self.upload(&self.views[1], rows.len(), c)?,
        ])
    }

    /// The loss of one batch on the device (`train`: dropout, batch statistics, autograd graph),
    /// with, for masked methods, the batch's target and weight tensors.
    fn batch_loss(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        seed: u64,
        train: bool,
    ) -> Result<(Tensor, Option<(Tensor, Tensor)>), ModelError> {
        let dropout = train.then(|| mix(seed, DROPOUT_SALT));
        let start = Instant::now();
        if self.method.is_masked() {
            let (input, target, weight) = self.masked_batch(x, rows, seed)?;
            self.times.batch += start.elapsed().as_secs_f64();
            let Net::Autoencoder(model, _) = &self.net else {
                unreachable!("masked methods train an autoencoder")
            };
            let pred = model.forward(&input, dropout)?;
            let loss = masked_mse(&pred, &target, &weight, self.batch.n_scored)?;
            return Ok((loss, Some((target, weight))));
        }
        let [v1, v2] = self.view_pair(x, rows, seed)?;
        self.times.batch += start.elapsed().as_secs_f64();
        let loss = match &self.net {
            Net::Byol(m) => m.loss(&v1, &v2, dropout)?,
            Net::Barlow(m) => m.loss(&v1, &v2, dropout)?,
            Net::Autoencoder(..) => unreachable!("contrastive methods only"),
        };
        Ok((loss, None))
    }

    /// One optimiser step on `rows` of `x`, as [`crate::train::Learner::train_step`]. A
    /// non-finite loss is returned without updating.
    pub fn train_step(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        seed: u64,
        lr: f64,
        clip: f64,
    ) -> Result<f32, ModelError> {
        let start = Instant::now();
        let (loss, _) = self.batch_loss(x, rows, seed, true)?;
        let value = loss.to_scalar::<f32>()?;
        let t_forward = Instant::now();
        self.times.forward += (t_forward - start).as_secs_f64();
        if !value.is_finite() {
            return Ok(value);
        }
        let grads = loss.backward()?;
        let t_backward = Instant::now();
        self.times.backward += (t_backward - t_forward).as_secs_f64();
        self.opt.step(self.net.params().vars(), &grads, lr, clip)?;
        if let Net::Byol(m) = &self.net {
            let (target, online, tau) = m.ema_pairs();
            ema_towards(target, online, tau)?;
        }
        self.times.optimizer += t_backward.elapsed().as_secs_f64();
        self.times.steps += 1;
        Ok(value)
    }

    /// Validation loss over `rows` in eval mode, as [`crate::train::Learner::evaluate`], with
    /// the gene-mean baseline of masked methods computed on the device.
    pub fn evaluate(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        batch_size: usize,
        seed: u64,
        gene_mean: &[f32],
    ) -> Result<EvalScore, ModelError> {
        let mean = self.upload(gene_mean, 1, gene_mean.len())?;
        evaluate_batches(self.method, rows, batch_size, seed, |chunk, seed| {
            let (loss, masked) = self.batch_loss(x, chunk, seed, false)?;
            let loss = f64::from(loss.to_scalar::<f32>()?);
            Ok(match masked {
                Some((target, w)) => {
                    let off = target.broadcast_sub(&mean)?;
                    let base = (off.sqr()? * w)?.sum_all()?.to_scalar::<f32>()?;
                    BatchScore::masked(loss, self.batch.n_scored, f64::from(base))
                }
                None => BatchScore::per_cell(loss, chunk.len()),
            })
        })
    }

    /// Every tensor of the model (and the optimiser moments when `with_optimizer`), named as
    /// the fast path names them, copied to the host.
    pub fn export(&self, with_optimizer: bool) -> Result<Vec<NamedTensor>, ModelError> {
        let mut out = self.net.export()?;
        if !with_optimizer {
            return Ok(out);
        }
        let params = self.net.params();
        for (i, (name, var)) in params.names().iter().zip(params.vars()).enumerate() {
            for (kind, moment) in [("m", &self.opt.m[i]), ("v", &self.opt.v[i])] {
                let values = moment.flatten_all()?.to_vec1::<f32>()?;
                out.push((format!("adam.{kind}.{name}"), var.dims().to_vec(), values));
            }
        }
        Ok(out)
    }

    /// Restores model and optimiser from checkpoint tensors (written by either path); `steps`
    /// is the optimiser step count.
    pub fn import(&mut self, tensors: &TensorMap, steps: u64) -> Result<(), ModelError> {
        self.net.import(tensors)?;
        let params = self.net.params();
        let device = &self.device;
        for (i, (name, var)) in params.names().iter().zip(params.vars()).enumerate() {
            let moment = |kind: &str| -> Result<Tensor, ModelError> {
                let key = format!("adam.{kind}.{name}");
                let (shape, values) = tensors
                    .get(&key)
                    .ok_or(ModelError::MissingTensor(key.clone()))?;
                if values.len() != var.elem_count() {
                    return Err(ModelError::Shape {
                        name: key,
                        expected: var.dims().to_vec(),
                        found: shape.clone(),
                    });
                }
                Ok(Tensor::from_slice(values, var.dims(), device)?)
            };
            self.opt.m[i] = moment("m")?;
            self.opt.v[i] = moment("v")?;
        }
        self.opt.step = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::log_normalised_cells;
    use crate::train::Learner;

    /// Largest relative difference allowed between the two paths' losses at any step: both run
    /// in f32 but sum in different orders (the fast path's reductions in f64), and Adam's
    /// normalised steps let such differences grow slowly.
    /// Measured: at most 3e-6 over 12 steps of every method.
    const LOSS_RTOL: f64 = 1e-3;

    /// The contrastive validation loss (BatchNorm with running statistics) after those steps.
    /// The latent's bias feeds a BatchNorm, which cancels it: its true gradient is zero, and
    /// Adam turns the two paths' different rounding noise there into full steps of +-lr. The
    /// training loss cannot see that direction; the running statistics of evaluation can, a
    /// little (measured 1.3e-3 for BYOL).
    const EVAL_RTOL_CONTRASTIVE: f64 = 5e-3;

    fn config() -> Config {
        let mut config = Config::default();
        config.model.hidden = vec![32, 16];
        config.model.latent = 8;
        config.model.dropout = 0.1;
        config.contrastive.byol_projector = vec![16, 8];
        config.contrastive.barlow_projector = vec![16, 16];
        config
    }

    fn programmes() -> MatchedSets {
        MatchedSets {
            names: (0..4).map(|k| format!("P{k}")).collect(),
            genes: (0..4u32).map(|k| (k * 10..k * 10 + 6).collect()).collect(),
            n_total: 4,
        }
    }

    const METHODS: [Method; 5] = [
        Method::Masked,
        Method::Gp,
        Method::GpTf,
        Method::Byol,
        Method::Barlow,
    ];

    fn relative(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1e-6)
    }

    #[test]
    fn both_paths_give_the_same_loss_curve_for_every_method() {
        let (x, _) = log_normalised_cells(96, 40, 3, 7);
        let (config, sets) = (config(), programmes());
        let rows: Vec<usize> = (0..96).collect();
        let val: Vec<usize> = (64..96).collect();
        let mean = crate::train::method::gene_means(&x, &rows[..64]);
        for method in METHODS {
            let mut fast = Learner::new(&config, method, 40, Some(&sets)).unwrap();
            let mut device =
                DeviceLearner::new(&config, method, 40, Some(&sets), Device::Cpu).unwrap();
            let mut worst = 0.0f64;
            for step in 0..12u64 {
                let batch = &rows[(step as usize % 2) * 32..][..32];
                let a = fast.train_step(&x, batch, step, 3e-3, 1.0).unwrap();
                let b = device.train_step(&x, batch, step, 3e-3, 1.0).unwrap();
                assert!(a.is_finite() && b.is_finite(), "{method:?} step {step}");
                worst = worst.max(relative(f64::from(b), f64::from(a)));
            }
            assert!(
                worst < LOSS_RTOL,
                "{method:?}: loss curves differ by {worst:e}"
            );
            let a = fast.evaluate(&x, &val, 16, 9, &mean).unwrap();
            let b = device.evaluate(&x, &val, 16, 9, &mean).unwrap();
            let tol = if method.is_masked() {
                LOSS_RTOL
            } else {
                EVAL_RTOL_CONTRASTIVE
            };
            assert!(relative(b.loss, a.loss) < tol, "{method:?}: {a:?} vs {b:?}");
            match (a.baseline, b.baseline) {
                (Some(p), Some(q)) => assert!(relative(q, p) < 1e-5, "{method:?}: {p} vs {q}"),
                (p, q) => assert_eq!(p.is_some(), q.is_some(), "{method:?}"),
            }
        }
    }

    #[test]
    fn the_loss_falls_on_the_device_path() {
        let (x, _) = log_normalised_cells(64, 40, 3, 3);
        let rows: Vec<usize> = (0..64).collect();
        for method in [Method::Masked, Method::Barlow] {
            let mut device = DeviceLearner::new(&config(), method, 40, None, Device::Cpu).unwrap();
            let losses: Vec<f32> = (0..30)
                .map(|s| device.train_step(&x, &rows, s % 4, 1e-2, 1.0).unwrap())
                .collect();
            let (first, last): (f32, f32) = (losses[..4].iter().sum(), losses[26..].iter().sum());
            assert!(last < first * 0.9, "{method:?}: {losses:?}");
        }
    }

    #[test]
    fn checkpoints_move_between_the_paths() {
        let (x, _) = log_normalised_cells(64, 40, 3, 5);
        let (config, sets) = (config(), programmes());
        let rows: Vec<usize> = (0..32).collect();
        let mean = crate::train::method::gene_means(&x, &rows);
        for method in METHODS {
            // Train on the device path, resume on the fast path, and back.
            let mut device =
                DeviceLearner::new(&config, method, 40, Some(&sets), Device::Cpu).unwrap();
            for s in 0..3 {
                device.train_step(&x, &rows, s, 1e-2, 1.0).unwrap();
            }
            let saved: TensorMap = device
                .export(true)
                .unwrap()
                .into_iter()
                .map(|(n, shape, v)| (n, (shape, v)))
                .collect();
            let mut fast = Learner::new(&config, method, 40, Some(&sets)).unwrap();
            fast.import(&saved, 3).unwrap();
            let names: Vec<String> = fast
                .export(true)
                .unwrap()
                .into_iter()
                .map(|t| t.0)
                .collect();
            let mut keys: Vec<&String> = saved.keys().collect();
            keys.sort();
            let mut sorted = names.iter().collect::<Vec<_>>();
            sorted.sort();
            assert_eq!(keys, sorted, "{method:?}: the same tensor names");
            let a = fast.evaluate(&x, &rows, 16, 1, &mean).unwrap();
            let b = device.evaluate(&x, &rows, 16, 1, &mean).unwrap();
            assert!(
                relative(a.loss, b.loss) < LOSS_RTOL,
                "{method:?}: {a:?} vs {b:?}"
            );
            let next_fast = fast.train_step(&x, &rows, 3, 1e-2, 1.0).unwrap();
            let next_device = device.train_step(&x, &rows, 3, 1e-2, 1.0).unwrap();
            let gap = relative(f64::from(next_fast), f64::from(next_device));
            assert!(
                gap < LOSS_RTOL,
                "{method:?}: resumed step differs by {gap:e}"
            );
            let back: TensorMap = fast
                .export(true)
                .unwrap()
                .into_iter()
                .map(|(n, shape, v)| (n, (shape, v)))
                .collect();
            let mut again =
                DeviceLearner::new(&config, method, 40, Some(&sets), Device::Cpu).unwrap();
            again.import(&back, 4).unwrap();
            let c = again.evaluate(&x, &rows, 16, 1, &mean).unwrap();
            let d = fast.evaluate(&x, &rows, 16, 1, &mean).unwrap();
            assert!(
                relative(c.loss, d.loss) < LOSS_RTOL,
                "{method:?}: {c:?} vs {d:?}"
            );
        }
    }
}
