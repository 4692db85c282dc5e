//! Per-gene reconstruction error on held-out cells (MSE, Pearson r, explained variance) and the
//! overall explained variance as sklearn's `explained_variance_score`, accumulated batch by batch.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use super::AnalysisError;

/// Reconstruction quality per gene and overall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconstruction {
    /// Cells the figures were computed on.
    pub n_cells: usize,
    /// Mean squared error per gene.
    pub mse: Vec<f64>,
    /// Pearson correlation of truth and prediction per gene; `None` when either is constant.
    pub pearson: Vec<Option<f64>>,
    /// Explained variance per gene, 1 - Var(y - yhat) / Var(y); a constant gene scores 1.0 when
    /// its error is constant too and 0.0 otherwise (sklearn's `force_finite`).
    pub explained_variance: Vec<f64>,
    /// 1 - sum_g Var(y_g - yhat_g) / sum_g Var(y_g) over non-constant genes
    /// (sklearn `multioutput='variance_weighted'`).
    pub ev_weighted: f64,
    /// Mean of the per-gene explained variances (sklearn `multioutput='uniform_average'`).
    pub ev_uniform: f64,
    /// Mean squared error over all cells and genes.
    pub mse_overall: f64,
}

/// Running per-gene sums for truth, prediction and error, shifted by the first cell's values so
/// that the variances stay accurate (and exactly zero for constant genes).
#[derive(Debug, Clone)]
pub struct ReconAccumulator {
    n_genes: usize,
    n: usize,
    shift: Vec<[f64; 3]>,
    // Per gene: sums of y, yhat, e, y^2, yhat^2, e^2, y*yhat (all shifted), and of raw e^2.
    sums: Vec<[f64; 8]>,
}

impl ReconAccumulator {
    /// An empty accumulator for `n_genes` genes.
    pub fn new(n_genes: usize) -> Self {
        Self {
            n_genes,
            n: 0,
            shift: Vec::new(),
            sums: vec![[0.0; 8]; n_genes],
        }
    }

    /// Adds a batch of cells: truth and prediction, both cells x genes.
    pub fn add(&mut self, y: ArrayView2<f32>, yhat: ArrayView2<f32>) -> Result<(), AnalysisError> {
        if y.dim() != yhat.dim() || y.ncols() != self.n_genes {
            return Err(AnalysisError::Shape(format!(
                "truth {:?} and prediction {:?} for {} genes",
                y.dim(),
                yhat.dim(),
                self.n_genes
            )));
        }
        if y.nrows() == 0 {
            return Ok(());
        }
        if self.shift.is_empty() {
            self.shift = (0..self.n_genes)
                .map(|g| {
                    let (a, b) = (f64::from(y[[0, g]]), f64::from(yhat[[0, g]]));
                    [a, b, a - b]
                })
                .collect();
        }
        for (yr, pr) in y.rows().into_iter().zip(yhat.rows()) {
            for (g, (&yv, &pv)) in yr.iter().zip(pr.iter()).enumerate() {
                let (yv, pv) = (f64::from(yv), f64::from(pv));
                let raw_e = yv - pv;
                let [ky, kp, ke] = self.shift[g];
                let (a, b, e) = (yv - ky, pv - kp, raw_e - ke);
                let s = &mut self.sums[g];
                s[0] += a;
                s[1] += b;
                s[2] += e;
                s[3] += a * a;
                s[4] += b * b;
                s[5] += e * e;
                s[6] += a * b;
                s[7] += raw_e * raw_e;
            }
        }
        self.n += y.nrows();
        Ok(())
    }

