//! A run's embedding of every cell (cached in the run directory), the PCA baseline beside it,
//! 2-D views, clusters, label metrics (cross-validated label prediction, clustering agreement)
//! and held-out reconstruction: what `eval`/`embed` report.

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use super::graph::umap_connectivities;
use super::kmeans::{KMeansParams, kmeans};
use super::knn::{knn_self, select_rows, subsample_indices};
use super::layout::{TsneParams, pca_2d, tsne};
use super::leiden::{LeidenParams, leiden};
use super::metrics::{adjusted_rand_score, cell_type_asw, normalized_mutual_info_score};
use super::pca::pca_sparse;
use super::prediction::{LabelPrediction, cross_validate};
use super::recon::{ReconAccumulator, Reconstruction};
use crate::config::Config;
use crate::data::{Column, CsrMatrix};
use crate::model::Autoencoder;
use crate::train::checkpoint::read_checkpoint;
use crate::train::rundir::{BEST_CHECKPOINT, LAST_CHECKPOINT};
use crate::train::split::{Split, split_cells};
use crate::train::stream::{for_each_block, validation};
use crate::train::{LoadedRun, Method, TrainData, load_run};

/// File in the run directory caching the embedding of the run's dataset.
pub const EMBEDDING_CACHE: &str = "embedding.bin";
const CACHE_MAGIC: &[u8; 8] = b"CSEMB01\n";
/// Rows embedded per forward pass.
const EMBED_BATCH: usize = 1024;
/// Cells the PCA baseline of data larger than memory is fitted on.
const PCA_FIT_CELLS: usize = 50_000;
/// Most cells used for the silhouette (it is quadratic in cells).
const ASW_MAX_CELLS: usize = 5000;

/// A run with its data mapped onto the model's genes, ready to embed and evaluate.
#[derive(Debug)]
pub struct EvalInput {
    pub run: LoadedRun,
    pub data: TrainData,
    /// Whether the data is the run's own training dataset (then the cache applies).
    pub own_data: bool,
}

impl EvalInput {
    /// Loads the run and a dataset (the run's own when `data` is None), mapped onto its genes.
    pub fn load(run_dir: &Path, data: Option<&Path>) -> anyhow::Result<Self> {
        let run = load_run(run_dir)?;
        let path = data.map_or_else(|| run.dataset_path.clone(), Path::to_path_buf);
        let own_data = same_file(&path, &run.dataset_path);
        let data = TrainData::load(&path, &run.config, Some(&run.genes))?;
        Ok(Self {
            run,
            data,
            own_data,
        })
    }

    /// Number of cells (in memory or streamed from the file).
    pub fn n_cells(&self) -> usize {
        self.data.n_cells()
    }

    /// The held-out split the run trained with (validation cells), recomputed from its config.
    pub fn split(&self) -> anyhow::Result<Split> {
        let tc = &self.run.config.train;
        let by = self.data.obs.iter().find(|c| c.name == tc.split_by);
        split_cells(self.n_cells(), tc.val_fraction, by, tc.seed)
    }

    /// Components of the PCA baseline: `analysis.pca_components`, capped by cells and genes.
    pub fn pca_components(&self) -> usize {
        let wanted = self.run.config.analysis.pca_components;
        wanted.min(self.n_cells()).min(self.data.genes.len())
    }

    /// The PCA baseline as users compute it: the same cells' genes (the run's, normalised and
    /// logged as loaded) on [`Self::pca_components`] axes, fitted without labels. Data larger
    /// than memory is fitted on a seeded subsample of `PCA_FIT_CELLS` cells gathered in one
    /// pass, then projected block by block.
    pub fn pca_baseline(&self) -> anyhow::Result<Array2<f32>> {
        let components = self.pca_components();
        if self.data.stream.is_none() {
            return Ok(pca_sparse(&self.data.x, components)?.scores);
        }
        let n = self.n_cells();
        let mut fit_rows = vec![false; n];
        for i in subsample_indices(n, PCA_FIT_CELLS, self.run.config.train.seed) {
            fit_rows[i] = true;
        }
        let mut sample: Vec<CsrMatrix> = Vec::new();
        for_each_block(&self.data, EMBED_BATCH, &mut |start, block| {
            let rows: Vec<usize> = (0..block.n_rows).filter(|&i| fit_rows[start + i]).collect();
            sample.push(block.select_rows(&rows));
            Ok(())
        })?;
        let sample = CsrMatrix::vstack(&sample, self.data.genes.len());
        let k = components.min(sample.n_rows);
        let pca = pca_sparse(&sample, k)?.pca;
        let mut scores = Array2::<f32>::zeros((n, k));
        for_each_block(&self.data, EMBED_BATCH, &mut |start, block| {
            scores
                .slice_mut(ndarray::s![start..start + block.n_rows, ..])
                .assign(&pca.transform_sparse(block));
            Ok(())
        })?;
        Ok(scores)
    }

