//! Crash safety of `cellscope train`: SIGKILL at random moments leaves a readable run directory
//! (complete last checkpoint, metrics.jsonl valid up to its last full line) that `--resume` finishes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cellscope::train::checkpoint::read_checkpoint;
use cellscope::train::rundir::read_metrics;

fn small_config(dir: &Path, epochs: usize) -> PathBuf {
    common::tiny_config(
        dir,
        "tiny.toml",
        &format!("[train]\nbatch_size = 64\nepochs = {epochs}\n"),
    )
}

/// The run directory under `out` (there is one).
fn the_run(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out).ok()?.find_map(|e| {
        let p = e.ok()?.path();
        p.is_dir().then_some(p)
    })
}

/// Starts train (fresh or resumed), kills it with SIGKILL after `delay`; true if it had finished.
fn run_and_kill(args: &[&str], delay: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cellscope"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cellscope train");
    let start = Instant::now();
    while start.elapsed() < delay {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{args:?} failed: {status}");
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    false
}

fn check_readable(run: &Path) {
    let metrics = read_metrics(run).expect("metrics.jsonl readable up to its last full line");
    let ckpt = run.join("last.safetensors");
    if ckpt.exists() {
        let c = read_checkpoint(&ckpt).expect("last checkpoint loads");
        assert!(!c.tensors.is_empty());
    }
    assert!(!run.join("last.tmp").exists() || ckpt.exists() || metrics.is_empty());
}

#[test]
fn sigkill_at_random_moments_then_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path(), 6);
    let out = dir.path().join("runs");
    let (cfg, out_s) = (cfg.to_str().unwrap(), out.to_str().unwrap());
    // Pseudo-random delays from the clock (no fixed schedule): 4 kills.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let mut finished = false;
    for k in 0..4u64 {
        let delay = Duration::from_millis(300 + (nanos / (k + 1) + k * 7919) % 1500);
        finished = match the_run(&out) {
            Some(run) if run.join("last.safetensors").exists() => run_and_kill(
                &["train", "--config", cfg, "--resume", run.to_str().unwrap()],
                delay,
            ),
            Some(run) => {
                // Killed before the first checkpoint: nothing to resume, start over.
                std::fs::remove_dir_all(run).unwrap();
                run_and_kill(&["train", "--config", cfg, "--out", out_s], delay)
            }
            None => run_and_kill(&["train", "--config", cfg, "--out", out_s], delay),
        };
        if let Some(run) = the_run(&out) {
            check_readable(&run);
        }
        if finished {
            break;
        }
    }
    if !finished {
        let run = the_run(&out).expect("a run directory");
        let args: Vec<&str> = if run.join("last.safetensors").exists() {
            vec!["train", "--config", cfg, "--resume", run.to_str().unwrap()]
        } else {
            std::fs::remove_dir_all(&run).unwrap();
            vec!["train", "--config", cfg, "--out", out_s]
        };
        assert!(
            run_and_kill(&args, Duration::from_secs(120)),
            "did not finish"
        );
    }
    let run = the_run(&out).unwrap();
    check_readable(&run);
    let metrics = read_metrics(&run).unwrap();
    let last_epoch = read_checkpoint(&run.join("last.safetensors"))
        .unwrap()
        .state
        .epoch;
    assert!(last_epoch >= 5, "finished at epoch index {last_epoch}");
    assert!(!metrics.is_empty());
}
