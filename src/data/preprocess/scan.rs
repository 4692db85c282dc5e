//! Whole-matrix statistics gathered block by block (value kind, per-gene moments), so the same
//! code serves an in-memory matrix (one block) and a file streamed in row blocks.

use super::{GeneStat, LOG_MAX, ValueKind};
use crate::data::{CsrMatrix, DataError};

/// Row blocks of a counts matrix, visited in row order once per pass.
pub trait RowBlocks {
    /// Number of genes (columns).
    fn n_cols(&self) -> usize;
    /// Calls `f` with each block and the index of its first row, in row order.
    fn for_each_block(
        &mut self,
        f: &mut dyn FnMut(usize, &CsrMatrix) -> Result<(), DataError>,
    ) -> Result<(), DataError>;
}

/// An in-memory matrix seen as a single block.
pub struct Whole<'a>(pub &'a CsrMatrix);

impl RowBlocks for Whole<'_> {
    fn n_cols(&self) -> usize {
        self.0.n_cols
    }

    fn for_each_block(
        &mut self,
        f: &mut dyn FnMut(usize, &CsrMatrix) -> Result<(), DataError>,
    ) -> Result<(), DataError> {
        f(0, self.0)
    }
}

/// Running facts that decide the [`ValueKind`]: all-integer, any negative, maximum.
#[derive(Debug, Clone, Copy)]
pub struct KindScan {
    integer: bool,
    negative: bool,
    max: f32,
}

impl Default for KindScan {
    fn default() -> Self {
        Self {
            integer: true,
            negative: false,
            max: f32::NEG_INFINITY,
        }
    }
}

impl KindScan {
    /// Adds a block's values.
    pub fn add(&mut self, x: &CsrMatrix) {
        for &v in &x.data {
            self.integer &= v.fract() == 0.0;
            self.negative |= v < 0.0;
            self.max = self.max.max(v);
        }
    }

    /// The kind of all values added so far.
    pub fn kind(&self) -> ValueKind {
        if self.integer {
            ValueKind::RawCounts
        } else if self.negative {
            ValueKind::Scaled
        } else if self.max < LOG_MAX {
            ValueKind::LogNormalized
        } else {
            ValueKind::Normalized
        }
    }
}

/// Per-gene sums, sums of squares and detection counts over the rows added so far.
#[derive(Debug, Clone)]
pub struct Moments {
    n: usize,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    detected: Vec<usize>,
}

impl Moments {
    /// Empty moments for `n_cols` genes.
    pub fn new(n_cols: usize) -> Self {
        Self {
            n: 0,
            sum: vec![0.0; n_cols],
            sum_sq: vec![0.0; n_cols],
            detected: vec![0; n_cols],
        }
    }

    /// Adds a block's rows.
    pub fn add(&mut self, x: &CsrMatrix) {
        self.n += x.n_rows;
        for (&j, &v) in x.indices.iter().zip(&x.data) {
            let (j, v) = (j as usize, f64::from(v));
            self.sum[j] += v;
            self.sum_sq[j] += v * v;
            self.detected[j] += usize::from(v != 0.0);
        }
    }

    /// Rows added.
    pub fn n_rows(&self) -> usize {
        self.n
    }

    /// Mean, detection rate and variance (ddof 1) of each gene.
    pub fn stats(&self) -> Vec<GeneStat> {
        let n = self.n as f64;
        (0..self.sum.len())
            .map(|j| {
                let mean = if n > 0.0 { self.sum[j] / n } else { 0.0 };
                let variance = if n > 1.0 {
                    (self.sum_sq[j] / n - mean * mean) * n / (n - 1.0)
                } else {
                    0.0
                };
                GeneStat {
                    mean,
                    detection_rate: if n > 0.0 {
                        self.detected[j] as f64 / n
                    } else {
                        0.0
                    },
                    variance: variance.max(0.0),
                }
            })
            .collect()
    }
}
