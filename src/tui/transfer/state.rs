//! What the Transfer pane shows: the run it works on, the request form (target, label column
//! from the target's obs, label map, seeds), live progress folded in from typed messages, and
//! the finished (or previously saved) transfer report with the arm chosen for the heatmap.

use std::path::{Path, PathBuf};

use crate::analysis::transfer::{GeneOverlap, TransferProgress, TransferReport, TransferRequest};
use crate::config::Config;

/// Preferred label columns, best first (then the first column with categories).
const LABEL_PREFERENCE: [&str; 4] = ["cell_type", "celltype", "labels", "label"];
/// Most seeds the form accepts.
pub const MAX_SEEDS: usize = 10;

/// What the background work reports to the Transfer pane.
#[derive(Debug, Clone)]
pub enum TransferMsg {
    /// The label-like obs columns of a target file (or why they could not be read).
    Columns {
        path: PathBuf,
        result: Result<Vec<String>, String>,
    },
    /// The transfer.json already saved in a run directory (None when there is none).
    Saved {
        run: PathBuf,
        report: Option<Box<TransferReport>>,
    },
    /// A step of the running transfer.
    Progress(TransferProgress),
    /// The transfer ended: its report (also written to transfer.json) or the error.
    Finished(Result<Box<TransferReport>, String>),
}

/// One field of the request form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferField {
    Target,
    Label,
    LabelMap,
    Seeds,
}

impl TransferField {
    /// The fields in form order.
    pub const ALL: [TransferField; 4] = [
        TransferField::Target,
        TransferField::Label,
        TransferField::LabelMap,
        TransferField::Seeds,
    ];

    /// The label shown in the form.
    pub fn label(self) -> &'static str {
        match self {
            TransferField::Target => "target",
            TransferField::Label => "label column",
            TransferField::LabelMap => "label map",
            TransferField::Seeds => "seeds",
        }
    }
}

/// Where the pane is.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferStatus {
    Idle,
    Running,
    Done,
    Failed(String),
}

/// The target's label columns as far as they are known.
#[derive(Debug, Clone, PartialEq)]
pub enum Columns {
    Unknown,
    Loading,
    Loaded(Vec<String>),
    Failed(String),
}

/// Live progress of a running transfer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// The last step, as the command line prints it.
    pub line: String,
    pub arm: String,
    pub seed: usize,
    pub n_seeds: usize,
    pub epoch: usize,
    pub epochs: usize,
    /// Validation loss of the last epoch (NaN when none).
    pub val_loss: f64,
    /// Trained arms started so far (over all seeds).
    pub arms_started: usize,
    /// Fraction of the whole transfer done (0..=1).
    pub fraction: f64,
}

impl Progress {
    /// The last validation loss as text ("val loss 0.8123" or "no validation cells").
    pub fn line_loss(&self) -> String {
        if self.val_loss.is_finite() {
            format!("val loss {:.4}", self.val_loss)
        } else {
            "no validation cells".into()
        }
    }
}

/// The Transfer pane's state.
#[derive(Debug, Clone)]
pub struct TransferState {
    /// The pretrained run the pane works on.
    pub run: Option<PathBuf>,
    pub target: String,
    pub columns: Columns,
    /// The chosen label column (one of the loaded columns).
    pub label: Option<String>,
    /// Label map CSV ("" = none).
    pub label_map: String,
    pub seeds: usize,
    /// Selected form field.
    pub field: usize,
    pub status: TransferStatus,
    pub progress: Progress,
    pub genes: Option<GeneOverlap>,
    pub report: Option<TransferReport>,
    /// Arm whose confusion matrix is shown (index into the report's arms).
    pub arm: usize,
    /// Trained arms per seed (fine-tuned, scratch, and the probe when configured).
    trained_arms: usize,
    /// Target and label map offered when the run has no saved transfer (the bundled pbmc68k
    /// set in the app).
    default_target: (String, String),
    /// Whether the user typed the target or label map (then no suggestion replaces them).
    typed: bool,
}

