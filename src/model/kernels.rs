//! Fused CPU kernels as candle custom ops: bias + activation + dropout, and the masked MSE loss.
//! Rows run in parallel on rayon; reductions use fixed chunks so results repeat exactly.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

use crate::model::Activation;

/// Rows per parallel chunk in reductions (fixed, so sums are reproducible).
const ROW_CHUNK: usize = 16;

/// The contiguous f32 values behind a CPU storage and layout.
pub(crate) fn cpu_slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused kernel needs a contiguous tensor".into()))?;
    Ok(&s.as_slice::<f32>()?[a..b])
}

/// Runs `f` on the contiguous f32 values of a CPU tensor.
pub(crate) fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => Ok(f(cpu_slice(cpu, layout)?)),
        _ => candle_core::bail!("fused kernels run on the CPU only"),
    }
}

/// The values of a tensor as a vector (any device).
pub(crate) fn to_vec(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// Sums `f(row)` over rows in fixed chunks, in parallel, reproducibly.
pub(crate) fn row_sum(n_rows: usize, f: impl Fn(usize) -> f64 + Sync) -> f64 {
    let parts: Vec<f64> = (0..n_rows.div_ceil(ROW_CHUNK))
        .into_par_iter()
        .map(|c| {
            (c * ROW_CHUNK..((c + 1) * ROW_CHUNK).min(n_rows))
                .map(&f)
                .sum()
        })
        .collect();
    parts.iter().sum()
}

/// Column sums of a row-major matrix, in fixed row chunks, in parallel, reproducibly.
pub(crate) fn column_sums(values: &[f32], cols: usize) -> Vec<f32> {
    let rows = values.len() / cols.max(1);
    let parts: Vec<Vec<f32>> = (0..rows.div_ceil(ROW_CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut acc = vec![0f32; cols];
            for row in values[c * ROW_CHUNK * cols..((c + 1) * ROW_CHUNK).min(rows) * cols]
                .chunks_exact(cols)
            {
                acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
            }
            acc
        })
        .collect();
    let mut out = vec![0f32; cols];
    for p in parts {
        out.iter_mut().zip(p).for_each(|(a, v)| *a += v);
    }
    out
}

/// `act(pre + bias) * mask` on a row-major (rows, cols) matrix; `mask` is optional.
fn bias_act_forward(act: Activation, pre: &[f32], bias: &[f32], mask: Option<&[f32]>) -> Vec<f32> {
    let cols = bias.len();
    let mut out = vec![0f32; pre.len()];
    out.par_chunks_mut(cols)
        .zip(pre.par_chunks(cols))
        .enumerate()
        .for_each(|(r, (o, p))| {
            for j in 0..cols {
                o[j] = act.apply(p[j] + bias[j]);
            }
            if let Some(m) = mask {
                o.iter_mut()
                    .zip(&m[r * cols..(r + 1) * cols])
                    .for_each(|(v, &k)| *v *= k);
            }
        });
    out
}

/// Gradients of `act(pre + bias) * mask` with respect to `pre` and `bias`.
fn bias_act_backward(
    act: Activation,
    pre: &[f32],
    bias: &[f32],
    mask: Option<&[f32]>,
    grad: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let cols = bias.len();
    let mut gpre = vec![0f32; pre.len()];
    gpre.par_chunks_mut(cols)
        .zip(pre.par_chunks(cols))
        .zip(grad.par_chunks(cols))
        .enumerate()
        .for_each(|(r, ((gp, p), g))| {
            for j in 0..cols {
                gp[j] = g[j] * act.derivative(p[j] + bias[j]);
            }
            if let Some(m) = mask {
                gp.iter_mut()
                    .zip(&m[r * cols..(r + 1) * cols])
                    .for_each(|(v, &k)| *v *= k);
            }
        });
    let gbias = column_sums(&gpre, cols);
    (gpre, gbias)
}

/// Fused `act(pre + bias)` with its backward pass (no dropout).
pub struct BiasAct(pub Activation);

/// Fused `act(pre + bias) * mask` (dropout mask of 0 and 1/keep) with its backward pass.
pub struct BiasActDropout(pub Activation);

fn result(values: Vec<f32>, shape: &Shape) -> (CpuStorage, Shape) {
    (CpuStorage::F32(values), shape.clone())
}

impl CustomOp2 for BiasAct {
    fn name(&self) -> &'static str {
        "bias-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = bias_act_forward(self.0, cpu_slice(s1, l1)?, cpu_slice(s2, l2)?, None);
        Ok(result(out, l1.shape()))
    }

    fn bwd(
        &self,
        pre: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (gp, gb) = with_values(pre, |p| {
            with_values(bias, |b| {
                with_values(&grad, |g| bias_act_backward(self.0, p, b, None, g))
            })
        })???;
        Ok((
            Some(Tensor::from_vec(gp, pre.shape(), pre.device())?),
            Some(Tensor::from_vec(gb, bias.shape(), bias.device())?),
        ))
    }
}

impl CustomOp3 for BiasActDropout {
    fn name(&self) -> &'static str {
        "bias-act-dropout"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let mask = cpu_slice(s3, l3)?;
        let out = bias_act_forward(self.0, cpu_slice(s1, l1)?, cpu_slice(s2, l2)?, Some(mask));
        Ok(result(out, l1.shape()))
    }

    fn bwd(
        &self,
        pre: &Tensor,
        bias: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (gp, gb) = with_values(pre, |p| {
            with_values(bias, |b| {
                with_values(mask, |m| {
                    with_values(&grad, |g| bias_act_backward(self.0, p, b, Some(m), g))
                })
            })
        })????;
        Ok((
            Some(Tensor::from_vec(gp, pre.shape(), pre.device())?),
            Some(Tensor::from_vec(gb, bias.shape(), bias.device())?),
            None,
        ))
    }
}

