//! Hand-written forward and backward passes of a dense stack (the autoencoder) on reusable
//! buffers, calling gemm directly: the hot path of the masked methods, checked against autograd.

use candle_core::{Layout, Storage, StorageRef};
use gemm::Parallelism;
use rayon::prelude::*;

use crate::model::kernels::{column_sums, cpu_slice, row_sum};
use crate::model::mlp::Dense;
use crate::model::random::{fill_dropout_mask, mix};
use crate::model::{Autoencoder, ModelError};

/// A row-major matrix operand: values with row and column strides.
struct Operand<'a> {
    values: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Operand<'a> {
    /// A plain row-major (rows x cols) matrix.
    fn rows(values: &'a [f32], cols: usize) -> Self {
        Self {
            values,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    fn transposed(values: &'a [f32], cols: usize) -> Self {
        Self {
            values,
            row_stride: 1,
            col_stride: cols,
        }
    }

    fn last_index(&self, rows: usize, cols: usize) -> usize {
        (rows - 1) * self.row_stride + (cols - 1) * self.col_stride
    }
}

/// `dst (m x n, row-major) = lhs (m x k) * rhs (k x n)`, plus `dst` when `accumulate`.
fn matmul(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: &Operand,
    rhs: &Operand,
    accumulate: bool,
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    assert!(dst.len() >= m * n, "gemm destination too small");
    assert!(
        lhs.last_index(m, k) < lhs.values.len(),
        "gemm lhs too small"
    );
    assert!(
        rhs.last_index(k, n) < rhs.values.len(),
        "gemm rhs too small"
    );
    let threads = rayon::current_num_threads();
    let par = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above keep every index gemm touches inside the three slices, and
    // `dst` does not alias the inputs (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.values.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.values.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// Reusable buffers of one training pass: per-layer pre-activations, outputs, dropout masks and
/// gradients (weight, bias per layer, in parameter order).
#[derive(Debug, Default)]
pub struct Workspace {
    z: Vec<Vec<f32>>,
    h: Vec<Vec<f32>>,
    masks: Vec<Vec<f32>>,
    delta: Vec<f32>,
    back: Vec<f32>,
    /// Gradients, one buffer per parameter (weight then bias of each layer).
    pub grads: Vec<Vec<f32>>,
    /// Seconds spent in forward (with the loss) and backward passes so far.
    pub forward_secs: f64,
    pub backward_secs: f64,
}

fn values<'a>(guard: &'a (StorageRef<'a>, &'a Layout)) -> Result<&'a [f32], ModelError> {
    match &*guard.0 {
        Storage::Cpu(cpu) => Ok(cpu_slice(cpu, guard.1)?),
        _ => Err(candle_core::Error::Msg("the training pass runs on the CPU".into()).into()),
    }
}

/// The layers of an autoencoder in order with the dropout seed each uses in training, matching
/// `Autoencoder::forward` exactly.
fn layers_with_seeds(model: &Autoencoder, seed: u64) -> Vec<(&Dense, u64)> {
    let enc = model
        .encoder
        .mlp
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l, mix(mix(seed, 1), i as u64)));
    let dec = model
        .decoder
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l, mix(mix(seed, 2), i as u64)));
    enc.chain(dec).collect()
}

