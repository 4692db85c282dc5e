//! `cellscope bench scale`: load (or stream-setup) time, training cells/s and peak RSS at
//! 50k, 200k and 1M cells, each size and mode measured in a fresh child process.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::Config;
use crate::model::random::mix;
use crate::train::Method;
use crate::train::data::TrainData;
use crate::train::method::Learner;
use crate::train::split::split_cells;
use crate::train::stream::{Batches, validation};

/// Directory of the synthetic files `synth_<cells>.h5ad` (default [`DEFAULT_DIR`]).
pub const DIR_VAR: &str = "CELLSCOPE_BENCH_DIR";
/// Where the files are looked for without [`DIR_VAR`].
pub const DEFAULT_DIR: &str = "/tmp/cellscope_scale";

/// The directory of the synthetic benchmark files ([`DIR_VAR`], else [`DEFAULT_DIR`]).
pub fn bench_dir() -> PathBuf {
    std::env::var(DIR_VAR).map_or_else(|_| PathBuf::from(DEFAULT_DIR), PathBuf::from)
}
/// Set in a child process: `<mode>:<file>` to measure once and print one JSON line.
const CHILD_VAR: &str = "CELLSCOPE_SCALE_CHILD";
/// Dataset sizes (cells; 2,000 genes each).
const SIZES: [usize; 3] = [50_000, 200_000, 1_000_000];
/// Timed training steps (after warm-up), spanning several blocks.
const STEPS: usize = 150;
const WARMUP: usize = 5;
const BATCH: usize = 256;

/// One measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleRow {
    pub cells: usize,
    /// "memory" (X loaded) or "stream" (row blocks from disk), as the budget decided.
    pub mode: String,
    pub budget_mb: u64,
    /// Reading + preprocessing (memory) or the planning and validation passes (stream).
    pub load_secs: f64,
    /// Training cells/s over the timed steps, batch fetching included.
    pub cells_per_sec: f64,
    /// Peak resident memory of the process (VmHWM).
    pub peak_rss_mb: f64,
}

/// Runs the benchmark (or, in a child process, one measurement) and returns the report.
pub fn run(json: bool, config: &Config) -> anyhow::Result<String> {
    if let Ok(spec) = std::env::var(CHILD_VAR) {
        let (budget, file) = spec
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("{CHILD_VAR} must be <budget_mb>:<file>"))?;
        let row = measure(Path::new(file), budget.parse()?, config)?;
        return Ok(serde_json::to_string(&row)?);
    }
    let dir = bench_dir();
    let default_budget = config.data.memory_budget_mb;
    let mut rows = Vec::new();
    for cells in SIZES {
        let file = dir.join(format!("synth_{cells}.h5ad"));
        anyhow::ensure!(
            file.exists(),
            "{} is missing: write it with `python3 scripts/synth_h5ad.py --n-cells {cells} --n-genes 2000 --out {}` (or set {DIR_VAR} to the directory holding synth_<cells>.h5ad)",
            file.display(),
            file.display()
        );
        // the default budget, then each mode forced, for the comparison
        for budget in [default_budget, u64::MAX / (1 << 21), 0] {
            rows.push(child(&file, budget)?);
        }
    }
    if json {
        return Ok(serde_json::to_string_pretty(&rows)?);
    }
    let mut out = format!(
        "scale benchmark: files from {} ({DIR_VAR}), masked autoencoder, batch {BATCH}, {STEPS} timed steps, {} threads; default budget {default_budget} MiB\n{:>9} {:>7} {:>12} {:>9} {:>10} {:>12}\n",
        dir.display(),
        match config.train.threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        },
        "cells",
        "mode",
        "budget MiB",
        "load s",
        "cells/s",
        "peak RSS MB"
    );
    for r in &rows {
        let budget = if r.budget_mb >= u64::MAX / (1 << 21) {
            "unlimited".to_string()
        } else {
            r.budget_mb.to_string()
        };
        out.push_str(&format!(
            "{:>9} {:>7} {:>12} {:>9.1} {:>10.0} {:>12.0}\n",
            r.cells, r.mode, budget, r.load_secs, r.cells_per_sec, r.peak_rss_mb
        ));
    }
    Ok(out)
}

/// Measures `file` with `budget_mb` in a fresh process (so peak RSS is per measurement).
fn child(file: &Path, budget_mb: u64) -> anyhow::Result<ScaleRow> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["bench", "scale"])
        .env(CHILD_VAR, format!("{budget_mb}:{}", file.display()))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "measuring {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(line)?)
}

/// Loads (or plans streaming of) `file` under `budget_mb` and trains `STEPS` timed steps.
fn measure(file: &Path, budget_mb: u64, config: &Config) -> anyhow::Result<ScaleRow> {
    let mut config = config.clone();
    config.data.memory_budget_mb = budget_mb;
    config.train.batch_size = BATCH;
    let threads = config.train.threads;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    pool.install(|| {
        let start = Instant::now();
        let data = TrainData::load(file, &config, None)?;
        let tc = &config.train;
        let split = split_cells(data.n_cells(), tc.val_fraction, None, tc.seed)?;
        let val = validation(&data, &split.train, &split.val)?;
        let load_secs = start.elapsed().as_secs_f64();
        drop(val);
        let mut learner = Learner::new(&config, Method::Masked, data.genes.len(), None)?;
        let mut batches = Batches::new(&data, &split.train, tc.seed);
        let mut timed = 0.0;
        for k in 0..WARMUP + STEPS {
            let t = Instant::now();
            let (x, rows) = batches.batch(k * BATCH..(k + 1) * BATCH)?;
            let loss = learner.train_step(x, rows, mix(tc.seed, k as u64), tc.lr, tc.grad_clip)?;
            anyhow::ensure!(loss.is_finite(), "loss diverged during the benchmark");
            if k >= WARMUP {
                timed += t.elapsed().as_secs_f64();
            }
        }
        Ok(ScaleRow {
            cells: data.n_cells(),
            mode: if data.stream.is_some() {
                "stream"
            } else {
                "memory"
            }
            .into(),
            budget_mb,
            load_secs,
            cells_per_sec: (STEPS * BATCH) as f64 / timed,
            peak_rss_mb: peak_rss_mb(),
        })
    })
}

/// Peak resident set size of this process in MB (VmHWM; NaN where /proc is missing).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
