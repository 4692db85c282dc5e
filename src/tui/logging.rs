//! Logs of the UI go to a file (never to the screen): `$XDG_STATE_HOME/cellscope/cellscope.log` or
//! `~/.local/state/cellscope/cellscope.log`, level from `CELLSCOPE_LOG` (default `info`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

/// The log file path for the given XDG_STATE_HOME and HOME values.
pub fn log_path_from(xdg_state_home: Option<&str>, home: Option<&str>) -> PathBuf {
    let state = match (xdg_state_home.filter(|s| !s.is_empty()), home) {
        (Some(state), _) => PathBuf::from(state),
        (None, Some(home)) => Path::new(home).join(".local").join("state"),
        (None, None) => std::env::temp_dir(),
    };
    state.join("cellscope").join("cellscope.log")
}

/// The log file path of this user.
pub fn log_path() -> PathBuf {
    let xdg = std::env::var("XDG_STATE_HOME").ok();
    let home = std::env::var("HOME").ok();
    log_path_from(xdg.as_deref(), home.as_deref())
}

/// The path as shown to the user, with the home directory written `~`.
pub fn display_path(path: &Path) -> String {
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() => match path.strip_prefix(&home) {
            Ok(rest) => format!("~/{}", rest.display()),
            Err(_) => path.display().to_string(),
        },
        _ => path.display().to_string(),
    }
}

/// Sends `tracing` output to the log file (appending).
pub fn init(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the log directory", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("{}: cannot open the log file", path.display()))?;
    let filter =
        EnvFilter::try_from_env("CELLSCOPE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_state_home_wins_then_home_local_state() {
        assert_eq!(
            log_path_from(Some("/s"), Some("/h")),
            PathBuf::from("/s/cellscope/cellscope.log")
        );
        assert_eq!(
            log_path_from(Some(""), Some("/h")),
            PathBuf::from("/h/.local/state/cellscope/cellscope.log")
        );
    }
}
