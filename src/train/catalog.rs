//! The catalogue of run directories under an output directory: method, dataset, status, loss
//! curve, best validation loss, and the eval/transfer figures other commands leave there.

use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::train::TrainEvent;
use crate::train::detached::{RunStatus, read_events, run_alive, status_of};
use crate::train::run_summary::RunSummary;
use crate::train::rundir::{CONFIG_FILE, DATASET_FILE, EVAL_FILE, METRICS_FILE, TRANSFER_FILE};

/// Figures files other commands write into a run directory, read leniently.
pub const METRIC_FILES: [(&str, &str); 2] = [("eval", EVAL_FILE), ("transfer", TRANSFER_FILE)];

/// One run directory, as the Runs pane lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub dir: PathBuf,
    /// The directory's name (`<time>-<method>`).
    pub name: String,
    pub method: String,
    /// The dataset's file name.
    pub dataset: String,
    pub status: RunStatus,
    pub epochs_done: usize,
    /// Epochs asked for (0 when unknown).
    pub epochs: usize,
    pub best_val_loss: Option<f32>,
    /// Validation loss per finished epoch.
    pub val_curve: Vec<f32>,
    /// Numeric figures from eval.json / transfer.json as (`file.key`, value), by key.
    pub metrics: Vec<(String, f64)>,
    /// summary.json, once the run has finished or stopped.
    pub summary: Option<RunSummary>,
}

impl RunInfo {
    /// Epochs done, over those asked for when known ("3/10").
    pub fn epochs_text(&self) -> String {
        if self.epochs > 0 {
            format!("{}/{}", self.epochs_done, self.epochs)
        } else {
            self.epochs_done.to_string()
        }
    }

    /// The PyTorch checkpoint the run's weights were imported from, if they were.
    pub fn imported_from(&self) -> Option<&str> {
        self.summary.as_ref()?.imported_from.as_deref()
    }

    /// The method, marked "(imported)" for a run made by `cellscope import`.
    pub fn method_text(&self) -> String {
        if self.imported_from().is_some() {
            format!("{} (imported)", self.method)
        } else {
            self.method.clone()
        }
    }

    /// The best validation loss to 4 decimals, or "-".
    pub fn best_val_text(&self) -> String {
        self.best_val_loss
            .map_or_else(|| "-".into(), |l| format!("{l:.4}"))
    }
}

/// Objects of eval.json that describe how the figures were computed (folds, seed, k), not
/// figures: left out of the listing.
const SETUP_OBJECTS: [&str; 1] = ["cv"];

/// Numeric leaves of a JSON object, one nesting level deep (`a.b`), prefixed with `prefix`;
/// deeper values (a paired metric's sds and per-fold values) and set-up objects are left out.
fn numeric_fields(prefix: &str, value: &Value, out: &mut Vec<(String, f64)>) {
    let Value::Object(map) = value else { return };
    for (key, v) in map {
        match v {
            Value::Number(n) => out.extend(n.as_f64().map(|x| (format!("{prefix}.{key}"), x))),
            Value::Object(_) if !prefix.contains('.') && !SETUP_OBJECTS.contains(&key.as_str()) => {
                numeric_fields(&format!("{prefix}.{key}"), v, out);
            }
            _ => {}
        }
    }
}

/// Each arm's mean macro-F1 of a transfer report's `arms` list, as `prefix.<arm>.macro_f1`.
fn arm_fields(prefix: &str, value: &Value, out: &mut Vec<(String, f64)>) {
    let arms = value
        .get("arms")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for arm in arms {
        let name = arm.get("arm").and_then(Value::as_str);
        let f1 = arm.pointer("/macro_f1/mean").and_then(Value::as_f64);
        if let (Some(name), Some(f1)) = (name, f1) {
            out.push((format!("{prefix}.{name}.macro_f1"), f1));
        }
    }
}

