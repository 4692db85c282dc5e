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
    Ok(sums
        .iter()
        .enumerate()
        .map(|(gene, s)| welch(gene, (s[0], s[1], n_in), (s[2], s[3], n_out)))
        .collect())
}

/// One gene's statistics from (sum, sum of squares, cells) inside the group and in the rest.
fn welch(gene: usize, inside: (f64, f64, usize), rest: (f64, f64, usize)) -> MarkerGene {
    let stats = |(s, s2, n): (f64, f64, usize)| {
        let n = n as f64;
        let mean = s / n;
        (mean, ((s2 - s * mean) / (n - 1.0)).max(0.0))
    };
    let ((m1, v1), (m2, v2)) = (stats(inside), stats(rest));
    let (n_in, n_out) = (inside.2 as f64, rest.2 as f64);
    let (a, b) = (v1 / n_in, v2 / n_out);
    let se = (a + b).sqrt();
    let (t, p_value) = if se > 0.0 {
        let t = (m1 - m2) / se;
        let df = (a + b).powi(2) / (a * a / (n_in - 1.0) + b * b / (n_out - 1.0));
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
}

/// Orders genes largest first by `rank` (untestable last, ties by gene index), keeps `n_top`.
fn keep_top(mut genes: Vec<MarkerGene>, n_top: usize, rank: MarkerRank) -> Vec<MarkerGene> {
    let key = |g: &MarkerGene| match rank {
        MarkerRank::MeanDiff => g.mean_diff,
        MarkerRank::WelchT => g.t.unwrap_or(f64::NEG_INFINITY),
    };
    genes.sort_by(|a, b| key(b).total_cmp(&key(a)).then(a.gene.cmp(&b.gene)));
    genes.truncate(n_top);
    genes
}

/// The `n_top` markers of every group of a grouping (`groups[cell]`; None: in no group) against
/// all other cells, from one pass over the matrix; a group with fewer than two cells inside or
/// outside gets an empty list. Equal to [`top_markers`] on each group's mask.
pub fn markers_by_group(
    x: &CsrMatrix,
    groups: &[Option<usize>],
    n_groups: usize,
    n_top: usize,
    rank: MarkerRank,
) -> Result<Vec<Vec<MarkerGene>>, AnalysisError> {
    if groups.len() != x.n_rows {
        return Err(AnalysisError::Shape(format!(
            "groups has {} entries for {} cells",
            groups.len(),
            x.n_rows
        )));
    }
    if let Some(g) = groups.iter().flatten().find(|&&g| g >= n_groups) {
        return Err(AnalysisError::Invalid(format!(
            "group {g} out of range for {n_groups} groups"
        )));
    }
    // Per group and gene: sum and sum of squares; the last block holds all cells, so the rest of
    // a group is the total minus the group.
    let g = x.n_cols;
    let mut sums = vec![[0.0f64; 2]; (n_groups + 1) * g];
    let mut sizes = vec![0usize; n_groups];
    for (i, group) in groups.iter().enumerate() {
        let (idx, val) = x.row(i);
        let base = group.map(|k| {
            sizes[k] += 1;
            k * g
        });
        for (&j, &v) in idx.iter().zip(val) {
            let (j, v) = (j as usize, f64::from(v));
            let total = &mut sums[n_groups * g + j];
            total[0] += v;
            total[1] += v * v;
            if let Some(base) = base {
                let s = &mut sums[base + j];
                s[0] += v;
                s[1] += v * v;
            }
        }
    }
    let n = x.n_rows;
    Ok((0..n_groups)
        .map(|k| {
            let n_in = sizes[k];
            if n_in.min(n - n_in) < 2 {
                return Vec::new();
            }
            let genes = (0..g)
                .map(|j| {
                    let [s, s2] = sums[k * g + j];
                    let [t, t2] = sums[n_groups * g + j];
                    welch(j, (s, s2, n_in), (t - s, t2 - s2, n - n_in))
                })
                .collect();
            keep_top(genes, n_top, rank)
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
    Ok(keep_top(gene_tests(x, in_group)?, n_top, rank))
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

    #[test]
    fn markers_of_every_group_in_one_pass_equal_the_per_group_test() {
        let (n, g) = (40, 6);
        let dense: Vec<f32> = (0..n * g)
            .map(|i| {
                let (cell, gene) = (i / g, i % g);
                let v = ((cell * 7 + gene * 13) % 11) as f32 / 3.0;
                if cell % 4 == gene % 4 || v > 2.5 {
                    v
                } else {
                    0.0
                }
            })
            .collect();
        let x = CsrMatrix::from_dense(n, g, &dense);
        let groups: Vec<Option<usize>> = (0..n).map(|i| (i % 5 != 4).then_some(i % 4)).collect();
        let all = markers_by_group(&x, &groups, 5, 3, MarkerRank::WelchT).unwrap();
        for (k, got) in all.iter().enumerate().take(4) {
            let mask: Vec<bool> = groups.iter().map(|&c| c == Some(k)).collect();
            let want = top_markers(&x, &mask, 3, MarkerRank::WelchT).unwrap();
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert_eq!(a.gene, b.gene);
                assert!((a.mean_diff - b.mean_diff).abs() < 1e-9);
                assert!((a.t.unwrap() - b.t.unwrap()).abs() < 1e-6);
            }
        }
        assert!(all[4].is_empty(), "an empty group has no markers");
        assert!(markers_by_group(&x, &groups, 3, 3, MarkerRank::WelchT).is_err());
    }
}
