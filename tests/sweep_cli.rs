//! `cellscope sweep` end to end on a 120-cell fixture with a tiny model: the table's shape (one
//! row per method and mask rate, PCA below, the best marked), resuming after a kill without
//! redoing finished runs, and the `--slurm` script (syntax, array size).

mod common;

use common::{cellscope, fixture, ok, tiny_config};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DATA: &str = "embed/anndata07_demo120.h5ad";

/// `sweep` arguments for the fixture: masked at two mask rates, `seeds` seeds, 2 epochs.
fn sweep_args<'a>(cfg: &'a str, out: &'a str, seeds: &'a str) -> Vec<&'a str> {
    vec![
        "sweep",
        "--config",
        cfg,
        "--methods",
        "masked",
        "--mask-rates",
        "0.25,0.5",
        "--seeds",
        seeds,
        "--epochs",
        "2",
        "--label",
        "cell_type",
        "--out",
        out,
    ]
}

fn row_file(out: &Path, task: &str) -> std::path::PathBuf {
    out.join("runs").join(task).join("row.json")
}

#[test]
fn a_sweep_prints_one_row_per_combination_and_resumes_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), "tiny.toml", "[train]\nbatch_size = 32\n");
    let (cfg, out) = (cfg.to_str().unwrap(), dir.path().join("sw"));
    let data = fixture(DATA);
    let mut args = sweep_args(cfg, out.to_str().unwrap(), "2");
    args.insert(1, data.to_str().unwrap());
    let text = ok(&cellscope(&args));
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.contains("kNN macro-F1"))
        .unwrap();
    let rows = &lines[header + 1..];
    assert!(rows[0].contains("masked") && rows[0].contains("0.25") && rows[0].contains("2/2"));
    assert!(rows[1].contains("masked") && rows[1].contains("0.50") && rows[1].contains("2/2"));
    assert!(rows[2].trim_start().starts_with("PCA-50"), "{text}");
    assert_eq!(
        rows.iter().filter(|l| l.starts_with('*')).count(),
        2,
        "{text}"
    ); // row + legend
    assert!(text.contains("4 of 4 runs done"), "{text}");

    // The same table as JSON, from the directory alone.
    let json = ok(&cellscope(&[
        "sweep",
        "--collect",
        out.to_str().unwrap(),
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let combos = v["rows"].as_array().unwrap();
    assert_eq!(combos.len(), 2);
    assert_eq!(combos.iter().filter(|c| c["best"] == true).count(), 1);
    for c in combos {
        let knn = &c["knn_macro_f1"];
        let (ssl, pca, diff) = (
            knn["ssl"]["mean"].as_f64().unwrap(),
            knn["pca"]["mean"].as_f64().unwrap(),
            knn["diff"]["mean"].as_f64().unwrap(),
        );
        assert!((0.0..=1.0).contains(&ssl) && (0.0..=1.0).contains(&pca));
        assert!((ssl - pca - diff).abs() < 1e-9, "{c}");
        assert!(c["ev"]["mean"].as_f64().unwrap() <= 1.0);
    }

    // A run lost mid-training (no summary, no row) is trained again; the others are kept.
    let lost = out.join("runs/masked-r0.50-s1");
    std::fs::remove_file(lost.join("row.json")).unwrap();
    std::fs::remove_file(lost.join("summary.json")).unwrap();
    let kept = std::fs::metadata(row_file(&out, "masked-r0.25-s0"))
        .unwrap()
        .modified()
        .unwrap();
    let again = ok(&cellscope(&args));
    assert_eq!(again.matches("done earlier").count(), 3, "{again}");
    assert!(
        again.contains("masked-r0.50-s1: incomplete run, starting it again"),
        "{again}"
    );
    assert!(again.contains("4 of 4 runs done"), "{again}");
    let after = std::fs::metadata(row_file(&out, "masked-r0.25-s0"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(kept, after, "a finished run was redone");

    // Another request in the same directory is refused.
    let mut other = args.clone();
    let seeds = other.iter().position(|a| *a == "--seeds").unwrap();
    other[seeds + 1] = "3";
    let refused = cellscope(&other);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("different sweep"));
}

#[test]
fn a_killed_sweep_loses_at_most_the_run_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), "tiny.toml", "[train]\nbatch_size = 32\n");
    let (cfg, out) = (cfg.to_str().unwrap(), dir.path().join("sw"));
    let data = fixture(DATA);
    let mut args = sweep_args(cfg, out.to_str().unwrap(), "2");
    args.insert(1, data.to_str().unwrap());
    let mut child = Command::new(env!("CARGO_BIN_EXE_cellscope"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = row_file(&out, "masked-r0.25-s0");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !first.exists() {
        assert!(Instant::now() < deadline, "the first run never finished");
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = std::fs::read_to_string(&first).unwrap();
    let resumed = ok(&cellscope(&args));
    assert!(
        resumed.contains("[1/4] masked-r0.25-s0: done earlier"),
        "{resumed}"
    );
    assert!(resumed.contains("4 of 4 runs done"), "{resumed}");
    assert_eq!(std::fs::read_to_string(&first).unwrap(), kept);
}

#[test]
fn slurm_writes_a_job_array_with_one_task_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), "tiny.toml", "");
    let out = dir.path().join("sw");
    let data = fixture(DATA);
    let mut args = sweep_args(cfg.to_str().unwrap(), out.to_str().unwrap(), "3");
    args.insert(1, data.to_str().unwrap());
    let methods = args.iter().position(|a| *a == "--methods").unwrap();
    args[methods + 1] = "masked,byol";
    args.push("--slurm");
    let text = ok(&cellscope(&args));
    assert!(text.contains("9 array tasks"), "{text}"); // (masked x 2 rates + byol) x 3 seeds
    let script = out.join("sweep.sbatch");
    let body = std::fs::read_to_string(&script).unwrap();
    assert!(body.contains("#SBATCH --array=0-8\n"), "{body}");
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        !out.join("runs/masked-r0.25-s0").exists(),
        "--slurm must not train"
    );
}

#[test]
fn parallel_jobs_split_the_threads_and_log_each_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(
        dir.path(),
        "tiny.toml",
        "[train]\nbatch_size = 32\nthreads = 2\n",
    );
    let out = dir.path().join("sw");
    let data = fixture(DATA);
    let mut args = sweep_args(cfg.to_str().unwrap(), out.to_str().unwrap(), "2");
    args.insert(1, data.to_str().unwrap());
    let rates = args.iter().position(|a| *a == "--mask-rates").unwrap();
    args[rates + 1] = "0.5";
    args.extend(["--jobs", "2"]);
    let text = ok(&cellscope(&args));
    assert_eq!(text.matches("started (1 threads)").count(), 2, "{text}");
    assert!(text.contains("2 of 2 runs done"), "{text}");
    let log = std::fs::read_to_string(out.join("logs/masked-r0.50-s1.log")).unwrap();
    assert!(log.contains("masked-r0.50-s1: done in"), "{log}");
}
