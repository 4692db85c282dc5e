//! The pretext task being trained: builds the model for a method, runs one optimiser step on a
//! batch, scores validation batches, and converts its state to and from checkpoint tensors.

#[cfg(test)]
use candle_core::Var;
use candle_core::{Device, Tensor};
use std::time::Instant;

use crate::config::Config;
use crate::data::CsrMatrix;
use crate::data::genesets::MatchedSets;
use crate::model::augment::Augmenter;
use crate::model::backprop::{Workspace, autoencoder_pass};
use crate::model::contrastive_pass::{ContrastiveWorkspace, barlow_pass, byol_pass};
use crate::model::kernels::masked_mse;
#[cfg(test)]
use crate::model::kernels::to_vec;
use crate::model::masking::MaskedBatch;
#[cfg(test)]
use crate::model::masking::Pretext;
use crate::model::matmul::Precision;
use crate::model::params::{Init, NamedTensor};
use crate::model::random::mix;
use crate::model::{AdamW, Encoder, ModelError, ParamStore};
use crate::train::checkpoint::TensorMap;
use crate::train::net::Net;

/// The self-supervised methods `cellscope train --method` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Random gene masking.
    Masked,
    /// Gene-programme masking.
    Gp,
    /// Isolated masking: keep one programme (TF targets), predict the rest.
    GpTf,
    Byol,
    Barlow,
}

impl Method {
    /// Parses a method name as given on the command line or in `[train] method`.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "masked" => Self::Masked,
            "gp" => Self::Gp,
            "gp-tf" | "gp-gp" => Self::GpTf,
            "byol" => Self::Byol,
            "barlow" => Self::Barlow,
            other => anyhow::bail!(
                "unknown method {other:?} (expected masked, gp, gp-tf, byol or barlow)"
            ),
        })
    }

    /// The canonical name (used in run directory names).
    pub fn name(self) -> &'static str {
        match self {
            Self::Masked => "masked",
            Self::Gp => "gp",
            Self::GpTf => "gp-tf",
            Self::Byol => "byol",
            Self::Barlow => "barlow",
        }
    }

    /// Whether the method needs gene programmes.
    pub fn uses_gene_sets(self) -> bool {
        matches!(self, Self::Gp | Self::GpTf)
    }

    /// Whether its loss is a masked reconstruction error (with a gene-mean baseline).
    pub fn is_masked(self) -> bool {
        matches!(self, Self::Masked | Self::Gp | Self::GpTf)
    }
}

/// Salt of the per-step dropout seed.
pub(crate) const DROPOUT_SALT: u64 = 0xD0;

/// Smallest programme (genes present in the data) used for masking.
pub const MIN_PROGRAMME_GENES: usize = 3;

/// A validation score: the loss and, for masked methods, the gene-mean baseline on the same masks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalScore {
    pub loss: f64,
    pub baseline: Option<f64>,
}

/// Seconds spent in each phase of the training steps so far (for profiling).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    /// Densifying, masking or augmenting the batch.
    pub batch: f64,
    pub forward: f64,
    pub backward: f64,
    pub optimizer: f64,
    pub steps: usize,
}

/// A model, its optimiser and reusable batch buffers for one method.
pub struct Learner {
    times: PhaseTimes,
    workspace: Workspace,
    /// Buffers of the contrastive methods' pass.
    contrastive: ContrastiveWorkspace,
    method: Method,
    net: Net,
    opt: AdamW,
    batch: MaskedBatch,
    /// The two augmented views of the batch, view 0's rows first.
    views: Vec<f32>,
    augmenter: Augmenter,
    /// The number format of the training step's matrix products.
    precision: Precision,
}

fn tensor(values: &[f32], rows: usize, cols: usize) -> Result<Tensor, ModelError> {
    Ok(Tensor::from_slice(values, (rows, cols), &Device::Cpu)?)
}

