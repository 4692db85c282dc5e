//! Kill soak of `cellscope train` (tiny model on the demo): SIGKILL at 10 random moments, aimed
//! in turn at a step, at validation and at a checkpoint write, `--resume` after each. After every
//! kill metrics.jsonl parses line by line (only the last line may be torn; half of the kills also
//! tear it on purpose), `best.safetensors` loads and at most one epoch of work is lost; each
//! resume continues at the checkpoint's next step; the finished run has every step exactly once
//! after the last resume point, every line whole, and the full step count.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cellscope::train::TrainEvent;
use cellscope::train::checkpoint::read_checkpoint;
use cellscope::train::detached::MetricsFollower;
use cellscope::train::rundir::{BEST_CHECKPOINT, LAST_CHECKPOINT, METRICS_FILE, SUMMARY_FILE};

const EPOCHS: usize = 48;
const KILLS: usize = 10;
/// Longest one session may take before the test gives up on it.
const SESSION_LIMIT: Duration = Duration::from_secs(60);

/// Where a training process is, judged by the last event it logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Step,
    Validation,
    Checkpoint,
}

const PHASES: [Phase; 3] = [Phase::Step, Phase::Validation, Phase::Checkpoint];

/// The phase a process is in right after logging `last`.
fn phase_after(last: &TrainEvent, steps_per_epoch: usize) -> Phase {
    match last {
        TrainEvent::Step { step, .. } if step + 1 == steps_per_epoch => Phase::Validation,
        TrainEvent::EpochEnd { .. } | TrainEvent::CheckpointSaved { best: true, .. } => {
            Phase::Checkpoint
        }
        _ => Phase::Step,
    }
}

/// A small deterministic generator seeded from the clock (the seed is printed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One `cellscope train` process and the events it logged, with when the test saw them.
struct Session {
    child: Child,
    follower: Option<MetricsFollower>,
    events: Vec<(Instant, TrainEvent)>,
}

impl Session {
    fn start(args: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_cellscope"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cellscope train");
        Self {
            child,
            follower: None,
            events: Vec::new(),
        }
    }

    /// Reads new events (following `run` once it exists); false once the process has exited.
    fn poll(&mut self, run: Option<&Path>, skip: usize) -> bool {
        if self.follower.is_none()
            && let Some(run) = run.filter(|r| r.join(METRICS_FILE).exists())
        {
            let mut follower = MetricsFollower::new(run);
            // The lines of earlier sessions are not this session's.
            let all = follower.poll();
            assert!(
                all.len() >= skip,
                "metrics.jsonl lost lines: {} < {skip}",
                all.len()
            );
            let now = Instant::now();
            self.events
                .extend(all.into_iter().skip(skip).map(|e| (now, e)));
            self.follower = Some(follower);
        }
        if let Some(f) = &mut self.follower {
            let now = Instant::now();
            self.events.extend(f.poll().into_iter().map(|e| (now, e)));
        }
        self.child.try_wait().unwrap().is_none()
    }

    fn steps_per_epoch(&self) -> Option<usize> {
        self.events.iter().find_map(|(_, e)| match e {
            TrainEvent::Started {
                steps_per_epoch, ..
            } => Some(*steps_per_epoch),
            _ => None,
        })
    }

    /// Epochs this session completed (its last checkpoint written).
    fn epochs_done(&self) -> usize {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, TrainEvent::CheckpointSaved { best: false, .. }))
            .count()
    }

    fn global_steps(&self) -> Vec<usize> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                TrainEvent::Step { global_step, .. } => Some(*global_step),
                _ => None,
            })
            .collect()
    }

    fn kill(mut self) -> Vec<TrainEvent> {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
        self.events.into_iter().map(|(_, e)| e).collect()
    }
}

/// How long each phase took in `events`, from when their lines appeared (a rough floor of 1 ms).
fn durations(events: &[(Instant, TrainEvent)], steps_per_epoch: usize) -> [Duration; 3] {
    let mut took = [Duration::from_millis(1); 3];
    for pair in events.windows(2) {
        let ((t0, e0), (t1, _)) = (&pair[0], &pair[1]);
        let i = PHASES
            .iter()
            .position(|p| *p == phase_after(e0, steps_per_epoch))
            .unwrap();
        took[i] = took[i].max(*t1 - *t0);
    }
    took
}

/// The single run directory under `out`.
fn the_run(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out).ok()?.find_map(|e| {
        let p = e.ok()?.path();
        p.is_dir().then_some(p)
    })
}

/// Every complete line of metrics.jsonl parses; returns the number of lines and whether a torn
/// (unterminated) last line follows them.
fn check_lines(run: &Path) -> (usize, bool) {
    let text = std::fs::read_to_string(run.join(METRICS_FILE)).unwrap();
    let torn = !text.is_empty() && !text.ends_with('\n');
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    for (i, line) in complete.lines().enumerate() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("line {} of metrics.jsonl: {e}: {line}", i + 1));
    }
    (complete.lines().count(), torn)
}

fn check_best_loads(run: &Path) {
    if run.join(BEST_CHECKPOINT).exists() {
        let best = read_checkpoint(&run.join(BEST_CHECKPOINT)).expect("best.safetensors loads");
        assert!(!best.tensors.is_empty());
        cellscope::train::load_run(run).expect("the run loads for embedding");
    }
}

/// The global step of the last checkpoint.
fn checkpoint_step(run: &Path) -> usize {
    read_checkpoint(&run.join(LAST_CHECKPOINT))
        .expect("last.safetensors loads")
        .state
        .global_step
}

