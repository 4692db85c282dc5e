//! `cellscope eval RUN [--data FILE] [--label COL] [--json]`: the SSL embedding beside the PCA
//! baseline (clusters, label metrics, held-out kNN) and the held-out reconstruction.

use clap::Args;
use std::path::PathBuf;

use crate::analysis::embed::{EmbeddingScores, EvalInput, EvalReport, evaluate};
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
    let report = evaluate(&input, args.label.as_deref(), &mut |_, _| {})?;
    let json = serde_json::to_string_pretty(&report)?;
    // Saved beside the run so the Runs pane (and later sessions) can show the figures.
    crate::train::checkpoint::write_atomic(
        &args.run.join(crate::train::rundir::EVAL_FILE),
        json.as_bytes(),
    )?;
    if args.json {
        println!("{json}");
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

/// The report as aligned text: one row per metric, SSL beside PCA.
pub fn render(r: &EvalReport) -> String {
    let mut out = format!(
        "run {}\ndata {} ({} cells x {} genes), latent {}\nlabels: obs[{:?}], {} classes; \
         kNN reference {} training cells, query {} held-out cells\n\n",
        r.run.display(),
        r.data.display(),
        r.n_cells,
        r.n_genes,
        r.latent,
        r.label,
        r.n_labels,
        r.n_reference,
        r.n_query
    );
    out += &format!(
        "{:<26}{:>10}{:>10}\n",
        "metric",
        "SSL",
        format!("PCA-{}", r.latent)
    );
    let rows: [(&str, Metric); 8] = [
        ("kNN macro-F1 (k=5)", |s| s.knn_macro_f1),
        ("kNN accuracy", |s| s.knn_accuracy),
        ("k-means ARI", |s| s.kmeans_ari),
        ("k-means NMI", |s| s.kmeans_nmi),
        ("Leiden ARI", |s| s.leiden_ari),
        ("Leiden NMI", |s| s.leiden_nmi),
        ("Leiden clusters", |s| Some(s.leiden_clusters as f64)),
        ("cell-type ASW", |s| s.asw),
    ];
    let mut undefined = false;
    for (name, f) in rows {
        let (ssl, pca) = (f(&r.ssl), f(&r.pca));
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
