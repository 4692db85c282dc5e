//! What the Train pane shows: the settings form (prefilled from config) and the live state of a run,
//! folded in from `TrainEvent`s as they arrive (histories downsample on insert, never in draw).

use std::collections::VecDeque;
use std::path::PathBuf;

use crate::config::{Config, Epochs};
use crate::train::TrainEvent;

use crate::tui::train::history::LossHistory;

/// The pretext tasks a run can use, as `train.method` spells them.
pub const METHODS: [&str; 5] = ["masked", "gp", "gp-tf", "byol", "barlow"];

/// Points kept for the whole-run view and for the recent window.
const HISTORY_POINTS: usize = 512;
const RECENT_POINTS: usize = 300;
/// Log lines kept for the log box.
const LOG_LINES: usize = 50;
/// Steps before an ETA is shown (the first steps are slow: allocation, caches).
const WARMUP_STEPS: usize = 20;

/// One editable setting of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainField {
    Method,
    Epochs,
    BatchSize,
    Lr,
    WeightDecay,
    MaskRate,
}

impl TrainField {
    /// The fields in form order.
    pub const ALL: [TrainField; 6] = [
        TrainField::Method,
        TrainField::Epochs,
        TrainField::BatchSize,
        TrainField::Lr,
        TrainField::WeightDecay,
        TrainField::MaskRate,
    ];

    /// The label shown in the form.
    pub fn label(self) -> &'static str {
        match self {
            TrainField::Method => "method",
            TrainField::Epochs => "epochs",
            TrainField::BatchSize => "batch size",
            TrainField::Lr => "learning rate",
            TrainField::WeightDecay => "weight decay",
            TrainField::MaskRate => "mask rate",
        }
    }
}

/// The main hyper-parameters of a run, editable before it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainForm {
    pub method: String,
    pub epochs: Epochs,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub mask_rate: f64,
}

