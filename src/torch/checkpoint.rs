//! Reading PyTorch checkpoints with candle's pickle reader (no Python): a bare state dict
//! (`torch.save(model.state_dict())`) or a Lightning checkpoint, a dict whose `state_dict` holds
//! the weights beside `hyper_parameters`, `optimizer_states` and the like.

use candle_core::DType;
use candle_core::pickle::{Object, PthTensors, Stack};
use std::path::Path;

use crate::train::checkpoint::TensorMap;

/// The layout of a checkpoint file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// A Lightning checkpoint of the reference code (theislab/ssl_in_scg): weights under
    /// `state_dict`, settings under `hyper_parameters`.
    SslInScg,
    /// A bare state dict: parameter name -> tensor.
    StateDict,
}

impl CheckpointKind {
    /// Parses `ssl_in_scg` or `state-dict`.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        match name {
            "ssl_in_scg" | "ssl-in-scg" | "lightning" => Ok(Self::SslInScg),
            "state-dict" | "state_dict" => Ok(Self::StateDict),
            other => anyhow::bail!(
                "unknown checkpoint kind {other:?} (expected ssl_in_scg or state-dict)"
            ),
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::SslInScg => "ssl_in_scg",
            Self::StateDict => "state-dict",
        }
    }
}

/// Settings a Lightning checkpoint's `hyper_parameters` may carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HyperParams {
    /// The activation class name, lower case (`selu`, `relu`, `gelu`).
    pub activation: Option<String>,
    pub dropout: Option<f64>,
}

/// The float tensors of a checkpoint (as f32) and what its settings say.
#[derive(Debug, Clone)]
pub struct TorchCheckpoint {
    pub kind: CheckpointKind,
    pub tensors: TensorMap,
    pub hparams: HyperParams,
}

const STATE_DICT_KEY: &str = "state_dict";

/// Reads `path`; `kind` None detects it (a top-level `state_dict` entry means Lightning).
pub fn read_torch_checkpoint(
    path: &Path,
    kind: Option<CheckpointKind>,
) -> anyhow::Result<TorchCheckpoint> {
    let at = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", path.display());
    let top = read_top_object(path).map_err(|e| at(&e))?;
    let entries = match &top {
        Object::Dict(entries) => entries.as_slice(),
        _ => &[],
    };
    let has_state_dict = entries.iter().any(|(k, _)| is_key(k, STATE_DICT_KEY));
    let kind = kind.unwrap_or(if has_state_dict {
        CheckpointKind::SslInScg
    } else {
        CheckpointKind::StateDict
    });
    anyhow::ensure!(
        kind == CheckpointKind::StateDict || has_state_dict,
        "{}: not a Lightning checkpoint (no top-level {STATE_DICT_KEY:?}); try --kind state-dict",
        path.display()
    );
    let key = (kind == CheckpointKind::SslInScg).then_some(STATE_DICT_KEY);
    let pth = PthTensors::new(path, key).map_err(|e| at(&e))?;
    let mut tensors = TensorMap::new();
    for (name, info) in pth.tensor_infos() {
        if !info.dtype.is_float() {
            continue; // e.g. BatchNorm's num_batches_tracked
        }
        let t = pth
            .get(name)
            .and_then(|t| t.ok_or_else(|| candle_core::Error::Msg(format!("no tensor {name}"))))
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| at(&format!("tensor {name}: {e}")))?;
        let values = t
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| at(&format!("tensor {name}: {e}")))?;
        tensors.insert(name.clone(), (t.dims().to_vec(), values));
    }
    let hint = if has_state_dict {
        "; it holds a state_dict entry: try --kind ssl_in_scg"
    } else {
        ""
    };
    anyhow::ensure!(
        !tensors.is_empty(),
        "{}: no float tensors found (expected a {} checkpoint){hint}",
        path.display(),
        kind.name()
    );
    let hparams = entries
        .iter()
        .find(|(k, _)| is_key(k, "hyper_parameters"))
        .map_or_else(HyperParams::default, |(_, v)| hyper_params(v));
    Ok(TorchCheckpoint {
        kind,
        tensors,
        hparams,
    })
}

/// The unpickled top-level object of the archive's `data.pkl` (tensors left as references).
fn read_top_object(path: &Path) -> anyhow::Result<Object> {
    let file = std::fs::File::open(path)?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| anyhow::anyhow!("not a PyTorch zip checkpoint ({e})"))?;
    let name = zip
        .file_names()
        .filter_map(Result::ok)
        .find(|n| n.ends_with("data.pkl"))
        .map(|n| n.into_owned())
        .ok_or_else(|| anyhow::anyhow!("not a PyTorch checkpoint (no data.pkl in the archive)"))?;
    let mut reader = std::io::BufReader::new(zip.by_name(&name)?);
    let mut stack = Stack::empty();
    stack.read_loop(&mut reader)?;
    Ok(stack.finalize()?)
}

fn is_key(key: &Object, name: &str) -> bool {
    matches!(key, Object::Unicode(k) if k == name)
}

/// `activation` (a class such as `torch.nn.modules.activation.SELU`, or its name) and
/// `dropout` from a `hyper_parameters` dict.
fn hyper_params(value: &Object) -> HyperParams {
    let Object::Dict(entries) = value else {
        return HyperParams::default();
    };
    let get = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| is_key(k, name))
            .map(|(_, v)| v)
    };
    HyperParams {
        activation: get("activation").and_then(|a| match a {
            Object::Class { class_name, .. } => Some(class_name.to_ascii_lowercase()),
            Object::Unicode(s) => Some(s.rsplit('.').next().unwrap_or(s).to_ascii_lowercase()),
            _ => None,
        }),
        dropout: get("dropout").and_then(|d| match d {
            Object::Float(f) => Some(*f),
            Object::Int(i) => Some(f64::from(*i)),
            _ => None,
        }),
    }
}
