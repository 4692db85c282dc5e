//! Supervised fine-tuning of a classifier (encoder + linear head) with class-weighted
//! cross-entropy, AdamW and early stopping on a validation part: the whole model, the head first
//! and then the whole model (LP-FT), or the head alone on a frozen encoder (a linear probe).

use crate::train::checkpoint::TensorMap;
use candle_core::{Device, Tensor};
use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};

use crate::data::CsrMatrix;
use crate::model::random::mix;
use crate::model::tensor_adamw::ModelAdamW;
use crate::model::{Classifier, ModelError};

/// Settings of one fine-tuning run.
#[derive(Debug, Clone)]
pub struct FinetuneOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Global gradient-norm clip (0 disables).
    pub grad_clip: f64,
    /// Stop after this many epochs without a better validation loss (0 disables); never
    /// during the head-only epochs of [`Tuning::HeadFirst`].
    pub patience: usize,
    /// Which parameters train when.
    pub tuning: Tuning,
    /// Seed for shuffling and dropout.
    pub seed: u64,
}

/// Which parameters fine-tuning trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// The whole model from the first step.
    Full,
    /// Only the new head for this many epochs (the encoder frozen), then the whole model:
    /// LP-FT (Kumar et al. 2022). A random head's first gradients would otherwise reach the
    /// pretrained encoder and distort the features it brings.
    HeadFirst(usize),
    /// Only the head: a linear probe on the frozen encoder.
    HeadOnly,
}

impl Tuning {
    /// Whether the encoder stays frozen in `epoch` (1-based).
    fn head_only(self, epoch: usize) -> bool {
        match self {
            Self::Full => false,
            Self::HeadFirst(k) => epoch <= k,
            Self::HeadOnly => true,
        }
    }
}

/// What a fine-tuning run did.
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneReport {
    pub epochs_done: usize,
    pub best_epoch: usize,
    pub best_val_loss: f64,
}

/// Class-weighted mean cross-entropy of `logits` (rows x classes) as PyTorch's
/// `cross_entropy(weight=w)`: sum_i w[y_i] nll_i / sum_i w[y_i].
pub fn weighted_cross_entropy(
    logits: &Tensor,
    labels: &[usize],
    weights: &[f32],
) -> Result<Tensor, ModelError> {
    let (rows, classes) = logits.dims2()?;
    let mut picks = vec![0f32; rows * classes];
    let mut total = 0f32;
    for (i, &y) in labels.iter().enumerate() {
        picks[i * classes + y] = weights[y];
        total += weights[y];
    }
    let picks = Tensor::from_vec(picks, (rows, classes), logits.device())?;
    let logp = candle_nn::ops::log_softmax(logits, 1)?;
    let nll = (logp * picks)?.sum_all()?.neg()?;
    Ok((nll / f64::from(total.max(f32::MIN_POSITIVE)))?)
}

/// `rows` of `x` as a dense batch on `device`.
fn batch_tensor(x: &CsrMatrix, rows: &[usize], device: &Device) -> Result<Tensor, ModelError> {
    let mut dense = vec![0f32; rows.len() * x.n_cols];
    x.densify_rows(rows, &mut dense);
    Ok(Tensor::from_vec(dense, (rows.len(), x.n_cols), device)?)
}

fn validation_loss(
    model: &Classifier,
    x: &CsrMatrix,
    labels: &[usize],
    rows: &[usize],
    weights: &[f32],
    batch_size: usize,
) -> Result<f64, ModelError> {
    let (mut sum, mut total) = (0f64, 0f64);
    for chunk in rows.chunks(batch_size) {
        let logits = model.forward(&batch_tensor(x, chunk, model.device())?, None)?;
        let y: Vec<usize> = chunk.iter().map(|&r| labels[r]).collect();
        let w: f64 = y.iter().map(|&c| f64::from(weights[c])).sum();
        let loss = weighted_cross_entropy(&logits, &y, weights)?.to_scalar::<f32>()?;
        sum += f64::from(loss) * w;
        total += w;
    }
    Ok(if total > 0.0 { sum / total } else { 0.0 })
}

