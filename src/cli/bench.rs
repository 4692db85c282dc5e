//! `cellscope bench <what> [--json]`: prints throughput and latency figures.

use clap::{Args, ValueEnum};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    pub what: BenchKind,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

/// The benchmarks.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BenchKind {
    /// Training cells/s and GFLOP/s per method on synthetic data.
    Train,
    /// Frame time and key-to-screen latency of the UI.
    Ui,
    /// Embed, lay out and cluster 50,000 cells.
    Analysis,
    /// Load/stream time, training cells/s and peak RSS at 50k-1M cells.
    Scale,
}

pub fn run(args: BenchArgs, config: &Config) -> anyhow::Result<()> {
    match args.what {
        BenchKind::Analysis => {
            println!(
                "{}",
                crate::analysis::bench::run(&config.analysis, args.json)?
            );
            Ok(())
        }
        _ => anyhow::bail!("this benchmark is not built yet"),
    }
}