    /// Per-gene reconstruction of the validation cells (read in one pass when streamed).
    pub fn reconstruction(
        &self,
        ae: &Autoencoder,
        split: &Split,
    ) -> anyhow::Result<Reconstruction> {
        let held_out = validation(&self.data, &split.train, &split.val)?;
        reconstruct(ae, &held_out.x, &held_out.rows)
    }

    /// The embedding of every cell, from the cache when it is newer than the checkpoint.
    pub fn embedding(&self, progress: &mut dyn FnMut(usize, usize)) -> anyhow::Result<Array2<f32>> {
        let cache = self.run.dir.join(EMBEDDING_CACHE);
        if self.own_data
            && let Some(z) = read_cache(&cache, &checkpoint_path(&self.run.dir)?)
            && z.dim() == (self.n_cells(), self.run.encoder.latent)
        {
            progress(z.nrows(), z.nrows());
            return Ok(z);
        }
        let z = embed_with_progress(&self.run, &self.data, progress)?;
        if self.own_data
            && let Err(e) = write_cache(&cache, z.view())
        {
            tracing::warn!("{}: cannot cache the embedding: {e}", cache.display());
        }
        Ok(z)
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The checkpoint `load_run` uses: best, else last.
fn checkpoint_path(run_dir: &Path) -> anyhow::Result<PathBuf> {
    [BEST_CHECKPOINT, LAST_CHECKPOINT]
        .iter()
        .map(|n| run_dir.join(n))
        .find(|p| p.exists())
        .ok_or_else(|| anyhow::anyhow!("{}: no checkpoint", run_dir.display()))
}

/// Embeds every cell in batches (eval mode), block by block when the data is streamed,
/// reporting (done, total) after each batch.
pub fn embed_with_progress(
    run: &LoadedRun,
    data: &TrainData,
    progress: &mut dyn FnMut(usize, usize),
) -> anyhow::Result<Array2<f32>> {
    let n = data.n_cells();
    let mut z = Array2::<f32>::zeros((n, run.encoder.latent));
    for_each_block(data, EMBED_BATCH, &mut |start, block| {
        let part = run.encoder.embed(block, EMBED_BATCH)?;
        z.slice_mut(ndarray::s![start..start + block.n_rows, ..])
            .assign(&part);
        progress(start + block.n_rows, n);
        Ok(())
    })?;
    Ok(z)
}

/// Reads a cached embedding unless it is missing, malformed or older than `checkpoint`.
fn read_cache(cache: &Path, checkpoint: &Path) -> Option<Array2<f32>> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(cache)? < modified(checkpoint)? {
        return None;
    }
    let bytes = std::fs::read(cache).ok()?;
    let header = bytes.get(..24)?;
    if &header[..8] != CACHE_MAGIC {
        return None;
    }
    let n = u64::from_le_bytes(header[8..16].try_into().ok()?) as usize;
    let d = u64::from_le_bytes(header[16..24].try_into().ok()?) as usize;
    let body = bytes.get(24..)?;
    if body.len() != n.checked_mul(d)?.checked_mul(4)? {
        return None;
    }
    let values = body
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Array2::from_shape_vec((n, d), values).ok()
}

/// Writes the embedding cache: magic, rows and columns (u64 LE), then f32 LE row-major.
fn write_cache(cache: &Path, z: ArrayView2<f32>) -> anyhow::Result<()> {
    let mut bytes = Vec::with_capacity(24 + z.len() * 4);
    bytes.extend_from_slice(CACHE_MAGIC);
    bytes.extend_from_slice(&(z.nrows() as u64).to_le_bytes());
    bytes.extend_from_slice(&(z.ncols() as u64).to_le_bytes());
    z.iter()
        .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
    crate::train::checkpoint::write_atomic(cache, &bytes)?;
    Ok(())
}

/// The label column to score against: the named one, else a usual cell-type column name.
pub fn label_column<'a>(obs: &'a [Column], name: Option<&str>) -> anyhow::Result<&'a Column> {
    const USUAL: [&str; 6] = [
        "cell_type",
        "celltype",
        "cell_type_original",
        "louvain",
        "labels",
        "bulk_labels",
    ];
    match name {
        Some(n) => obs.iter().find(|c| c.name == n).ok_or_else(|| {
            let names: Vec<&str> = obs.iter().map(|c| c.name.as_str()).collect();
            anyhow::anyhow!("no obs column {n:?} (columns: {})", names.join(", "))
        }),
        None => USUAL
            .iter()
            .find_map(|u| obs.iter().find(|c| c.name == *u))
            .ok_or_else(|| anyhow::anyhow!("no cell-type column found; choose one with --label")),
    }
}

