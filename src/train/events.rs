//! The typed messages a training worker sends to whoever drives it (the UI or the headless CLI),
//! and the commands it accepts back.

use std::path::PathBuf;

/// Progress and outcome reports from a training worker.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    /// The run directory exists and training is about to begin.
    Started {
        run_dir: PathBuf,
        method: String,
        epochs: usize,
        steps_per_epoch: usize,
        n_train: usize,
        n_val: usize,
        n_params: usize,
    },
    /// One optimiser step finished.
    Step {
        epoch: usize,
        step: usize,
        global_step: usize,
        loss: f32,
        lr: f64,
        cells_per_sec: f64,
    },
    /// One epoch finished, with its validation loss.
    EpochEnd {
        epoch: usize,
        train_loss: f32,
        val_loss: f32,
        lr: f64,
        cells_per_sec: f64,
        elapsed_secs: f64,
        eta_secs: Option<f64>,
    },
    /// A checkpoint was written (atomically).
    CheckpointSaved {
        path: PathBuf,
        epoch: usize,
        val_loss: f32,
        best: bool,
    },
    /// A human-readable note for the log pane.
    Log(String),
    /// The worker paused or resumed on request.
    Paused,
    Resumed,
    /// Training ended normally or on request; `stopped` is true when asked to stop early.
    Finished {
        run_dir: PathBuf,
        best_val_loss: f32,
        epochs_done: usize,
        stopped: bool,
    },
    /// Training ended on an error (including a panic in the worker); the last good checkpoint stays.
    Failed {
        message: String,
    },
}

/// Requests from the driver to a running worker, checked before every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainCommand {
    Pause,
    Resume,
    /// Finish the current batch, checkpoint and end.
    Stop,
}
