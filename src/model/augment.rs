//! Augmentations that make the two views of a cell for contrastive learning: inverted dropout,
//! negative-binomial noise and Gaussian noise, each applied to a cell with its own probability.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::config::ContrastiveConfig;
use crate::model::random::row_rng;
use crate::model::vector::{ln_1p, with_avx2};

/// Per-cell augmentation settings (see the `[contrastive]` config section).
#[derive(Debug, Clone, PartialEq)]
pub struct Augmenter {
    pub dropout_prob: f32,
    pub dropout_rate: f32,
    pub nb_noise_prob: f32,
    pub nb_noise_intensity: f32,
    pub gauss_noise_prob: f32,
    pub gauss_noise_std: f32,
}

/// NB(total_count, p) with p ~ U(0, 1) as in the reference's noise: failures before success count.
const NB_TOTAL_COUNT: f64 = 10.0;

impl Augmenter {
    /// The augmentations configured in `[contrastive]`.
    pub fn from_config(c: &ContrastiveConfig) -> Self {
        Self {
            dropout_prob: c.dropout_prob as f32,
            dropout_rate: c.dropout_rate as f32,
            nb_noise_prob: c.nb_noise_prob as f32,
            nb_noise_intensity: c.nb_noise_intensity as f32,
            gauss_noise_prob: c.gauss_noise_prob as f32,
            gauss_noise_std: c.gauss_noise_std as f32,
        }
    }

    /// Writes an augmented copy of the row-major batch `clean` (rows of `cols`) into `out`, of
    /// the same length.
    pub fn view(&self, clean: &[f32], cols: usize, seed: u64, out: &mut [f32]) {
        assert_eq!(out.len(), clean.len(), "a view has the batch's shape");
        out.par_chunks_mut(cols.max(1))
            .zip(clean.par_chunks(cols.max(1)))
            .enumerate()
            .for_each(|(r, (o, c))| {
                let mut rng = row_rng(seed, r);
                if rng.random::<f32>() < self.nb_noise_prob {
                    add_nb_noise(c, o, self.nb_noise_intensity, &mut rng);
                } else {
                    o.copy_from_slice(c);
                }
                if rng.random::<f32>() < self.gauss_noise_prob
                    && let Ok(normal) = Normal::new(0.0f32, self.gauss_noise_std)
                {
                    o.iter_mut()
                        .for_each(|v| *v = (*v + normal.sample(&mut rng)).max(0.0));
                }
                if rng.random::<f32>() < self.dropout_prob && self.dropout_rate < 1.0 {
                    let scale = 1.0 / (1.0 - self.dropout_rate);
                    for v in o.iter_mut() {
                        *v = if rng.random::<f32>() < self.dropout_rate {
                            0.0
                        } else {
                            *v * scale
                        };
                    }
                }
            });
    }
}

/// One NB(`NB_TOTAL_COUNT`, p) count with p ~ U(0, 1) (PyTorch's
/// `NegativeBinomial(total_count, probs=rand())`), drawn from its marginal by inversion with one
/// uniform: integrating p out gives P(X = k) = r / ((k + r)(k + r + 1)) for r = total_count, so
/// P(X >= k) = r / (k + r) and X = floor(r / U) - r for U ~ U(0, 1].
fn nb_count(rng: &mut impl Rng) -> f64 {
    let u = 1.0 - rng.random::<f64>();
    (NB_TOTAL_COUNT / u).floor() - NB_TOTAL_COUNT
}

