//! A fused, in-place AdamW (PyTorch semantics, decoupled weight decay) with global-norm gradient
//! clipping: moments are plain buffers, one parallel pass per tensor, no per-step allocation.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, InplaceOp1, InplaceOp2, Layout, Storage, Tensor, Var};
use rayon::prelude::*;
use std::sync::Mutex;

use crate::model::ModelError;
use crate::model::kernels::cpu_slice;
use crate::model::vector::{sum_of, with_avx2};

/// Elements per parallel chunk of the update.
const CHUNK: usize = 1 << 14;

/// Elements per f32 partial sum of the gradient norm.
const NORM_SPAN: usize = 1 << 10;

/// AdamW optimiser state for a fixed list of parameters.
#[derive(Debug, Clone)]
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Steps taken so far (bias correction uses it).
    pub step: u64,
    /// First and second moments, one buffer per parameter.
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

/// The in-place update of one parameter tensor from its gradient.
struct AdamKernel<'a> {
    grad: &'a [f32],
    m: Mutex<&'a mut [f32]>,
    v: Mutex<&'a mut [f32]>,
    /// The learning rate over the first moment's bias correction.
    lr_bc1: f32,
    decay: f32,
    b1: f32,
    b2: f32,
    /// One over the second moment's bias correction.
    inv_bc2: f32,
    eps: f32,
    grad_scale: f32,
}

/// The contiguous f32 values of a CPU storage, writable (for in-place ops).
pub(crate) fn storage_mut<'a>(
    s: &'a mut CpuStorage,
    l: &Layout,
) -> candle_core::Result<&'a mut [f32]> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("parameters must be contiguous".into()))?;
    match s {
        CpuStorage::F32(v) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("parameters must be f32"),
    }
}

impl InplaceOp1 for AdamKernel<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout) -> candle_core::Result<()> {
        let p = storage_mut(dst, dst_l)?;
        if p.len() != self.grad.len() {
            candle_core::bail!(
                "gradient has {} values for {} parameters",
                self.grad.len(),
                p.len()
            );
        }
        let poisoned = |_| candle_core::Error::Msg("optimiser state poisoned".into());
        let mut m = self.m.lock().map_err(poisoned)?;
        let mut v = self.v.lock().map_err(poisoned)?;
        p.par_chunks_mut(CHUNK)
            .zip(self.grad.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| {
                with_avx2(
                    #[inline(always)]
                    || {
                        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                            let g = g * self.grad_scale;
                            *m = self.b1 * *m + (1.0 - self.b1) * g;
                            *v = self.b2 * *v + (1.0 - self.b2) * g * g;
                            let denom = (*v * self.inv_bc2).sqrt() + self.eps;
                            *p = *p * self.decay - self.lr_bc1 * *m / denom;
                        }
                    },
                )
            });
        Ok(())
    }
}

/// The global L2 norm of a set of gradients.
fn global_norm(grads: &[Option<&[f32]>]) -> f64 {
    let parts: Vec<f64> = grads
        .iter()
        .flatten()
        .map(|g| {
            let chunks: Vec<f64> = g
                .par_chunks(CHUNK)
                .map(|c| {
                    with_avx2(
                        #[inline(always)]
                        || {
                            c.chunks(NORM_SPAN)
                                .map(|s| sum_of(s.len(), |i| s[i] * s[i]))
                                .sum()
                        },
                    )
                })
                .collect();
            chunks.iter().sum()
        })
        .collect();
    parts.iter().sum::<f64>().sqrt()
}

impl AdamW {
    /// Fresh state (zero moments) for these parameters.
    pub fn new(params: &[Var], weight_decay: f64) -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            m: params.iter().map(|p| vec![0.0; p.elem_count()]).collect(),
            v: params.iter().map(|p| vec![0.0; p.elem_count()]).collect(),
        }
    }

    /// One step from candle gradients (see [`AdamW::step_slices`]).
    pub fn step(
        &mut self,
        params: &[Var],
        grads: &GradStore,
        lr: f64,
        max_norm: f64,
    ) -> Result<f64, ModelError> {
        let tensors = params
            .iter()
            .map(|p| grads.get(p).map(Tensor::contiguous).transpose())
            .collect::<candle_core::Result<Vec<Option<Tensor>>>>()?;
        let guards: Vec<_> = tensors
            .iter()
            .map(|t| t.as_ref().map(Tensor::storage_and_layout))
            .collect();
        let slices = guards
            .iter()
            .map(|g| match g {
                Some((storage, layout)) => match &**storage {
                    Storage::Cpu(cpu) => cpu_slice(cpu, layout).map(Some),
                    _ => Err(candle_core::Error::Msg(
                        "the fused AdamW runs on the CPU".into(),
                    )),
                },
                None => Ok(None),
            })
            .collect::<candle_core::Result<Vec<Option<&[f32]>>>>()?;
        self.step_slices(params, &slices, lr, max_norm)
    }

    /// One step at learning rate `lr` from plain gradient buffers (one per parameter, `None` =
    /// no gradient: left untouched), first clipping the global norm to `max_norm` (0 disables).
    /// Returns the norm before clipping.
    pub fn step_slices(
        &mut self,
        params: &[Var],
        grads: &[Option<&[f32]>],
        lr: f64,
        max_norm: f64,
    ) -> Result<f64, ModelError> {
        let norm = global_norm(grads);
        let grad_scale = if max_norm > 0.0 && norm > max_norm {
            max_norm / (norm + 1e-6)
        } else {
            1.0
        };
        self.step += 1;
        let t = self.step as i32;
        for (((p, m), v), g) in params.iter().zip(&mut self.m).zip(&mut self.v).zip(grads) {
            let Some(g) = g else { continue };
            let kernel = AdamKernel {
                grad: g,
                m: Mutex::new(m.as_mut_slice()),
                v: Mutex::new(v.as_mut_slice()),
                lr_bc1: (lr / (1.0 - self.beta1.powi(t))) as f32,
                decay: (1.0 - lr * self.weight_decay) as f32,
                b1: self.beta1 as f32,
                b2: self.beta2 as f32,
                inv_bc2: (1.0 / (1.0 - self.beta2.powi(t))) as f32,
                eps: self.eps as f32,
                grad_scale: grad_scale as f32,
            };
            p.as_tensor().inplace_op1(&kernel)?;
        }
        Ok(norm)
    }
}

