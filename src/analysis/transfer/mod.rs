//! Transfer of a pretrained run to a labelled target: zero-shot kNN, fine-tuned and
//! from-scratch classifiers over several seeds, scored on a held-out query split.

pub mod labels;
pub mod report;
pub mod split;

use std::path::{Path, PathBuf};

use crate::analysis::knn::{knn_predict, select_rows};
use crate::analysis::metrics::{balanced_class_weights, macro_f1};
use crate::config::{Config, PreprocessConfig};
use crate::data::{CsrMatrix, Dataset};
use crate::model::random::mix;
use crate::model::{Classifier, Encoder};
use crate::train::LoadedRun;
use crate::train::checkpoint::write_atomic;
use crate::train::finetune::{FinetuneOptions, Tuning, finetune, predict};
pub use labels::{Labels, parse_label_map, read_label_map, target_labels};
pub use report::{
    ArmResult, GeneOverlap, SPLIT_FILE, SeedResult, Stat, TRANSFER_FILE, TransferReport, fmt_stat,
};
pub use split::{TransferSplit, stratified_split, transfer_split};

/// Neighbours for the kNN evaluations (as the reference).
pub const KNN_K: usize = 5;
/// Rows per batch when embedding or predicting.
const EVAL_BATCH: usize = 512;

/// One step of a transfer, for progress displays (`Display` gives the CLI's line).
#[derive(Debug, Clone, PartialEq)]
pub enum TransferProgress {
    /// How the target's genes met the model's.
    Genes(GeneOverlap),
    /// Cells dropped because the label map does not name their label.
    Unmapped(usize),
    /// The zero-shot kNN of the pretrained embedding is being scored.
    ZeroShot,
    /// A trained arm starts one seed (1-based).
    Arm {
        arm: String,
        seed: usize,
        n_seeds: usize,
    },
    /// A trained arm finished an epoch (NaN validation loss when there are no validation cells).
    Epoch {
        arm: String,
        seed: usize,
        n_seeds: usize,
        epoch: usize,
        epochs: usize,
        val_loss: f64,
    },
}

impl std::fmt::Display for TransferProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Genes(g) => {
                write!(
                    f,
                    "genes: {} of the model's {} matched ({:.0}%), {} missing (zero-filled), {} target genes dropped",
                    g.matched,
                    g.model_genes,
                    100.0 * g.share(),
                    g.missing,
                    g.extra
                )?;
                match g.warning() {
                    Some(w) => write!(f, "\n{w}"),
                    None => Ok(()),
                }
            }
            Self::Unmapped(n) => write!(f, "{n} cells dropped: label not in the label map"),
            Self::ZeroShot => write!(
                f,
                "zero_shot: kNN (k = {KNN_K}) on the pretrained embedding"
            ),
            Self::Arm { arm, seed, n_seeds } => write!(f, "{arm} seed {seed}/{n_seeds}"),
            Self::Epoch {
                arm,
                seed,
                n_seeds,
                epoch,
                epochs,
                val_loss,
            } => {
                write!(
                    f,
                    "{arm} seed {seed}/{n_seeds}: epoch {epoch}/{epochs} val loss "
                )?;
                if val_loss.is_finite() {
                    write!(f, "{val_loss:.4}")
                } else {
                    write!(f, "n/a (no validation cells)")
                }
            }
        }
    }
}

/// What to transfer to.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferRequest {
    pub target: PathBuf,
    /// obs column with the cell labels.
    pub label: String,
    pub label_map: Option<PathBuf>,
    /// Seeds per arm (the config's `transfer.seeds` when None).
    pub seeds: Option<usize>,
}

/// The target prepared for transfer: aligned, preprocessed, labelled and split.
#[derive(Debug, Clone)]
pub struct PreparedTarget {
    pub x: CsrMatrix,
    /// Class per cell (indexed by target cell).
    pub labels: Vec<Option<usize>>,
    pub classes: Vec<String>,
    pub unmapped: usize,
    pub genes: GeneOverlap,
    pub split: TransferSplit,
}