impl Learner {
    /// Builds the model for `method` on `n_genes` genes, initialised from `config.train.seed`.
    pub fn new(
        config: &Config,
        method: Method,
        n_genes: usize,
        sets: Option<&MatchedSets>,
    ) -> anyhow::Result<Self> {
        let init = Init::new(config.train.seed, Device::Cpu);
        let net = Net::build(config, method, n_genes, sets, init)?;
        let mut learner = Self {
            times: PhaseTimes::default(),
            workspace: Workspace::default(),
            contrastive: ContrastiveWorkspace::default(),
            method,
            net,
            opt: AdamW::new(&[], config.train.weight_decay),
            batch: MaskedBatch::default(),
            views: Vec::new(),
            augmenter: Augmenter::from_config(&config.contrastive),
            precision: config.train.precision,
        };
        learner.opt = AdamW::new(learner.params().vars(), config.train.weight_decay);
        Ok(learner)
    }

    /// Time spent per phase over the training steps so far.
    pub fn phase_times(&self) -> PhaseTimes {
        self.times
    }

    /// The method trained.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The trainable parameters.
    pub fn params(&self) -> &ParamStore {
        self.net.params()
    }

    /// The encoder whose embedding is the result of pretraining.
    pub fn encoder(&self) -> &Encoder {
        self.net.encoder()
    }

    /// Floating-point operations of one training step per cell (matmuls only).
    pub fn flops_per_cell(&self) -> f64 {
        self.net.flops_per_cell()
    }

    /// The loss of one batch; `dropout` is `Some(seed)` in training mode.
    fn batch_loss(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        seed: u64,
        train: bool,
    ) -> Result<Tensor, ModelError> {
        let (r, c) = (rows.len(), x.n_cols);
        let dropout = train.then(|| mix(seed, DROPOUT_SALT));
        let start = Instant::now();
        match &self.net {
            Net::Autoencoder(model, pretext) => {
                pretext.fill(x, rows, seed, &mut self.batch);
                self.times.batch += start.elapsed().as_secs_f64();
                let b = &self.batch;
                let pred = model.forward(&tensor(&b.input, r, c)?, dropout)?;
                Ok(masked_mse(
                    &pred,
                    &tensor(&b.target, r, c)?,
                    &tensor(&b.weight, r, c)?,
                    b.n_scored as f32,
                )?)
            }
            Net::Byol(_) | Net::Barlow(_) => {
                self.make_views(x, rows, seed);
                self.times.batch += start.elapsed().as_secs_f64();
                let n = r * c;
                let (v1, v2) = (
                    tensor(&self.views[..n], r, c)?,
                    tensor(&self.views[n..], r, c)?,
                );
                match &self.net {
                    Net::Byol(m) => m.loss(&v1, &v2, dropout),
                    Net::Barlow(m) => m.loss(&v1, &v2, dropout),
                    Net::Autoencoder(..) => unreachable!("handled above"),
                }
            }
        }
    }

    /// Densifies `rows` of `x` and writes its two augmented views.
    fn make_views(&mut self, x: &CsrMatrix, rows: &[usize], seed: u64) {
        let c = x.n_cols;
        self.batch.target.resize(rows.len() * c, 0.0);
        x.densify_rows(rows, &mut self.batch.target);
        let (clean, augmenter) = (&self.batch.target, &self.augmenter);
        self.views.resize(2 * clean.len(), 0.0);
        let (v0, v1) = self.views.split_at_mut(clean.len());
        // Both views at once: cells with NB noise cost far more, so one pool balances better.
        rayon::join(
            || augmenter.view(clean, c, mix(seed, 0), v0),
            || augmenter.view(clean, c, mix(seed, 1), v1),
        );
    }

    /// Loss of a contrastive method on one batch on the hand-written pass; the gradients (one
    /// buffer per trainable parameter) end in `self.contrastive.grads`.
    fn contrastive_grads(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        seed: u64,
    ) -> Result<f32, ModelError> {
        let start = Instant::now();
        self.make_views(x, rows, seed);
        self.times.batch += start.elapsed().as_secs_f64();
        let ws = &mut self.contrastive;
        let (f0, b0) = (ws.forward_secs, ws.backward_secs);
        let views = &self.views;
        let dropout = mix(seed, DROPOUT_SALT);
        let loss = match &self.net {
            Net::Byol(m) => byol_pass(m, views, rows.len(), dropout, ws)?,
            Net::Barlow(m) => barlow_pass(m, views, rows.len(), dropout, ws)?,
            Net::Autoencoder(..) => unreachable!("contrastive methods only"),
        };
        self.times.forward += ws.forward_secs - f0;
        self.times.backward += ws.backward_secs - b0;
        Ok(loss)
    }

