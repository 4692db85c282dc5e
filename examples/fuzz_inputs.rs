//! Mutation fuzzer for every input reader (.h5ad, Cell Ranger .h5 and mtx, GMT, the config loader
//! with its range checks) on stable Rust: mutates a seed corpus and runs the readers in
//! child-process batches for a fixed time.
//!
//! Usage: `cargo run --example fuzz_inputs -- --seconds 60 [--corpus DIR] [--crashes DIR] [--seed N]
//! [--strict false] [--guarded false]`.
//! Each batch of mutated inputs runs in a child process under `catch_unwind` with a memory limit,
//! through the same guarded path as `cellscope`: every HDF5 file is first read by a probe process
//! (`data::probe`, here this example re-run with `--probe FILE`), so a file that crashes or hangs
//! libhdf5 gives an error. A panic, an abort or a non-zero exit is a crash: the input is saved under
//! the crashes folder and the run exits with status 1. A segfault, bus error or hang that still
//! reaches the batch process (a fault the probe missed, or any libhdf5 fault with `--guarded false`)
//! is saved under crashes/native/ and fails the run too, unless `--strict false` (then it is only
//! counted, e.g. to measure libhdf5's own faults with `--guarded false --strict false`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Inputs per child process.
const BATCH: usize = 48;
/// Longest a single input may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(10);
/// Address-space limit of a child, so a huge allocation fails fast instead of thrashing.
const CHILD_MEMORY: u64 = 4 << 30;
/// Time limit of one probe: well under [`HANG`], so a file hanging libhdf5 is caught by the probe.
const PROBE_HANG: Duration = Duration::from_secs(4);

struct Args {
    seconds: u64,
    corpus: PathBuf,
    crashes: PathBuf,
    seed: u64,
    strict: bool,
    guarded: bool,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut args = Args {
        seconds: 60,
        corpus: root.join("corpus"),
        crashes: root.join("crashes"),
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        strict: true,
        guarded: true,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--seconds" => args.seconds = number()?,
            "--seed" => args.seed = number()?,
            "--corpus" => args.corpus = value.into(),
            "--crashes" => args.crashes = value.into(),
            "--strict" => args.strict = value == "true",
            "--guarded" => args.guarded = value != "false",
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("--run-batch") => {
            run_batch(
                Path::new(&argv[1]),
                argv[2].parse().unwrap_or(0),
                argv[3] == "true",
            );
            return;
        }
        Some("--probe") => {
            let rest: Vec<_> = std::env::args_os().skip(2).collect();
            std::process::exit(cellscope::data::probe::child_main(&rest));
        }
        _ => {}
    }
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fuzz_inputs: {e}");
            std::process::exit(2);
        }
    };
    match fuzz(&args) {
        Ok(0) => {}
        Ok(_) => std::process::exit(1),
        Err(e) => {
            eprintln!("fuzz_inputs: {e}");
            std::process::exit(2);
        }
    }
}

// ---- parent: mutate, run batches, collect crashes ----

/// Runs the fuzz loop for `args.seconds`; returns the number of crashes that fail the run.
fn fuzz(args: &Args) -> Result<usize, String> {
    let seeds = load_corpus(&args.corpus)?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let work = std::env::temp_dir().join(format!("cellscope-fuzz-{}", std::process::id()));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let (mut executions, mut crashes, mut native, mut caught) = (0usize, 0, 0, 0);
    let mut first = true;
    while first || Instant::now() < deadline {
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        // The first batch runs the seeds unmutated: they must not crash either.
        let inputs: Vec<PathBuf> = (0..if first { seeds.len() } else { BATCH })
            .map(|i| {
                let seed = if first {
                    &seeds[i]
                } else {
                    &seeds[rng.random_range(0..seeds.len())]
                };
                write_input(&work, i, seed, !first, &mut rng)
            })
            .collect::<Result<_, _>>()?;
        first = false;
        let mut from = 0;
        while from < inputs.len() {
            let outcome = run_child(&work, from, args.guarded)?;
            executions += outcome.finished;
            caught += outcome.caught;
            match outcome.crash {
                Some((i, why, kind)) => {
                    executions += 1;
                    let dir = if kind == Kind::Native {
                        native += 1;
                        args.crashes.join("native")
                    } else {
                        crashes += 1;
                        args.crashes.clone()
                    };
                    let saved = save_crash(&dir, &inputs[i])?;
                    eprintln!("CRASH ({why}): saved {}", saved.display());
                    from = i + 1;
                }
                None => from = inputs.len(),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "fuzz: {executions} executions in {} s (seed {}{}), {crashes} crashes, \
         {native} native faults (segfault/bus error/hang), {caught} stopped by the probe{}",
        args.seconds,
        args.seed,
        if args.guarded { "" } else { ", unguarded" },
        if crashes + native > 0 {
            format!(" saved under {}", args.crashes.display())
        } else {
            String::new()
        }
    );
    Ok(crashes + if args.strict { native } else { 0 })
}

/// A seed: a file's bytes, or an mtx folder's files.
enum Seed {
    File { ext: String, bytes: Vec<u8> },
    Folder(Vec<(String, Vec<u8>)>),
}

fn load_corpus(dir: &Path) -> Result<Vec<Seed>, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut seeds = Vec::new();
    for p in entries {
        if p.is_dir() {
            let mut files = Vec::new();
            for f in std::fs::read_dir(&p).map_err(|e| format!("{}: {e}", p.display()))? {
                let f = f.map_err(|e| e.to_string())?.path();
                files.push((file_name(&f), read(&f)?));
            }
            seeds.push(Seed::Folder(files));
        } else {
            let ext = p
                .extension()
                .map_or(String::new(), |e| e.to_string_lossy().into());
            seeds.push(Seed::File {
                ext,
                bytes: read(&p)?,
            });
        }
    }
    if seeds.is_empty() {
        return Err(format!("{}: empty corpus", dir.display()));
    }
    Ok(seeds)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into())
}

