//! The background training worker: its own thread, pause/resume/stop checked before every batch,
//! checkpoints every epoch, typed events over a channel, panics reported as `Failed`.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;
use crate::data::genesets::{MatchedSets, default_gene_sets, match_gene_sets, read_gmt};
use crate::model::random::mix;
use crate::train::budget::Budget;
use crate::train::checkpoint::{TrainState, read_checkpoint, write_checkpoint};
use crate::train::data::TrainData;
use crate::train::latent::{SharedObserver, Snapshots};
use crate::train::method::{MIN_PROGRAMME_GENES, Method};
use crate::train::path::{PathChoice, Trainer, device_name};
use crate::train::run_summary::RunSummary;
use crate::train::rundir::{BEST_CHECKPOINT, GENES_FILE, LAST_CHECKPOINT, RunDir};
use crate::train::schedule::LrSchedule;
use crate::train::split::{Split, split_cells};
use crate::train::stream::{Batches, Validation, validation};
use crate::train::{TrainCommand, TrainEvent};

/// Seed salt for validation masks (fixed across epochs so validation losses compare).
const VAL_SALT: u64 = 0x5EED_F7A1;

/// Everything a training run needs.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// The exact settings (method in `train.method`, output in `train.out_dir`).
    pub config: Config,
    pub data: TrainData,
    /// Continue this run directory from its last checkpoint instead of starting a new run.
    pub resume: Option<PathBuf>,
    /// Start the new run in this already reserved, empty directory (a detached run announces it
    /// before training starts) instead of a fresh one under `train.out_dir`.
    pub run_dir: Option<PathBuf>,
    /// Receives latent snapshots every `train.snapshot_every` epochs (None: no snapshots).
    pub observer: Option<SharedObserver>,
}

/// Control of a running worker.
#[derive(Debug)]
pub struct TrainHandle {
    commands: Sender<TrainCommand>,
    thread: Option<JoinHandle<()>>,
}

impl TrainHandle {
    /// Sends a command (ignored once the worker has ended).
    pub fn send(&self, command: TrainCommand) {
        let _ = self.commands.send(command);
    }

    /// A sender of commands usable from another thread (e.g. a signal watcher).
    pub fn commands(&self) -> Sender<TrainCommand> {
        self.commands.clone()
    }

    /// Whether the worker thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the worker to end.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts training on a new thread; progress arrives on `events`, ending with `Finished` or
/// `Failed` (also for a panic inside the worker).
pub fn spawn(job: TrainJob, events: UnboundedSender<TrainEvent>) -> TrainHandle {
    let (commands, rx) = mpsc::channel();
    let on_failure = events.clone();
    let started = std::thread::Builder::new()
        .name("cellscope-train".into())
        .spawn(move || {
            let mut reporter = Reporter { events, run: None };
            let outcome =
                std::panic::catch_unwind(AssertUnwindSafe(|| run(job, rx, &mut reporter)));
            let message = match outcome {
                Ok(Ok(())) => return,
                Ok(Err(e)) => format!("{e:#}"),
                Err(panic) => format!(
                    "training crashed: {}",
                    panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("unknown panic")
                ),
            };
            tracing::info!("{message}");
            reporter.emit(TrainEvent::Failed { message });
        });
    let thread = match started {
        Ok(thread) => Some(thread),
        Err(e) => {
            let message = format!("cannot start the training thread: {e}");
            tracing::info!("{message}");
            let _ = on_failure.send(TrainEvent::Failed { message });
            None
        }
    };
    TrainHandle { commands, thread }
}

/// Sends events to the driver and appends them to metrics.jsonl once the run directory exists.
struct Reporter {
    events: UnboundedSender<TrainEvent>,
    run: Option<RunDir>,
}

impl Reporter {
    fn emit(&mut self, event: TrainEvent) {
        if let Some(run) = &mut self.run
            && let Err(e) = run.log_event(&event)
        {
            tracing::warn!("{e}");
        }
        let _ = self.events.send(event);
    }

