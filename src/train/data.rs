//! The data a run trains on: the dataset read and preprocessed as the settings say, in memory or
//! streamed from the file when it exceeds the memory budget.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::data::{Column, CsrMatrix};
use crate::train::stream::{Streamed, load_streamed, should_stream};

/// Preprocessed training data: normalised, log1p expression with its gene order.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// Cells x genes, normalize_total + log1p.
    pub x: CsrMatrix,
    /// Gene names in column order (the model's gene order).
    pub genes: Vec<String>,
    /// Cell annotations (for splitting by a column such as donor).
    pub obs: Vec<Column>,
    /// The file the data came from (recorded in the run directory).
    pub path: PathBuf,
    /// Set when X exceeds `data.memory_budget_mb`: batches stream from `path` (`x` is empty).
    pub stream: Option<Streamed>,
}

impl TrainData {
    /// Reads a dataset and preprocesses it as `[data]`/`[preprocess]` say; with `genes` (a
    /// resumed run's gene order) the data is mapped onto those genes instead of selecting HVGs.
    pub fn load(path: &Path, config: &Config, genes: Option<&[String]>) -> anyhow::Result<Self> {
        if should_stream(path, config)? {
            return load_streamed(path, config, genes);
        }
        let dataset = crate::data::read_dataset(path, &config.data.matrix)?;
        let prepared = crate::data::prepare(&dataset, &config.preprocess, genes)?;
        for note in &prepared.notes {
            tracing::info!("{}: {note}", path.display());
        }
        Ok(Self {
            x: prepared.x,
            genes: prepared.genes,
            obs: dataset.obs,
            path: path.to_path_buf(),
            stream: None,
        })
    }

    /// Number of cells (streamed or in memory).
    pub fn n_cells(&self) -> usize {
        self.stream.as_ref().map_or(self.x.n_rows, |s| s.n_rows)
    }
}
