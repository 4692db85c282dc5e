//! Sweep directories as the Runs pane lists them: one entry per `sweep.toml` under the runs
//! directory, its table built by `sweep::table` when the directory is scanned (off the UI thread).

use std::path::{Path, PathBuf};

use crate::sweep::table::{Combination, SweepTable, collect};
use crate::sweep::task::ROW_FILE;
use crate::sweep::{SPEC_FILE, Sweep, Task};
use crate::train::Method;
use crate::train::catalog::subdirectories;

/// One sweep directory.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepInfo {
    pub dir: PathBuf,
    /// The directory's name.
    pub name: String,
    /// Its table, or why the directory could not be read.
    pub contents: Result<SweepContents, String>,
}

/// What a readable sweep directory holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepContents {
    pub table: SweepTable,
    /// PCA components of the baseline (names the PCA row).
    pub pca_components: usize,
    /// Per table row, the run directories of its finished seeds, in seed order.
    pub seed_runs: Vec<Vec<PathBuf>>,
}

impl SweepInfo {
    /// The row marked best (highest mean kNN macro-F1), if any run has finished.
    pub fn best(&self) -> Option<&Combination> {
        self.contents
            .as_ref()
            .ok()?
            .table
            .rows
            .iter()
            .find(|c| c.best)
    }

    /// Runs finished over runs asked for ("5/8"), or "?" for an unreadable sweep.
    pub fn runs_text(&self) -> String {
        self.contents.as_ref().map_or_else(
            |_| "?".into(),
            |c| format!("{}/{}", c.table.runs_done, c.table.runs_asked),
        )
    }

    /// Rows of its table: the combinations and PCA (none when unreadable).
    pub fn row_count(&self) -> usize {
        self.contents.as_ref().map_or(0, |c| c.table.rows.len() + 1)
    }

    /// Whether every run of the sweep has finished.
    pub fn complete(&self) -> bool {
        self.contents
            .as_ref()
            .is_ok_and(|c| c.table.runs_done == c.table.runs_asked)
    }
}

/// A method and mask rate as the pane writes them: `masked r0.50`, `byol`.
pub fn combination_label(c: &Combination) -> String {
    match c.mask_rate {
        Some(r) => format!("{} r{r:.2}", c.method),
        None => c.method.clone(),
    }
}

/// Reads one sweep directory (`None` if it holds no `sweep.toml`).
pub fn read_sweep(dir: &Path) -> Option<SweepInfo> {
    if !dir.join(SPEC_FILE).is_file() {
        return None;
    }
    let contents = Sweep::open(dir)
        .and_then(|sweep| contents(&sweep))
        .map_err(|e| format!("{e:#}"));
    Some(SweepInfo {
        dir: dir.to_path_buf(),
        name: dir.file_name()?.to_string_lossy().into_owned(),
        contents,
    })
}