/// Clustering agreement with the labels of one embedding.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EmbeddingScores {
    /// ARI and NMI of k-means clusters against the labels (None: undefined, e.g. one class).
    pub kmeans_ari: Option<f64>,
    pub kmeans_nmi: Option<f64>,
    /// ARI and NMI of Leiden clusters on the kNN graph.
    pub leiden_ari: Option<f64>,
    pub leiden_nmi: Option<f64>,
    pub leiden_clusters: usize,
    /// Cell-type silhouette rescaled to [0, 1] (scIB); None unless 2 <= classes <= cells - 1.
    pub asw: Option<f64>,
}

/// Clusters of one embedding (per cell).
#[derive(Debug, Clone)]
pub struct Clusters {
    pub kmeans: Vec<usize>,
    pub leiden: Vec<usize>,
}

/// k-means with the configured k and Leiden on the UMAP-weighted kNN graph.
pub fn cluster(z: ArrayView2<f32>, config: &Config, seed: u64) -> anyhow::Result<Clusters> {
    let a = &config.analysis;
    let k = a.kmeans_k.clamp(1, z.nrows().max(1));
    let km = kmeans(z, KMeansParams::new(k, seed))?;
    let graph = umap_connectivities(&knn_self(z, a.graph_k.min(z.nrows().saturating_sub(1))));
    let leiden = leiden(&graph, LeidenParams::new(a.leiden_resolution, seed));
    Ok(Clusters {
        kmeans: km.labels,
        leiden,
    })
}

/// Scores an embedding's clusters and silhouette against labels (unlabelled cells left out).
pub fn score(
    z: ArrayView2<f32>,
    clusters: &Clusters,
    labels: &[Option<usize>],
    config: &Config,
) -> anyhow::Result<EmbeddingScores> {
    let known: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
    anyhow::ensure!(known.len() >= 2, "fewer than two labelled cells");
    let truth: Vec<usize> = known.iter().filter_map(|&i| labels[i]).collect();
    let pick = |c: &[usize]| known.iter().map(|&i| c[i]).collect::<Vec<_>>();
    let (km, ld) = (pick(&clusters.kmeans), pick(&clusters.leiden));
    let sub = subsample_indices(known.len(), ASW_MAX_CELLS, config.train.seed);
    let zs = select_rows(z, &sub.iter().map(|&i| known[i]).collect::<Vec<_>>());
    let sub_truth: Vec<usize> = sub.iter().map(|&i| truth[i]).collect();
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
    Ok(EmbeddingScores {
        kmeans_ari: finite(adjusted_rand_score(&truth, &km)),
        kmeans_nmi: finite(normalized_mutual_info_score(&truth, &km)),
        leiden_ari: finite(adjusted_rand_score(&truth, &ld)),
        leiden_nmi: finite(normalized_mutual_info_score(&truth, &ld)),
        leiden_clusters: clusters.leiden.iter().max().map_or(0, |m| m + 1),
        asw: finite(cell_type_asw(zs.view(), &sub_truth)),
    })
}

/// The SSL embedding and the PCA baseline scored against one label column.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabelScores {
    pub label: String,
    pub n_labels: usize,
    /// Axes of the PCA baseline.
    pub pca_components: usize,
    /// Clustering agreement (k-means, Leiden, silhouette).
    pub ssl: EmbeddingScores,
    pub pca: EmbeddingScores,
    /// Cross-validated kNN and logistic-probe prediction, SSL paired with PCA (its fields sit at
    /// the top level of eval.json); None when there are not two classes to predict.
    #[serde(flatten)]
    pub prediction: Option<LabelPrediction>,
    /// Why `prediction` is missing, if it is.
    pub prediction_note: Option<String>,
}

