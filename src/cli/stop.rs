//! `cellscope stop RUN`: ask a detached run to stop gracefully.

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Run directory.
    pub run: PathBuf,
}

pub fn run(_args: StopArgs) -> anyhow::Result<()> {
    anyhow::bail!("`stop` is not built yet")
}
