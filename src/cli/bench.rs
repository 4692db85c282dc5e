//! `cellscope bench <what> [--json]`: prints throughput and latency figures.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

use crate::config::Config;
use crate::data::synthetic::log_normalised_cells;
use crate::train::Method;
use crate::train::bench::{Throughput, measure, measure_embedding};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    pub what: BenchKind,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
    /// Dataset for `bench prep` (default: synth_200000.h5ad in $CELLSCOPE_BENCH_DIR).
    #[arg(long)]
    pub file: Option<PathBuf>,
}

/// The benchmarks.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BenchKind {
    /// Training cells/s and GFLOP/s per method on synthetic data.
    Train,
    /// Embedding cells/s of the configured encoder where `model.device`/`model.path` put it.
    Embed,
    /// Frame time and key-to-screen latency of the UI.
    Ui,
    /// Embed, lay out and cluster 50,000 cells.
    Analysis,
    /// Load/stream time, training cells/s and peak RSS at 50k-1M cells.
    Scale,
    /// Read, HVG + normalize + log1p, PCA-50 and k-means on a real file (scanpy's usual start).
    Prep,
}

pub fn run(args: BenchArgs, config: &Config) -> anyhow::Result<()> {
    match args.what {
        BenchKind::Train => bench_train(args.json, config),
        BenchKind::Embed => bench_embed(args.json, config),
        BenchKind::Ui => ui(args.json, config),
        BenchKind::Analysis => {
            println!("{}", crate::analysis::bench::run(config, args.json)?);
            Ok(())
        }
        BenchKind::Scale => {
            println!("{}", crate::train::scale::run(args.json, config)?);
            Ok(())
        }
        BenchKind::Prep => prep(args.file, args.json, config),
    }
}

/// `bench prep`: the preprocessing pipeline on a file (see `analysis::bench_prep`).
fn prep(file: Option<PathBuf>, json: bool, config: &Config) -> anyhow::Result<()> {
    let file = file.unwrap_or_else(|| crate::train::scale::bench_dir().join("synth_200000.h5ad"));
    anyhow::ensure!(
        file.is_file(),
        "{}: no such file; write it with `python3 scripts/synth_h5ad.py --n-cells 200000 \
         --n-genes 2000 --out {}` or pass --file",
        file.display(),
        file.display()
    );
    let steps = crate::analysis::bench_prep::measure_prep(&file, config)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&steps)?);
    } else {
        let title = format!("preprocessing pipeline on {}", file.display());
        print!("{}", crate::analysis::bench::format_steps(&title, &steps));
    }
    Ok(())
}

/// Synthetic benchmark data: cells x genes of the reference set-up.
const BENCH_CELLS: usize = 8192;
const BENCH_GENES: usize = 2000;

fn bench_train(json: bool, config: &Config) -> anyhow::Result<()> {
    let mut config = config.clone();
    config.train.batch_size = 256;
    let threads = match config.train.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let (x, _) = log_normalised_cells(BENCH_CELLS, BENCH_GENES, 8, 0);
    let mut results: Vec<Throughput> = Vec::new();
    for method in [
        Method::Masked,
        Method::Gp,
        Method::GpTf,
        Method::Byol,
        Method::Barlow,
    ] {
        let r = pool.install(|| measure(&config, method, &x, 5, 40))?;
        if !json {
            println!(
                "{:<7} {:>9.0} cells/s  {:>6.1} GFLOP/s  {:>6.1} ms/step median (mean: batch {:.1}, forward {:.1}, backward {:.1}, optimiser {:.1})  {} params, {} threads",
                r.method,
                r.cells_per_sec,
                r.gflops_per_sec,
                r.ms_per_step,
                r.ms_batch,
                r.ms_forward,
                r.ms_backward,
                r.ms_optimizer,
                r.n_params,
                r.threads
            );
        }
        results.push(r);
    }
    let embed = pool.install(|| measure_embedding(&config, &x))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "cells": BENCH_CELLS, "genes": BENCH_GENES, "results": results,
                "embed_cells_per_sec": embed,
            }))?
        );
    } else {
        println!("embed   {embed:>9.0} cells/s  (encoder, eval mode, batches of 1024)");
    }
    Ok(())
}

/// `bench embed`: [`measure_embedding`] on synthetic cells, with the path and device used.
fn bench_embed(json: bool, config: &Config) -> anyhow::Result<()> {
    let choice = crate::train::path::PathChoice::resolve(&config.model)?;
    let (x, _) = log_normalised_cells(4 * BENCH_CELLS, BENCH_GENES, 8, 0);
    let rate = measure_embedding(config, &x)?;
    let device = crate::train::path::device_name(&choice.device);
    if json {
        let path = choice.path.name();
        let figures =
            serde_json::json!({"embed_cells_per_sec": rate, "device": device, "path": path});
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "embed {rate:.0} cells/s on {device} ({} path)",
            choice.path.name()
        );
    }
    Ok(())
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
        "Embeddings pane, {} points at {}x{}: frame median {:.2} ms, p95 {:.2} ms; re-binning after \
         a zoom/pan/colour key median {:.2} ms, p95 {:.2} ms",
        r.scatter_points,
        r.width,
        r.height,
        r.scatter_frame_median_ms,
        r.scatter_frame_p95_ms,
        r.scatter_rebin_median_ms,
        r.scatter_rebin_p95_ms
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
