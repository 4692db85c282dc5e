//! The logistic-regression probe of an embedding: features standardised with the training cells'
//! mean and standard deviation, then multinomial logistic regression (linfa-logistic, L-BFGS)
//! with scikit-learn's default penalty, i.e. the probe `LogisticRegression()` would fit.

use linfa::Dataset;
use linfa::traits::{Fit, Predict};
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2, ArrayView2, Axis};

use super::AnalysisError;

/// Inverse L2 strength C, as scikit-learn's default: the loss is the summed cross-entropy plus
/// |W|^2 / (2C), intercepts unpenalised (linfa's `alpha` is 1 / C).
pub const PROBE_C: f64 = 1.0;
/// Most L-BFGS iterations; the fit stops earlier once the gradient's norm is below
/// [`PROBE_GRADIENT_TOLERANCE`].
pub const PROBE_MAX_ITERATIONS: u64 = 500;
/// Gradient tolerance of the L-BFGS stop.
pub const PROBE_GRADIENT_TOLERANCE: f64 = 1e-5;

/// Per-feature centre and scale (scikit-learn's `StandardScaler`: population sd, a constant
/// feature is only centred).
#[derive(Debug, Clone)]
struct Standardiser {
    mean: Array1<f64>,
    scale: Array1<f64>,
}

impl Standardiser {
    fn fit(x: &Array2<f64>) -> Self {
        let mean = x
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(x.ncols()));
        let scale = x
            .std_axis(Axis(0), 0.0)
            .mapv(|s| if s > f64::EPSILON { s } else { 1.0 });
        Self { mean, scale }
    }

    fn apply(&self, x: ArrayView2<f32>) -> Array2<f64> {
        (x.mapv(f64::from) - &self.mean) / &self.scale
    }
}

/// A fitted probe: the standardiser and the multinomial model over the training classes.
pub struct LogisticProbe {
    standardiser: Standardiser,
    model: MultiFittedLogisticRegression<f64, usize>,
}

impl LogisticProbe {
    /// Fits on the rows of `x` labelled `y` (at least two classes).
    pub fn fit(x: ArrayView2<f32>, y: &[usize]) -> Result<Self, AnalysisError> {
        if x.nrows() != y.len() {
            return Err(AnalysisError::Shape(format!(
                "{} rows but {} labels",
                x.nrows(),
                y.len()
            )));
        }
        let mut classes = y.to_vec();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() < 2 {
            return Err(AnalysisError::TooFew {
                what: "classes to train the logistic probe on",
                got: classes.len(),
                need: 2,
            });
        }
        let raw = x.mapv(f64::from);
        let standardiser = Standardiser::fit(&raw);
        let records = standardiser.apply(x);
        let data = Dataset::new(records, Array1::from(y.to_vec()));
        let model = MultiLogisticRegression::default()
            .alpha(1.0 / PROBE_C)
            .max_iterations(PROBE_MAX_ITERATIONS)
            .gradient_tolerance(PROBE_GRADIENT_TOLERANCE)
            .fit(&data)
            .map_err(|e| AnalysisError::Invalid(format!("logistic probe: {e}")))?;
        Ok(Self {
            standardiser,
            model,
        })
    }

    /// The most probable class of each row.
    pub fn predict(&self, x: ArrayView2<f32>) -> Vec<usize> {
        self.model.predict(&self.standardiser.apply(x)).to_vec()
    }

    /// Class probabilities of each row (columns in [`Self::classes`] order).
    pub fn probabilities(&self, x: ArrayView2<f32>) -> Array2<f64> {
        self.model
            .predict_probabilities(&self.standardiser.apply(x))
    }

    /// The training classes, ascending.
    pub fn classes(&self) -> &[usize] {
        self.model.classes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::tests::random_points;

    #[test]
    fn separable_classes_are_predicted_and_probabilities_sum_to_one() {
        let mut x = random_points(60, 3, 2);
        let y: Vec<usize> = (0..60).map(|i| i % 3).collect();
        for (mut row, &c) in x.rows_mut().into_iter().zip(&y) {
            row[c] += 5.0;
        }
        let probe = LogisticProbe::fit(x.view(), &y).unwrap();
        assert_eq!(probe.classes(), [0, 1, 2]);
        assert_eq!(probe.predict(x.view()), y);
        for row in probe.probabilities(x.view()).rows() {
            assert!((row.sum() - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn one_class_or_mismatched_labels_are_errors_not_panics() {
        let x = random_points(5, 2, 1);
        assert!(LogisticProbe::fit(x.view(), &[1; 5]).is_err());
        assert!(LogisticProbe::fit(x.view(), &[0, 1]).is_err());
    }
}
