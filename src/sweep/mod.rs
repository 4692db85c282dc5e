//! Sweeps: every combination of pretext task, mask rate and seed trained on one dataset, each
//! embedding scored beside the PCA baseline on the same cross-validation folds, and one table with
//! a verdict per combination. A sweep directory holds `sweep.toml` (what was asked), `config.toml`
//! (the settings every run starts from) and `runs/<task>/`, one ordinary run directory per
//! combination; a task is done when its `row.json` exists, so re-running resumes what is missing.

pub mod slurm;
pub mod table;
pub mod task;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::train::Method;

/// What the user asked for, written to `sweep.toml`.
pub const SPEC_FILE: &str = "sweep.toml";
/// The settings every run of the sweep starts from.
pub const BASE_CONFIG_FILE: &str = "config.toml";
/// The folder of run directories, one per task.
pub const RUNS_DIR: &str = "runs";
/// The sbatch script `--slurm` writes.
pub const SLURM_FILE: &str = "sweep.sbatch";

/// A sweep's request: dataset, methods, mask rates, number of seeds, label column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    /// The dataset every run trains and is evaluated on (absolute path).
    pub data: PathBuf,
    pub methods: Vec<String>,
    /// Mask rates for the methods that have one (masked: `masking.rate`, gp:
    /// `masking.programme_fraction`); the other methods run once per seed.
    pub mask_rates: Vec<f64>,
    /// Seeds 0..seeds of `train.seed` per combination.
    pub seeds: u64,
    /// obs column with the reference labels ("" for the evaluation's own choice).
    #[serde(default)]
    pub label: String,
}

/// One training of the sweep: a method, its mask rate (if it has one) and a seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Task {
    pub method: Method,
    pub mask_rate: Option<f64>,
    pub seed: u64,
}

impl Task {
    /// The run directory's name: `masked-r0.50-s1`, `byol-s0`.
    pub fn name(&self) -> String {
        match self.mask_rate {
            Some(r) => format!("{}-r{r:.2}-s{}", self.method.name(), self.seed),
            None => format!("{}-s{}", self.method.name(), self.seed),
        }
    }

    /// The base settings with this task's method, seed and mask rate applied.
    pub fn config(&self, base: &Config, sweep_dir: &Path) -> Config {
        let mut c = base.clone();
        c.train.method = self.method.name().into();
        c.train.seed = self.seed;
        c.train.out_dir = sweep_dir.join(RUNS_DIR).display().to_string();
        match (self.method, self.mask_rate) {
            (Method::Masked, Some(r)) => c.masking.rate = r,
            (Method::Gp, Some(r)) => c.masking.programme_fraction = r,
            _ => {}
        }
        c
    }
}

/// Whether a method has a mask rate the sweep varies.
pub fn has_mask_rate(method: Method) -> bool {
    matches!(method, Method::Masked | Method::Gp)
}

impl SweepSpec {
    /// Checks the request: known methods, rates in (0, 1), at least one seed.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.methods.is_empty(),
            "--methods: give at least one method"
        );
        for m in &self.methods {
            Method::parse(m)?;
        }
        anyhow::ensure!(
            !self.mask_rates.is_empty(),
            "--mask-rates: give at least one rate"
        );
        for &r in &self.mask_rates {
            anyhow::ensure!(r > 0.0 && r < 1.0, "--mask-rates: {r} is not in (0, 1)");
        }
        anyhow::ensure!(self.seeds >= 1, "--seeds: at least 1");
        Ok(())
    }

    /// Every task, in a fixed order (method, then rate, then seed): task `i` of a SLURM array.
    pub fn tasks(&self) -> anyhow::Result<Vec<Task>> {
        let mut tasks = Vec::new();
        for name in &self.methods {
            let method = Method::parse(name)?;
            let rates: Vec<Option<f64>> = if has_mask_rate(method) {
                self.mask_rates.iter().copied().map(Some).collect()
            } else {
                vec![None]
            };
            for mask_rate in rates {
                for seed in 0..self.seeds {
                    tasks.push(Task {
                        method,
                        mask_rate,
                        seed,
                    });
                }
            }
        }
        Ok(tasks)
    }

    /// The label column to evaluate against (None: the evaluation's default).
    pub fn label(&self) -> Option<&str> {
        Some(self.label.as_str()).filter(|l| !l.is_empty())
    }
}

/// An opened sweep directory: its request and base settings.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub dir: PathBuf,
    pub spec: SweepSpec,
    pub base: Config,
}

