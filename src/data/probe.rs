//! Crash isolation for HDF5 input: before a file is opened in this process, a child process makes
//! the reads that can crash libhdf5 on corrupt metadata, so a segfault or hang becomes an error.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use super::h5ad::{H5adFile, MatrixChoice};
use super::{DataError, DataFormat, data_format, tenx};

/// The hidden first argument that makes the `cellscope` binary run [`child_main`].
pub const PROBE_COMMAND: &str = "__probe";

/// Environment variable overriding the probe's time limit, in seconds (for tests, and for huge
/// files on slow storage).
pub const TIMEOUT_ENV: &str = "CELLSCOPE_PROBE_TIMEOUT";

/// Address-space limit of the probe process, so a read that trusts a corrupt size fails fast.
const PROBE_MEMORY: u64 = 4 << 30;
/// Peak memory a probe may use, as a base plus a multiple of the file's length: the probe reads
/// at most a sample of each matrix, so more means libhdf5 trusted a corrupt declared size.
const MEMORY_BASE: u64 = 1 << 30;
const MEMORY_PER_FILE_BYTE: u64 = 4;
/// Stored values read per matrix: all of a smaller matrix, evenly spaced windows of a larger one.
const SAMPLE_VALUES: usize = 1 << 21;
/// Windows sampled along a larger matrix.
const SAMPLE_WINDOWS: usize = 16;
/// Default time limit: a base plus an allowance per GiB of file.
const BASE_TIMEOUT: Duration = Duration::from_secs(10);
const TIMEOUT_PER_GIB: Duration = Duration::from_secs(30);

/// How to start a probe: a program and its leading arguments (the file path is appended).
#[derive(Debug, Clone)]
pub struct Prober {
    /// The executable that runs [`child_main`] for these arguments.
    pub program: PathBuf,
    /// Arguments before the file path.
    pub args: Vec<OsString>,
    /// Longest a probe may run before the file counts as hanging the library (None: 10 s
    /// plus 30 s per GiB of file).
    pub timeout: Option<Duration>,
}

impl Prober {
    /// Re-runs this very executable (on Linux `/proc/self/exe`, which survives a rebuild of
    /// the binary on disk) with `args` before the path; the time limit is [`TIMEOUT_ENV`] when set.
    pub fn this_executable(args: &[&str]) -> Self {
        let proc_exe = Path::new("/proc/self/exe");
        let program = if proc_exe.exists() {
            proc_exe.to_path_buf()
        } else {
            std::env::current_exe().unwrap_or_else(|_| PathBuf::from("cellscope"))
        };
        Self {
            program,
            args: args.iter().map(OsString::from).collect(),
            timeout: std::env::var(TIMEOUT_ENV)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64),
        }
    }

    fn timeout_for(&self, len: u64) -> Duration {
        self.timeout.unwrap_or_else(|| {
            BASE_TIMEOUT + TIMEOUT_PER_GIB.mul_f64(len as f64 / f64::from(1u32 << 30))
        })
    }
}

static PROBER: OnceLock<Prober> = OnceLock::new();

/// Verdicts per file version: Ok, or why the probe failed (a time-out is not kept: it may pass
/// on a less busy machine).
static VERDICTS: Mutex<Option<HashMap<FileKey, Result<(), String>>>> = Mutex::new(None);

/// Sends every later HDF5 open in this process through `prober` first (`main` installs the
/// binary itself). Without it (library callers, unit tests) files are read unguarded.
/// Returns false when a prober was already installed (the first one stays).
pub fn install(prober: Prober) -> bool {
    PROBER.set(prober).is_ok()
}

/// A file version: its path, length and modification time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

