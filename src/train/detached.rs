//! Runs that live in their own process: status from metrics.jsonl + pid liveness, the control
//! file a driver polls (stop/pause/resume), and following a run's metrics.jsonl as it grows.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::train::checkpoint::write_atomic;
use crate::train::rundir::{CONTROL_FILE, LOG_FILE, METRICS_FILE, PID_FILE, parse_event_line};
use crate::train::{TrainCommand, TrainError, TrainEvent};

/// Where a run stands, as seen from outside its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Its process is alive and has not reported an end.
    Running,
    /// Alive and paused on request.
    Paused,
    Finished,
    /// Ended early on request; resumable with `--resume`.
    Stopped,
    Failed,
    /// Its process is gone without a final event (killed, machine down); resumable with `--resume`.
    Died,
}

impl RunStatus {
    /// The lower-case word shown to users.
    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Finished => "finished",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
            RunStatus::Died => "died",
        }
    }

    /// Whether a process is still training the run.
    pub fn is_live(self) -> bool {
        matches!(self, RunStatus::Running | RunStatus::Paused)
    }
}

/// Whether a process with this id exists.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The pid recorded in a run directory, if any.
pub fn run_pid(run_dir: &Path) -> Option<u32> {
    std::fs::read_to_string(run_dir.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The status a run's events imply, given whether its process is alive.
pub fn status_of(events: &[TrainEvent], alive: bool) -> RunStatus {
    let mut paused = false;
    for event in events {
        match event {
            TrainEvent::Finished { stopped: true, .. } => return RunStatus::Stopped,
            TrainEvent::Finished { .. } => return RunStatus::Finished,
            TrainEvent::Failed { .. } => return RunStatus::Failed,
            TrainEvent::Paused => paused = true,
            TrainEvent::Resumed | TrainEvent::Started { .. } => paused = false,
            _ => {}
        }
    }
    match (alive, paused) {
        (false, _) => RunStatus::Died,
        (true, true) => RunStatus::Paused,
        (true, false) => RunStatus::Running,
    }
}

/// Every event of a run's metrics.jsonl so far (unparseable lines skipped).
pub fn read_events(run_dir: &Path) -> Vec<TrainEvent> {
    let mut follower = MetricsFollower::new(run_dir);
    follower.poll()
}

/// A run's current status from its files (see [`status_of`]).
pub fn run_status(run_dir: &Path) -> RunStatus {
    status_of(&final_events(&read_events(run_dir)), run_alive(run_dir))
}

/// The events after the last `Started` (a resumed run's earlier ends no longer count).
fn final_events(events: &[TrainEvent]) -> Vec<TrainEvent> {
    let from = events
        .iter()
        .rposition(|e| matches!(e, TrainEvent::Started { .. }))
        .unwrap_or(0);
    events[from..].to_vec()
}

/// Whether the run's recorded process is alive.
pub fn run_alive(run_dir: &Path) -> bool {
    run_pid(run_dir).is_some_and(pid_alive)
}

/// The control-file word of a command.
fn command_word(command: TrainCommand) -> &'static str {
    match command {
        TrainCommand::Pause => "pause",
        TrainCommand::Resume => "resume",
        TrainCommand::Stop => "stop",
    }
}

/// Asks the process training `run_dir` to pause, resume or stop, through its control file.
pub fn send_command(run_dir: &Path, command: TrainCommand) -> Result<(), TrainError> {
    write_atomic(
        &run_dir.join(CONTROL_FILE),
        format!("{}\n", command_word(command)).as_bytes(),
    )
}

/// Removes a stale control file (a stop left from an earlier session must not end a resumed run).
pub fn clear_control(run_dir: &Path) {
    let _ = std::fs::remove_file(run_dir.join(CONTROL_FILE));
}

/// Starts this executable with `args` as its own session (immune to the terminal closing), with
/// no stdin and its output appended to `run_dir/train.log`; records and returns its pid.
pub fn spawn_detached(run_dir: &Path, args: &[OsString]) -> Result<u32, TrainError> {
    let fail = |what: &str, e: std::io::Error| {
        TrainError::Io(format!("{}: {what}: {e}", run_dir.display()))
    };
    clear_control(run_dir);
    let log_path = run_dir.join(LOG_FILE);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| fail("cannot open the run log", e))?;
    let exe =
        std::env::current_exe().map_err(|e| fail("cannot find the cellscope executable", e))?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(|e| fail("cannot open the run log", e))?,
        )
        .stderr(log);
    // SAFETY: setsid() is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| fail("cannot start the detached run", e))?;
    write_atomic(
        &run_dir.join(PID_FILE),
        format!("{}\n", child.id()).as_bytes(),
    )?;
    Ok(child.id())
}

/// Watches a run's control file and reports each new command written to it.
#[derive(Debug, Default)]
pub struct ControlPoller {
    last: Option<String>,
}

impl ControlPoller {
    /// The command newly written to `run_dir/control` since the last poll, if any.
    pub fn poll(&mut self, run_dir: &Path) -> Option<TrainCommand> {
        let word = std::fs::read_to_string(run_dir.join(CONTROL_FILE)).ok()?;
        let word = word.trim().to_string();
        if self.last.as_deref() == Some(word.as_str()) {
            return None;
        }
        let command = match word.as_str() {
            "pause" => TrainCommand::Pause,
            "resume" => TrainCommand::Resume,
            "stop" => TrainCommand::Stop,
            other => {
                tracing::warn!("{}: unknown command {other:?}", run_dir.display());
                self.last = Some(word);
                return None;
            }
        };
        self.last = Some(word);
        Some(command)
    }
}