/// Writes input number `i` into `work` (mutated unless `mutate` is false); returns its path.
fn write_input(
    work: &Path,
    i: usize,
    seed: &Seed,
    mutate: bool,
    rng: &mut StdRng,
) -> Result<PathBuf, String> {
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    match seed {
        Seed::File { ext, bytes } => {
            let mut b = bytes.clone();
            if mutate {
                mutate_bytes(&mut b, rng);
            }
            let p = work.join(format!("{i:04}.{ext}"));
            std::fs::write(&p, b).map_err(|e| io(&p, e))?;
            Ok(p)
        }
        Seed::Folder(files) => {
            let d = work.join(format!("{i:04}"));
            std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
            let target = rng.random_range(0..files.len());
            for (k, (name, bytes)) in files.iter().enumerate() {
                let mut b = bytes.clone();
                if mutate && k == target {
                    mutate_bytes(&mut b, rng);
                }
                std::fs::write(d.join(name), b).map_err(|e| io(&d, e))?;
            }
            Ok(d)
        }
    }
}

/// Sizes and offsets that break readers: zero, sign bits, values past 32 bits, all ones.
const INTERESTING: [u64; 8] = [
    0,
    1,
    0x7f,
    0xffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 40,
    u64::MAX,
];

/// Applies 1 to 4 random mutations: truncation, bit flips, byte runs, chunk duplication or
/// removal, interesting 8-byte words. Offsets favour the first 4 KiB, where HDF5 keeps metadata.
fn mutate_bytes(b: &mut Vec<u8>, rng: &mut StdRng) {
    for _ in 0..rng.random_range(1..=4) {
        if b.is_empty() {
            b.push(rng.random());
            continue;
        }
        let len = b.len();
        let at = |rng: &mut StdRng| {
            if rng.random_bool(0.6) {
                rng.random_range(0..len.min(4096))
            } else {
                rng.random_range(0..len)
            }
        };
        match rng.random_range(0..7) {
            0 => b.truncate(rng.random_range(0..len)),
            1 => {
                for _ in 0..rng.random_range(1..=8) {
                    let i = at(rng);
                    b[i] ^= 1 << rng.random_range(0..8);
                }
            }
            2 => {
                let i = at(rng);
                let n = rng.random_range(1..=32).min(len - i);
                let byte = [0u8, 0xff, rng.random()][rng.random_range(0..3)];
                b[i..i + n].fill(byte);
            }
            3 => {
                let i = at(rng);
                let n = rng.random_range(1..=256).min(len - i);
                let chunk = b[i..i + n].to_vec();
                let j = rng.random_range(0..=len);
                b.splice(j..j, chunk);
            }
            4 => {
                let i = at(rng);
                let n = rng.random_range(1..=64).min(len - i);
                b.drain(i..i + n);
            }
            5 if len >= 8 => {
                let i = at(rng).min(len - 8) & !7;
                let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
                b[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            _ => {
                let i = at(rng);
                b[i] = rng.random();
            }
        }
    }
}

/// How an input crashed: a Rust-side failure, or a fault/hang in native code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rust,
    Native,
}

/// What a child reported: inputs finished (`caught` of them stopped by the probe), and the
/// crashing input if it crashed.
struct Outcome {
    finished: usize,
    caught: usize,
    crash: Option<(usize, String, Kind)>,
}

/// Runs the batch in `work` from input `from` in a child process, watching for hangs.
fn run_child(work: &Path, from: usize, guarded: bool) -> Result<Outcome, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child: Child = Command::new(exe)
        .args(["--run-batch", &work.to_string_lossy(), &from.to_string()])
        .arg(guarded.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start a fuzz child: {e}"))?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut finished, mut caught, mut current) = (0, 0, None);
    loop {
        match rx.recv_timeout(HANG) {
            Ok(line) => {
                let mut parts = line.splitn(3, ' ');
                let (kind, i) = (parts.next(), parts.next().and_then(|s| s.parse().ok()));
                match (kind, i) {
                    (Some("start"), Some(i)) => current = Some(i),
                    (Some("ok"), Some(_)) => {
                        finished += 1;
                        caught += usize::from(parts.next() == Some("caught"));
                        current = None;
                    }
                    (Some("panic"), Some(i)) => {
                        let _ = child.wait();
                        let msg = parts.next().unwrap_or("").to_string();
                        return Ok(Outcome {
                            finished,
                            caught,
                            crash: Some((i, format!("panic: {msg}"), Kind::Rust)),
                        });
                    }
                    _ => {}
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Outcome {
                    finished,
                    caught,
                    crash: current
                        .map(|i| (i, format!("hang over {} s", HANG.as_secs()), Kind::Native)),
                });
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().map_err(|e| e.to_string())?;
                let crash = match current {
                    Some(i) => {
                        use std::os::unix::process::ExitStatusExt;
                        let native = matches!(status.signal(), Some(libc::SIGSEGV | libc::SIGBUS));
                        let kind = if native { Kind::Native } else { Kind::Rust };
                        Some((i, format!("child died: {status}"), kind))
                    }
                    None if !status.success() => {
                        return Err(format!("fuzz child failed outside an input: {status}"));
                    }
                    None => None,
                };
                return Ok(Outcome {
                    finished,
                    caught,
                    crash,
                });
            }
        }
    }
}

fn save_crash(dir: &Path, input: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dest = dir.join(format!("crash-{stamp}-{}", file_name(input)));
    let copy = |from: &Path, to: &Path| std::fs::copy(from, to).map(|_| ());
    let result = if input.is_dir() {
        std::fs::create_dir_all(&dest).and_then(|()| {
            std::fs::read_dir(input)?.try_for_each(|f| {
                let f = f?.path();
                copy(&f, &dest.join(file_name(&f)))
            })
        })
    } else {
        copy(input, &dest)
    };
    result.map_err(|e| format!("{}: {e}", dest.display()))?;
    Ok(dest)
}

// ---- child: run every input of a batch through its reader ----

static PANIC_MESSAGE: Mutex<String> = Mutex::new(String::new());

fn run_batch(work: &Path, from: usize, guarded: bool) {
    limit_memory();
    if guarded {
        let mut prober = cellscope::data::probe::Prober::this_executable(&["--probe"]);
        prober.timeout = Some(PROBE_HANG);
        cellscope::data::probe::install(prober);
    }
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut m) = PANIC_MESSAGE.lock() {
            *m = info.to_string().replace('\n', " ");
        }
    }));
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(work)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    inputs.sort();
    let mut out = std::io::stdout();
    for (i, input) in inputs.iter().enumerate().skip(from) {
        let _ = writeln!(out, "start {i}");
        let _ = out.flush();
        match std::panic::catch_unwind(|| read_input(input)) {
            Ok(caught) => {
                let _ = writeln!(out, "ok {i}{}", if caught { " caught" } else { "" });
            }
            Err(_) => {
                let msg = PANIC_MESSAGE.lock().map(|m| m.clone()).unwrap_or_default();
                let _ = writeln!(out, "panic {i} {msg}");
                let _ = out.flush();
                return;
            }
        }
        let _ = out.flush();
    }
}

