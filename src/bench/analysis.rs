//! `cellscope bench analysis`: times PCA, kNN graph, Leiden, k-means, t-SNE layout and kNN
//! classification on synthetic clustered embeddings (50,000 cells x 64-d) and sparse genes, and
//! the Embeddings pane's pipeline (embed, lay out, cluster) on 50,000 synthetic cells.

use ndarray::{Array2, s};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::Serialize;
use std::time::Instant;

use crate::analysis::embed::{cluster, views_2d};
use crate::analysis::graph::umap_connectivities;
use crate::analysis::kmeans::{KMeansParams, kmeans};
use crate::analysis::knn::{knn_predict, knn_self, select_rows, subsample_indices};
use crate::analysis::layout::{TsneParams, tsne};
use crate::analysis::leiden::{LeidenParams, leiden};
use crate::analysis::metrics::{accuracy, adjusted_rand_score, macro_f1, silhouette_score};
use crate::analysis::pca::{pca_dense, pca_sparse};
use crate::config::{AnalysisConfig, Config};
use crate::data::CsrMatrix;

/// Cells, embedding width and clusters of the synthetic embedding.
const N_CELLS: usize = 50_000;
const DIM: usize = 64;
const N_TYPES: usize = 12;
/// Synthetic genes for the sparse PCA (about 10% non-zero, as perf.md's peer figures).
const N_GENES: usize = 2_000;

/// One timed step.
#[derive(Debug, Serialize)]
pub struct Step {
    pub name: String,
    pub seconds: f64,
    /// What came out (a quality figure or a size), for a sanity check.
    pub result: String,
}

/// All timed steps with the machine's thread count.
#[derive(Debug, Serialize)]
pub struct AnalysisBench {
    pub threads: usize,
    pub steps: Vec<Step>,
}

/// Runs the benchmark; returns the report as text or JSON.
pub fn run(config: &Config, json: bool) -> anyhow::Result<String> {
    let mut report = measure(&config.analysis)?;
    report.steps.extend(measure_pipeline(config)?);
    Ok(if json {
        serde_json::to_string_pretty(&report)?
    } else {
        let title = format!(
            "analysis benchmark: {N_CELLS} cells x {DIM}-d, {N_TYPES} cell types, {} threads",
            report.threads
        );
        format_steps(&title, &report.steps)
    })
}

/// A title line, then one line per step: name, seconds, result.
pub fn format_steps(title: &str, steps: &[Step]) -> String {
    let mut out = format!("{title}\n");
    for step in steps {
        out += &format!(
            "{:<54} {:>8.3} s   {}\n",
            step.name, step.seconds, step.result
        );
    }
    out
}

/// Runs `f`, records its time and a description of its result as a step.
pub(crate) fn timed<T>(
    steps: &mut Vec<Step>,
    name: &str,
    f: impl FnOnce() -> T,
    show: impl Fn(&T) -> String,
) -> T {
    let start = Instant::now();
    let out = f();
    let seconds = start.elapsed().as_secs_f64();
    tracing::info!(step = name, seconds, "analysis bench");
    steps.push(Step {
        name: name.into(),
        seconds,
        result: show(&out),
    });
    out
}

/// [`timed`] for a step that can fail: an error is recorded as the step's result.
pub(crate) fn timed_try<T, E: std::fmt::Display>(
    steps: &mut Vec<Step>,
    name: &str,
    f: impl FnOnce() -> Result<T, E>,
    show: impl Fn(&T) -> String,
) -> Result<T, E> {
    timed(steps, name, f, |r| {
        r.as_ref().map_or_else(|e| e.to_string(), &show)
    })
}