impl TrainForm {
    /// The form prefilled from the configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            method: config.train.method.clone(),
            epochs: config.train.epochs,
            batch_size: config.train.batch_size,
            lr: config.train.lr,
            weight_decay: config.train.weight_decay,
            mask_rate: config.masking.rate,
        }
    }

    /// The configuration with this form's values written over it.
    pub fn apply(&self, config: &Config) -> Config {
        let mut c = config.clone();
        c.train.method = self.method.clone();
        c.train.epochs = self.epochs;
        c.train.batch_size = self.batch_size;
        c.train.lr = self.lr;
        c.train.weight_decay = self.weight_decay;
        c.masking.rate = self.mask_rate;
        c
    }

    /// The value of a field as displayed and as offered for editing.
    pub fn value(&self, field: TrainField) -> String {
        match field {
            TrainField::Method => self.method.clone(),
            TrainField::Epochs => self.epochs.to_string(),
            TrainField::BatchSize => self.batch_size.to_string(),
            TrainField::Lr => format!("{:e}", self.lr),
            TrainField::WeightDecay => format!("{}", self.weight_decay),
            TrainField::MaskRate => format!("{:.2}", self.mask_rate),
        }
    }

    /// Steps a field up (`up`) or down: methods cycle, counts by one or doubling, rates by factors.
    pub fn adjust(&mut self, field: TrainField, up: bool) {
        match field {
            TrainField::Method => {
                let i = METHODS.iter().position(|m| *m == self.method).unwrap_or(0);
                let n = METHODS.len();
                self.method = METHODS[if up { (i + 1) % n } else { (i + n - 1) % n }].into();
            }
            // auto sits below 1: h from 1 gives auto, l from auto gives 1.
            TrainField::Epochs => {
                self.epochs = match (self.epochs, up) {
                    (Epochs::Auto, true) => Epochs::Fixed(1),
                    (Epochs::Auto, false) | (Epochs::Fixed(..=1), false) => Epochs::Auto,
                    (Epochs::Fixed(n), true) => Epochs::Fixed(n + 1),
                    (Epochs::Fixed(n), false) => Epochs::Fixed(n - 1),
                }
            }
            TrainField::BatchSize => {
                self.batch_size = if up {
                    self.batch_size * 2
                } else {
                    (self.batch_size / 2).max(1)
                }
            }
            TrainField::Lr => self.lr *= if up { 2.0 } else { 0.5 },
            TrainField::WeightDecay => self.weight_decay *= if up { 2.0 } else { 0.5 },
            TrainField::MaskRate => {
                let r = self.mask_rate + if up { 0.05 } else { -0.05 };
                self.mask_rate = (r * 100.0).round().clamp(0.0, 95.0) / 100.0;
            }
        }
    }

    /// Sets a field from typed text; the error says what is accepted.
    pub fn set(&mut self, field: TrainField, text: &str) -> Result<(), String> {
        let text = text.trim();
        let positive_int = |t: &str| t.parse::<usize>().ok().filter(|v| *v > 0);
        let rate = |t: &str| t.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0);
        match field {
            TrainField::Method if METHODS.contains(&text) => self.method = text.into(),
            TrainField::Epochs if text == "auto" => self.epochs = Epochs::Auto,
            TrainField::Epochs if positive_int(text).is_some() => {
                self.epochs = Epochs::Fixed(positive_int(text).unwrap_or(1))
            }
            TrainField::BatchSize if positive_int(text).is_some() => {
                self.batch_size = positive_int(text).unwrap_or(1)
            }
            TrainField::Lr if rate(text).is_some_and(|v| v > 0.0) => {
                self.lr = rate(text).unwrap_or(0.0)
            }
            TrainField::WeightDecay if rate(text).is_some() => {
                self.weight_decay = rate(text).unwrap_or(0.0)
            }
            TrainField::MaskRate if rate(text).is_some_and(|v| v < 1.0) => {
                self.mask_rate = rate(text).unwrap_or(0.0)
            }
            _ => {
                let want = match field {
                    TrainField::Method => "one of masked, gp, gp-tf, byol, barlow",
                    TrainField::Epochs => "a whole number above 0, or auto",
                    TrainField::BatchSize => "a whole number above 0",
                    TrainField::Lr => "a number above 0",
                    TrainField::WeightDecay => "a number, 0 or more",
                    TrainField::MaskRate => "a number from 0 to below 1",
                };
                return Err(format!("{}: {want}", field.label()));
            }
        }
        Ok(())
    }
}

/// Where a run is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum RunPhase {
    Idle,
    Starting,
    Running,
    Paused,
    Stopping,
    Finished { stopped: bool },
    Failed(String),
}

impl RunPhase {
    /// True while a worker is alive (quitting then asks first).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            RunPhase::Starting | RunPhase::Running | RunPhase::Paused | RunPhase::Stopping
        )
    }

    /// A one-word description for the status bar.
    pub fn word(&self) -> &'static str {
        match self {
            RunPhase::Idle => "idle",
            RunPhase::Starting => "starting",
            RunPhase::Running => "training",
            RunPhase::Paused => "paused",
            RunPhase::Stopping => "stopping",
            RunPhase::Finished { stopped: false } => "finished",
            RunPhase::Finished { stopped: true } => "stopped",
            RunPhase::Failed(_) => "failed",
        }
    }
}

/// The Train pane: the form, and everything known about the current run.
#[derive(Debug, Clone)]
pub struct TrainPaneState {
    pub form: TrainForm,
    pub field: usize,
    pub status: RunPhase,
    /// The run directory's name (not its full path).
    pub run_name: Option<String>,
    pub method: String,
    pub epochs: usize,
    /// Cells per optimiser step of the running budget.
    pub batch_size: usize,
    pub steps_per_epoch: usize,
    pub n_train: usize,
    pub n_val: usize,
    pub n_params: usize,
    pub epochs_done: usize,
    pub global_step: usize,
    step_at_epoch_start: usize,
    pub lr: f64,
    pub cells_per_sec: f64,
    pub eta_secs: Option<f64>,
    pub elapsed_secs: f64,
    pub train_loss: LossHistory,
    /// Validation loss per epoch, at the global step the epoch ended.
    pub val_loss: Vec<(f64, f64)>,
    pub last_train_epoch_loss: Option<f32>,
    pub best_val: Option<f32>,
    pub logs: VecDeque<String>,
    pub log_y: bool,
    pub smooth: bool,
    pub recent: bool,
    /// The run directory of a run followed in another process (commands go to its control file).
    pub attached: Option<PathBuf>,
}

