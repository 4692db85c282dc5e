//! Learning-rate schedules by optimiser step: StepLR (x gamma every few epochs) and cosine
//! decay after a linear warm-up.

use crate::config::TrainConfig;
use crate::train::budget::Budget;

/// Epochs between things done about ten times per run (progress lines, latent snapshots).
pub fn tenth_of_run(epochs: usize) -> usize {
    epochs.div_ceil(10).max(1)
}

/// A learning-rate schedule evaluated at any global step.
#[derive(Debug, Clone, PartialEq)]
pub enum LrSchedule {
    /// `lr * gamma^(epoch / every)`.
    Step {
        lr: f64,
        every: usize,
        gamma: f64,
        steps_per_epoch: usize,
    },
    /// Linear warm-up to `lr`, then cosine decay to zero at the last step.
    Cosine {
        lr: f64,
        warmup_steps: usize,
        total_steps: usize,
    },
    /// A fixed rate.
    Constant { lr: f64 },
}

impl LrSchedule {
    /// The schedule named in `[train]` over a run of `budget` (unknown names are an error
    /// naming them). Epoch counts come from the budget, so an automatic one stretches them.
    pub fn new(c: &TrainConfig, budget: &Budget) -> anyhow::Result<Self> {
        let steps_per_epoch = budget.steps_per_epoch.max(1);
        Ok(match c.schedule.as_str() {
            "step" => Self::Step {
                lr: c.lr,
                every: budget.step_epochs.max(1),
                gamma: c.step_gamma,
                steps_per_epoch,
            },
            "cosine" => Self::Cosine {
                lr: c.lr,
                warmup_steps: c.warmup_epochs * steps_per_epoch,
                total_steps: budget.total_steps().max(1),
            },
            "constant" => Self::Constant { lr: c.lr },
            other => {
                anyhow::bail!("unknown schedule {other:?} (expected step, cosine or constant)")
            }
        })
    }

    /// The learning rate for optimiser step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        match *self {
            Self::Step {
                lr,
                every,
                gamma,
                steps_per_epoch,
            } => lr * gamma.powi((step / steps_per_epoch / every) as i32),
            Self::Cosine {
                lr,
                warmup_steps,
                total_steps,
            } => {
                if step < warmup_steps {
                    lr * (step + 1) as f64 / warmup_steps as f64
                } else {
                    let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                    let t = ((step - warmup_steps) as f64 / span).min(1.0);
                    0.5 * lr * (1.0 + (std::f64::consts::PI * t).cos())
                }
            }
            Self::Constant { lr } => lr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Epochs;

    #[test]
    fn step_and_cosine_schedules_follow_their_formulas() {
        let mut c = TrainConfig {
            epochs: Epochs::Fixed(20),
            ..TrainConfig::default()
        };
        // 10 steps per epoch.
        let budget = |c: &TrainConfig| Budget::plan(c, 2_600, 2_560);
        let s = LrSchedule::new(&c, &budget(&c)).unwrap();
        assert_eq!(s.lr(0), 1e-3);
        assert_eq!(s.lr(19), 1e-3);
        assert!((s.lr(20) - 0.9e-3).abs() < 1e-12);
        c.schedule = "cosine".into();
        c.epochs = Epochs::Fixed(4);
        let s = LrSchedule::new(&c, &budget(&c)).unwrap();
        assert!((s.lr(4) - 0.5e-3).abs() < 1e-12, "warm-up is linear");
        assert!((s.lr(10) - 1e-3).abs() < 1e-12);
        assert!(
            (s.lr(25) - 0.5e-3).abs() < 1e-9,
            "half-way through the decay"
        );
        assert!(s.lr(39) < 1e-5);
        c.schedule = "linear".into();
        assert!(LrSchedule::new(&c, &budget(&c)).is_err());
    }

    #[test]
    fn an_automatic_budget_decays_at_most_ten_times() {
        let c = TrainConfig::default();
        let b = Budget::plan(&c, 1_000, 900);
        let s = LrSchedule::new(&c, &b).unwrap();
        let last = s.lr(b.total_steps() - 1);
        assert!(
            last >= c.lr * c.step_gamma.powi(10) - 1e-15,
            "lr at the end {last:e} after {} steps",
            b.total_steps()
        );
        assert!(last < c.lr * c.step_gamma.powi(8));
    }
}
