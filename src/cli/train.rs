//! `cellscope train [FILE] --method ...`: headless pretraining with one log line per epoch.

use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::error::TryRecvError;

use crate::config::Config;
use crate::train::detached::{ControlPoller, clear_control, spawn_detached};
use crate::train::rundir::METRICS_FILE;
use crate::train::writer_lock::WriterLock;
use crate::train::{RunDir, TrainCommand, TrainData, TrainEvent, TrainJob, load_run_config, spawn};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset to pretrain on; the bundled demo when omitted.
    pub file: Option<PathBuf>,
    /// Pretext task: masked, gp, gp-tf, byol or barlow.
    #[arg(long)]
    pub method: Option<String>,
    /// Number of epochs, or "auto" (chosen from the number of cells).
    #[arg(long)]
    pub epochs: Option<crate::config::Epochs>,
    /// Directory that receives the run directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// GMT file of gene programmes (gp, gp-tf).
    #[arg(long)]
    pub genes: Option<PathBuf>,
    /// Continue a run from its last checkpoint.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Run as a detached background process writing to its run directory.
    #[arg(long)]
    pub detach: bool,
    /// The run directory a detached parent reserved for this (child) process.
    #[arg(long, hide = true)]
    pub run_dir: Option<PathBuf>,
}

/// How often the headless driver checks the control file and SIGTERM.
const POLL: Duration = Duration::from_millis(50);

/// Set by the SIGINT/SIGTERM handler; the driver turns it into a graceful stop.
static TERMINATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    TERMINATE.store(true, Ordering::SeqCst);
}

