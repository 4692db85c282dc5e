//! `cellscope info FILE [--json]`.

use clap::Args;
use std::path::PathBuf;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Dataset (.h5ad, Cell Ranger .h5 or mtx folder); the bundled demo when omitted.
    pub file: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: InfoArgs, _config: &Config) -> anyhow::Result<()> {
    anyhow::bail!("`info` is not built yet")
}
