//! Training: the background worker, its events, run directories and checkpoints.

pub mod events;

pub use events::{TrainCommand, TrainEvent};
