//! `cellscope eval RUN [--data FILE] [--label COL] [--json]`: the SSL embedding beside the PCA
//! baseline (cross-validated kNN and logistic-probe prediction with a paired verdict, clustering
//! agreement) and the held-out reconstruction.

use clap::Args;
use std::path::PathBuf;

use crate::analysis::embed::{EmbeddingScores, EvalInput, EvalReport, evaluate_and_save};
use crate::analysis::paired::{Paired, VERDICT_MIN_DIFFERENCE, VERDICT_SE_FACTOR};
use crate::analysis::prediction::LabelPrediction;
use crate::config::Config;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run directory.
    pub run: PathBuf,
    /// Dataset to evaluate on; the run's training data when omitted.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// obs column with the reference labels.
    #[arg(long)]
    pub label: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs, _config: &Config) -> anyhow::Result<()> {
    let input = EvalInput::load(&args.run, args.data.as_deref())?;
    let report = evaluate_and_save(&input, args.label.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// Reads one metric of an embedding's scores.
type Metric = fn(&EmbeddingScores) -> Option<f64>;

/// A metric to 4 decimals, or "n/a" when it is undefined (never "NaN").
fn metric_cell(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "n/a".into(),
    }
}

/// "mean ± sd" to 3 decimals, the mean signed when it is a difference.
fn mean_sd(mean: f64, sd: f64, signed: bool) -> String {
    if signed {
        format!("{mean:+.3} ± {sd:.3}")
    } else {
        format!("{mean:.3} ± {sd:.3}")
    }
}

/// The cross-validation set-up and one row per classifier and metric: SSL, PCA, SSL - PCA, verdict.
fn render_prediction(p: &LabelPrediction, pca_label: &str) -> String {
    let cv = &p.cv;
    let mut out = format!(
        "label prediction: stratified {}-fold cross-validation (seed {}) over {} labelled cells \
         of {} classes",
        cv.folds,
        cv.seed,
        cv.n_cells,
        cv.classes.len()
    );
    if cv.unlabelled_cells > 0 {
        out += &format!(", {} unlabelled cells left out", cv.unlabelled_cells);
    }
    out += "\n";
    if !cv.excluded_classes.is_empty() {
        let listed: Vec<String> = cv
            .excluded_classes
            .iter()
            .map(|e| format!("{} ({})", e.name, e.cells))
            .collect();
        out += &format!(
            "left out (fewer than {} cells): {}\n",
            cv.min_class_cells.max(cv.folds),
            listed.join(", ")
        );
    }
    out += &format!(
        "kNN k = {}; logistic probe: multinomial, features standardised on the training folds, \
         L2 with C = {}, at most {} L-BFGS iterations\n\
         verdict: better / worse when the mean per-fold SSL - PCA difference exceeds \
         {VERDICT_SE_FACTOR} standard errors and {VERDICT_MIN_DIFFERENCE}\n\n",
        cv.knn_k, cv.logistic_c, cv.logistic_max_iterations
    );
    out += &format!(
        "{:<22}{:>16}{:>16}{:>18}  verdict\n",
        "mean ± sd over folds", "SSL", pca_label, "SSL - PCA"
    );
    let rows: [(&str, &Paired); 4] = [
        ("kNN macro-F1", &p.knn_macro_f1),
        ("kNN accuracy", &p.knn_accuracy),
        ("logistic macro-F1", &p.logistic_macro_f1),
        ("logistic accuracy", &p.logistic_accuracy),
    ];
    for (name, m) in rows {
        out += &format!(
            "{name:<22}{:>16}{:>16}{:>18}  {}\n",
            mean_sd(m.ssl, m.sd.ssl, false),
            mean_sd(m.pca, m.sd.pca, false),
            mean_sd(m.diff, m.sd.diff, true),
            m.verdict.word()
        );
    }
    out
}

/// The report as aligned text: the cross-validated prediction, then one row per clustering
/// metric, SSL beside PCA, then the reconstruction.
pub fn render(r: &EvalReport) -> String {
    let s = &r.scores;
    let pca_label = format!("PCA-{}", s.pca_components);
    let mut out = format!(
        "run {}\ndata {} ({} cells x {} genes), latent {}; baseline {pca_label}: PCA of the same \
         cells' normalised, logged genes\nlabels: obs[{:?}], {} classes\n",
        r.run.display(),
        r.data.display(),
        r.n_cells,
        r.n_genes,
        r.latent,
        s.label,
        s.n_labels,
    );
    match (&s.prediction, &s.prediction_note) {
        (Some(p), _) => out += &render_prediction(p, &pca_label),
        (None, note) => {
            out += &format!(
                "label prediction: n/a: undefined for these labels ({})\n",
                note.as_deref().unwrap_or("no classes to predict")
            );
        }
    }
    out += &format!("\n{:<26}{:>10}{:>10}\n", "clustering", "SSL", pca_label);
    let rows: [(&str, Metric); 6] = [
        ("k-means ARI", |s| s.kmeans_ari),
        ("k-means NMI", |s| s.kmeans_nmi),
        ("Leiden ARI", |s| s.leiden_ari),
        ("Leiden NMI", |s| s.leiden_nmi),
        ("Leiden clusters", |s| Some(s.leiden_clusters as f64)),
        ("cell-type ASW", |s| s.asw),
    ];
    let mut undefined = false;
    for (name, f) in rows {
        let (ssl, pca) = (f(&s.ssl), f(&s.pca));
        undefined |= ssl.is_none() || pca.is_none();
        out += &format!(
            "{name:<26}{:>10}{:>10}\n",
            metric_cell(ssl),
            metric_cell(pca)
        );
    }
    if undefined {
        out += "n/a: undefined for these labels (the silhouette needs 2 to n-1 classes)\n";
    }
    out += "\n";
    match (&r.reconstruction, &r.reconstruction_note) {
        (Some(rec), _) => {
            out += &format!(
                "reconstruction on {} held-out cells: weighted EV {:.4}, uniform EV {:.4}, MSE {:.4}\n",
                rec.n_cells, rec.ev_weighted, rec.ev_uniform, rec.mse
            );
            let mut worst: Vec<_> = rec.genes.iter().collect();
            worst.sort_by(|a, b| b.mse.total_cmp(&a.mse));
            out += "highest-error genes: ";
            let names: Vec<String> = worst
                .iter()
                .take(5)
                .map(|g| format!("{} (MSE {:.3})", g.gene, g.mse))
                .collect();
            out += &names.join(", ");
            out += "\n";
        }
        (None, Some(note)) => out += &format!("{note}\n"),
        (None, None) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_metrics_print_as_n_a() {
        assert_eq!(metric_cell(None), "n/a");
        assert_eq!(metric_cell(Some(f64::NAN)), "n/a");
        assert_eq!(metric_cell(Some(0.25)), "0.2500");
    }
}
