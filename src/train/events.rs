//! The typed messages a training worker sends to whoever drives it (the UI or the headless CLI),
//! and the commands it accepts back. Events are also the lines of a run's metrics.jsonl:
//! `{"event": "step", "loss": ...}` (serde; a non-finite float is written as null and read as NaN).

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

/// Progress and outcome reports from a training worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    /// The run directory exists and training is about to begin.
    Started {
        run_dir: PathBuf,
        method: String,
        /// Epochs of the resolved budget (`train.epochs` may be "auto").
        epochs: usize,
        /// Cells per optimiser step (an automatic budget may lower `train.batch_size`).
        #[serde(default)]
        batch_size: usize,
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
        #[serde(deserialize_with = "nan_if_null")]
        loss: f32,
        #[serde(deserialize_with = "nan_if_null")]
        lr: f64,
        #[serde(deserialize_with = "nan_if_null")]
        cells_per_sec: f64,
    },
    /// One epoch finished, with its validation loss.
    #[serde(rename = "epoch")]
    EpochEnd {
        epoch: usize,
        #[serde(deserialize_with = "nan_if_null")]
        train_loss: f32,
        #[serde(deserialize_with = "nan_if_null")]
        val_loss: f32,
        #[serde(deserialize_with = "nan_if_null")]
        lr: f64,
        #[serde(deserialize_with = "nan_if_null")]
        cells_per_sec: f64,
        #[serde(deserialize_with = "nan_if_null")]
        elapsed_secs: f64,
        eta_secs: Option<f64>,
    },
    /// A checkpoint was written (atomically).
    #[serde(rename = "checkpoint")]
    CheckpointSaved {
        path: PathBuf,
        epoch: usize,
        #[serde(deserialize_with = "nan_if_null")]
        val_loss: f32,
        best: bool,
    },
    /// A latent snapshot was stored (timeline.jsonl) after `epoch` epochs (0: before training).
    Snapshot {
        epoch: usize,
        /// kNN macro-F1 of the snapshot's cells (None without labels).
        knn_macro_f1: Option<f64>,
        /// Seconds the snapshot took.
        #[serde(deserialize_with = "nan_if_null")]
        secs: f64,
    },
    /// A human-readable note for the log pane (`{"event": "log", "message": ...}`).
    #[serde(with = "log_message")]
    Log(String),
    /// The worker paused or resumed on request.
    Paused,
    Resumed,
    /// Training ended normally or on request; `stopped` is true when asked to stop early.
    Finished {
        run_dir: PathBuf,
        #[serde(deserialize_with = "nan_if_null")]
        best_val_loss: f32,
        epochs_done: usize,
        stopped: bool,
    },
    /// Training ended on an error (including a panic in the worker); the last good checkpoint stays.
    Failed {
        message: String,
    },
}

/// Reads a float that serde_json wrote as null (it was not finite) as NaN.
fn nan_if_null<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + From<f32>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_else(|| T::from(f32::NAN)))
}

/// The `Log` note as a `{"message": ...}` object (tagged events need a map).
mod log_message {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Message<T> {
        message: T,
    }

    pub fn serialize<S: Serializer>(message: &String, s: S) -> Result<S::Ok, S::Error> {
        Message { message }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Message::<String>::deserialize(d)?.message)
    }
}

/// Requests from the driver to a running worker, checked before every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainCommand {
    Pause,
    Resume,
    /// Finish the current batch, checkpoint and end.
    Stop,
}
