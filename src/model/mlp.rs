//! The fully connected encoder (genes -> hidden... -> latent, linear bottleneck), the mirrored
//! decoder with a linear output, the autoencoder pairing them and the fine-tuning classifier.

use candle_core::{Device, Tensor};
use ndarray::Array2;

use crate::config::ModelConfig;
use crate::data::CsrMatrix;
use crate::model::backprop::{Workspace, encoder_embed_csr};
use crate::model::kernels::{BiasAct, BiasActDropout, to_vec};
use crate::model::params::{Init, ParamStore};
use crate::model::random::{dropout_mask, mix};
use crate::model::{Activation, ModelError};

/// One fully connected layer: `act(x W^T + b)`, then inverted dropout while training.
#[derive(Debug, Clone)]
pub struct Dense {
    pub weight: Tensor,
    pub bias: Tensor,
    act: Activation,
    dropout: f32,
    /// Fused CPU kernels (the fast path) or plain candle ops (the device path).
    fused: bool,
}

impl Dense {
    /// A layer with PyTorch's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    pub fn new(
        store: &mut ParamStore,
        init: &mut Init,
        name: &str,
        (fan_in, fan_out): (usize, usize),
        act: Activation,
        dropout: f32,
    ) -> Result<Self, ModelError> {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let device = init.device().clone();
        let w = init.uniform(fan_in * fan_out, bound);
        let b = init.uniform(fan_out, bound);
        Ok(Self {
            weight: store.add(format!("{name}.weight"), &[fan_out, fan_in], w, &device)?,
            bias: store.add(format!("{name}.bias"), &[fan_out], b, &device)?,
            act,
            dropout,
            fused: init.fused(),
        })
    }

    /// Forward pass; `dropout_seed` is `Some` in training mode. The dropout mask is drawn on
    /// the host from the seed, so both paths drop the same units.
    pub fn forward(&self, x: &Tensor, dropout_seed: Option<u64>) -> Result<Tensor, ModelError> {
        let pre = x.matmul(&self.weight.t()?)?;
        let mask = match dropout_seed.filter(|_| self.dropout > 0.0) {
            Some(seed) => {
                let (rows, cols) = pre.dims2()?;
                let mask = dropout_mask(rows, cols, self.dropout, seed);
                Some(Tensor::from_vec(mask, (rows, cols), pre.device())?)
            }
            None => None,
        };
        Ok(match (mask, self.fused) {
            (Some(mask), true) => pre.apply_op3(&self.bias, &mask, BiasActDropout(self.act))?,
            (None, true) => pre.apply_op2(&self.bias, BiasAct(self.act))?,
            (mask, false) => {
                let out = self.act.on_tensor(&pre.broadcast_add(&self.bias)?)?;
                match mask {
                    Some(mask) => (out * mask)?,
                    None => out,
                }
            }
        })
    }

    /// Multiply-adds of one forward pass for one row.
    pub fn flops_per_row(&self) -> usize {
        2 * self.weight.elem_count()
    }

    /// The activation after the affine map.
    pub fn activation(&self) -> Activation {
        self.act
    }

    /// The dropout rate applied in training.
    pub fn dropout(&self) -> f32 {
        self.dropout
    }

    /// Whether the layer runs the fused CPU kernels (else plain candle ops, any device).
    pub fn fused(&self) -> bool {
        self.fused
    }
}

/// A stack of dense layers: hidden layers with activation and dropout, a linear last layer.
#[derive(Debug, Clone)]
pub struct Mlp {
    pub layers: Vec<Dense>,
}

impl Mlp {
    /// Layers `dims[0] -> dims[1] -> ... -> dims[last]`, named `{prefix}.{i}`.
    pub fn new(
        store: &mut ParamStore,
        init: &mut Init,
        prefix: &str,
        dims: &[usize],
        act: Activation,
        dropout: f32,
    ) -> Result<Self, ModelError> {
        let n = dims.len() - 1;
        let layers = (0..n)
            .map(|i| {
                let last = i + 1 == n;
                let (a, d) = if last {
                    (Activation::Identity, 0.0)
                } else {
                    (act, dropout)
                };
                Dense::new(
                    store,
                    init,
                    &format!("{prefix}.{i}"),
                    (dims[i], dims[i + 1]),
                    a,
                    d,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { layers })
    }

    /// Forward pass; `dropout_seed` is `Some` in training mode.
    pub fn forward(&self, x: &Tensor, dropout_seed: Option<u64>) -> Result<Tensor, ModelError> {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h, dropout_seed.map(|s| mix(s, i as u64)))?;
        }
        Ok(h)
    }