impl TransferState {
    /// An idle pane with seeds from config and `target` as the suggested target.
    pub fn new(config: &Config, target: &Path) -> Self {
        Self {
            run: None,
            target: target.display().to_string(),
            columns: Columns::Unknown,
            label: None,
            label_map: String::new(),
            seeds: config.transfer.seeds.clamp(1, MAX_SEEDS),
            field: 0,
            status: TransferStatus::Idle,
            progress: Progress::default(),
            genes: None,
            report: None,
            arm: 0,
            trained_arms: 2 + usize::from(config.transfer.linear_probe),
            default_target: (target.display().to_string(), String::new()),
            typed: false,
        }
    }

    /// Offers `target` and `label_map` whenever the run has no saved transfer of its own, and
    /// now unless the user typed a target; true when the target changed.
    pub fn suggest(&mut self, target: &Path, label_map: Option<&Path>) -> bool {
        let map = label_map
            .map(|m| m.display().to_string())
            .unwrap_or_default();
        self.default_target = (target.display().to_string(), map);
        self.offer(self.default_target.clone())
    }

    /// Puts a suggested target and label map in the form unless the user typed their own;
    /// true when the target changed (its columns must be read).
    fn offer(&mut self, (target, label_map): (String, String)) -> bool {
        if self.typed {
            return false;
        }
        self.label_map = label_map;
        let changed = target != self.target;
        if changed {
            self.target = target;
            self.columns = Columns::Unknown;
            self.label = None;
        }
        changed
    }

    /// The field under the cursor.
    pub fn current_field(&self) -> TransferField {
        TransferField::ALL[self.field % TransferField::ALL.len()]
    }

    /// Moves the form cursor by `by`, wrapping.
    pub fn move_field(&mut self, by: isize) {
        let n = TransferField::ALL.len() as isize;
        self.field = (self.field as isize + by).rem_euclid(n) as usize;
    }

    /// A field's value as shown in the form and offered for editing.
    pub fn value(&self, field: TransferField) -> String {
        match field {
            TransferField::Target => self.target.clone(),
            TransferField::Label => self.label.clone().unwrap_or_default(),
            TransferField::LabelMap => self.label_map.clone(),
            TransferField::Seeds => self.seeds.to_string(),
        }
    }

