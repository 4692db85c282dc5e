//! Run directories `runs/<YYYYmmdd-HHMMSS>-<method>/`: the exact config, gene order, dataset path,
//! an append-only metrics.jsonl, checkpoints and a final summary; and loading a finished run.

use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::model::params::ParamStore;
use crate::model::{Classifier, Encoder};
use crate::train::checkpoint::{TensorMap, read_checkpoint, write_atomic};
use crate::train::run_summary::RunSummary;
use crate::train::writer_lock::WriterLock;
use crate::train::{TrainError, TrainEvent};

/// Files of a run directory.
pub const CONFIG_FILE: &str = "config.toml";
pub const GENES_FILE: &str = "genes.txt";
pub const DATASET_FILE: &str = "dataset.txt";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const SUMMARY_FILE: &str = "summary.json";
/// Written by `cellscope eval` and `cellscope transfer`; read by the run catalogue.
pub const EVAL_FILE: &str = "eval.json";
pub const TRANSFER_FILE: &str = "transfer.json";
pub const LAST_CHECKPOINT: &str = "last.safetensors";
pub const BEST_CHECKPOINT: &str = "best.safetensors";
/// The id of the process training the run.
pub const PID_FILE: &str = "pid";
/// One word (`stop`, `pause`, `resume`) a detached run's driver polls.
pub const CONTROL_FILE: &str = "control";
/// Standard output and error of a detached run.
pub const LOG_FILE: &str = "train.log";

/// An open run directory with its metrics log, owned by this writer while it is open.
#[derive(Debug)]
pub struct RunDir {
    pub path: PathBuf,
    metrics: File,
    _lock: WriterLock,
}

fn io(path: &Path, what: &str, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io(format!("{}: {what}: {e}", path.display()))
}

/// Local time as `YYYYmmdd-HHMMSS`.
fn timestamp() -> String {
    // SAFETY: time() and localtime_r() only write into the struct we own.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

impl RunDir {
    /// Creates `out_dir/<time>-<method>/` and writes the config, gene order and dataset path.
    pub fn create(
        out_dir: &Path,
        method: &str,
        config: &Config,
        genes: &[String],
        dataset: &Path,
    ) -> Result<Self, TrainError> {
        let path = Self::reserve(out_dir, method)?;
        Self::init(&path, config, genes, dataset)
    }

    /// Creates the empty directory `out_dir/<time>-<method>/` (a fresh name) and returns its path.
    pub fn reserve(out_dir: &Path, method: &str) -> Result<PathBuf, TrainError> {
        std::fs::create_dir_all(out_dir).map_err(|e| io(out_dir, "cannot create", e))?;
        let stem = format!("{}-{method}", timestamp());
        let mut path = out_dir.join(&stem);
        for k in 2.. {
            match std::fs::create_dir(&path) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    path = out_dir.join(format!("{stem}-{k}"));
                }
                Err(e) => return Err(io(&path, "cannot create run directory", e)),
            }
        }
        Ok(path)
    }

    /// Starts a new run in an existing (reserved) directory: config, gene order, dataset path, pid.
    pub fn init(
        path: &Path,
        config: &Config,
        genes: &[String],
        dataset: &Path,
    ) -> Result<Self, TrainError> {
        let path = path.to_path_buf();
        let dataset = std::path::absolute(dataset).unwrap_or_else(|_| dataset.to_path_buf());
        let run = Self::open(&path)?;
        run.write_config(config)?;
        run.write_pid()?;
        write_atomic(&path.join(GENES_FILE), (genes.join("\n") + "\n").as_bytes())?;
        write_atomic(
            &path.join(DATASET_FILE),
            format!("{}\n", dataset.display()).as_bytes(),
        )?;
        Ok(run)
    }

    /// Takes the run's writer lock and opens it for appending metrics; a torn last line (the
    /// process was killed mid-write) is cut off first so new lines do not glue onto it.
    pub fn open(path: &Path) -> Result<Self, TrainError> {
        let lock = WriterLock::acquire(path)?;
        drop_torn_tail(&path.join(METRICS_FILE))
            .map_err(|e| io(path, "cannot repair metrics.jsonl", e))?;
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path.join(METRICS_FILE))
            .map_err(|e| io(path, "cannot open metrics.jsonl", e))?;
        Ok(Self {
            path: path.to_path_buf(),
            metrics,
            _lock: lock,
        })
    }

    /// Records this process as the one training the run (`pid`), for status and `cellscope stop`.
    pub fn write_pid(&self) -> Result<(), TrainError> {
        write_atomic(
            &self.path.join(PID_FILE),
            format!("{}\n", std::process::id()).as_bytes(),
        )
    }

    /// Writes the exact configuration used.
    pub fn write_config(&self, config: &Config) -> Result<(), TrainError> {
        write_config(&self.path, config).map(drop)
    }

    /// Appends one JSON object as a line of metrics.jsonl and flushes it.
    pub fn log(&mut self, value: &Value) -> Result<(), TrainError> {
        writeln!(self.metrics, "{value}")
            .and_then(|()| self.metrics.flush())
            .map_err(|e| io(&self.path.join(METRICS_FILE), "cannot append", e))
    }

    /// Appends a training event to metrics.jsonl (every kind is kept, so a follower sees what
    /// the driver saw).
    pub fn log_event(&mut self, event: &TrainEvent) -> Result<(), TrainError> {
        let value = serde_json::to_value(event)
            .map_err(|e| io(&self.path.join(METRICS_FILE), "cannot encode an event", e))?;
        self.log(&value)
    }

    /// Writes summary.json (atomically).
    pub fn write_summary(&self, summary: &RunSummary) -> Result<(), TrainError> {
        let text = serde_json::to_string_pretty(summary).unwrap_or_default();
        write_atomic(&self.path.join(SUMMARY_FILE), text.as_bytes())
    }

    /// Path of a file in the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Truncates `file` after its last newline (no-op when missing or already complete).
