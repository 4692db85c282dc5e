//! The sweep table: one row per method and mask rate, figures as mean ± sd over seeds, each
//! embedding beside the PCA baseline of the same cells and folds, the verdict by the rule of
//! `cellscope eval` applied to the per-fold differences of all seeds, the best combination marked.

use serde::Serialize;

use super::task::{FoldPair, Row, read_row};
use super::{Sweep, has_mask_rate};
use crate::analysis::paired::Verdict;
use crate::analysis::transfer::report::{Stat, fmt_stat};
use crate::train::Method;

/// One metric of a combination against PCA.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VsPca {
    /// Over seeds, each seed's mean over folds.
    pub ssl: Stat,
    pub pca: Stat,
    /// Over seeds, each seed's mean per-fold difference SSL - PCA.
    pub diff: Stat,
    /// The eval rule on the per-fold differences of every seed.
    pub verdict: Verdict,
}

impl VsPca {
    /// Compares the per-fold values of each seed (None when no seed has them).
    fn of(pairs: &[&FoldPair]) -> Option<Self> {
        if pairs.is_empty() {
            return None;
        }
        let mean = |v: &[f64]| Stat::of(v).mean;
        let ssl: Vec<f64> = pairs.iter().map(|p| mean(&p.ssl)).collect();
        let pca: Vec<f64> = pairs.iter().map(|p| mean(&p.pca)).collect();
        let diff: Vec<f64> = ssl.iter().zip(&pca).map(|(s, p)| s - p).collect();
        let folds: Vec<f64> = pairs
            .iter()
            .flat_map(|p| p.ssl.iter().zip(&p.pca).map(|(s, c)| s - c))
            .collect();
        Some(Self {
            ssl: Stat::of(&ssl),
            pca: Stat::of(&pca),
            diff: Stat::of(&diff),
            verdict: Verdict::of(&folds),
        })
    }
}

/// One method and mask rate over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Combination {
    pub method: String,
    pub mask_rate: Option<f64>,
    pub seeds_done: usize,
    pub seeds_asked: u64,
    pub knn_macro_f1: Option<VsPca>,
    pub logistic_macro_f1: Option<VsPca>,
    pub kmeans_ari: Option<Stat>,
    pub pca_kmeans_ari: Option<Stat>,
    /// Weighted explained variance of the held-out reconstruction (masked methods).
    pub ev: Option<Stat>,
    /// The highest mean kNN macro-F1 of the sweep.
    pub best: bool,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepTable {
    pub sweep: std::path::PathBuf,
    pub data: std::path::PathBuf,
    pub runs_done: usize,
    pub runs_asked: usize,
    pub rows: Vec<Combination>,
    /// PCA over every finished run (its figures vary only with the run's seed).
    pub pca_knn_macro_f1: Option<Stat>,
    pub pca_logistic_macro_f1: Option<Stat>,
    pub pca_kmeans_ari: Option<Stat>,
}

/// Mean and sd of the values that are present (None when none are).
fn stat_of(values: impl Iterator<Item = Option<f64>>) -> Option<Stat> {
    let v: Vec<f64> = values.flatten().filter(|x| x.is_finite()).collect();
    (!v.is_empty()).then(|| Stat::of(&v))
}

/// Gathers the rows the sweep's finished tasks wrote.
pub fn collect(sweep: &Sweep) -> anyhow::Result<SweepTable> {
    let tasks = sweep.spec.tasks()?;
    let rows: Vec<(super::Task, Option<Row>)> = tasks
        .iter()
        .map(|t| (*t, read_row(&sweep.run_dir(t))))
        .collect();
    let mut combos: Vec<Combination> = Vec::new();
    for name in &sweep.spec.methods {
        let method = Method::parse(name)?;
        let rates: Vec<Option<f64>> = if has_mask_rate(method) {
            sweep.spec.mask_rates.iter().copied().map(Some).collect()
        } else {
            vec![None]
        };
        for rate in rates {
            let done: Vec<&Row> = rows
                .iter()
                .filter(|(t, _)| t.method == method && t.mask_rate == rate)
                .filter_map(|(_, r)| r.as_ref())
                .collect();
            let pairs = |f: fn(&Row) -> Option<&FoldPair>| -> Vec<&FoldPair> {
                done.iter().filter_map(|r| f(r)).collect()
            };
            combos.push(Combination {
                method: method.name().into(),
                mask_rate: rate,
                seeds_done: done.len(),
                seeds_asked: sweep.spec.seeds,
                knn_macro_f1: VsPca::of(&pairs(|r| r.knn_macro_f1.as_ref())),
                logistic_macro_f1: VsPca::of(&pairs(|r| r.logistic_macro_f1.as_ref())),
                kmeans_ari: stat_of(done.iter().map(|r| r.ari)),
                pca_kmeans_ari: stat_of(done.iter().map(|r| r.pca_ari)),
                ev: stat_of(done.iter().map(|r| r.ev)),
                best: false,
            });
        }
    }
    let best = combos
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.knn_macro_f1.as_ref().map(|k| (i, k.ssl.mean)))
        .filter(|(_, m)| m.is_finite())
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i);
    if let Some(i) = best {
        combos[i].best = true;
    }
    let finished: Vec<&Row> = rows.iter().filter_map(|(_, r)| r.as_ref()).collect();
    let pca_mean = |f: fn(&Row) -> Option<&FoldPair>| {
        stat_of(finished.iter().map(|r| f(r).map(|p| Stat::of(&p.pca).mean)))
    };
    Ok(SweepTable {
        sweep: sweep.dir.clone(),
        data: sweep.spec.data.clone(),
        runs_done: finished.len(),
        runs_asked: tasks.len(),
        rows: combos,
        pca_knn_macro_f1: pca_mean(|r| r.knn_macro_f1.as_ref()),
        pca_logistic_macro_f1: pca_mean(|r| r.logistic_macro_f1.as_ref()),
        pca_kmeans_ari: stat_of(finished.iter().map(|r| r.pca_ari)),
    })
}

