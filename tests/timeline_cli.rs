//! Latent snapshots during `cellscope train`: a seeded subsample embedded before training and
//! every `train.snapshot_every` epochs, laid out in 2-D and scored, one line each in
//! timeline.jsonl; the event stream says so and the cost is logged.

mod common;

use common::{cellscope, fixture, ok, run_dir, tiny_config};

#[test]
fn training_stores_a_snapshot_before_training_and_every_n_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(
        dir.path(),
        "tiny.toml",
        "[train]\nbatch_size = 32\nepochs = 5\npatience = 0\nsnapshot_every = 2\nsnapshot_cells = 100\n",
    );
    let data = fixture("embed/anndata07_demo120.h5ad");
    let out = dir.path().join("runs");
    let text = ok(&cellscope(&[
        "train",
        data.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let run = run_dir(&text);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(run.join("timeline.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let epochs: Vec<u64> = lines.iter().map(|s| s["epoch"].as_u64().unwrap()).collect();
    assert_eq!(
        epochs,
        [0, 2, 4, 5],
        "before training, every 2 epochs and the last"
    );
    for s in &lines {
        assert_eq!(s["cells"].as_array().unwrap().len(), 100);
        assert_eq!(s["x"].as_array().unwrap().len(), 100);
        assert_eq!(s["y"].as_array().unwrap().len(), 100);
        let f1 = s["knn_macro_f1"]
            .as_f64()
            .expect("the fixture has cell types");
        assert!((0.0..=1.0).contains(&f1), "{f1}");
    }
    assert_eq!(
        lines[0]["cells"], lines[3]["cells"],
        "the same cells every time"
    );
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.matches(r#""event":"snapshot""#).count(), 4);
    assert!(
        metrics.contains("latent snapshots: 4 taken in"),
        "the cost is logged"
    );

    // snapshot_every = 0 turns them off.
    let off = tiny_config(
        dir.path(),
        "off.toml",
        "[train]\nepochs = 1\nsnapshot_every = 0\n",
    );
    let text = ok(&cellscope(&[
        "train",
        data.to_str().unwrap(),
        "--config",
        off.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(!run_dir(&text).join("timeline.jsonl").exists());
}
