//! `cellscope bench <what> [--json]`: prints throughput and latency figures.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

use crate::bench::gemm::{GemmRate, TRAINING_SHAPES};
use crate::bench::train::{EMBED_BATCH, Throughput, measure, measure_embedding};
use crate::config::Config;
use crate::data::synthetic::log_normalised_cells;
use crate::model::matmul::{Kernels, Precision, SIMD_ENV, cpu_features, cpu_model};
use crate::train::Method;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    pub what: BenchKind,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
    /// Dataset for `bench prep` (default: synth_200000.h5ad in $CELLSCOPE_BENCH_DIR), or a
    /// float32 .npy matrix for `bench kmeans` (default: synthetic clusters).
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
    /// k-means, k = 10, on 200,000 x 50 points (or a float32 .npy given with --file).
    Kmeans,
}

pub fn run(args: BenchArgs, config: &Config) -> anyhow::Result<()> {
    match args.what {
        BenchKind::Train => bench_train(args.json, config),
        BenchKind::Embed => bench_embed(args.json, config),
        BenchKind::Ui => ui(args.json, config),
        BenchKind::Analysis => {
            println!("{}", crate::bench::analysis::run(config, args.json)?);
            Ok(())
        }
        BenchKind::Scale => {
            println!("{}", crate::bench::scale::run(args.json, config)?);
            Ok(())
        }
        BenchKind::Prep => prep(args.file, args.json, config),
        BenchKind::Kmeans => {
            let t = crate::bench::kmeans::measure(args.file.as_deref(), 3)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&t)?);
            } else {
                println!(
                    "k-means k = {} on {} x {}: {:.3} s (best of 3; {} iterations, inertia {:.6e}), {} threads",
                    t.k,
                    t.points,
                    t.dims,
                    t.seconds,
                    t.n_iter,
                    t.inertia,
                    rayon::current_num_threads()
                );
            }
            Ok(())
        }
    }
}

/// `bench prep`: the preprocessing pipeline on a file (see `bench::prep`).
fn prep(file: Option<PathBuf>, json: bool, config: &Config) -> anyhow::Result<()> {
    let file = file.unwrap_or_else(|| crate::bench::scale::bench_dir().join("synth_200000.h5ad"));
    anyhow::ensure!(
        file.is_file(),
        "{}: no such file; write it with `python3 scripts/synth_h5ad.py --n-cells 200000 \
         --n-genes 2000 --out {}` or pass --file",
        file.display(),
        file.display()
    );
    let steps = crate::bench::prep::measure_prep(&file, config)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&steps)?);
    } else {
        let title = format!("preprocessing pipeline on {}", file.display());
        print!("{}", crate::bench::analysis::format_steps(&title, &steps));
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
    let selected = Kernels::selected();
    let mut rates: Vec<GemmRate> = [Kernels::Auto, Kernels::Avx2]
        .into_iter()
        .map(|k| pool.install(|| crate::bench::gemm::measure(k, 5)))
        .collect();
    rates.extend(pool.install(|| crate::bench::gemm::measure_bf16(5)));
    if !json {
        println!(
            "CPU: {} ({}); {SIMD_ENV}={} -> {} kernels, {threads} threads",
            cpu_model(),
            cpu_features(),
            format!("{selected:?}").to_lowercase(),
            selected.instruction_set()
        );
        for r in &rates {
            let shapes: Vec<String> = TRAINING_SHAPES
                .iter()
                .zip(&r.per_shape)
                .map(|((m, k, n), g)| format!("{m}x{k}x{n} {g:.0}"))
                .collect();
            println!(
                "gemm    {:>6.1} GFLOP/s with {} kernels ({}): {}",
                r.gflops_per_sec,
                r.kernels,
                r.instruction_set,
                shapes.join(", ")
            );
        }
    }
    let mut results: Vec<Throughput> = Vec::new();
    // Each method's share is of the gemm rate measured just before it: a shared machine's rate
    // moves from minute to minute.
    let mut ceilings: Vec<f64> = Vec::new();
    let methods = [
        Method::Masked,
        Method::Gp,
        Method::GpTf,
        Method::Byol,
        Method::Barlow,
    ];
    // With AMX or AVX512-BF16, every method again with bf16 products, against the bf16 gemm rate.
    let precisions: &[Precision] = if Precision::Bf16.effective() == Precision::Bf16 {
        &[Precision::F32, Precision::Bf16]
    } else {
        &[Precision::F32]
    };
    for (&precision, method) in precisions
        .iter()
        .flat_map(|p| methods.iter().map(move |&m| (p, m)))
    {
        config.train.precision = precision;
        let ceiling = pool
            .install(|| match precision {
                Precision::Bf16 => crate::bench::gemm::measure_bf16(3),
                Precision::F32 => Some(crate::bench::gemm::measure(selected, 3)),
            })
            .map_or(f64::NAN, |r| r.gflops_per_sec);
        let r = pool.install(|| measure(&config, method, &x, 5, 40))?;
        if !json {
            println!(
                "{:<7} {:>4} {:>9.0} cells/s  {:>6.1} GFLOP/s ({:>3.0}% of gemm {:.0})  {:>6.1} ms/step median (mean: batch {:.1}, forward {:.1}, backward {:.1}, optimiser {:.1})  {} params",
                r.method,
                r.precision,
                r.cells_per_sec,
                r.gflops_per_sec,
                100.0 * r.gflops_per_sec / ceiling,
                ceiling,
                r.ms_per_step,
                r.ms_batch,
                r.ms_forward,
                r.ms_backward,
                r.ms_optimizer,
                r.n_params,
            );
        }
        results.push(r);
        ceilings.push(ceiling);
    }
    let embed = pool.install(|| measure_embedding(&config, &x))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "cells": BENCH_CELLS, "genes": BENCH_GENES, "results": results,
                "embed_cells_per_sec": embed, "cpu": cpu_model(), "cpu_features": cpu_features(),
                "kernels": selected.instruction_set(), "gemm": rates,
                "gemm_gflops_before_each_method": ceilings,
            }))?
        );
    } else {
        println!(
            "embed   {embed:>9.0} cells/s  (encoder, eval mode, batches of {EMBED_BATCH}, sparse input)"
        );
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
    let r = crate::bench::ui::measure(config)?;
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
