//! Training: the background worker, its events, run directories and checkpoints.
//! Every caller (terminal UI, headless CLI, benchmarks) drives the same worker.

pub mod budget;
pub mod catalog;
pub mod checkpoint;
pub mod data;
pub mod detached;
pub mod device_learner;
pub mod events;
pub mod finetune;
pub mod latent;
pub mod method;
pub(crate) mod net;
pub mod path;
pub mod run_summary;
pub mod rundir;
pub mod schedule;
pub mod split;
pub mod stream;
pub mod worker;
pub mod writer_lock;

pub use data::TrainData;
pub use events::{TrainCommand, TrainEvent};
pub use method::{Learner, Method};
pub use rundir::{LoadedRun, RunDir, load_run, load_run_config};
pub use worker::{TrainHandle, TrainJob, spawn};

/// Errors of the training layer that callers may want to tell apart.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing run files failed (message names the file).
    #[error("{0}")]
    Io(String),
    #[error("not a run directory: {0}")]
    NotARun(String),
    /// Another writer holds the run directory ("run X is being written by pid N").
    #[error("{0}")]
    Busy(String),
}