/// The catalogue entry of one run directory (`None` if it is not one: a sweep directory, which
/// also holds a config.toml, is not).
pub fn read_run(dir: &Path) -> Option<RunInfo> {
    let run_files = dir.join(METRICS_FILE).exists() || dir.join(CONFIG_FILE).exists();
    if !run_files || dir.join(crate::sweep::SPEC_FILE).exists() {
        return None;
    }
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let config = std::fs::read_to_string(dir.join(CONFIG_FILE))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok());
    let train = config.as_ref().and_then(|c| c.get("train"));
    let method = train
        .and_then(|t| t.get("method"))
        .and_then(|m| m.as_str())
        .map_or_else(
            || name.rsplit('-').next().unwrap_or("").to_string(),
            String::from,
        );
    let mut epochs = train
        .and_then(|t| t.get("epochs"))
        .and_then(|e| e.as_integer())
        .map_or(0, |e| e.max(0) as usize);
    let dataset = std::fs::read_to_string(dir.join(DATASET_FILE))
        .map(|d| {
            let d = d.trim();
            Path::new(d)
                .file_name()
                .map_or(d.to_string(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let events = read_events(dir);
    let last_start = events
        .iter()
        .rposition(|e| matches!(e, TrainEvent::Started { .. }))
        .unwrap_or(0);
    let mut val_curve = Vec::new();
    for event in &events {
        match event {
            TrainEvent::Started { epochs: e, .. } => epochs = *e,
            TrainEvent::EpochEnd {
                epoch, val_loss, ..
            } => {
                val_curve.truncate(*epoch);
                val_curve.push(*val_loss);
            }
            _ => {}
        }
    }
    let best_val_loss = val_curve
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .min_by(f32::total_cmp);
    let mut metrics = Vec::new();
    for (prefix, file) in METRIC_FILES {
        if let Some(v) = std::fs::read_to_string(dir.join(file))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            numeric_fields(prefix, &v, &mut metrics);
            arm_fields(prefix, &v, &mut metrics);
        }
    }
    Some(RunInfo {
        dir: dir.to_path_buf(),
        name,
        method,
        dataset,
        status: status_of(&events[last_start..], run_alive(dir)),
        epochs_done: val_curve.len(),
        epochs,
        best_val_loss,
        val_curve,
        metrics,
        summary: RunSummary::read(dir),
    })
}

/// The directories directly under `dir`; empty if it cannot be read.
pub fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

/// Every run directory directly under `out_dir`, newest (by name) first; empty if none.
pub fn scan_runs(out_dir: &Path) -> Vec<RunInfo> {
    let mut runs: Vec<RunInfo> = subdirectories(out_dir)
        .iter()
        .filter_map(|d| read_run(d))
        .collect();
    runs.sort_by(|a, b| b.name.cmp(&a.name));
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_run(out: &Path, name: &str, events: &[TrainEvent]) -> PathBuf {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(CONFIG_FILE),
            "[train]\nmethod = \"byol\"\nepochs = 4\n",
        )
        .unwrap();
        std::fs::write(dir.join(DATASET_FILE), "/data/pbmc.h5ad\n").unwrap();
        let lines: String = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        std::fs::write(dir.join(METRICS_FILE), lines).unwrap();
        dir
    }

    fn epoch(epoch: usize, val_loss: f32) -> TrainEvent {
        TrainEvent::EpochEnd {
            epoch,
            train_loss: 1.0,
            val_loss,
            lr: 1e-3,
            cells_per_sec: 1.0,
            elapsed_secs: 1.0,
            eta_secs: None,
        }
    }

    #[test]
    fn scan_reads_method_dataset_status_curve_and_metrics() {
        let out = tempfile::tempdir().unwrap();
        let done = TrainEvent::Finished {
            run_dir: "x".into(),
            best_val_loss: 0.5,
            epochs_done: 2,
            stopped: false,
        };
        let a = write_run(
            out.path(),
            "20260101-000000-byol",
            &[epoch(0, 0.7), epoch(1, 0.5), done],
        );
        std::fs::write(
            a.join("eval.json"),
            r#"{"asw": 0.25, "clustering": {"ari": 0.5, "deep": {"x": 1}}, "note": "text",
                "cv": {"folds": 5}, "knn_macro_f1": {"ssl": 0.75, "verdict": "better",
                "sd": {"ssl": 0.01}, "folds": {"ssl": [0.75]}}}"#,
        )
        .unwrap();
        std::fs::write(a.join("transfer.json"), "{ not json").unwrap();
        write_run(out.path(), "20260102-000000-byol", &[epoch(0, 0.9)]);
        std::fs::create_dir(out.path().join("not-a-run")).unwrap();
        let runs = scan_runs(out.path());
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].name, "20260102-000000-byol");
        // No pid and no final event: the process died.
        assert_eq!(runs[0].status, RunStatus::Died);
        let r = &runs[1];
        assert_eq!(
            (r.method.as_str(), r.dataset.as_str()),
            ("byol", "pbmc.h5ad")
        );
        assert_eq!(
            (r.status, r.epochs_done, r.epochs),
            (RunStatus::Finished, 2, 4)
        );
        assert_eq!(r.val_curve, [0.7, 0.5]);
        assert_eq!(r.best_val_loss, Some(0.5));
        assert_eq!(
            r.metrics,
            [
                ("eval.asw".to_string(), 0.25),
                ("eval.clustering.ari".to_string(), 0.5),
                ("eval.knn_macro_f1.ssl".to_string(), 0.75)
            ]
        );
        assert!(scan_runs(&out.path().join("missing")).is_empty());
    }

    #[test]
    fn the_summary_is_read_back_and_an_imported_run_says_so() {
        let out = tempfile::tempdir().unwrap();
        let dir = write_run(out.path(), "20260101-000000-byol", &[epoch(0, 0.7)]);
        assert_eq!(read_run(&dir).unwrap().summary, None);
        let summary = RunSummary {
            method: "byol".into(),
            epochs_done: 1,
            imported_from: Some("scvi.pt".into()),
            ..RunSummary::default()
        };
        let text = serde_json::to_string(&summary).unwrap();
        std::fs::write(dir.join(crate::train::rundir::SUMMARY_FILE), text).unwrap();
        let run = read_run(&dir).unwrap();
        assert_eq!(run.imported_from(), Some("scvi.pt"));
        assert_eq!(run.summary, Some(summary));
    }

    #[test]
    fn each_transfer_arms_macro_f1_is_a_figure() {
        let out = tempfile::tempdir().unwrap();
        let dir = write_run(out.path(), "20260101-000000-byol", &[epoch(0, 0.7)]);
        std::fs::write(
            dir.join("transfer.json"),
            r#"{"n_query": 60, "arms": [{"arm": "fine_tuned", "macro_f1": {"mean": 0.8, "sd": 0.1}},
                {"arm": "scratch", "macro_f1": {"mean": 0.7}}, {"arm": "odd"}]}"#,
        )
        .unwrap();
        let run = read_run(&dir).unwrap();
        assert_eq!(
            run.metrics,
            [
                ("transfer.n_query".to_string(), 60.0),
                ("transfer.fine_tuned.macro_f1".to_string(), 0.8),
                ("transfer.scratch.macro_f1".to_string(), 0.7)
            ]
        );
    }
}