/// Scores the embedding `z` (clustered as `clusters`) and the PCA baseline of the same cells
/// against the label column `col`.
pub fn label_scores(
    input: &EvalInput,
    z: ArrayView2<f32>,
    clusters: &Clusters,
    col: &Column,
) -> anyhow::Result<LabelScores> {
    let config = &input.run.config;
    let (labels, names) = col
        .as_labels()
        .ok_or_else(|| anyhow::anyhow!("obs column {:?} holds numbers, not labels", col.name))?;
    let p = input.pca_baseline()?;
    let pca_clusters = cluster(p.view(), config, config.train.seed)?;
    let (prediction, prediction_note) = match cross_validate(z, p.view(), &labels, &names, config) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    Ok(LabelScores {
        label: col.name.clone(),
        n_labels: names.len(),
        pca_components: p.ncols(),
        ssl: score(z, clusters, &labels, config)?,
        pca: score(p.view(), &pca_clusters, &labels, config)?,
        prediction,
        prediction_note,
    })
}

/// The autoencoder of a masked run with its checkpoint's weights, or None for contrastive runs.
pub fn load_autoencoder(run: &LoadedRun) -> anyhow::Result<Option<Autoencoder>> {
    if !Method::parse(&run.config.train.method)?.is_masked() {
        return Ok(None);
    }
    let init = crate::train::path::model_init(&run.config.model, 0)?;
    let ae = Autoencoder::build(&run.config.model, run.genes.len(), init)?;
    let tensors = read_checkpoint(&checkpoint_path(&run.dir)?)?.tensors;
    ae.params.import(&tensors, "")?;
    Ok(Some(ae))
}

/// Per-gene reconstruction of the given cells (eval mode), in batches.
pub fn reconstruct(
    ae: &Autoencoder,
    x: &CsrMatrix,
    cells: &[usize],
) -> anyhow::Result<Reconstruction> {
    let mut acc = ReconAccumulator::new(x.n_cols);
    for_each_reconstruction(ae, x, cells, &mut |_, y, yhat| Ok(acc.add(y, yhat)?))?;
    acc.finish()
        .ok_or_else(|| anyhow::anyhow!("no held-out cells to reconstruct"))
}

/// A batch of cells handed to [`for_each_reconstruction`]'s visitor: the cells, their input and
/// their reconstruction (cells x genes).
pub type ReconstructionVisitor<'a> =
    dyn FnMut(&[usize], ArrayView2<f32>, ArrayView2<f32>) -> anyhow::Result<()> + 'a;

/// Runs the autoencoder (eval mode) on the given cells in batches and hands each batch to `visit`.
pub fn for_each_reconstruction(
    ae: &Autoencoder,
    x: &CsrMatrix,
    cells: &[usize],
    visit: &mut ReconstructionVisitor,
) -> anyhow::Result<()> {
    let g = x.n_cols;
    let mut buf = vec![0f32; EMBED_BATCH.min(cells.len().max(1)) * g];
    for chunk in cells.chunks(EMBED_BATCH) {
        let dense = &mut buf[..chunk.len() * g];
        x.densify_rows(chunk, dense);
        let t = Tensor::from_slice(
            dense,
            (chunk.len(), g),
            ae.encoder.mlp.layers[0].weight.device(),
        )?;
        let yhat = crate::model::kernels::to_vec(&ae.forward(&t, None)?)?;
        let y = ArrayView2::from_shape((chunk.len(), g), &*dense)?;
        let yhat = ArrayView2::from_shape((chunk.len(), g), &yhat)?;
        visit(chunk, y, yhat)?;
    }
    Ok(())
}

/// Everything `cellscope eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub run: PathBuf,
    pub data: PathBuf,
    pub n_cells: usize,
    pub n_genes: usize,
    pub latent: usize,
    /// Label column, PCA baseline, clustering and cross-validated prediction figures.
    #[serde(flatten)]
    pub scores: LabelScores,
    /// Held-out reconstruction (masked runs only).
    pub reconstruction: Option<ReconSummary>,
    /// Why reconstruction is missing, if it is.
    pub reconstruction_note: Option<String>,
}

/// Overall and per-gene reconstruction figures with gene names.
#[derive(Debug, Clone, Serialize)]
pub struct ReconSummary {
    pub n_cells: usize,
    pub ev_weighted: f64,
    pub ev_uniform: f64,
    pub mse: f64,
    pub genes: Vec<GeneRecon>,
}

/// One gene's reconstruction on held-out cells.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GeneRecon {
    pub gene: String,
    pub mse: f64,
    pub pearson: Option<f64>,
    pub explained_variance: f64,
}

impl ReconSummary {
    /// Names the per-gene figures.
    pub fn new(r: &Reconstruction, genes: &[String]) -> Self {
        Self {
            n_cells: r.n_cells,
            ev_weighted: r.ev_weighted,
            ev_uniform: r.ev_uniform,
            mse: r.mse_overall,
            genes: genes
                .iter()
                .enumerate()
                .map(|(i, g)| GeneRecon {
                    gene: g.clone(),
                    mse: r.mse[i],
                    pearson: r.pearson[i],
                    explained_variance: r.explained_variance[i],
                })
                .collect(),
        }
    }
}

