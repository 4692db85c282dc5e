//! Detached runs through the built binary: `train --detach` returns at once, the run keeps going
//! in its own process, followers attach/detach/re-attach via metrics.jsonl, `stop` ends it cleanly.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cellscope::train::TrainEvent;
use cellscope::train::detached::{MetricsFollower, RunStatus, pid_alive, run_pid, run_status};
use common::{KillRun, cellscope, tiny_config};

/// A child process (a follower) killed on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A small, slow-enough configuration: many tiny batches so a stop lands mid-run.
fn config(dir: &Path, epochs: usize) -> PathBuf {
    tiny_config(
        dir,
        "tiny.toml",
        &format!("[train]\nbatch_size = 8\nepochs = {epochs}\nthreads = 1\npatience = 0\n"),
    )
}

fn start_detached(dir: &Path, epochs: usize) -> (PathBuf, KillRun) {
    let cfg = config(dir, epochs);
    let out = dir.join("runs");
    let started = Instant::now();
    let o = cellscope(&[
        "train",
        "--detach",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "--detach waited for training"
    );
    assert!(stdout.contains("detached: pid "), "{stdout}");
    let run = PathBuf::from(
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("run directory: "))
            .unwrap(),
    );
    let guard = KillRun(run.clone());
    (run, guard)
}

/// Polls until `done` holds (panics with the run's log after `secs`).
fn wait_for(run: &Path, secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; train.log:\n{}",
            std::fs::read_to_string(run.join("train.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn epoch_ends(events: &[TrainEvent]) -> Vec<(usize, f32)> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::EpochEnd {
                epoch, val_loss, ..
            } => Some((*epoch, *val_loss)),
            _ => None,
        })
        .collect()
}

#[test]
fn detached_run_outlives_its_followers_and_reattaching_sees_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _guard) = start_detached(dir.path(), 3);
    let pid = run_pid(&run).expect("pid recorded");
    assert_ne!(pid, std::process::id());

    // Attach, see some progress, detach.
    let mut first = MetricsFollower::new(&run);
    let mut seen = Vec::new();
    wait_for(&run, 20, "the first steps", || {
        seen.extend(first.poll());
        seen.iter().any(|e| matches!(e, TrainEvent::Step { .. }))
    });
    drop(first);

    // A follower in another process (standing in for a UI), killed while the run trains.
    let follower = ChildGuard(
        Command::new("tail")
            .args(["-f", run.join("metrics.jsonl").to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(100));
    drop(follower);
    assert!(pid_alive(pid), "killing a follower ended the run");

    // Re-attach from the start: the same metrics, then the run finishes on its own.
    let mut again = MetricsFollower::new(&run);
    let mut all = Vec::new();
    wait_for(&run, 30, "the run to finish", || {
        all.extend(again.poll());
        all.iter().any(|e| matches!(e, TrainEvent::Finished { .. }))
    });
    assert_eq!(
        all[..seen.len()],
        seen[..],
        "re-attaching replays what was seen"
    );
    let epochs = epoch_ends(&all);
    assert_eq!(epochs.iter().map(|e| e.0).collect::<Vec<_>>(), [0, 1, 2]);
    wait_for(&run, 10, "the process to exit", || !pid_alive(pid));
    assert_eq!(run_status(&run), RunStatus::Finished);
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    assert!(summary.contains("\"epochs_done\": 3"), "{summary}");
}

#[test]
fn stop_ends_a_detached_run_with_a_checkpoint_and_stopped_status() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _guard) = start_detached(dir.path(), 500);
    let run_s = run.to_str().unwrap();
    let mut follower = MetricsFollower::new(&run);
    let mut events = Vec::new();
    wait_for(&run, 20, "an epoch", || {
        events.extend(follower.poll());
        !epoch_ends(&events).is_empty()
    });
    assert_eq!(run_status(&run), RunStatus::Running);
    let stop = cellscope(&["stop", run_s]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    wait_for(&run, 20, "the stopped run to end", || {
        run_status(&run) == RunStatus::Stopped && !run_pid(&run).is_some_and(pid_alive)
    });
    events.extend(follower.poll());
    let done = events.iter().find_map(|e| match e {
        TrainEvent::Finished {
            stopped,
            epochs_done,
            ..
        } => Some((*stopped, *epochs_done)),
        _ => None,
    });
    let (stopped, epochs_done) = done.expect("a finished event");
    assert!(stopped && epochs_done < 500);
    assert!(run.join("last.safetensors").exists());
    // The stopped run resumes from its checkpoint (a complete one) and can be stopped again later.
    let resumed = cellscope(&[
        "train",
        "--resume",
        run_s,
        "--epochs",
        &(epochs_done + 1).to_string(),
    ]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(run_status(&run), RunStatus::Finished);

    let again = cellscope(&["stop", run_s]);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("is not running (status: finished)"), "{err}");
}

#[test]
fn a_second_writer_is_refused_with_the_writers_pid_while_readers_go_on() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough to outlive a cross-validated eval in a debug build; killed at the end.
    let (run, _guard) = start_detached(dir.path(), 1_000_000);
    let run_s = run.to_str().unwrap();
    wait_for(&run, 30, "a best checkpoint", || {
        run.join("best.safetensors").exists()
    });
    let pid = run_pid(&run).expect("pid recorded");
    let busy = format!("run {run_s} is being written by pid {pid}");
    for args in [
        vec!["train", "--resume", run_s],
        vec!["train", "--resume", run_s, "--detach"],
    ] {
        let o = cellscope(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end(), format!("error: {busy}"), "{args:?}");
        assert_eq!(
            run_pid(&run),
            Some(pid),
            "{args:?} left the writer's pid alone"
        );
    }
    // Readers take no lock: eval reads the run while it trains.
    let eval = cellscope(&["eval", run_s, "--json"]);
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    assert_eq!(run_status(&run), RunStatus::Running);
}