/// Checks that reading `path` cannot crash this process: runs the installed probe once per
/// file version (later calls reuse the verdict). Ok when no probe is installed.
pub(crate) fn guard(path: &Path) -> Result<(), DataError> {
    let Some(prober) = PROBER.get() else {
        return Ok(());
    };
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(()); // the open that follows reports it
    };
    let key = FileKey {
        path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        len: meta.len(),
        modified: meta.modified().ok(),
    };
    let cached = VERDICTS
        .lock()
        .ok()
        .and_then(|v| v.as_ref()?.get(&key).cloned());
    let verdict = match cached {
        Some(v) => v,
        None => {
            let (v, timed_out) = probe(prober, path, prober.timeout_for(key.len));
            if let (false, Ok(mut verdicts)) = (timed_out, VERDICTS.lock()) {
                verdicts
                    .get_or_insert_with(HashMap::new)
                    .insert(key, v.clone());
            }
            v
        }
    };
    verdict.map_err(|detail| DataError::Corrupt {
        path: path.to_path_buf(),
        detail,
    })
}

/// Runs `prober` on `path` and judges how it ended (Ok when it exited 0), and whether it was
/// stopped at the time limit.
fn probe(prober: &Prober, path: &Path, timeout: Duration) -> (Result<(), String>, bool) {
    let started = Instant::now();
    let child = Command::new(&prober.program)
        .args(&prober.args)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                "cannot start the HDF5 probe {}: {e}; reading {} unguarded",
                prober.program.display(),
                path.display()
            );
            return (Ok(()), false);
        }
    };
    let stderr = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = err.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    });
    let ended = wait_until(&mut child, started + timeout);
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    tracing::debug!(
        "HDF5 probe of {} took {:?}: {ended:?}",
        path.display(),
        started.elapsed()
    );
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    let allowance = MEMORY_BASE + MEMORY_PER_FILE_BYTE.saturating_mul(len);
    match ended {
        Some((status, peak)) => (judge(status, peak, allowance, &stderr), false),
        None => (
            Err(format!(
                "the HDF5 library did not finish reading it within {:.0} s (it hangs on this file)",
                timeout.as_secs_f64()
            )),
            true,
        ),
    }
}

