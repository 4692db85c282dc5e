//! `eval` and `transfer` on degenerate label columns (a single class; one cell per class) of a
//! real counts fixture: undefined metrics print as "n/a" / JSON null, never NaN; transfer refuses
//! with a clear reason.

mod common;

use common::{cellscope, fixture, ok, run_dir, tiny_config};

#[test]
fn degenerate_labels_never_print_nan() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture("degenerate/degenerate_labels.h5ad");
    let cfg = tiny_config(
        dir.path(),
        "small.toml",
        "[train]\nbatch_size = 64\nepochs = 1\n[contrastive]\nbyol_projector = [8, 8]\nbarlow_projector = [8, 8]\n",
    );
    let runs = dir.path().join("runs");
    let (data_s, cfg_s) = (data.to_str().unwrap(), cfg.to_str().unwrap());
    let train = ok(&cellscope(&[
        "train",
        "--config",
        cfg_s,
        data_s,
        "--out",
        runs.to_str().unwrap(),
    ]));
    let run = run_dir(&train);
    let run = run.to_str().unwrap();

    for label in ["one_class", "cell_id"] {
        let text = ok(&cellscope(&["eval", run, "--label", label]));
        assert!(!text.to_lowercase().contains("nan"), "{label}:\n{text}");
        assert!(text.contains("n/a: undefined"), "{label}:\n{text}");
        let json = ok(&cellscope(&["eval", run, "--label", label, "--json"]));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        for side in ["ssl", "pca"] {
            assert!(v[side]["asw"].is_null(), "{label} {side}: {}", v[side]);
        }
        // No class to predict: no cross-validated figures, and a note saying why.
        assert!(
            v["knn_macro_f1"].is_null() && v["cv"].is_null(),
            "{label}: {v}"
        );
        let note = v["prediction_note"].as_str().unwrap();
        assert!(
            note.contains("two classes with at least 10"),
            "{label}: {note}"
        );
    }

    let transfer = |label: &str| {
        let out = cellscope(&["transfer", run, "--target", data_s, "--label", label]);
        assert_eq!(out.status.code(), Some(2), "{label}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let one = transfer("one_class");
    assert!(one.contains("fewer than two classes"), "{one}");
    let each = transfer("cell_id");
    assert!(each.contains("single labelled cell"), "{each}");
}