    /// Multiply-adds (x2) of one forward pass for one row.
    pub fn flops_per_row(&self) -> usize {
        self.layers.iter().map(Dense::flops_per_row).sum()
    }
}

/// The encoder: genes -> hidden widths -> latent (linear bottleneck).
#[derive(Debug, Clone)]
pub struct Encoder {
    pub mlp: Mlp,
    pub n_genes: usize,
    pub latent: usize,
}

fn activation_and_dropout(cfg: &ModelConfig) -> Result<(Activation, f32), ModelError> {
    Ok((Activation::parse(&cfg.activation)?, cfg.dropout as f32))
}

impl Encoder {
    /// Builds the encoder from the model settings, registering its weights as `encoder.*`.
    pub fn new(
        cfg: &ModelConfig,
        n_genes: usize,
        store: &mut ParamStore,
        init: &mut Init,
    ) -> Result<Self, ModelError> {
        let (act, dropout) = activation_and_dropout(cfg)?;
        let mut dims = vec![n_genes];
        dims.extend(&cfg.hidden);
        dims.push(cfg.latent);
        Ok(Self {
            mlp: Mlp::new(store, init, "encoder", &dims, act, dropout)?,
            n_genes,
            latent: cfg.latent,
        })
    }

    /// Embeds a dense batch (rows x genes); `dropout_seed` is `Some` in training mode.
    pub fn forward(&self, x: &Tensor, dropout_seed: Option<u64>) -> Result<Tensor, ModelError> {
        self.mlp.forward(x, dropout_seed)
    }

    /// Embeds every cell of `x` (in eval mode, no dropout) in batches of `batch_size` rows: with
    /// the hand-written pass on the fast path, in candle ops where the weights live otherwise.
    pub fn embed(&self, x: &CsrMatrix, batch_size: usize) -> Result<Array2<f32>, ModelError> {
        if x.n_cols != self.n_genes {
            return Err(ModelError::Genes {
                expected: self.n_genes,
                found: x.n_cols,
            });
        }
        let batch_size = batch_size.max(1);
        let mut out = Array2::<f32>::zeros((x.n_rows, self.latent));
        let mut workspace = Workspace::default();
        let fused = self.mlp.layers.first().is_none_or(Dense::fused);
        let mut dense = Vec::new();
        for start in (0..x.n_rows).step_by(batch_size) {
            let rows = start..(start + batch_size).min(x.n_rows);
            let device_z;
            let z = if fused {
                encoder_embed_csr(self, x, rows, &mut workspace)?
            } else {
                let chunk: Vec<usize> = rows.collect();
                dense.resize(chunk.len() * x.n_cols, 0.0);
                x.densify_rows(&chunk, &mut dense);
                let device = self.mlp.layers[0].weight.device();
                let t = Tensor::from_slice(&dense, (chunk.len(), x.n_cols), device)?;
                device_z = to_vec(&self.forward(&t, None)?)?;
                &device_z
            };
            let dst = out.as_slice_mut().expect("a fresh array is contiguous");
            dst[start * self.latent..start * self.latent + z.len()].copy_from_slice(z);
        }
        Ok(out)
    }
}

/// Encoder + mirrored decoder with a linear output, for masked pretraining.
#[derive(Debug, Clone)]
pub struct Autoencoder {
    pub encoder: Encoder,
    pub decoder: Mlp,
    pub params: ParamStore,
}

impl Autoencoder {
    /// Builds and initialises the autoencoder with a fixed seed on the CPU fast path.
    pub fn new(cfg: &ModelConfig, n_genes: usize, seed: u64) -> Result<Self, ModelError> {
        Self::build(cfg, n_genes, Init::new(seed, Device::Cpu))
    }

    /// Builds the autoencoder with the weights, device and kernels of `init`.
    pub fn build(cfg: &ModelConfig, n_genes: usize, mut init: Init) -> Result<Self, ModelError> {
        let mut params = ParamStore::new();
        let encoder = Encoder::new(cfg, n_genes, &mut params, &mut init)?;
        let (act, dropout) = activation_and_dropout(cfg)?;
        let mut dims = vec![cfg.latent];
        dims.extend(cfg.hidden.iter().rev());
        dims.push(n_genes);
        let decoder = Mlp::new(&mut params, &mut init, "decoder", &dims, act, dropout)?;
        Ok(Self {
            encoder,
            decoder,
            params,
        })
    }

    /// Reconstructs a dense batch; `dropout_seed` is `Some` in training mode.
    pub fn forward(&self, x: &Tensor, dropout_seed: Option<u64>) -> Result<Tensor, ModelError> {
        let z = self.encoder.forward(x, dropout_seed.map(|s| mix(s, 1)))?;
        self.decoder.forward(&z, dropout_seed.map(|s| mix(s, 2)))
    }