/// Loads the target onto the run's genes with the run's preprocessing, reads its labels (through
/// the label map) and splits it (by `transfer.split_by` when set, else stratified).
pub fn prepare_target(
    run: &LoadedRun,
    req: &TransferRequest,
    config: &Config,
) -> anyhow::Result<PreparedTarget> {
    let dataset = crate::data::read_dataset(&req.target, &run.config.data.matrix)?;
    prepare_dataset(&dataset, &run.genes, &run.config.preprocess, req, config)
}

/// `prepare_target` on a dataset already read: aligned to `genes` (the model's order),
/// preprocessed with `preprocess`, labelled and split.
pub fn prepare_dataset(
    dataset: &Dataset,
    genes: &[String],
    preprocess: &PreprocessConfig,
    req: &TransferRequest,
    config: &Config,
) -> anyhow::Result<PreparedTarget> {
    let prepared = crate::data::prepare(dataset, preprocess, Some(genes))?;
    let a = prepared
        .alignment
        .ok_or_else(|| anyhow::anyhow!("the target was not aligned to the model's genes"))?;
    anyhow::ensure!(
        a.matched > 0,
        "{}: none of the model's {} genes are in the target",
        req.target.display(),
        genes.len()
    );
    let column = dataset.obs_column(&req.label).ok_or_else(|| {
        anyhow::anyhow!("{}: no obs column {:?}", req.target.display(), req.label)
    })?;
    let map = req.label_map.as_deref().map(read_label_map).transpose()?;
    let labels = target_labels(column, map.as_ref())?;
    anyhow::ensure!(
        labels.names.len() >= 2,
        "{}: column {:?} has fewer than two classes after mapping",
        req.target.display(),
        req.label
    );
    let split_by = &config.transfer.split_by;
    let by = if split_by.is_empty() {
        None
    } else {
        Some(dataset.obs_column(split_by).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no obs column {split_by:?} to split by",
                req.target.display()
            )
        })?)
    };
    let split = transfer_split(
        &labels.codes,
        config.transfer.query_fraction,
        by,
        config.train.seed,
    )?;
    Ok(PreparedTarget {
        x: prepared.x,
        labels: labels.codes,
        classes: labels.names,
        unmapped: labels.unmapped,
        genes: GeneOverlap {
            model_genes: genes.len(),
            target_genes: dataset.n_genes(),
            matched: a.matched,
            missing: a.missing,
            extra: a.extra,
        },
        split,
    })
}

fn class_of(labels: &[Option<usize>], rows: &[usize]) -> Vec<usize> {
    rows.iter().map(|&i| labels[i].unwrap_or(0)).collect()
}

/// kNN (k = 5) predictions of the query cells from the reference cells in `encoder`'s space.
fn knn_on_embedding(encoder: &Encoder, t: &PreparedTarget) -> anyhow::Result<Vec<usize>> {
    let z = encoder.embed(&t.x, EVAL_BATCH)?;
    let reference = select_rows(z.view(), &t.split.reference);
    let query = select_rows(z.view(), &t.split.query);
    let ref_labels = class_of(&t.labels, &t.split.reference);
    Ok(knn_predict(
        query.view(),
        reference.view(),
        &ref_labels,
        KNN_K,
    ))
}

