//! The transfer result as written to `transfer.json`: per arm and seed the metrics, and per arm
//! their mean and standard deviation over seeds, the best arm and fine-tuned minus scratch.

use serde::{Deserialize, Serialize};

use crate::analysis::metrics::{
    ClassScore, accuracy, confusion_matrix, macro_f1, per_class_scores,
};

/// File name of the result in the run directory.
pub use crate::train::rundir::TRANSFER_FILE;
/// File name of the saved reference/query split in the run directory.
pub const SPLIT_FILE: &str = "transfer_split.json";

/// Mean and sample standard deviation (0 for a single value).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub sd: f64,
}

impl Stat {
    /// Mean and sample standard deviation of `values` (NaN mean when empty).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Self { mean, sd }
    }
}

/// "mean <pm> sd" to three decimals, or "n/a" when missing or undefined (never "NaN").
pub fn fmt_stat(s: Option<Stat>, pm: &str) -> String {
    match s {
        Some(s) if s.mean.is_finite() && s.sd.is_finite() => {
            format!("{:.3} {pm} {:.3}", s.mean, s.sd)
        }
        _ => "n/a".into(),
    }
}

/// Scores of one arm with one seed on the query cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub macro_f1: f64,
    pub accuracy: f64,
    /// kNN (k = 5) macro-F1 of the arm's embedding, reference -> query.
    pub knn_macro_f1: Option<f64>,
    pub per_class: Vec<ClassScore>,
    /// Rows = true class, columns = predicted class.
    pub confusion: Vec<Vec<u64>>,
    /// Epoch whose weights were kept (trained arms).
    pub best_epoch: Option<usize>,
}

impl SeedResult {
    /// Scores predictions against the truth over `n_classes` classes.
    pub fn score(seed: u64, truth: &[usize], pred: &[usize], n_classes: usize) -> Self {
        Self {
            seed,
            macro_f1: macro_f1(truth, pred).unwrap_or(0.0),
            accuracy: accuracy(truth, pred).unwrap_or(0.0),
            knn_macro_f1: None,
            per_class: per_class_scores(truth, pred, n_classes),
            confusion: confusion_matrix(truth, pred, n_classes),
            best_epoch: None,
        }
    }
}

/// One arm over all seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    /// "zero_shot", "fine_tuned", "linear_probe" or "scratch".
    pub arm: String,
    pub macro_f1: Stat,
    pub accuracy: Stat,
    pub knn_macro_f1: Option<Stat>,
    /// Per class (in `TransferReport::classes` order): F1 over seeds.
    pub per_class_f1: Vec<Stat>,
    /// Query cells per class.
    pub support: Vec<u64>,
    /// Confusion matrix summed over seeds.
    pub confusion: Vec<Vec<u64>>,
    pub seeds: Vec<SeedResult>,
}

impl ArmResult {
    /// Aggregates the per-seed results of an arm (at least one).
    pub fn new(arm: &str, seeds: Vec<SeedResult>) -> Self {
        let col =
            |f: &dyn Fn(&SeedResult) -> f64| Stat::of(&seeds.iter().map(f).collect::<Vec<_>>());
        let n_classes = seeds.first().map_or(0, |s| s.per_class.len());
        let knn: Vec<f64> = seeds.iter().filter_map(|s| s.knn_macro_f1).collect();
        let mut confusion = vec![vec![0u64; n_classes]; n_classes];
        for s in &seeds {
            for (row, srow) in confusion.iter_mut().zip(&s.confusion) {
                row.iter_mut().zip(srow).for_each(|(a, b)| *a += b);
            }
        }
        Self {
            arm: arm.to_string(),
            macro_f1: col(&|s| s.macro_f1),
            accuracy: col(&|s| s.accuracy),
            knn_macro_f1: (!knn.is_empty()).then(|| Stat::of(&knn)),
            per_class_f1: (0..n_classes)
                .map(|c| col(&|s| s.per_class[c].f1))
                .collect(),
            support: seeds
                .first()
                .map(|s| s.per_class.iter().map(|c| c.support).collect())
                .unwrap_or_default(),
            confusion,
            seeds,
        }
    }
}

/// How the target's genes met the model's gene list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneOverlap {
    pub model_genes: usize,
    pub target_genes: usize,
    /// Model genes found in the target.
    pub matched: usize,
    /// Model genes absent from the target (zero-filled).
    pub missing: usize,
    /// Target genes not in the model (dropped).
    pub extra: usize,
}

/// Below this share of the model's genes present in a target, transfer warns (scArches
/// refuses such a query).
pub const LOW_GENE_SHARE: f64 = 0.8;

impl GeneOverlap {
    /// Share of the model's genes found in the target.
    pub fn share(&self) -> f64 {
        self.matched as f64 / self.model_genes.max(1) as f64
    }

    /// A warning when the target holds under `LOW_GENE_SHARE` of the model's genes.
    pub fn warning(&self) -> Option<String> {
        (self.share() < LOW_GENE_SHARE).then(|| {
            format!(
                "warning: the target has only {:.0}% of the model's genes (below {:.0}%, where \
                 scArches refuses a query); the rest are zero-filled, inputs the pretrained \
                 encoder never saw",
                100.0 * self.share(),
                100.0 * LOW_GENE_SHARE
            )
        })
    }
}

/// Everything `transfer.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferReport {
    pub run: String,
    pub target: String,
    pub label: String,
    pub label_map: Option<String>,
    /// Cells dropped because the label map did not name their label.
    pub unmapped: usize,
    pub classes: Vec<String>,
    pub genes: GeneOverlap,
    pub split: String,
    pub n_reference: usize,
    pub n_query: usize,
    pub n_seeds: usize,
    pub arms: Vec<ArmResult>,
    /// Arm with the highest mean macro-F1.
    pub best_arm: String,
    /// Mean macro-F1 of fine-tuned minus from-scratch.
    pub delta_finetuned_vs_scratch: Option<f64>,
}

impl TransferReport {
    /// The arm of this name, if it ran.
    pub fn arm(&self, name: &str) -> Option<&ArmResult> {
        self.arms.iter().find(|a| a.arm == name)
    }

    /// Fills `best_arm` and the fine-tuned minus scratch delta from the arms.
    pub fn summarise(&mut self) {
        self.best_arm = self
            .arms
            .iter()
            .max_by(|a, b| a.macro_f1.mean.total_cmp(&b.macro_f1.mean))
            .map(|a| a.arm.clone())
            .unwrap_or_default();
        self.delta_finetuned_vs_scratch = self
            .arm("fine_tuned")
            .zip(self.arm("scratch"))
            .map(|(f, s)| f.macro_f1.mean - s.macro_f1.mean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_mean_and_sample_sd() {
        let s = Stat::of(&[1.0, 2.0, 3.0]);
        assert_eq!(s.mean, 2.0);
        assert!((s.sd - 1.0).abs() < 1e-12);
        assert_eq!(Stat::of(&[0.5]).sd, 0.0);
    }

    #[test]
    fn arm_sums_confusions_and_averages_scores() {
        let a = SeedResult::score(0, &[0, 1, 1], &[0, 1, 0], 2);
        let b = SeedResult::score(1, &[0, 1, 1], &[0, 1, 1], 2);
        let arm = ArmResult::new("scratch", vec![a, b]);
        assert_eq!(arm.confusion, vec![vec![2, 0], vec![1, 3]]);
        assert_eq!(arm.support, vec![1, 2]);
        assert!((arm.accuracy.mean - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
    }
}