    /// Floating-point operations of one training step (forward + backward) per cell.
    pub fn train_flops_per_cell(&self) -> usize {
        3 * (self.encoder.mlp.flops_per_row() + self.decoder.flops_per_row())
    }
}

/// The encoder with a linear classification head, for fine-tuning.
#[derive(Debug, Clone)]
pub struct Classifier {
    pub encoder: Encoder,
    pub head: Dense,
    pub params: ParamStore,
}

impl Classifier {
    /// A randomly initialised classifier (encoder weights `encoder.*`, head `head.0.*`).
    pub fn new(
        cfg: &ModelConfig,
        n_genes: usize,
        n_classes: usize,
        seed: u64,
    ) -> Result<Self, ModelError> {
        Self::build(cfg, n_genes, n_classes, Init::new(seed, Device::Cpu))
    }

    /// The classifier with the weights, device and kernels of `init`.
    pub fn build(
        cfg: &ModelConfig,
        n_genes: usize,
        n_classes: usize,
        mut init: Init,
    ) -> Result<Self, ModelError> {
        let mut params = ParamStore::new();
        let encoder = Encoder::new(cfg, n_genes, &mut params, &mut init)?;
        let head = Dense::new(
            &mut params,
            &mut init,
            "head.0",
            (cfg.latent, n_classes),
            Activation::Identity,
            0.0,
        )?;
        Ok(Self {
            encoder,
            head,
            params,
        })
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.head.weight.device()
    }

    /// Class logits for a dense batch; `dropout_seed` is `Some` in training mode.
    pub fn forward(&self, x: &Tensor, dropout_seed: Option<u64>) -> Result<Tensor, ModelError> {
        let z = self.encoder.forward(x, dropout_seed)?;
        self.head.forward(&z, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::backprop::autoencoder_pass;

    #[test]
    fn decoder_output_is_linear_and_exceeds_one() {
        let cfg = ModelConfig {
            hidden: vec![8],
            latent: 4,
            dropout: 0.0,
            ..ModelConfig::default()
        };
        let (rows, genes) = (5, 6);
        let model = Autoencoder::new(&cfg, genes, 1).unwrap();
        // The output layer answers 3 whatever its input (the scale of log1p expression).
        for (name, var) in model.params.names().iter().zip(model.params.vars()) {
            let value = match name.as_str() {
                "decoder.1.weight" => 0.0,
                "decoder.1.bias" => 3.0,
                _ => continue,
            };
            var.set(&var.ones_like().unwrap().affine(0.0, value).unwrap())
                .unwrap();
        }
        let x = Tensor::rand(0f32, 1., (rows, genes), &Device::Cpu).unwrap();
        let out = to_vec(&model.forward(&x, None).unwrap()).unwrap();
        assert!(out.iter().all(|&v| (v - 3.0).abs() < 1e-6), "{out:?}");
        // The training pass scores that output: zero loss against a target of 3.
        let input = to_vec(&x).unwrap();
        let n = rows * genes;
        let mut ws = Workspace::default();
        let loss = autoencoder_pass(
            &model,
            &input,
            &vec![3.0; n],
            &vec![1.0; n],
            n as f32,
            rows,
            0,
            &mut ws,
        )
        .unwrap();
        assert!(loss.abs() < 1e-10, "loss {loss}");
        assert!(ws.output().iter().all(|&v| (v - 3.0).abs() < 1e-6));
    }

    #[test]
    fn embedding_sparse_rows_in_batches_equals_the_candle_forward_pass() {
        let cfg = ModelConfig {
            hidden: vec![16, 8],
            latent: 4,
            dropout: 0.3,
            ..ModelConfig::default()
        };
        let (rows, genes) = (23, 40);
        let mut store = ParamStore::new();
        let encoder =
            Encoder::new(&cfg, genes, &mut store, &mut Init::new(5, Device::Cpu)).unwrap();
        let dense: Vec<f32> = (0..rows * genes)
            .map(|i| {
                if i % 7 == 0 {
                    (i % 13) as f32 / 4.0
                } else {
                    0.0
                }
            })
            .collect();
        let x = CsrMatrix::from_dense(rows, genes, &dense);
        let t = Tensor::from_slice(&dense, (rows, genes), &Device::Cpu).unwrap();
        let expect = to_vec(&encoder.forward(&t, None).unwrap()).unwrap();
        // Batches of 5 leave a short last batch; dropout must stay off.
        let got = encoder.embed(&x, 5).unwrap();
        for (a, b) in got.iter().zip(&expect) {
            assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
        assert_eq!(got.len(), expect.len());
    }
}