/// Fine-tunes `model` on the reference cells (a stratified validation part for early stopping)
/// and scores it on the query.
fn train_and_score(
    model: &Classifier,
    t: &PreparedTarget,
    config: &Config,
    seed: u64,
    tuning: Tuning,
    progress: &mut dyn FnMut(usize, usize, f64),
) -> anyhow::Result<SeedResult> {
    let n_classes = t.classes.len();
    let ref_labels: Vec<Option<usize>> = t.split.reference.iter().map(|&i| t.labels[i]).collect();
    let (fit, val) = stratified_split(&ref_labels, config.train.val_fraction, mix(seed, 17));
    let fit: Vec<usize> = fit.iter().map(|&k| t.split.reference[k]).collect();
    let val: Vec<usize> = val.iter().map(|&k| t.split.reference[k]).collect();
    let all: Vec<usize> = t.labels.iter().map(|l| l.unwrap_or(0)).collect();
    let weights: Vec<f32> = balanced_class_weights(&class_of(&t.labels, &fit), n_classes)
        .into_iter()
        .map(|w| w as f32)
        .collect();
    let tc = &config.transfer;
    let opts = FinetuneOptions {
        epochs: tc.epochs,
        batch_size: tc.batch_size,
        lr: tc.lr,
        weight_decay: tc.weight_decay,
        grad_clip: config.train.grad_clip,
        patience: tc.patience,
        tuning,
        seed,
    };
    let report = finetune(
        model,
        &t.x,
        &all,
        (&fit, &val),
        &weights,
        &opts,
        &mut |e, loss| progress(e, tc.epochs, loss),
    )?;
    let truth = class_of(&t.labels, &t.split.query);
    let pred = predict(model, &t.x, &t.split.query, EVAL_BATCH)?;
    let mut result = SeedResult::score(seed, &truth, &pred, n_classes);
    result.best_epoch = Some(report.best_epoch);
    result.knn_macro_f1 = macro_f1(&truth, &knn_on_embedding(&model.encoder, t)?);
    Ok(result)
}

/// Runs every arm over the seeds and returns the report (not yet written).
pub fn run_arms(
    run: &LoadedRun,
    t: &PreparedTarget,
    config: &Config,
    n_seeds: usize,
    progress: &mut dyn FnMut(TransferProgress),
) -> anyhow::Result<Vec<ArmResult>> {
    let n_classes = t.classes.len();
    let n_genes = run.genes.len();
    let truth = class_of(&t.labels, &t.split.query);
    progress(TransferProgress::ZeroShot);
    let zero = SeedResult::score(0, &truth, &knn_on_embedding(&run.encoder, t)?, n_classes);
    let mut zero_shot = Vec::new();
    let mut arms: Vec<(&str, Vec<SeedResult>)> = vec![("fine_tuned", vec![]), ("scratch", vec![])];
    if config.transfer.linear_probe {
        arms.push(("linear_probe", vec![]));
    }
    for s in 0..n_seeds as u64 {
        let mut z = zero.clone();
        z.seed = s;
        z.knn_macro_f1 = Some(z.macro_f1);
        zero_shot.push(z);
        for (name, results) in arms.iter_mut() {
            let seed = s as usize + 1;
            progress(TransferProgress::Arm {
                arm: name.to_string(),
                seed,
                n_seeds,
            });
            let model = match *name {
                "scratch" => Classifier::new(&run.config.model, n_genes, n_classes, s)?,
                _ => run.classifier(n_classes, s)?,
            };
            let mut inner = |epoch, epochs, val_loss| {
                progress(TransferProgress::Epoch {
                    arm: name.to_string(),
                    seed,
                    n_seeds,
                    epoch,
                    epochs,
                    val_loss,
                })
            };
            let tuning = match *name {
                "linear_probe" => Tuning::HeadOnly,
                "fine_tuned" if config.transfer.head_epochs > 0 => {
                    Tuning::HeadFirst(config.transfer.head_epochs)
                }
                _ => Tuning::Full,
            };
            results.push(train_and_score(&model, t, config, s, tuning, &mut inner)?);
        }
    }
    let mut out = vec![ArmResult::new("zero_shot", zero_shot)];
    out.extend(arms.into_iter().map(|(n, r)| ArmResult::new(n, r)));
    Ok(out)
}

