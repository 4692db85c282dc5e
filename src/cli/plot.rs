//! `cellscope plot RUN [--out DIR] [--format svg|png]`: a run's figures as files: loss curves,
//! the 2-D embedding by label and by cluster, SSL-vs-PCA scores (eval.json) and the transfer
//! confusion matrix and per-class F1 (transfer.json), each 1600x1000 px.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use crate::analysis::embed::{EvalInput, cluster, label_column, views_2d};
use crate::analysis::transfer::TransferReport;
use crate::config::Config;
use crate::plot::{Figure, Format, write};
use crate::train::TrainEvent;
use crate::train::detached::read_events;
use crate::train::rundir::{EVAL_FILE, TRANSFER_FILE};

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Run directory.
    pub run: PathBuf,
    /// Folder for the figures (created when missing); the run directory when omitted.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Image format; both SVG and PNG when omitted.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// obs column that colours the embedding by label; a cell-type-like column when omitted.
    #[arg(long)]
    pub label: Option<String>,
}

pub fn run(args: PlotArgs, _config: &Config) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| args.run.clone());
    std::fs::create_dir_all(&out)
        .map_err(|e| anyhow::anyhow!("{}: cannot create the folder: {e}", out.display()))?;
    let formats = args
        .format
        .map_or(vec![Format::Svg, Format::Png], |f| vec![f]);
    let mut figures = vec![("loss", loss_figure(&args.run)?)];
    figures.extend(embedding_figures(&args.run, args.label.as_deref())?);
    if let Some(scores) = scores_figure(&args.run)? {
        figures.push(("scores", scores));
    }
    figures.extend(transfer_figures(&args.run)?);
    for (name, figure) in &figures {
        for &format in &formats {
            let path = out.join(format!("{name}.{}", format.extension()));
            write(figure, &path, format)?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// Train and validation loss per finished epoch of the run's last start.
fn loss_figure(run: &Path) -> anyhow::Result<Figure> {
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for event in read_events(run) {
        match event {
            TrainEvent::Started { .. } => {
                train.clear();
                val.clear();
            }
            TrainEvent::EpochEnd {
                epoch,
                train_loss,
                val_loss,
                ..
            } => {
                train.truncate(epoch);
                val.truncate(epoch);
                train.push(((epoch + 1) as f64, f64::from(train_loss)));
                val.push(((epoch + 1) as f64, f64::from(val_loss)));
            }
            _ => {}
        }
    }
    anyhow::ensure!(
        !train.is_empty(),
        "{}: no finished epoch in metrics.jsonl to plot",
        run.display()
    );
    Ok(Figure::Loss { train, val })
}

/// The t-SNE layout of the run's embedding (as `embed` computes it) coloured by the label
/// column and by Leiden cluster.
fn embedding_figures(
    run: &Path,
    label: Option<&str>,
) -> anyhow::Result<Vec<(&'static str, Figure)>> {
    let input = EvalInput::load(run, None)?;
    let z = input.embedding(&mut |_, _| {})?;
    let config = &input.run.config;
    let (_, layout) = views_2d(z.view(), config)?;
    let points: Vec<(f64, f64)> = layout
        .rows()
        .into_iter()
        .map(|r| (f64::from(r[0]), f64::from(r[1])))
        .collect();
    let leiden = cluster(z.view(), config, config.train.seed)?.leiden;
    let n_clusters = leiden.iter().max().map_or(0, |m| m + 1);
    let mut figures = vec![];
    if let Ok(col) = label_column(&input.data.obs, label)
        && let Some((codes, names)) = col.as_labels()
    {
        figures.push((
            "embedding_label",
            Figure::Scatter {
                title: format!(
                    "{} embedding, t-SNE, by {}",
                    input.run.config.train.method, col.name
                ),
                points: points.clone(),
                groups: codes,
                names,
            },
        ));
    } else if let Some(name) = label {
        anyhow::bail!("obs column {name:?} is not a label column of the run's data");
    }
    figures.push((
        "embedding_cluster",
        Figure::Scatter {
            title: format!(
                "{} embedding, t-SNE, by Leiden cluster",
                input.run.config.train.method
            ),
            points,
            groups: leiden.into_iter().map(Some).collect(),
            names: (0..n_clusters).map(|c| format!("cluster {c}")).collect(),
        },
    ));
    Ok(figures)
}

/// The SSL and PCA scores of eval.json side by side (None when eval has not run).
fn scores_figure(run: &Path) -> anyhow::Result<Option<Figure>> {
    let Some(report) = read_json::<Value>(&run.join(EVAL_FILE))? else {
        return Ok(None);
    };
    const METRICS: [(&str, &str); 7] = [
        ("knn_macro_f1", "kNN macro-F1"),
        ("knn_accuracy", "kNN accuracy"),
        ("kmeans_ari", "k-means ARI"),
        ("kmeans_nmi", "k-means NMI"),
        ("leiden_ari", "Leiden ARI"),
        ("leiden_nmi", "Leiden NMI"),
        ("asw", "cell-type ASW"),
    ];
    let side = |key: &str| -> Vec<f64> {
        METRICS
            .iter()
            .map(|(m, _)| report[key][m].as_f64().unwrap_or(f64::NAN))
            .collect()
    };
    let latent = report["latent"].as_u64().unwrap_or(0);
    Ok(Some(Figure::Bars {
        title: format!(
            "SSL embedding vs PCA-{latent} (labels: {})",
            report["label"].as_str().unwrap_or("?")
        ),
        y_label: "score".into(),
        groups: METRICS.iter().map(|(_, n)| n.to_string()).collect(),
        series: vec![
            ("SSL".into(), side("ssl")),
            (format!("PCA-{latent}"), side("pca")),
        ],
    }))
}

/// The best arm's confusion matrix and every arm's per-class F1 (none without transfer.json).
fn transfer_figures(run: &Path) -> anyhow::Result<Vec<(&'static str, Figure)>> {
    let Some(report) = read_json::<TransferReport>(&run.join(TRANSFER_FILE))? else {
        return Ok(vec![]);
    };
    let mut figures = vec![];
    if let Some(best) = report.arm(&report.best_arm) {
        figures.push((
            "transfer_confusion",
            Figure::Confusion {
                title: format!(
                    "{} on {}: confusion over {} seeds",
                    best.arm.replace('_', "-"),
                    file_name(&report.target),
                    report.n_seeds
                ),
                classes: report.classes.clone(),
                counts: best.confusion.clone(),
            },
        ));
    }
    figures.push((
        "transfer_f1",
        Figure::Bars {
            title: format!(
                "Per-class F1 on {} (mean over seeds)",
                file_name(&report.target)
            ),
            y_label: "F1".into(),
            groups: report.classes.clone(),
            series: report
                .arms
                .iter()
                .map(|a| {
                    (
                        a.arm.replace('_', "-"),
                        a.per_class_f1.iter().map(|s| s.mean).collect(),
                    )
                })
                .collect(),
        },
    ));
    Ok(figures)
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// A JSON file parsed, None when it does not exist.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{}: not a valid report: {e}", path.display()))
}