/// Follows a run's metrics.jsonl like `tail -f`: each poll returns the events of the lines
/// completed since the last one (a half-written last line is read again by the next poll).
#[derive(Debug)]
pub struct MetricsFollower {
    path: PathBuf,
    /// Where the lines not yet returned start (just after the last complete line read).
    offset: u64,
}

impl MetricsFollower {
    /// A follower from the start of `run_dir/metrics.jsonl` (which may not exist yet).
    pub fn new(run_dir: &Path) -> Self {
        Self {
            path: run_dir.join(METRICS_FILE),
            offset: 0,
        }
    }

    /// The events appended since the last poll. A torn last line cut off by a resume costs
    /// nothing (it was never returned); a file cut into lines already returned is followed on
    /// from its new end, with a `Log` event saying so first.
    pub fn poll(&mut self) -> Vec<TrainEvent> {
        let Ok(mut file) = File::open(&self.path) else {
            return Vec::new();
        };
        let mut events = Vec::new();
        let len = file.metadata().map_or(self.offset, |m| m.len());
        if len < self.offset {
            events.push(TrainEvent::Log(format!(
                "{METRICS_FILE} was cut from {} to {len} bytes while followed; following on from its new end",
                self.offset
            )));
            self.offset = len;
        }
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_end(&mut bytes).is_err()
        {
            return events;
        }
        let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
            return events;
        };
        self.offset += end as u64 + 1;
        events.extend(
            String::from_utf8_lossy(&bytes[..=end])
                .lines()
                .filter_map(parse_event_line),
        );
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(e: &TrainEvent) -> String {
        serde_json::to_string(e).unwrap() + "\n"
    }

    fn finished(stopped: bool) -> TrainEvent {
        TrainEvent::Finished {
            run_dir: "r".into(),
            best_val_loss: 0.5,
            epochs_done: 1,
            stopped,
        }
    }

    #[test]
    fn status_follows_the_last_event_and_liveness() {
        let log = TrainEvent::Log("x".into());
        assert_eq!(
            status_of(std::slice::from_ref(&log), true),
            RunStatus::Running
        );
        assert_eq!(
            status_of(std::slice::from_ref(&log), false),
            RunStatus::Died
        );
        assert_eq!(status_of(&[TrainEvent::Paused], true), RunStatus::Paused);
        let resumed = [TrainEvent::Paused, TrainEvent::Resumed];
        assert_eq!(status_of(&resumed, true), RunStatus::Running);
        assert_eq!(status_of(&[finished(false)], false), RunStatus::Finished);
        assert_eq!(status_of(&[finished(true)], false), RunStatus::Stopped);
        let failed = TrainEvent::Failed {
            message: "m".into(),
        };
        assert_eq!(status_of(&[failed], true), RunStatus::Failed);
        assert!(pid_alive(std::process::id()));
    }

    #[test]
    fn follower_returns_only_completed_lines_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut follower = MetricsFollower::new(dir.path());
        assert!(follower.poll().is_empty());
        let mut f = std::fs::File::create(dir.path().join(METRICS_FILE)).unwrap();
        let a = TrainEvent::Log("a".into());
        let b = finished(true);
        let text = line(&a) + &line(&b);
        let cut = line(&a).len() + 5;
        f.write_all(&text.as_bytes()[..cut]).unwrap();
        assert_eq!(follower.poll(), vec![a.clone()]);
        assert!(follower.poll().is_empty());
        f.write_all(&text.as_bytes()[cut..]).unwrap();
        assert_eq!(follower.poll(), vec![b.clone()]);
        assert_eq!(read_events(dir.path()), vec![a, b]);
        assert_eq!(run_status(dir.path()), RunStatus::Stopped);
    }

    #[test]
    fn a_follower_goes_on_after_a_torn_tail_is_cut_and_says_when_read_lines_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(METRICS_FILE);
        let (a, b, c) = (
            TrainEvent::Log("a".into()),
            TrainEvent::Paused,
            TrainEvent::Resumed,
        );
        std::fs::write(&file, line(&a) + "{\"event\":\"st").unwrap();
        let mut follower = MetricsFollower::new(dir.path());
        assert_eq!(follower.poll(), vec![a.clone()]);
        // A resume cuts the torn line and appends: nothing is lost or glued together.
        std::fs::write(&file, line(&a) + &line(&b)).unwrap();
        assert_eq!(follower.poll(), vec![b]);
        // Truncated to nothing under the follower, then written again.
        std::fs::write(&file, "").unwrap();
        let cut = follower.poll();
        match cut.as_slice() {
            [TrainEvent::Log(m)] => {
                assert!(m.contains("was cut") && m.contains("to 0 bytes"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&file, line(&c)).unwrap();
        assert_eq!(follower.poll(), vec![c]);
    }

    #[test]
    fn control_poller_reports_each_new_command_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut poller = ControlPoller::default();
        assert_eq!(poller.poll(dir.path()), None);
        send_command(dir.path(), TrainCommand::Pause).unwrap();
        assert_eq!(poller.poll(dir.path()), Some(TrainCommand::Pause));
        assert_eq!(poller.poll(dir.path()), None);
        send_command(dir.path(), TrainCommand::Stop).unwrap();
        assert_eq!(poller.poll(dir.path()), Some(TrainCommand::Stop));
        clear_control(dir.path());
        assert_eq!(poller.poll(dir.path()), None);
    }
}
