//! `cellscope export RUN --format torch`: the run's weights as a PyTorch state dict in
//! safetensors (`model.safetensors`, names as `torch.nn.Sequential` gives them: `encoder.0`,
//! `encoder.3`, ... for Linear, activation, Dropout per layer, the reference layout) and
//! `cellscope_model.py`, which builds the matching `torch.nn` module and loads them. candle
//! cannot write pickles; safetensors is cellscope's native format, loads without running code,
//! and the module reads it with torch alone (or writes a `.pt` with `torch.save`).

use std::path::{Path, PathBuf};

use crate::train::checkpoint::{TrainState, read_checkpoint, write_atomic, write_checkpoint};
use crate::train::load_run;
use crate::train::rundir::{BEST_CHECKPOINT, GENES_FILE, LAST_CHECKPOINT};

/// The exported weights, the module that loads them and the model's gene order.
pub const EXPORT_WEIGHTS: &str = "model.safetensors";
pub const EXPORT_MODULE: &str = "cellscope_model.py";

/// Modules per hidden layer in the exported `nn.Sequential`: Linear, activation, Dropout.
const MODULES_PER_LAYER: usize = 3;

/// What was written.
#[derive(Debug)]
pub struct Exported {
    pub dir: PathBuf,
    pub n_tensors: usize,
    pub has_decoder: bool,
}

/// A cellscope parameter name (`encoder.2.weight`) as the exported Sequential names it
/// (`encoder.6.weight`); None for parameters outside the encoder and decoder.
pub fn torch_name(name: &str) -> Option<String> {
    let (part, rest) = name.split_once('.')?;
    let (layer, param) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    matches!(part, "encoder" | "decoder")
        .then(|| format!("{part}.{}.{param}", layer * MODULES_PER_LAYER))
}

/// Writes the export of `run_dir` into `out` (created if needed).
pub fn export_torch(run_dir: &Path, out: &Path) -> anyhow::Result<Exported> {
    let run = load_run(run_dir)?;
    let ckpt = [BEST_CHECKPOINT, LAST_CHECKPOINT]
        .iter()
        .map(|n| run_dir.join(n))
        .find(|p| p.exists())
        .ok_or_else(|| anyhow::anyhow!("{}: no checkpoint", run_dir.display()))?;
    let mut tensors: Vec<_> = read_checkpoint(&ckpt)?
        .tensors
        .into_iter()
        .filter_map(|(name, (shape, values))| torch_name(&name).map(|n| (n, shape, values)))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let has_decoder = tensors.iter().any(|t| t.0.starts_with("decoder."));
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", out.display()))?;
    write_checkpoint(&out.join(EXPORT_WEIGHTS), &tensors, &TrainState::default())?;
    let model = &run.config.model;
    let activation = match model.activation.to_ascii_lowercase().as_str() {
        "selu" => "nn.SELU()",
        "relu" => "nn.ReLU()",
        "gelu" => "nn.GELU(approximate=\"tanh\")",
        _ => "nn.Identity()",
    };
    let module = MODULE_TEMPLATE
        .replace("{N_GENES}", &run.genes.len().to_string())
        .replace("{HIDDEN}", &format!("{:?}", model.hidden))
        .replace("{LATENT}", &model.latent.to_string())
        .replace("{ACTIVATION}", activation)
        .replace("{DROPOUT}", &model.dropout.to_string())
        .replace("{DECODER}", if has_decoder { "True" } else { "False" })
        .replace(
            "{TARGET_SUM}",
            &run.config.preprocess.target_sum.to_string(),
        )
        .replace(
            "{LOG1P}",
            if run.config.preprocess.log1p {
                "True"
            } else {
                "False"
            },
        )
        .replace("{RUN}", &run_dir.display().to_string());
    write_atomic(&out.join(EXPORT_MODULE), module.as_bytes())?;
    write_atomic(
        &out.join(GENES_FILE),
        (run.genes.join("\n") + "\n").as_bytes(),
    )?;
    Ok(Exported {
        dir: out.to_path_buf(),
        n_tensors: tensors.len(),
        has_decoder,
    })
}

/// The generated Python module; `{...}` fields are filled from the run's config.
const MODULE_TEMPLATE: &str = r#""""A cellscope model as a torch.nn module (exported from {RUN}).

    import cellscope_model
    model = cellscope_model.load("this/directory")   # eval mode
    z = model.encoder(x)   # x: cells x genes in genes.txt order, normalised as PREPROCESSING says

`python cellscope_model.py DIR model.pt` writes the state dict as a .pt file (torch.save).
"""

import json
import sys
from pathlib import Path

import torch
from torch import nn

N_GENES = {N_GENES}
HIDDEN = {HIDDEN}
LATENT = {LATENT}
DROPOUT = {DROPOUT}
HAS_DECODER = {DECODER}
PREPROCESSING = {"normalize_total_target_sum": {TARGET_SUM}, "log1p": {LOG1P}}


def mlp(dims):
    """Linear, activation, Dropout per hidden layer and a last Linear (the reference layout)."""
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i + 2 < len(dims):
            layers += [{ACTIVATION}, nn.Dropout(DROPOUT)]
    return nn.Sequential(*layers)


class CellscopeModel(nn.Module):
    """The encoder (genes -> hidden -> latent) and, for masked runs, the mirrored decoder."""

    def __init__(self):
        super().__init__()
        self.encoder = mlp([N_GENES, *HIDDEN, LATENT])
        if HAS_DECODER:
            self.decoder = mlp([LATENT, *reversed(HIDDEN), N_GENES])

    def forward(self, x):
        return self.encoder(x)


def read_safetensors(path):
    """The f32 tensors of a safetensors file, read with torch alone."""
    raw = Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name}: {info['dtype']}"
        start, end = info["data_offsets"]
        data = bytearray(raw[8 + n + start : 8 + n + end])
        tensors[name] = torch.frombuffer(data, dtype=torch.float32).reshape(info["shape"]).clone()
    return tensors


def load(directory):
    """The model with the exported weights (every parameter must match), in eval mode."""
    model = CellscopeModel()
    model.load_state_dict(read_safetensors(Path(directory) / "model.safetensors"))
    return model.eval()


if __name__ == "__main__":
    torch.save(load(sys.argv[1]).state_dict(), sys.argv[2])
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_sequential_of_linear_activation_dropout() {
        assert_eq!(
            torch_name("encoder.0.weight").as_deref(),
            Some("encoder.0.weight")
        );
        assert_eq!(
            torch_name("encoder.2.bias").as_deref(),
            Some("encoder.6.bias")
        );
        assert_eq!(
            torch_name("decoder.1.weight").as_deref(),
            Some("decoder.3.weight")
        );
        assert_eq!(torch_name("projector.0.weight"), None);
        assert_eq!(torch_name("encoder.x.weight"), None);
    }
}