/// Trains `model` on `train` rows of `x` (labels indexed by row), keeping the weights with the
/// lowest class-weighted validation loss on `val` (all epochs run when `val` is empty).
/// `progress` receives (epoch, validation loss) after every epoch.
pub fn finetune(
    model: &Classifier,
    x: &CsrMatrix,
    labels: &[usize],
    (train, val): (&[usize], &[usize]),
    weights: &[f32],
    opts: &FinetuneOptions,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<FinetuneReport, ModelError> {
    let params = |head_only: bool| -> Vec<_> {
        model
            .params
            .names()
            .iter()
            .zip(model.params.vars())
            .filter(|(n, _)| !head_only || n.starts_with("head."))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut head_only = opts.tuning.head_only(1);
    let mut trainable = params(head_only);
    let fused = model.head.fused();
    let mut opt = ModelAdamW::new(&trainable, opts.weight_decay, fused)?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut order = train.to_vec();
    let batch_size = opts.batch_size.max(1);
    let mut best: Option<(f64, usize, TensorMap)> = None;
    let mut epochs_done = 0;
    // Patience counts from the last improvement, or from the end of a head-only phase.
    let mut since = 0;
    for epoch in 1..=opts.epochs {
        if head_only && !opts.tuning.head_only(epoch) {
            head_only = false;
            trainable = params(false);
            opt = ModelAdamW::new(&trainable, opts.weight_decay, fused)?;
            since = epoch - 1;
        }
        order.shuffle(&mut rng);
        for (step, chunk) in order.chunks(batch_size).enumerate() {
            let y: Vec<usize> = chunk.iter().map(|&r| labels[r]).collect();
            let dropout = (!head_only).then(|| mix(opts.seed, (epoch * 100_003 + step) as u64));
            let logits = model.forward(&batch_tensor(x, chunk, model.device())?, dropout)?;
            let loss = weighted_cross_entropy(&logits, &y, weights)?;
            let grads = loss.backward()?;
            opt.step(&trainable, &grads, opts.lr, opts.grad_clip)?;
        }
        epochs_done = epoch;
        if val.is_empty() {
            progress(epoch, f64::NAN);
            continue;
        }
        let loss = validation_loss(model, x, labels, val, weights, batch_size)?;
        progress(epoch, loss);
        let improved = best.as_ref().is_none_or(|(b, _, _)| loss < *b);
        if improved {
            let snapshot = model
                .params
                .export()?
                .into_iter()
                .map(|(n, s, v)| (n, (s, v)))
                .collect();
            best = Some((loss, epoch, snapshot));
            since = since.max(epoch);
        } else {
            let warming_up = head_only && opts.tuning != Tuning::HeadOnly;
            if opts.patience > 0 && !warming_up && epoch - since >= opts.patience {
                break;
            }
        }
    }
    let (best_val_loss, best_epoch) = match best {
        Some((loss, epoch, weights)) => {
            model.params.import(&weights, "")?;
            (loss, epoch)
        }
        None => (f64::NAN, epochs_done),
    };
    Ok(FinetuneReport {
        epochs_done,
        best_epoch,
        best_val_loss,
    })
}

/// Predicted class (argmax of the logits, eval mode) of each of `rows`.
pub fn predict(
    model: &Classifier,
    x: &CsrMatrix,
    rows: &[usize],
    batch_size: usize,
) -> Result<Vec<usize>, ModelError> {
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch_size.max(1)) {
        let logits = model.forward(&batch_tensor(x, chunk, model.device())?, None)?;
        out.extend(
            logits
                .argmax(1)?
                .to_vec1::<u32>()?
                .into_iter()
                .map(|c| c as usize),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    #[test]
    fn weighted_cross_entropy_matches_hand_computation() {
        let logits = Tensor::new(&[[2.0f32, 0.0], [0.0, 1.0]], &Device::Cpu).unwrap();
        let w = [1.0f32, 3.0];
        let loss = weighted_cross_entropy(&logits, &[0, 1], &w)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let nll0 = -(2f32.exp() / (2f32.exp() + 1.0)).ln();
        let nll1 = -(1f32.exp() / (1f32.exp() + 1.0)).ln();
        let expected = (nll0 + 3.0 * nll1) / 4.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }

    fn separable() -> (CsrMatrix, Vec<usize>) {
        // class c is marked by a high value in gene c
        let (n, genes) = (60, 6);
        let mut values = vec![0.1f32; n * genes];
        let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
        for (i, &c) in labels.iter().enumerate() {
            values[i * genes + c] = 3.0;
        }
        (CsrMatrix::from_dense(n, genes, &values), labels)
    }

    fn small_model() -> ModelConfig {
        ModelConfig {
            hidden: vec![16],
            latent: 4,
            ..ModelConfig::default()
        }
    }

    fn options(tuning: Tuning) -> FinetuneOptions {
        FinetuneOptions {
            epochs: 30,
            batch_size: 16,
            lr: 1e-2,
            weight_decay: 0.0,
            grad_clip: 1.0,
            patience: 0,
            tuning,
            seed: 1,
        }
    }

    /// Names of the parameters whose values changed between two exports.
    fn changed(before: &[crate::model::params::NamedTensor], model: &Classifier) -> Vec<String> {
        let after = model.params.export().unwrap();
        before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.2 != a.2)
            .map(|(b, _)| b.0.clone())
            .collect()
    }

    #[test]
    fn head_first_keeps_the_encoder_frozen_for_its_epochs_then_trains_everything() {
        let (x, labels) = separable();
        let rows: Vec<usize> = (0..60).collect();
        let run = |epochs: usize| {
            let model = Classifier::new(&small_model(), 6, 3, 0).unwrap();
            let before = model.params.export().unwrap();
            let opts = FinetuneOptions {
                epochs,
                ..options(Tuning::HeadFirst(3))
            };
            // No validation part: every epoch runs and the last weights are kept.
            finetune(
                &model,
                &x,
                &labels,
                (&rows, &[]),
                &[1.0; 3],
                &opts,
                &mut |_, _| {},
            )
            .unwrap();
            changed(&before, &model)
        };
        let changed_3 = run(3);
        assert!(
            changed_3.iter().all(|n| n.starts_with("head.")),
            "{changed_3:?}"
        );
        assert!(!changed_3.is_empty());
        let changed_8 = run(8);
        assert!(
            changed_8.iter().any(|n| n.starts_with("encoder.")),
            "the encoder trains after the head-only epochs: {changed_8:?}"
        );
    }

    #[test]
    fn learns_a_separable_problem_and_predicts_it() {
        let (x, labels) = separable();
        let model = Classifier::new(&small_model(), 6, 3, 0).unwrap();
        let rows: Vec<usize> = (0..60).collect();
        let report = finetune(
            &model,
            &x,
            &labels,
            (&rows[..48], &rows[48..]),
            &[1.0; 3],
            &options(Tuning::Full),
            &mut |_, _| {},
        )
        .unwrap();
        assert!(report.best_epoch >= 1 && report.best_val_loss < 0.5);
        let pred = predict(&model, &x, &rows[48..], 5).unwrap();
        assert_eq!(pred, labels[48..].to_vec());
    }

    #[test]
    fn linear_probe_leaves_the_encoder_untouched() {
        let (x, labels) = separable();
        let model = Classifier::new(&small_model(), 6, 3, 0).unwrap();
        let before = model.params.export().unwrap();
        let rows: Vec<usize> = (0..60).collect();
        finetune(
            &model,
            &x,
            &labels,
            (&rows, &[]),
            &[1.0; 3],
            &options(Tuning::HeadOnly),
            &mut |_, _| {},
        )
        .unwrap();
        let after = model.params.export().unwrap();
        for (b, a) in before.iter().zip(&after) {
            if b.0.starts_with("encoder.") {
                assert_eq!(b.2, a.2, "{} changed", b.0);
            } else {
                assert_ne!(b.2, a.2, "{} did not train", b.0);
            }
        }
    }

    #[test]
    fn the_device_path_fine_tunes_and_embeds_as_the_fast_path() {
        use crate::model::params::Init;
        let (x, labels) = separable();
        let rows: Vec<usize> = (0..60).collect();
        let fast = Classifier::new(&small_model(), 6, 3, 0).unwrap();
        let device = Classifier::build(&small_model(), 6, 3, Init::plain(0, Device::Cpu)).unwrap();
        assert!(fast.head.fused() && !device.head.fused());
        let opts = FinetuneOptions {
            epochs: 5,
            ..options(Tuning::Full)
        };
        let mut reports = Vec::new();
        for model in [&fast, &device] {
            let split = (&rows[..48], &rows[48..]);
            reports.push(
                finetune(model, &x, &labels, split, &[1.0; 3], &opts, &mut |_, _| {}).unwrap(),
            );
        }
        let (a, b) = (reports[0].best_val_loss, reports[1].best_val_loss);
        assert!((a - b).abs() < 1e-3 * a.abs().max(1e-6), "{a} vs {b}");
        assert_eq!(reports[0].best_epoch, reports[1].best_epoch);
        assert_eq!(
            predict(&fast, &x, &rows, 16).unwrap(),
            predict(&device, &x, &rows, 16).unwrap()
        );
        let (za, zb) = (
            fast.encoder.embed(&x, 16).unwrap(),
            device.encoder.embed(&x, 16).unwrap(),
        );
        let gap = (&za - &zb).iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(gap < 1e-3, "embeddings differ by {gap}");
    }
}
