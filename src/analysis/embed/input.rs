//! A run with its data mapped onto the model's genes: the embedding of every cell (cached), the
//! PCA baseline beside it, the held-out split and the autoencoder's reconstruction.

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use ndarray::{Array2, ArrayView2};

use super::cache::{EMBEDDING_CACHE, read_cache, write_cache};
use crate::analysis::knn::subsample_indices;
use crate::analysis::pca::pca_sparse;
use crate::analysis::recon::{ReconAccumulator, Reconstruction};
use crate::data::CsrMatrix;
use crate::model::Autoencoder;
use crate::train::checkpoint::read_checkpoint;
use crate::train::rundir::{BEST_CHECKPOINT, LAST_CHECKPOINT};
use crate::train::split::{Split, split_cells};
use crate::train::stream::{for_each_block, validation};
use crate::train::{LoadedRun, Method, TrainData, load_run};

/// Rows embedded per forward pass.
const EMBED_BATCH: usize = 4096;
/// Cells the PCA baseline of data larger than memory is fitted on.
const PCA_FIT_CELLS: usize = 50_000;

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
        anyhow::ensure!(
            data.is_some() || !run.dataset_path.as_os_str().is_empty(),
            "{}: the run names no dataset (imported without --data): pass --data FILE",
            run_dir.display()
        );
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

/// The autoencoder of a masked run with its checkpoint's weights, or None for contrastive runs
/// and runs without a decoder (imported encoders).
pub fn load_autoencoder(run: &LoadedRun) -> anyhow::Result<Option<Autoencoder>> {
    if !Method::parse(&run.config.train.method)?.is_masked() {
        return Ok(None);
    }
    let tensors = read_checkpoint(&checkpoint_path(&run.dir)?)?.tensors;
    if !tensors.keys().any(|k| k.starts_with("decoder.")) {
        return Ok(None);
    }
    let init = crate::train::path::model_init(&run.config.model, 0)?;
    let ae = Autoencoder::build(&run.config.model, run.genes.len(), init)?;
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
