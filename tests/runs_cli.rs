//! `cellscope runs`: the run catalogue as a table and JSON, and `--compare A B` printing the
//! settings two runs differ in and their figures side by side, on run directories written here.

mod common;

use std::path::Path;

use cellscope::train::TrainEvent;
use common::{cellscope, ok};
use serde_json::Value;

fn epoch(epoch: usize, val_loss: f32) -> TrainEvent {
    TrainEvent::EpochEnd {
        epoch,
        train_loss: 1.0,
        val_loss,
        lr: 1e-3,
        cells_per_sec: 1.0,
        elapsed_secs: 1.0,
        eta_secs: None,
    }
}

/// A finished run directory with the given settings, losses and files of figures.
fn write_run(out: &Path, name: &str, config: &str, losses: &[f32], files: &[(&str, &str)]) {
    let dir = out.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), config).unwrap();
    std::fs::write(dir.join("dataset.txt"), "/data/demo.h5ad\n").unwrap();
    let mut events: Vec<TrainEvent> = losses
        .iter()
        .enumerate()
        .map(|(i, &l)| epoch(i, l))
        .collect();
    events.push(TrainEvent::Finished {
        run_dir: dir.clone(),
        best_val_loss: 0.0,
        epochs_done: losses.len(),
        stopped: false,
    });
    let lines: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(dir.join("metrics.jsonl"), lines).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
}

fn two_runs() -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    write_run(
        out.path(),
        "20260101-000000-masked",
        "[train]\nmethod = \"masked\"\nepochs = 3\nlr = 0.001\n[model]\nlatent = 32\n",
        &[0.9, 0.7, 0.8],
        &[(
            "eval.json",
            r#"{"ssl": {"knn_macro_f1": 0.812}, "pca": {"knn_macro_f1": 0.79}}"#,
        )],
    );
    write_run(
        out.path(),
        "20260102-000000-byol",
        "[train]\nmethod = \"byol\"\nepochs = 2\nlr = 0.001\n[model]\nlatent = 16\n",
        &[1.2, 1.1],
        &[(
            "transfer.json",
            r#"{"arms": [{"arm": "fine_tuned", "macro_f1": {"mean": 0.815}},
                         {"arm": "scratch", "macro_f1": {"mean": 0.742}}]}"#,
        )],
    );
    out
}

#[test]
fn runs_lists_status_epochs_best_loss_and_figures() {
    let out = two_runs();
    // A sweep directory (it has a config.toml too) is named below the table, not listed as a run.
    let sweep = out.path().join("sweep-demo");
    std::fs::create_dir(&sweep).unwrap();
    std::fs::write(sweep.join("sweep.toml"), "").unwrap();
    std::fs::write(sweep.join("config.toml"), "").unwrap();
    let dir = out.path().to_str().unwrap();
    let text = ok(&cellscope(&["runs", dir]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[3].starts_with("sweep sweep-demo: `cellscope sweep --collect "),
        "{text}"
    );
    assert!(
        lines[0].starts_with("run ") && lines[0].contains("best val"),
        "{text}"
    );
    let cells = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    // Newest first; columns: run method dataset status epochs best-val eval(SSL, PCA) transfer.
    assert_eq!(
        cells(lines[1]),
        [
            "20260102-000000-byol",
            "byol",
            "demo.h5ad",
            "finished",
            "2/2",
            "1.1000",
            "-",
            "-",
            "0.815",
            "0.742"
        ]
    );
    assert_eq!(
        cells(lines[2]),
        [
            "20260101-000000-masked",
            "masked",
            "demo.h5ad",
            "finished",
            "3/3",
            "0.7000",
            "0.812",
            "0.790",
            "-",
            "-"
        ]
    );

    let json: Value = serde_json::from_str(&ok(&cellscope(&["runs", dir, "--json"]))).unwrap();
    let runs = json.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["method"], "masked");
    assert_eq!(runs[1]["epochs_done"], 3);
    assert!((runs[1]["best_val_loss"].as_f64().unwrap() - 0.7).abs() < 1e-6);
    assert_eq!(runs[1]["metrics"]["eval.ssl.knn_macro_f1"], 0.812);
    assert_eq!(runs[0]["metrics"]["transfer.scratch.macro_f1"], 0.742);
}

#[test]
fn compare_prints_differing_settings_and_figures_side_by_side() {
    let out = two_runs();
    let dir = out.path().to_str().unwrap();
    let text = ok(&cellscope(&[
        "runs",
        dir,
        "--compare",
        "20260101-000000-masked",
        "20260102-000000-byol",
    ]));
    let row = |key: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no row {key} in:\n{text}"))
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("train.method"), ["\"masked\"", "\"byol\""]);
    assert_eq!(row("train.epochs"), ["3", "2"]);
    assert_eq!(row("model.latent"), ["32", "16"]);
    assert!(
        !text.contains("train.lr"),
        "equal settings are left out:\n{text}"
    );
    assert_eq!(row("epochs"), ["3/3", "2/2"]);
    assert_eq!(row("eval.ssl.knn_macro_f1"), ["0.812", "-"]);
    assert_eq!(row("transfer.fine_tuned.macro_f1"), ["-", "0.815"]);

    let json: Value = serde_json::from_str(&ok(&cellscope(&[
        "runs",
        dir,
        "--json",
        "--compare",
        "20260101-000000-masked",
        "20260102-000000-byol",
    ])))
    .unwrap();
    let keys: Vec<&str> = json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["model.latent", "train.epochs", "train.method"]);

    let bad = cellscope(&["runs", dir, "--compare", "nope", "20260102-000000-byol"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("nope: not a run directory"), "{err}");
}
