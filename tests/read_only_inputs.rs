//! Input files are never written: `info`, `train` and `eval` on a read-only (0444) copy of a
//! real .h5ad fixture succeed and leave its bytes and modification time unchanged.

mod common;

use std::path::Path;

use common::{fixture, run_dir, tiny_config};

/// The stdout of a command that must succeed.
fn cellscope(args: &[&str]) -> String {
    common::ok(&common::cellscope(args))
}

#[cfg(unix)]
fn make_read_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).unwrap();
}

#[cfg(not(unix))]
fn make_read_only(path: &Path) {
    let mut p = std::fs::metadata(path).unwrap().permissions();
    p.set_readonly(true);
    std::fs::set_permissions(path, p).unwrap();
}

#[test]
fn info_train_and_eval_leave_a_read_only_input_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("counts.h5ad");
    std::fs::copy(fixture("scanpy/counts.h5ad"), &input).unwrap();
    make_read_only(&input);
    let bytes = std::fs::read(&input).unwrap();
    let mtime = std::fs::metadata(&input).unwrap().modified().unwrap();

    let cfg = tiny_config(
        dir.path(),
        "small.toml",
        "[train]\nbatch_size = 64\nepochs = 1\n[contrastive]\nbyol_projector = [8, 8]\nbarlow_projector = [8, 8]\n",
    );
    let runs = dir.path().join("runs");
    let (input_s, cfg_s, runs_s) = (
        input.to_str().unwrap(),
        cfg.to_str().unwrap(),
        runs.to_str().unwrap(),
    );

    let info = cellscope(&["info", input_s]);
    assert!(info.contains("300"), "{info}");
    let train = cellscope(&[
        "train", "--config", cfg_s, input_s, "--epochs", "1", "--out", runs_s,
    ]);
    let run = run_dir(&train);
    assert!(run.starts_with(&runs), "{}", run.display());
    let run = run.to_str().unwrap();
    let eval = cellscope(&["eval", run, "--label", "cell_type", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&eval).unwrap();
    assert_eq!(report["n_cells"], 300);

    let meta = std::fs::metadata(&input).unwrap();
    assert!(meta.permissions().readonly());
    assert_eq!(meta.modified().unwrap(), mtime, "input mtime changed");
    assert!(
        std::fs::read(&input).unwrap() == bytes,
        "input bytes changed"
    );
    let mut siblings: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    siblings.sort();
    assert_eq!(
        siblings,
        ["counts.h5ad", "runs", "small.toml"],
        "stray files"
    );
}