impl TrainPaneState {
    /// An idle pane with the form prefilled from config.
    pub fn new(config: &Config) -> Self {
        Self {
            form: TrainForm::from_config(config),
            field: 0,
            status: RunPhase::Idle,
            run_name: None,
            method: String::new(),
            epochs: 0,
            batch_size: 0,
            steps_per_epoch: 0,
            n_train: 0,
            n_val: 0,
            n_params: 0,
            epochs_done: 0,
            global_step: 0,
            step_at_epoch_start: 0,
            lr: 0.0,
            cells_per_sec: 0.0,
            eta_secs: None,
            elapsed_secs: 0.0,
            train_loss: LossHistory::new(HISTORY_POINTS, RECENT_POINTS),
            val_loss: Vec::new(),
            last_train_epoch_loss: None,
            best_val: None,
            logs: VecDeque::with_capacity(LOG_LINES),
            log_y: false,
            smooth: false,
            recent: false,
            attached: None,
        }
    }

    /// Whether a run is training inside this UI's process (not one followed in its own process):
    /// quitting would end it.
    pub fn training_here(&self) -> bool {
        self.status.is_active() && self.attached.is_none()
    }

    /// The field under the cursor.
    pub fn current_field(&self) -> TrainField {
        TrainField::ALL[self.field.min(TrainField::ALL.len() - 1)]
    }

    /// Clears the previous run's figures before a new one starts (settings and toggles stay).
    pub fn reset_run(&mut self) {
        let keep = (
            self.form.clone(),
            self.field,
            self.log_y,
            self.smooth,
            self.recent,
        );
        let logs = std::mem::take(&mut self.logs);
        *self = Self {
            form: keep.0,
            field: keep.1,
            log_y: keep.2,
            smooth: keep.3,
            recent: keep.4,
            logs,
            ..Self::new(&Config::default())
        };
        self.status = RunPhase::Starting;
    }

    /// Appends a line to the log box, dropping the oldest.
    pub fn log(&mut self, line: impl Into<String>) {
        if self.logs.len() == LOG_LINES {
            self.logs.pop_front();
        }
        self.logs.push_back(line.into());
    }

    /// Steps within the current epoch.
    pub fn steps_in_epoch(&self) -> usize {
        self.global_step - self.step_at_epoch_start
    }

