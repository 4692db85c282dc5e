//! Marker genes of a selected group of cells against the rest: mean difference and Welch's
//! t-test (scipy's `ttest_ind(equal_var=False)`), from sparse log-normalised expression.

use serde::{Deserialize, Serialize};

use super::AnalysisError;
use crate::data::CsrMatrix;

/// One gene's statistics for a group against the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkerGene {
    /// Column index of the gene.
    pub gene: usize,
    pub mean_in: f64,
    pub mean_out: f64,
    /// mean_in - mean_out (on log-normalised values: a log fold change).
    pub mean_diff: f64,
    /// Welch's t; `None` when the gene has no variance in either group (scipy gives NaN/inf).
    pub t: Option<f64>,
    /// Two-sided p-value of `t` with Welch-Satterthwaite degrees of freedom.
    pub p_value: Option<f64>,
}

/// How [`top_markers`] orders genes (largest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerRank {
    MeanDiff,
    WelchT,
}

/// Statistics of every gene for the cells where `in_group` is true against the others.
/// Each side needs at least two cells.
pub fn gene_tests(x: &CsrMatrix, in_group: &[bool]) -> Result<Vec<MarkerGene>, AnalysisError> {
    if in_group.len() != x.n_rows {
        return Err(AnalysisError::Shape(format!(
            "group mask has {} entries for {} cells",
            in_group.len(),
            x.n_rows
        )));
    }
    let n_in = in_group.iter().filter(|&&b| b).count();
    let n_out = x.n_rows - n_in;
    if n_in.min(n_out) < 2 {
        return Err(AnalysisError::TooFew {
            what: "cells on each side of the marker test",
            got: n_in.min(n_out),
            need: 2,
        });
    }
    // Per gene and side: sum and sum of squares of the non-zeros.
    let mut sums = vec![[0.0f64; 4]; x.n_cols];
    for (i, &inside) in in_group.iter().enumerate() {
        let side = if inside { 0 } else { 2 };
        let (idx, val) = x.row(i);
        for (&j, &v) in idx.iter().zip(val) {
            let v = f64::from(v);
            sums[j as usize][side] += v;
            sums[j as usize][side + 1] += v * v;
        }
    }
    let stats = |s: f64, s2: f64, n: usize| {
        let n = n as f64;
        let mean = s / n;
        (mean, ((s2 - s * mean) / (n - 1.0)).max(0.0))
    };
    Ok(sums
        .iter()
        .enumerate()
        .map(|(gene, s)| {
            let (m1, v1) = stats(s[0], s[1], n_in);
            let (m2, v2) = stats(s[2], s[3], n_out);
            let (a, b) = (v1 / n_in as f64, v2 / n_out as f64);
            let se = (a + b).sqrt();
            let (t, p_value) = if se > 0.0 {
                let t = (m1 - m2) / se;
                let df =
                    (a + b).powi(2) / (a * a / (n_in as f64 - 1.0) + b * b / (n_out as f64 - 1.0));
                (Some(t), Some(student_t_two_sided(t, df)))
            } else {
                (None, None)
            };
            MarkerGene {
                gene,
                mean_in: m1,
                mean_out: m2,
                mean_diff: m1 - m2,
                t,
                p_value,
            }
        })
        .collect())
}

/// The `n_top` genes most up in the group, by mean difference or Welch's t (untestable last).
pub fn top_markers(
    x: &CsrMatrix,
    in_group: &[bool],
    n_top: usize,
    rank: MarkerRank,
) -> Result<Vec<MarkerGene>, AnalysisError> {
    let mut genes = gene_tests(x, in_group)?;
    let key = |g: &MarkerGene| match rank {
        MarkerRank::MeanDiff => g.mean_diff,
        MarkerRank::WelchT => g.t.unwrap_or(f64::NEG_INFINITY),
    };
    genes.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.gene.cmp(&b.gene)));
    genes.truncate(n_top);
    Ok(genes)
}

/// Two-sided p-value of Student's t with `df` degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2).
fn student_t_two_sided(t: f64, df: f64) -> f64 {
    regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// I_x(a, b) by Lentz's continued fraction (Numerical Recipes `betai`).
fn regularized_incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    d = 1.0 / if d.abs() < TINY { TINY } else { d };
    let mut h = d;
    for m in 1..500 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        for aa in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + aa * d;
            d = 1.0 / if d.abs() < TINY { TINY } else { d };
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            h *= d * c;
            if aa == 0.0 {
                break;
            }
        }
        let last = d * c;
        if (last - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms; ~1e-15 relative).
fn ln_gamma(x: f64) -> f64 {
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let series = COEF[1..]
        .iter()
        .enumerate()
        .fold(COEF[0], |acc, (i, c)| acc + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_distribution_tail_matches_known_values() {
        // t = 2.0 with 10 df: two-sided p = 0.07338803477074...; 1 df is the Cauchy tail.
        assert!((student_t_two_sided(2.0, 10.0) - 0.073_388_034_770_740_37).abs() < 1e-12);
        let cauchy = 1.0 - 2.0 * (3.0f64).atan() / std::f64::consts::PI;
        assert!((student_t_two_sided(3.0, 1.0) - cauchy).abs() < 1e-12);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
    }

    #[test]
    fn marker_of_the_group_ranks_first_and_small_groups_are_rejected() {
        let dense = [1.0, 5.0, 1.1, 6.0, 0.9, 0.0, 1.0, 0.1, 1.2, 0.0];
        let x = CsrMatrix::from_dense(5, 2, &dense);
        let group = [true, true, false, false, false];
        let top = top_markers(&x, &group, 1, MarkerRank::WelchT).unwrap();
        assert_eq!(top[0].gene, 1);
        assert!(gene_tests(&x, &[true, false, false, false, false]).is_err());
    }
}
