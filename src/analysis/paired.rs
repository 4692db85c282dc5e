//! SSL against the PCA baseline on the same folds: per-fold differences, their mean and sd, and
//! a verdict. The rule: with d the per-fold differences (SSL - PCA) over k folds and
//! se = sd(d) / sqrt(k), the verdict is "better" when mean(d) > max(2 se, 0.01), "worse" when
//! mean(d) < -max(2 se, 0.01), else "no clear difference". The folds share training cells, so se
//! understates the uncertainty: read "better"/"worse" as a consistent difference over folds of
//! at least 0.01, not as a significance test.

use serde::Serialize;

use super::transfer::report::Stat;

/// Standard errors the mean difference must exceed.
pub const VERDICT_SE_FACTOR: f64 = 2.0;
/// Smallest difference ever called better or worse.
pub const VERDICT_MIN_DIFFERENCE: f64 = 0.01;

/// How SSL compares with PCA on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "better")]
    Better,
    #[serde(rename = "no clear difference")]
    NoClearDifference,
    #[serde(rename = "worse")]
    Worse,
}

impl Verdict {
    /// The verdict on per-fold differences (SSL - PCA) by the rule in the module docs.
    pub fn of(differences: &[f64]) -> Self {
        let s = Stat::of(differences);
        let se = s.sd / (differences.len() as f64).sqrt();
        let margin = (VERDICT_SE_FACTOR * se).max(VERDICT_MIN_DIFFERENCE);
        if s.mean > margin {
            Self::Better
        } else if s.mean < -margin {
            Self::Worse
        } else {
            Self::NoClearDifference
        }
    }

    /// The verdict in words.
    pub fn word(self) -> &'static str {
        match self {
            Self::Better => "better",
            Self::NoClearDifference => "no clear difference",
            Self::Worse => "worse",
        }
    }
}

/// One value for SSL, one for PCA and one for their difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sides<T> {
    pub ssl: T,
    pub pca: T,
    pub diff: T,
}

/// A metric over the folds for SSL and PCA: means, their paired difference and the verdict,
/// with the sds and per-fold values nested (so the Runs pane lists the means only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paired {
    pub ssl: f64,
    pub pca: f64,
    /// Mean of the per-fold differences SSL - PCA.
    pub diff: f64,
    pub verdict: Verdict,
    /// Sample standard deviations over folds.
    pub sd: Sides<f64>,
    pub folds: Sides<Vec<f64>>,
}

impl Paired {
    /// Pairs per-fold values of SSL and PCA (same folds, same order; at least one fold).
    pub fn new(ssl: Vec<f64>, pca: Vec<f64>) -> Self {
        let diff: Vec<f64> = ssl.iter().zip(&pca).map(|(a, b)| a - b).collect();
        let (s, p, d) = (Stat::of(&ssl), Stat::of(&pca), Stat::of(&diff));
        Self {
            ssl: s.mean,
            pca: p.mean,
            diff: d.mean,
            verdict: Verdict::of(&diff),
            sd: Sides {
                ssl: s.sd,
                pca: p.sd,
                diff: d.sd,
            },
            folds: Sides { ssl, pca, diff },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_needs_a_consistent_difference_of_at_least_a_hundredth() {
        // Mean 0.03, sd 0.007: 2 se = 0.006, so the 0.01 floor is the margin.
        assert_eq!(
            Verdict::of(&[0.02, 0.03, 0.04, 0.03, 0.03]),
            Verdict::Better
        );
        assert_eq!(
            Verdict::of(&[-0.02, -0.03, -0.04, -0.03, -0.03]),
            Verdict::Worse
        );
        // Mean 0.03 but sd 0.054: 2 se = 0.049 exceeds it.
        assert_eq!(
            Verdict::of(&[0.1, -0.02, 0.05, -0.03, 0.05]),
            Verdict::NoClearDifference
        );
        // Perfectly consistent but tiny: under 0.01.
        assert_eq!(Verdict::of(&[0.005; 5]), Verdict::NoClearDifference);
        assert_eq!(Verdict::of(&[0.011; 5]), Verdict::Better);
    }

    #[test]
    fn paired_differences_are_per_fold() {
        let p = Paired::new(vec![0.8, 0.7, 0.9], vec![0.7, 0.7, 0.7]);
        assert!((p.diff - 0.1).abs() < 1e-12);
        assert_eq!(p.folds.diff.len(), 3);
        assert!((p.folds.diff[2] - 0.2).abs() < 1e-12);
        assert!((p.sd.diff - 0.1).abs() < 1e-12);
        assert!(p.sd.pca < 1e-12);
        // Mean 0.1, se 0.0577: 2 se = 0.115 > 0.1.
        assert_eq!(p.verdict, Verdict::NoClearDifference);
        assert_eq!(
            serde_json::to_value(p.verdict).unwrap(),
            "no clear difference"
        );
    }
}