/// Mean squared error over the entries where `weight` is 1, divided by `denom` (their count).
pub struct MaskedMse {
    pub denom: f32,
}

impl CustomOp3 for MaskedMse {
    fn name(&self) -> &'static str {
        "masked-mse"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (p, t, w) = (cpu_slice(s1, l1)?, cpu_slice(s2, l2)?, cpu_slice(s3, l3)?);
        let cols = l1.dims().last().copied().unwrap_or(1).max(1);
        let total = row_sum(p.len() / cols, |r| {
            let span = r * cols..(r + 1) * cols;
            p[span.clone()]
                .iter()
                .zip(&t[span.clone()])
                .zip(&w[span])
                .map(|((&a, &b), &k)| (k * (a - b) * (a - b)) as f64)
                .sum()
        });
        let loss = (total / self.denom.max(1.0) as f64) as f32;
        Ok((CpuStorage::F32(vec![loss]), Shape::from(())))
    }

    fn bwd(
        &self,
        pred: &Tensor,
        target: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let scale = 2.0 * grad.to_scalar::<f32>()? / self.denom.max(1.0);
        let cols = pred.dims().last().copied().unwrap_or(1).max(1);
        let g = with_values(pred, |p| {
            with_values(target, |t| {
                with_values(weight, |w| {
                    let mut g = vec![0f32; p.len()];
                    g.par_chunks_mut(cols).enumerate().for_each(|(r, row)| {
                        for (j, v) in row.iter_mut().enumerate() {
                            let i = r * cols + j;
                            *v = scale * w[i] * (p[i] - t[i]);
                        }
                    });
                    g
                })
            })
        })???;
        Ok((
            Some(Tensor::from_vec(g, pred.shape(), pred.device())?),
            None,
            None,
        ))
    }
}

/// The masked MSE of `pred` against `target` over entries with `weight` 1 (`denom` of them).
pub fn masked_mse(
    pred: &Tensor,
    target: &Tensor,
    weight: &Tensor,
    denom: f32,
) -> candle_core::Result<Tensor> {
    pred.contiguous()?
        .apply_op3(target, weight, MaskedMse { denom })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn close(a: &[f32], b: &[f32]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn fused_bias_act_dropout_matches_candle_ops_and_their_gradients() {
        let dev = Device::Cpu;
        let pre = Var::from_vec(vec![-1.5f32, -0.2, 0.0, 0.3, 2.0, -3.0], (2, 3), &dev).unwrap();
        let bias = Var::from_vec(vec![0.1f32, -0.4, 0.2], 3, &dev).unwrap();
        let mask = Tensor::from_vec(vec![2.0f32, 0.0, 2.0, 2.0, 2.0, 0.0], (2, 3), &dev).unwrap();
        let fused = pre
            .apply_op3(&bias, &mask, BiasActDropout(Activation::Selu))
            .unwrap();
        let z = pre.broadcast_add(&bias).unwrap();
        let selu = (z.elu(1.673_263_2).unwrap() * 1.050_701).unwrap();
        let plain = (selu * &mask).unwrap();
        close(&to_vec(&fused).unwrap(), &to_vec(&plain).unwrap());
        let weights = Tensor::from_vec(vec![1f32, 2., 3., 4., 5., 6.], (2, 3), &dev).unwrap();
        let g1 = (fused * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g2 = (plain * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&pre, &bias] {
            close(
                &to_vec(g1.get(v).unwrap()).unwrap(),
                &to_vec(g2.get(v).unwrap()).unwrap(),
            );
        }
    }

    #[test]
    fn masked_loss_ignores_predictions_at_unmasked_entries() {
        let dev = Device::Cpu;
        let target = Tensor::from_vec(vec![1f32, 2., 3., 4., 5., 6.], (2, 3), &dev).unwrap();
        let weight = Tensor::from_vec(vec![1f32, 0., 1., 0., 0., 1.], (2, 3), &dev).unwrap();
        let pred = Tensor::from_vec(vec![0f32, 0., 0., 0., 0., 0.], (2, 3), &dev).unwrap();
        let changed = Tensor::from_vec(vec![0f32, 9., 0., -7., 100., 0.], (2, 3), &dev).unwrap();
        let a = masked_mse(&pred, &target, &weight, 3.0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let b = masked_mse(&changed, &target, &weight, 3.0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(a, b);
        assert!((a - (1.0 + 9.0 + 36.0) / 3.0).abs() < 1e-5);
        let moved = Tensor::from_vec(vec![1f32, 0., 0., 0., 0., 0.], (2, 3), &dev).unwrap();
        let c = masked_mse(&moved, &target, &weight, 3.0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(c < a, "a masked entry does count");
    }

    #[test]
    fn masked_mse_counts_only_masked_entries_and_has_the_right_gradient() {
        let dev = Device::Cpu;
        let pred = Var::from_vec(vec![1f32, 2., 3., 4.], (2, 2), &dev).unwrap();
        let target = Tensor::from_vec(vec![0f32, 0., 0., 0.], (2, 2), &dev).unwrap();
        let weight = Tensor::from_vec(vec![1f32, 0., 0., 1.], (2, 2), &dev).unwrap();
        let loss = masked_mse(&pred, &target, &weight, 2.0).unwrap();
        assert!((loss.to_scalar::<f32>().unwrap() - 8.5).abs() < 1e-6);
        let g = loss.backward().unwrap();
        close(
            &to_vec(g.get(&pred).unwrap()).unwrap(),
            &[1.0, 0.0, 0.0, 4.0],
        );
    }
}