    fn run(&self) -> &RunDir {
        self.run.as_ref().expect("run directory attached")
    }
}

/// The programmes for gp / gp-tf: the configured GMT or the bundled defaults, matched to genes.
fn gene_sets(config: &Config, genes: &[String]) -> anyhow::Result<MatchedSets> {
    let sets = match config.masking.gene_sets.as_str() {
        "" => default_gene_sets(),
        path => read_gmt(Path::new(path))?,
    };
    Ok(match_gene_sets(&sets, genes, MIN_PROGRAMME_GENES))
}

/// Which checkpoint survives a failed run, for the error message.
fn kept(last: &Path) -> String {
    if last.exists() {
        format!("the last good checkpoint {} is kept", last.display())
    } else {
        "no checkpoint had been written yet (check the data and the learning rate)".into()
    }
}

/// What a driver-side command asks of the loop.
enum Control {
    Continue,
    Stop,
}

/// Applies pending commands; blocks while paused.
fn poll_commands(rx: &Receiver<TrainCommand>, reporter: &mut Reporter) -> Control {
    loop {
        match rx.try_recv() {
            Ok(TrainCommand::Stop) => return Control::Stop,
            Ok(TrainCommand::Resume) | Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                return Control::Continue;
            }
            Ok(TrainCommand::Pause) => {
                reporter.emit(TrainEvent::Paused);
                loop {
                    match rx.recv() {
                        Ok(TrainCommand::Resume) | Err(_) => break,
                        Ok(TrainCommand::Stop) => return Control::Stop,
                        Ok(TrainCommand::Pause) => {}
                    }
                }
                reporter.emit(TrainEvent::Resumed);
            }
        }
    }
}

fn run(job: TrainJob, rx: Receiver<TrainCommand>, reporter: &mut Reporter) -> anyhow::Result<()> {
    let threads = job.config.train.threads;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    pool.install(move || train(job, &rx, reporter))
}

/// A run in progress: its data, model, split, plan and where training stands.
struct Session<'a> {
    config: &'a Config,
    data: &'a TrainData,
    method: Method,
    sets: Option<MatchedSets>,
    learner: Trainer,
    /// The device and training path, and why.
    choice: PathChoice,
    state: TrainState,
    split: Split,
    val: Validation<'a>,
    budget: Budget,
    schedule: LrSchedule,
    run_dir: PathBuf,
    last_path: PathBuf,
    /// This session's training seconds and epochs (for the ETA and throughput).
    session_secs: f64,
    session_epochs: usize,
    last_val: Option<f32>,
    baseline: Option<f64>,
}

/// How a run's epochs ended.
#[derive(Clone, Copy, PartialEq)]
enum Ending {
    /// Every planned epoch ran.
    Completed,
    /// The user stopped it.
    Stopped,
    /// Patience ran out.
    EarlyStopped,
}

fn train(
    job: TrainJob,
    rx: &Receiver<TrainCommand>,
    reporter: &mut Reporter,
) -> anyhow::Result<()> {
    let TrainJob {
        config,
        data,
        resume,
        run_dir: reserved,
        observer,
    } = job;
    let mut session = Session::open(&config, &data, resume.as_deref(), reserved, reporter)?;
    let mut snapshots = observer.and_then(|o| {
        Snapshots::new(o, &data, config.train.snapshot_every, session.budget.epochs).unwrap_or_else(
            |note| {
                reporter.emit(TrainEvent::Log(note));
                None
            },
        )
    });
    if let Some(s) = &mut snapshots
        && session.state.epoch == 0
    {
        reporter.emit(s.take(0, session.learner.encoder(), &session.run_dir));
    }
    let mut ending = Ending::Completed;
    while session.state.epoch < session.budget.epochs {
        let Some(trained) = session.epoch(rx, reporter)? else {
            ending = Ending::Stopped;
            break;
        };
        let early = session.end_epoch(trained, reporter)?;
        let done = session.state.epoch;
        if let Some(s) = &mut snapshots
            && s.due(
                done,
                early || done == session.budget.epochs,
                session.state.elapsed_secs,
            )
        {
            reporter.emit(s.take(done, session.learner.encoder(), &session.run_dir));
        }
        if early {
            ending = Ending::EarlyStopped;
            break;
        }
    }
    if let Some(s) = snapshots.as_ref().filter(|s| s.taken > 0) {
        reporter.emit(TrainEvent::Log(s.cost(session.state.elapsed_secs)));
    }
    session.finish(ending, reporter)
}

