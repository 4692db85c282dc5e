//! `cellscope [FILE]`: opens the terminal UI.

use std::path::PathBuf;

use crate::config::Config;

pub fn run(_file: Option<PathBuf>, _config: Config) -> anyhow::Result<()> {
    anyhow::bail!("the terminal UI is not built yet")
}
