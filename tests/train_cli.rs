//! `cellscope train` end to end through the built binary on the bundled demo dataset (real
//! counts), with a small model so it stays fast: run directory contents, resume, bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cellscope, run_dir};

fn small_config(dir: &Path) -> PathBuf {
    let path = dir.join("small.toml");
    std::fs::write(
        &path,
        "[preprocess]\nn_top_genes = 200\n[model]\nhidden = [32]\nlatent = 8\n\
         [train]\nbatch_size = 64\nepochs = 2\n[contrastive]\nbyol_projector = [16, 16]\nbarlow_projector = [16, 16]\n",
    )
    .unwrap();
    path
}

#[test]
fn train_writes_a_complete_run_and_resume_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let out = dir.path().join("runs");
    let (cfg, out) = (cfg.to_str().unwrap(), out.to_str().unwrap());
    let first = cellscope(&["train", "--config", cfg, "--out", out]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("epoch 1/2  loss "), "{stdout}");
    assert!(stdout.contains("validation baseline (predict each gene's mean)"));
    let run = run_dir(&stdout);
    assert!(
        run.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-masked")
    );
    for f in [
        "config.toml",
        "genes.txt",
        "dataset.txt",
        "metrics.jsonl",
        "last.safetensors",
        "best.safetensors",
        "summary.json",
    ] {
        assert!(run.join(f).exists(), "missing {f}");
    }
    let genes = std::fs::read_to_string(run.join("genes.txt")).unwrap();
    assert_eq!(genes.lines().count(), 200);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["epochs_done"], 2);
    assert!(summary["val_baseline_gene_mean"].as_f64().unwrap() > 0.0);
    let steps_before = summary["global_step"].as_u64().unwrap();

    let resumed = cellscope(&["train", "--resume", run.to_str().unwrap(), "--epochs", "3"]);
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        resumed.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(stdout.contains("resumed at epoch 3"), "{stdout}");
    assert!(stdout.contains("epoch 3/3  loss "), "{stdout}");
    assert_eq!(run_dir(&stdout), run);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["epochs_done"], 3);
    assert_eq!(
        summary["global_step"].as_u64().unwrap(),
        steps_before * 3 / 2
    );
    let epochs = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"event\":\"epoch\""))
        .count();
    assert_eq!(epochs, 3, "one loss curve across both sessions");
}

#[test]
fn contrastive_and_programme_methods_run_on_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let out = dir.path().join("runs");
    for method in ["gp", "barlow"] {
        let o = cellscope(&[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--method",
            method,
            "--epochs",
            "1",
        ]);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{method}: {stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        if method == "gp" {
            assert!(
                stdout.contains("gene programmes matched the dataset's genes"),
                "{stdout}"
            );
        }
    }
}

#[test]
fn bad_requests_fail_with_one_clear_line_and_exit_code_2() {
    for (args, expect) in [
        (
            vec!["train", "--method", "simclr"],
            "unknown method \"simclr\"",
        ),
        (
            vec!["train", "--detach", "--method", "simclr"],
            "unknown method \"simclr\"",
        ),
        (
            vec!["train", "--resume", "/nonexistent/run"],
            "not a run directory",
        ),
    ] {
        let o = cellscope(&args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}

#[test]
fn a_run_failing_while_training_prints_its_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::tiny_config(
        dir.path(),
        "diverge.toml",
        "[train]\nlr = 1e30\ngrad_clip = 0.0\nepochs = 3\n",
    );
    let out = dir.path().join("runs");
    let o = cellscope(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(2), "{stdout}{stderr}");
    let mentions = |text: &str| text.lines().filter(|l| l.contains("loss became")).count();
    assert_eq!(mentions(&stderr), 1, "{stderr}");
    assert_eq!(mentions(&stdout), 0, "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn sigterm_stops_gracefully_with_a_checkpoint() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("long.toml");
    std::fs::write(
        &cfg,
        "[preprocess]\nn_top_genes = 100\n[model]\nhidden = [16]\nlatent = 4\n\
         [train]\nbatch_size = 32\nepochs = 300\npatience = 0\n",
    )
    .unwrap();
    let out = dir.path().join("runs");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cellscope"))
        .args([
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let started = line.starts_with("epoch") && line.contains(" 1/300 ");
        seen.push(line);
        if started {
            break;
        }
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    seen.extend(lines.map(Result::unwrap));
    let status = child.wait().unwrap();
    let text = seen.join("\n");
    assert!(status.success(), "{text}");
    assert!(
        text.contains("stop requested") && text.contains("stopped after"),
        "{text}"
    );
    let run = run_dir(&text);
    assert!(run.join("last.safetensors").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["stopped"], true);
}