/// Writes `clean` plus log1p(normalised NB counts) * intensity into `out` (clamped at zero);
/// the counts are drawn into `out` first, so no buffer is allocated.
fn add_nb_noise(clean: &[f32], out: &mut [f32], intensity: f32, rng: &mut impl Rng) {
    with_avx2(
        #[inline(always)]
        || {
            let mut total = 0f64;
            for o in out.iter_mut() {
                let count = nb_count(rng);
                total += count;
                *o = count as f32;
            }
            if total <= 0.0 {
                out.copy_from_slice(clean);
                return;
            }
            let per_count = (1e4 / total) as f32;
            for (o, &v) in out.iter_mut().zip(clean) {
                *o = (v + ln_1p(*o * per_count) * intensity).max(0.0);
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::random::row_rng;
    use rand_distr::{Gamma, Poisson};

    #[test]
    fn nb_counts_follow_the_gamma_poisson_mixture_over_uniform_p() {
        // The direct mixture: p ~ U(0, 1), lambda ~ Gamma(r, p / (1 - p)), X ~ Poisson(lambda).
        let mixture = |rng: &mut rand::rngs::SmallRng| -> f64 {
            let p: f64 = rng.random_range(1e-9..1.0 - 1e-9);
            let lambda = Gamma::new(NB_TOTAL_COUNT, p / (1.0 - p))
                .unwrap()
                .sample(rng);
            Poisson::new(lambda).map(|d| d.sample(rng)).unwrap_or(0.0)
        };
        let n = 100_000;
        let (mut a, mut b) = (row_rng(1, 0), row_rng(2, 0));
        let fast: Vec<f64> = (0..n).map(|_| nb_count(&mut a)).collect();
        let slow: Vec<f64> = (0..n).map(|_| mixture(&mut b)).collect();
        let share = |d: &[f64], hit: &dyn Fn(f64) -> bool| {
            d.iter().filter(|&&x| hit(x)).count() as f64 / n as f64
        };
        let r = NB_TOTAL_COUNT;
        for k in 0..8 {
            let exact = r / ((k as f64 + r) * (k as f64 + r + 1.0));
            let tol = 5.0 * (2.0 * exact * (1.0 - exact) / n as f64).sqrt();
            let (f, s) = (
                share(&fast, &|x| x == k as f64),
                share(&slow, &|x| x == k as f64),
            );
            assert!(
                (f - exact).abs() < tol && (s - exact).abs() < tol,
                "P({k}): {f} {s} {exact}"
            );
        }
        // The heavy tail: P(X >= 100) = r / (100 + r).
        let (f, s) = (share(&fast, &|x| x >= 100.0), share(&slow, &|x| x >= 100.0));
        let exact = r / (100.0 + r);
        let tol = 5.0 * (2.0 * exact * (1.0 - exact) / n as f64).sqrt();
        assert!(
            (f - exact).abs() < tol && (s - exact).abs() < tol,
            "tail: {f} {s} {exact}"
        );
    }

    fn off() -> Augmenter {
        Augmenter {
            dropout_prob: 0.0,
            dropout_rate: 0.5,
            nb_noise_prob: 0.0,
            nb_noise_intensity: 0.2,
            gauss_noise_prob: 0.0,
            gauss_noise_std: 0.01,
        }
    }

    #[test]
    fn each_augmentation_follows_its_own_probability() {
        let clean = vec![1.0f32; 100 * 50];
        let mut out = vec![0.0; clean.len()];
        off().view(&clean, 50, 1, &mut out);
        assert_eq!(out, clean, "all probabilities zero: identity");
        Augmenter {
            dropout_prob: 1.0,
            ..off()
        }
        .view(&clean, 50, 1, &mut out);
        let zeros = out.iter().filter(|v| **v == 0.0).count() as f64 / out.len() as f64;
        assert!((zeros - 0.5).abs() < 0.05, "dropout rate {zeros}");
        assert!(out.iter().all(|&v| v == 0.0 || v == 2.0));
        Augmenter {
            nb_noise_prob: 1.0,
            ..off()
        }
        .view(&clean, 50, 1, &mut out);
        assert!(out.iter().all(|&v| v >= 1.0) && out.iter().any(|&v| v > 1.0));
        let mut again = vec![0.0; clean.len()];
        Augmenter {
            nb_noise_prob: 1.0,
            ..off()
        }
        .view(&clean, 50, 1, &mut again);
        assert_eq!(out, again, "same seed, same view");
    }

    /// Share of the rows of `out` (rows of `cols`) for which `hit` holds.
    fn share(out: &[f32], cols: usize, hit: impl Fn(&[f32]) -> bool) -> f64 {
        let rows = out.chunks(cols);
        rows.clone().filter(|r| hit(r)).count() as f64 / rows.len() as f64
    }

    #[test]
    fn each_augmentation_reaches_its_probability_share_of_cells_independently() {
        // 4,000 cells: a share's standard error is at most 0.008; the tolerance is 4 of them.
        let (cells, cols) = (4000, 20);
        let clean = vec![1.0f32; cells * cols];
        let mut out = vec![0.0; clean.len()];
        let changed = |r: &[f32]| r.iter().any(|&v| v != 1.0);
        for aug in [
            Augmenter {
                dropout_prob: 0.3,
                ..off()
            },
            Augmenter {
                nb_noise_prob: 0.3,
                ..off()
            },
            Augmenter {
                gauss_noise_prob: 0.3,
                ..off()
            },
        ] {
            aug.view(&clean, cols, 2, &mut out);
            let got = share(&out, cols, changed);
            assert!(
                (got - 0.3).abs() < 0.03,
                "{aug:?}: {got} of cells augmented"
            );
        }
        // Together: dropout leaves zeros, NB noise values other than 1 and the dropout scale 2.
        let both = Augmenter {
            dropout_prob: 0.4,
            nb_noise_prob: 0.5,
            ..off()
        };
        both.view(&clean, cols, 3, &mut out);
        let dropped = |r: &[f32]| r.contains(&0.0);
        let noised = |r: &[f32]| r.iter().any(|&v| v != 0.0 && v != 1.0 && v != 2.0);
        for (what, got, want) in [
            ("dropout", share(&out, cols, dropped), 0.4),
            ("NB noise", share(&out, cols, noised), 0.5),
            ("both", share(&out, cols, |r| dropped(r) && noised(r)), 0.2),
        ] {
            assert!((got - want).abs() < 0.032, "{what}: {got}, expected {want}");
        }
    }
}
