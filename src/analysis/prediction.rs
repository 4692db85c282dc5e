//! Cross-validated label prediction from two embeddings of the same cells (the SSL embedding and
//! the PCA baseline) on the same stratified folds: per fold, kNN and the logistic probe are
//! trained on the other folds and predict the held-out one; macro-F1 and accuracy are paired
//! fold by fold into SSL - PCA differences and a verdict.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::Serialize;

use super::cv::Folds;
use super::knn::{knn_predict, select_rows};
use super::metrics::{accuracy, macro_f1};
use super::paired::Paired;
use super::probe::{LogisticProbe, PROBE_C, PROBE_MAX_ITERATIONS};
use crate::config::Config;

/// A label class left out of the folds for having too few labelled cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExcludedClass {
    pub name: String,
    pub cells: usize,
}

/// How the cross-validation was set up and which cells it used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CvSummary {
    pub folds: usize,
    /// Seed of the fold assignment (`analysis.cv_seed`).
    pub seed: u64,
    /// Labelled cells of the kept classes, each in one test fold.
    pub n_cells: usize,
    /// Classes predicted.
    pub classes: Vec<String>,
    /// Classes with fewer cells than this (or than `folds`) are left out.
    pub min_class_cells: usize,
    pub excluded_classes: Vec<ExcludedClass>,
    /// Cells with no label (left out).
    pub unlabelled_cells: usize,
    pub knn_k: usize,
    /// Inverse L2 strength and iteration cap of the logistic probe.
    pub logistic_c: f64,
    pub logistic_max_iterations: u64,
}

/// Cross-validated kNN and logistic-probe figures, SSL paired with PCA.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelPrediction {
    pub cv: CvSummary,
    pub knn_macro_f1: Paired,
    pub knn_accuracy: Paired,
    pub logistic_macro_f1: Paired,
    pub logistic_accuracy: Paired,
}

/// One embedding's figures on one held-out fold.
#[derive(Debug, Clone, Copy)]
struct FoldScores {
    knn_macro_f1: f64,
    knn_accuracy: f64,
    logistic_macro_f1: f64,
    logistic_accuracy: f64,
}

/// Cross-validates label prediction from `ssl` and `pca` (rows: the same cells as `labels`, whose
/// codes index `names`) with `config.analysis`'s folds, class threshold and k.
pub fn cross_validate(
    ssl: ArrayView2<f32>,
    pca: ArrayView2<f32>,
    labels: &[Option<usize>],
    names: &[String],
    config: &Config,
) -> anyhow::Result<LabelPrediction> {
    anyhow::ensure!(
        ssl.nrows() == labels.len() && pca.nrows() == labels.len(),
        "{} labels for {} SSL and {} PCA rows",
        labels.len(),
        ssl.nrows(),
        pca.nrows()
    );
    let a = &config.analysis;
    let folds = Folds::stratified(labels, a.cv_folds, a.min_class_cells, a.cv_seed)?;
    let name = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
    let excluded: Vec<ExcludedClass> = folds
        .excluded
        .iter()
        .map(|s| ExcludedClass {
            name: name(s.class),
            cells: s.cells,
        })
        .collect();
    if folds.classes.len() < 2 {
        let listed: Vec<String> = excluded
            .iter()
            .map(|e| format!("{} ({})", e.name, e.cells))
            .collect();
        anyhow::bail!(
            "label prediction needs two classes with at least {} labelled cells each; {} {}",
            a.min_class_cells.max(a.cv_folds),
            match folds.classes.len() {
                0 => "none has".to_string(),
                _ => format!("only {:?} has", name(folds.classes[0])),
            },
            if listed.is_empty() {
                String::new()
            } else {
                format!("(too small: {})", listed.join(", "))
            }
        );
    }
    let k = folds.n_folds();
    let runs: Vec<FoldScores> = (0..2 * k)
        .into_par_iter()
        .map(|t| {
            let z = if t < k { ssl.view() } else { pca.view() };
            fold_scores(z, labels, &folds, t % k, a.knn_k)
        })
        .collect::<anyhow::Result<_>>()?;
    let (s, p) = runs.split_at(k);
    let pair = |f: fn(&FoldScores) -> f64| {
        Paired::new(s.iter().map(f).collect(), p.iter().map(f).collect())
    };
    Ok(LabelPrediction {
        cv: CvSummary {
            folds: k,
            seed: a.cv_seed,
            n_cells: folds.n_cells(),
            classes: folds.classes.iter().map(|&c| name(c)).collect(),
            min_class_cells: a.min_class_cells,
            excluded_classes: excluded,
            unlabelled_cells: labels.iter().filter(|l| l.is_none()).count(),
            knn_k: a.knn_k,
            logistic_c: PROBE_C,
            logistic_max_iterations: PROBE_MAX_ITERATIONS,
        },
        knn_macro_f1: pair(|f| f.knn_macro_f1),
        knn_accuracy: pair(|f| f.knn_accuracy),
        logistic_macro_f1: pair(|f| f.logistic_macro_f1),
        logistic_accuracy: pair(|f| f.logistic_accuracy),
    })
}