    /// Sets a typed value; returns whether the target changed (its columns must be reloaded).
    pub fn set(&mut self, field: TransferField, text: &str) -> Result<bool, String> {
        let text = text.trim();
        match field {
            TransferField::Target => {
                if text.is_empty() {
                    return Err("the target needs a file path".into());
                }
                self.typed = true;
                let changed = text != self.target;
                self.target = text.to_string();
                if changed {
                    self.columns = Columns::Unknown;
                    self.label = None;
                }
                Ok(changed)
            }
            TransferField::Label => Err("choose the label column with h / l".into()),
            TransferField::LabelMap => {
                self.typed = true;
                self.label_map = text.to_string();
                Ok(false)
            }
            TransferField::Seeds => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_SEEDS).contains(&n) => {
                    self.seeds = n;
                    Ok(false)
                }
                _ => Err(format!("seeds: a whole number from 1 to {MAX_SEEDS}")),
            },
        }
    }

    /// Steps a field: the label column cycles through the target's columns, seeds go up or down.
    pub fn adjust(&mut self, field: TransferField, up: bool) {
        match field {
            TransferField::Label => {
                let Columns::Loaded(cols) = &self.columns else {
                    return;
                };
                if cols.is_empty() {
                    return;
                }
                let at = self
                    .label
                    .as_ref()
                    .and_then(|l| cols.iter().position(|c| c == l));
                let n = cols.len();
                let next = match (at, up) {
                    (None, _) => 0,
                    (Some(i), true) => (i + 1) % n,
                    (Some(i), false) => (i + n - 1) % n,
                };
                self.label = Some(cols[next].clone());
            }
            TransferField::Seeds => {
                self.seeds = if up {
                    (self.seeds + 1).min(MAX_SEEDS)
                } else {
                    self.seeds.saturating_sub(1).max(1)
                };
            }
            TransferField::Target | TransferField::LabelMap => {}
        }
    }

    /// Points the pane at `run`; true when it changed (its saved report must be looked up).
    pub fn set_run(&mut self, run: Option<PathBuf>) -> bool {
        if run == self.run {
            return false;
        }
        self.run = run;
        if self.status != TransferStatus::Running {
            self.report = None;
            self.genes = None;
            self.status = TransferStatus::Idle;
        }
        true
    }

    /// The request to start, or why it cannot start yet.
    pub fn request(&self) -> Result<TransferRequest, String> {
        if self.status == TransferStatus::Running {
            return Err("a transfer is already running".into());
        }
        if self.run.is_none() {
            return Err("no run: train one in the Train tab or select one in Runs".into());
        }
        let label = match (&self.columns, &self.label) {
            (_, Some(label)) => label.clone(),
            (Columns::Loading | Columns::Unknown, None) => {
                return Err("the target's columns are still loading".into());
            }
            (Columns::Failed(e), None) => return Err(format!("target: {e}")),
            (Columns::Loaded(_), None) => {
                return Err("the target has no label column to choose".into());
            }
        };
        Ok(TransferRequest {
            target: PathBuf::from(&self.target),
            label,
            label_map: (!self.label_map.is_empty()).then(|| PathBuf::from(&self.label_map)),
            seeds: Some(self.seeds),
        })
    }

    /// Marks a transfer as started.
    pub fn start(&mut self) {
        self.status = TransferStatus::Running;
        self.progress = Progress {
            line: "preparing the target".into(),
            n_seeds: self.seeds,
            ..Progress::default()
        };
        self.genes = None;
    }

    /// The arm selected for the confusion matrix.
    pub fn selected_arm(&self) -> Option<&crate::analysis::transfer::ArmResult> {
        let arms = &self.report.as_ref()?.arms;
        arms.get(self.arm.min(arms.len().saturating_sub(1)))
    }

    /// Selects the next arm for the confusion matrix.
    pub fn next_arm(&mut self) {
        let n = self.report.as_ref().map_or(0, |r| r.arms.len());
        if n > 0 {
            self.arm = (self.arm + 1) % n;
        }
    }

    /// Folds in a message from the background work; true when it changed the target (a run's
    /// saved transfer suggests the target it used), whose label columns must then be read.
    pub fn apply(&mut self, msg: TransferMsg) -> bool {
        match msg {
            TransferMsg::Columns { path, result } => {
                if path != Path::new(&self.target) {
                    return false; // an answer for a target since replaced
                }
                self.columns = match result {
                    Ok(cols) => {
                        self.label = self
                            .label
                            .take()
                            .filter(|l| cols.contains(l))
                            .or_else(|| default_label(&cols));
                        Columns::Loaded(cols)
                    }
                    Err(e) => Columns::Failed(e),
                };
            }
            TransferMsg::Saved { run, report } => {
                if Some(&run) != self.run.as_ref() || self.status == TransferStatus::Running {
                    return false;
                }
                let used = match &report {
                    Some(r) => (r.target.clone(), r.label_map.clone().unwrap_or_default()),
                    None => self.default_target.clone(),
                };
                let changed = self.offer(used);
                if let Some(report) = report {
                    self.show(*report);
                }
                return changed;
            }
            TransferMsg::Progress(step) => self.step(step),
            TransferMsg::Finished(Ok(report)) => {
                self.status = TransferStatus::Done;
                self.progress.fraction = 1.0;
                self.show(*report);
            }
            TransferMsg::Finished(Err(e)) => self.status = TransferStatus::Failed(e),
        }
        false
    }

    fn show(&mut self, report: TransferReport) {
        self.genes = Some(report.genes.clone());
        self.arm = report
            .arms
            .iter()
            .position(|a| a.arm == report.best_arm)
            .unwrap_or(0);
        self.report = Some(report);
        if self.status != TransferStatus::Running {
            self.status = TransferStatus::Done;
        }
    }

    fn step(&mut self, step: TransferProgress) {
        let p = &mut self.progress;
        p.line = step.to_string();
        match step {
            TransferProgress::Genes(g) => self.genes = Some(g),
            TransferProgress::Unmapped(_) | TransferProgress::ZeroShot => {}
            TransferProgress::Arm { arm, seed, n_seeds } => {
                p.arm = arm;
                p.seed = seed;
                p.n_seeds = n_seeds;
                p.epoch = 0;
                p.val_loss = f64::NAN;
                p.arms_started += 1;
            }
            TransferProgress::Epoch {
                epoch,
                epochs,
                val_loss,
                ..
            } => {
                p.epoch = epoch;
                p.epochs = epochs;
                p.val_loss = val_loss;
            }
        }
        let total = (self.trained_arms * p.n_seeds.max(1)) as f64;
        let within = if p.epochs > 0 {
            p.epoch as f64 / p.epochs as f64
        } else {
            0.0
        };
        p.fraction = ((p.arms_started.saturating_sub(1) as f64 + within) / total).clamp(0.0, 1.0);
    }
}

