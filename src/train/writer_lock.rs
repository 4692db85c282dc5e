//! One writer per run directory: an exclusive `flock` on `run_dir/lock`, held while a process
//! trains the run and released by the kernel when that process ends, however it ends. The file
//! holds the writer's pid for the message a second writer gets. Readers never take it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::train::TrainError;

/// The lock file of a run directory.
pub const LOCK_FILE: &str = "lock";

/// The held writer lock of a run directory (released on drop or when the process dies).
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Takes the run's writer lock without waiting; when another process (or another writer in
    /// this one) holds it, the error says "run X is being written by pid N".
    pub fn acquire(run_dir: &Path) -> Result<Self, TrainError> {
        let path = run_dir.join(LOCK_FILE);
        let fail = |what: &str, e: std::io::Error| {
            TrainError::Io(format!("{}: {what}: {e}", path.display()))
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| fail("cannot open the writer lock", e))?;
        // SAFETY: flock on a descriptor we own; LOCK_NB makes it return at once.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(fail("cannot take the writer lock", e));
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let writer = match text.trim().parse::<u32>() {
                Ok(pid) => format!("pid {pid}"),
                Err(_) => "another process".into(),
            };
            return Err(TrainError::Busy(format!(
                "run {} is being written by {writer}",
                run_dir.display()
            )));
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush())
            .map_err(|e| fail("cannot record the writer", e))?;
        Ok(Self { _file: file })
    }

    /// Fails like [`WriterLock::acquire`] when a writer holds the run, without keeping the lock
    /// (a command checks this before doing slow work or starting a process that takes it).
    pub fn ensure_free(run_dir: &Path) -> Result<(), TrainError> {
        Self::acquire(run_dir).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_told_who_writes_and_gets_the_lock_once_it_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let held = WriterLock::acquire(dir.path()).unwrap();
        let err = WriterLock::acquire(dir.path()).unwrap_err().to_string();
        let me = std::process::id();
        assert_eq!(
            err,
            format!("run {} is being written by pid {me}", dir.path().display())
        );
        assert!(WriterLock::ensure_free(dir.path()).is_err());
        drop(held);
        WriterLock::ensure_free(dir.path()).unwrap();
        let again = WriterLock::acquire(dir.path()).unwrap();
        let recorded = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(recorded.trim(), me.to_string());
        drop(again);
    }

    #[test]
    fn a_missing_run_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("deleted");
        let err = WriterLock::acquire(&gone).unwrap_err().to_string();
        assert!(
            err.contains("deleted/lock") && err.contains("cannot open"),
            "{err}"
        );
    }
}
