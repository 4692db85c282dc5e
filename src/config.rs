//! Settings: the defaults documented in `config.toml`, a user's file layered on top, then flags.
//! Unknown keys are rejected with their name so typos never pass silently.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The whole configuration, one section per stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data: DataConfig,
    pub preprocess: PreprocessConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub masking: MaskingConfig,
    pub contrastive: ContrastiveConfig,
    pub analysis: AnalysisConfig,
    pub transfer: TransferConfig,
    pub ui: UiConfig,
}

/// Which matrix and labels to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub matrix: String,
    pub label: String,
    pub memory_budget_mb: u64,
    pub block_rows: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            matrix: "X".into(),
            label: String::new(),
            memory_budget_mb: 1024,
            block_rows: 16384,
        }
    }
}

/// scanpy-style preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessConfig {
    pub target_sum: f64,
    pub log1p: bool,
    pub n_top_genes: usize,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            target_sum: 1e4,
            log1p: true,
            n_top_genes: 2000,
        }
    }
}

/// The MLP encoder/decoder shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub hidden: Vec<usize>,
    pub latent: usize,
    pub activation: String,
    pub dropout: f64,
    pub device: String,
    /// Training path: "auto" (the device path on a GPU, the fast path on the CPU), "fast"
    /// (hand-written CPU kernels) or "device" (candle tensors on `device`, also on the CPU).
    pub path: String,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            hidden: vec![512, 512, 256, 256],
            latent: 64,
            activation: "selu".into(),
            dropout: 0.1,
            device: "cpu".into(),
            path: "auto".into(),
        }
    }
}

/// Optimisation and run bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub method: String,
    pub epochs: Epochs,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    pub schedule: String,
    pub step_epochs: usize,
    pub step_gamma: f64,
    pub warmup_epochs: usize,
    pub val_fraction: f64,
    pub split_by: String,
    pub patience: usize,
    pub seed: u64,
    pub threads: usize,
    /// Number format of the fast path's matrix products: "f32", or "bf16" (operands rounded to
    /// bfloat16, f32 accumulation and weights; on AMX or AVX512-BF16 CPUs, f32 elsewhere).
    pub precision: crate::model::matmul::Precision,
    pub out_dir: String,
    /// Latent snapshots every this many epochs ("auto": about ten per run within 3% of the
    /// training time; 0: none).
    pub snapshot_every: Epochs,
    /// Cells (a seeded subsample) embedded for each latent snapshot.
    pub snapshot_cells: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            method: "masked".into(),
            epochs: Epochs::Auto,
            batch_size: 256,
            lr: 1e-3,
            weight_decay: 0.01,
            grad_clip: 1.0,
            schedule: "step".into(),
            step_epochs: 2,
            step_gamma: 0.9,
            warmup_epochs: 1,
            val_fraction: 0.1,
            split_by: String::new(),
            patience: 5,
            seed: 0,
            threads: 0,
            precision: crate::model::matmul::Precision::F32,
            out_dir: "runs".into(),
            snapshot_every: Epochs::Auto,
            snapshot_cells: 2000,
        }
    }
}

/// How many epochs a run trains: a fixed number, or `"auto"` (chosen from the data size; see
/// `train::budget`). Written in TOML as an integer or the string "auto".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Epochs {
    /// Chosen from the number of cells, with the batch size capped for small data.
    #[default]
    Auto,
    /// Exactly this many epochs (early stopping may end the run sooner).
    Fixed(usize),
}

impl std::fmt::Display for Epochs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Fixed(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for Epochs {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            n => n
                .parse()
                .map(Self::Fixed)
                .map_err(|_| format!("expected a number of epochs or \"auto\", got {s:?}")),
        }
    }
}

impl Serialize for Epochs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::Fixed(n) => s.serialize_u64(*n as u64),
        }
    }
}

impl<'de> Deserialize<'de> for Epochs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a number of epochs or \"auto\""))?
        {
            Raw::Number(n) => Ok(Self::Fixed(n as usize)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Masked-autoencoder pretext tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskingConfig {
    pub rate: f64,
    pub gene_sets: String,
    pub programme_fraction: f64,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        Self {
            rate: 0.5,
            gene_sets: String::new(),
            programme_fraction: 0.25,
        }
    }
}

/// BYOL / Barlow Twins and their augmentations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContrastiveConfig {
    pub byol_tau: f64,
    pub barlow_lambda: f64,
    /// BYOL projector widths after the latent (hidden..., output); the predictor has the same shape.
    pub byol_projector: Vec<usize>,
    /// Barlow Twins projector widths after the latent (hidden..., output).
    pub barlow_projector: Vec<usize>,
    pub dropout_prob: f64,
    pub dropout_rate: f64,
    pub nb_noise_prob: f64,
    pub nb_noise_intensity: f64,
    pub gauss_noise_prob: f64,
    pub gauss_noise_std: f64,
}

impl Default for ContrastiveConfig {
    fn default() -> Self {
        Self {
            byol_tau: 0.99,
            barlow_lambda: 0.0051,
            byol_projector: vec![4096, 256],
            barlow_projector: vec![256, 256, 512, 512],
            dropout_prob: 0.3,
            dropout_rate: 0.1,
            nb_noise_prob: 0.3,
            nb_noise_intensity: 0.2,
            gauss_noise_prob: 0.0,
            gauss_noise_std: 0.01,
        }
    }
}