impl<'a> Session<'a> {
    /// Opens the run (resumed from its last checkpoint, or a new run directory), announces the
    /// device, the split and the plan.
    fn open(
        config: &'a Config,
        data: &'a TrainData,
        resume: Option<&Path>,
        reserved: Option<PathBuf>,
        reporter: &mut Reporter,
    ) -> anyhow::Result<Self> {
        let tc = &config.train;
        let method = Method::parse(&tc.method)?;
        anyhow::ensure!(
            data.n_cells() >= 2,
            "{}: need at least 2 cells to train",
            data.path.display()
        );
        let sets = method
            .uses_gene_sets()
            .then(|| gene_sets(config, &data.genes))
            .transpose()?;
        let choice = PathChoice::resolve(&config.model)?;
        let mut learner = Trainer::new(config, method, data.genes.len(), sets.as_ref(), &choice)?;
        let state = match resume {
            Some(dir) => resume_run(dir, config, data, &mut learner, reporter)?,
            None => {
                let path = match reserved {
                    Some(path) => path,
                    None => RunDir::reserve(Path::new(&tc.out_dir), method.name())?,
                };
                reporter.run = Some(RunDir::init(&path, config, &data.genes, &data.path)?);
                TrainState::default()
            }
        };
        tracing::info!("{}", choice.reason);
        reporter.emit(TrainEvent::Log(choice.reason.clone()));
        if let Some(s) = &sets {
            reporter.emit(TrainEvent::Log(s.summary()));
        }
        let split_column = match tc.split_by.as_str() {
            "" => None,
            name => Some(data.obs.iter().find(|c| c.name == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no obs column {name:?} to split by",
                    data.path.display()
                )
            })?),
        };
        let split = split_cells(data.n_cells(), tc.val_fraction, split_column, tc.seed)?;
        let val = validation(data, &split.train, &split.val)?;
        let budget = Budget::plan(tc, data.n_cells(), split.train.len());
        let schedule = LrSchedule::new(tc, &budget)?;
        let run_dir = reporter.run().path.clone();
        reporter.emit(TrainEvent::Started {
            run_dir: run_dir.clone(),
            method: method.name().into(),
            epochs: budget.epochs,
            batch_size: budget.batch_size,
            steps_per_epoch: budget.steps_per_epoch,
            n_train: split.train.len(),
            n_val: split.val.len(),
            n_params: learner.params().n_params(),
        });
        reporter.emit(TrainEvent::Log(budget.describe(tc)));
        Ok(Self {
            last_path: run_dir.join(LAST_CHECKPOINT),
            run_dir,
            config,
            data,
            method,
            sets,
            learner,
            choice,
            state,
            split,
            val,
            budget,
            schedule,
            session_secs: 0.0,
            session_epochs: 0,
            last_val: None,
            baseline: None,
        })
    }

    /// Trains the rest of the current epoch; the cells trained on and the seconds it took, or
    /// None when stopped.
    fn epoch(
        &mut self,
        rx: &Receiver<TrainCommand>,
        reporter: &mut Reporter,
    ) -> anyhow::Result<Option<(usize, f64)>> {
        let tc = &self.config.train;
        let (batch, epoch) = (self.budget.batch_size, self.state.epoch);
        let mut batches = Batches::new(self.data, &self.split.train, mix(tc.seed, epoch as u64));
        let epoch_start = Instant::now();
        let mut cells = 0usize;
        while self.state.step_in_epoch < self.budget.steps_per_epoch {
            if let Control::Stop = poll_commands(rx, reporter) {
                return Ok(None);
            }
            let state = &mut self.state;
            let step = state.step_in_epoch;
            let t = Instant::now();
            let (x, rows) = batches.batch(step * batch..(step + 1) * batch)?;
            let lr = self.schedule.lr(state.global_step);
            let loss = self.learner.train_step(
                x,
                rows,
                mix(tc.seed ^ 0xBA7C, state.global_step as u64),
                lr,
                tc.grad_clip,
            )?;
            if !loss.is_finite() {
                anyhow::bail!(
                    "loss became {loss} at epoch {}, step {} (lr {lr:.3e}); training stopped, {}",
                    epoch + 1,
                    step + 1,
                    kept(&self.last_path)
                );
            }
            let secs = t.elapsed().as_secs_f64();
            state.global_step += 1;
            state.step_in_epoch += 1;
            state.epoch_loss_sum += f64::from(loss);
            state.epoch_loss_steps += 1;
            cells += rows.len();
            reporter.emit(TrainEvent::Step {
                epoch,
                step,
                global_step: state.global_step,
                loss,
                lr,
                cells_per_sec: rows.len() as f64 / secs.max(1e-9),
            });
        }
        let train_secs = epoch_start.elapsed().as_secs_f64();
        self.state.elapsed_secs += train_secs;
        self.session_secs += train_secs;
        self.session_epochs += 1;
        Ok(Some((cells, train_secs)))
    }

    /// The end of an epoch that trained `cells` in `train_secs`: validation, its report, the
    /// best and last checkpoints; true when patience has run out.
    fn end_epoch(
        &mut self,
        (cells, train_secs): (usize, f64),
        reporter: &mut Reporter,
    ) -> anyhow::Result<bool> {
        let tc = &self.config.train;
        let epoch = self.state.epoch;
        let score = self.learner.evaluate(
            &self.val.x,
            &self.val.rows,
            self.budget.batch_size,
            mix(tc.seed, VAL_SALT),
            &self.val.gene_mean,
        )?;
        let val_loss = score.loss as f32;
        if !val_loss.is_finite() {
            anyhow::bail!(
                "validation loss became {val_loss} at epoch {}; training stopped, {}",
                epoch + 1,
                kept(&self.last_path)
            );
        }
        if self.baseline.is_none() {
            if let Some(b) = score.baseline {
                reporter.emit(TrainEvent::Log(format!(
                    "validation baseline (predict each gene's mean): {b:.5}"
                )));
            }
            self.baseline = score.baseline;
        }
        let state = &mut self.state;
        let train_loss = (state.epoch_loss_sum / state.epoch_loss_steps.max(1) as f64) as f32;
        let remaining = self.budget.epochs - epoch - 1;
        reporter.emit(TrainEvent::EpochEnd {
            epoch,
            train_loss,
            val_loss,
            lr: self.schedule.lr(state.global_step.saturating_sub(1)),
            cells_per_sec: cells as f64 / train_secs.max(1e-9),
            elapsed_secs: state.elapsed_secs,
            eta_secs: Some(self.session_secs / self.session_epochs as f64 * remaining as f64),
        });
        self.last_val = Some(val_loss);
        state.epoch += 1;
        state.step_in_epoch = 0;
        state.epoch_loss_sum = 0.0;
        state.epoch_loss_steps = 0;
        if state.best_val_loss.is_none_or(|b| val_loss < b) {
            state.best_val_loss = Some(val_loss);
            state.best_epoch = state.epoch;
            state.epochs_without_improvement = 0;
            self.save(
                &self.run_dir.join(BEST_CHECKPOINT),
                epoch,
                val_loss,
                reporter,
            )?;
        } else {
            state.epochs_without_improvement += 1;
        }
        self.save(&self.last_path, epoch, val_loss, reporter)?;
        let patience = self.budget.patience;
        if patience > 0 && self.state.epochs_without_improvement >= patience {
            reporter.emit(TrainEvent::Log(format!(
                "early stopping: no validation improvement for {patience} epochs"
            )));
            return Ok(true);
        }
        Ok(false)
    }

    /// Writes a checkpoint and reports it: `last` carries the optimiser state for resuming,
    /// `best` only the model.
    fn save(
        &self,
        path: &Path,
        epoch: usize,
        val_loss: f32,
        reporter: &mut Reporter,
    ) -> anyhow::Result<()> {
        let last = path == self.last_path;
        write_checkpoint(path, &self.learner.export(last)?, &self.state)?;
        reporter.emit(TrainEvent::CheckpointSaved {
            path: path.to_path_buf(),
            epoch,
            val_loss,
            best: !last,
        });
        Ok(())
    }

    /// Checkpoints a stopped run, writes summary.json and reports `Finished`.
    fn finish(self, ending: Ending, reporter: &mut Reporter) -> anyhow::Result<()> {
        let stopped = ending == Ending::Stopped;
        if stopped {
            let val_loss = self.last_val.unwrap_or(f32::NAN);
            self.save(&self.last_path, self.state.epoch, val_loss, reporter)?;
        }
        reporter.run().write_summary(&self.summary(ending))?;
        reporter.emit(TrainEvent::Finished {
            run_dir: self.run_dir,
            best_val_loss: self.state.best_val_loss.unwrap_or(f32::NAN),
            epochs_done: self.state.epoch,
            stopped,
        });
        Ok(())
    }

    /// What summary.json records of the run.
    fn summary(&self, ending: Ending) -> RunSummary {
        let (data, state, budget) = (self.data, &self.state, &self.budget);
        let cells_trained = self.session_epochs * budget.steps_per_epoch * budget.batch_size;
        RunSummary {
            method: self.method.name().into(),
            dataset: data.path.clone(),
            n_cells: data.n_cells(),
            n_genes: data.genes.len(),
            streamed: data.stream.is_some(),
            n_train: self.split.train.len(),
            n_val: self.split.val.len(),
            n_params: self.learner.params().n_params(),
            epochs: budget.epochs,
            batch_size: budget.batch_size,
            budget: budget.describe(&self.config.train),
            epochs_done: state.epoch,
            global_step: state.global_step,
            best_val_loss: state.best_val_loss,
            best_epoch: state.best_epoch,
            last_val_loss: self.last_val,
            val_baseline_gene_mean: self.baseline,
            stopped: ending == Ending::Stopped,
            early_stopped: ending == Ending::EarlyStopped,
            train_secs: state.elapsed_secs,
            cells_per_sec: cells_trained as f64 / self.session_secs.max(1e-9),
            gene_sets: self.sets.as_ref().map(MatchedSets::summary),
            imported_from: None,
            import: None,
            device: Some(device_name(&self.choice.device)),
            path: Some(self.choice.path.name().into()),
            path_reason: Some(self.choice.reason.clone()),
        }
    }
}

