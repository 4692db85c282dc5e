//! Finding a PyTorch MLP encoder in a state dict and mapping it onto cellscope's encoder. The
//! reference code builds it as one `nn.Sequential` of `[Linear, (BatchNorm1d), activation,
//! Dropout]` per hidden layer and a last `Linear`, so its parameters are `<prefix><index>.weight`;
//! every shape is checked and BatchNorm (eval mode) is folded into the Linear before it.

use std::collections::BTreeMap;

use crate::model::batch_norm::BatchNormEval;
use crate::train::checkpoint::TensorMap;

/// Where the reference modules keep the encoder, tried in this order: the autoencoders'
/// `encoder`, a wrapper's `model.encoder`, the contrastive modules' `inner_model` (also reached
/// as `barlow_twins.backbone` / `byol.net`), and a bare `nn.Sequential` (no prefix).
pub const ENCODER_PREFIXES: [&str; 7] = [
    "encoder.",
    "model.encoder.",
    "inner_model.",
    "backbone.",
    "barlow_twins.backbone.",
    "byol.net.",
    "",
];

/// One Linear layer of the encoder, with the BatchNorm1d that follows it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearLayer {
    /// Its module name in the checkpoint (`encoder.3`).
    pub name: String,
    pub n_in: usize,
    pub n_out: usize,
    /// Module name of the BatchNorm1d after it.
    pub batch_norm: Option<String>,
}

/// The encoder found in a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderLayout {
    /// The prefix its parameters carry (`encoder.`; empty for a bare nn.Sequential).
    pub prefix: String,
    pub layers: Vec<LinearLayer>,
}

impl EncoderLayout {
    /// Inputs of the first layer (the number of genes).
    pub fn n_genes(&self) -> usize {
        self.layers[0].n_in
    }

    /// Widths of the hidden layers.
    pub fn hidden(&self) -> Vec<usize> {
        let n = self.layers.len();
        self.layers[..n - 1].iter().map(|l| l.n_out).collect()
    }

    /// Width of the last layer (the embedding).
    pub fn latent(&self) -> usize {
        self.layers[self.layers.len() - 1].n_out
    }

    /// Whether any layer has a BatchNorm1d.
    pub fn has_batch_norm(&self) -> bool {
        self.layers.iter().any(|l| l.batch_norm.is_some())
    }
}

/// The cellscope method a checkpoint most likely comes from: `byol` / `barlow` when it holds the
/// reference's BYOL / Barlow Twins wrapper, else `masked` (an autoencoder or a bare encoder).
pub fn likely_method(tensors: &TensorMap) -> &'static str {
    if tensors.keys().any(|k| k.starts_with("byol.")) {
        "byol"
    } else if tensors.keys().any(|k| k.starts_with("barlow_twins.")) {
        "barlow"
    } else {
        "masked"
    }
}

/// A module of the Sequential: its index and its parameters by local name.
type Modules<'a> = BTreeMap<usize, BTreeMap<&'a str, &'a (Vec<usize>, Vec<f32>)>>;

fn modules_under<'a>(tensors: &'a TensorMap, prefix: &str) -> Modules<'a> {
    let mut out = Modules::new();
    for (name, t) in tensors {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        if let Some((index, param)) = rest.split_once('.')
            && !param.contains('.')
            && let Ok(index) = index.parse::<usize>()
        {
            out.entry(index).or_default().insert(param, t);
        }
    }
    out
}

/// Finds the encoder (the first of [`ENCODER_PREFIXES`] with a 2-D `<prefix>0.weight`) and
/// checks its layer chain; the error names the tensor that does not fit.
pub fn find_encoder(tensors: &TensorMap) -> anyhow::Result<EncoderLayout> {
    let prefix = ENCODER_PREFIXES
        .iter()
        .find(|p| {
            tensors
                .get(&format!("{p}0.weight"))
                .is_some_and(|t| t.0.len() == 2)
        })
        .ok_or_else(|| {
            let mut names: Vec<&String> = tensors.keys().collect();
            names.sort();
            names.truncate(8);
            anyhow::anyhow!(
                "no MLP encoder found: expected a 2-D tensor named <prefix>0.weight with prefix \
                 one of {ENCODER_PREFIXES:?}; the checkpoint has {names:?}..."
            )
        })?;
    let mut layers: Vec<LinearLayer> = Vec::new();
    let mut last_index = 0;
    for (index, params) in modules_under(tensors, prefix) {
        let name = format!("{prefix}{index}");
        let shape = |p: &str| params.get(p).map(|t| t.0.as_slice());
        if params.contains_key("running_mean") {
            let prev = layers
                .last_mut()
                .filter(|l| l.batch_norm.is_none())
                .ok_or_else(|| {
                    anyhow::anyhow!("{name}: a BatchNorm1d that follows no Linear layer")
                })?;
            for p in ["running_mean", "running_var", "weight", "bias"] {
                if let Some(s) = shape(p) {
                    anyhow::ensure!(
                        s == [prev.n_out],
                        "tensor {name}.{p} has shape {s:?}, but {} gives {} features",
                        prev.name,
                        prev.n_out
                    );
                }
            }
            anyhow::ensure!(
                params.contains_key("running_var"),
                "checkpoint lacks tensor {name}.running_var"
            );
            prev.batch_norm = Some(name);
        } else if let Some([n_out, n_in]) = shape("weight") {
            if let Some(prev) = layers.last() {
                anyhow::ensure!(
                    *n_in == prev.n_out,
                    "tensor {name}.weight has shape {:?}: it takes {n_in} inputs, but {} gives {}",
                    [n_out, n_in],
                    prev.name,
                    prev.n_out
                );
                let between = index - last_index - 1 - usize::from(prev.batch_norm.is_some());
                anyhow::ensure!(
                    between >= 1,
                    "{name} follows {} with no activation module between them",
                    prev.name
                );
            }
            if let Some(b) = shape("bias") {
                anyhow::ensure!(
                    b == [*n_out],
                    "tensor {name}.bias has shape {b:?}, expected [{n_out}]"
                );
            }
            layers.push(LinearLayer {
                name,
                n_in: *n_in,
                n_out: *n_out,
                batch_norm: None,
            });
            last_index = index;
        } else {
            let kind = if shape("weight").is_some_and(|s| s.len() == 1) {
                "a LayerNorm (1-D weight, no running statistics), which cellscope's encoder lacks"
            } else {
                "not a Linear or BatchNorm1d layer"
            };
            let names: Vec<&str> = params.keys().copied().collect();
            anyhow::bail!("{name} ({names:?}) is {kind}");
        }
    }
    if let Some(last) = layers.last() {
        anyhow::ensure!(
            last.batch_norm.is_none(),
            "{}: a BatchNorm1d after the last Linear layer is not supported",
            last.name
        );
    }
    Ok(EncoderLayout {
        prefix: prefix.to_string(),
        layers,
    })
}

