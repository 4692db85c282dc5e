//! Where training batches come from: the in-memory matrix or row blocks streamed from the
//! `.h5ad` (out-of-core), both visiting blocks in the same seeded order so losses agree.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};

use crate::config::Config;
use crate::data::h5ad::H5adFile;
use crate::data::preprocess::PrepPlan;
use crate::data::stream::{BlockReader, H5adBlocks, block_ranges};
use crate::data::{Column, CsrMatrix};
use crate::train::data::TrainData;
use crate::train::method::gene_means;

/// A dataset too large for the memory budget: its preprocessing plan, applied per block.
#[derive(Debug, Clone)]
pub struct Streamed {
    /// Cells in the file.
    pub n_rows: usize,
    /// Rows per block read from the file.
    pub block_rows: usize,
    plan: Arc<PrepPlan>,
}

/// Whether `path` should be streamed: an `.h5ad` (or `.zarr` store) whose X (chosen,
/// row-readable) takes more memory than `data.memory_budget_mb`.
pub fn should_stream(path: &Path, config: &Config) -> anyhow::Result<bool> {
    let anndata =
        path.extension().is_some_and(|e| e == "h5ad") || crate::data::zarr::is_store(path);
    if !anndata || config.data.matrix != "X" {
        return Ok(false);
    }
    let (bytes, row_readable) = H5adFile::open(path)?.x_memory()?;
    let over = bytes > config.data.memory_budget_mb * (1 << 20);
    if over && !row_readable {
        tracing::warn!(
            "{}: X is CSC (no row access), so it is read into memory despite data.memory_budget_mb",
            path.display()
        );
    }
    Ok(over && row_readable)
}

/// Plans preprocessing with passes over the file's blocks and reads the cell annotations;
/// X itself stays on disk (`TrainData::x` is empty).
pub fn load_streamed(
    path: &Path,
    config: &Config,
    genes: Option<&[String]>,
) -> anyhow::Result<TrainData> {
    let file = H5adFile::open(path)?;
    anyhow::ensure!(
        file.n_obs() > 0,
        "{}: the matrix has no cells",
        path.display()
    );
    let block_rows = config.data.block_rows.max(1);
    let var_names = file.var_names(&crate::data::h5ad::MatrixChoice::X)?;
    let mut blocks = H5adBlocks::new(&file, block_rows);
    let plan = PrepPlan::scan(&mut blocks, &var_names, &config.preprocess, genes, path)?;
    for note in &plan.notes {
        tracing::info!("{}: {note}", path.display());
    }
    let obs: Vec<Column> = file.obs()?.columns;
    Ok(TrainData {
        x: Gather::default().finish(plan.genes.len()),
        genes: plan.genes.clone(),
        obs,
        path: PathBuf::from(path),
        stream: Some(Streamed {
            n_rows: file.n_obs(),
            block_rows,
            plan: Arc::new(plan),
        }),
    })
}

/// Visits the preprocessed data in row blocks, in row order: the streamed file's blocks (read
/// ahead on another thread), or slices of `block_rows` of the in-memory matrix.
pub fn for_each_block(
    data: &TrainData,
    block_rows: usize,
    f: &mut dyn FnMut(usize, &CsrMatrix) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Some(s) = &data.stream else {
        for range in block_ranges(data.x.n_rows, block_rows) {
            let start = range.start;
            f(start, &data.x.select_rows(&range.collect::<Vec<_>>()))?;
        }
        return Ok(());
    };
    let file = H5adFile::open(&data.path)?;
    let plan = s.plan.clone();
    let mut failure = None;
    let read = H5adBlocks::new(&file, s.block_rows).for_each_mapped(
        Arc::new(move |b| plan.apply(&b)),
        &mut |start, block| {
            f(start, block).map_err(|e| {
                let what = format!("{e:#}");
                failure = Some(e);
                crate::data::DataError::Invalid {
                    path: data.path.clone(),
                    what,
                }
            })
        },
    );
    match (failure, read) {
        (Some(e), _) => Err(e),
        (None, read) => Ok(read?),
    }
}

