//! `cellscope eval` end to end: a tiny masked run on the bundled demo, then its metrics as JSON
//! (finite, in range, SSL and PCA side by side, reconstruction present for a masked run).

use std::process::Command;

#[test]
fn eval_of_a_tiny_run_gives_finite_metrics_in_range() {
    let bin = env!("CARGO_BIN_EXE_cellscope");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("small.toml");
    std::fs::write(
        &cfg,
        "[preprocess]\nn_top_genes = 200\n[model]\nhidden = [32]\nlatent = 8\n\
         [train]\nbatch_size = 64\nepochs = 2\n",
    )
    .unwrap();
    let out = dir.path().join("runs");
    let train = Command::new(bin)
        .args(["train", "--config", cfg.to_str().unwrap(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&train.stdout);
    assert!(train.status.success(), "{stdout}");
    let run = stdout
        .lines()
        .find_map(|l| l.strip_prefix("run directory: "))
        .unwrap();
    let eval = Command::new(bin)
        .args(["eval", run, "--json"])
        .output()
        .unwrap();
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let saved = std::fs::read_to_string(std::path::Path::new(run).join("eval.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&saved).unwrap(),
        v
    );
    for side in ["ssl", "pca"] {
        for m in [
            "knn_macro_f1",
            "knn_accuracy",
            "kmeans_nmi",
            "leiden_nmi",
            "asw",
        ] {
            let x = v[side][m].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&x), "{side}.{m} = {x}");
        }
        for m in ["kmeans_ari", "leiden_ari"] {
            let x = v[side][m].as_f64().unwrap();
            assert!((-1.0..=1.0).contains(&x), "{side}.{m} = {x}");
        }
    }
    let rec = &v["reconstruction"];
    assert_eq!(rec["genes"].as_array().unwrap().len(), 200);
    assert!(rec["ev_weighted"].as_f64().unwrap() <= 1.0);
    assert!(rec["mse"].as_f64().unwrap() >= 0.0);
    assert!(std::path::Path::new(run).join("embedding.bin").exists());
}