/// "+0.013 better", or "n/a".
pub fn vs_cell(v: Option<&VsPca>) -> String {
    v.filter(|v| v.diff.mean.is_finite())
        .map_or("n/a".into(), |v| {
            format!("{:+.3} {}", v.diff.mean, v.verdict.word())
        })
}

/// The table as aligned text.
pub fn render(t: &SweepTable, pca_components: usize) -> String {
    let mut out = format!(
        "sweep {} on {}: {} of {} runs done\n\
         mean ± sd over seeds; vs PCA: mean SSL - PCA-{pca_components} difference, verdict by the \
         rule of `cellscope eval` on the per-fold differences of every seed\n\n",
        t.sweep.display(),
        t.data.display(),
        t.runs_done,
        t.runs_asked,
    );
    let header = format!(
        "  {:<8}{:>6}{:>7}  {:<16}{:<28}{:<18}{:<28}{:<16}{}\n",
        "method",
        "mask",
        "seeds",
        "kNN macro-F1",
        "vs PCA",
        "logistic F1",
        "vs PCA",
        "k-means ARI",
        "recon. EV"
    );
    out += &header;
    for c in &t.rows {
        out += &format!(
            "{} {:<8}{:>6}{:>7}  {:<16}{:<28}{:<18}{:<28}{:<16}{}\n",
            if c.best { "*" } else { " " },
            c.method,
            c.mask_rate.map_or("-".into(), |r| format!("{r:.2}")),
            format!("{}/{}", c.seeds_done, c.seeds_asked),
            fmt_stat(c.knn_macro_f1.as_ref().map(|v| v.ssl), "±"),
            vs_cell(c.knn_macro_f1.as_ref()),
            fmt_stat(c.logistic_macro_f1.as_ref().map(|v| v.ssl), "±"),
            vs_cell(c.logistic_macro_f1.as_ref()),
            fmt_stat(c.kmeans_ari, "±"),
            fmt_stat(c.ev, "±"),
        );
    }
    out += &format!(
        "  {:<8}{:>6}{:>7}  {:<16}{:<28}{:<18}{:<28}{:<16}{}\n",
        format!("PCA-{pca_components}"),
        "-",
        "-",
        fmt_stat(t.pca_knn_macro_f1, "±"),
        "",
        fmt_stat(t.pca_logistic_macro_f1, "±"),
        "",
        fmt_stat(t.pca_kmeans_ari, "±"),
        "-",
    );
    if t.rows.iter().any(|c| c.best) {
        out += "* best mean kNN macro-F1\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(ssl: &[f64], pca: &[f64]) -> FoldPair {
        FoldPair {
            ssl: ssl.to_vec(),
            pca: pca.to_vec(),
        }
    }

    #[test]
    fn seeds_are_summarised_by_their_fold_means_and_judged_on_every_fold() {
        let a = pair(&[0.8, 0.9], &[0.7, 0.8]);
        let b = pair(&[0.7, 0.8], &[0.7, 0.8]);
        let v = VsPca::of(&[&a, &b]).unwrap();
        assert!((v.ssl.mean - 0.8).abs() < 1e-12, "{:?}", v.ssl);
        assert!((v.pca.mean - 0.75).abs() < 1e-12);
        assert!((v.diff.mean - 0.05).abs() < 1e-12);
        // Per-fold differences 0.1, 0.1, 0, 0: mean 0.05, se 0.029 -> margin 0.058.
        assert_eq!(v.verdict, Verdict::NoClearDifference);
        let c = pair(&[0.9, 0.95], &[0.7, 0.8]);
        assert_eq!(VsPca::of(&[&a, &c]).unwrap().verdict, Verdict::Better);
        assert!(VsPca::of(&[]).is_none());
        assert_eq!(vs_cell(None), "n/a");
    }
}