fn drop_torn_tail(file: &Path) -> std::io::Result<()> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    OpenOptions::new()
        .write(true)
        .open(file)?
        .set_len(keep as u64)
}

/// Writes `config` as `run_dir/config.toml` (atomically) and returns that path.
pub fn write_config(run_dir: &Path, config: &Config) -> Result<PathBuf, TrainError> {
    let text = toml::to_string(config).map_err(|e| io(run_dir, "cannot encode config", e))?;
    let path = run_dir.join(CONFIG_FILE);
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Reads metrics.jsonl of a run: every complete line, ignoring a torn last line.
pub fn read_metrics(run_dir: &Path) -> Result<Vec<Value>, TrainError> {
    let path = run_dir.join(METRICS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| io(&path, "cannot read", e))?;
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| io(&path, &format!("bad line {}", i + 1), e))
        })
        .collect()
}

/// Parses one line of metrics.jsonl into an event; `None` for lines that are not events
/// (hand-written notes, a torn last line, an unknown kind).
pub fn parse_event_line(line: &str) -> Option<TrainEvent> {
    serde_json::from_str(line).ok()
}

/// A trained run, loaded for embedding, evaluation or fine-tuning.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub dir: PathBuf,
    /// The exact configuration the run used.
    pub config: Config,
    /// The model's gene order (map new data onto it; missing genes are zero-filled).
    pub genes: Vec<String>,
    /// The dataset it was trained on.
    pub dataset_path: PathBuf,
    /// The pretrained encoder (best-validation checkpoint, else the last one).
    pub encoder: Encoder,
    /// The encoder's weights by name (`encoder.<layer>.weight|bias`).
    pub encoder_weights: TensorMap,
}

