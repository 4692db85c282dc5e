//! How long a run trains. A fixed `train.epochs` is used as given; `"auto"` follows scvi-tools
//! (`min(round(20000 / n_cells * 400), 400)` epochs), lowers the batch size so that a small
//! dataset still gets many optimiser steps per epoch, and stretches the step schedule and the
//! early-stopping patience to the length of the run, so that 400 short epochs neither decay the
//! learning rate to nothing nor stop at the first flat stretch of the validation curve.

use crate::config::{Epochs, TrainConfig};

/// Most epochs an automatic budget picks (scvi-tools' cap).
pub const AUTO_MAX_EPOCHS: usize = 400;
/// Up to this many cells an automatic budget trains `AUTO_MAX_EPOCHS`; beyond, proportionally fewer.
const AUTO_FULL_CELLS: f64 = 20_000.0;
/// An automatic budget lowers the batch size until an epoch has at least this many steps,
pub const AUTO_MIN_STEPS_PER_EPOCH: usize = 10;
/// but never below this batch size.
const AUTO_MIN_BATCH: usize = 32;
/// An automatic budget decays a step schedule at most this many times per run.
const AUTO_MAX_DECAYS: usize = 10;

/// The resolved length of a run and the settings that follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Epochs to train (early stopping may end sooner).
    pub epochs: usize,
    /// Cells per optimiser step.
    pub batch_size: usize,
    /// Optimiser steps per epoch (incomplete last batches are dropped).
    pub steps_per_epoch: usize,
    /// Epochs without validation improvement before stopping (0 = never).
    pub patience: usize,
    /// Epochs between step-schedule decays.
    pub step_epochs: usize,
    /// Whether the budget was chosen automatically.
    pub auto: bool,
}

impl Budget {
    /// The budget for a dataset of `n_cells`, `n_train` of which are training cells.
    pub fn plan(tc: &TrainConfig, n_cells: usize, n_train: usize) -> Self {
        let n_train = n_train.max(1);
        let (epochs, batch_size, patience, step_epochs, auto) = match tc.epochs {
            Epochs::Fixed(epochs) => (
                epochs,
                tc.batch_size.max(1),
                tc.patience,
                tc.step_epochs.max(1),
                false,
            ),
            Epochs::Auto => {
                let epochs = auto_epochs(n_cells);
                let fitting = prev_power_of_two(n_train / AUTO_MIN_STEPS_PER_EPOCH);
                let batch = tc.batch_size.max(1).min(fitting.max(AUTO_MIN_BATCH));
                let tenth = epochs.div_ceil(AUTO_MAX_DECAYS);
                let patience = if tc.patience == 0 {
                    0
                } else {
                    tc.patience.max(tenth)
                };
                (
                    epochs,
                    batch,
                    patience,
                    tc.step_epochs.max(tenth).max(1),
                    true,
                )
            }
        };
        let batch_size = batch_size.min(n_train);
        Self {
            epochs,
            batch_size,
            steps_per_epoch: n_train / batch_size,
            patience,
            step_epochs,
            auto,
        }
    }

    /// Optimiser steps of the whole run if it is not stopped early.
    pub fn total_steps(&self) -> usize {
        self.epochs * self.steps_per_epoch
    }

    /// One line for the log, the Train pane and summary.json.
    pub fn describe(&self, tc: &TrainConfig) -> String {
        let how = if self.auto { "auto" } else { "fixed" };
        let mut line = format!(
            "budget ({how}): {} epochs x {} steps of {} cells = {} steps",
            self.epochs,
            self.steps_per_epoch,
            self.batch_size,
            self.total_steps()
        );
        if self.batch_size < tc.batch_size {
            line += &format!(" (batch lowered from {})", tc.batch_size);
        }
        match self.patience {
            0 => line += "; no early stopping",
            p => line += &format!("; early stopping after {p} epochs without improvement"),
        }
        if tc.schedule == "step" {
            line += &format!("; lr x{} every {} epochs", tc.step_gamma, self.step_epochs);
        }
        line
    }
}

/// scvi-tools' default: `min(round(20000 / n_cells * 400), 400)`, at least one.
pub fn auto_epochs(n_cells: usize) -> usize {
    let epochs = (AUTO_FULL_CELLS / n_cells.max(1) as f64 * AUTO_MAX_EPOCHS as f64).round();
    (epochs as usize).clamp(1, AUTO_MAX_EPOCHS)
}

/// The largest power of two not above `n` (1 for 0).
fn prev_power_of_two(n: usize) -> usize {
    if n <= 1 {
        1
    } else {
        1 << (usize::BITS - 1 - n.leading_zeros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto() -> TrainConfig {
        TrainConfig::default()
    }

    #[test]
    fn auto_epochs_follow_the_scvi_tools_rule() {
        assert_eq!(auto_epochs(1_000), 400);
        assert_eq!(auto_epochs(20_000), 400);
        assert_eq!(auto_epochs(50_000), 160);
        assert_eq!(auto_epochs(200_000), 40);
        assert_eq!(auto_epochs(30_000_000), 1);
    }

    #[test]
    fn small_data_gets_a_smaller_batch_and_many_steps() {
        let b = Budget::plan(&auto(), 1_000, 900);
        assert!(b.auto);
        assert_eq!((b.epochs, b.batch_size, b.steps_per_epoch), (400, 64, 14));
        assert!(b.total_steps() >= 5_000, "{b:?}");
        assert_eq!((b.patience, b.step_epochs), (40, 40));
        let big = Budget::plan(&auto(), 200_000, 180_000);
        assert_eq!((big.epochs, big.batch_size), (40, 256));
        assert_eq!((big.patience, big.step_epochs), (5, 4));
        let tiny = Budget::plan(&auto(), 50, 45);
        assert_eq!((tiny.batch_size, tiny.steps_per_epoch), (32, 1));
    }

    #[test]
    fn a_fixed_budget_is_used_as_given() {
        let tc = TrainConfig {
            epochs: Epochs::Fixed(20),
            ..TrainConfig::default()
        };
        let b = Budget::plan(&tc, 1_000, 900);
        assert!(!b.auto);
        assert_eq!((b.epochs, b.batch_size, b.steps_per_epoch), (20, 256, 3));
        assert_eq!((b.patience, b.step_epochs), (tc.patience, tc.step_epochs));
        let line = b.describe(&tc);
        assert!(
            line.contains("20 epochs x 3 steps of 256 cells = 60 steps"),
            "{line}"
        );
    }

    #[test]
    fn disabled_early_stopping_stays_disabled() {
        let tc = TrainConfig {
            patience: 0,
            ..TrainConfig::default()
        };
        let b = Budget::plan(&tc, 1_000, 900);
        assert_eq!(b.patience, 0);
        assert!(b.describe(&tc).contains("no early stopping"));
    }
}
