//! The UI's integration points with the layers below: loading a dataset view (data layer), driving
//! a training worker and scanning run directories (train layer), all off the UI thread, as `Msg`s.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;
use crate::train::{TrainCommand, TrainEvent, TrainHandle, TrainJob};

use crate::tui::app::Msg;
use crate::tui::data::state::DataView;
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
        start_detached(&path, &config).map_err(|e| format!("{e:#}"))
    }
    /// Scans the run directories under `out_dir` off the UI thread, sending `RunsScanned`.
    fn scan_runs(&mut self, out_dir: PathBuf, to_app: UnboundedSender<Msg>) {
        tokio::task::spawn_blocking(move || {
            let runs = crate::train::catalog::scan_runs(&out_dir);
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
                load_view(&path, &matrix, &stage).map_err(anyhow::Error::msg)
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
        let control = spawn_training(&path, &config, events)?;
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

/// Starts `cellscope train` on `path` as a detached process: the settings go into the reserved
/// run directory's config.toml, which the process reads back.
fn start_detached(path: &Path, config: &Config) -> anyhow::Result<PathBuf> {
    crate::config_check::check(config)?;
    let dir =
        crate::train::RunDir::reserve(Path::new(&config.train.out_dir), &config.train.method)?;
    let settings = crate::train::rundir::write_config(&dir, config)?;
    let args = [
        "train".into(),
        std::path::absolute(path)?.into_os_string(),
        "--config".into(),
        settings.into_os_string(),
        "--run-dir".into(),
        dir.clone().into_os_string(),
    ];
    crate::train::detached::spawn_detached(&dir, &args)?;
    Ok(dir)
}

/// Reads a dataset's summary, the chosen matrix and per-gene statistics into the UI's view.
fn load_view(path: &Path, matrix: &str, stage: &dyn Fn(&str)) -> Result<DataView, String> {
    stage("summary");
    let summary = crate::data::summarize(path).map_err(|e| e.to_string())?;
    stage(&format!("reading {matrix}"));
    let dataset = crate::data::read_dataset(path, matrix).map_err(|e| e.to_string())?;
    stage("gene statistics");
    let stats = crate::data::preprocess::gene_stats(&dataset.x);
    Ok(DataView::new(
        &dataset,
        summary
            .overview()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        summary.matrix_choices(),
        stats.iter().map(|g| (g.mean, g.detection_rate, g.variance)),
    ))
}

/// Starts training on `path`: the data is read and preprocessed on a loader thread (never on
/// the UI thread), then handed to the train layer's worker. Load errors arrive as `Failed`.
fn spawn_training(
    path: &Path,
    config: &Config,
    events: UnboundedSender<TrainEvent>,
) -> Result<Box<dyn TrainControl>, String> {
    crate::config_check::check(config).map_err(|e| e.to_string())?;
    let run = PendingRun::default();
    let (slot, stop) = (run.handle.clone(), run.stop_requested.clone());
    let (path, config) = (path.to_path_buf(), config.clone());
    let loader = std::thread::Builder::new()
        .name("cellscope-load".into())
        .spawn(move || {
            let _ = events.send(TrainEvent::Log(format!("reading {}", path.display())));
            let data = match crate::train::TrainData::load(&path, &config, None) {
                Ok(data) => data,
                Err(e) => {
                    let _ = events.send(TrainEvent::Failed {
                        message: format!("{e:#}"),
                    });
                    return;
                }
            };
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            let handle = slot.insert(crate::train::spawn(
                TrainJob {
                    config,
                    data,
                    resume: None,
                    run_dir: None,
                },
                events,
            ));
            if stop.load(Ordering::SeqCst) {
                handle.send(TrainCommand::Stop);
            }
        })
        .map_err(|e| format!("cannot start the loader thread: {e}"))?;
    *run.loader.lock().unwrap_or_else(|p| p.into_inner()) = Some(loader);
    Ok(Box::new(run))
}

/// A run whose data may still be loading: commands go to the worker once it exists; a stop
/// asked for before then is passed on as soon as the worker starts.
#[derive(Default)]
struct PendingRun {
    handle: Arc<Mutex<Option<TrainHandle>>>,
    loader: Mutex<Option<std::thread::JoinHandle<()>>>,
    stop_requested: Arc<AtomicBool>,
}

impl TrainControl for PendingRun {
    fn send(&self, command: TrainCommand) {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner());
        if command == TrainCommand::Stop {
            self.stop_requested.store(true, Ordering::SeqCst);
        }
        if let Some(h) = handle.as_ref() {
            h.send(command);
        }
    }

    fn is_finished(&self) -> bool {
        let loading = self
            .loader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|l| !l.is_finished());
        let training = self
            .handle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|h| !h.is_finished());
        !loading && !training
    }
}
