//! `cellscope import`: a PyTorch checkpoint and its gene list become a normal run directory
//! (config with the inferred widths, activation and dropout and the reference preprocessing,
//! genes.txt, best.safetensors, summary.json with `imported_from`, a finished metrics.jsonl).

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::model::params::{Init, ParamStore};
use crate::model::{Activation, Encoder};
use crate::torch::checkpoint::{CheckpointKind, read_torch_checkpoint};
use crate::torch::layout::{EncoderLayout, encoder_tensors, find_encoder, likely_method};
use crate::train::checkpoint::{TrainState, write_checkpoint};
use crate::train::run_summary::{ImportDetails, ImportedLayer, RunSummary};
use crate::train::{RunDir, TrainEvent};

/// The reference models' preprocessing: counts normalised to 1e4 per cell, then log1p.
pub const REFERENCE_TARGET_SUM: f64 = 1e4;
/// The eps of the reference MLP's norm layers (BatchNorm's eps is not in the state dict).
pub const REFERENCE_BN_EPS: f64 = 1e-3;
/// The reference encoders' default activation, used when the checkpoint does not say.
const REFERENCE_ACTIVATION: &str = "selu";

/// What the user chose; `None` fields are read from the checkpoint or take reference defaults.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub kind: Option<CheckpointKind>,
    pub activation: Option<String>,
    pub dropout: Option<f64>,
    pub bn_eps: f64,
    /// The dataset recorded as the run's own (commands then need no `--data`).
    pub data: Option<PathBuf>,
    /// Directory that receives the run directory.
    pub out_dir: PathBuf,
}

/// A finished import.
#[derive(Debug)]
pub struct Imported {
    pub run_dir: PathBuf,
    pub layout: EncoderLayout,
    pub kind: CheckpointKind,
    /// What was assumed or left out, for the user.
    pub notes: Vec<String>,
}

/// Reads the gene list: one name per line, blank lines ignored, no duplicates.
pub fn read_gene_list(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the gene list: {e}", path.display()))?;
    let genes: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = genes.iter().find(|g| !seen.insert(g.as_str())) {
        anyhow::bail!("{}: gene {dup:?} is listed twice", path.display());
    }
    anyhow::ensure!(
        !genes.is_empty(),
        "{}: the gene list is empty",
        path.display()
    );
    Ok(genes)
}

/// Imports `checkpoint` with the gene order of `genes_file` on top of the settings `base`.
pub fn import_checkpoint(
    checkpoint: &Path,
    genes_file: &Path,
    base: &Config,
    opts: &ImportOptions,
) -> anyhow::Result<Imported> {
    let genes = read_gene_list(genes_file)?;
    let ckpt = read_torch_checkpoint(checkpoint, opts.kind)?;
    let layout = find_encoder(&ckpt.tensors)
        .map_err(|e| anyhow::anyhow!("{}: {e}", checkpoint.display()))?;
    anyhow::ensure!(
        layout.n_genes() == genes.len(),
        "{} lists {} genes, but the checkpoint's {}.weight takes {} inputs",
        genes_file.display(),
        genes.len(),
        layout.layers[0].name,
        layout.n_genes()
    );
    let mut notes = Vec::new();
    let (activation, from) = chosen(
        &opts.activation,
        &ckpt.hparams.activation,
        REFERENCE_ACTIVATION.to_string(),
    );
    Activation::parse(&activation)?;
    notes.push(format!("activation {activation} ({from})"));
    if activation == "gelu" {
        notes.push(
            "cellscope's GELU is the tanh approximation; torch's nn.GELU defaults to the exact one"
                .into(),
        );
    }
    let (dropout, from) = chosen(&opts.dropout, &ckpt.hparams.dropout, 0.0);
    notes.push(format!(
        "dropout {dropout} ({from}; applies to fine-tuning only)"
    ));
    if layout.has_batch_norm() {
        notes.push(format!(
            "BatchNorm1d (eval mode, eps {}) folded into the Linear layers",
            opts.bn_eps
        ));
    }
    notes.push(
        "the decoder is not imported (embedding, eval, transfer need only the encoder)".into(),
    );
    let method = likely_method(&ckpt.tensors);
    let mut config = base.clone();
    config.model.hidden = layout.hidden();
    config.model.latent = layout.latent();
    config.model.activation = activation.clone();
    config.model.dropout = dropout;
    config.preprocess.target_sum = REFERENCE_TARGET_SUM;
    config.preprocess.log1p = true;
    config.train.method = method.into();
    crate::config_check::check(&config).map_err(|e| {
        anyhow::anyhow!(
            "{}: the imported model does not fit cellscope's settings: {e}",
            checkpoint.display()
        )
    })?;
    let tensors = encoder_tensors(&layout, &ckpt.tensors, opts.bn_eps)?;
    // The weights must load into the encoder the run's config describes.
    let mut store = ParamStore::new();
    Encoder::new(
        &config.model,
        genes.len(),
        &mut store,
        &mut Init::new(0, candle_core::Device::Cpu),
    )?;
    store.import(&tensors, "")?;
    let named: Vec<_> = store
        .names()
        .iter()
        .map(|n| (n.clone(), tensors[n].0.clone(), tensors[n].1.clone()))
        .collect();

    let dataset = opts.data.clone().unwrap_or_default();
    let mut run = RunDir::create(&opts.out_dir, "imported", &config, &genes, &dataset)?;
    write_checkpoint(
        &run.file(crate::train::rundir::BEST_CHECKPOINT),
        &named,
        &TrainState::default(),
    )?;
    let source = std::path::absolute(checkpoint).unwrap_or_else(|_| checkpoint.to_path_buf());
    run.write_summary(&RunSummary {
        method: method.to_string(),
        dataset: opts.data.clone().unwrap_or_default(),
        n_genes: genes.len(),
        n_params: store.n_params(),
        imported_from: Some(source.display().to_string()),
        import: Some(ImportDetails {
            kind: ckpt.kind.name().into(),
            encoder_prefix: layout.prefix.clone(),
            layers: layout
                .layers
                .iter()
                .map(|l| ImportedLayer {
                    name: l.name.clone(),
                    n_in: l.n_in,
                    n_out: l.n_out,
                    batch_norm: l.batch_norm.clone(),
                })
                .collect(),
            notes: notes.clone(),
        }),
        ..RunSummary::default()
    })?;
    run.log_event(&TrainEvent::Log(format!(
        "imported from {}",
        source.display()
    )))?;
    run.log_event(&TrainEvent::Finished {
        run_dir: run.path.clone(),
        best_val_loss: f32::NAN,
        epochs_done: 0,
        stopped: false,
    })?;
    Ok(Imported {
        run_dir: run.path.clone(),
        layout,
        kind: ckpt.kind,
        notes,
    })
}

/// The user's value, else the checkpoint's, else the reference default, with where it came from.
fn chosen<T: Clone>(user: &Option<T>, checkpoint: &Option<T>, default: T) -> (T, &'static str) {
    match (user, checkpoint) {
        (Some(v), _) => (v.clone(), "as given"),
        (None, Some(v)) => (v.clone(), "from the checkpoint's hyper_parameters"),
        (None, None) => (default, "the reference default; not in the checkpoint"),
    }
}