/// Measures every step on freshly generated data (seeded: the same data each run).
pub fn measure(config: &AnalysisConfig) -> anyhow::Result<AnalysisBench> {
    let (x, truth) = clustered_embedding(N_CELLS, DIM, N_TYPES, 0);
    let mut steps = Vec::new();
    let ari = |l: &Vec<usize>| {
        let k = l.iter().max().map_or(0, |m| m + 1);
        format!(
            "{k} clusters, ARI {:.3}",
            adjusted_rand_score(&truth, l).unwrap_or(f64::NAN)
        )
    };

    let fit = timed_try(
        &mut steps,
        "PCA 64-d -> 50 (dense covariance)",
        || pca_dense(x.view(), 50),
        |f| format!("PC1 {:.3} of variance", f.pca.explained_variance_ratio[0]),
    )?;
    drop(fit);
    let nn = timed(
        &mut steps,
        &format!("kNN graph, k = {} (exact)", config.graph_k),
        || knn_self(x.view(), config.graph_k),
        |n| format!("{} x {}", n.n_query(), n.k),
    );
    let graph = timed(
        &mut steps,
        "UMAP connectivities",
        || umap_connectivities(&nn),
        |g| format!("{} edges", g.indices.len() / 2),
    );
    timed(
        &mut steps,
        &format!("Leiden, resolution {}", config.leiden_resolution),
        || leiden(&graph, LeidenParams::new(config.leiden_resolution, 0)),
        ari,
    );
    let k = config.kmeans_k.max(N_TYPES);
    for n_init in [1, 3] {
        let params = KMeansParams {
            n_init,
            ..KMeansParams::new(k, 0)
        };
        timed_try(
            &mut steps,
            &format!("k-means, k = {k}, {n_init} run(s)"),
            || kmeans(x.view(), params),
            |f| format!("{} iterations, {}", f.n_iter, ari(&f.labels)),
        )?;
    }
    let params = TsneParams::new(config.layout_max_cells, 0);
    timed_try(
        &mut steps,
        &format!(
            "t-SNE 2-D ({} laid out, rest placed)",
            params.max_cells.min(N_CELLS)
        ),
        || tsne(x.view(), params),
        |y| layout_quality(y, &truth),
    )?;
    let (reference, query) = (x.slice(s![..40_000, ..]), x.slice(s![40_000.., ..]));
    let pred = timed(
        &mut steps,
        &format!("kNN classify 10k on 40k, k = {}", config.knn_k),
        || knn_predict(query, reference, &truth[..40_000], config.knn_k),
        |p| {
            let t = &truth[40_000..];
            format!(
                "macro-F1 {:.3}, accuracy {:.3}",
                macro_f1(t, p).unwrap_or(f64::NAN),
                accuracy(t, p).unwrap_or(f64::NAN)
            )
        },
    );
    drop(pred);
    let sub = subsample_indices(N_CELLS, 5_000, 0);
    let sub_truth: Vec<usize> = sub.iter().map(|&i| truth[i]).collect();
    let xs = select_rows(x.view(), &sub);
    timed(
        &mut steps,
        "silhouette on 5,000 cells",
        || silhouette_score(xs.view(), &sub_truth),
        |s| s.map_or("undefined".into(), |v| format!("{v:.3}")),
    );
    let genes = sparse_genes(N_CELLS, N_GENES, N_TYPES, 0.1, 1);
    timed_try(
        &mut steps,
        &format!("PCA {N_CELLS} x {N_GENES} sparse genes -> 50"),
        || pca_sparse(&genes, 50),
        |f| {
            format!(
                "{} non-zeros, top-50 explain {:.3}",
                genes.nnz(),
                f.pca.explained_variance_ratio.iter().sum::<f64>()
            )
        },
    )?;
    Ok(AnalysisBench {
        threads: rayon::current_num_threads(),
        steps,
    })
}

