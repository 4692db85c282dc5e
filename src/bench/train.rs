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
    /// The matrix products' number format that ran (`f32`, or `bf16` on AMX or AVX512-BF16).
    pub precision: String,
    pub n_params: usize,
    pub batch_size: usize,
    pub threads: usize,
    /// From the median step time.
    pub cells_per_sec: f64,
    /// From the mean step time.
    pub cells_per_sec_mean: f64,
    /// Dense-equivalent matmul FLOPs (6 x weights per cell) per second.
    pub gflops_per_sec: f64,
    pub ms_per_step: f64,
    /// Milliseconds per step in each phase (means).
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
    let mut step_secs = Vec::with_capacity(steps);
    for k in 0..steps {
        let t = Instant::now();
        step(warmup + k, &mut learner)?;
        step_secs.push(t.elapsed().as_secs_f64());
    }
    let after = learner.phase_times();
    let per_step = |a: f64, b: f64| 1e3 * (a - b) / steps.max(1) as f64;
    // The median step is robust to other processes on a shared machine.
    step_secs.sort_by(f64::total_cmp);
    let median = step_secs.get(steps / 2).copied().unwrap_or(f64::NAN);
    let mean = step_secs.iter().sum::<f64>() / steps.max(1) as f64;
    let cells_per_sec = batch as f64 / median;
    Ok(Throughput {
        method: method.name().into(),
        precision: format!("{:?}", config.train.precision.effective()).to_lowercase(),
        n_params: learner.params().n_params(),
        batch_size: batch,
        threads: rayon::current_num_threads(),
        cells_per_sec,
        gflops_per_sec: cells_per_sec * learner.flops_per_cell() / 1e9,
        ms_per_step: 1e3 * median,
        cells_per_sec_mean: batch as f64 / mean,
        ms_batch: per_step(after.batch, before.batch),
        ms_forward: per_step(after.forward, before.forward),
        ms_backward: per_step(after.backward, before.backward),
        ms_optimizer: per_step(after.optimizer, before.optimizer),
    })
}

/// An encoder of the configured architecture with seeded random weights (for timing: trained
/// weights cost the same), on the path and device `model.device` and `model.path` choose.
pub fn random_encoder(config: &Config, n_genes: usize) -> anyhow::Result<crate::model::Encoder> {
    let mut store = crate::model::ParamStore::new();
    let mut init = crate::train::path::model_init(&config.model, 0)?;
    Ok(crate::model::Encoder::new(
        &config.model,
        n_genes,
        &mut store,
        &mut init,
    )?)
}

/// Rows per batch when embedding.
pub const EMBED_BATCH: usize = 4096;

/// Cells per second of [`crate::model::Encoder::embed`] (eval mode, batches of
/// [`EMBED_BATCH`]) for the configured encoder on `x`.
pub fn measure_embedding(config: &Config, x: &CsrMatrix) -> anyhow::Result<f64> {
    let encoder = random_encoder(config, x.n_cols)?;
    encoder.embed(x, EMBED_BATCH)?;
    let start = Instant::now();
    let emb = encoder.embed(x, EMBED_BATCH)?;
    anyhow::ensure!(emb.iter().all(|v| v.is_finite()), "embedding is not finite");
    Ok(x.n_rows as f64 / start.elapsed().as_secs_f64())
}
