//! One task of a sweep: train its run (headless, in this process), evaluate the embedding beside
//! PCA, and write `row.json`, the figures the sweep table aggregates.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

use super::{Sweep, Task};
use crate::analysis::embed::{EvalInput, EvalReport, evaluate_and_save};
use crate::analysis::paired::Paired;
use crate::train::checkpoint::write_atomic;
use crate::train::run_summary::RunSummary;
use crate::train::rundir::SUMMARY_FILE;
use crate::train::writer_lock::WriterLock;
use crate::train::{TrainData, TrainEvent, TrainJob, spawn};

/// The file that marks a task done and holds its figures.
pub const ROW_FILE: &str = "row.json";

/// A metric's per-fold values for the embedding and for PCA (same folds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldPair {
    pub ssl: Vec<f64>,
    pub pca: Vec<f64>,
}

impl From<&Paired> for FoldPair {
    fn from(p: &Paired) -> Self {
        Self {
            ssl: p.folds.ssl.clone(),
            pca: p.folds.pca.clone(),
        }
    }
}

/// One finished task's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub task: String,
    pub method: String,
    pub mask_rate: Option<f64>,
    pub seed: u64,
    pub epochs_done: usize,
    pub best_val_loss: f64,
    pub train_secs: f64,
    /// Cross-validated kNN and logistic-probe macro-F1 (None: not two classes to predict).
    pub knn_macro_f1: Option<FoldPair>,
    pub logistic_macro_f1: Option<FoldPair>,
    /// k-means ARI against the labels, embedding and PCA.
    pub ari: Option<f64>,
    pub pca_ari: Option<f64>,
    /// Weighted explained variance of the held-out reconstruction (masked methods).
    pub ev: Option<f64>,
}

/// What became of a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Trained and evaluated now.
    Done(Row),
    /// Done by an earlier invocation.
    AlreadyDone(Row),
    /// Another process holds the run (a parallel job or array task).
    Busy,
}

/// The row of a finished task, if it has one.
pub fn read_row(run_dir: &Path) -> Option<Row> {
    let text = std::fs::read_to_string(run_dir.join(ROW_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Runs `task`: skipped when done; a run killed before its end is started again from scratch
/// (training that finished but was not evaluated is only evaluated). `threads` overrides
/// `train.threads` (parallel jobs split the cores); `say` receives progress lines.
pub fn run_task(
    sweep: &Sweep,
    task: &Task,
    threads: Option<usize>,
    say: &mut dyn FnMut(String),
) -> anyhow::Result<Outcome> {
    let dir = sweep.run_dir(task);
    if let Some(row) = read_row(&dir) {
        return Ok(Outcome::AlreadyDone(row));
    }
    if dir.exists() && WriterLock::ensure_free(&dir).is_err() {
        return Ok(Outcome::Busy);
    }
    let mut config = task.config(&sweep.base, &sweep.dir);
    if let Some(t) = threads {
        config.train.threads = t;
    }
    let started = Instant::now();
    let trained = dir.join(SUMMARY_FILE).exists();
    let (epochs_done, best_val_loss) = if trained {
        say(format!("{}: trained earlier; evaluating", task.name()));
        finished_training(&dir)?
    } else {
        if dir.exists() {
            say(format!(
                "{}: incomplete run, starting it again",
                task.name()
            ));
            std::fs::remove_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("{}: cannot remove: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
        let data = TrainData::load(&sweep.spec.data, &config, None)?;
        let observer = Some(crate::analysis::timeline::observer(&data, &config));
        train(
            TrainJob {
                config,
                data,
                resume: None,
                run_dir: Some(dir.clone()),
                observer,
            },
            &task.name(),
            say,
        )?
    };
    let train_secs = started.elapsed().as_secs_f64();
    let report = evaluate_and_save(&EvalInput::load(&dir, None)?, sweep.spec.label())?;
    let row = row_of(task, &report, epochs_done, best_val_loss, train_secs);
    write_atomic(
        &dir.join(ROW_FILE),
        serde_json::to_string_pretty(&row)?.as_bytes(),
    )?;
    Ok(Outcome::Done(row))
}

/// Trains in this process until the worker ends; returns (epochs done, best validation loss).
fn train(job: TrainJob, name: &str, say: &mut dyn FnMut(String)) -> anyhow::Result<(usize, f64)> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = spawn(job, tx);
    let mut epochs = 0;
    let mut outcome = Err(anyhow::anyhow!("{name}: training ended without a result"));
    while let Some(event) = rx.blocking_recv() {
        match event {
            TrainEvent::Started { epochs: e, .. } => epochs = e,
            TrainEvent::EpochEnd {
                epoch,
                val_loss,
                cells_per_sec,
                ..
            } if progress_epoch(epoch, epochs) => say(format!(
                "{name}: epoch {}/{epochs}  val {val_loss:.5}  {cells_per_sec:.0} cells/s",
                epoch + 1
            )),
            TrainEvent::Finished {
                best_val_loss,
                epochs_done,
                ..
            } => outcome = Ok((epochs_done, f64::from(best_val_loss))),
            TrainEvent::Failed { message } => outcome = Err(anyhow::anyhow!("{name}: {message}")),
            _ => {}
        }
    }
    handle.join();
    outcome
}

/// Epochs worth a progress line: about ten per run.
fn progress_epoch(epoch: usize, epochs: usize) -> bool {
    (epoch + 1).is_multiple_of(crate::train::schedule::tenth_of_run(epochs))
}

/// Epochs done and best validation loss of a run that finished, from its summary.json.
fn finished_training(dir: &Path) -> anyhow::Result<(usize, f64)> {
    let s = RunSummary::read(dir)
        .ok_or_else(|| anyhow::anyhow!("{}: unreadable", dir.join(SUMMARY_FILE).display()))?;
    Ok((s.epochs_done, s.best_val_loss.map_or(f64::NAN, f64::from)))
}

/// `cellscope eval` of the run (its eval.json written too), on the run's own data.
/// The table's figures from an evaluation.
fn row_of(
    task: &Task,
    r: &EvalReport,
    epochs_done: usize,
    best_val_loss: f64,
    train_secs: f64,
) -> Row {
    let p = r.scores.prediction.as_ref();
    Row {
        task: task.name(),
        method: task.method.name().into(),
        mask_rate: task.mask_rate,
        seed: task.seed,
        epochs_done,
        best_val_loss,
        train_secs,
        knn_macro_f1: p.map(|p| FoldPair::from(&p.knn_macro_f1)),
        logistic_macro_f1: p.map(|p| FoldPair::from(&p.logistic_macro_f1)),
        ari: r.scores.ssl.kmeans_ari,
        pca_ari: r.scores.pca.kmeans_ari,
        ev: r.reconstruction.as_ref().map(|rec| rec.ev_weighted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_ten_progress_lines_per_run_and_always_the_last_epoch() {
        let lines = |epochs| (0..epochs).filter(|&e| progress_epoch(e, epochs)).count();
        assert_eq!(lines(400), 10);
        assert_eq!(lines(7), 7);
        assert!(progress_epoch(399, 400));
    }
}
