//! The network a method trains and its named state (the tensors a checkpoint holds), shared by
//! the CPU fast path ([`crate::train::Learner`]) and the device path
//! ([`crate::train::device_learner::DeviceLearner`]) so both build the same weights and read and
//! write the same checkpoints.

use crate::config::Config;
use crate::data::genesets::MatchedSets;
use crate::model::contrastive::{BarlowTwins, Byol};
use crate::model::masking::Pretext;
use crate::model::params::{Init, NamedTensor};
use crate::model::{Autoencoder, Encoder, ModelError, ParamStore};
use crate::train::checkpoint::TensorMap;
use crate::train::method::{MIN_PROGRAMME_GENES, Method};

/// A method's model: an autoencoder with its masking task, or a contrastive network.
#[derive(Debug, Clone)]
pub(crate) enum Net {
    Autoencoder(Autoencoder, Pretext),
    Byol(Byol),
    Barlow(BarlowTwins),
}

impl Net {
    /// Builds the model for `method` on `n_genes` genes with the weights, device and kernels of
    /// `init`.
    pub(crate) fn build(
        config: &Config,
        method: Method,
        n_genes: usize,
        sets: Option<&MatchedSets>,
        init: Init,
    ) -> anyhow::Result<Self> {
        let sets = || -> anyhow::Result<Vec<Vec<u32>>> {
            let s = sets
                .ok_or_else(|| anyhow::anyhow!("method {} needs gene programmes", method.name()))?;
            anyhow::ensure!(
                s.n_matched() > 0,
                "none of the {} gene programmes has {MIN_PROGRAMME_GENES}+ genes in this dataset",
                s.n_total
            );
            Ok(s.genes.clone())
        };
        Ok(match method {
            Method::Masked | Method::Gp | Method::GpTf => {
                let pretext = match method {
                    Method::Masked => {
                        let rate = config.masking.rate as f32;
                        anyhow::ensure!(
                            (0.0..1.0).contains(&rate) && rate > 0.0,
                            "masking rate must be in (0, 1), got {rate}"
                        );
                        Pretext::Random { rate }
                    }
                    Method::Gp => Pretext::Programmes {
                        sets: sets()?,
                        fraction: config.masking.programme_fraction as f32,
                    },
                    _ => Pretext::Isolated { sets: sets()? },
                };
                Self::Autoencoder(Autoencoder::build(&config.model, n_genes, init)?, pretext)
            }
            Method::Byol => Self::Byol(Byol::build(
                &config.model,
                &config.contrastive,
                n_genes,
                init,
            )?),
            Method::Barlow => Self::Barlow(BarlowTwins::build(
                &config.model,
                &config.contrastive,
                n_genes,
                init,
            )?),
        })
    }

    /// The trainable parameters.
    pub(crate) fn params(&self) -> &ParamStore {
        match self {
            Self::Autoencoder(m, _) => &m.params,
            Self::Byol(m) => &m.state.params,
            Self::Barlow(m) => &m.state.params,
        }
    }

    /// The encoder whose embedding is the result of pretraining.
    pub(crate) fn encoder(&self) -> &Encoder {
        match self {
            Self::Autoencoder(m, _) => &m.encoder,
            Self::Byol(m) => &m.encoder,
            Self::Barlow(m) => &m.encoder,
        }
    }

    /// Floating-point operations of one training step per cell (matmuls only).
    pub(crate) fn flops_per_cell(&self) -> f64 {
        (match self {
            Self::Autoencoder(m, _) => m.train_flops_per_cell(),
            Self::Byol(m) => m.train_flops_per_cell(),
            Self::Barlow(m) => m.train_flops_per_cell(),
        }) as f64
    }

    /// The stores of the model with the prefix of their names in a checkpoint.
    fn stores(&self) -> Vec<(&'static str, &ParamStore)> {
        match self {
            Self::Autoencoder(m, _) => vec![("", &m.params)],
            Self::Byol(m) => vec![
                ("", &m.state.params),
                ("buffer.", &m.state.buffers),
                ("target.", &m.target),
            ],
            Self::Barlow(m) => vec![("", &m.state.params), ("buffer.", &m.state.buffers)],
        }
    }

    /// Every tensor of the model (parameters, buffers, BYOL's target), named for a checkpoint.
    pub(crate) fn export(&self) -> Result<Vec<NamedTensor>, ModelError> {
        let mut out = Vec::new();
        for (prefix, store) in self.stores() {
            for (name, shape, values) in store.export()? {
                out.push((format!("{prefix}{name}"), shape, values));
            }
        }
        Ok(out)
    }

    /// Overwrites every tensor of the model from a checkpoint.
    pub(crate) fn import(&self, tensors: &TensorMap) -> Result<(), ModelError> {
        for (prefix, store) in self.stores() {
            store.import(tensors, prefix)?;
        }
        Ok(())
    }
}
