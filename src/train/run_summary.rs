//! summary.json: what a finished (or stopped) run did, written by the worker and read back by the
//! run catalogue. Every field defaults when missing, so older or partial summaries still read.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::train::rundir::SUMMARY_FILE;

/// The final summary of a training run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSummary {
    /// Method name (`masked`, `byol`, ...).
    pub method: String,
    /// The dataset the run trained on.
    pub dataset: PathBuf,
    pub n_cells: usize,
    pub n_genes: usize,
    /// Whether batches streamed from the file (data larger than `data.memory_budget_mb`).
    pub streamed: bool,
    /// Training and validation cells.
    pub n_train: usize,
    pub n_val: usize,
    pub n_params: usize,
    /// Epochs planned and the batch size.
    pub epochs: usize,
    pub batch_size: usize,
    /// The training budget, as one line.
    pub budget: String,
    pub epochs_done: usize,
    pub global_step: usize,
    /// Best validation loss and the epoch count when it was reached.
    pub best_val_loss: Option<f32>,
    pub best_epoch: usize,
    pub last_val_loss: Option<f32>,
    /// Validation loss of predicting each gene's mean (masked methods).
    pub val_baseline_gene_mean: Option<f64>,
    /// Stopped by the user, or early by patience.
    pub stopped: bool,
    pub early_stopped: bool,
    /// Training seconds over all sessions, and this session's throughput.
    pub train_secs: f64,
    pub cells_per_sec: f64,
    /// How many gene programmes matched (gp / gp-tf).
    pub gene_sets: Option<String>,
    /// The device that trained, the path (`fast` or `device`) and why they were chosen.
    pub device: Option<String>,
    pub path: Option<String>,
    pub path_reason: Option<String>,
    /// The PyTorch checkpoint the weights were imported from (`cellscope import`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<String>,
    /// How an imported checkpoint was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportDetails>,
}

/// How `cellscope import` read a checkpoint: its kind, where the encoder sat, its layers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportDetails {
    /// `ssl_in_scg` or `state-dict`.
    pub kind: String,
    /// The prefix of the encoder's tensor names in the checkpoint.
    pub encoder_prefix: String,
    pub layers: Vec<ImportedLayer>,
    pub notes: Vec<String>,
}

/// One Linear layer of an imported encoder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportedLayer {
    pub name: String,
    #[serde(rename = "in")]
    pub n_in: usize,
    #[serde(rename = "out")]
    pub n_out: usize,
    /// The BatchNorm1d folded into it, if any.
    pub batch_norm: Option<String>,
}

impl RunSummary {
    /// Reads `dir`'s summary.json; None when it is missing or unreadable.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(SUMMARY_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_summary_reads_and_imported_from_is_written_only_when_set() {
        let dir = tempfile::tempdir().unwrap();
        let old = r#"{"method":"byol","epochs_done":3,"best_val_loss":0.5,"stopped":false,
                      "cells_per_sec":10.0,"gene_sets":null}"#;
        std::fs::write(dir.path().join(SUMMARY_FILE), old).unwrap();
        let s = RunSummary::read(dir.path()).unwrap();
        assert_eq!((s.method.as_str(), s.epochs_done), ("byol", 3));
        assert_eq!((s.best_val_loss, &s.imported_from), (Some(0.5), &None));
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("imported_from"), "{text}");
        let imported = RunSummary {
            imported_from: Some("model.pt".into()),
            ..s
        };
        let text = serde_json::to_string(&imported).unwrap();
        assert!(text.contains(r#""imported_from":"model.pt""#), "{text}");
        std::fs::write(dir.path().join(SUMMARY_FILE), "not json").unwrap();
        assert_eq!(RunSummary::read(dir.path()), None);
    }
}