    /// One optimiser step on `rows` of `x`. A non-finite loss is returned without updating.
    pub fn train_step(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        seed: u64,
        lr: f64,
        clip: f64,
    ) -> Result<f32, ModelError> {
        let precision = self.precision;
        precision.scope(|| self.step_in_scope(x, rows, seed, lr, clip))
    }

    /// [`Learner::train_step`] inside its precision scope.
    fn step_in_scope(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        seed: u64,
        lr: f64,
        clip: f64,
    ) -> Result<f32, ModelError> {
        if let Net::Autoencoder(model, pretext) = &self.net {
            let start = Instant::now();
            pretext.fill(x, rows, seed, &mut self.batch);
            self.times.batch += start.elapsed().as_secs_f64();
            let b = &self.batch;
            let ws = &mut self.workspace;
            let (f0, b0) = (ws.forward_secs, ws.backward_secs);
            let loss = autoencoder_pass(
                model,
                &b.input,
                &b.target,
                &b.weight,
                b.n_scored as f32,
                rows.len(),
                mix(seed, DROPOUT_SALT),
                ws,
            )?;
            self.times.forward += ws.forward_secs - f0;
            self.times.backward += ws.backward_secs - b0;
            if !loss.is_finite() {
                return Ok(loss);
            }
            let t = Instant::now();
            let grads: Vec<Option<&[f32]>> = ws.grads.iter().map(|g| Some(g.as_slice())).collect();
            self.opt
                .step_slices(model.params.vars(), &grads, lr, clip)?;
            self.times.optimizer += t.elapsed().as_secs_f64();
            self.times.steps += 1;
            return Ok(loss);
        }
        let value = self.contrastive_grads(x, rows, seed)?;
        if !value.is_finite() {
            return Ok(value);
        }
        let t_backward = Instant::now();
        let grads = &self.contrastive.grads;
        let slices: Vec<Option<&[f32]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
        let vars = match &self.net {
            Net::Autoencoder(m, _) => m.params.vars(),
            Net::Byol(m) => m.state.params.vars(),
            Net::Barlow(m) => m.state.params.vars(),
        };
        self.opt.step_slices(vars, &slices, lr, clip)?;
        if let Net::Byol(m) = &self.net {
            m.update_target()?;
        }
        self.times.optimizer += t_backward.elapsed().as_secs_f64();
        self.times.steps += 1;
        Ok(value)
    }

    /// Validation loss over `rows` (eval mode, masks drawn from `seed`), with the baseline of
    /// predicting each gene's mean (`gene_mean`) on the same masked entries for masked methods.
    pub fn evaluate(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        batch_size: usize,
        seed: u64,
        gene_mean: &[f32],
    ) -> Result<EvalScore, ModelError> {
        let method = self.method;
        evaluate_batches(method, rows, batch_size, seed, |chunk, seed| {
            let loss = f64::from(self.batch_loss(x, chunk, seed, false)?.to_scalar::<f32>()?);
            if !method.is_masked() {
                return Ok(BatchScore::per_cell(loss, chunk.len()));
            }
            let mb = &self.batch;
            let base = mb
                .target
                .chunks_exact(x.n_cols)
                .zip(mb.weight.chunks_exact(x.n_cols))
                .map(|(t, w)| {
                    t.iter()
                        .zip(w)
                        .zip(gene_mean)
                        .map(|((&t, &w), &m)| f64::from(w * (t - m) * (t - m)))
                        .sum::<f64>()
                })
                .sum::<f64>();
            Ok(BatchScore::masked(loss, mb.n_scored, base))
        })
    }

