//! The Transfer pane's background work: a target's label columns, a run's saved transfer.json
//! and the transfer itself (on its own thread), each answered as `Msg::Transfer`.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc::UnboundedSender;

use crate::analysis::transfer::{TRANSFER_FILE, TransferReport, TransferRequest, run_transfer};
use crate::config::Config;

use crate::tui::message::Msg;
use crate::tui::transfer::state::TransferMsg;
use crate::tui::work::spawn_job;

/// The obs columns of `path` that can serve as labels (categorical, string, int, bool).
pub fn label_columns(path: &Path) -> Result<Vec<String>, String> {
    let summary = crate::data::summarize(path).map_err(|e| e.to_string())?;
    Ok(summary
        .obs
        .into_iter()
        .filter(|c| c.kind != "float")
        .map(|c| c.name)
        .collect())
}

/// The transfer.json saved in `run`, if there is a readable one.
pub fn saved_report(run: &Path) -> Option<TransferReport> {
    let path = run.join(TRANSFER_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    serde_json::from_str(&text)
        .map_err(|e| tracing::warn!("{}: {e}", path.display()))
        .ok()
}

/// Sends the label columns of `path` off the UI thread.
pub fn spawn_columns(path: PathBuf, to_app: UnboundedSender<Msg>) {
    tokio::task::spawn_blocking(move || {
        let result = label_columns(&path);
        let _ = to_app.send(Msg::Transfer(TransferMsg::Columns { path, result }));
    });
}

/// Sends the saved report of `run` off the UI thread.
pub fn spawn_saved(run: PathBuf, to_app: UnboundedSender<Msg>) {
    tokio::task::spawn_blocking(move || {
        let report = saved_report(&run).map(Box::new);
        let _ = to_app.send(Msg::Transfer(TransferMsg::Saved { run, report }));
    });
}

/// Runs a transfer of `run` on its own thread: every step arrives as `Progress`, then
/// `Finished` (a panic is caught and reported as a failure).
pub fn spawn_transfer(
    run: PathBuf,
    request: TransferRequest,
    config: Config,
    to_app: UnboundedSender<Msg>,
) {
    let send = move |m: TransferMsg| {
        let _ = to_app.send(Msg::Transfer(m));
    };
    let progress = send.clone();
    let shown = run.display().to_string();
    spawn_job(
        "transfer",
        move || {
            let loaded = crate::train::load_run(&run)?;
            run_transfer(&loaded, &request, &config, &mut |step| {
                progress(TransferMsg::Progress(step))
            })
        },
        move |result| {
            if let Err(e) = &result {
                tracing::warn!("transfer of {shown}: {e}");
            }
            send(TransferMsg::Finished(result.map(Box::new)));
        },
    );
}