    /// The figures over every cell added; `None` before any cell was added.
    pub fn finish(&self) -> Option<Reconstruction> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let var = |s2: f64, s1: f64| ((s2 - s1 * s1 / n) / n).max(0.0);
        let mut mse = Vec::with_capacity(self.n_genes);
        let mut pearson = Vec::with_capacity(self.n_genes);
        let mut ev = Vec::with_capacity(self.n_genes);
        let (mut num_sum, mut den_sum, mut any_num) = (0.0, 0.0, false);
        for s in &self.sums {
            let (vy, vp, ve) = (var(s[3], s[0]), var(s[4], s[1]), var(s[5], s[2]));
            let cov = (s[6] - s[0] * s[1] / n) / n;
            mse.push(s[7] / n);
            pearson.push((vy > 0.0 && vp > 0.0).then(|| (cov / (vy * vp).sqrt()).clamp(-1.0, 1.0)));
            ev.push(match (ve > 0.0, vy > 0.0) {
                (_, true) => 1.0 - ve / vy,
                (true, false) => 0.0,
                (false, false) => 1.0,
            });
            any_num |= ve > 0.0;
            if vy > 0.0 {
                num_sum += ve;
                den_sum += vy;
            }
        }
        let ev_weighted = if den_sum > 0.0 {
            1.0 - num_sum / den_sum
        } else if any_num {
            0.0
        } else {
            1.0
        };
        let ev_uniform = ev.iter().sum::<f64>() / ev.len().max(1) as f64;
        let mse_overall = mse.iter().sum::<f64>() / mse.len().max(1) as f64;
        Some(Reconstruction {
            n_cells: self.n,
            mse,
            pearson,
            explained_variance: ev,
            ev_weighted,
            ev_uniform,
            mse_overall,
        })
    }
}

/// Reconstruction figures for one truth/prediction pair (cells x genes).
pub fn reconstruction(
    y: ArrayView2<f32>,
    yhat: ArrayView2<f32>,
) -> Result<Reconstruction, AnalysisError> {
    let mut acc = ReconAccumulator::new(y.ncols());
    acc.add(y, yhat)?;
    acc.finish().ok_or(AnalysisError::TooFew {
        what: "cells for reconstruction",
        got: 0,
        need: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::tests::random_points;
    use ndarray::s;

    #[test]
    fn batches_give_the_same_figures_as_one_pass() {
        let y = random_points(50, 6, 1);
        let p = random_points(50, 6, 2);
        let whole = reconstruction(y.view(), p.view()).unwrap();
        let mut acc = ReconAccumulator::new(6);
        acc.add(y.slice(s![..17, ..]), p.slice(s![..17, ..]))
            .unwrap();
        acc.add(y.slice(s![17.., ..]), p.slice(s![17.., ..]))
            .unwrap();
        let parts = acc.finish().unwrap();
        assert!((whole.ev_weighted - parts.ev_weighted).abs() < 1e-12);
        assert!((whole.mse[3] - parts.mse[3]).abs() < 1e-12);
    }

    #[test]
    fn perfect_prediction_explains_everything_and_shapes_are_checked() {
        let y = random_points(10, 3, 1);
        let r = reconstruction(y.view(), y.view()).unwrap();
        assert_eq!(
            (r.ev_weighted, r.ev_uniform, r.mse_overall),
            (1.0, 1.0, 0.0)
        );
        assert!(reconstruction(y.view(), y.slice(s![.., ..2])).is_err());
        assert!(ReconAccumulator::new(3).finish().is_none());
    }

    #[test]
    fn constant_genes_give_finite_figures() {
        let mut y = random_points(10, 3, 1);
        y.column_mut(1).fill(2.5);
        y.column_mut(2).fill(0.0);
        let p = random_points(10, 3, 2);
        let r = reconstruction(y.view(), p.view()).unwrap();
        assert_eq!(r.pearson[1], None);
        assert_eq!(r.explained_variance[1], 0.0);
        let all = [r.ev_weighted, r.ev_uniform, r.mse_overall];
        assert!(
            all.iter()
                .chain(&r.explained_variance)
                .chain(&r.mse)
                .all(|v| v.is_finite()),
            "{r:?}"
        );
        let exact = reconstruction(y.view(), y.view()).unwrap();
        assert_eq!(exact.explained_variance, vec![1.0; 3]);
    }
}