pub fn run(args: TrainArgs, config: Config) -> anyhow::Result<()> {
    let (config, file, genes) = resolve(&args, config)?;
    // Fail before loading data (or starting a process) when another writer owns the run.
    if let Some(dir) = &args.resume {
        WriterLock::ensure_free(dir)?;
    }
    if args.detach {
        return detach(&args, &config);
    }
    let data = TrainData::load(&file, &config, genes.as_deref())?;
    // The run's budget (an "auto" one is resolved by the worker and arrives with `Started`).
    let mut epochs = 0;
    if let (Some(dir), None) = (&args.resume, &args.run_dir) {
        clear_control(dir);
    }
    // SAFETY: the handler only stores to an atomic; SIGHUP is ignored so a closed terminal
    // does not end a run (a detached run has no terminal anyway). SIGINT (Ctrl-C) and SIGTERM
    // (a batch system's time limit) finish the batch and checkpoint.
    unsafe {
        let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let mut run_dir = args.run_dir.clone().or_else(|| args.resume.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let observer = Some(crate::analysis::timeline::observer(&data, &config));
    let handle = spawn(
        TrainJob {
            config,
            data,
            resume: args.resume.clone(),
            run_dir: args.run_dir.clone(),
            observer,
        },
        tx,
    );
    let mut control = ControlPoller::default();
    let mut stop_sent = false;
    let mut outcome = Err(anyhow::anyhow!("training ended without a result"));
    loop {
        let event = match rx.try_recv() {
            Ok(event) => event,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if TERMINATE.load(Ordering::SeqCst) && !stop_sent {
                    println!("stop requested: finishing the batch and writing a checkpoint");
                    handle.send(TrainCommand::Stop);
                    stop_sent = true;
                }
                if let Some(command) = run_dir.as_deref().and_then(|d| control.poll(d)) {
                    tracing::info!("control file: {command:?}");
                    handle.send(command);
                }
                std::thread::sleep(POLL);
                continue;
            }
        };
        if let TrainEvent::Started { epochs: e, .. } = &event {
            epochs = *e;
        }
        if let Some(line) = log_line(&event, epochs) {
            println!("{line}");
        }
        match event {
            TrainEvent::Started { run_dir: dir, .. } => run_dir = Some(dir),
            TrainEvent::Finished { run_dir, .. } => {
                println!("run directory: {}", run_dir.display());
                outcome = Ok(());
            }
            TrainEvent::Failed { message } => outcome = Err(anyhow::anyhow!(message)),
            _ => {}
        }
    }
    handle.join();
    outcome
}

/// The settings, dataset and (for a resumed run) gene order the arguments ask for.
fn resolve(
    args: &TrainArgs,
    config: Config,
) -> anyhow::Result<(Config, PathBuf, Option<Vec<String>>)> {
    let (mut config, file, genes) = match &args.resume {
        Some(dir) => {
            let (saved, dataset, genes) = load_run_config(dir)?;
            (saved, args.file.clone().unwrap_or(dataset), Some(genes))
        }
        None => (config, crate::cli::dataset_or_demo(args.file.clone()), None),
    };
    if let Some(m) = &args.method {
        anyhow::ensure!(
            args.resume.is_none() || *m == config.train.method,
            "a resumed run keeps its method ({})",
            config.train.method
        );
        config.train.method = m.clone();
    }
    if let Some(e) = args.epochs {
        config.train.epochs = e;
    }
    if let Some(out) = &args.out {
        config.train.out_dir = out.display().to_string();
    }
    if let Some(gmt) = &args.genes {
        config.masking.gene_sets = gmt.display().to_string();
    }
    crate::config_check::check(&config)?;
    Ok((config, file, genes))
}

/// Starts this same command without `--detach` as its own session (immune to the terminal
/// closing), writing into a run directory reserved here; prints the directory and pid.
fn detach(args: &TrainArgs, config: &Config) -> anyhow::Result<()> {
    let dir = match &args.resume {
        Some(dir) => dir.clone(),
        None => RunDir::reserve(Path::new(&config.train.out_dir), &config.train.method)?,
    };
    let mut argv: Vec<_> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    argv.extend(["--run-dir".into(), dir.clone().into_os_string()]);
    let pid = spawn_detached(&dir, &argv)?;
    println!("detached: pid {pid}");
    println!(
        "follow it with: tail -f {}",
        dir.join(METRICS_FILE).display()
    );
    println!("stop it with: cellscope stop {}", dir.display());
    println!("run directory: {}", dir.display());
    Ok(())
}

/// `1h02m`, `3m07s`, `12s`.
fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// The plain-text log line for an event (none for per-step and UI-only events).
fn log_line(event: &TrainEvent, epochs: usize) -> Option<String> {
    Some(match event {
        TrainEvent::Started {
            run_dir,
            method,
            steps_per_epoch,
            n_train,
            n_val,
            n_params,
            ..
        } => format!(
            "training {method}: {n_train} cells ({n_val} validation), {n_params} parameters, {epochs} epochs x {steps_per_epoch} steps -> {}",
            run_dir.display()
        ),
        TrainEvent::EpochEnd {
            epoch,
            train_loss,
            val_loss,
            lr,
            cells_per_sec,
            eta_secs,
            ..
        } => {
            let width = epochs.to_string().len();
            format!(
                "epoch {:>width$}/{epochs}  loss {train_loss:.5}  val {val_loss:.5}  lr {lr:.2e}  {cells_per_sec:>7.0} cells/s  ETA {}",
                epoch + 1,
                eta_secs.map_or("-".into(), duration),
            )
        }
        TrainEvent::Log(message) => message.clone(),
        TrainEvent::Finished {
            best_val_loss,
            epochs_done,
            stopped,
            ..
        } => format!(
            "{} after {epochs_done} epochs; best validation loss {best_val_loss:.5}",
            if *stopped { "stopped" } else { "finished" }
        ),
        // A failure is the command's error: `main` prints it, once.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_line_reads_well_in_a_plain_log() {
        let e = TrainEvent::EpochEnd {
            epoch: 2,
            train_loss: 0.41236,
            val_loss: 0.40012,
            lr: 9e-4,
            cells_per_sec: 5448.2,
            elapsed_secs: 30.0,
            eta_secs: Some(187.0),
        };
        assert_eq!(
            log_line(&e, 20).unwrap(),
            "epoch  3/20  loss 0.41236  val 0.40012  lr 9.00e-4     5448 cells/s  ETA 3m07s"
        );
        assert_eq!(duration(3725.0), "1h02m");
        assert!(log_line(&TrainEvent::Paused, 20).is_none());
        let failed = TrainEvent::Failed {
            message: "disk full".into(),
        };
        assert!(log_line(&failed, 20).is_none(), "printed once, by main");
    }
}