    /// Folds one worker event into the state.
    pub fn apply(&mut self, event: TrainEvent) {
        match event {
            TrainEvent::Started {
                run_dir,
                method,
                epochs,
                batch_size,
                steps_per_epoch,
                n_train,
                n_val,
                n_params,
            } => {
                let name = run_dir.file_name().map_or_else(
                    || run_dir.display().to_string(),
                    |n| n.to_string_lossy().into(),
                );
                self.log(format!(
                    "started {method} run {name}: {n_train} train / {n_val} val cells"
                ));
                self.run_name = Some(name);
                self.method = method;
                self.epochs = epochs;
                self.batch_size = batch_size;
                self.steps_per_epoch = steps_per_epoch;
                self.n_train = n_train;
                self.n_val = n_val;
                self.n_params = n_params;
                self.status = RunPhase::Running;
            }
            TrainEvent::Step {
                global_step,
                loss,
                lr,
                cells_per_sec,
                ..
            } => {
                self.global_step = global_step.max(self.global_step);
                self.lr = lr;
                self.cells_per_sec = cells_per_sec;
                self.train_loss.push(global_step as f64, f64::from(loss));
                self.update_eta();
            }
            TrainEvent::EpochEnd {
                epoch,
                train_loss,
                val_loss,
                lr,
                cells_per_sec,
                elapsed_secs,
                eta_secs,
            } => {
                self.epochs_done += 1;
                self.step_at_epoch_start = self.global_step;
                self.last_train_epoch_loss = Some(train_loss);
                if val_loss.is_finite() {
                    self.val_loss
                        .push((self.global_step as f64, f64::from(val_loss)));
                }
                self.lr = lr;
                self.cells_per_sec = cells_per_sec;
                self.elapsed_secs = elapsed_secs;
                if eta_secs.is_some() {
                    self.eta_secs = eta_secs;
                } else {
                    self.update_eta();
                }
                self.log(format!(
                    "epoch {epoch}: train {train_loss:.4}  val {val_loss:.4}  {cells_per_sec:.0} cells/s"
                ));
            }
            TrainEvent::CheckpointSaved {
                epoch,
                val_loss,
                best,
                ..
            } => {
                if best {
                    self.best_val = Some(val_loss);
                }
                let tag = if best { " (best)" } else { "" };
                self.log(format!(
                    "checkpoint at epoch {epoch}, val {val_loss:.4}{tag}"
                ));
            }
            TrainEvent::Snapshot {
                epoch,
                knn_macro_f1,
                ..
            } => self.log(match knn_macro_f1 {
                Some(f1) => format!("latent snapshot after epoch {epoch}: kNN macro-F1 {f1:.3}"),
                None => format!("latent snapshot after epoch {epoch}"),
            }),
            TrainEvent::Log(line) => self.log(line),
            TrainEvent::Paused => {
                self.status = RunPhase::Paused;
                self.log("paused");
            }
            TrainEvent::Resumed => {
                self.status = RunPhase::Running;
                self.log("resumed");
            }
            TrainEvent::Finished {
                best_val_loss,
                epochs_done,
                stopped,
                ..
            } => {
                self.status = RunPhase::Finished { stopped };
                self.eta_secs = None;
                if best_val_loss.is_finite() {
                    self.best_val = Some(best_val_loss);
                }
                let how = if stopped { "stopped" } else { "finished" };
                self.log(format!(
                    "{how} after {epochs_done} epochs, best val {best_val_loss:.4}"
                ));
            }
            TrainEvent::Failed { message } => {
                self.log(format!("failed: {message}"));
                self.status = RunPhase::Failed(message);
                self.eta_secs = None;
            }
        }
    }

    /// Optimiser steps of the whole run (its budget), 0 before it starts.
    pub fn total_steps(&self) -> usize {
        self.epochs * self.steps_per_epoch
    }

