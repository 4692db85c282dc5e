//! `cellscope eval RUN [--data FILE] [--label COL] [--json]`.

use clap::Args;
use std::path::PathBuf;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run directory.
    pub run: PathBuf,
    /// Dataset to evaluate on; the run's training data when omitted.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// obs column with the reference labels.
    #[arg(long)]
    pub label: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: EvalArgs, _config: &Config) -> anyhow::Result<()> {
    anyhow::bail!("`eval` is not built yet")
}