/// The Embeddings pane's job on 50,000 synthetic cells x 2,000 genes: embed with an encoder of
/// the configured architecture (random weights: trained ones cost the same), lay out (PCA-2 and
/// t-SNE) and cluster (k-means and Leiden on the kNN graph), each timed, then the total.
pub fn measure_pipeline(config: &Config) -> anyhow::Result<Vec<Step>> {
    let genes = sparse_genes(N_CELLS, N_GENES, N_TYPES, 0.1, 2);
    let encoder = crate::bench::train::random_encoder(config, genes.n_cols)?;
    let mut steps = Vec::new();
    let z = timed_try(
        &mut steps,
        &format!(
            "pipeline: embed {N_CELLS} x {N_GENES} -> {} (encoder)",
            config.model.latent
        ),
        || encoder.embed(&genes, 1024),
        |z| format!("{} x {}", z.nrows(), z.ncols()),
    )?;
    timed_try(
        &mut steps,
        "pipeline: lay out (PCA-2 + t-SNE)",
        || views_2d(z.view(), config),
        |_| "2 views".into(),
    )?;
    timed_try(
        &mut steps,
        "pipeline: cluster (k-means + kNN graph + Leiden)",
        || cluster(z.view(), config, 0),
        |c| {
            let k = |l: &[usize]| l.iter().max().map_or(0, |m| m + 1);
            format!("{} k-means, {} Leiden clusters", k(&c.kmeans), k(&c.leiden))
        },
    )?;
    let total: f64 = steps.iter().map(|s| s.seconds).sum();
    steps.push(Step {
        name: format!("pipeline total: embed + lay out + cluster {N_CELLS} cells"),
        seconds: total,
        result: format!("{} threads", rayon::current_num_threads()),
    });
    Ok(steps)
}

/// Share of laid-out cells whose 2-D nearest neighbours (k = 5) vote for their own type.
fn layout_quality(y: &Array2<f32>, truth: &[usize]) -> String {
    let n = y.nrows();
    let (a, b) = (y.slice(s![..n / 2, ..]), y.slice(s![n / 2.., ..]));
    let pred = knn_predict(b, a, &truth[..n / 2], 5);
    format!(
        "2-D kNN accuracy {:.3}",
        accuracy(&truth[n / 2..], &pred).unwrap_or(f64::NAN)
    )
}

/// Gaussian clusters with unequal sizes and spreads around random centres (seeded).
pub fn clustered_embedding(n: usize, d: usize, k: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let unit = Normal::new(0.0f32, 1.0).expect("valid normal");
    let centres = Array2::from_shape_fn((k, d), |_| 2.0 * unit.sample(&mut rng));
    let spread: Vec<f32> = (0..k).map(|_| rng.random_range(0.5..1.5)).collect();
    let weights: Vec<f64> = (0..k).map(|_| rng.random_range(0.2..1.0)).collect();
    let total: f64 = weights.iter().sum();
    let truth: Vec<usize> = (0..n)
        .map(|_| {
            let mut u = rng.random::<f64>() * total;
            weights
                .iter()
                .position(|&w| {
                    u -= w;
                    u < 0.0
                })
                .unwrap_or(k - 1)
        })
        .collect();
    let x = Array2::from_shape_fn((n, d), |(i, j)| {
        centres[[truth[i], j]] + spread[truth[i]] * unit.sample(&mut rng)
    });
    (x, truth)
}

/// Log1p-like sparse expression of `k` cell types: each type expresses each gene with its own
/// probability (mean `density`) and level, so the spectrum decays as in real data.
fn sparse_genes(n: usize, g: usize, k: usize, density: f64, seed: u64) -> CsrMatrix {
    let mut rng = StdRng::seed_from_u64(seed);
    let rate = Array2::from_shape_fn((k, g), |_| rng.random_range(0.0..2.0 * density));
    let level = Array2::from_shape_fn((k, g), |_| rng.random_range(0.5f32..4.0));
    let (mut indptr, mut indices, mut data) = (vec![0], Vec::new(), Vec::new());
    for i in 0..n {
        let t = i % k;
        for j in 0..g {
            if rng.random::<f64>() < rate[[t, j]] {
                indices.push(j as u32);
                data.push((1.0 + level[[t, j]] * rng.random::<f32>()).ln());
            }
        }
        indptr.push(data.len());
    }
    CsrMatrix {
        n_rows: n,
        n_cols: g,
        indptr,
        indices,
        data,
    }
}
