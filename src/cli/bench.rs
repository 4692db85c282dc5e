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
        BenchKind::Ui => ui(args.json, config),
        _ => anyhow::bail!("this benchmark is not built yet"),
    }
}

/// `bench ui`: frame time and key-to-screen latency (see `tui::bench`).
fn ui(json: bool, config: &Config) -> anyhow::Result<()> {
    let r = crate::tui::bench::measure(config)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "Train pane, {} loss points at {}x{}: frame median {:.2} ms, p95 {:.2} ms (target < 5 ms); \
         folding the points in took {:.1} ms",
        r.loss_points, r.width, r.height, r.frame_median_ms, r.frame_p95_ms, r.ingest_ms
    );
    println!(
        "key-to-screen over {} keys while a scripted run sends {} steps and {} threads spin: \
         median {:.1} ms, p95 {:.1} ms, max {:.1} ms (target < 50 ms)",
        r.keys,
        r.worker_events,
        r.busy_threads,
        r.key_to_screen_median_ms,
        r.key_to_screen_p95_ms,
        r.key_to_screen_max_ms
    );
    Ok(())
}
