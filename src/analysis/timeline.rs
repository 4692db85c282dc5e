//! The latent space as it forms: snapshots of a fixed, seeded subsample of cells during
//! training, each laid out in 2-D by PCA and turned onto the previous snapshot (orthogonal
//! Procrustes, so the picture does not flip or spin between epochs), with the kNN macro-F1 of
//! that epoch's latent space. Stored as one JSON line per snapshot in the run directory.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

use super::cv::Folds;
use super::knn::subsample_indices;
use super::metrics::macro_f1;
use super::pca::pca_dense;
use super::prediction::FoldData;
use crate::config::{AnalysisConfig, Config};
use crate::train::TrainData;
use crate::train::latent::{LatentObserver, SharedObserver};

/// The snapshots of a run, one JSON line each.
pub const TIMELINE_FILE: &str = "timeline.jsonl";

/// One snapshot: the epoch, the subsample's 2-D positions and the kNN macro-F1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub epoch: usize,
    /// Cross-validated kNN macro-F1 on the subsample's latent space (None: no labels).
    pub knn_macro_f1: Option<f64>,
    /// The subsample's cells (rows of the training data), the same in every snapshot.
    pub cells: Vec<usize>,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
}

/// Takes the snapshots of one run: the subsample, its labels and folds, the last layout.
#[derive(Debug, Clone)]
pub struct Timeline {
    cells: Vec<usize>,
    labels: Vec<Option<usize>>,
    folds: Option<Folds>,
    knn_k: usize,
    previous: Option<Array2<f32>>,
}

impl Timeline {
    /// A timeline of `max_cells` cells of `n_cells` chosen with `seed`; `labels` (one per cell of
    /// the data) give the kNN macro-F1 when there are two classes to cross-validate.
    pub fn new(
        n_cells: usize,
        labels: Option<&[Option<usize>]>,
        max_cells: usize,
        seed: u64,
        analysis: &AnalysisConfig,
    ) -> Self {
        let cells = subsample_indices(n_cells, max_cells, seed);
        let labels: Vec<Option<usize>> = match labels {
            Some(l) => cells.iter().map(|&c| l[c]).collect(),
            None => vec![None; cells.len()],
        };
        let folds = Folds::stratified(
            &labels,
            analysis.cv_folds,
            analysis.min_class_cells,
            analysis.cv_seed,
        )
        .ok()
        .filter(|f| f.classes.len() >= 2);
        Self {
            cells,
            labels,
            folds,
            knn_k: analysis.knn_k,
            previous: None,
        }
    }

    /// The rows of the training data to embed for each snapshot.
    pub fn cells(&self) -> &[usize] {
        &self.cells
    }

    /// The snapshot of the latent codes `z` (one row per cell of `cells()`) after `epoch`.
    pub fn snapshot(&mut self, epoch: usize, z: ArrayView2<f32>) -> anyhow::Result<Snapshot> {
        anyhow::ensure!(
            z.nrows() == self.cells.len(),
            "timeline: {} latent rows for {} cells",
            z.nrows(),
            self.cells.len()
        );
        let mut xy = layout_2d(z)?;
        if let Some(prev) = &self.previous {
            turn_onto(&mut xy, prev.view());
        }
        let knn_macro_f1 = self
            .folds
            .as_ref()
            .map(|f| knn_cv_macro_f1(z, &self.labels, f, self.knn_k));
        let snapshot = Snapshot {
            epoch,
            knn_macro_f1,
            cells: self.cells.clone(),
            x: xy.column(0).to_vec(),
            y: xy.column(1).to_vec(),
        };
        self.previous = Some(xy);
        Ok(snapshot)
    }
}

/// The observer the worker feeds: a timeline over `train.snapshot_cells` cells of `data`
/// (seeded by `train.seed`), scored against the label column (`data.label`, else a usual
/// cell-type column; no score without one).
pub fn observer(data: &TrainData, config: &Config) -> SharedObserver {
    let name = Some(config.data.label.as_str()).filter(|l| !l.is_empty());
    let labels = super::embed::label_column(&data.obs, name)
        .ok()
        .and_then(|c| c.as_labels())
        .map(|(codes, _)| codes);
    let timeline = Timeline::new(
        data.n_cells(),
        labels.as_deref(),
        config.train.snapshot_cells,
        config.train.seed,
        &config.analysis,
    );
    std::sync::Arc::new(std::sync::Mutex::new(timeline))
}

impl LatentObserver for Timeline {
    fn cells(&self) -> &[usize] {
        &self.cells
    }

    fn observe(
        &mut self,
        epoch: usize,
        z: ArrayView2<f32>,
        run_dir: &Path,
    ) -> anyhow::Result<Option<f64>> {
        if self.previous.is_none() {
            // A resumed run turns its first snapshot onto the last one stored.
            self.previous = read(run_dir)
                .pop()
                .filter(|s| s.cells == self.cells)
                .map(|s| {
                    let n = s.x.len();
                    Array2::from_shape_fn((n, 2), |(i, j)| if j == 0 { s.x[i] } else { s.y[i] })
                });
        }
        let snapshot = self.snapshot(epoch, z)?;
        append(run_dir, &snapshot)?;
        Ok(snapshot.knn_macro_f1)
    }
}

/// The first two principal components of `z` (zeros in a missing second axis).
fn layout_2d(z: ArrayView2<f32>) -> anyhow::Result<Array2<f32>> {
    let scores = pca_dense(z, 2.min(z.ncols()))?.scores;
    let mut xy = Array2::zeros((z.nrows(), 2));
    xy.slice_mut(ndarray::s![.., ..scores.ncols()])
        .assign(&scores);
    Ok(xy)
}

