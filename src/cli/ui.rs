//! `cellscope [FILE]`: opens the terminal UI (or explains why not when stdout is no terminal).

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::config::Config;
use crate::tui;

pub fn run(file: Option<PathBuf>, config: Config) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the UI needs a terminal (stdin/stdout are not a TTY); use the headless commands: \
             cellscope info FILE, cellscope train FILE, cellscope eval RUN, cellscope --help"
        );
    }
    tui::run(super::dataset_or_demo(file), config)
}