/// A run directory's exact config, dataset path and gene order (no model needed).
pub fn load_run_config(run_dir: &Path) -> anyhow::Result<(Config, PathBuf, Vec<String>)> {
    let read = |name: &str| {
        std::fs::read_to_string(run_dir.join(name))
            .map_err(|_| TrainError::NotARun(format!("{} (no {name})", run_dir.display())))
    };
    let config = Config::from_toml(&read(CONFIG_FILE)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", run_dir.join(CONFIG_FILE).display()))?;
    let genes: Vec<String> = read(GENES_FILE)?.lines().map(String::from).collect();
    let dataset_path = PathBuf::from(read(DATASET_FILE)?.trim());
    Ok((config, dataset_path, genes))
}

/// Loads a run directory's config, genes, dataset path and encoder.
pub fn load_run(run_dir: &Path) -> anyhow::Result<LoadedRun> {
    let (config, dataset_path, genes) = load_run_config(run_dir)?;
    let ckpt = [BEST_CHECKPOINT, LAST_CHECKPOINT]
        .iter()
        .map(|n| run_dir.join(n))
        .find(|p| p.exists())
        .ok_or_else(|| TrainError::NotARun(format!("{} (no checkpoint yet)", run_dir.display())))?;
    let tensors = read_checkpoint(&ckpt)?.tensors;
    let encoder_weights: TensorMap = tensors
        .into_iter()
        .filter(|(k, _)| k.starts_with("encoder."))
        .collect();
    let mut store = ParamStore::new();
    let mut init = crate::train::path::model_init(&config.model, 0)?;
    let encoder = Encoder::new(&config.model, genes.len(), &mut store, &mut init)?;
    store.import(&encoder_weights, "")?;
    Ok(LoadedRun {
        dir: run_dir.to_path_buf(),
        config,
        genes,
        dataset_path,
        encoder,
        encoder_weights,
    })
}

impl LoadedRun {
    /// A classifier (encoder + Linear(latent, n_classes)) whose encoder starts from this run's
    /// weights; the head is initialised from `seed`. It lives where `model.device` and
    /// `model.path` put training.
    pub fn classifier(&self, n_classes: usize, seed: u64) -> anyhow::Result<Classifier> {
        let init = crate::train::path::model_init(&self.config.model, seed)?;
        let c = Classifier::build(&self.config.model, self.genes.len(), n_classes, init)?;
        c.params.import_subset(&self.encoder_weights, "encoder.")?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event of every kind, with values that survive f32/f64 JSON round trips.
    fn every_event() -> Vec<TrainEvent> {
        vec![
            TrainEvent::Started {
                run_dir: "runs/a-masked".into(),
                method: "masked".into(),
                epochs: 3,
                batch_size: 128,
                steps_per_epoch: 7,
                n_train: 900,
                n_val: 100,
                n_params: 12345,
            },
            TrainEvent::Step {
                epoch: 1,
                step: 2,
                global_step: 9,
                loss: 0.123_456_79,
                lr: 1.5e-3,
                cells_per_sec: 5432.25,
            },
            TrainEvent::EpochEnd {
                epoch: 1,
                train_loss: 0.4,
                val_loss: 0.375,
                lr: 9e-4,
                cells_per_sec: 1e4,
                elapsed_secs: 3.5,
                eta_secs: Some(7.25),
            },
            TrainEvent::EpochEnd {
                epoch: 2,
                train_loss: 0.3,
                val_loss: 0.25,
                lr: 1e-4,
                cells_per_sec: 1e4,
                elapsed_secs: 5.0,
                eta_secs: None,
            },
            TrainEvent::CheckpointSaved {
                path: "runs/a-masked/best.safetensors".into(),
                epoch: 1,
                val_loss: 0.375,
                best: true,
            },
            TrainEvent::Log("validation baseline: 0.5".into()),
            TrainEvent::Paused,
            TrainEvent::Resumed,
            TrainEvent::Finished {
                run_dir: "runs/a-masked".into(),
                best_val_loss: 0.25,
                epochs_done: 3,
                stopped: true,
            },
            TrainEvent::Failed {
                message: "loss became NaN".into(),
            },
        ]
    }

    #[test]
    fn every_event_kind_round_trips_through_a_metrics_line() {
        for event in every_event() {
            let line = serde_json::to_string(&event).unwrap();
            assert_eq!(parse_event_line(&line), Some(event), "{line}");
        }
    }

    #[test]
    fn metrics_lines_keep_their_documented_field_names() {
        let line = r#"{"event":"epoch","epoch":3,"train_loss":0.5,"val_loss":null,"lr":0.001,"cells_per_sec":10.0,"elapsed_secs":1.5,"eta_secs":null}"#;
        match parse_event_line(line) {
            Some(TrainEvent::EpochEnd {
                epoch: 3,
                val_loss,
                eta_secs: None,
                ..
            }) => assert!(val_loss.is_nan()),
            other => panic!("{other:?}"),
        }
        let log = TrainEvent::Log("hello".into());
        assert_eq!(
            serde_json::to_string(&log).unwrap(),
            r#"{"event":"log","message":"hello"}"#
        );
        let checkpoint = serde_json::to_value(&every_event()[4]).unwrap();
        assert_eq!(checkpoint["event"], "checkpoint", "{checkpoint}");
    }

    #[test]
    fn non_events_and_nan_losses_parse_leniently() {
        assert_eq!(parse_event_line("{\"event\": \"nonsense\"}"), None);
        assert_eq!(parse_event_line("{\"event\": \"step\", \"epo"), None);
        assert_eq!(parse_event_line("not json"), None);
        let nan = TrainEvent::Finished {
            run_dir: "r".into(),
            best_val_loss: f32::NAN,
            epochs_done: 0,
            stopped: true,
        };
        let line = serde_json::to_string(&nan).unwrap();
        match parse_event_line(&line) {
            Some(TrainEvent::Finished { best_val_loss, .. }) => assert!(best_val_loss.is_nan()),
            other => panic!("{other:?} from {line}"),
        }
    }

    #[test]
    fn an_open_run_directory_refuses_a_second_writer_until_it_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunDir::open(dir.path()).unwrap();
        let err = RunDir::open(dir.path()).unwrap_err();
        assert!(matches!(err, TrainError::Busy(_)), "{err}");
        assert!(err.to_string().contains("is being written by pid"), "{err}");
        // Readers need no lock.
        assert!(read_metrics(dir.path()).unwrap().is_empty());
        drop(first);
        RunDir::open(dir.path()).unwrap();
    }

    #[test]
    fn a_torn_last_metrics_line_is_ignored_and_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(METRICS_FILE);
        std::fs::write(&file, "{\"epoch\":1}\n{\"epo").unwrap();
        assert_eq!(read_metrics(dir.path()).unwrap().len(), 1);
        let mut run = RunDir::open(dir.path()).unwrap();
        run.log(&serde_json::json!({"epoch": 2})).unwrap();
        let back = read_metrics(dir.path()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1]["epoch"], 2);
    }
}
