//! `cellscope train [FILE] --method ...`: headless pretraining with one log line per epoch.

use clap::Args;
use std::path::PathBuf;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset to pretrain on; the bundled demo when omitted.
    pub file: Option<PathBuf>,
    /// Pretext task: masked, gp, gp-tf, byol or barlow.
    #[arg(long)]
    pub method: Option<String>,
    /// Number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Directory that receives the run directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// GMT file of gene programmes (gp, gp-tf).
    #[arg(long)]
    pub genes: Option<PathBuf>,
    /// Continue a run from its last checkpoint.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Run as a detached background process writing to its run directory.
    #[arg(long)]
    pub detach: bool,
}

pub fn run(_args: TrainArgs, _config: Config) -> anyhow::Result<()> {
    anyhow::bail!("`train` is not built yet")
}