/// Waits for `child` until `deadline`: its exit status and peak resident memory in bytes, or
/// None when it was still running at the deadline (it is killed then).
fn wait_until(child: &mut Child, deadline: Instant) -> Option<(ExitStatus, u64)> {
    let pid = child.id() as libc::pid_t;
    let mut pause = Duration::from_millis(1);
    loop {
        let mut raw = 0;
        // SAFETY: rusage is plain data; wait4 only writes the two out-parameters we own.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut raw, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            let peak = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
            return Some((ExitStatus::from_raw(raw), peak));
        }
        if reaped < 0 {
            return child.wait().ok().map(|status| (status, 0));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

/// Turns a probe's exit status, peak memory (bytes, against `allowance`) and the last line it
/// wrote to stderr into a verdict.
fn judge(status: ExitStatus, peak: u64, allowance: u64, stderr: &str) -> Result<(), String> {
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    if status.success() && peak > allowance {
        return Err(format!(
            "the HDF5 library needed {:.1} GiB of memory to read it (over {:.1} GiB): its \
             metadata declares sizes that are not there",
            gib(peak),
            gib(allowance)
        ));
    }
    if status.success() {
        return Ok(());
    }
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default();
    Err(match (status.signal(), status.code()) {
        (Some(signal), _) => format!(
            "the HDF5 library crashed reading it ({}, signal {signal}){last}",
            signal_name(signal)
        ),
        (None, Some(101)) => format!("the reader panicked in the probe process{last}"),
        (None, code) => format!(
            "the HDF5 library ended the process reading it (exit status {}){last}",
            code.unwrap_or(-1)
        ),
    })
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "segmentation fault",
        libc::SIGBUS => "bus error",
        libc::SIGABRT => "abort",
        libc::SIGFPE => "arithmetic fault",
        libc::SIGILL => "illegal instruction",
        libc::SIGKILL => "killed",
        _ => "signal",
    }
}

/// The probe process: `args` is the file path. Makes the reads that may crash (ignoring the
/// clear errors, which the caller meets again in-process) and returns the exit code: 0 when
/// they all returned, 2 for a bad command line.
pub fn child_main(args: &[OsString]) -> i32 {
    let [path] = args else {
        eprintln!("usage: cellscope {PROBE_COMMAND} FILE");
        return 2;
    };
    limit_memory();
    exercise(Path::new(path));
    0
}

/// Everything a command may read from an HDF5 input: the format check; for AnnData the shape,
/// annotations (obs, var, raw var), layer/raw/obsm listings and every matrix (all of a small
/// one, windows of a large one); for Cell Ranger the barcodes, genes and matrix.
fn exercise(path: &Path) {
    match data_format(path) {
        Ok(DataFormat::H5ad) => {
            let Ok(file) = H5adFile::open(path) else {
                return;
            };
            let _ = (file.has_raw(), file.obsm_keys());
            let _ = file.obs();
            let choices = [MatrixChoice::X, MatrixChoice::Raw]
                .into_iter()
                .chain(file.layers().into_iter().map(MatrixChoice::Layer));
            for choice in choices {
                let _ = file.var_names(&choice);
                if let Ok(m) = file.matrix(&choice) {
                    m.sample_reads(file.store(), SAMPLE_VALUES, SAMPLE_WINDOWS);
                }
            }
        }
        Ok(DataFormat::TenxH5) => {
            let _ = tenx::stored_dtype(path, DataFormat::TenxH5);
            tenx::sample_reads(path, SAMPLE_VALUES, SAMPLE_WINDOWS);
        }
        _ => {}
    }
}

/// Caps this process's address space at [`PROBE_MEMORY`].
fn limit_memory() {
    let lim = libc::rlimit {
        rlim_cur: PROBE_MEMORY,
        rlim_max: PROBE_MEMORY,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    unsafe {
        libc::setrlimit(libc::RLIMIT_AS, &lim);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Prober {
        Prober {
            program: "sh".into(),
            args: vec!["-c".into(), script.into(), "probe".into()],
            timeout: Some(Duration::from_millis(300)),
        }
    }

    #[test]
    fn a_probe_that_needed_more_memory_than_the_file_can_justify_is_rejected() {
        let ok = ExitStatus::from_raw(0);
        assert_eq!(judge(ok, 100 << 20, 1 << 30, ""), Ok(()));
        let err = judge(ok, 3 << 30, 1 << 30, "").unwrap_err();
        assert!(
            err.contains("3.0 GiB") && err.contains("declares sizes"),
            "{err}"
        );
    }

    fn run(prober: &Prober) -> Result<(), String> {
        probe(prober, Path::new("/dev/null"), prober.timeout.unwrap()).0
    }

    #[test]
    fn a_clean_exit_passes_and_a_signal_is_a_crash() {
        assert_eq!(run(&shell("exit 0")), Ok(()));
        let crash = run(&shell("kill -SEGV $$")).unwrap_err();
        assert!(
            crash.contains("crashed") && crash.contains("signal 11"),
            "{crash}"
        );
    }

    #[test]
    fn a_hang_is_killed_at_the_deadline() {
        let started = Instant::now();
        let prober = shell("exec sleep 20");
        let (hang, timed_out) = probe(&prober, Path::new("/dev/null"), prober.timeout.unwrap());
        let hang = hang.unwrap_err();
        assert!(hang.contains("did not finish") && timed_out, "{hang}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_failing_exit_carries_its_last_message() {
        let err = run(&shell("echo 'reader panicked: boom' >&2; exit 101")).unwrap_err();
        assert!(err.contains("panicked") && err.contains(": boom"), "{err}");
        let exit = run(&shell("exit 255")).unwrap_err();
        assert!(
            exit.contains("ended the process") && exit.contains("255"),
            "{exit}"
        );
    }

    #[test]
    fn the_probe_reads_every_matrix_layout_and_rejects_a_bad_command_line() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus");
        for seed in ["csr.h5ad", "csc.h5ad", "dense.h5ad", "tenx.h5"] {
            exercise(&corpus.join(seed));
        }
        assert_eq!(child_main(&[]), 2);
    }
}
