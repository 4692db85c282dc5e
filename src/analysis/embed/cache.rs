//! The embedding cache in the run directory: one f32 tensor (cells x latent) as safetensors,
//! valid while it is newer than the checkpoint it was computed from.

use std::path::Path;

use ndarray::{Array2, ArrayView2};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// File in the run directory caching the embedding of the run's dataset.
pub const EMBEDDING_CACHE: &str = "embedding.safetensors";
/// Name of the tensor inside the cache.
const TENSOR: &str = "embedding";

/// Reads a cached embedding unless it is missing, malformed or older than `checkpoint`.
pub fn read_cache(cache: &Path, checkpoint: &Path) -> Option<Array2<f32>> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(cache)? < modified(checkpoint)? {
        return None;
    }
    let bytes = std::fs::read(cache).ok()?;
    let tensors = SafeTensors::deserialize(&bytes).ok()?;
    let view = tensors.tensor(TENSOR).ok()?;
    let (Dtype::F32, &[n, d]) = (view.dtype(), view.shape()) else {
        return None;
    };
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Array2::from_shape_vec((n, d), values).ok()
}

/// Writes the embedding cache atomically (cells x latent, f32 little-endian).
pub fn write_cache(cache: &Path, z: ArrayView2<f32>) -> anyhow::Result<()> {
    let bytes: Vec<u8> = z.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, vec![z.nrows(), z.ncols()], &bytes)?;
    let encoded = safetensors::serialize([(TENSOR, view)], None)?;
    crate::train::checkpoint::write_atomic(cache, &encoded)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::tests::random_points;

    #[test]
    fn the_cache_round_trips_and_is_stale_when_the_checkpoint_is_newer() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, ckpt) = (dir.path().join(EMBEDDING_CACHE), dir.path().join("c"));
        std::fs::write(&ckpt, b"x").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let z = random_points(7, 3, 1);
        write_cache(&cache, z.view()).unwrap();
        let bytes = std::fs::read(&cache).unwrap();
        let stored = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(stored.tensor(TENSOR).unwrap().shape(), [7, 3]);
        assert_eq!(read_cache(&cache, &ckpt), Some(z));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&ckpt, b"y").unwrap();
        assert_eq!(read_cache(&cache, &ckpt), None);
    }

    #[test]
    fn a_file_that_is_not_safetensors_is_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, ckpt) = (dir.path().join(EMBEDDING_CACHE), dir.path().join("c"));
        std::fs::write(&ckpt, b"x").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&cache, b"CSEMB01\n\x07\0\0\0\0\0\0\0").unwrap();
        assert_eq!(read_cache(&cache, &ckpt), None);
    }
}