/// Embedding analysis: cross-validated label prediction, the PCA baseline, clustering, layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    pub knn_k: usize,
    /// Folds of the stratified cross-validation of label prediction.
    pub cv_folds: usize,
    /// Seed of the fold assignment: one value for every run, so runs of different training
    /// seeds (a sweep) are scored on the same folds.
    pub cv_seed: u64,
    /// Label classes with fewer labelled cells are left out of the cross-validation.
    pub min_class_cells: usize,
    /// Components of the PCA baseline (capped by cells and genes).
    pub pca_components: usize,
    pub kmeans_k: usize,
    pub graph_k: usize,
    pub leiden_resolution: f64,
    pub layout_max_cells: usize,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            knn_k: 5,
            cv_folds: 5,
            cv_seed: 0,
            min_class_cells: 10,
            pca_components: 50,
            kmeans_k: 10,
            graph_k: 15,
            leiden_resolution: 1.0,
            layout_max_cells: 5000,
        }
    }
}

/// Fine-tuning on a target dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferConfig {
    pub seeds: usize,
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub query_fraction: f64,
    pub batch_size: usize,
    pub patience: usize,
    pub split_by: String,
    pub linear_probe: bool,
    pub head_epochs: usize,
}

impl Default for TransferConfig {
    fn default() -> Self {
        Self {
            seeds: 3,
            epochs: 100,
            lr: 1e-4,
            weight_decay: 0.05,
            query_fraction: 0.3,
            batch_size: 64,
            patience: 10,
            split_by: String::new(),
            linear_probe: false,
            head_epochs: 0,
        }
    }
}

/// Terminal UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    pub fps: u32,
    pub marker: String,
    pub mouse: bool,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            fps: 30,
            marker: "braille".into(),
            mouse: true,
        }
    }
}

/// Keys that earlier versions wrote into a run's `config.toml` and that no longer exist, with
/// what replaced them: dropped on reading (with a log line), so those runs still open.
const RETIRED_KEYS: [(&str, &str, &str); 1] = [(
    "contrastive",
    "projector",
    "contrastive.byol_projector and contrastive.barlow_projector",
)];

/// The text again without retired keys, or None when it holds none (or does not parse: the
/// caller reports that with its position).
fn without_retired_keys(text: &str) -> Option<String> {
    let mut table: toml::Table = toml::from_str(text).ok()?;
    let mut dropped = false;
    for (section, key, successor) in RETIRED_KEYS {
        if let Some(toml::Value::Table(t)) = table.get_mut(section)
            && t.remove(key).is_some()
        {
            tracing::warn!("ignored {section}.{key} of an earlier version (now {successor})");
            dropped = true;
        }
    }
    dropped.then(|| toml::to_string(&table).ok()).flatten()
}

impl Config {
    /// Parses TOML text layered over the defaults; unknown keys are an error naming the key.
    /// The error is one line: `line L, column C: message`.
    /// Every value is then checked against its allowed range (`config_check`).
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        let current = without_retired_keys(text);
        let text = current.as_deref().unwrap_or(text);
        let config: Self = toml::from_str(text).map_err(|e| {
            let msg = e.message().replace('\n', " ");
            match e.span() {
                Some(span) => {
                    let before = text.get(..span.start).unwrap_or(text);
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    anyhow::anyhow!("line {line}, column {column}: {msg}")
                }
                None => anyhow::anyhow!("{msg}"),
            }
        })?;
        crate::config_check::check(&config)?;
        Ok(config)
    }

    /// Reads a config file layered over the defaults.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read config: {e}", path.display()))?;
        Self::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The defaults, or the file when one is given.
    pub fn load_or_default(path: Option<&Path>) -> anyhow::Result<Self> {
        path.map_or_else(|| Ok(Self::default()), Self::load)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_config_file_equals_the_built_in_defaults() {
        let text = include_str!("../config.toml");
        assert_eq!(Config::from_toml(text).unwrap(), Config::default());
    }

    #[test]
    fn a_wrong_type_is_one_line_with_its_position() {
        let err = Config::from_toml("[model]\nhidden = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.starts_with("line 2, column 10: "), "{err}");
        assert!(err.contains("expected a sequence"), "{err}");
    }

    #[test]
    fn a_run_saved_with_the_retired_projector_key_still_loads() {
        let old = "[contrastive]\nprojector = [256, 256]\nbyol_tau = 0.9\n";
        let c = Config::from_toml(old).unwrap();
        assert_eq!(c.contrastive.byol_tau, 0.9);
        assert_eq!(
            c.contrastive.barlow_projector,
            ContrastiveConfig::default().barlow_projector
        );
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = Config::from_toml("[train]\nepochz = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("epochz"), "{err}");
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let c = Config::from_toml("[train]\nepochs = 3\n").unwrap();
        assert_eq!(c.train.epochs, Epochs::Fixed(3));
        assert_eq!(c.train.batch_size, 256);
    }

    #[test]
    fn epochs_are_a_number_or_auto_and_round_trip() {
        let auto = Config::from_toml("[train]\nepochs = \"auto\"\n").unwrap();
        assert_eq!(auto.train.epochs, Epochs::Auto);
        let text = toml::to_string(&auto).unwrap();
        assert!(text.contains("epochs = \"auto\""), "{text}");
        let fixed = Config::from_toml("[train]\nepochs = 7\n").unwrap();
        assert!(toml::to_string(&fixed).unwrap().contains("epochs = 7"));
        let err = Config::from_toml("[train]\nepochs = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"auto\""), "{err}");
        assert_eq!("12".parse::<Epochs>(), Ok(Epochs::Fixed(12)));
        assert!("-1".parse::<Epochs>().is_err());
    }
}
