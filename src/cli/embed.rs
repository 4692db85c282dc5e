//! `cellscope embed RUN [--data FILE] --out OUT.h5ad`.

use clap::Args;
use std::path::PathBuf;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Run directory.
    pub run: PathBuf,
    /// Dataset to embed; the run's training data when omitted.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output .h5ad (a copy of the data with obsm['X_cellscope']); never the input file.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(_args: EmbedArgs, _config: &Config) -> anyhow::Result<()> {
    anyhow::bail!("`embed` is not built yet")
}
