//! `cellscope export RUN --format torch [--out DIR]`: a run's weights and a torch.nn module.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

use crate::torch::export::{EXPORT_MODULE, EXPORT_WEIGHTS, export_torch};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// PyTorch: state dict (safetensors) + the Python module that loads it.
    Torch,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run directory.
    pub run: PathBuf,
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Output directory; RUN/export-torch when omitted.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let ExportFormat::Torch = args.format;
    let out = args.out.unwrap_or_else(|| args.run.join("export-torch"));
    let done = export_torch(&args.run, &out)?;
    println!(
        "wrote {}: {EXPORT_WEIGHTS} ({} tensors, {}), {EXPORT_MODULE}, genes.txt",
        done.dir.display(),
        done.n_tensors,
        if done.has_decoder {
            "encoder and decoder"
        } else {
            "encoder"
        }
    );
    Ok(())
}