/// Feeds one input to the reader for its kind; errors are fine, only crashes matter.
/// Returns whether the crash probe stopped it.
fn read_input(path: &Path) -> bool {
    use cellscope::data::{self, DataError};
    let ext = path.extension().map(|e| e.to_string_lossy().to_string());
    match ext.as_deref() {
        Some("gmt") => {
            let _ = data::genesets::read_gmt(path);
            false
        }
        Some("toml") => {
            let bytes = std::fs::read(path).unwrap_or_default();
            // Parsing and the range check of every setting (`config_check`), as `--config` does.
            let _ = cellscope::config::Config::from_toml(&String::from_utf8_lossy(&bytes));
            false
        }
        _ => {
            if let Err(DataError::Corrupt { .. }) = data::summarize(path) {
                return true;
            }
            if let Ok(ds) = data::read_dataset(path, "X") {
                let _ = data::prepare(&ds, &Default::default(), None);
            }
            if let Ok(f) = data::h5ad::H5adFile::open(path) {
                let n = f.n_obs();
                let _ = f.read_x_rows(n / 2..n);
                let _ = f.read_matrix(&data::h5ad::MatrixChoice::Raw);
                let _ = f.obs();
            }
            false
        }
    }
}

/// Caps the child's address space so a reader that trusts a huge declared size fails quickly.
fn limit_memory() {
    let lim = libc::rlimit {
        rlim_cur: CHILD_MEMORY,
        rlim_max: CHILD_MEMORY,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    unsafe {
        libc::setrlimit(libc::RLIMIT_AS, &lim);
    }
}
