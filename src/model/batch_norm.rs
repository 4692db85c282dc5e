//! BatchNorm1d in eval mode: `(x - running_mean) / sqrt(running_var + eps) * weight + bias`, a
//! fixed per-feature affine map, folded into the Linear layer before it so that the encoder
//! needs no separate layer kind (exact in eval mode; fine-tuning then trains the folded layer).

/// The statistics and affine parameters of one BatchNorm1d layer.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormEval {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub running_mean: Vec<f32>,
    pub running_var: Vec<f32>,
    pub eps: f64,
}

impl BatchNormEval {
    /// Rewrites a Linear layer's row-major `weight` (out x in) and `bias` (out) so that it
    /// computes this normalisation of its output.
    pub fn fold_into(&self, weight: &mut [f32], bias: &mut [f32]) {
        let n_in = weight.len() / bias.len().max(1);
        for (j, b) in bias.iter_mut().enumerate() {
            let scale =
                f64::from(self.weight[j]) / (f64::from(self.running_var[j]) + self.eps).sqrt();
            for w in &mut weight[j * n_in..(j + 1) * n_in] {
                *w = (f64::from(*w) * scale) as f32;
            }
            let shifted = (f64::from(*b) - f64::from(self.running_mean[j])) * scale;
            *b = (shifted + f64::from(self.bias[j])) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folded_linear_equals_linear_then_batch_norm() {
        let (weight, bias) = (vec![1.0f32, -2.0, 0.5, 3.0, 0.0, -1.0], vec![0.1f32, -0.4]);
        let bn = BatchNormEval {
            weight: vec![1.5, 0.5],
            bias: vec![0.2, -0.3],
            running_mean: vec![0.7, -1.1],
            running_var: vec![2.0, 0.25],
            eps: 1e-3,
        };
        let x = [0.3f32, -1.2, 2.0];
        let linear = |w: &[f32], b: &[f32]| -> Vec<f64> {
            (0..2)
                .map(|j| {
                    let dot: f64 = (0..3)
                        .map(|i| f64::from(w[j * 3 + i]) * f64::from(x[i]))
                        .sum();
                    dot + f64::from(b[j])
                })
                .collect()
        };
        let then_bn: Vec<f64> = linear(&weight, &bias)
            .iter()
            .enumerate()
            .map(|(j, &y)| {
                let m = f64::from(bn.running_mean[j]);
                let v = f64::from(bn.running_var[j]);
                (y - m) / (v + bn.eps).sqrt() * f64::from(bn.weight[j]) + f64::from(bn.bias[j])
            })
            .collect();
        let (mut w, mut b) = (weight.clone(), bias.clone());
        bn.fold_into(&mut w, &mut b);
        for (a, e) in linear(&w, &b).iter().zip(&then_bn) {
            assert!((a - e).abs() < 1e-5, "{a} vs {e}");
        }
        assert_ne!(w, weight, "the fold changed nothing");
    }
}
