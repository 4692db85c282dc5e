//! Named trainable tensors (candle `Var`s) with seeded initialisation, in a fixed order,
//! plus conversion to and from the flat f32 maps that checkpoints store.

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::HashMap;

use crate::model::{ModelError, kernels};

/// A named tensor as stored in checkpoints: (name, shape, row-major values).
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Trainable parameters in creation order, each with a dotted name (`encoder.0.weight`).
#[derive(Debug, Clone, Default)]
pub struct ParamStore {
    names: Vec<String>,
    vars: Vec<Var>,
}

/// A seeded source of initial weights, and where the model built from it runs.
#[derive(Clone)]
pub struct Init {
    rng: StdRng,
    device: Device,
    fused: bool,
}

impl Init {
    /// Initialiser drawing from a fixed seed on `device`; layers use the fused CPU kernels when
    /// `device` is the CPU.
    pub fn new(seed: u64, device: Device) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            fused: device.is_cpu(),
            device,
        }
    }

    /// The same initial weights on `device` with layers made of plain candle ops only (the
    /// device path: they run on any backend, the CPU included).
    pub fn plain(seed: u64, device: Device) -> Self {
        Self {
            fused: false,
            ..Self::new(seed, device)
        }
    }

    /// The device parameters are created on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether layers use the fused CPU kernels (else plain candle ops).
    pub fn fused(&self) -> bool {
        self.fused
    }

    /// Uniform(-bound, bound) values of the given length.
    pub fn uniform(&mut self, len: usize, bound: f32) -> Vec<f32> {
        (0..len)
            .map(|_| self.rng.random_range(-bound..=bound))
            .collect()
    }
}

impl ParamStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a parameter with these values and returns a tensor sharing its storage.
    pub fn add(
        &mut self,
        name: String,
        shape: &[usize],
        values: Vec<f32>,
        device: &Device,
    ) -> Result<Tensor, ModelError> {
        let var = Var::from_vec(values, shape, device)?;
        let t = var.as_tensor().clone();
        self.names.push(name);
        self.vars.push(var);
        Ok(t)
    }

    /// Parameter variables in creation order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// Parameter names in creation order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Total number of scalar parameters.
    pub fn n_params(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }

    /// Appends all parameters of `other`, prefixing their names.
    pub fn extend_prefixed(&mut self, other: ParamStore, prefix: &str) {
        self.names
            .extend(other.names.into_iter().map(|n| format!("{prefix}{n}")));
        self.vars.extend(other.vars);
    }

    /// Every parameter as (name, shape, values).
    pub fn export(&self) -> Result<Vec<NamedTensor>, ModelError> {
        self.names
            .iter()
            .zip(&self.vars)
            .map(|(n, v)| {
                Ok((
                    n.clone(),
                    v.dims().to_vec(),
                    kernels::to_vec(v.as_tensor())?,
                ))
            })
            .collect()
    }

    /// Overwrites every parameter from a name -> (shape, values) map, keys being `prefix + name`.
    pub fn import(
        &self,
        tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
        prefix: &str,
    ) -> Result<(), ModelError> {
        self.import_where(tensors, prefix, |_| true)
    }

    /// Overwrites only the parameters whose names start with `only` (keys as in the map).
    pub fn import_subset(
        &self,
        tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
        only: &str,
    ) -> Result<(), ModelError> {
        self.import_where(tensors, "", |n| n.starts_with(only))
    }

    fn import_where(
        &self,
        tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
        prefix: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<(), ModelError> {
        for (name, var) in self.names.iter().zip(&self.vars).filter(|(n, _)| keep(n)) {
            let key = format!("{prefix}{name}");
            let (shape, values) = tensors
                .get(&key)
                .ok_or_else(|| ModelError::MissingTensor(key.clone()))?;
            if shape.as_slice() != var.dims() {
                return Err(ModelError::Shape {
                    name: key,
                    expected: var.dims().to_vec(),
                    found: shape.clone(),
                });
            }
            var.set(&Tensor::from_slice(values, shape.as_slice(), var.device())?)?;
        }
        Ok(())
    }
}
