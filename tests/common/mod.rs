//! Helpers shared by the integration tests: running the built binary, small configurations,
//! reading what commands print. (Each test binary uses a part of it.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the built `cellscope` with `args`.
pub fn cellscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cellscope"))
        .args(args)
        .output()
        .expect("run cellscope")
}

/// The stdout of a command that must have succeeded (the failure shows both streams).
pub fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The smallest useful model: 100 genes, one hidden layer of 16, latent 4.
pub const TINY_MODEL: &str =
    "[preprocess]\nn_top_genes = 100\n[model]\nhidden = [16]\nlatent = 4\n";

/// Writes `dir/name` holding `TINY_MODEL` followed by `rest` (more sections) and returns its path.
pub fn tiny_config(dir: &Path, name: &str, rest: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{TINY_MODEL}{rest}")).unwrap();
    path
}

/// The run directory a `train` command printed.
pub fn run_dir(stdout: &str) -> PathBuf {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("run directory: "))
        .unwrap_or_else(|| panic!("no run directory in:\n{stdout}"));
    PathBuf::from(line)
}

/// Kills a detached run's process (from its pid file) when the test ends, however it ends.
pub struct KillRun(pub PathBuf);

impl Drop for KillRun {
    fn drop(&mut self) {
        use cellscope::train::detached::{pid_alive, run_pid};
        if let Some(pid) = run_pid(&self.0).filter(|&p| pid_alive(p)) {
            // SAFETY: signalling a process the test started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

/// A committed fixture under tests/fixtures.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// A JSON array of numbers.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