/// Runs the whole evaluation: embedding, PCA baseline, clusters, metrics, reconstruction.
pub fn evaluate(
    input: &EvalInput,
    label: Option<&str>,
    progress: &mut dyn FnMut(usize, usize),
) -> anyhow::Result<EvalReport> {
    let config = &input.run.config;
    let col = label_column(&input.data.obs, label)?;
    let z = input.embedding(progress)?;
    let clusters = cluster(z.view(), config, config.train.seed)?;
    let scores = label_scores(input, z.view(), &clusters, col)?;
    let (reconstruction, reconstruction_note) = match load_autoencoder(&input.run)? {
        Some(ae) => {
            let r = input.reconstruction(&ae, &input.split()?)?;
            (Some(ReconSummary::new(&r, &input.data.genes)), None)
        }
        None => (
            None,
            Some(format!(
                "reconstruction does not apply: {} is a contrastive method (no decoder)",
                config.train.method
            )),
        ),
    };
    Ok(EvalReport {
        run: input.run.dir.clone(),
        data: input.data.path.clone(),
        n_cells: input.n_cells(),
        n_genes: input.data.genes.len(),
        latent: input.run.encoder.latent,
        scores,
        reconstruction,
        reconstruction_note,
    })
}

/// The 2-D views of an embedding: its first two principal components and a t-SNE layout.
pub fn views_2d(z: ArrayView2<f32>, config: &Config) -> anyhow::Result<(Array2<f32>, Array2<f32>)> {
    let pca = pca_2d(z)?;
    let t = tsne(
        z,
        TsneParams::new(config.analysis.layout_max_cells, config.train.seed),
    )?;
    Ok((pca, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::tests::random_points;

    #[test]
    fn the_cache_round_trips_and_is_stale_when_the_checkpoint_is_newer() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, ckpt) = (dir.path().join("e.bin"), dir.path().join("c"));
        std::fs::write(&ckpt, b"x").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let z = random_points(7, 3, 1);
        write_cache(&cache, z.view()).unwrap();
        assert_eq!(read_cache(&cache, &ckpt), Some(z));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&ckpt, b"y").unwrap();
        assert_eq!(read_cache(&cache, &ckpt), None);
    }

    #[test]
    fn label_column_prefers_the_named_one_and_explains_a_missing_one() {
        use crate::data::ColumnValues;
        let col = |n: &str| Column {
            name: n.into(),
            values: ColumnValues::Categorical {
                codes: vec![0],
                categories: vec!["a".into()],
            },
        };
        let obs = vec![col("donor"), col("cell_type")];
        assert_eq!(label_column(&obs, None).unwrap().name, "cell_type");
        assert_eq!(label_column(&obs, Some("donor")).unwrap().name, "donor");
        let e = label_column(&obs, Some("x")).unwrap_err().to_string();
        assert!(e.contains("donor, cell_type"), "{e}");
    }

    fn scores_for(labels: &[Option<usize>]) -> EmbeddingScores {
        let n = labels.len();
        let z = random_points(n, 3, 4);
        let clusters = Clusters {
            kmeans: (0..n).map(|i| i % 2).collect(),
            leiden: (0..n).map(|i| i % 3).collect(),
        };
        score(z.view(), &clusters, labels, &Config::default()).unwrap()
    }

    fn assert_no_nan(s: &EmbeddingScores) {
        for v in [
            s.kmeans_ari,
            s.kmeans_nmi,
            s.leiden_ari,
            s.leiden_nmi,
            s.asw,
        ]
        .into_iter()
        .flatten()
        {
            assert!(v.is_finite(), "{s:?}");
        }
    }

    #[test]
    fn a_single_class_or_one_cell_per_class_gives_no_nan() {
        let single = scores_for(&[Some(0); 12]);
        assert_no_nan(&single);
        assert_eq!(single.asw, None, "silhouette is undefined for one class");
        assert_eq!(single.kmeans_ari, Some(0.0));
        let distinct: Vec<Option<usize>> = (0..12).map(Some).collect();
        let each = scores_for(&distinct);
        assert_no_nan(&each);
        assert_eq!(each.asw, None, "silhouette is undefined for singletons");
        assert_eq!(each.kmeans_nmi.map(|v| v > 0.0), Some(true));
    }
}
