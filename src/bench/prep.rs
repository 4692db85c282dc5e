//! `cellscope bench prep [--file F]`: the usual scanpy start on a real `.h5ad` (read,
//! seurat_v3 HVGs + normalize_total + log1p, PCA-50, k-means with k = 10), timed step by step.
//! `scripts/scanpy_pipeline.py F` times scanpy's same steps for a back-to-back comparison.

use std::path::Path;

use crate::analysis::kmeans::{KMeansParams, kmeans};
use crate::analysis::pca::pca_sparse;
use crate::bench::analysis::{Step, timed_try};
use crate::config::Config;

/// Principal components and clusters of the pipeline (scanpy's defaults for `pca`, a usual k).
const N_COMPONENTS: usize = 50;
const K: usize = 10;

/// Times each step on `path` and the total; the `config`'s `[data]` and `[preprocess]` apply.
pub fn measure_prep(path: &Path, config: &Config) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::new();
    let dataset = timed_try(
        &mut steps,
        "read .h5ad (X and obs)",
        || crate::data::read_dataset(path, &config.data.matrix),
        |d| {
            format!(
                "{} x {}, {} non-zeros",
                d.x.n_rows,
                d.x.n_cols,
                d.x.data.len()
            )
        },
    )?;
    let prepared = timed_try(
        &mut steps,
        &format!(
            "HVG (seurat_v3, {}) + normalize_total + log1p",
            config.preprocess.n_top_genes
        ),
        || crate::data::prepare(&dataset, &config.preprocess, None),
        |p| format!("{} genes kept", p.genes.len()),
    )?;
    let x = &prepared.x;
    let pca = timed_try(
        &mut steps,
        &format!("PCA -> {N_COMPONENTS} (sparse, covariance + Lanczos)"),
        || pca_sparse(x, N_COMPONENTS.min(x.n_cols)),
        |f| {
            format!(
                "top-{N_COMPONENTS} explain {:.3}",
                f.pca.explained_variance_ratio.iter().sum::<f64>()
            )
        },
    )?;
    timed_try(
        &mut steps,
        &format!("k-means, k = {K}, 1 run"),
        || {
            let mut params = KMeansParams::new(K, config.train.seed);
            params.n_init = 1;
            kmeans(pca.scores.view(), params)
        },
        |f| format!("{} iterations", f.n_iter),
    )?;
    let total: f64 = steps.iter().map(|s| s.seconds).sum();
    steps.push(Step {
        name: "total: read + preprocess + PCA + k-means".into(),
        seconds: total,
        result: format!("{} threads", rayon::current_num_threads()),
    });
    Ok(steps)
}
