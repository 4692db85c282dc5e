//! Training throughput on synthetic data: cells/s, achieved GFLOP/s and the time per phase of a
//! step (batch, forward, backward, optimiser), for `cellscope bench train`.

use serde::Serialize;
use std::time::Instant;

use crate::config::Config;
use crate::data::CsrMatrix;
use crate::data::genesets::MatchedSets;
use crate::model::random::mix;
use crate::train::Method;
use crate::train::method::Learner;

/// Figures for one method.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub method: String,
    pub n_params: usize,
    pub batch_size: usize,
    pub threads: usize,
    pub cells_per_sec: f64,
    pub gflops_per_sec: f64,
    pub ms_per_step: f64,
    /// Milliseconds per step in each phase.
    pub ms_batch: f64,
    pub ms_forward: f64,
    pub ms_backward: f64,
    pub ms_optimizer: f64,
}

/// Programmes of 20 consecutive genes, for gene-programme methods on synthetic genes.
pub fn synthetic_programmes(n_genes: usize) -> MatchedSets {
    let genes: Vec<Vec<u32>> = (0..n_genes as u32 / 20)
        .map(|k| (k * 20..k * 20 + 20).collect())
        .collect();
    MatchedSets {
        names: (0..genes.len()).map(|k| format!("P{k}")).collect(),
        n_total: genes.len(),
        genes,
    }
}

/// Trains `method` for `warmup` untimed and `steps` timed steps on random batches of `x`.
pub fn measure(
    config: &Config,
    method: Method,
    x: &CsrMatrix,
    warmup: usize,
    steps: usize,
) -> anyhow::Result<Throughput> {
    let sets = synthetic_programmes(x.n_cols);
    let mut learner = Learner::new(config, method, x.n_cols, Some(&sets))?;
    let batch = config.train.batch_size.min(x.n_rows);
    let n_batches = (x.n_rows / batch).max(1);
    let order: Vec<usize> = (0..x.n_rows).collect();
    let step = |k: usize, learner: &mut Learner| -> anyhow::Result<()> {
        let b = k % n_batches;
        let loss = learner.train_step(
            x,
            &order[b * batch..(b + 1) * batch],
            mix(7, k as u64),
            config.train.lr,
            config.train.grad_clip,
        )?;
        anyhow::ensure!(loss.is_finite(), "loss diverged during the benchmark");
        Ok(())
    };
    for k in 0..warmup {
        step(k, &mut learner)?;
    }
    let before = learner.phase_times();
    let start = Instant::now();
    for k in 0..steps {
        step(warmup + k, &mut learner)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let after = learner.phase_times();
    let per_step = |a: f64, b: f64| 1e3 * (a - b) / steps.max(1) as f64;
    let cells_per_sec = (steps * batch) as f64 / secs;
    Ok(Throughput {
        method: method.name().into(),
        n_params: learner.params().n_params(),
        batch_size: batch,
        threads: rayon::current_num_threads(),
        cells_per_sec,
        gflops_per_sec: cells_per_sec * learner.flops_per_cell() / 1e9,
        ms_per_step: 1e3 * secs / steps.max(1) as f64,
        ms_batch: per_step(after.batch, before.batch),
        ms_forward: per_step(after.forward, before.forward),
        ms_backward: per_step(after.backward, before.backward),
        ms_optimizer: per_step(after.optimizer, before.optimizer),
    })
}
