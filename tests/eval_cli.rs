//! `cellscope eval` end to end: a tiny masked run on the bundled demo, then its metrics as JSON
//! (finite, in range, SSL and PCA side by side, reconstruction present for a masked run).

mod common;

use common::{cellscope, fixture, ok, run_dir, tiny_config};

#[test]
fn eval_of_a_tiny_run_gives_finite_metrics_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("small.toml");
    std::fs::write(
        &cfg,
        "[preprocess]\nn_top_genes = 200\n[model]\nhidden = [32]\nlatent = 8\n\
         [train]\nbatch_size = 64\nepochs = 2\n",
    )
    .unwrap();
    let out = dir.path().join("runs");
    let train = ok(&cellscope(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let run = run_dir(&train);
    let run = run.to_str().unwrap();
    let eval = ok(&cellscope(&["eval", run, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&eval).unwrap();
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

#[test]
fn eval_streams_data_larger_than_the_budget_and_agrees_with_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture("scanpy/counts.h5ad");
    let cfg = tiny_config(
        dir.path(),
        "budget.toml",
        "[train]\nbatch_size = 32\nepochs = 2\n[data]\nmemory_budget_mb = 4096\n",
    );
    let out = dir.path().join("runs");
    let train = ok(&cellscope(&[
        "train",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let run = run_dir(&train);
    // The same run with a budget of 0 MiB: eval streams X in 64-row blocks.
    let twin = dir.path().join("streamed-run");
    std::fs::create_dir(&twin).unwrap();
    for entry in std::fs::read_dir(&run).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, twin.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::remove_file(twin.join("embedding.bin")).ok();
    let config = twin.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("memory_budget_mb = 4096", "memory_budget_mb = 0")
        .replace("block_rows = 16384", "block_rows = 64");
    assert!(text.contains("memory_budget_mb = 0") && text.contains("block_rows = 64"));
    std::fs::write(&config, text).unwrap();
    let eval = |run: &std::path::Path| {
        let json = ok(&cellscope(&[
            "eval",
            run.to_str().unwrap(),
            "--label",
            "cell_type",
            "--json",
        ]));
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    };
    let (memory, streamed) = (eval(&run), eval(&twin));
    assert_eq!(streamed["n_cells"], 300);
    for key in ["n_query", "n_reference"] {
        assert_eq!(memory[key], streamed[key], "{key}");
    }
    // Embedding in 64-row blocks instead of 1024-row batches changes float summation order only.
    for side in ["ssl", "pca"] {
        let (a, b) = (memory[side].as_object().unwrap(), &streamed[side]);
        for (metric, x) in a {
            match (x.as_f64(), b[metric].as_f64()) {
                (Some(x), Some(y)) => assert!((x - y).abs() < 1e-6, "{side}.{metric}: {x} vs {y}"),
                _ => assert_eq!(x, &b[metric], "{side}.{metric}"),
            }
        }
    }
    let ev = |v: &serde_json::Value| v["reconstruction"]["ev_weighted"].as_f64().unwrap();
    assert!((ev(&memory) - ev(&streamed)).abs() < 1e-6);
}
