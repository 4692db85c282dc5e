//! Latent snapshots during training: every `train.snapshot_every` epochs the worker embeds a
//! fixed subsample of the training cells and hands the codes to an observer, which lays them out
//! and stores them (`analysis::timeline` does; `train` does not depend on the analysis layer).

use ndarray::ArrayView2;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::Epochs;
use crate::data::CsrMatrix;
use crate::model::Encoder;
use crate::train::TrainEvent;
use crate::train::data::TrainData;

/// Receives the latent codes of a fixed set of training cells as the model trains.
pub trait LatentObserver: Send + std::fmt::Debug {
    /// The rows of the training data to embed, the same for every snapshot.
    fn cells(&self) -> &[usize];
    /// Stores the snapshot of `z` (one row per cell of `cells()`) taken after `epoch` epochs in
    /// `run_dir`; returns its kNN macro-F1 when the cells have labels.
    fn observe(
        &mut self,
        epoch: usize,
        z: ArrayView2<f32>,
        run_dir: &Path,
    ) -> anyhow::Result<Option<f64>>;
}

/// An observer shared with the job that started the run.
pub type SharedObserver = Arc<Mutex<dyn LatentObserver>>;

/// Rows embedded per forward pass of a snapshot.
const EMBED_BATCH: usize = 4096;

/// With `snapshot_every = "auto"`, a snapshot between the first and the last is skipped when,
/// at the mean cost so far, it would take the snapshots over this share of the training time.
const AUTO_BUDGET: f64 = 0.03;

/// The epochs between snapshots for `setting` over a run of `epochs` (None: no snapshots).
pub fn interval(setting: Epochs, epochs: usize) -> Option<usize> {
    match setting {
        Epochs::Auto => Some(crate::train::schedule::tenth_of_run(epochs)),
        Epochs::Fixed(0) => None,
        Epochs::Fixed(n) => Some(n),
    }
}

/// The snapshots of one training session: the observer, the subsample's rows, the interval
/// and the time spent.
#[derive(Debug)]
pub struct Snapshots {
    observer: SharedObserver,
    x: CsrMatrix,
    every: usize,
    /// The share of the training time snapshots may take (`auto` only).
    budget: Option<f64>,
    /// Seconds spent on snapshots, and how many were taken.
    pub secs: f64,
    pub taken: usize,
}

impl Snapshots {
    /// Snapshots for a run of `epochs` epochs, or why there are none (Err: a note for the log).
    pub fn new(
        observer: SharedObserver,
        data: &TrainData,
        setting: Epochs,
        epochs: usize,
    ) -> Result<Option<Self>, String> {
        let Some(every) = interval(setting, epochs) else {
            return Ok(None);
        };
        if data.stream.is_some() {
            return Err("latent snapshots are off: the data is streamed from the file".into());
        }
        let cells = observer
            .lock()
            .map_err(|_| "latent snapshots are off: the observer failed".to_string())?
            .cells()
            .to_vec();
        if cells.iter().any(|&c| c >= data.x.n_rows) {
            return Err("latent snapshots are off: the subsample does not fit the data".into());
        }
        Ok(Some(Self {
            observer,
            x: data.x.select_rows(&cells),
            every,
            budget: (setting == Epochs::Auto).then_some(AUTO_BUDGET),
            secs: 0.0,
            taken: 0,
        }))
    }

    /// Whether a snapshot is due after `epochs_done` epochs and `train_secs` seconds of training:
    /// always at the last one; on the interval otherwise, unless it would overrun `auto`'s budget.
    pub fn due(&self, epochs_done: usize, last: bool, train_secs: f64) -> bool {
        let next = self.secs / self.taken.max(1) as f64;
        let within_budget = self
            .budget
            .is_none_or(|b| self.secs + next <= b * train_secs);
        last || (epochs_done.is_multiple_of(self.every) && within_budget)
    }

    /// Takes the snapshot after `epochs_done` epochs with `encoder` (eval mode); the event to
    /// report, a log line when it failed (training goes on).
    pub fn take(&mut self, epochs_done: usize, encoder: &Encoder, run_dir: &Path) -> TrainEvent {
        let t = Instant::now();
        let outcome = (|| -> anyhow::Result<Option<f64>> {
            let z = encoder.embed(&self.x, EMBED_BATCH)?;
            let mut observer = self
                .observer
                .lock()
                .map_err(|_| anyhow::anyhow!("the observer failed"))?;
            observer.observe(epochs_done, z.view(), run_dir)
        })();
        let secs = t.elapsed().as_secs_f64();
        self.secs += secs;
        match outcome {
            Ok(knn_macro_f1) => {
                self.taken += 1;
                TrainEvent::Snapshot {
                    epoch: epochs_done,
                    knn_macro_f1,
                    secs,
                }
            }
            Err(e) => TrainEvent::Log(format!("latent snapshot after epoch {epochs_done}: {e:#}")),
        }
    }

    /// The cost line for the log: snapshots taken, seconds, share of the training time.
    pub fn cost(&self, train_secs: f64) -> String {
        format!(
            "latent snapshots: {} taken in {:.2} s, {:.1}% of the {:.1} s of training",
            self.taken,
            self.secs,
            100.0 * self.secs / train_secs.max(1e-9),
            train_secs
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_ten_snapshots_per_run_unless_set() {
        assert_eq!(interval(Epochs::Auto, 400), Some(40));
        assert_eq!(interval(Epochs::Auto, 3), Some(1));
        assert_eq!(interval(Epochs::Fixed(0), 400), None);
        assert_eq!(interval(Epochs::Fixed(7), 400), Some(7));
    }

    /// Snapshots of a 1-cell subsample of a 1-cell dataset, as `setting` asks over 40 epochs.
    fn snapshots(setting: Epochs) -> Snapshots {
        #[derive(Debug)]
        struct Nothing;
        impl LatentObserver for Nothing {
            fn cells(&self) -> &[usize] {
                &[0]
            }
            fn observe(
                &mut self,
                _: usize,
                _: ArrayView2<f32>,
                _: &Path,
            ) -> anyhow::Result<Option<f64>> {
                Ok(None)
            }
        }
        let data = TrainData {
            x: CsrMatrix::from_dense(1, 1, &[1.0]),
            genes: vec!["g".into()],
            obs: Vec::new(),
            path: "cells.h5ad".into(),
            stream: None,
        };
        Snapshots::new(Arc::new(Mutex::new(Nothing)), &data, setting, 40)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn auto_snapshots_keep_within_three_percent_but_the_last_is_always_taken() {
        let mut auto = snapshots(Epochs::Auto);
        (auto.secs, auto.taken) = (1.0, 1);
        assert_eq!(auto.every, 4);
        assert!(auto.due(8, false, 80.0), "2 s of 80 s is 2.5%");
        assert!(!auto.due(8, false, 40.0), "2 s of 40 s is 5%");
        assert!(!auto.due(5, false, 80.0), "off the interval");
        assert!(auto.due(7, true, 1.0), "the last one");
        let mut fixed = snapshots(Epochs::Fixed(5));
        fixed.secs = 1.0;
        assert!(
            fixed.due(5, false, 1.0),
            "a set interval is kept whatever it costs"
        );
    }
}
