//! `cellscope stop RUN`: ask a detached run to stop gracefully (finish the batch, checkpoint)
//! through its control file; the run's own process does the stopping.

use clap::Args;
use std::path::PathBuf;

use crate::train::TrainCommand;
use crate::train::detached::{run_pid, run_status, send_command};
use crate::train::rundir::{METRICS_FILE, PID_FILE};

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Run directory.
    pub run: PathBuf,
}

pub fn run(args: StopArgs) -> anyhow::Result<()> {
    let dir = &args.run;
    anyhow::ensure!(
        dir.join(METRICS_FILE).exists() || dir.join(PID_FILE).exists(),
        "not a run directory: {} (no {METRICS_FILE})",
        dir.display()
    );
    let status = run_status(dir);
    anyhow::ensure!(
        status.is_live(),
        "{} is not running (status: {}); nothing to stop",
        dir.display(),
        status.label()
    );
    send_command(dir, TrainCommand::Stop)?;
    println!(
        "asked {} (pid {}) to stop: it finishes the current batch, writes a checkpoint and ends",
        dir.display(),
        run_pid(dir).map_or("?".into(), |p| p.to_string())
    );
    Ok(())
}