/// Rotates or reflects the centred points `xy` onto `prev` (least squares, orthogonal 2x2).
fn turn_onto(xy: &mut Array2<f32>, prev: ArrayView2<f32>) {
    // M = xy^T prev; the best rotation maximises c(m11 + m22) + s(m21 - m12), the best
    // reflection c(m11 - m22) + s(m12 + m21).
    let m = |a: usize, b: usize| -> f64 {
        xy.column(a)
            .iter()
            .zip(prev.column(b))
            .map(|(p, q)| f64::from(*p) * f64::from(*q))
            .sum()
    };
    let (m11, m12, m21, m22) = (m(0, 0), m(0, 1), m(1, 0), m(1, 1));
    let rotation = (m21 - m12).atan2(m11 + m22);
    let reflection = (m12 + m21).atan2(m11 - m22);
    let r = if (m11 + m22).hypot(m21 - m12) >= (m11 - m22).hypot(m12 + m21) {
        let (s, c) = rotation.sin_cos();
        [[c, -s], [s, c]]
    } else {
        let (s, c) = reflection.sin_cos();
        [[c, s], [s, -c]]
    };
    for mut row in xy.rows_mut() {
        let (a, b) = (f64::from(row[0]), f64::from(row[1]));
        row[0] = (a * r[0][0] + b * r[1][0]) as f32;
        row[1] = (a * r[0][1] + b * r[1][1]) as f32;
    }
}

/// Mean kNN macro-F1 over the folds.
fn knn_cv_macro_f1(z: ArrayView2<f32>, labels: &[Option<usize>], folds: &Folds, k: usize) -> f64 {
    let scores: Vec<f64> = (0..folds.n_folds())
        .map(|f| {
            let d = FoldData::new(z, labels, folds, f);
            macro_f1(&d.truth, &d.knn(k)).unwrap_or(0.0)
        })
        .collect();
    scores.iter().sum::<f64>() / scores.len() as f64
}

/// Appends a snapshot to the run's timeline (after a line torn by a kill, on a line of its own).
pub fn append(run_dir: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    let path = run_dir.join(TIMELINE_FILE);
    let torn = std::fs::read(&path).is_ok_and(|b| b.last().is_some_and(|&c| c != b'\n'));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    if torn {
        writeln!(f)?;
    }
    writeln!(f, "{}", serde_json::to_string(snapshot)?)
}

/// The run's snapshots in order (a torn last line, from a kill mid-write, is skipped).
pub fn read(run_dir: &Path) -> Vec<Snapshot> {
    std::fs::read_to_string(run_dir.join(TIMELINE_FILE))
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::select_rows;
    use ndarray::Array2;

    /// Three separated groups in 8 dimensions, 40 cells each.
    fn groups() -> (Array2<f32>, Vec<Option<usize>>) {
        let z = Array2::from_shape_fn((120, 8), |(i, j)| {
            let g = i / 40;
            let centre = if j == g { 5.0 } else { 0.0 };
            centre + ((i * 7 + j * 13) % 11) as f32 * 0.05
        });
        (z, (0..120).map(|i| Some(i / 40)).collect())
    }

    #[test]
    fn a_reflected_or_rotated_layout_is_turned_back_onto_the_previous_one() {
        let (z, labels) = groups();
        let mut t = Timeline::new(120, Some(&labels), 2000, 0, &AnalysisConfig::default());
        let first = t.snapshot(0, z.view()).unwrap();
        // The same latent space with its axes mirrored: PCA may flip signs; Procrustes undoes it.
        let mirrored = z.mapv(|v| -v);
        let second = t.snapshot(1, mirrored.view()).unwrap();
        for (a, b) in first
            .x
            .iter()
            .zip(&second.x)
            .chain(first.y.iter().zip(&second.y))
        {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        assert_eq!(second.cells.len(), 120);
        let f1 = second.knn_macro_f1.unwrap();
        assert!(f1 > 0.99, "separated groups: kNN macro-F1 {f1}");
    }

    #[test]
    fn procrustes_undoes_a_quarter_turn() {
        let prev = Array2::from_shape_vec((3, 2), vec![1.0, 0.0, 0.0, 2.0, -1.0, -2.0]).unwrap();
        let mut turned =
            Array2::from_shape_vec((3, 2), vec![0.0, 1.0, -2.0, 0.0, 2.0, -1.0]).unwrap();
        turn_onto(&mut turned, prev.view());
        for (a, b) in turned.iter().zip(prev.iter()) {
            assert!((a - b).abs() < 1e-6, "{turned:?}");
        }
    }

    #[test]
    fn no_labels_no_score_and_the_file_round_trips() {
        let (z, _) = groups();
        let mut t = Timeline::new(120, None, 50, 3, &AnalysisConfig::default());
        assert_eq!(t.cells().len(), 50);
        let rows = select_rows(z.view(), t.cells());
        let s = t.snapshot(4, rows.view()).unwrap();
        assert_eq!(s.knn_macro_f1, None);
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), &s).unwrap();
        append(dir.path(), &s).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(TIMELINE_FILE))
            .unwrap()
            .write_all(b"{\"epoch\": 9, \"x\"")
            .unwrap();
        append(dir.path(), &s).unwrap();
        assert_eq!(read(dir.path()), vec![s.clone(), s.clone(), s]);
        assert!(t.snapshot(5, z.view()).is_err(), "wrong number of rows");
    }
}
