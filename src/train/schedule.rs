//! Learning-rate schedules by optimiser step: StepLR (x gamma every few epochs) and cosine
//! decay after a linear warm-up.

use crate::config::TrainConfig;

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
    /// The schedule named in `[train]` (unknown names are an error naming them).
    pub fn from_config(c: &TrainConfig, steps_per_epoch: usize) -> anyhow::Result<Self> {
        Ok(match c.schedule.as_str() {
            "step" => Self::Step {
                lr: c.lr,
                every: c.step_epochs.max(1),
                gamma: c.step_gamma,
                steps_per_epoch: steps_per_epoch.max(1),
            },
            "cosine" => Self::Cosine {
                lr: c.lr,
                warmup_steps: c.warmup_epochs * steps_per_epoch,
                total_steps: (c.epochs * steps_per_epoch).max(1),
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

    #[test]
    fn step_and_cosine_schedules_follow_their_formulas() {
        let mut c = TrainConfig::default();
        let s = LrSchedule::from_config(&c, 10).unwrap();
        assert_eq!(s.lr(0), 1e-3);
        assert_eq!(s.lr(19), 1e-3);
        assert!((s.lr(20) - 0.9e-3).abs() < 1e-12);
        c.schedule = "cosine".into();
        c.epochs = 4;
        let s = LrSchedule::from_config(&c, 10).unwrap();
        assert!((s.lr(4) - 0.5e-3).abs() < 1e-12, "warm-up is linear");
        assert!((s.lr(10) - 1e-3).abs() < 1e-12);
        assert!(
            (s.lr(25) - 0.5e-3).abs() < 1e-9,
            "half-way through the decay"
        );
        assert!(s.lr(39) < 1e-5);
        c.schedule = "linear".into();
        assert!(LrSchedule::from_config(&c, 10).is_err());
    }
}