#[test]
fn sigkill_at_ten_random_moments_with_a_resume_after_each_ends_complete() {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::tiny_config(
        dir.path(),
        "tiny.toml",
        &format!(
            "[train]\nbatch_size = 16\nepochs = {EPOCHS}\nval_fraction = 0.8\npatience = 0\nthreads = 1\n\
             snapshot_every = 0\n"
        ),
    );
    let out = dir.path().join("runs");
    let (cfg, out_s) = (cfg.to_str().unwrap(), out.to_str().unwrap());
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill soak seed {seed}");
    let mut rng = Rng(seed);
    let mut hits = [0usize; 3];
    let mut torn_seen = 0;
    let mut took = [Duration::from_millis(1); 3];
    let mut resume_at: Option<usize> = None;
    let mut lines_before = 0;
    let mut run: Option<PathBuf> = None;
    let mut steps_per_epoch = 0;
    for k in 0..=KILLS {
        let resume = run.as_ref().map(|r| r.to_str().unwrap().to_string());
        let mut session = Session::start(&match &resume {
            Some(r) => vec!["train", "--config", cfg, "--resume", r],
            None => vec!["train", "--config", cfg, "--out", out_s],
        });
        // Aim at a phase not hit yet, else any; at a random step or moment within it, after
        // this session has finished one epoch (so every session makes progress).
        let missing: Vec<usize> = (0..3).filter(|&i| hits[i] == 0).collect();
        let target = match missing.as_slice() {
            [] => rng.below(3) as usize,
            m => m[rng.below(m.len() as u64) as usize],
        };
        let step_target = rng.below(1_000);
        let fraction = rng.below(800) as u32; // of the phase's duration, in thousandths
        let started = Instant::now();
        let mut trigger: Option<Instant> = None;
        loop {
            if run.is_none() {
                run = the_run(&out);
            }
            let alive = session.poll(run.as_deref(), lines_before);
            if !alive {
                assert!(k == KILLS, "session {k} ended before its kill");
                break;
            }
            assert!(
                started.elapsed() < SESSION_LIMIT,
                "session {k} took too long"
            );
            let Some(spe) = session.steps_per_epoch() else {
                continue;
            };
            if k == KILLS {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            if trigger.is_none() && session.epochs_done() >= 1 {
                let (_, last) = session.events.last().unwrap();
                // A phase too short to catch in two epochs gives way to a kill at once.
                let fires = session.epochs_done() >= 3
                    || match PHASES[target] {
                        Phase::Step => matches!(last, TrainEvent::Step { step, .. }
                        if *step as u64 == step_target % (spe as u64).max(1)),
                        phase => phase_after(last, spe) == phase,
                    };
                if fires {
                    trigger = Some(Instant::now() + took[target] * fraction / 1000);
                }
            }
            if trigger.is_some_and(|t| Instant::now() >= t) {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let run_dir = run.clone().expect("a run directory");
        let spe = session.steps_per_epoch().expect("the session started");
        steps_per_epoch = spe;
        let steps = session.global_steps();
        // Each session starts at the step after its checkpoint and counts up by one.
        if let Some(at) = resume_at {
            assert_eq!(
                steps.first(),
                Some(&(at + 1)),
                "session {k} resumes at {at} + 1"
            );
        }
        assert!(
            steps.windows(2).all(|w| w[1] == w[0] + 1),
            "session {k}: steps {steps:?}"
        );
        for (i, d) in durations(&session.events, spe).into_iter().enumerate() {
            took[i] = took[i].max(d);
        }
        if k == KILLS {
            let status = session.child.wait().unwrap();
            assert!(status.success(), "the last resume failed: {status}");
            break;
        }
        let events = session.kill();
        let phase = phase_after(events.last().unwrap(), spe);
        hits[PHASES.iter().position(|p| *p == phase).unwrap()] += 1;
        let (lines, torn) = check_lines(&run_dir);
        torn_seen += usize::from(torn);
        check_best_loads(&run_dir);
        let at = checkpoint_step(&run_dir);
        let lost = steps.last().unwrap() - at;
        println!(
            "kill {k}: aimed at {:?}, hit {phase:?}; checkpoint at step {at}, {lost} steps redone",
            PHASES[target]
        );
        assert!(
            lost <= spe,
            "kill {k} lost {lost} steps (> one epoch of {spe})"
        );
        if k % 2 == 1 && !torn {
            // A write cut short by the kill, as when it lands inside a metrics line.
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(run_dir.join(METRICS_FILE))
                .unwrap();
            f.write_all(b"{\"event\":\"step\",\"epoch\":3,\"glo")
                .unwrap();
        }
        resume_at = Some(at);
        lines_before = lines;
    }
    let run = run.unwrap();
    let text = std::fs::read_to_string(run.join(METRICS_FILE)).unwrap();
    assert!(text.ends_with('\n'), "torn lines were dropped on resume");
    check_lines(&run);
    check_best_loads(&run);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join(SUMMARY_FILE)).unwrap()).unwrap();
    let ckpt = read_checkpoint(&run.join(LAST_CHECKPOINT)).unwrap().state;
    assert_eq!(ckpt.epoch, EPOCHS);
    assert_eq!(
        ckpt.global_step,
        EPOCHS * steps_per_epoch,
        "every step was done"
    );
    assert_eq!(summary["epochs_done"], EPOCHS);
    assert_eq!(summary["global_step"], ckpt.global_step);
    let finished = text
        .lines()
        .filter(|l| l.contains("\"event\":\"finished\""));
    assert_eq!(finished.count(), 1, "one end, after the last resume");
    println!(
        "phases hit (step, validation, checkpoint): {hits:?}; torn lines left by kills: \
         {torn_seen}; {:.1} s",
        began.elapsed().as_secs_f64()
    );
    assert!(hits.iter().all(|&h| h > 0), "every phase was hit: {hits:?}");
}