/// One forward and backward pass of the masked-MSE autoencoder loss on a dense batch
/// (`rows` x genes): returns the loss and leaves the gradients in `ws.grads`.
#[allow(clippy::too_many_arguments)]
pub fn autoencoder_pass(
    model: &Autoencoder,
    input: &[f32],
    target: &[f32],
    weight: &[f32],
    denom: f32,
    rows: usize,
    dropout_seed: u64,
    ws: &mut Workspace,
) -> Result<f32, ModelError> {
    let layers = layers_with_seeds(model, dropout_seed);
    let weight_guards: Vec<_> = layers
        .iter()
        .map(|(l, _)| l.weight.storage_and_layout())
        .collect();
    let bias_guards: Vec<_> = layers
        .iter()
        .map(|(l, _)| l.bias.storage_and_layout())
        .collect();
    let ws_w: Vec<&[f32]> = weight_guards.iter().map(values).collect::<Result<_, _>>()?;
    let ws_b: Vec<&[f32]> = bias_guards.iter().map(values).collect::<Result<_, _>>()?;
    let n = layers.len();
    ws.z.resize_with(n, Vec::new);
    ws.h.resize_with(n, Vec::new);
    ws.masks.resize_with(n, Vec::new);
    ws.grads.resize_with(2 * n, Vec::new);

    let start = std::time::Instant::now();
    for (i, (layer, seed)) in layers.iter().enumerate() {
        let (out, inp) = layer.weight.dims2()?;
        let x: &[f32] = if i == 0 { input } else { &ws.h[i - 1] };
        let mut z = std::mem::take(&mut ws.z[i]);
        z.resize(rows * out, 0.0);
        matmul(
            &mut z,
            (rows, out, inp),
            &Operand::rows(x, inp),
            &Operand::transposed(ws_w[i], inp),
            false,
        );
        let dropout = layer.dropout();
        let mask = &mut ws.masks[i];
        if dropout > 0.0 {
            mask.resize(rows * out, 0.0);
            fill_dropout_mask(mask, out, dropout, *seed);
        } else {
            mask.clear();
        }
        let act = layer.activation();
        let bias = ws_b[i];
        let h = &mut ws.h[i];
        h.resize(rows * out, 0.0);
        let mask: &[f32] = mask;
        z.par_chunks_mut(out)
            .zip(h.par_chunks_mut(out))
            .enumerate()
            .for_each(|(r, (z, h))| {
                for j in 0..out {
                    z[j] += bias[j];
                    h[j] = act.apply(z[j]);
                }
                if !mask.is_empty() {
                    h.iter_mut()
                        .zip(&mask[r * out..(r + 1) * out])
                        .for_each(|(h, m)| *h *= m);
                }
            });
        ws.z[i] = z;
    }

    // Loss and its gradient with respect to the prediction.
    let cols = model
        .decoder
        .layers
        .last()
        .map_or(1, |l| l.weight.dims()[0]);
    let pred = &ws.h[n - 1];
    let scale = 2.0 / denom.max(1.0);
    ws.delta.resize(rows * cols, 0.0);
    let loss = row_sum(rows, |r| {
        let span = r * cols..(r + 1) * cols;
        pred[span.clone()]
            .iter()
            .zip(&target[span.clone()])
            .zip(&weight[span])
            .map(|((&p, &t), &w)| f64::from(w * (p - t) * (p - t)))
            .sum()
    }) / f64::from(denom.max(1.0));
    ws.delta
        .par_chunks_mut(cols)
        .enumerate()
        .for_each(|(r, d)| {
            for (j, d) in d.iter_mut().enumerate() {
                let i = r * cols + j;
                *d = scale * weight[i] * (pred[i] - target[i]);
            }
        });

    let mid = std::time::Instant::now();
    ws.forward_secs += (mid - start).as_secs_f64();
    // Backward: `delta` holds dLoss/dz of layer i (the last layer is linear, no dropout).
    for i in (0..n).rev() {
        let (out, inp) = layers[i].0.weight.dims2()?;
        let x: &[f32] = if i == 0 { input } else { &ws.h[i - 1] };
        let gw = &mut ws.grads[2 * i];
        gw.resize(out * inp, 0.0);
        matmul(
            gw,
            (out, inp, rows),
            &Operand::transposed(&ws.delta, out),
            &Operand::rows(x, inp),
            false,
        );
        ws.grads[2 * i + 1] = column_sums(&ws.delta, out);
        if i == 0 {
            break;
        }
        ws.back.resize(rows * inp, 0.0);
        matmul(
            &mut ws.back,
            (rows, inp, out),
            &Operand::rows(&ws.delta, out),
            &Operand::rows(ws_w[i], inp),
            false,
        );
        // Through the previous layer's dropout and activation.
        let prev = layers[i - 1].0;
        let act = prev.activation();
        let z = &ws.z[i - 1];
        let mask: &[f32] = &ws.masks[i - 1];
        ws.back.par_chunks_mut(inp).enumerate().for_each(|(r, g)| {
            let zr = &z[r * inp..(r + 1) * inp];
            for j in 0..inp {
                g[j] *= act.derivative(zr[j]);
            }
            if !mask.is_empty() {
                g.iter_mut()
                    .zip(&mask[r * inp..(r + 1) * inp])
                    .for_each(|(g, m)| *g *= m);
            }
        });
        std::mem::swap(&mut ws.delta, &mut ws.back);
    }
    ws.backward_secs += mid.elapsed().as_secs_f64();
    Ok(loss as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::model::kernels::{masked_mse, to_vec};
    use candle_core::{Device, Tensor};

    #[test]
    fn hand_written_pass_matches_candle_autograd_with_dropout() {
        let cfg = ModelConfig {
            hidden: vec![12, 7],
            latent: 3,
            dropout: 0.2,
            ..ModelConfig::default()
        };
        let model = Autoencoder::new(&cfg, 9, 4).unwrap();
        let rows = 5;
        let input: Vec<f32> = (0..rows * 9)
            .map(|i| ((i * 37 % 11) as f32) / 5.0)
            .collect();
        let target: Vec<f32> = (0..rows * 9).map(|i| ((i * 13 % 7) as f32) / 3.0).collect();
        let weight: Vec<f32> = (0..rows * 9).map(|i| (i % 3 == 0) as u8 as f32).collect();
        let denom = weight.iter().sum::<f32>();
        let mut ws = Workspace::default();
        let loss =
            autoencoder_pass(&model, &input, &target, &weight, denom, rows, 99, &mut ws).unwrap();
        let t = |v: &[f32]| Tensor::from_slice(v, (rows, 9), &Device::Cpu).unwrap();
        let pred = model.forward(&t(&input), Some(99)).unwrap();
        let reference = masked_mse(&pred, &t(&target), &t(&weight), denom).unwrap();
        assert!((reference.to_scalar::<f32>().unwrap() - loss).abs() < 1e-5);
        let grads = reference.backward().unwrap();
        for (k, var) in model.params.vars().iter().enumerate() {
            let expect = to_vec(grads.get(var).unwrap()).unwrap();
            for (a, b) in ws.grads[k].iter().zip(&expect) {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{}: {a} vs {b}",
                    model.params.names()[k]
                );
            }
        }
    }
}
