//! Every setting of config.toml given a value outside its range, in a file and as a flag: exit
//! code 2 and one line on stderr naming the key. `--nocapture` prints what each value gave.

mod common;

use std::process::Output;

/// (section, key, bad value) for every key with a limit, plus NaN and infinity for floats.
const BAD: &[(&str, &str, &str)] = &[
    ("data", "matrix", "\"layer:\""),
    ("data", "matrix", "\"Y\""),
    ("data", "block_rows", "0"),
    ("preprocess", "target_sum", "0.0"),
    ("preprocess", "target_sum", "nan"),
    ("model", "hidden", "[]"),
    ("model", "hidden", "[512, 0]"),
    ("model", "hidden", "[5120000]"),
    ("model", "latent", "0"),
    ("model", "latent", "100000"),
    ("model", "activation", "\"tanh\""),
    ("model", "dropout", "1.0"),
    ("model", "dropout", "-0.1"),
    ("model", "device", "\"tpu\""),
    ("train", "method", "\"vime\""),
    ("train", "epochs", "0"),
    ("train", "batch_size", "0"),
    ("train", "lr", "0.0"),
    ("train", "lr", "-1e-3"),
    ("train", "lr", "inf"),
    ("train", "weight_decay", "-0.01"),
    ("train", "grad_clip", "-1.0"),
    ("train", "schedule", "\"linear\""),
    ("train", "step_epochs", "0"),
    ("train", "step_gamma", "0.0"),
    ("train", "step_gamma", "1.5"),
    ("train", "val_fraction", "0.0"),
    ("train", "val_fraction", "1.0"),
    ("train", "out_dir", "\"\""),
    ("masking", "rate", "0.0"),
    ("masking", "rate", "1.0"),
    ("masking", "programme_fraction", "1.0"),
    ("masking", "programme_fraction", "-0.25"),
    ("contrastive", "byol_tau", "1.0"),
    ("contrastive", "byol_tau", "0.0"),
    ("contrastive", "barlow_lambda", "-0.005"),
    ("contrastive", "byol_projector", "[]"),
    ("contrastive", "byol_projector", "[4096, 0]"),
    ("contrastive", "barlow_projector", "[]"),
    (
        "contrastive",
        "barlow_projector",
        "[256, 256, 512, 5120000]",
    ),
    ("contrastive", "dropout_prob", "1.5"),
    ("contrastive", "dropout_rate", "1.0"),
    ("contrastive", "nb_noise_prob", "-0.3"),
    ("contrastive", "nb_noise_intensity", "-0.2"),
    ("contrastive", "gauss_noise_prob", "2.0"),
    ("contrastive", "gauss_noise_std", "nan"),
    ("analysis", "knn_k", "0"),
    ("analysis", "cv_folds", "1"),
    ("analysis", "pca_components", "0"),
    ("analysis", "kmeans_k", "0"),
    ("analysis", "graph_k", "0"),
    ("analysis", "leiden_resolution", "0.0"),
    ("analysis", "layout_max_cells", "1"),
    ("transfer", "seeds", "0"),
    ("transfer", "epochs", "0"),
    ("transfer", "lr", "0.0"),
    ("transfer", "weight_decay", "-0.05"),
    ("transfer", "query_fraction", "0.0"),
    ("transfer", "query_fraction", "1.0"),
    ("transfer", "batch_size", "0"),
    ("ui", "fps", "0"),
    ("ui", "fps", "100000"),
    ("ui", "marker", "\"star\""),
];

/// The one line a failed command printed, after checking exit code 2 and an empty stdout.
fn one_error_line(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
    assert!(out.stdout.is_empty(), "{what}: stdout {:?}", out.stdout);
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    stderr.trim_end().to_string()
}

#[test]
fn each_bad_value_in_a_file_exits_2_naming_the_key_and_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    for (i, (section, key, value)) in BAD.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, format!("[{section}]\n{key} = {value}\n")).unwrap();
        let what = format!("[{section}] {key} = {value}");
        let result = common::cellscope(&[
            "train",
            "--config",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let line = one_error_line(&result, &what);
        println!("{what:<42} -> {line}");
        assert!(
            line.contains(&format!("{section}.{key} = ")),
            "{what}: {line}"
        );
        assert!(line.contains(file.to_str().unwrap()), "{what}: {line}");
        assert!(line.contains("must") || line.contains("expected") || line.contains("unknown"));
    }
    assert!(!out.exists(), "no run directory for a bad setting");
}

#[test]
fn a_bad_flag_is_checked_after_it_is_layered_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let out_s = out.to_str().unwrap();
    let line = one_error_line(
        &common::cellscope(&["train", "--epochs", "0", "--out", out_s]),
        "--epochs 0",
    );
    assert!(line.contains("train.epochs = 0: must be >= 1"), "{line}");
    let line = one_error_line(
        &common::cellscope(&["train", "--method", "vime", "--out", out_s]),
        "--method vime",
    );
    assert!(line.contains("train.method = \"vime\""), "{line}");
    assert!(!out.exists());
}
