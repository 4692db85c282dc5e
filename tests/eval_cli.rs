//! `cellscope eval` end to end: a tiny masked run on the bundled demo, then its metrics as JSON
//! (cross-validated kNN / logistic prediction paired fold by fold with PCA-50, small classes
//! listed, clustering metrics in range, reconstruction present for a masked run) and as text.

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
    // One evaluation: the text on stdout, the figures in eval.json beside the run.
    let text = ok(&cellscope(&["eval", run]));
    let v = saved_eval(std::path::Path::new(run));
    check_cross_validation(&v);
    for side in ["ssl", "pca"] {
        for m in ["kmeans_nmi", "leiden_nmi", "asw"] {
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
    assert!(
        std::path::Path::new(run)
            .join("embedding.safetensors")
            .exists()
    );

    for want in [
        "stratified 5-fold cross-validation",
        "left out (fewer than 10 cells): B_GC (7), ILC3 (2)",
        "SSL - PCA",
        "PCA-50",
        "logistic macro-F1",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    let verdicts = text
        .lines()
        .filter(|l| {
            ["better", "no clear difference", "worse"]
                .iter()
                .any(|w| l.ends_with(w))
        })
        .count();
    assert_eq!(
        verdicts, 4,
        "one verdict per classifier and metric:\n{text}"
    );
}

/// The eval.json an eval left in the run directory.
fn saved_eval(run: &std::path::Path) -> serde_json::Value {
    let saved = std::fs::read_to_string(run.join("eval.json")).unwrap();
    serde_json::from_str(&saved).unwrap()
}

/// The demo's cross-validation: every labelled cell of the 12 classes with at least 10 cells in
/// one of 5 folds, the two small classes listed, and every paired metric consistent with its
/// per-fold values and the verdict rule.
fn check_cross_validation(v: &serde_json::Value) {
    let cv = &v["cv"];
    assert_eq!(cv["folds"], 5);
    assert_eq!(v["pca_components"], 50);
    let excluded: Vec<(String, u64)> = cv["excluded_classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["cells"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(excluded, [("B_GC".into(), 7), ("ILC3".into(), 2)]);
    assert_eq!(cv["classes"].as_array().unwrap().len(), 12);
    let left_out: u64 = excluded.iter().map(|e| e.1).sum();
    assert_eq!(
        cv["n_cells"].as_u64().unwrap() + left_out + cv["unlabelled_cells"].as_u64().unwrap(),
        v["n_cells"].as_u64().unwrap()
    );
    for m in [
        "knn_macro_f1",
        "knn_accuracy",
        "logistic_macro_f1",
        "logistic_accuracy",
    ] {
        let p = &v[m];
        let folds =
            |side: &str| -> Vec<f64> { serde_json::from_value(p["folds"][side].clone()).unwrap() };
        let (ssl, pca, diff) = (folds("ssl"), folds("pca"), folds("diff"));
        assert_eq!((ssl.len(), pca.len(), diff.len()), (5, 5, 5), "{m}");
        for f in 0..5 {
            assert!(
                (0.0..=1.0).contains(&ssl[f]) && (0.0..=1.0).contains(&pca[f]),
                "{m}"
            );
            assert!((diff[f] - (ssl[f] - pca[f])).abs() < 1e-12, "{m} fold {f}");
        }
        let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
        for (key, values) in [("ssl", &ssl), ("pca", &pca), ("diff", &diff)] {
            assert!(
                (p[key].as_f64().unwrap() - mean(values)).abs() < 1e-12,
                "{m}.{key}"
            );
        }
        let d = mean(&diff);
        let sd = (diff.iter().map(|x| (x - d).powi(2)).sum::<f64>() / 4.0).sqrt();
        assert!(
            (p["sd"]["diff"].as_f64().unwrap() - sd).abs() < 1e-12,
            "{m}"
        );
        let margin = (2.0 * sd / 5f64.sqrt()).max(0.01);
        let want = if d > margin {
            "better"
        } else if d < -margin {
            "worse"
        } else {
            "no clear difference"
        };
        assert_eq!(p["verdict"], want, "{m}: {p}");
    }
    // A tiny, briefly trained model still predicts the demo's cell types far above chance.
    assert!(
        v["logistic_accuracy"]["pca"].as_f64().unwrap() > 0.5,
        "{}",
        v["logistic_accuracy"]
    );
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
    std::fs::remove_file(twin.join("embedding.safetensors")).ok();
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
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(saved_eval(run), v, "--json prints what eval.json holds");
        v
    };
    let (memory, streamed) = (eval(&run), eval(&twin));
    assert_eq!(streamed["n_cells"], 300);
    assert_eq!(memory["cv"], streamed["cv"], "the same folds and classes");
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
    for metric in ["knn_macro_f1", "logistic_macro_f1"] {
        for side in ["ssl", "pca", "diff"] {
            let (x, y) = (&memory[metric][side], &streamed[metric][side]);
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() < 1e-6, "{metric}.{side}: {x} vs {y}");
        }
    }
    let ev = |v: &serde_json::Value| v["reconstruction"]["ev_weighted"].as_f64().unwrap();
    assert!((ev(&memory) - ev(&streamed)).abs() < 1e-6);
}
