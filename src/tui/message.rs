//! The messages the app receives (keys, mouse, resizes, worker reports) and the effects it asks
//! the event loop to perform.

use std::path::PathBuf;

use crossterm::event::{KeyEvent, MouseEvent};

use crate::analysis::timeline::Snapshot;
use crate::analysis::transfer::TransferRequest;
use crate::config::Config;
use crate::train::catalog::RunInfo;
use crate::train::{TrainCommand, TrainEvent};
use crate::tui::data::state::DataView;
use crate::tui::embeddings::job::AnalysisEvent;
use crate::tui::runs::sweeps::SweepInfo;
use crate::tui::transfer::state::TransferMsg;

/// Everything that can happen to the app.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// A frame tick: animates the loading spinner.
    Tick,
    /// The background load reached a new stage.
    LoadStage(String),
    Loaded(Result<DataView, String>),
    Train(TrainEvent),
    /// A scan of the runs directory finished.
    RunsScanned(Vec<RunInfo>),
    /// The same scan's sweep directories (sent just before its `RunsScanned`).
    SweepsScanned(Vec<SweepInfo>),
    /// The analysis job behind the Embeddings and Genes panes made progress or ended.
    Analysis(AnalysisEvent),
    /// Background work of the Transfer pane reported.
    Transfer(TransferMsg),
    /// A run's timeline.jsonl was read (its snapshots, a torn last line skipped).
    Timeline {
        run_dir: PathBuf,
        snapshots: Vec<Snapshot>,
    },
    /// Following a run in another process began (its directory) or could not.
    Attached(Result<PathBuf, String>),
}

/// Work the event loop does on the app's behalf.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    SetMouse(bool),
    Load {
        path: PathBuf,
        matrix: String,
    },
    StartTraining {
        path: PathBuf,
        config: Box<Config>,
    },
    Command(TrainCommand),
    /// Scan the runs directory off the UI thread.
    ScanRuns {
        out_dir: PathBuf,
    },
    /// Analyse a run off the UI thread (embed, lay out, cluster, score, reconstruct).
    Analyse {
        job: u64,
        run_dir: PathBuf,
        label: Option<String>,
    },
    /// Read a run's latent snapshots (timeline.jsonl) off the UI thread.
    LoadTimeline {
        run_dir: PathBuf,
    },
    /// Read a transfer target's label columns off the UI thread.
    LoadTargetColumns {
        path: PathBuf,
    },
    /// Read a run's saved transfer.json off the UI thread.
    LoadSavedTransfer {
        run: PathBuf,
    },
    /// Run a transfer of `run` on a background thread.
    StartTransfer {
        run: PathBuf,
        request: TransferRequest,
        config: Box<Config>,
    },
    /// Start a run in its own process, then follow it.
    StartDetached {
        path: PathBuf,
        config: Box<Config>,
    },
    /// Follow a run that trains in another process.
    Attach {
        run_dir: PathBuf,
    },
    /// Stop following it (the run goes on).
    Detach,
}
