//! `cellscope sweep DATA [--methods ...] [--mask-rates ...] [--seeds N] [--label COL] [--out DIR]
//! [--jobs N] [--slurm] [--json]`: train every combination, score each beside PCA on the same
//! folds, print one table; `--collect DIR` prints the table of a sweep run elsewhere (SLURM).

use clap::Args;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::config::{Config, Epochs};
use crate::sweep::task::{Outcome, run_task};
use crate::sweep::{SLURM_FILE, Sweep, SweepSpec, slurm, table};

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Dataset to sweep on; the bundled demo when omitted.
    pub data: Option<PathBuf>,
    /// Pretext tasks, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "masked,gp,gp-tf,byol,barlow"
    )]
    pub methods: Vec<String>,
    /// Mask rates of the methods that have one (masked: masking.rate, gp: the share of gene
    /// programmes masked), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.25,0.5,0.75")]
    pub mask_rates: Vec<f64>,
    /// Training seeds per combination.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// obs column with the reference labels.
    #[arg(long)]
    pub label: Option<String>,
    /// Sweep directory (default: `<train.out_dir>/sweep-<data name>`); re-running the same
    /// command there resumes what is missing.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Epochs of every run, or "auto" (train.epochs).
    #[arg(long)]
    pub epochs: Option<Epochs>,
    /// Trainings at once, the threads split between them.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Write an sbatch job-array script instead of running.
    #[arg(long)]
    pub slurm: bool,
    /// Print the table of an existing sweep directory.
    #[arg(long, value_name = "DIR")]
    pub collect: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
    /// Run one task (by index) of the sweep in `--out` (job arrays and `--jobs` children).
    #[arg(long, hide = true)]
    pub task: Option<usize>,
    /// Training threads of a `--task`.
    #[arg(long, hide = true)]
    pub threads: Option<usize>,
}

pub fn run(args: SweepArgs, config: &Config) -> anyhow::Result<()> {
    if let Some(dir) = &args.collect {
        return print_table(&Sweep::open(dir)?, args.json);
    }
    if let Some(i) = args.task {
        let dir = args
            .out
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("--task needs --out DIR (the sweep directory)"))?;
        return run_one(&Sweep::open(dir)?, i, args.threads);
    }
    let sweep = open(&args, config)?;
    let n_tasks = sweep.spec.tasks()?.len();
    if args.slurm {
        let exe = std::env::current_exe()?;
        let path = sweep.dir.join(SLURM_FILE);
        std::fs::write(&path, slurm::script(&exe, &sweep.dir, n_tasks))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        println!("wrote {} ({n_tasks} array tasks)", path.display());
        println!("submit it with: sbatch {}", path.display());
        println!("then: cellscope sweep --collect {}", sweep.dir.display());
        return Ok(());
    }
    let failed = if args.jobs > 1 {
        run_parallel(&sweep, args.jobs)?
    } else {
        run_sequential(&sweep)?
    };
    print_table(&sweep, args.json)?;
    anyhow::ensure!(
        failed == 0,
        "{failed} run(s) failed (see above); re-run the same command to retry them"
    );
    Ok(())
}

/// The sweep directory the arguments ask for, created or resumed.
fn open(args: &SweepArgs, config: &Config) -> anyhow::Result<Sweep> {
    let data = crate::cli::dataset_or_demo(args.data.clone());
    let data = std::path::absolute(&data).unwrap_or(data);
    let mut base = config.clone();
    if let Some(e) = args.epochs {
        base.train.epochs = e;
    }
    crate::config_check::check(&base)?;
    let spec = SweepSpec {
        data: data.clone(),
        methods: args.methods.clone(),
        mask_rates: args.mask_rates.clone(),
        seeds: args.seeds,
        label: args.label.clone().unwrap_or_default(),
    };
    let dir = args.out.clone().unwrap_or_else(|| {
        let stem = data
            .file_stem()
            .map_or("data".into(), |s| s.to_string_lossy());
        Path::new(&base.train.out_dir).join(format!("sweep-{stem}"))
    });
    Sweep::create_or_resume(&dir, spec, base)
}

