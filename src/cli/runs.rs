//! `cellscope runs [DIR] [--json]`: the Runs pane's table without the UI (status, method,
//! epochs, best validation loss, eval and transfer figures; sweep directories named below it);
//! `runs --compare A B`: the settings two runs differ in and their figures side by side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};

use crate::config::Config;
use crate::train::catalog::{RunInfo, read_run, scan_runs, subdirectories};
use crate::train::rundir::CONFIG_FILE;

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Directory holding run directories; `[train] out_dir` when omitted.
    pub dir: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
    /// Compare two runs (run directories, or names of runs under DIR).
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub compare: Option<Vec<PathBuf>>,
}

pub fn run(args: RunsArgs, config: &Config) -> anyhow::Result<()> {
    let dir = args
        .dir
        .unwrap_or_else(|| PathBuf::from(&config.train.out_dir));
    if let Some(pair) = args.compare {
        let a = find_run(&dir, &pair[0])?;
        let b = find_run(&dir, &pair[1])?;
        let settings = differing_settings(&a.dir, &b.dir);
        if args.json {
            let out = json!({
                "runs": [summary_json(&a), summary_json(&b)],
                "settings": settings.iter().map(|(k, [x, y])| json!({"key": k, "a": x, "b": y})).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            print!("{}", render_compare([&a, &b], &settings));
        }
        return Ok(());
    }
    if !dir.is_dir() {
        anyhow::bail!("{}: no such directory of runs", dir.display());
    }
    let runs = scan_runs(&dir);
    if args.json {
        let out: Vec<Value> = runs.iter().map(summary_json).collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if runs.is_empty() {
        println!("no runs in {}", dir.display());
    } else {
        print!("{}", render_table(&runs));
    }
    if !args.json {
        print!("{}", sweep_lines(&dir));
    }
    Ok(())
}

/// One line per sweep directory under `dir` (left out of the table) saying how to see it.
fn sweep_lines(dir: &Path) -> String {
    subdirectories(dir)
        .iter()
        .filter(|d| d.join(crate::sweep::SPEC_FILE).is_file())
        .map(|d| {
            format!(
                "sweep {}: `cellscope sweep --collect {}` prints its table\n",
                d.file_name().unwrap_or_default().to_string_lossy(),
                d.display()
            )
        })
        .collect()
}

/// A run given as a directory, or as the name of one under `dir`.
fn find_run(dir: &Path, given: &Path) -> anyhow::Result<RunInfo> {
    [given.to_path_buf(), dir.join(given)]
        .iter()
        .find_map(|p| read_run(p))
        .with_context(|| {
            format!(
                "{}: not a run directory (no {CONFIG_FILE} or metrics.jsonl here or under {})",
                given.display(),
                dir.display()
            )
        })
}

/// A figure by its catalogue key, to 3 decimals, or "-".
fn figure(run: &RunInfo, key: &str) -> String {
    run.metrics
        .iter()
        .find(|(k, _)| k == key)
        .map_or_else(|| "-".into(), |(_, v)| format!("{v:.3}"))
}

/// The catalogue as aligned text, newest run first.
pub fn render_table(runs: &[RunInfo]) -> String {
    let mut rows = vec![
        [
            "run",
            "method",
            "dataset",
            "status",
            "epochs",
            "best val",
            "eval kNN-F1 SSL",
            "PCA",
            "transfer F1 fine-tuned",
            "scratch",
        ]
        .map(String::from)
        .to_vec(),
    ];
    rows.extend(runs.iter().map(|r| {
        vec![
            r.name.clone(),
            r.method_text(),
            r.dataset.clone(),
            r.status.label().into(),
            r.epochs_text(),
            r.best_val_text(),
            figure(r, "eval.ssl.knn_macro_f1"),
            figure(r, "eval.pca.knn_macro_f1"),
            figure(r, "transfer.fine_tuned.macro_f1"),
            figure(r, "transfer.scratch.macro_f1"),
        ]
    }));
    aligned(&rows)
}

/// Rows of cells as text, each column padded to its widest cell.
fn aligned(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    out
}

/// A run's catalogue entry as JSON.
fn summary_json(r: &RunInfo) -> Value {
    let metrics: serde_json::Map<String, Value> = r
        .metrics
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "name": r.name,
        "dir": r.dir,
        "method": r.method,
        "dataset": r.dataset,
        "status": r.status.label(),
        "epochs_done": r.epochs_done,
        "epochs": r.epochs,
        "best_val_loss": r.best_val_loss,
        "imported_from": r.imported_from(),
        "metrics": metrics,
    })
}

/// Every setting of a run's config.toml as `section.key` -> value text.
fn settings(dir: &Path) -> BTreeMap<String, String> {
    fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (k, v) in table {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => flatten(&key, t, out),
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(table) = std::fs::read_to_string(dir.join(CONFIG_FILE))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
    {
        flatten("", &table, &mut out);
    }
    out
}

/// The settings whose values differ between two runs ("-" where one run lacks it).
fn differing_settings(a: &Path, b: &Path) -> Vec<(String, [String; 2])> {
    let (a, b) = (settings(a), settings(b));
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let value = |m: &BTreeMap<String, String>, k: &str| m.get(k).cloned().unwrap_or("-".into());
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| (k.clone(), [value(&a, k), value(&b, k)]))
        .collect()
}

/// Two runs: the settings they differ in, then status, epochs, best validation loss and every
/// figure either has, side by side.
pub fn render_compare(pair: [&RunInfo; 2], settings: &[(String, [String; 2])]) -> String {
    let header = |first: &str| {
        vec![
            first.to_string(),
            pair[0].name.clone(),
            pair[1].name.clone(),
        ]
    };
    let mut rows = vec![header("setting")];
    if settings.is_empty() {
        rows.push(vec!["(same settings)".into()]);
    }
    rows.extend(
        settings
            .iter()
            .map(|(k, [a, b])| vec![k.clone(), a.clone(), b.clone()]),
    );
    let mut out = aligned(&rows);
    let mut rows = vec![
        header("figure"),
        vec![
            "status".into(),
            pair[0].status.label().into(),
            pair[1].status.label().into(),
        ],
        vec![
            "epochs".into(),
            pair[0].epochs_text(),
            pair[1].epochs_text(),
        ],
        vec![
            "best val".into(),
            pair[0].best_val_text(),
            pair[1].best_val_text(),
        ],
    ];
    let mut names: Vec<&String> = Vec::new();
    for (name, _) in pair.iter().flat_map(|r| &r.metrics) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    rows.extend(
        names
            .into_iter()
            .map(|n| vec![n.clone(), figure(pair[0], n), figure(pair[1], n)]),
    );
    out.push('\n');
    out += &aligned(&rows);
    out
}