/// The training rows of one in-memory epoch: all of them in a seeded shuffled order, so every
/// batch is an i.i.d. draw from the whole dataset. (The same order as [`epoch_order`] with one
/// block spanning every row.)
pub fn shuffled_order(train: &[usize], seed: u64) -> Vec<usize> {
    let mut order = train.to_vec();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    order
}

/// The training rows of one streamed epoch: blocks of `block_rows` in a seeded shuffled order,
/// rows shuffled within each block (`train` ascending). A batch then draws from one or two
/// blocks only, which is what reading from disk in large sequential blocks costs.
pub fn epoch_order(train: &[usize], n_rows: usize, block_rows: usize, seed: u64) -> Vec<usize> {
    let b = block_rows.max(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut blocks: Vec<usize> = (0..n_rows.div_ceil(b)).collect();
    blocks.shuffle(&mut rng);
    let mut by_block: Vec<Vec<usize>> = vec![Vec::new(); blocks.len()];
    for &r in train {
        by_block[r / b].push(r);
    }
    let mut order = Vec::with_capacity(train.len());
    for k in blocks {
        let mut rows = std::mem::take(&mut by_block[k]);
        rows.shuffle(&mut rng);
        order.extend(rows);
    }
    order
}

/// Validation cells and the training cells' per-gene means (the reconstruction baseline).
pub struct Validation<'a> {
    /// A matrix holding the validation cells at `rows`.
    pub x: Cow<'a, CsrMatrix>,
    pub rows: Vec<usize>,
    pub gene_mean: Vec<f32>,
}

/// In memory: the data's own rows. Streamed: one pass keeps the validation cells (in `val`
/// order) and sums the training cells' genes, in row order like `gene_means`.
pub fn validation<'a>(
    data: &'a TrainData,
    train: &[usize],
    val: &[usize],
) -> anyhow::Result<Validation<'a>> {
    let Some(s) = &data.stream else {
        return Ok(Validation {
            x: Cow::Borrowed(&data.x),
            rows: val.to_vec(),
            gene_mean: gene_means(&data.x, train),
        });
    };
    // 1 = training, 2 = validation
    let mut role = vec![0u8; s.n_rows];
    train.iter().for_each(|&r| role[r] = 1);
    val.iter().for_each(|&r| role[r] = 2);
    let n_genes = data.genes.len();
    let mut sum = vec![0f64; n_genes];
    let mut kept = Gather::default();
    for_each_block(data, s.block_rows, &mut |start, block| {
        for i in 0..block.n_rows {
            match role[start + i] {
                1 => {
                    let (idx, v) = block.row(i);
                    idx.iter()
                        .zip(v)
                        .for_each(|(&j, &v)| sum[j as usize] += f64::from(v));
                }
                2 => kept.push(block, i),
                _ => {}
            }
        }
        Ok(())
    })?;
    let x = kept.finish(n_genes);
    let n = train.len().max(1) as f64;
    Ok(Validation {
        x: Cow::Owned(x),
        rows: (0..val.len()).collect(),
        gene_mean: sum.iter().map(|s| (s / n) as f32).collect(),
    })
}

/// Rows copied out of other matrices into a new CSR matrix.
#[derive(Default)]
struct Gather {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f32>,
}

impl Gather {
    fn push(&mut self, x: &CsrMatrix, i: usize) {
        if self.indptr.is_empty() {
            self.indptr.push(0);
        }
        let (idx, v) = x.row(i);
        self.indices.extend_from_slice(idx);
        self.data.extend_from_slice(v);
        self.indptr.push(self.data.len());
    }

    fn clear(&mut self) {
        self.indptr.clear();
        self.indices.clear();
        self.data.clear();
    }

    fn finish(self, n_cols: usize) -> CsrMatrix {
        let mut indptr = self.indptr;
        if indptr.is_empty() {
            indptr.push(0);
        }
        CsrMatrix {
            n_rows: indptr.len() - 1,
            n_cols,
            indptr,
            indices: self.indices,
            data: self.data,
        }
    }
}

