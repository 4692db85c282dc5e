//! The effects the event loop performs off the UI thread, as one trait (a test double stands in
//! for it): each feature's background work, reporting back as `Msg`s.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;
use crate::train::{TrainCommand, TrainEvent};

use crate::tui::message::Msg;
use crate::tui::train::follow::Attached;

/// Background work the event loop starts on the app's behalf.
pub trait Work {
    /// Loads the dataset view off the UI thread, sending `LoadStage`s then `Loaded`.
    fn load(&mut self, path: PathBuf, matrix: String, to_app: UnboundedSender<Msg>);
    /// Starts a training run whose events arrive as `Msg::Train`.
    fn start_training(
        &mut self,
        path: PathBuf,
        config: Config,
        to_app: UnboundedSender<Msg>,
    ) -> Result<(), String>;
    /// Passes a command to the running worker, if any.
    fn command(&mut self, command: TrainCommand);
    /// Waits up to `timeout` for a stopping worker to checkpoint and end.
    fn shutdown(&mut self, timeout: Duration);
    /// Follows a run training in another process (replacing any earlier attachment); its
    /// events arrive as `Msg::Train` and commands go to its control file.
    fn attach(&mut self, run_dir: PathBuf, to_app: UnboundedSender<Msg>) -> Result<(), String>;
    /// Stops following the attached run; the run goes on.
    fn detach(&mut self);
    /// Starts a run on `path` in its own process (it outlives the UI); returns its directory.
    fn start_detached(&mut self, path: PathBuf, config: Config) -> Result<PathBuf, String> {
        crate::tui::train::bridge::start_detached(&path, &config).map_err(|e| format!("{e:#}"))
    }
    /// Scans the run and sweep directories under `out_dir` off the UI thread (each sweep's
    /// table built here), sending `SweepsScanned` then `RunsScanned`.
    fn scan_runs(&mut self, out_dir: PathBuf, to_app: UnboundedSender<Msg>) {
        tokio::task::spawn_blocking(move || {
            let sweeps = crate::tui::runs::sweeps::scan_sweeps(&out_dir);
            let runs = crate::train::catalog::scan_runs(&out_dir);
            let _ = to_app.send(Msg::SweepsScanned(sweeps));
            let _ = to_app.send(Msg::RunsScanned(runs));
        });
    }
    /// Analyses a run on its own thread, sending `Msg::Analysis` events (job `job`).
    fn analyse(
        &mut self,
        job: u64,
        run_dir: PathBuf,
        label: Option<String>,
        to_app: UnboundedSender<Msg>,
    ) {
        crate::tui::embeddings::job::spawn(job, run_dir, label, to_app);
    }
    /// Reads a run's latent snapshots off the UI thread, sending `Msg::Timeline`.
    fn timeline(&mut self, run_dir: PathBuf, to_app: UnboundedSender<Msg>) {
        tokio::task::spawn_blocking(move || {
            let _ = to_app.send(crate::tui::embeddings::live::read(run_dir));
        });
    }
    /// Reads a transfer target's label columns off the UI thread (`TransferMsg::Columns`).
    fn target_columns(&mut self, path: PathBuf, to_app: UnboundedSender<Msg>) {
        crate::tui::transfer::work::spawn_columns(path, to_app);
    }
    /// Reads a run's saved transfer.json off the UI thread (`TransferMsg::Saved`).
    fn saved_transfer(&mut self, run: PathBuf, to_app: UnboundedSender<Msg>) {
        crate::tui::transfer::work::spawn_saved(run, to_app);
    }
    /// Runs a transfer on a background thread (`TransferMsg::Progress`, then `Finished`).
    fn start_transfer(
        &mut self,
        run: PathBuf,
        request: crate::analysis::transfer::TransferRequest,
        config: Config,
        to_app: UnboundedSender<Msg>,
    ) {
        crate::tui::transfer::work::spawn_transfer(run, request, config, to_app);
    }
}

/// A running training worker as the UI sees it.
pub trait TrainControl: Send {
    /// Sends a command (checked by the worker before every batch).
    fn send(&self, command: TrainCommand);
    /// True once the worker thread has ended.
    fn is_finished(&self) -> bool;
}

/// Runs `job` on a thread named `cellscope-{name}` and hands its outcome to `done`: its error
/// as text, a panic as "the {name} crashed (see the log file)", or a thread that cannot start.
pub fn spawn_job<T: Send + 'static>(
    name: &'static str,
    job: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    done: impl Fn(Result<T, String>) + Clone + Send + 'static,
) {
    let spawned = std::thread::Builder::new()
        .name(format!("cellscope-{name}"))
        .spawn({
            let done = done.clone();
            move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
                    .unwrap_or_else(|_| {
                        Err(anyhow::anyhow!("the {name} crashed (see the log file)"))
                    })
                    .map_err(|e| format!("{e:#}"));
                done(result);
            }
        });
    if let Err(e) = spawned {
        done(Err(format!("cannot start the {name} thread: {e}")));
    }
}

/// The real work: the data layer's reader and the train layer's worker.
#[derive(Default)]
pub struct LiveWork {
    training: Option<Box<dyn TrainControl>>,
    attached: Option<Attached>,
}

impl Work for LiveWork {
    fn load(&mut self, path: PathBuf, matrix: String, to_app: UnboundedSender<Msg>) {
        let stages = to_app.clone();
        let shown = path.display().to_string();
        spawn_job(
            "loader",
            move || {
                let stage = |s: &str| {
                    let _ = stages.send(Msg::LoadStage(s.to_string()));
                };
                crate::tui::data::load::load_view(&path, &matrix, &stage)
                    .map_err(anyhow::Error::msg)
            },
            move |loaded| {
                if let Err(e) = &loaded {
                    tracing::warn!("loading {shown}: {e}");
                }
                let _ = to_app.send(Msg::Loaded(loaded));
            },
        );
    }

    fn start_training(
        &mut self,
        path: PathBuf,
        config: Config,
        to_app: UnboundedSender<Msg>,
    ) -> Result<(), String> {
        let (events, mut from_worker) = tokio::sync::mpsc::unbounded_channel::<TrainEvent>();
        let control = crate::tui::train::bridge::spawn_training(&path, &config, events)?;
        tracing::info!(method = %config.train.method, epochs = %config.train.epochs, "training started");
        self.training = Some(control);
        tokio::spawn(async move {
            while let Some(event) = from_worker.recv().await {
                if to_app.send(Msg::Train(event)).is_err() {
                    break;
                }
            }
        });
        Ok(())
    }

    fn attach(&mut self, run_dir: PathBuf, to_app: UnboundedSender<Msg>) -> Result<(), String> {
        self.attached = None;
        let attached = Attached::start(run_dir, to_app)?;
        tracing::info!(run = %attached.run_dir().display(), "attached");
        self.attached = Some(attached);
        Ok(())
    }

    fn detach(&mut self) {
        if let Some(a) = self.attached.take() {
            tracing::info!(run = %a.run_dir().display(), "detached");
        }
    }

    fn command(&mut self, command: TrainCommand) {
        if let Some(a) = &self.attached {
            if let Err(e) = a.send(command) {
                tracing::warn!("{e}");
            }
        } else if let Some(t) = &self.training {
            t.send(command);
        }
    }

    fn shutdown(&mut self, timeout: Duration) {
        self.detach();
        let Some(t) = &self.training else { return };
        let deadline = Instant::now() + timeout;
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !t.is_finished() {
            tracing::warn!("training worker still running after {timeout:?}; leaving it");
        }
    }
}