/// Runs every task here, one after another; returns how many failed.
fn run_sequential(sweep: &Sweep) -> anyhow::Result<usize> {
    let tasks = sweep.spec.tasks()?;
    let mut failed = 0;
    for (i, task) in tasks.iter().enumerate() {
        let tag = format!("[{}/{}]", i + 1, tasks.len());
        match run_task(sweep, task, None, &mut |line| println!("{tag} {line}")) {
            Ok(Outcome::Done(row)) => println!(
                "{tag} {}: done in {:.0} s ({} epochs)",
                row.task, row.train_secs, row.epochs_done
            ),
            Ok(Outcome::AlreadyDone(row)) => println!("{tag} {}: done earlier", row.task),
            Ok(Outcome::Busy) => println!("{tag} {}: running in another process", task.name()),
            Err(e) => {
                failed += 1;
                eprintln!("{tag} {}: failed: {e:#}", task.name());
            }
        }
    }
    Ok(failed)
}

/// One task (a job-array element or a `--jobs` child).
fn run_one(sweep: &Sweep, i: usize, threads: Option<usize>) -> anyhow::Result<()> {
    let tasks = sweep.spec.tasks()?;
    let task = tasks.get(i).ok_or_else(|| {
        anyhow::anyhow!(
            "--task {i}: the sweep has tasks 0 to {}",
            tasks.len().saturating_sub(1)
        )
    })?;
    match run_task(sweep, task, threads, &mut |line| println!("{line}"))? {
        Outcome::Done(row) => println!("{}: done in {:.0} s", row.task, row.train_secs),
        Outcome::AlreadyDone(row) => println!("{}: done earlier", row.task),
        Outcome::Busy => println!("{}: running in another process", task.name()),
    }
    Ok(())
}

/// Runs the tasks as `jobs` child processes at a time, the threads split between them, each
/// child's output in `<sweep>/logs/<task>.log`; returns how many failed.
fn run_parallel(sweep: &Sweep, jobs: usize) -> anyhow::Result<usize> {
    let tasks = sweep.spec.tasks()?;
    let total = match sweep.base.train.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        t => t,
    };
    let threads = (total / jobs).max(1);
    let logs = sweep.dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let exe = std::env::current_exe()?;
    let mut running: Vec<(String, Child)> = Vec::new();
    let mut failed = 0;
    let mut wait_one = |running: &mut Vec<(String, Child)>| -> anyhow::Result<()> {
        let (name, mut child) = running.remove(0);
        let status = child.wait()?;
        if status.success() {
            println!("{name}: done");
        } else {
            failed += 1;
            eprintln!(
                "{name}: failed ({status}); see {}",
                logs.join(format!("{name}.log")).display()
            );
        }
        Ok(())
    };
    for (i, task) in tasks.iter().enumerate() {
        if running.len() == jobs {
            wait_one(&mut running)?;
        }
        let name = task.name();
        let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
        let child = Command::new(&exe)
            .arg("sweep")
            .arg("--out")
            .arg(&sweep.dir)
            .args(["--task", &i.to_string(), "--threads", &threads.to_string()])
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()?;
        println!(
            "[{}/{}] {name}: started ({threads} threads)",
            i + 1,
            tasks.len()
        );
        running.push((name, child));
    }
    while !running.is_empty() {
        wait_one(&mut running)?;
    }
    Ok(failed)
}

/// Prints the sweep's table (text or JSON).
fn print_table(sweep: &Sweep, json: bool) -> anyhow::Result<()> {
    let t = table::collect(sweep)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        print!(
            "\n{}",
            table::render(&t, sweep.base.analysis.pca_components)
        );
    }
    Ok(())
}
