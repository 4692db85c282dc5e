//! `cellscope train [FILE] --method ...`: headless pretraining with one log line per epoch.

use clap::Args;
use std::path::PathBuf;

use crate::config::Config;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use crate::train::{TrainCommand, TrainData, TrainEvent, TrainJob, load_run_config, spawn};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset to pretrain on; the bundled demo when omitted.
    pub file: Option<PathBuf>,
    /// Pretext task: masked, gp, gp-tf, byol or barlow.
    #[arg(long)]
    pub method: Option<String>,
    /// Number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
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
}

pub fn run(args: TrainArgs, config: Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.detach,
        "--detach is not supported yet; run in the foreground (e.g. under nohup) for now"
    );
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
    crate::train::Method::parse(&config.train.method)?;
    let data = TrainData::load(&file, &config, genes.as_deref())?;
    let epochs = config.train.epochs;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = spawn(
        TrainJob {
            config,
            data,
            resume: args.resume.clone(),
        },
        tx,
    );
    stop_on_signals(handle.commands());
    let mut outcome = Err(anyhow::anyhow!("training ended without a result"));
    while let Some(event) = rx.blocking_recv() {
        if let Some(line) = log_line(&event, epochs) {
            println!("{line}");
        }
        match event {
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

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// On SIGINT or SIGTERM (Ctrl-C, a batch system's time limit) asks the worker to stop
/// gracefully: finish the batch, write a checkpoint, report. A watcher thread forwards it.
fn stop_on_signals(commands: Sender<TrainCommand>) {
    let handler = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    std::thread::spawn(move || {
        loop {
            if STOP_REQUESTED.swap(false, Ordering::SeqCst) {
                println!("stop requested: finishing the batch and writing a checkpoint");
                if commands.send(TrainCommand::Stop).is_err() {
                    return;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
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
        TrainEvent::Failed { message } => format!("training failed: {message}"),
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
    }
}
