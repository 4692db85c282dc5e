//! Which training path runs, chosen from `model.device` and `model.path`: the CPU fast path
//! (hand-written kernels, [`Learner`]) or the device path (candle tensors on the device,
//! [`DeviceLearner`]), and a trainer that drives either one.

use candle_core::{Device, DeviceLocation};

use crate::config::{Config, ModelConfig};
use crate::data::CsrMatrix;
use crate::data::genesets::MatchedSets;
use crate::model::device::select_device;
use crate::model::params::{Init, NamedTensor};
use crate::model::{ModelError, ParamStore};
use crate::train::checkpoint::TensorMap;
use crate::train::device_learner::DeviceLearner;
use crate::train::method::{EvalScore, Learner, Method};

/// The two ways of training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainPath {
    /// Hand-written CPU kernels (the CPU's fastest).
    Fast,
    /// candle tensor ops, autograd and a tensor AdamW on the chosen device.
    Device,
}

impl TrainPath {
    /// The name used by `model.path` and summary.json.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Device => "device",
        }
    }
}

/// The path and device a run trains on, and why (shown in the log and in summary.json).
#[derive(Debug, Clone)]
pub struct PathChoice {
    pub path: TrainPath,
    pub device: Device,
    pub reason: String,
}

/// `cpu` or `cuda:N`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        DeviceLocation::Cpu => "cpu".into(),
        DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

impl PathChoice {
    /// Resolves `model.device` (falling back to the CPU when no GPU is usable) and
    /// `model.path`: "auto" takes the device path on a GPU and the fast path on the CPU.
    pub fn resolve(model: &ModelConfig) -> anyhow::Result<Self> {
        let (device, fallback) = select_device(&model.device)?;
        let (path, device) = match (model.path.as_str(), device.is_cpu()) {
            ("auto", true) | ("fast", _) => (TrainPath::Fast, Device::Cpu),
            ("auto", false) | ("device", _) => (TrainPath::Device, device),
            (other, _) => {
                anyhow::bail!("model.path must be \"auto\", \"fast\" or \"device\", got {other:?}")
            }
        };
        let what = match path {
            TrainPath::Fast => "fast path: hand-written CPU kernels",
            TrainPath::Device => "device path: candle tensors, autograd, tensor AdamW",
        };
        let mut reason = format!(
            "training on {} ({what}) as model.device = {:?}, model.path = {:?}",
            device_name(&device),
            model.device,
            model.path
        );
        if let Some(why) = fallback {
            reason = format!("{why}; {reason}");
        } else if path == TrainPath::Fast && model.device != "cpu" {
            reason.push_str("; the fast path runs on the CPU only, the GPU stays idle");
        }
        Ok(Self {
            path,
            device,
            reason,
        })
    }
}

/// The initialiser of a model that follows `model.device` and `model.path` (for embedding,
/// reconstruction and fine-tuning): fused CPU kernels on the fast path, plain candle ops on the
/// device otherwise.
pub fn model_init(model: &ModelConfig, seed: u64) -> anyhow::Result<Init> {
    let choice = PathChoice::resolve(model)?;
    Ok(match choice.path {
        TrainPath::Fast => Init::new(seed, Device::Cpu),
        TrainPath::Device => Init::plain(seed, choice.device),
    })
}

/// A learner on the chosen path.
pub enum Trainer {
    Fast(Box<Learner>),
    Device(Box<DeviceLearner>),
}

/// Runs the same expression on whichever learner a [`Trainer`] holds.
macro_rules! on_learner {
    ($trainer:expr, $l:ident => $e:expr) => {
        match $trainer {
            Trainer::Fast($l) => $e,
            Trainer::Device($l) => $e,
        }
    };
}

impl Trainer {
    /// Builds the model for `method` on the chosen path (the same initial weights on both).
    pub fn new(
        config: &Config,
        method: Method,
        n_genes: usize,
        sets: Option<&MatchedSets>,
        choice: &PathChoice,
    ) -> anyhow::Result<Self> {
        Ok(match choice.path {
            TrainPath::Fast => Self::Fast(Box::new(Learner::new(config, method, n_genes, sets)?)),
            TrainPath::Device => Self::Device(Box::new(DeviceLearner::new(
                config,
                method,
                n_genes,
                sets,
                choice.device.clone(),
            )?)),
        })
    }

    /// One optimiser step (see [`Learner::train_step`]).
    pub fn train_step(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        seed: u64,
        lr: f64,
        clip: f64,
    ) -> Result<f32, ModelError> {
        on_learner!(self, l => l.train_step(x, rows, seed, lr, clip))
    }

    /// Validation loss and baseline (see [`Learner::evaluate`]).
    pub fn evaluate(
        &mut self,
        x: &CsrMatrix,
        rows: &[usize],
        batch_size: usize,
        seed: u64,
        gene_mean: &[f32],
    ) -> Result<EvalScore, ModelError> {
        on_learner!(self, l => l.evaluate(x, rows, batch_size, seed, gene_mean))
    }

    /// Checkpoint tensors (the same names on both paths).
    pub fn export(&self, with_optimizer: bool) -> Result<Vec<NamedTensor>, ModelError> {
        on_learner!(self, l => l.export(with_optimizer))
    }

    /// Restores from checkpoint tensors written by either path.
    pub fn import(&mut self, tensors: &TensorMap, steps: u64) -> Result<(), ModelError> {
        on_learner!(self, l => l.import(tensors, steps))
    }

    /// The trainable parameters.
    pub fn params(&self) -> &ParamStore {
        on_learner!(self, l => l.params())
    }

    /// The encoder being trained (its live weights).
    pub fn encoder(&self) -> &crate::model::Encoder {
        on_learner!(self, l => l.encoder())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(device: &str, path: &str) -> anyhow::Result<PathChoice> {
        PathChoice::resolve(&ModelConfig {
            device: device.into(),
            path: path.into(),
            ..ModelConfig::default()
        })
    }

    #[test]
    fn auto_takes_the_fast_path_on_the_cpu_and_device_can_be_forced() {
        let c = choose("cpu", "auto").unwrap();
        assert_eq!(c.path, TrainPath::Fast);
        assert!(
            c.reason.contains("training on cpu (fast path"),
            "{}",
            c.reason
        );
        let c = choose("cpu", "device").unwrap();
        assert_eq!(
            (c.path, device_name(&c.device)),
            (TrainPath::Device, "cpu".into())
        );
        assert!(c.reason.contains("device path"), "{}", c.reason);
        let c = choose("cuda", "fast").unwrap();
        assert_eq!((c.path, c.device.is_cpu()), (TrainPath::Fast, true));
        let e = choose("cpu", "gpu").unwrap_err().to_string();
        assert!(e.contains("model.path") && e.contains("\"gpu\""), "{e}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_cuda_request_without_cuda_support_says_why_it_runs_on_the_cpu() {
        let c = choose("cuda", "auto").unwrap();
        assert_eq!(c.path, TrainPath::Fast);
        assert!(
            c.reason.contains("no CUDA support") && c.reason.contains("training on cpu"),
            "{}",
            c.reason
        );
    }
}