/// The encoder's weights under cellscope's names (`encoder.<layer>.weight|bias`), each
/// BatchNorm folded into its Linear layer with `bn_eps` (BatchNorm's eps is not stored).
pub fn encoder_tensors(
    layout: &EncoderLayout,
    tensors: &TensorMap,
    bn_eps: f64,
) -> anyhow::Result<TensorMap> {
    let get = |name: String| {
        tensors
            .get(&name)
            .map(|t| t.1.clone())
            .ok_or_else(|| anyhow::anyhow!("checkpoint lacks tensor {name}"))
    };
    let mut out = TensorMap::new();
    for (i, layer) in layout.layers.iter().enumerate() {
        let mut weight = get(format!("{}.weight", layer.name))?;
        let mut bias =
            get(format!("{}.bias", layer.name)).unwrap_or_else(|_| vec![0.0; layer.n_out]);
        if let Some(bn) = &layer.batch_norm {
            let affine = |p: &str, fill: f32| {
                get(format!("{bn}.{p}")).unwrap_or_else(|_| vec![fill; layer.n_out])
            };
            BatchNormEval {
                weight: affine("weight", 1.0),
                bias: affine("bias", 0.0),
                running_mean: get(format!("{bn}.running_mean"))?,
                running_var: get(format!("{bn}.running_var"))?,
                eps: bn_eps,
            }
            .fold_into(&mut weight, &mut bias);
        }
        out.insert(
            format!("encoder.{i}.weight"),
            (vec![layer.n_out, layer.n_in], weight),
        );
        out.insert(format!("encoder.{i}.bias"), (vec![layer.n_out], bias));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize]) -> (Vec<usize>, Vec<f32>) {
        (shape.to_vec(), vec![0.5; shape.iter().product()])
    }

    fn map(entries: &[(&str, &[usize])]) -> TensorMap {
        entries.iter().map(|(n, s)| (n.to_string(), t(s))).collect()
    }

    #[test]
    fn the_contrastive_modules_inner_model_is_found_with_its_widths() {
        let tensors = map(&[
            ("inner_model.0.weight", &[16, 10]),
            ("inner_model.0.bias", &[16]),
            ("inner_model.3.weight", &[4, 16]),
            ("inner_model.3.bias", &[4]),
            ("byol.net.0.weight", &[16, 10]),
            ("byol.online_predictor.0.weight", &[4, 4]),
        ]);
        let layout = find_encoder(&tensors).unwrap();
        assert_eq!(layout.prefix, "inner_model.");
        assert_eq!(
            (layout.n_genes(), layout.hidden(), layout.latent()),
            (10, vec![16], 4)
        );
        assert!(!layout.has_batch_norm());
        assert_eq!(likely_method(&tensors), "byol");
        let ours = encoder_tensors(&layout, &tensors, 1e-3).unwrap();
        assert_eq!(ours["encoder.1.weight"].0, vec![4, 16]);
        assert_eq!(ours.len(), 4);
    }

    #[test]
    fn a_batch_norm_of_the_wrong_width_or_a_layer_norm_is_named() {
        let bn = map(&[
            ("0.weight", &[8, 5]),
            ("1.weight", &[8]),
            ("1.bias", &[8]),
            ("1.running_mean", &[7]),
            ("1.running_var", &[8]),
            ("4.weight", &[3, 8]),
        ]);
        let err = find_encoder(&bn).unwrap_err().to_string();
        assert!(
            err.contains("tensor 1.running_mean has shape [7], but 0 gives 8"),
            "{err}"
        );
        let ln = map(&[
            ("encoder.0.weight", &[8, 5]),
            ("encoder.1.weight", &[8]),
            ("encoder.1.bias", &[8]),
            ("encoder.4.weight", &[3, 8]),
        ]);
        let err = find_encoder(&ln).unwrap_err().to_string();
        assert!(
            err.contains("encoder.1") && err.contains("LayerNorm"),
            "{err}"
        );
        let direct = map(&[("0.weight", &[8, 5]), ("1.weight", &[3, 8])]);
        let err = find_encoder(&direct).unwrap_err().to_string();
        assert!(err.contains("no activation"), "{err}");
        let none = map(&[("head.weight", &[3, 8])]);
        let err = find_encoder(&none).unwrap_err().to_string();
        assert!(
            err.contains("no MLP encoder found") && err.contains("head.weight"),
            "{err}"
        );
    }
}
