//! `cellscope transfer RUN --target FILE --label COL [--seeds N] [--json]`.

use clap::Args;
use std::path::PathBuf;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Run directory of the pretrained model.
    pub run: PathBuf,
    /// Labelled target dataset.
    #[arg(long)]
    pub target: PathBuf,
    /// obs column of the target with the cell labels.
    #[arg(long)]
    pub label: String,
    /// Seeds per arm.
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Two-column CSV mapping labels (from,to) before comparison.
    #[arg(long)]
    pub label_map: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: TransferArgs, _config: &Config) -> anyhow::Result<()> {
    anyhow::bail!("`transfer` is not built yet")
}