impl Sweep {
    /// Creates the sweep directory for `spec`, or reopens it when it already holds the same
    /// request (a resume); a different request in the same directory is refused.
    pub fn create_or_resume(dir: &Path, spec: SweepSpec, base: Config) -> anyhow::Result<Self> {
        spec.validate()?;
        if dir.join(SPEC_FILE).exists() {
            let existing = Self::open(dir)?;
            anyhow::ensure!(
                existing.spec == spec,
                "{} already holds a different sweep ({}); choose another --out, or run \
                 `cellscope sweep --collect {}` to see it",
                dir.display(),
                dir.join(SPEC_FILE).display(),
                dir.display()
            );
            anyhow::ensure!(
                existing.base == base,
                "{} was started with other settings ({}); resume it with the same --config \
                 and --epochs, or choose another --out",
                dir.display(),
                dir.join(BASE_CONFIG_FILE).display()
            );
            return Ok(existing);
        }
        std::fs::create_dir_all(dir.join(RUNS_DIR)).map_err(|e| {
            anyhow::anyhow!("{}: cannot create the sweep directory: {e}", dir.display())
        })?;
        let write = |name: &str, text: String| {
            crate::train::checkpoint::write_atomic(&dir.join(name), text.as_bytes())
        };
        write(SPEC_FILE, toml::to_string(&spec)?)?;
        write(BASE_CONFIG_FILE, toml::to_string(&base)?)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            spec,
            base,
        })
    }

    /// Opens an existing sweep directory.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| {
                anyhow::anyhow!("{}: not a sweep directory (no {name}: {e})", dir.display())
            })
        };
        let spec: SweepSpec = toml::from_str(&read(SPEC_FILE)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join(SPEC_FILE).display()))?;
        let base = Config::from_toml(&read(BASE_CONFIG_FILE)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join(BASE_CONFIG_FILE).display()))?;
        spec.validate()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            spec,
            base,
        })
    }

    /// The run directory of a task.
    pub fn run_dir(&self, task: &Task) -> PathBuf {
        self.dir.join(RUNS_DIR).join(task.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(methods: &[&str]) -> SweepSpec {
        SweepSpec {
            data: "d.h5ad".into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            mask_rates: vec![0.25, 0.5],
            seeds: 2,
            label: String::new(),
        }
    }

    #[test]
    fn mask_rates_multiply_only_the_methods_that_have_one() {
        let tasks = spec(&["masked", "byol", "gp"]).tasks().unwrap();
        let names: Vec<String> = tasks.iter().map(Task::name).collect();
        assert_eq!(
            names,
            [
                "masked-r0.25-s0",
                "masked-r0.25-s1",
                "masked-r0.50-s0",
                "masked-r0.50-s1",
                "byol-s0",
                "byol-s1",
                "gp-r0.25-s0",
                "gp-r0.25-s1",
                "gp-r0.50-s0",
                "gp-r0.50-s1",
            ]
        );
        let base = Config::default();
        let c = tasks[3].config(&base, Path::new("sw"));
        assert_eq!((c.masking.rate, c.train.seed), (0.5, 1));
        let c = tasks[6].config(&base, Path::new("sw"));
        assert_eq!(c.masking.programme_fraction, 0.25);
        assert_eq!(c.masking.rate, base.masking.rate);
        assert_eq!(
            c.train.out_dir,
            Path::new("sw").join(RUNS_DIR).display().to_string()
        );
    }

    #[test]
    fn a_bad_request_is_refused_with_the_flag_named() {
        let mut s = spec(&["masked", "mae"]);
        assert!(s.validate().unwrap_err().to_string().contains("mae"));
        s.methods = vec!["masked".into()];
        s.mask_rates = vec![1.0];
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("--mask-rates")
        );
    }

    #[test]
    fn a_sweep_directory_resumes_the_same_request_and_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("sw");
        Sweep::create_or_resume(&at, spec(&["masked"]), Config::default()).unwrap();
        let again = Sweep::create_or_resume(&at, spec(&["masked"]), Config::default()).unwrap();
        assert_eq!(again.spec, spec(&["masked"]));
        let err = Sweep::create_or_resume(&at, spec(&["byol"]), Config::default()).unwrap_err();
        assert!(err.to_string().contains("different sweep"), "{err}");
        let mut other = Config::default();
        other.train.lr = 0.5;
        let err = Sweep::create_or_resume(&at, spec(&["masked"]), other).unwrap_err();
        assert!(err.to_string().contains("other settings"), "{err}");
    }
}
