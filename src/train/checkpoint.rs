//! Checkpoints: named f32 tensors plus the training state, as safetensors, written atomically
//! (temp file, fsync, rename) so a failed write never replaces the previous checkpoint.

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::model::params::NamedTensor;
use crate::train::TrainError;

/// Name -> (shape, values) of every stored tensor.
pub type TensorMap = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Where training stands, so a resumed run continues exactly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epoch in progress (0-based) and the next step within it.
    pub epoch: usize,
    pub step_in_epoch: usize,
    /// Optimiser steps taken so far.
    pub global_step: usize,
    /// Best validation loss so far and the epoch it was reached (1-based count of epochs done).
    pub best_val_loss: Option<f32>,
    pub best_epoch: usize,
    /// Epochs in a row without validation improvement.
    pub epochs_without_improvement: usize,
    /// Partial sums of the epoch in progress.
    pub epoch_loss_sum: f64,
    pub epoch_loss_steps: usize,
    /// Training seconds so far (excluding validation).
    pub elapsed_secs: f64,
}

/// A loaded checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub tensors: TensorMap,
    pub state: TrainState,
}

const STATE_KEY: &str = "cellscope_state";

fn io_err(path: &Path, what: &str, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io(format!("{}: {what}: {e}", path.display()))
}

/// Writes tensors and state to `path` atomically; on error the old file stays untouched.
pub fn write_checkpoint(
    path: &Path,
    tensors: &[NamedTensor],
    state: &TrainState,
) -> Result<(), TrainError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            TensorView::new(Dtype::F32, shape.clone(), b).map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io_err(path, "cannot encode checkpoint", e))?;
    let meta = HashMap::from([(
        STATE_KEY.to_string(),
        serde_json::to_string(state).map_err(|e| io_err(path, "cannot encode state", e))?,
    )]);
    let encoded = safetensors::serialize(views, Some(meta))
        .map_err(|e| io_err(path, "cannot encode checkpoint", e))?;
    write_atomic(path, &encoded)
}

/// Writes `bytes` to a temp file beside `path`, syncs it and renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(path, "cannot write (previous version kept)", e)
    })
}

/// Reads a checkpoint written by [`write_checkpoint`].
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, "cannot read checkpoint", e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| io_err(path, "not a safetensors checkpoint", e))?;
    let state = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(STATE_KEY))
        .map(|s| serde_json::from_str(s))
        .transpose()
        .map_err(|e| io_err(path, "bad training state", e))?
        .unwrap_or_default();
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| io_err(path, "not a safetensors checkpoint", e))?;
    let mut tensors = TensorMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(io_err(
                path,
                "unsupported dtype",
                format!("{name}: {:?}", view.dtype()),
            ));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok(Checkpoint { tensors, state })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.safetensors");
        let state = TrainState {
            epoch: 2,
            global_step: 17,
            best_val_loss: Some(0.5),
            ..TrainState::default()
        };
        let t = vec![(
            "a.weight".to_string(),
            vec![2, 2],
            vec![1.0, -2.0, 3.5, 0.0],
        )];
        write_checkpoint(&path, &t, &state).unwrap();
        let back = read_checkpoint(&path).unwrap();
        assert_eq!(back.state, state);
        assert_eq!(
            back.tensors["a.weight"],
            (vec![2, 2], vec![1.0, -2.0, 3.5, 0.0])
        );
        // A write into a directory that vanished fails with a message and leaves nothing half-done.
        let gone = dir.path().join("missing").join("last.safetensors");
        let err = write_checkpoint(&gone, &t, &state).unwrap_err().to_string();
        assert!(err.contains("previous version kept"), "{err}");
        assert_eq!(read_checkpoint(&path).unwrap().state, state);
    }

    /// Unmounts the test tmpfs even when an assertion fails.
    struct Mount(std::path::PathBuf);

    impl Drop for Mount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }

    #[test]
    fn a_full_disk_gives_a_clear_error_and_keeps_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a small tmpfs (needs root)");
            return;
        }
        let _guard = Mount(dir.path().to_path_buf());
        let path = dir.path().join("last.safetensors");
        let state = TrainState {
            epoch: 1,
            ..TrainState::default()
        };
        let small = vec![("w".to_string(), vec![4], vec![1.0, 2.0, 3.0, 4.0])];
        write_checkpoint(&path, &small, &state).unwrap();
        let big = vec![("w".to_string(), vec![50_000], vec![0.5; 50_000])];
        let later = TrainState {
            epoch: 2,
            ..TrainState::default()
        };
        let err = write_checkpoint(&path, &big, &later)
            .unwrap_err()
            .to_string();
        assert!(err.contains("previous version kept"), "{err}");
        assert!(err.contains("last.safetensors"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert_eq!(read_checkpoint(&path).unwrap().state, state);
        assert!(!path.with_extension("tmp").exists());
    }
}
