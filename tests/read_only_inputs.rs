//! Input files are never written: `info`, `train` and `eval` on a read-only (0444) copy of a
//! real .h5ad fixture succeed and leave its bytes and modification time unchanged.

use std::path::Path;
use std::process::Command;

fn cellscope(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cellscope"))
        .args(args)
        .output()
        .expect("run cellscope");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cellscope {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
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
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scanpy/counts.h5ad");
    let input = dir.path().join("counts.h5ad");
    std::fs::copy(&fixture, &input).unwrap();
    make_read_only(&input);
    let bytes = std::fs::read(&input).unwrap();
    let mtime = std::fs::metadata(&input).unwrap().modified().unwrap();

    let cfg = dir.path().join("small.toml");
    std::fs::write(
        &cfg,
        "[preprocess]\nn_top_genes = 100\n[model]\nhidden = [16]\nlatent = 4\n\
         [train]\nbatch_size = 64\nepochs = 1\n[contrastive]\nprojector = [8, 8]\n",
    )
    .unwrap();
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
    let run = train
        .lines()
        .find_map(|l| l.strip_prefix("run directory: "))
        .unwrap_or_else(|| panic!("no run directory in:\n{train}"));
    assert!(Path::new(run).starts_with(&runs), "{run}");
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