/// The batches of one epoch: [`shuffled_order`] in memory, [`epoch_order`] when streamed.
pub enum Batches<'a> {
    Memory { x: &'a CsrMatrix, order: Vec<usize> },
    Stream(Box<BlockStream>),
}

/// Streamed batches: preprocessed blocks arrive in epoch order from the reader thread.
pub struct BlockStream {
    order: Vec<usize>,
    block_rows: usize,
    reader: BlockReader,
    /// Block ids still to arrive, in order.
    pending: VecDeque<usize>,
    /// Blocks held (at most those spanned by one batch).
    held: VecDeque<(usize, CsrMatrix)>,
    batch: CsrMatrix,
    local: Vec<usize>,
}

impl<'a> Batches<'a> {
    /// The batches of the epoch seeded by `seed` over the (ascending) `train` rows.
    pub fn new(data: &'a TrainData, train: &[usize], seed: u64) -> Self {
        let Some(s) = &data.stream else {
            return Self::Memory {
                x: &data.x,
                order: shuffled_order(train, seed),
            };
        };
        let order = epoch_order(train, s.n_rows, s.block_rows, seed);
        let mut pending: VecDeque<usize> = VecDeque::new();
        for &r in &order {
            let b = r / s.block_rows;
            if pending.back() != Some(&b) {
                pending.push_back(b);
            }
        }
        let ranges = block_ranges(s.n_rows, s.block_rows);
        let wanted = pending.iter().map(|&b| ranges[b].clone()).collect();
        let plan = s.plan.clone();
        let reader = BlockReader::spawn(&data.path, wanted, Arc::new(move |b| plan.apply(&b)));
        Self::Stream(Box::new(BlockStream {
            order,
            block_rows: s.block_rows,
            reader,
            pending,
            held: VecDeque::new(),
            batch: Gather::default().finish(data.genes.len()),
            local: Vec::new(),
        }))
    }

    /// The matrix and its rows for positions `range` of the epoch order.
    pub fn batch(
        &mut self,
        range: std::ops::Range<usize>,
    ) -> anyhow::Result<(&CsrMatrix, &[usize])> {
        match self {
            Self::Memory { x, order } => Ok((*x, &order[range])),
            Self::Stream(s) => s.batch(range),
        }
    }
}

impl BlockStream {
    fn batch(&mut self, range: std::ops::Range<usize>) -> anyhow::Result<(&CsrMatrix, &[usize])> {
        let rows = &self.order[range];
        let first = rows.first().map(|&r| r / self.block_rows);
        while self.held.front().is_some_and(|h| Some(h.0) != first) {
            self.held.pop_front();
        }
        let mut gather = Gather {
            indptr: std::mem::take(&mut self.batch.indptr),
            indices: std::mem::take(&mut self.batch.indices),
            data: std::mem::take(&mut self.batch.data),
        };
        gather.clear();
        for &r in rows {
            let b = r / self.block_rows;
            while !self.held.iter().any(|h| h.0 == b) {
                let id = self
                    .pending
                    .pop_front()
                    .ok_or_else(|| anyhow::anyhow!("block {b} was never read"))?;
                let block = self
                    .reader
                    .next_block()
                    .ok_or_else(|| anyhow::anyhow!("the block reader stopped early"))??;
                self.held.push_back((id, block));
            }
            if let Some((_, block)) = self.held.iter().find(|h| h.0 == b) {
                gather.push(block, r - b * self.block_rows);
            }
        }
        self.batch = gather.finish(self.batch.n_cols);
        self.local.clear();
        self.local.extend(0..rows.len());
        Ok((&self.batch, &self.local))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{TrainEvent, TrainJob, spawn};

    fn counts_file() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scanpy/counts.h5ad")
    }