    /// Every tensor of the model (and of the optimiser when `with_optimizer`), named for a
    /// checkpoint.
    pub fn export(&self, with_optimizer: bool) -> Result<Vec<NamedTensor>, ModelError> {
        let mut out = self.net.export()?;
        if !with_optimizer {
            return Ok(out);
        }
        for (i, (name, var)) in self
            .params()
            .names()
            .iter()
            .zip(self.params().vars())
            .enumerate()
        {
            out.push((
                format!("adam.m.{name}"),
                var.dims().to_vec(),
                self.opt.m[i].clone(),
            ));
            out.push((
                format!("adam.v.{name}"),
                var.dims().to_vec(),
                self.opt.v[i].clone(),
            ));
        }
        Ok(out)
    }

    /// Restores model and optimiser from checkpoint tensors; `steps` is the optimiser step count.
    pub fn import(&mut self, tensors: &TensorMap, steps: u64) -> Result<(), ModelError> {
        self.net.import(tensors)?;
        let names: Vec<String> = self.params().names().to_vec();
        for (i, name) in names.iter().enumerate() {
            for (kind, buf) in [("m", &mut self.opt.m[i]), ("v", &mut self.opt.v[i])] {
                let key = format!("adam.{kind}.{name}");
                let (_, values) = tensors
                    .get(&key)
                    .ok_or(ModelError::MissingTensor(key.clone()))?;
                if values.len() != buf.len() {
                    return Err(ModelError::Shape {
                        name: key,
                        expected: vec![buf.len()],
                        found: vec![values.len()],
                    });
                }
                buf.copy_from_slice(values);
            }
        }
        self.opt.step = steps;
        Ok(())
    }
}

/// One validation batch: its loss, its weight in the mean (scored entries or cells) and, for
/// masked methods, the summed squared error of the gene-mean baseline on the same entries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchScore {
    loss: f64,
    weight: f64,
    baseline: f64,
}

impl BatchScore {
    /// A contrastive batch, weighted by its cells.
    pub(crate) fn per_cell(loss: f64, cells: usize) -> Self {
        Self {
            loss,
            weight: cells as f64,
            baseline: 0.0,
        }
    }

    /// A masked batch, weighted by its `n_scored` entries.
    pub(crate) fn masked(loss: f64, n_scored: f64, baseline: f64) -> Self {
        Self {
            loss,
            weight: n_scored,
            baseline,
        }
    }
}

/// Scores `rows` in batches of `batch_size` (batch `b` with seed `mix(seed, b)`; contrastive
/// methods skip batches of one cell) and averages them: the validation pass of both paths.
pub(crate) fn evaluate_batches(
    method: Method,
    rows: &[usize],
    batch_size: usize,
    seed: u64,
    mut score: impl FnMut(&[usize], u64) -> Result<BatchScore, ModelError>,
) -> Result<EvalScore, ModelError> {
    let (mut total, mut weight, mut base) = (0.0f64, 0.0f64, 0.0f64);
    for (b, chunk) in rows.chunks(batch_size.max(1)).enumerate() {
        if !method.is_masked() && chunk.len() < 2 {
            continue;
        }
        let s = score(chunk, mix(seed, b as u64))?;
        total += s.loss * s.weight;
        weight += s.weight;
        base += s.baseline;
    }
    let weight = weight.max(1.0);
    Ok(EvalScore {
        loss: total / weight,
        baseline: method.is_masked().then_some(base / weight),
    })
}