/// The label column to preselect: a conventional name, else the first column.
fn default_label(cols: &[String]) -> Option<String> {
    LABEL_PREFERENCE
        .iter()
        .find_map(|want| cols.iter().find(|c| c.as_str() == *want))
        .or_else(|| cols.first())
        .cloned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::transfer::{ArmResult, SeedResult};

    /// A finished transfer with fixed numbers: six coarse classes, three arms over three seeds.
    pub fn scripted_report() -> TransferReport {
        let classes: Vec<String> = ["B", "DC", "NK", "T_CD4", "T_CD8", "myeloid"]
            .map(String::from)
            .to_vec();
        let truth: Vec<usize> = (0..60).map(|i| i % 6).collect();
        // Each arm confuses a different share of cells (fixed, so the screens are stable).
        let arm = |name: &str, wrong_every: usize| {
            let seeds = (0..3)
                .map(|s| {
                    let pred: Vec<usize> = truth
                        .iter()
                        .enumerate()
                        .map(|(i, &t)| {
                            if (i + s) % wrong_every == 0 {
                                (t + 1 + i % 2) % 6
                            } else {
                                t
                            }
                        })
                        .collect();
                    let mut r = SeedResult::score(s as u64, &truth, &pred, 6);
                    r.knn_macro_f1 = Some(r.macro_f1 - 0.02);
                    r
                })
                .collect();
            ArmResult::new(name, seeds)
        };
        let mut report = TransferReport {
            run: "runs/20261123-172307-masked".into(),
            target: "pbmc68k_reduced_counts_700x765.h5ad".into(),
            label: "cell_type".into(),
            label_map: Some("assets/label_maps/pbmc68k_coarse.csv".into()),
            unmapped: 0,
            classes,
            genes: GeneOverlap {
                model_genes: 6397,
                target_genes: 765,
                matched: 411,
                missing: 5986,
                extra: 354,
            },
            split: "stratified".into(),
            n_reference: 490,
            n_query: 60,
            n_seeds: 3,
            arms: vec![arm("zero_shot", 3), arm("fine_tuned", 5), arm("scratch", 4)],
            best_arm: String::new(),
            delta_finetuned_vs_scratch: None,
        };
        report.summarise();
        report
    }

    fn state() -> TransferState {
        let mut s = TransferState::new(&Config::default(), Path::new("/data/target.h5ad"));
        s.set_run(Some("runs/r1".into()));
        s
    }

    fn columns(s: &mut TransferState, cols: &[&str]) {
        s.apply(TransferMsg::Columns {
            path: "/data/target.h5ad".into(),
            result: Ok(cols.iter().map(|c| c.to_string()).collect()),
        });
    }

    #[test]
    fn label_column_is_preselected_and_cycles_through_the_targets_columns() {
        let mut s = state();
        assert!(s.request().unwrap_err().contains("still loading"));
        columns(&mut s, &["donor", "cell_type", "phase"]);
        assert_eq!(s.label.as_deref(), Some("cell_type"));
        s.adjust(TransferField::Label, true);
        assert_eq!(s.label.as_deref(), Some("phase"));
        s.adjust(TransferField::Label, true);
        assert_eq!(s.label.as_deref(), Some("donor"));
        s.adjust(TransferField::Label, false);
        assert_eq!(s.label.as_deref(), Some("phase"));
        // An answer for a replaced target is ignored.
        assert_eq!(s.set(TransferField::Target, "/data/other.h5ad"), Ok(true));
        columns(&mut s, &["x"]);
        assert_eq!(s.columns, Columns::Unknown);
        assert_eq!(s.label, None);
    }

    #[test]
    fn request_carries_the_form_and_seeds_are_bounded() {
        let mut s = state();
        columns(&mut s, &["louvain"]);
        assert!(s.set(TransferField::Seeds, "0").is_err());
        assert!(s.set(TransferField::Seeds, "x").is_err());
        s.set(TransferField::Seeds, "2").unwrap();
        s.adjust(TransferField::Seeds, false);
        s.adjust(TransferField::Seeds, false);
        assert_eq!(s.seeds, 1);
        s.set(TransferField::LabelMap, " map.csv ").unwrap();
        let r = s.request().unwrap();
        assert_eq!(r.label, "louvain");
        assert_eq!(r.label_map, Some(PathBuf::from("map.csv")));
        assert_eq!(r.seeds, Some(1));
        s.start();
        assert!(s.request().unwrap_err().contains("already running"));
        s.set_run(None);
        assert_eq!(
            s.status,
            TransferStatus::Running,
            "a running transfer keeps going"
        );
    }

    #[test]
    fn progress_follows_arm_seed_and_epoch() {
        let mut s = state();
        s.seeds = 2;
        s.start();
        s.apply(TransferMsg::Progress(TransferProgress::ZeroShot));
        assert_eq!(s.progress.fraction, 0.0);
        let arm = |arm: &str, seed| TransferProgress::Arm {
            arm: arm.into(),
            seed,
            n_seeds: 2,
        };
        s.apply(TransferMsg::Progress(arm("fine_tuned", 1)));
        s.apply(TransferMsg::Progress(arm("scratch", 1)));
        s.apply(TransferMsg::Progress(TransferProgress::Epoch {
            arm: "scratch".into(),
            seed: 1,
            n_seeds: 2,
            epoch: 10,
            epochs: 20,
            val_loss: 0.5,
        }));
        assert_eq!(s.progress.arm, "scratch");
        assert!((s.progress.fraction - 1.5 / 4.0).abs() < 1e-12);
        assert!(
            s.progress.line.contains("epoch 10/20"),
            "{}",
            s.progress.line
        );
        s.apply(TransferMsg::Finished(Ok(Box::new(scripted_report()))));
        assert_eq!(s.status, TransferStatus::Done);
        assert_eq!(s.selected_arm().unwrap().arm, "fine_tuned");
        s.next_arm();
        s.next_arm();
        assert_eq!(s.selected_arm().unwrap().arm, "zero_shot");
        s.apply(TransferMsg::Finished(Err("boom".into())));
        assert_eq!(s.status, TransferStatus::Failed("boom".into()));
    }

    #[test]
    fn a_saved_report_is_shown_only_for_the_current_run() {
        let mut s = state();
        let saved = |run: &str| TransferMsg::Saved {
            run: run.into(),
            report: Some(Box::new(scripted_report())),
        };
        s.apply(saved("runs/other"));
        assert!(s.report.is_none());
        s.apply(saved("runs/r1"));
        assert_eq!(s.status, TransferStatus::Done);
        assert!(s.set_run(Some("runs/r2".into())));
        assert!(s.report.is_none() && s.status == TransferStatus::Idle);
        assert!(!s.set_run(Some("runs/r2".into())));
    }

    #[test]
    fn the_target_is_the_runs_last_one_else_the_suggested_one_unless_typed() {
        let mut s = state();
        assert!(s.suggest(
            Path::new("/bundled/pbmc.h5ad"),
            Some(Path::new("/bundled/map.csv"))
        ));
        assert_eq!(
            (s.target.as_str(), s.label_map.as_str()),
            ("/bundled/pbmc.h5ad", "/bundled/map.csv")
        );
        // A run with a saved transfer suggests the target and label map it used.
        let used = scripted_report();
        let changed = s.apply(TransferMsg::Saved {
            run: "runs/r1".into(),
            report: Some(Box::new(used.clone())),
        });
        assert!(changed && s.columns == Columns::Unknown);
        assert_eq!(s.target, used.target);
        assert_eq!(Some(&s.label_map), used.label_map.as_ref());
        // A run without one goes back to the suggestion.
        s.set_run(Some("runs/r2".into()));
        let saved_none = |s: &mut TransferState| {
            s.apply(TransferMsg::Saved {
                run: "runs/r2".into(),
                report: None,
            })
        };
        assert!(saved_none(&mut s));
        assert_eq!(s.target, "/bundled/pbmc.h5ad");
        // What the user typed stays.
        s.set(TransferField::Target, "/mine.h5ad").unwrap();
        s.set_run(Some("runs/r1".into()));
        assert!(!s.apply(TransferMsg::Saved {
            run: "runs/r1".into(),
            report: Some(Box::new(used)),
        }));
        assert_eq!(s.target, "/mine.h5ad");
    }
}