    /// ETA from the step rate, once past the warm-up steps.
    fn update_eta(&mut self) {
        let total = self.total_steps();
        if self.global_step < WARMUP_STEPS.min(total.max(1)) || self.cells_per_sec <= 0.0 {
            return;
        }
        let cells_per_step = match self.batch_size {
            0 => self.n_train as f64 / self.steps_per_epoch.max(1) as f64,
            b => b as f64,
        };
        let remaining = total.saturating_sub(self.global_step) as f64 * cells_per_step;
        self.eta_secs = Some(remaining / self.cells_per_sec);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A scripted run: start, `epochs` epochs of `steps` steps with a decaying loss, checkpoints.
    pub fn scripted_run(epochs: usize, steps: usize) -> Vec<TrainEvent> {
        let mut events = vec![TrainEvent::Started {
            run_dir: PathBuf::from("/tmp/runs/masked-0001"),
            method: "masked".into(),
            epochs: 10,
            batch_size: 256,
            steps_per_epoch: steps,
            n_train: steps * 256,
            n_val: 1000,
            n_params: 2_350_000,
        }];
        for epoch in 0..epochs {
            for step in 0..steps {
                let g = epoch * steps + step + 1;
                let wiggle = ((g * 7919) % 13) as f32 / 130.0;
                events.push(TrainEvent::Step {
                    epoch,
                    step,
                    global_step: g,
                    loss: 1.0 / (1.0 + g as f32 / 20.0) + 0.2 + wiggle,
                    lr: 1e-3,
                    cells_per_sec: 2500.0,
                });
            }
            let g = (epoch + 1) * steps;
            events.push(TrainEvent::EpochEnd {
                epoch,
                train_loss: 1.0 / (1.0 + g as f32 / 20.0) + 0.25,
                val_loss: 1.0 / (1.0 + g as f32 / 25.0) + 0.27,
                lr: 1e-3 * 0.9f64.powi(epoch as i32),
                cells_per_sec: 2500.0,
                elapsed_secs: 12.0 * (epoch + 1) as f64,
                eta_secs: None,
            });
            events.push(TrainEvent::CheckpointSaved {
                path: PathBuf::from("/tmp/runs/masked-0001/best.safetensors"),
                epoch,
                val_loss: 1.0 / (1.0 + g as f32 / 25.0) + 0.27,
                best: true,
            });
        }
        events
    }

    #[test]
    fn scripted_events_fill_gauges_histories_and_eta() {
        let mut t = TrainPaneState::new(&Config::default());
        for e in scripted_run(3, 40) {
            t.apply(e);
        }
        assert_eq!(t.status, RunPhase::Running);
        assert_eq!(t.run_name.as_deref(), Some("masked-0001"));
        assert_eq!(t.epochs_done, 3);
        assert_eq!(t.global_step, 120);
        assert_eq!(t.steps_in_epoch(), 0);
        assert_eq!(t.train_loss.len(), 120);
        assert_eq!(t.val_loss.len(), 3);
        // 7 epochs x 40 steps x 256 cells left at 2500 cells/s.
        let eta = t.eta_secs.unwrap();
        assert!((eta - 7.0 * 40.0 * 256.0 / 2500.0).abs() < 1e-6, "{eta}");
        assert!(t.best_val.is_some());
    }

    #[test]
    fn no_eta_during_warm_up() {
        let mut t = TrainPaneState::new(&Config::default());
        for e in scripted_run(1, 40).into_iter().take(10) {
            t.apply(e);
        }
        assert_eq!(t.eta_secs, None);
    }

    #[test]
    fn finish_pause_and_failure_update_the_status() {
        let mut t = TrainPaneState::new(&Config::default());
        t.apply(TrainEvent::Paused);
        assert_eq!(t.status, RunPhase::Paused);
        t.apply(TrainEvent::Failed {
            message: "worker panicked: boom".into(),
        });
        assert!(!t.status.is_active());
        assert!(t.logs.back().unwrap().contains("boom"));
    }

    #[test]
    fn form_edits_validate_and_apply_to_config() {
        let c = Config::default();
        let mut f = TrainForm::from_config(&c);
        assert_eq!(f.epochs, c.train.epochs);
        assert!(f.set(TrainField::Epochs, "0").is_err());
        f.set(TrainField::Epochs, "3").unwrap();
        f.set(TrainField::Lr, "5e-4").unwrap();
        assert!(f.set(TrainField::Method, "vae").is_err());
        f.adjust(TrainField::Method, false);
        assert_eq!(f.method, "barlow");
        f.adjust(TrainField::MaskRate, true);
        assert_eq!(f.mask_rate, 0.55);
        let applied = f.apply(&c);
        assert_eq!(
            (applied.train.epochs, applied.train.lr),
            (Epochs::Fixed(3), 5e-4)
        );
        f.adjust(TrainField::Epochs, false);
        f.adjust(TrainField::Epochs, false);
        f.adjust(TrainField::Epochs, false);
        assert_eq!(f.epochs, Epochs::Auto, "below 1 is auto");
        f.adjust(TrainField::Epochs, true);
        assert_eq!(f.epochs, Epochs::Fixed(1));
        f.set(TrainField::Epochs, "auto").unwrap();
        assert_eq!(f.epochs, Epochs::Auto);
        assert_eq!(applied.train.method, "barlow");
        assert_eq!(applied.masking.rate, 0.55);
    }
}