/// The in-place exponential moving average `dst = tau * dst + (1 - tau) * src`.
struct EmaKernel {
    tau: f32,
}

impl InplaceOp2 for EmaKernel {
    fn name(&self) -> &'static str {
        "ema"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        src: &CpuStorage,
        src_l: &Layout,
    ) -> candle_core::Result<()> {
        let t = storage_mut(dst, dst_l)?;
        let s = cpu_slice(src, src_l)?;
        t.par_chunks_mut(CHUNK)
            .zip(s.par_chunks(CHUNK))
            .for_each(|(t, s)| {
                t.iter_mut()
                    .zip(s)
                    .for_each(|(t, &s)| *t = self.tau * *t + (1.0 - self.tau) * s);
            });
        Ok(())
    }
}

/// Moves each `target` parameter towards its `online` counterpart by EMA with rate `tau`.
pub fn ema_update(target: &[Var], online: &[Var], tau: f64) -> Result<(), ModelError> {
    let kernel = EmaKernel { tau: tau as f32 };
    for (t, o) in target.iter().zip(online) {
        t.as_tensor().inplace_op2(o.as_tensor(), &kernel)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// AdamW written out plainly in f64, as torch.optim.AdamW defines it.
    fn reference_step(p: &mut [f64], m: &mut [f64], v: &mut [f64], g: &[f64], t: i32, lr: f64) {
        let (b1, b2, eps, wd) = (0.9, 0.999, 1e-8, 0.01);
        for i in 0..p.len() {
            p[i] *= 1.0 - lr * wd;
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let mh = m[i] / (1.0 - f64::powi(b1, t));
            let vh = v[i] / (1.0 - f64::powi(b2, t));
            p[i] -= lr * mh / (vh.sqrt() + eps);
        }
    }

    #[test]
    fn fused_adamw_matches_the_reference_update_with_clipping() {
        let dev = Device::Cpu;
        let init: Vec<f32> = (0..40_000)
            .map(|i| ((i % 97) as f32 - 48.0) / 50.0)
            .collect();
        let p = Var::from_vec(init.clone(), (200, 200), &dev).unwrap();
        let q = Var::from_vec(vec![0.5f32, -0.25], 2, &dev).unwrap();
        let mut opt = AdamW::new(&[p.clone(), q.clone()], 0.01);
        let mut rp: Vec<f64> = init.iter().map(|&x| f64::from(x)).collect();
        let (mut rm, mut rv) = (vec![0.0; rp.len()], vec![0.0; rp.len()]);
        for t in 1..=3 {
            // loss = sum(p^2 * 0.5 * c) + 3 q0  -> grad p = c p, grad q = (3, 0)
            let c = Tensor::new(0.3f32 * t as f32, &dev).unwrap();
            let loss = ((p.as_tensor().sqr().unwrap().broadcast_mul(&c).unwrap() * 0.5)
                .unwrap()
                .sum_all()
                .unwrap()
                + (q.as_tensor().get(0).unwrap() * 3.0).unwrap())
            .unwrap();
            let grads = loss.backward().unwrap();
            let g: Vec<f64> = rp.iter().map(|x| x * 0.3 * f64::from(t)).collect();
            let norm = (g.iter().map(|x| x * x).sum::<f64>() + 9.0).sqrt();
            let scale = if norm > 1.0 { 1.0 / (norm + 1e-6) } else { 1.0 };
            let g: Vec<f64> = g.iter().map(|x| x * scale).collect();
            let got_norm = opt
                .step(&[p.clone(), q.clone()], &grads, 1e-2, 1.0)
                .unwrap();
            assert!((got_norm - norm).abs() < 1e-3 * norm);
            reference_step(&mut rp, &mut rm, &mut rv, &g, t, 1e-2);
        }
        let got = p
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (a, b) in got.iter().zip(&rp) {
            assert!((f64::from(*a) - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
