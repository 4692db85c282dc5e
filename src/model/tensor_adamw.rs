//! AdamW for the device path, built from candle tensor ops so it runs where the parameters live
//! (a GPU or the CPU): the same update and global-norm clipping as [`crate::model::AdamW`], with
//! moments kept as device tensors and no copy to the host during a step.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::model::{AdamW, ModelError};

/// AdamW state for a fixed list of parameters, on their device.
#[derive(Debug, Clone)]
pub struct TensorAdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Steps taken so far (bias correction uses it).
    pub step: u64,
    /// First and second moments, one tensor per parameter.
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
}

impl TensorAdamW {
    /// Fresh state (zero moments) for these parameters, on their devices.
    pub fn new(params: &[Var], weight_decay: f64) -> Result<Self, ModelError> {
        let zeros = || -> candle_core::Result<Vec<Tensor>> {
            params.iter().map(|p| p.as_tensor().zeros_like()).collect()
        };
        Ok(Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            m: zeros()?,
            v: zeros()?,
        })
    }

    /// One step at learning rate `lr`, first scaling the gradients so their global L2 norm is
    /// at most `max_norm` (0 disables), as `clip_grad_norm_`. Parameters without a gradient are
    /// left untouched. The clipping factor stays on the device.
    pub fn step(
        &mut self,
        params: &[Var],
        grads: &GradStore,
        lr: f64,
        max_norm: f64,
    ) -> Result<(), ModelError> {
        let grads: Vec<Option<&Tensor>> = params.iter().map(|p| grads.get(p)).collect();
        let scale = clip_scale(&grads, max_norm)?;
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        let decay = 1.0 - lr * self.weight_decay;
        for (i, (p, g)) in params.iter().zip(grads).enumerate() {
            let Some(g) = g else { continue };
            let g = match &scale {
                Some(s) => g.broadcast_mul(s)?,
                None => g.clone(),
            };
            self.m[i] = ((&self.m[i] * b1)? + (&g * (1.0 - b1))?)?;
            self.v[i] = ((&self.v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let denom = ((&self.v[i] / bc2)?.sqrt()? + self.eps)?;
            let update = ((&self.m[i] / bc1)? / denom)?;
            p.set(&((p.as_tensor() * decay)? - (update * lr)?)?)?;
        }
        Ok(())
    }
}

/// The optimiser of a model: the fused CPU AdamW on the fast path, the tensor one on the device
/// path (same update).
pub enum ModelAdamW {
    Fused(AdamW),
    Tensor(TensorAdamW),
}

impl ModelAdamW {
    /// Fresh state for `params`; `fused` as the model's layers.
    pub fn new(params: &[Var], weight_decay: f64, fused: bool) -> Result<Self, ModelError> {
        Ok(match fused {
            true => Self::Fused(AdamW::new(params, weight_decay)),
            false => Self::Tensor(TensorAdamW::new(params, weight_decay)?),
        })
    }

    /// One clipped step (see [`TensorAdamW::step`]).
    pub fn step(
        &mut self,
        params: &[Var],
        grads: &GradStore,
        lr: f64,
        max_norm: f64,
    ) -> Result<(), ModelError> {
        match self {
            Self::Fused(o) => o.step(params, grads, lr, max_norm).map(drop),
            Self::Tensor(o) => o.step(params, grads, lr, max_norm),
        }
    }
}

/// The factor `max_norm / (norm + 1e-6)` when the global norm exceeds `max_norm`, else 1, as a
/// scalar tensor; `None` when clipping is off or nothing has a gradient.
fn clip_scale(grads: &[Option<&Tensor>], max_norm: f64) -> Result<Option<Tensor>, ModelError> {
    if max_norm <= 0.0 {
        return Ok(None);
    }
    let mut total: Option<Tensor> = None;
    for g in grads.iter().flatten() {
        let sq = g.sqr()?.sum_all()?;
        total = Some(match total {
            Some(t) => (t + sq)?,
            None => sq,
        });
    }
    let Some(total) = total else { return Ok(None) };
    let norm = total.sqrt()?;
    let ratio = ((norm + 1e-6)?.recip()? * max_norm)?;
    Ok(Some(ratio.minimum(1.0)?))
}

/// Moves each `target` parameter towards its `online` counterpart by an exponential moving
/// average with rate `tau` (BYOL's target update), in tensor ops on their device.
pub fn ema_towards(target: &[Var], online: &[Var], tau: f64) -> Result<(), ModelError> {
    for (t, o) in target.iter().zip(online) {
        t.set(&((t.as_tensor() * tau)? + (o.as_tensor() * (1.0 - tau))?)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Loss sum(c * p^2) + 3 q0 at step t: steep enough that clipping applies.
    fn loss(p: &Var, q: &Var, t: usize) -> Tensor {
        let c = 0.3 * t as f64;
        ((p.as_tensor().sqr().unwrap() * c)
            .unwrap()
            .sum_all()
            .unwrap()
            + (q.as_tensor().get(0).unwrap() * 3.0).unwrap())
        .unwrap()
    }

    #[test]
    fn matches_the_fused_cpu_adamw_with_and_without_clipping() {
        let dev = Device::Cpu;
        let init: Vec<f32> = (0..600).map(|i| ((i % 37) as f32 - 18.0) / 20.0).collect();
        for clip in [0.0, 1.0, 1e6] {
            let vars = |_: ()| {
                (
                    Var::from_vec(init.clone(), (20, 30), &dev).unwrap(),
                    Var::from_vec(vec![0.5f32, -0.25], 2, &dev).unwrap(),
                )
            };
            let (p1, q1) = vars(());
            let (p2, q2) = vars(());
            let mut fused = AdamW::new(&[p1.clone(), q1.clone()], 0.01);
            let mut tensor = TensorAdamW::new(&[p2.clone(), q2.clone()], 0.01).unwrap();
            for t in 1..=4 {
                let g1 = loss(&p1, &q1, t).backward().unwrap();
                fused
                    .step(&[p1.clone(), q1.clone()], &g1, 1e-2, clip)
                    .unwrap();
                let g2 = loss(&p2, &q2, t).backward().unwrap();
                tensor
                    .step(&[p2.clone(), q2.clone()], &g2, 1e-2, clip)
                    .unwrap();
            }
            for (a, b) in [(&p1, &p2), (&q1, &q2)] {
                let (a, b) = (
                    a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                );
                for (x, y) in a.iter().zip(&b) {
                    assert!((x - y).abs() < 1e-6, "clip {clip}: {x} vs {y}");
                }
            }
            assert_eq!(tensor.step, 4);
        }
    }

    #[test]
    fn ema_moves_the_target_towards_the_online_weights() {
        let dev = Device::Cpu;
        let t = Var::from_vec(vec![1f32, 2.0], 2, &dev).unwrap();
        let o = Var::from_vec(vec![3f32, -2.0], 2, &dev).unwrap();
        ema_towards(std::slice::from_ref(&t), &[o], 0.75).unwrap();
        assert_eq!(t.as_tensor().to_vec1::<f32>().unwrap(), [1.5, 1.0]);
    }
}
