//! Following a run that trains in its own process: its metrics.jsonl arrives as `Msg::Train`
//! (the history first, then live lines), commands go through its control file. Dropping the
//! follower only detaches: the run goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::train::detached::{MetricsFollower, run_alive, send_command};
use crate::train::rundir::{CONFIG_FILE, METRICS_FILE, PID_FILE};
use crate::train::{TrainCommand, TrainEvent};

use crate::tui::message::Msg;

/// How often metrics.jsonl is read for new lines.
const POLL: Duration = Duration::from_millis(200);
/// How often a run without a final event is checked for a living process.
const LIVENESS: Duration = Duration::from_secs(1);

/// The UI's attachment to a run in another process.
#[derive(Debug)]
pub struct Attached {
    run_dir: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Attached {
    /// Starts following `run_dir`; its events (from the first line) arrive as `Msg::Train`.
    pub fn start(run_dir: PathBuf, to_app: UnboundedSender<Msg>) -> Result<Self, String> {
        // A run just started may not have written its first metrics line yet.
        if ![METRICS_FILE, CONFIG_FILE, PID_FILE]
            .iter()
            .any(|f| run_dir.join(f).exists())
        {
            return Err(format!(
                "{}: not a run directory (no {METRICS_FILE})",
                run_dir.display()
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (dir, flag) = (run_dir.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("cellscope-follow".into())
            .spawn(move || follow(&dir, &flag, &to_app))
            .map_err(|e| format!("cannot start the follower thread: {e}"))?;
        Ok(Self {
            run_dir,
            stop,
            thread: Some(thread),
        })
    }

    /// The followed run directory.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Asks the run's process to pause, resume or stop (it polls its control file).
    pub fn send(&self, command: TrainCommand) -> Result<(), String> {
        send_command(&self.run_dir, command).map_err(|e| e.to_string())
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether an event ends a run's current session (a later `Started` is a resume).
fn ends_run(event: &TrainEvent) -> bool {
    matches!(
        event,
        TrainEvent::Finished { .. } | TrainEvent::Failed { .. }
    )
}

/// Sends every event of `run_dir/metrics.jsonl` until `stop` is set; reports a run whose
/// process vanished without a final event as failed (resumable).
fn follow(run_dir: &Path, stop: &AtomicBool, to_app: &UnboundedSender<Msg>) {
    let mut follower = MetricsFollower::new(run_dir);
    let mut ended = false;
    let mut checked = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        // Liveness is taken before reading: a process gone by then has written all its lines.
        let gone = !ended && checked.elapsed() >= LIVENESS && {
            checked = Instant::now();
            !run_alive(run_dir)
        };
        for event in follower.poll() {
            if matches!(event, TrainEvent::Started { .. }) {
                ended = false;
            }
            ended |= ends_run(&event);
            if to_app.send(Msg::Train(event)).is_err() {
                return;
            }
        }
        if gone && !ended {
            ended = true;
            let message = format!(
                "the training process is gone without finishing (killed?); \
                 `cellscope train --resume {}` continues it",
                run_dir.display()
            );
            let _ = to_app.send(Msg::Train(TrainEvent::Failed { message }));
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::rundir::CONTROL_FILE;
    use std::io::Write;

    fn append(dir: &Path, event: &TrainEvent) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(METRICS_FILE))
            .unwrap();
        writeln!(f, "{}", serde_json::to_string(event).unwrap()).unwrap();
    }

    fn next_event(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>) -> TrainEvent {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match rx.try_recv() {
                Ok(Msg::Train(event)) => return event,
                Ok(other) => panic!("unexpected message {other:?}"),
                Err(_) => {
                    assert!(Instant::now() < deadline, "no event within 5 s");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    #[test]
    fn a_follower_sends_history_then_new_lines_and_reports_a_vanished_process() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        assert!(Attached::start(dir.path().into(), tx.clone()).is_err());
        // A pid that cannot exist: the process is "gone".
        std::fs::write(dir.path().join(PID_FILE), "4194305\n").unwrap();
        append(dir.path(), &TrainEvent::Log("first".into()));
        let attached = Attached::start(dir.path().into(), tx).unwrap();
        assert_eq!(next_event(&mut rx), TrainEvent::Log("first".into()));
        append(dir.path(), &TrainEvent::Paused);
        assert_eq!(next_event(&mut rx), TrainEvent::Paused);
        match next_event(&mut rx) {
            TrainEvent::Failed { message } => assert!(message.contains("--resume"), "{message}"),
            other => panic!("expected a failure, got {other:?}"),
        }
        attached.send(TrainCommand::Stop).unwrap();
        let control = std::fs::read_to_string(dir.path().join(CONTROL_FILE)).unwrap();
        assert_eq!(control.trim(), "stop");
        drop(attached);
    }
}
