//! candle models: MLP encoder/decoder, masking pretext tasks, contrastive heads and losses.
//! Hot element-wise work runs in fused kernels; the optimiser updates parameters in place.

pub mod augment;
pub mod backprop;
pub mod batch_norm;
pub mod batch_stats;
pub mod contrastive;
pub mod contrastive_loss;
pub mod contrastive_pass;
pub mod device;
pub mod heads;
pub mod kernels;
pub mod masking;
pub mod matmul;
pub mod matmul_bf16;
pub mod mlp;
pub mod optim;
pub mod params;
pub mod random;
pub mod tensor_adamw;
pub mod transpose;
pub mod vector;

pub use mlp::{Autoencoder, Classifier, Encoder, Mlp};
pub use optim::AdamW;
pub use params::ParamStore;

/// Errors from building or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown activation {0:?} (expected selu, relu or gelu)")]
    Activation(String),
    #[error("model expects {expected} genes but the data has {found}")]
    Genes { expected: usize, found: usize },
    #[error("contrastive.{key} needs at least one width and no zero width, got {widths:?}")]
    ProjectorWidths {
        key: &'static str,
        widths: Vec<usize>,
    },
    #[error("checkpoint lacks tensor {0}")]
    MissingTensor(String),
    #[error("tensor {name}: checkpoint shape {found:?}, model shape {expected:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `tanh(u) = 1 - 2 / (e^{2u} + 1)` on the vectorising exponential.
#[inline(always)]
fn tanh(u: f32) -> f32 {
    1.0 - 2.0 / (vector::exp(2.0 * u) + 1.0)
}

/// A hidden-layer activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// No activation (linear output or bottleneck).
    Identity,
    Selu,
    Relu,
    /// GELU, tanh approximation.
    Gelu,
}

const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;
const GELU_C: f32 = 0.797_884_6; // sqrt(2 / pi)

impl Activation {
    /// Parses a config name ("selu", "relu", "gelu", "identity").
    pub fn parse(name: &str) -> Result<Self, ModelError> {
        match name.to_ascii_lowercase().as_str() {
            "selu" => Ok(Self::Selu),
            "relu" => Ok(Self::Relu),
            "gelu" => Ok(Self::Gelu),
            "identity" | "linear" | "none" => Ok(Self::Identity),
            _ => Err(ModelError::Activation(name.into())),
        }
    }

    /// The activation at `z`.
    #[inline]
    pub fn apply(self, z: f32) -> f32 {
        match self {
            Self::Identity => z,
            Self::Selu => {
                if z > 0.0 {
                    SELU_SCALE * z
                } else {
                    SELU_SCALE * SELU_ALPHA * (vector::exp(z) - 1.0)
                }
            }
            Self::Relu => z.max(0.0),
            Self::Gelu => 0.5 * z * (1.0 + tanh(GELU_C * (z + 0.044_715 * z * z * z))),
        }
    }

    /// `z += bias` and `h = act(z)` over one row, with the activation chosen once for the row so
    /// the loop vectorises.
    #[inline(always)]
    pub fn bias_apply_row(self, z: &mut [f32], bias: &[f32], h: &mut [f32]) {
        #[inline(always)]
        fn each(z: &mut [f32], bias: &[f32], h: &mut [f32], f: impl Fn(f32) -> f32) {
            for ((z, &b), h) in z.iter_mut().zip(bias).zip(h.iter_mut()) {
                *z += b;
                *h = f(*z);
            }
        }
        match self {
            Self::Identity => each(z, bias, h, |z| z),
            Self::Selu => each(z, bias, h, |z| {
                let neg = SELU_SCALE * SELU_ALPHA * (vector::exp(z.min(0.0)) - 1.0);
                if z > 0.0 { SELU_SCALE * z } else { neg }
            }),
            Self::Relu => each(z, bias, h, |z| z.max(0.0)),
            Self::Gelu => each(z, bias, h, |z| self.apply(z)),
        }
    }

    /// The activation of every element of `z` in plain candle ops (any device, with autograd).
    pub fn on_tensor(self, z: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        match self {
            Self::Identity => Ok(z.clone()),
            Self::Selu => z.elu(f64::from(SELU_ALPHA))? * f64::from(SELU_SCALE),
            Self::Relu => z.relu(),
            Self::Gelu => z.gelu(),
        }
    }

    /// `g *= mask * act'(z)` over one row, from the pre-activations `z` and the stored outputs
    /// `h = act(z) * mask` (SELU's derivative read from them, saving the exponential); `mask` is
    /// a dropout mask of 0 and 1 / `keep`, or empty for none. The activation is chosen once for
    /// the row so the loop vectorises.
    #[inline(always)]
    pub fn backward_row(self, g: &mut [f32], z: &[f32], h: &[f32], mask: &[f32], keep: f32) {
        #[inline(always)]
        fn each(
            g: &mut [f32],
            z: &[f32],
            h: &[f32],
            mask: &[f32],
            keep: f32,
            d: impl Fn(f32, f32) -> f32,
        ) {
            if mask.is_empty() {
                for ((g, &z), &h) in g.iter_mut().zip(z).zip(h) {
                    *g *= d(z, h);
                }
            } else {
                // A kept unit's output is act(z) / keep; a dropped one's gradient is 0.
                for (((g, &z), &h), &m) in g.iter_mut().zip(z).zip(h).zip(mask) {
                    *g *= m * d(z, h * keep);
                }
            }
        }
        match self {
            Self::Identity => each(g, z, h, mask, keep, |_, _| 1.0),
            Self::Selu => each(g, z, h, mask, keep, |z, y| {
                if z > 0.0 {
                    SELU_SCALE
                } else {
                    y + SELU_SCALE * SELU_ALPHA
                }
            }),
            Self::Relu => each(g, z, h, mask, keep, |z, _| f32::from(u8::from(z > 0.0))),
            Self::Gelu => each(g, z, h, mask, keep, |z, _| self.derivative(z)),
        }
    }

    /// Its derivative at `z`.
    #[inline]
    pub fn derivative(self, z: f32) -> f32 {
        match self {
            Self::Identity => 1.0,
            Self::Selu => {
                if z > 0.0 {
                    SELU_SCALE
                } else {
                    SELU_SCALE * SELU_ALPHA * vector::exp(z)
                }
            }
            Self::Relu => f32::from(u8::from(z > 0.0)),
            Self::Gelu => {
                let t = tanh(GELU_C * (z + 0.044_715 * z * z * z));
                0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * 0.044_715 * z * z)
            }
        }
    }
}