fn contents(sweep: &Sweep) -> anyhow::Result<SweepContents> {
    let table = collect(sweep)?;
    let seed_runs = table
        .rows
        .iter()
        .map(|c| -> anyhow::Result<Vec<PathBuf>> {
            let method = Method::parse(&c.method)?;
            Ok((0..sweep.spec.seeds)
                .map(|seed| {
                    sweep.run_dir(&Task {
                        method,
                        mask_rate: c.mask_rate,
                        seed,
                    })
                })
                .filter(|dir| dir.join(ROW_FILE).is_file())
                .collect())
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(SweepContents {
        table,
        pca_components: sweep.base.analysis.pca_components,
        seed_runs,
    })
}

/// Every sweep directory directly under `out_dir`, by name; empty if none.
pub fn scan_sweeps(out_dir: &Path) -> Vec<SweepInfo> {
    let mut sweeps: Vec<SweepInfo> = subdirectories(out_dir)
        .iter()
        .filter_map(|d| read_sweep(d))
        .collect();
    sweeps.sort_by(|a, b| a.name.cmp(&b.name));
    sweeps
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::paired::Verdict;
    use crate::analysis::transfer::report::Stat;
    use crate::config::Config;
    use crate::sweep::SweepSpec;
    use crate::sweep::table::VsPca;
    use crate::sweep::task::{FoldPair, Row};
    use crate::train::catalog::scan_runs;

    fn stat(mean: f64, sd: f64) -> Stat {
        Stat { mean, sd }
    }

    fn vs(ssl: f64, pca: f64, verdict: Verdict) -> Option<VsPca> {
        Some(VsPca {
            ssl: stat(ssl, 0.01),
            pca: stat(pca, 0.005),
            diff: stat(ssl - pca, 0.01),
            verdict,
        })
    }

    fn combo(method: &str, rate: Option<f64>, knn: f64, logistic: f64, ari: f64) -> Combination {
        let verdict = |d: f64| match d {
            d if d > 0.02 => Verdict::Better,
            d if d < -0.02 => Verdict::Worse,
            _ => Verdict::NoClearDifference,
        };
        Combination {
            method: method.into(),
            mask_rate: rate,
            seeds_done: 2,
            seeds_asked: 2,
            knn_macro_f1: vs(knn, 0.70, verdict(knn - 0.70)),
            logistic_macro_f1: vs(logistic, 0.75, verdict(logistic - 0.75)),
            kmeans_ari: Some(stat(ari, 0.02)),
            pca_kmeans_ari: Some(stat(0.40, 0.01)),
            ev: rate.map(|r| stat(0.30 - r / 10.0, 0.01)),
            best: false,
        }
    }

    /// A finished sweep of masked at two mask rates, byol and barlow, two seeds each; no files.
    pub fn scripted_sweep() -> SweepInfo {
        let mut rows = vec![
            combo("masked", Some(0.25), 0.74, 0.78, 0.45),
            combo("masked", Some(0.5), 0.81, 0.76, 0.52),
            combo("byol", None, 0.64, 0.71, 0.38),
            combo("barlow", None, 0.71, 0.79, 0.61),
        ];
        rows[1].best = true;
        rows[3].seeds_done = 1;
        let dir = PathBuf::from("runs/sweep-demo_immune");
        let seed_runs = rows
            .iter()
            .map(|c| {
                let task = match c.mask_rate {
                    Some(r) => format!("{}-r{r:.2}", c.method),
                    None => c.method.clone(),
                };
                (0..c.seeds_done)
                    .map(|s| dir.join("runs").join(format!("{task}-s{s}")))
                    .collect()
            })
            .collect();
        SweepInfo {
            name: "sweep-demo_immune".into(),
            contents: Ok(SweepContents {
                table: SweepTable {
                    sweep: dir.clone(),
                    data: "/data/demo_immune.h5ad".into(),
                    runs_done: 7,
                    runs_asked: 8,
                    rows,
                    pca_knn_macro_f1: Some(stat(0.70, 0.005)),
                    pca_logistic_macro_f1: Some(stat(0.75, 0.005)),
                    pca_kmeans_ari: Some(stat(0.40, 0.01)),
                },
                pca_components: 50,
                seed_runs,
            }),
            dir,
        }
    }

    fn fake_row(task: &Task, knn: f64) -> Row {
        Row {
            task: task.name(),
            method: task.method.name().into(),
            mask_rate: task.mask_rate,
            seed: task.seed,
            epochs_done: 2,
            best_val_loss: 0.5,
            train_secs: 1.0,
            knn_macro_f1: Some(FoldPair {
                ssl: vec![knn, knn],
                pca: vec![0.6, 0.6],
            }),
            logistic_macro_f1: None,
            ari: Some(0.4),
            pca_ari: Some(0.3),
            ev: None,
        }
    }

    #[test]
    fn a_sweep_is_one_entry_with_its_best_row_and_its_members_are_not_runs() {
        let out = tempfile::tempdir().unwrap();
        let spec = SweepSpec {
            data: "/data/demo.h5ad".into(),
            methods: vec!["masked".into(), "byol".into()],
            mask_rates: vec![0.25, 0.5],
            seeds: 2,
            label: String::new(),
        };
        let at = out.path().join("sweep-demo");
        let sweep = Sweep::create_or_resume(&at, spec, Config::default()).unwrap();
        // Three of six tasks finished; masked r0.50 seed 1 is the best, byol has nothing yet.
        let tasks = sweep.spec.tasks().unwrap();
        for (task, knn) in [(tasks[0], 0.7), (tasks[2], 0.75), (tasks[3], 0.9)] {
            let dir = sweep.run_dir(&task);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(crate::train::rundir::CONFIG_FILE), "").unwrap();
            let row = serde_json::to_string(&fake_row(&task, knn)).unwrap();
            std::fs::write(dir.join(ROW_FILE), row).unwrap();
        }
        let run = out.path().join("20260101-000000-byol");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join(crate::train::rundir::CONFIG_FILE), "").unwrap();

        let sweeps = scan_sweeps(out.path());
        assert_eq!(sweeps.len(), 1);
        let s = &sweeps[0];
        assert_eq!(
            (s.name.as_str(), s.runs_text()),
            ("sweep-demo", "3/6".into())
        );
        assert!(!s.complete());
        let best = s.best().unwrap();
        assert_eq!(combination_label(best), "masked r0.50");
        let knn = best.knn_macro_f1.as_ref().unwrap().ssl.mean;
        assert!((knn - 0.825).abs() < 1e-12, "{knn}");
        let c = s.contents.as_ref().unwrap();
        assert_eq!(c.seed_runs[0], [sweep.run_dir(&tasks[0])]);
        assert_eq!(c.seed_runs[1].len(), 2);
        assert!(c.seed_runs[2].is_empty());
        // The ordinary run is listed; neither the sweep directory nor its members are.
        let runs = scan_runs(out.path());
        let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["20260101-000000-byol"]);
    }

    #[test]
    fn an_unreadable_sweep_is_listed_with_the_reason() {
        let out = tempfile::tempdir().unwrap();
        let at = out.path().join("sweep-bad");
        std::fs::create_dir_all(&at).unwrap();
        std::fs::write(at.join(SPEC_FILE), "methods = 3").unwrap();
        let sweeps = scan_sweeps(out.path());
        let err = sweeps[0].contents.as_ref().unwrap_err();
        assert!(err.contains("sweep.toml"), "{err}");
        assert_eq!(sweeps[0].runs_text(), "?");
        assert!(sweeps[0].best().is_none());
        assert!(scan_sweeps(&out.path().join("missing")).is_empty());
    }
}
