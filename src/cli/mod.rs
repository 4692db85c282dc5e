//! The command line: one thin file per subcommand (parse, call the library, print).
//! With no subcommand, `cellscope [FILE]` opens the terminal UI.

pub mod bench;
pub mod embed;
pub mod eval;
pub mod export;
pub mod import;
pub mod info;
pub mod plot;
pub mod runs;
pub mod stop;
pub mod sweep;
pub mod train;
pub mod transfer;
pub mod ui;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use crate::config::Config;

/// Self-supervised learning on single-cell RNA-seq, in the terminal.
#[derive(Debug, Parser)]
#[command(name = "cellscope", version)]
pub struct Cli {
    /// Dataset to open in the UI (.h5ad or Cell Ranger output); the bundled demo when omitted.
    pub file: Option<PathBuf>,
    /// Settings file layered over the defaults (see config.toml).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The headless subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarise a dataset: shape, encoding, counts vs normalised, obs columns, layers.
    Info(info::InfoArgs),
    /// Pretrain a model (masked autoencoder or contrastive) without the UI.
    Train(train::TrainArgs),
    /// Write a run's embedding, 2-D layout and clusters into a copy of the data (.h5ad).
    Embed(embed::EmbedArgs),
    /// Print a run's embedding, clustering and reconstruction metrics.
    Eval(eval::EvalArgs),
    /// Fine-tune on a labelled target dataset: pretrained vs from scratch vs zero-shot kNN.
    Transfer(transfer::TransferArgs),
    /// Measure throughput and latency figures.
    Bench(bench::BenchArgs),
    /// Write a run's figures (loss, embedding, scores, transfer) as SVG / PNG files.
    Plot(plot::PlotArgs),
    /// List the runs under a directory (the Runs pane's table), or compare two of them.
    Runs(runs::RunsArgs),
    /// Train and score every combination of methods, mask rates and seeds; one table.
    Sweep(sweep::SweepArgs),
    /// Ask a detached run to stop gracefully (finish the batch, checkpoint).
    Stop(stop::StopArgs),
    /// Make a run directory from a PyTorch checkpoint of an MLP encoder.
    Import(import::ImportArgs),
    /// Write a run's weights for another framework (`--format torch`).
    Export(export::ExportArgs),
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    if cli.command.is_some() {
        log_to_stderr();
    }
    let config = Config::load_or_default(cli.config.as_deref())?;
    match cli.command {
        None => ui::run(cli.file, config),
        Some(Command::Info(args)) => info::run(args, &config),
        Some(Command::Train(args)) => train::run(args, config),
        Some(Command::Embed(args)) => embed::run(args, &config),
        Some(Command::Eval(args)) => eval::run(args, &config),
        Some(Command::Transfer(args)) => transfer::run(args, &config),
        Some(Command::Bench(args)) => bench::run(args, &config),
        Some(Command::Plot(args)) => plot::run(args, &config),
        Some(Command::Runs(args)) => runs::run(args, &config),
        Some(Command::Sweep(args)) => sweep::run(args, &config),
        Some(Command::Stop(args)) => stop::run(args),
        Some(Command::Import(args)) => import::run(args, &config),
        Some(Command::Export(args)) => export::run(args),
    }
}

/// Headless commands log to stderr: warnings by default, the level `CELLSCOPE_LOG` names otherwise
/// (the UI logs to its file instead).
fn log_to_stderr() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CELLSCOPE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A second install (tests dispatching twice in one process) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}

/// The dataset a command works on: the given file or the bundled demo.
pub fn dataset_or_demo(file: Option<PathBuf>) -> PathBuf {
    file.unwrap_or_else(crate::demo_dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_goes_before_or_after_the_subcommand_and_a_file_opens_the_ui() {
        for argv in [
            ["cellscope", "--config", "c.toml", "train"],
            ["cellscope", "train", "--config", "c.toml"],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap();
            assert!(matches!(cli.command, Some(Command::Train(_))), "{argv:?}");
            assert_eq!(cli.config.as_deref(), Some(std::path::Path::new("c.toml")));
        }
        let cli = Cli::try_parse_from(["cellscope", "data.h5ad"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.file.as_deref(), Some(std::path::Path::new("data.h5ad")));
    }
}