/// The whole transfer: prepare the target, save the split, run the arms, write `transfer.json`
/// into the run directory. `progress` receives every step.
pub fn run_transfer(
    run: &LoadedRun,
    req: &TransferRequest,
    config: &Config,
    progress: &mut dyn FnMut(TransferProgress),
) -> anyhow::Result<TransferReport> {
    let n_seeds = req.seeds.unwrap_or(config.transfer.seeds).max(1);
    let t = prepare_target(run, req, config)?;
    progress(TransferProgress::Genes(t.genes.clone()));
    if t.unmapped > 0 {
        progress(TransferProgress::Unmapped(t.unmapped));
    }
    write_json(&run.dir.join(SPLIT_FILE), &t.split)?;
    let arms = run_arms(run, &t, config, n_seeds, progress)?;
    let mut report = TransferReport {
        run: run.dir.display().to_string(),
        target: req.target.display().to_string(),
        label: req.label.clone(),
        label_map: req.label_map.as_ref().map(|p| p.display().to_string()),
        unmapped: t.unmapped,
        classes: t.classes.clone(),
        genes: t.genes.clone(),
        split: t.split.how.clone(),
        n_reference: t.split.reference.len(),
        n_query: t.split.query.len(),
        n_seeds,
        arms,
        best_arm: String::new(),
        delta_finetuned_vs_scratch: None,
    };
    report.summarise();
    write_json(&run.dir.join(TRANSFER_FILE), &report)?;
    Ok(report)
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_atomic(path, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Column, ColumnValues};

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A six-gene model and a five-gene target sharing three genes (one in another case):
    /// model A B C D E F, target x c A y E (C matched case-insensitively).
    fn constructed_pair() -> (Vec<String>, Dataset) {
        let model = names(&["A", "B", "C", "D", "E", "F"]);
        let counts: Vec<f32> = (0..8)
            .flat_map(|i| {
                let i = i as f32;
                [1.0 + i, 2.0, 3.0 + i, 4.0, 5.0 * (i + 1.0)]
            })
            .collect();
        let dataset = Dataset {
            path: "target.h5ad".into(),
            x: CsrMatrix::from_dense(8, 5, &counts),
            obs_names: (0..8).map(|i| format!("cell{i}")).collect(),
            var_names: names(&["x", "c", "A", "y", "E"]),
            obs: vec![Column {
                name: "cell_type".into(),
                values: ColumnValues::Str(names(&["t", "b", "t", "b", "t", "b", "t", "b"])),
            }],
        };
        (model, dataset)
    }

    fn request() -> TransferRequest {
        TransferRequest {
            target: "target.h5ad".into(),
            label: "cell_type".into(),
            label_map: None,
            seeds: None,
        }
    }

    #[test]
    fn target_genes_land_in_the_models_columns_with_the_overlap_counted() {
        let (model, dataset) = constructed_pair();
        let pre = PreprocessConfig {
            target_sum: 100.0,
            log1p: false,
            n_top_genes: 0,
        };
        let t = prepare_dataset(&dataset, &model, &pre, &request(), &Config::default()).unwrap();
        assert_eq!(
            t.genes,
            GeneOverlap {
                model_genes: 6,
                target_genes: 5,
                matched: 3,
                missing: 3,
                extra: 2,
            }
        );
        assert_eq!((t.x.n_rows, t.x.n_cols), (8, 6));
        let mut dense = vec![0f32; 8 * 6];
        t.x.densify_rows(&(0..8).collect::<Vec<_>>(), &mut dense);
        for (i, row) in dense.chunks(6).enumerate() {
            // Model columns A, C, E hold target columns 2, 1, 4; the library size counts every
            // gene of the target (normalize_total comes before the mapping), so the dropped
            // genes x and y still count and the mapped values are not renormalised.
            let f = i as f32;
            let (a, c, e) = (3.0 + f, 2.0, 5.0 * (f + 1.0));
            let total = (1.0 + f) + c + a + 4.0 + e;
            let want = [
                a / total * 100.0,
                0.0,
                c / total * 100.0,
                0.0,
                e / total * 100.0,
                0.0,
            ];
            for (got, want) in row.iter().zip(want) {
                assert!((got - want).abs() < 1e-4, "cell {i}: {row:?} vs {want:?}");
            }
        }
        assert_eq!(t.classes, ["b", "t"]);
        assert_eq!(t.split.reference.len() + t.split.query.len(), 8);
    }

    #[test]
    fn a_target_sharing_no_gene_is_refused() {
        let (_, dataset) = constructed_pair();
        let model = names(&["P", "Q"]);
        let e = prepare_dataset(
            &dataset,
            &model,
            &PreprocessConfig::default(),
            &request(),
            &Config::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("none of the model's 2 genes"), "{e}");
    }
}