/// One fold of the cross-validation: the embedded cells of the other folds (training) and of
/// this fold (test), with their classes.
pub struct FoldData {
    pub x_train: Array2<f32>,
    pub x_test: Array2<f32>,
    pub y_train: Vec<usize>,
    pub truth: Vec<usize>,
}

impl FoldData {
    /// Fold `fold` of `folds` over the embedding `z` (every cell in the folds is labelled).
    pub fn new(z: ArrayView2<f32>, labels: &[Option<usize>], folds: &Folds, fold: usize) -> Self {
        let (train, test) = (folds.train(fold), folds.test(fold));
        let classes = |cells: &[usize]| -> Vec<usize> {
            cells
                .iter()
                .map(|&i| labels[i].expect("cells in the folds are labelled"))
                .collect()
        };
        Self {
            x_train: select_rows(z, &train),
            x_test: select_rows(z, test),
            y_train: classes(&train),
            truth: classes(test),
        }
    }

    /// The kNN classes of the test cells (k capped at the training cells).
    pub fn knn(&self, k: usize) -> Vec<usize> {
        let k = k.clamp(1, self.y_train.len());
        knn_predict(self.x_test.view(), self.x_train.view(), &self.y_train, k)
    }
}

/// Trains kNN and the probe on every fold but `fold` and scores them on `fold`.
fn fold_scores(
    z: ArrayView2<f32>,
    labels: &[Option<usize>],
    folds: &Folds,
    fold: usize,
    knn_k: usize,
) -> anyhow::Result<FoldScores> {
    let d = FoldData::new(z, labels, folds, fold);
    let knn = d.knn(knn_k);
    let probe = LogisticProbe::fit(d.x_train.view(), &d.y_train)?.predict(d.x_test.view());
    let defined = |v: Option<f64>| v.filter(|v| v.is_finite()).unwrap_or(0.0);
    Ok(FoldScores {
        knn_macro_f1: defined(macro_f1(&d.truth, &knn)),
        knn_accuracy: defined(accuracy(&d.truth, &knn)),
        logistic_macro_f1: defined(macro_f1(&d.truth, &probe)),
        logistic_accuracy: defined(accuracy(&d.truth, &probe)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::tests::random_points;

    /// Three classes of 20 cells, separated along one axis each in the "good" embedding; the
    /// other embedding is noise. A fourth class of 4 cells and 5 unlabelled cells.
    fn case() -> (
        ndarray::Array2<f32>,
        ndarray::Array2<f32>,
        Vec<Option<usize>>,
    ) {
        let labels: Vec<Option<usize>> = (0..60)
            .map(|i| Some(i % 3))
            .chain(std::iter::repeat_n(Some(3), 4))
            .chain(std::iter::repeat_n(None, 5))
            .collect();
        let mut good = random_points(labels.len(), 4, 1);
        for (mut row, l) in good.rows_mut().into_iter().zip(&labels) {
            if let Some(c) = l {
                row[*c] += 3.0;
            }
        }
        (good, random_points(labels.len(), 4, 2), labels)
    }

    /// Cross-validates `ssl` against `pca` with the default settings and class names a..c, tiny.
    fn run(
        ssl: &ndarray::Array2<f32>,
        pca: &ndarray::Array2<f32>,
        labels: &[Option<usize>],
    ) -> anyhow::Result<LabelPrediction> {
        let names = ["a", "b", "c", "tiny"].map(String::from);
        cross_validate(ssl.view(), pca.view(), labels, &names, &Config::default())
    }

    #[test]
    fn a_separating_embedding_beats_noise_on_every_fold() {
        let (good, noise, labels) = case();
        let r = run(&good, &noise, &labels).unwrap();
        assert_eq!(
            (r.cv.folds, r.cv.n_cells, r.cv.unlabelled_cells),
            (5, 60, 5)
        );
        assert_eq!(r.cv.classes, ["a", "b", "c"]);
        assert_eq!(
            r.cv.excluded_classes,
            [ExcludedClass {
                name: "tiny".into(),
                cells: 4
            }]
        );
        for m in [&r.knn_macro_f1, &r.logistic_macro_f1, &r.logistic_accuracy] {
            assert_eq!(m.folds.ssl.len(), 5);
            assert!(m.ssl > 0.95, "{m:?}");
            assert!(m.pca < 0.7, "{m:?}");
            assert!(m.folds.diff.iter().all(|d| *d > 0.0), "{m:?}");
            assert_eq!(m.verdict.word(), "better");
        }
        // Swapped, the noise is worse; the same folds give exactly negated differences.
        let swapped = run(&noise, &good, &labels).unwrap();
        assert_eq!(swapped.knn_macro_f1.verdict.word(), "worse");
        for (a, b) in swapped
            .knn_macro_f1
            .folds
            .diff
            .iter()
            .zip(&r.knn_macro_f1.folds.diff)
        {
            assert_eq!(*a, -b);
        }
    }

    #[test]
    fn fewer_than_two_big_enough_classes_is_a_clear_error() {
        let (good, noise, _) = case();
        let labels: Vec<Option<usize>> = (0..69).map(|i| Some(usize::from(i >= 60) * 3)).collect();
        let e = run(&good, &noise, &labels).unwrap_err().to_string();
        assert!(
            e.contains("only \"a\" has") && e.contains("tiny (9)"),
            "{e}"
        );
    }
}