/// Per-gene means of the given rows of `x` (the reconstruction baseline).
pub fn gene_means(x: &CsrMatrix, rows: &[usize]) -> Vec<f32> {
    let mut sum = vec![0f64; x.n_cols];
    for &i in rows {
        let (idx, val) = x.row(i);
        for (&j, &v) in idx.iter().zip(val) {
            sum[j as usize] += f64::from(v);
        }
    }
    let n = rows.len().max(1) as f64;
    sum.iter().map(|s| (s / n) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::log_normalised_cells;

    /// A small model on 30 genes.
    fn small_config() -> Config {
        let mut config = Config::default();
        config.model.hidden = vec![16, 8];
        config.model.latent = 4;
        config.contrastive.byol_projector = vec![8, 6];
        config.contrastive.barlow_projector = vec![8, 6];
        config
    }

    fn values(vars: &[Var]) -> Vec<f32> {
        vars.iter().flat_map(|v| to_vec(v).unwrap()).collect()
    }

    #[test]
    fn byol_target_moves_by_the_ema_in_every_train_step() {
        let (x, _) = log_normalised_cells(40, 30, 3, 2);
        let mut config = small_config();
        config.contrastive.byol_tau = 0.9;
        let mut learner = Learner::new(&config, Method::Byol, 30, None).unwrap();
        let byol = |l: &Learner| match &l.net {
            Net::Byol(m) => m.clone(),
            _ => unreachable!("a BYOL learner"),
        };
        let rows: Vec<usize> = (0..24).collect();
        for step in 0..3 {
            let before = values(byol(&learner).target.vars());
            let loss = learner.train_step(&x, &rows, step, 1e-2, 1.0).unwrap();
            assert!(loss.is_finite(), "step {step}: loss {loss}");
            let m = byol(&learner);
            let after = values(m.target.vars());
            let online = values(&m.state.params.vars()[..m.target.vars().len()]);
            let moved = after
                .iter()
                .zip(&before)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(moved > 1e-5, "step {step}: the target did not move");
            for ((a, b), o) in after.iter().zip(&before).zip(&online) {
                let expect = 0.9 * b + 0.1 * o;
                assert!(
                    (a - expect).abs() < 1e-6,
                    "step {step}: {a} vs EMA {expect}"
                );
            }
        }
    }

    #[test]
    fn gp_tf_trains_on_isolated_masking() {
        let (x, _) = log_normalised_cells(40, 30, 3, 2);
        let sets = MatchedSets {
            names: vec!["a".into(), "b".into(), "c".into()],
            genes: vec![vec![0, 1, 2], vec![10, 11, 12, 13], vec![20, 21, 22]],
            n_total: 3,
        };
        let mut learner = Learner::new(&small_config(), Method::GpTf, 30, Some(&sets)).unwrap();
        let rows: Vec<usize> = (0..24).collect();
        learner.train_step(&x, &rows, 4, 1e-3, 1.0).unwrap();
        let mut expect = MaskedBatch::default();
        Pretext::Isolated { sets: sets.genes }.fill(&x, &rows, 4, &mut expect);
        assert_eq!(
            learner.batch.input, expect.input,
            "input: one programme per cell"
        );
        assert_eq!(
            learner.batch.weight, expect.weight,
            "loss: every other gene"
        );
    }

    /// The small model with two hidden BatchNorm layers in each head, dropout on.
    fn head_config() -> Config {
        let mut config = small_config();
        config.contrastive.byol_projector = vec![8, 8, 6];
        config.contrastive.barlow_projector = vec![8, 8, 6];
        config.contrastive.byol_tau = 0.9;
        config
    }

    /// Largest difference between `got` and `want` relative to the largest `want` (at least
    /// `floor`).
    fn relative_error(got: &[f32], want: &[f32], floor: f32) -> f32 {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(floor, |m, v| m.max(v.abs()));
        let diff = got
            .iter()
            .zip(want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        diff / scale
    }

    /// The cosine of the angle between two vectors (in f64).
    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        let dot = |x: &[f32], y: &[f32]| -> f64 {
            x.iter()
                .zip(y)
                .map(|(&u, &v)| f64::from(u) * f64::from(v))
                .sum()
        };
        dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
    }

    /// The smallest scale of a gradient comparison (for tensors whose gradients are all small).
    const GRAD_FLOOR: f32 = 1e-2;

    /// The latent layer's bias feeds a BatchNorm (after a Linear without bias) that removes it,
    /// so its exact gradient is zero and both paths give rounding noise whose size and sign
    /// depend on the kernels' summation order (2e-7 with AVX2, 6e-7 with AVX-512): each path's
    /// must stay below [`ZERO_GRADIENT_NOISE`] instead of matching the other's.
    const ZERO_GRADIENT: &str = "encoder.2.bias";
    const ZERO_GRADIENT_NOISE: f32 = 1e-5;

    /// Tensors that follow that zero gradient: AdamW turns its rounding noise into steps of up
    /// to `lr` whose sign differs between the paths (the latent bias, online and target), and
    /// the first BatchNorm's running mean sees the bias. Checked to 5e-2 instead of 1e-4.
    const NOISE_DRIVEN: [&str; 2] = ["encoder.2.bias", "projector.0.bn.running_mean"];

    #[test]
    fn bf16_products_keep_losses_and_gradients_near_f32() {
        // One step from the same weights and batch in f32 and in bf16: the bf16 loss within 1%,
        // every gradient pointing the f32 one's way (cosine above 0.98, 0.991-0.9998 measured;
        // bf16 keeps 8 significant bits, and BatchNorm's backward cancels much of a gradient, so
        // single entries differ by up to ~12% of the largest in BYOL), and not equal to f32's
        // (bf16 did run). Then 30 more steps: the loss falls by the same amount within 3%
        // (0.02-0.4% measured).
        if Precision::Bf16.effective() != Precision::Bf16 {
            eprintln!("skipped: bf16 products need AMX or AVX512-BF16, which this CPU lacks");
            return;
        }
        let (x, _) = log_normalised_cells(96, 100, 4, 3);
        let rows: Vec<usize> = (0..64).collect();
        let mut config = Config::default();
        config.model.hidden = vec![64, 32];
        config.model.latent = 16;
        config.contrastive.byol_projector = vec![64, 32];
        config.contrastive.barlow_projector = vec![64, 32];
        for method in [Method::Masked, Method::Byol, Method::Barlow] {
            let step = |precision| {
                let mut config = config.clone();
                config.train.precision = precision;
                let mut l = Learner::new(&config, method, x.n_cols, None).unwrap();
                let loss = l.train_step(&x, &rows, 5, 1e-3, 1.0).unwrap();
                let grads = match method.is_masked() {
                    true => l.workspace.grads.clone(),
                    false => l.contrastive.grads.clone(),
                };
                // Then 30 steps on alternating halves of the cells, for the loss reached.
                let halves: [Vec<usize>; 2] = [(0..48).collect(), (48..96).collect()];
                let mut last = loss;
                for k in 0..30 {
                    last = l
                        .train_step(&x, &halves[k % 2], 6 + k as u64, 3e-3, 1.0)
                        .unwrap();
                }
                (loss, grads, last, l.params().names().to_vec())
            };
            let (loss32, g32, trained32, names) = step(Precision::F32);
            let (loss16, g16, trained16, _) = step(Precision::Bf16);
            let (drop32, drop16) = (loss32 - trained32, loss16 - trained16);
            assert!(
                drop32 > 0.0 && (drop16 - drop32).abs() < 0.03 * drop32,
                "{method:?}: loss fell by {drop16} in bf16, {drop32} in f32"
            );
            let loss_err = (loss16 - loss32).abs() / loss32.abs();
            assert!(loss_err < 1e-2, "{method:?}: loss {loss16} vs {loss32}");
            let mut worst = 1f64;
            for ((name, a), b) in names.iter().zip(&g16).zip(&g32) {
                if name.ends_with(ZERO_GRADIENT) {
                    continue;
                }
                let cos = cosine(a, b);
                assert!(cos > 0.98, "{method:?} {name}: gradient cosine {cos}");
                worst = worst.min(cos);
            }
            eprintln!(
                "{method:?}: bf16 loss error {loss_err:.1e}, lowest gradient cosine {worst:.4}, \
                 loss fell by {drop16:.4} (f32 {drop32:.4})"
            );
            assert!(g16 != g32, "{method:?}: bf16 gradients equal the f32 ones");
        }
    }

    #[test]
    fn contrastive_fast_path_loss_and_gradients_match_candle_autograd() {
        // Same weights, views and dropout masks: loss within 1e-5 relative, every parameter's
        // gradient within 1e-4 of its largest entry (or of GRAD_FLOOR), the latent bias's ~0.
        let (x, _) = log_normalised_cells(40, 30, 3, 2);
        let rows: Vec<usize> = (0..24).collect();
        for method in [Method::Byol, Method::Barlow] {
            let mut learner = Learner::new(&head_config(), method, 30, None).unwrap();
            let loss = learner.contrastive_grads(&x, &rows, 5).unwrap();
            let reference = learner.batch_loss(&x, &rows, 5, true).unwrap();
            let expect_loss = reference.to_scalar::<f32>().unwrap();
            assert!(
                (loss - expect_loss).abs() < 1e-5 * (1.0 + expect_loss.abs()),
                "{method:?}: {loss} vs {expect_loss}"
            );
            let expect = reference.backward().unwrap();
            let params = learner.params();
            assert_eq!(learner.contrastive.grads.len(), params.vars().len());
            for ((name, var), got) in params
                .names()
                .iter()
                .zip(params.vars())
                .zip(&learner.contrastive.grads)
            {
                let want =
                    to_vec(expect.get(var).expect("every parameter has a gradient")).unwrap();
                if name.ends_with(ZERO_GRADIENT) {
                    let largest = got.iter().chain(&want).fold(0f32, |m, v| m.max(v.abs()));
                    assert!(
                        largest < ZERO_GRADIENT_NOISE,
                        "{method:?} {name}: gradient {largest} where the exact one is 0"
                    );
                    continue;
                }
                let err = relative_error(got, &want, GRAD_FLOOR);
                assert!(err < 1e-4, "{method:?} {name}: relative error {err}");
            }
        }
    }

    /// One training step on candle autograd (the model's own loss, BatchNorms and EMA).
    fn autograd_step(l: &mut Learner, x: &CsrMatrix, rows: &[usize], seed: u64, lr: f64) {
        let loss = l.batch_loss(x, rows, seed, true).unwrap();
        let grads = loss.backward().unwrap();
        let vars = l.net.params().vars().to_vec();
        l.opt.step(&vars, &grads, lr, 1.0).unwrap();
        if let Net::Byol(m) = &l.net {
            m.update_target().unwrap();
        }
    }

    #[test]
    fn contrastive_fast_path_keeps_running_statistics_and_target_equal_to_autograd() {
        // After three steps every tensor (parameters, BN running statistics, BYOL's target)
        // equals that of the same steps on autograd within 1e-4 of the tensor's largest entry.
        let (x, _) = log_normalised_cells(40, 30, 3, 2);
        let rows: Vec<usize> = (0..24).collect();
        let lr = 1e-3;
        for method in [Method::Byol, Method::Barlow] {
            let mut fast = Learner::new(&head_config(), method, 30, None).unwrap();
            let mut reference = Learner::new(&head_config(), method, 30, None).unwrap();
            let initial = fast.net.export().unwrap();
            for step in 0..3 {
                fast.train_step(&x, &rows, step, lr, 1.0).unwrap();
                autograd_step(&mut reference, &x, &rows, step, lr);
            }
            let (got, want) = (fast.net.export().unwrap(), reference.net.export().unwrap());
            for (((name, _, a), (_, _, b)), (_, _, before)) in got.iter().zip(&want).zip(&initial) {
                let err = relative_error(a, b, 1e-3);
                let tolerance = if NOISE_DRIVEN.iter().any(|n| name.ends_with(n)) {
                    5e-2
                } else {
                    1e-4
                };
                assert!(err < tolerance, "{method:?} {name}: relative error {err}");
                let moved = relative_error(a, before, 1e-3);
                assert!(moved > 1e-4, "{method:?} {name} did not move");
            }
            let names: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
            assert!(names.iter().any(|n| n.ends_with("bn.running_var")));
            if method == Method::Byol {
                assert!(names.iter().any(|n| n.starts_with("buffer.target.")));
                assert!(names.iter().any(|n| n.starts_with("target.projector")));
            }
        }
    }
}
