//! The Train pane's bridge to the train layer: a run started in-process (data loaded off the UI
//! thread, then the worker) or in a process of its own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;
use crate::train::{TrainCommand, TrainEvent, TrainHandle, TrainJob};
use crate::tui::work::TrainControl;

/// Starts `cellscope train` on `path` as a detached process: the settings go into the reserved
/// run directory's config.toml, which the process reads back.
pub fn start_detached(path: &Path, config: &Config) -> anyhow::Result<PathBuf> {
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

/// Starts training on `path`: the data is read and preprocessed on a loader thread (never on
/// the UI thread), then handed to the train layer's worker. Load errors arrive as `Failed`.
pub fn spawn_training(
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
            let observer = Some(crate::analysis::timeline::observer(&data, &config));
            let handle = slot.insert(crate::train::spawn(
                TrainJob {
                    config,
                    data,
                    resume: None,
                    run_dir: None,
                    observer,
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