    fn config(dir: &Path, budget_mb: u64) -> Config {
        let mut c = Config::default();
        c.data.memory_budget_mb = budget_mb;
        c.data.block_rows = 32;
        c.preprocess.n_top_genes = 100;
        c.model.hidden = vec![16, 8];
        c.model.latent = 4;
        c.train.epochs = crate::config::Epochs::Fixed(2);
        c.train.batch_size = 20;
        c.train.threads = 1;
        c.train.patience = 0;
        c.train.out_dir = dir.display().to_string();
        c
    }

    /// Step losses, then validation losses, of a whole run.
    fn losses(data: TrainData, config: Config) -> (Vec<f32>, Vec<f32>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        spawn(
            TrainJob {
                config,
                data,
                resume: None,
                run_dir: None,
                observer: None,
            },
            tx,
        )
        .join();
        let (mut steps, mut vals) = (Vec::new(), Vec::new());
        while let Ok(e) = rx.try_recv() {
            match e {
                TrainEvent::Step { loss, .. } => steps.push(loss),
                TrainEvent::EpochEnd { val_loss, .. } => vals.push(val_loss),
                TrainEvent::Failed { message } => panic!("{message}"),
                _ => {}
            }
        }
        (steps, vals)
    }

    #[test]
    fn streamed_training_with_one_block_matches_in_memory_training() {
        let dir = tempfile::tempdir().unwrap();
        let path = counts_file();
        let memory_cfg = config(dir.path(), 1 << 20);
        let mut stream_cfg = config(dir.path(), 0);
        // One block spans every row: streamed and in-memory orders then coincide.
        stream_cfg.data.block_rows = 512;
        assert!(!should_stream(&path, &memory_cfg).unwrap());
        assert!(should_stream(&path, &stream_cfg).unwrap());
        let in_memory = TrainData::load(&path, &memory_cfg, None).unwrap();
        let streamed = TrainData::load(&path, &stream_cfg, None).unwrap();
        assert!(in_memory.stream.is_none() && streamed.stream.is_some());
        assert_eq!(streamed.x.n_rows, 0, "streamed X stays on disk");
        assert_eq!(
            in_memory.genes, streamed.genes,
            "same HVGs from block passes"
        );
        assert_eq!(streamed.n_cells(), 300);
        let a = losses(in_memory, memory_cfg.clone());
        let b = losses(streamed, stream_cfg);
        assert_eq!(a.0.len(), 2 * (270 / 20));
        assert_eq!(a.1.len(), 2);
        assert_eq!(a, b);
        let mut reseeded = memory_cfg;
        reseeded.train.seed += 1;
        let data = TrainData::load(&path, &reseeded, None).unwrap();
        assert_ne!(
            losses(data, reseeded).0,
            a.0,
            "the losses depend on the order"
        );
    }

    #[test]
    fn in_memory_batches_draw_from_the_whole_dataset_and_streamed_ones_from_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = counts_file();
        let cfg = config(dir.path(), 1 << 20);
        let data = TrainData::load(&path, &cfg, None).unwrap();
        let train: Vec<usize> = (0..300).collect();
        let mut batches = Batches::new(&data, &train, 5);
        let (_, rows) = batches.batch(0..40).unwrap();
        let spanned = |rows: &[usize]| {
            let mut b: Vec<usize> = rows.iter().map(|r| r / 32).collect();
            b.sort_unstable();
            b.dedup();
            b.len()
        };
        assert!(
            spanned(rows) > 5,
            "40 i.i.d. rows of 300 span many 32-row blocks: {rows:?}"
        );
        let order = epoch_order(&train, 300, 32, 5);
        assert!(
            spanned(&order[..40]) <= 3,
            "streamed batches stay within blocks"
        );
    }

    #[test]
    fn epoch_order_keeps_blocks_together_and_every_row_once() {
        let train: Vec<usize> = (0..100).filter(|r| r % 7 != 0).collect();
        let order = epoch_order(&train, 100, 16, 3);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, train);
        let blocks: Vec<usize> = order.iter().map(|r| r / 16).collect();
        let changes = blocks.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(changes, 6, "7 blocks, each visited in one run");
        assert_ne!(order, epoch_order(&train, 100, 16, 4));
        assert_ne!(order, sorted);
    }
}