/// Reopens `dir` for resuming: checks its genes, loads the last checkpoint into `learner` and
/// returns where training stood.
fn resume_run(
    dir: &Path,
    config: &Config,
    data: &TrainData,
    learner: &mut Trainer,
    reporter: &mut Reporter,
) -> anyhow::Result<TrainState> {
    let run = RunDir::open(dir)?;
    let saved: Vec<String> = std::fs::read_to_string(dir.join(GENES_FILE))?
        .lines()
        .map(String::from)
        .collect();
    anyhow::ensure!(
        saved == data.genes,
        "{}: the data's genes differ from the run's genes.txt",
        dir.display()
    );
    let ckpt = read_checkpoint(&dir.join(LAST_CHECKPOINT))?;
    learner.import(&ckpt.tensors, ckpt.state.global_step as u64)?;
    let state = ckpt.state;
    run.write_config(config)?;
    run.write_pid()?;
    reporter.run = Some(run);
    reporter.emit(TrainEvent::Log(format!(
        "resumed at epoch {}, step {} (global step {})",
        state.epoch + 1,
        state.step_in_epoch,
        state.global_step
    )));
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic::log_normalised_cells;
    use crate::train::rundir::METRICS_FILE;

    fn small_job(dir: &Path, method: &str, epochs: usize) -> TrainJob {
        let (x, _) = log_normalised_cells(120, 40, 3, 5);
        let mut config = Config::default();
        config.model.hidden = vec![16, 8];
        config.model.latent = 4;
        config.contrastive.byol_projector = vec![8, 8];
        config.contrastive.barlow_projector = vec![8, 8];
        config.train.method = method.into();
        config.train.epochs = crate::config::Epochs::Fixed(epochs);
        config.train.batch_size = 32;
        config.train.out_dir = dir.display().to_string();
        config.train.threads = 2;
        config.train.patience = 0;
        TrainJob {
            config,
            data: TrainData {
                x,
                genes: (0..40).map(|i| format!("G{i}")).collect(),
                obs: Vec::new(),
                path: PathBuf::from("synthetic"),
                stream: None,
            },
            resume: None,
            run_dir: None,
            observer: None,
        }
    }

    fn run_to_end(job: TrainJob) -> Vec<TrainEvent> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        spawn(job, tx).join();
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        events
    }

    fn step_losses(events: &[TrainEvent]) -> Vec<(usize, f32)> {
        events
            .iter()
            .filter_map(|e| match e {
                TrainEvent::Step {
                    global_step, loss, ..
                } => Some((*global_step, *loss)),
                _ => None,
            })
            .collect()
    }

    fn run_dir(events: &[TrainEvent]) -> PathBuf {
        match events.last() {
            Some(TrainEvent::Finished { run_dir, .. }) => run_dir.clone(),
            other => panic!("run did not finish: {other:?}"),
        }
    }

    #[test]
    fn same_seed_gives_the_same_losses() {
        let dir = tempfile::tempdir().unwrap();
        let a = step_losses(&run_to_end(small_job(dir.path(), "masked", 2)));
        let b = step_losses(&run_to_end(small_job(dir.path(), "masked", 2)));
        assert_eq!(a.len(), 6);
        assert_eq!(a, b);
        let mut other = small_job(dir.path(), "masked", 2);
        other.config.train.seed = 1;
        assert_ne!(step_losses(&run_to_end(other)), a);
    }

    #[test]
    fn resume_continues_step_count_and_loss_curve() {
        let dir = tempfile::tempdir().unwrap();
        let straight = step_losses(&run_to_end(small_job(dir.path(), "byol", 3)));
        let first = run_to_end(small_job(dir.path(), "byol", 1));
        let run = run_dir(&first);
        let mut again = small_job(dir.path(), "byol", 3);
        again.resume = Some(run.clone());
        let second = run_to_end(again);
        assert_eq!(run_dir(&second), run);
        let resumed: Vec<(usize, f32)> = step_losses(&first)
            .into_iter()
            .chain(step_losses(&second))
            .collect();
        assert_eq!(
            resumed, straight,
            "global steps and losses continue exactly"
        );
        let log = std::fs::read_to_string(run.join(METRICS_FILE)).unwrap();
        assert_eq!(
            log.lines()
                .filter(|l| l.contains("\"event\":\"step\""))
                .count(),
            9
        );
    }

    #[test]
    fn nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let run = run_dir(&run_to_end(small_job(dir.path(), "masked", 1)));
        let before = std::fs::read(run.join(LAST_CHECKPOINT)).unwrap();
        let mut diverging = small_job(dir.path(), "masked", 3);
        diverging.config.train.lr = 1e30;
        diverging.config.train.grad_clip = 0.0;
        diverging.resume = Some(run.clone());
        let events = run_to_end(diverging);
        let Some(TrainEvent::Failed { message }) = events.last() else {
            panic!("expected a failure, got {:?}", events.last());
        };
        assert!(
            message.contains("loss became") && message.contains("last good checkpoint"),
            "{message}"
        );
        assert_eq!(std::fs::read(run.join(LAST_CHECKPOINT)).unwrap(), before);
        assert!(
            std::fs::read_to_string(run.join(METRICS_FILE))
                .unwrap()
                .contains("\"event\":\"failed\"")
        );
    }

    #[test]
    fn stop_finishes_the_batch_checkpoints_and_reports_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = spawn(small_job(dir.path(), "masked", 50), tx);
        handle.send(TrainCommand::Pause);
        handle.send(TrainCommand::Stop);
        handle.join();
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        let Some(TrainEvent::Finished {
            run_dir, stopped, ..
        }) = events.last()
        else {
            panic!("{:?}", events.last());
        };
        assert!(*stopped);
        assert!(run_dir.join(LAST_CHECKPOINT).exists());
        assert!(run_dir.join(crate::train::rundir::SUMMARY_FILE).exists());
    }

    #[test]
    fn every_method_trains_and_a_run_loads_for_embedding_and_fine_tuning() {
        let dir = tempfile::tempdir().unwrap();
        let gmt = dir.path().join("sets.gmt");
        std::fs::write(
            &gmt,
            "P1\t\tG1\tG2\tG3\tG4\nP2\t\tg5\tG6\tG7\nP3\t\tG10\tG11\tG12\tG13\nTINY\t\tG1\n",
        )
        .unwrap();
        for method in ["masked", "gp", "gp-tf", "byol", "barlow"] {
            let mut job = small_job(dir.path(), method, 1);
            job.config.masking.gene_sets = gmt.display().to_string();
            let events = run_to_end(job.clone());
            let run = run_dir(&events);
            if method.starts_with("gp") {
                assert!(events.contains(&TrainEvent::Log(
                    "3 of 4 gene programmes matched the dataset's genes".into()
                )));
            }
            let loaded = crate::train::load_run(&run).unwrap();
            assert_eq!(loaded.genes, job.data.genes);
            let emb = loaded.encoder.embed(&job.data.x, 50).unwrap();
            assert_eq!(emb.dim(), (120, 4));
            assert!(emb.iter().all(|v| v.is_finite()), "{method}");
            let clf = loaded.classifier(3, 0).unwrap();
            let first = loaded.encoder.mlp.layers[0]
                .weight
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let copied = clf.encoder.mlp.layers[0]
                .weight
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(
                first, copied,
                "{method}: classifier starts from the pretrained encoder"
            );
        }
    }
}
