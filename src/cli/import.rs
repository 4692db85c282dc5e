//! `cellscope import CHECKPOINT --genes GENES.txt [--kind ssl_in_scg|state-dict] [--out DIR]`:
//! a PyTorch checkpoint of an MLP encoder as a run directory.

use clap::Args;
use std::path::PathBuf;

use crate::config::Config;
use crate::torch::checkpoint::CheckpointKind;
use crate::torch::import::{ImportOptions, REFERENCE_BN_EPS, import_checkpoint};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// PyTorch checkpoint (.ckpt Lightning checkpoint or .pt state dict).
    pub checkpoint: PathBuf,
    /// The model's gene order, one name per line (as many as the first layer's inputs).
    #[arg(long)]
    pub genes: PathBuf,
    /// Checkpoint layout: ssl_in_scg (Lightning, weights under state_dict) or state-dict;
    /// detected when omitted.
    #[arg(long)]
    pub kind: Option<String>,
    /// Hidden-layer activation (selu, relu, gelu); from the checkpoint's hyper_parameters,
    /// else selu (the reference default).
    #[arg(long)]
    pub activation: Option<String>,
    /// Dropout rate used when fine-tuning; from the hyper_parameters, else 0.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// eps of the checkpoint's BatchNorm1d layers (not stored in a state dict).
    #[arg(long, default_value_t = REFERENCE_BN_EPS)]
    pub bn_eps: f64,
    /// Dataset recorded as the run's own (eval/embed/UI then need no --data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Directory that receives the run directory; `[train] out_dir` when omitted.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: ImportArgs, config: &Config) -> anyhow::Result<()> {
    let opts = ImportOptions {
        kind: args
            .kind
            .as_deref()
            .map(CheckpointKind::parse)
            .transpose()?,
        activation: args.activation,
        dropout: args.dropout,
        bn_eps: args.bn_eps,
        data: args.data,
        out_dir: args
            .out
            .unwrap_or_else(|| PathBuf::from(&config.train.out_dir)),
    };
    let done = import_checkpoint(&args.checkpoint, &args.genes, config, &opts)?;
    let l = &done.layout;
    println!(
        "imported {} ({} checkpoint, encoder {:?}): {} genes -> {:?} -> {}",
        args.checkpoint.display(),
        done.kind.name(),
        l.prefix.trim_end_matches('.'),
        l.n_genes(),
        l.hidden(),
        l.latent()
    );
    for note in &done.notes {
        println!("  {note}");
    }
    println!("run directory: {}", done.run_dir.display());
    Ok(())
}
