//! `cellscope transfer` end to end through the built binary: a tiny masked run on a real counts
//! fixture, then transfer to labelled cells with two seeds (plain labels and a coarse label map):
//! transfer.json and the saved split are written, parse, and hold three arms with sane scores.

mod common;

use std::path::Path;

use common::{cellscope, fixture, ok, run_dir};
use serde_json::Value;

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Checks one report: three arms over `seeds` seeds with macro-F1 and accuracy in [0, 1], the
/// best arm and the delta consistent with the arms, and the split file matching its counts.
fn check_report(v: &Value, run: &Path, seeds: usize) {
    assert_eq!(v["n_seeds"], seeds);
    let arms = v["arms"].as_array().unwrap();
    let names: Vec<&str> = arms.iter().map(|a| a["arm"].as_str().unwrap()).collect();
    assert_eq!(names, ["zero_shot", "fine_tuned", "scratch"]);
    let n_classes = v["classes"].as_array().unwrap().len();
    let mean = |a: &Value, m: &str| a[m]["mean"].as_f64().unwrap();
    for a in arms {
        for m in ["macro_f1", "accuracy"] {
            let x = mean(a, m);
            assert!(
                x.is_finite() && (0.0..=1.0).contains(&x),
                "{} {m} = {x}",
                a["arm"]
            );
        }
        assert_eq!(a["seeds"].as_array().unwrap().len(), seeds);
        assert_eq!(a["per_class_f1"].as_array().unwrap().len(), n_classes);
        let support: u64 = a["support"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .sum();
        assert_eq!(support, v["n_query"].as_u64().unwrap());
        let confusion: u64 = a["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap())
            .map(|c| c.as_u64().unwrap())
            .sum();
        assert_eq!(confusion, support * seeds as u64, "{}", a["arm"]);
    }
    let knn = mean(&arms[1], "knn_macro_f1");
    assert!((0.0..=1.0).contains(&knn), "fine-tuned kNN macro-F1 {knn}");
    let best = arms
        .iter()
        .max_by(|a, b| mean(a, "macro_f1").total_cmp(&mean(b, "macro_f1")))
        .unwrap();
    assert_eq!(v["best_arm"], best["arm"]);
    let delta = v["delta_finetuned_vs_scratch"].as_f64().unwrap();
    assert!((delta - (mean(&arms[1], "macro_f1") - mean(&arms[2], "macro_f1"))).abs() < 1e-12);

    let split = read_json(&run.join("transfer_split.json"));
    let (reference, query) = (
        split["reference"].as_array().unwrap(),
        split["query"].as_array().unwrap(),
    );
    assert_eq!(reference.len() as u64, v["n_reference"].as_u64().unwrap());
    assert_eq!(query.len() as u64, v["n_query"].as_u64().unwrap());
    assert!(query.iter().all(|q| !reference.contains(q)));
    assert_eq!(split["how"], "stratified");
}

#[test]
fn transfer_of_a_tiny_run_writes_three_arms_and_the_split() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture("scanpy/counts.h5ad");
    let cfg = dir.path().join("small.toml");
    std::fs::write(
        &cfg,
        "[preprocess]\nn_top_genes = 200\n[model]\nhidden = [32]\nlatent = 8\n\
         [train]\nbatch_size = 64\nepochs = 2\n[transfer]\nepochs = 4\nbatch_size = 32\n",
    )
    .unwrap();
    let runs = dir.path().join("runs");
    let (data, cfg) = (data.to_str().unwrap(), cfg.to_str().unwrap());
    let train = ok(&cellscope(&[
        "train",
        "--config",
        cfg,
        data,
        "--out",
        runs.to_str().unwrap(),
    ]));
    let run_path = run_dir(&train);
    let run_path = run_path.as_path();
    let run = run_path.to_str().unwrap();

    let base = [
        "transfer",
        run,
        "--config",
        cfg,
        "--target",
        data,
        "--label",
        "cell_type",
    ];
    let json = ok(&cellscope(
        &[&base[..], &["--seeds", "2", "--json"]].concat(),
    ));
    let printed: Value = serde_json::from_str(&json).unwrap();
    let saved = read_json(&run_path.join("transfer.json"));
    assert_eq!(printed, saved);
    check_report(&saved, run_path, 2);
    assert_eq!(saved["classes"].as_array().unwrap().len(), 14);
    let genes = &saved["genes"];
    assert_eq!(genes["model_genes"], 200);
    assert_eq!(genes["matched"], 200);
    assert_eq!(genes["extra"], 542 - 200);

    // A coarse label map: five rare types are not named and their cells are dropped.
    let map = dir.path().join("coarse.csv");
    std::fs::write(
        &map,
        "from,to\nCD4_T,T\nCD8_T,T\nTreg,T\nB_memory,B\nB_naive,B\nplasma,B\nMDC,myeloid\n\
         DC,myeloid\nNK,NK\n",
    )
    .unwrap();
    let table = ok(&cellscope(
        &[
            &base[..],
            &["--seeds", "2", "--label-map", map.to_str().unwrap()],
        ]
        .concat(),
    ));
    assert!(table.contains("fine-tuned - scratch macro-F1"), "{table}");
    assert!(table.contains("14 cells dropped"), "{table}");
    let coarse = read_json(&run_path.join("transfer.json"));
    assert_eq!(
        coarse["classes"],
        serde_json::json!(["B", "NK", "T", "myeloid"])
    );
    assert_eq!(coarse["unmapped"], 14);
    check_report(&coarse, run_path, 2);
}
