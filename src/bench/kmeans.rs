//! `cellscope bench kmeans`: k-means (k = 10, one k-means++ run) on 200,000 x 50 points, the
//! size scikit-learn is compared at; synthetic clusters, or a float32 `.npy` matrix from a file.

use ndarray::Array2;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

use crate::analysis::kmeans::{KMeansParams, kmeans};

/// Points and dimensions of the synthetic data.
pub const POINTS: usize = 200_000;
pub const DIMS: usize = 50;
/// Clusters fitted.
pub const K: usize = 10;

/// One timed fit.
#[derive(Debug, Clone, Serialize)]
pub struct KMeansTiming {
    pub points: usize,
    pub dims: usize,
    pub k: usize,
    /// Seconds of the fit (seeding and Lloyd iterations), best of the repetitions.
    pub seconds: f64,
    pub n_iter: usize,
    pub inertia: f64,
}

/// Reads a 2-D little-endian float32 C-order `.npy` file.
pub fn read_npy_f32(path: &Path) -> anyhow::Result<Array2<f32>> {
    let bytes = std::fs::read(path)?;
    let bad = || anyhow::anyhow!("{}: not a 2-D float32 C-order .npy file", path.display());
    anyhow::ensure!(bytes.starts_with(b"\x93NUMPY") && bytes.len() > 10, bad());
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| bad())?) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(bytes.get(start..start + header_len).ok_or_else(bad)?)?;
    anyhow::ensure!(
        header.contains("'<f4'") && header.contains("'fortran_order': False"),
        bad()
    );
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(bad)?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    anyhow::ensure!(dims.len() == 2, bad());
    let data = &bytes[start + header_len..];
    anyhow::ensure!(data.len() == dims[0] * dims[1] * 4, bad());
    let values = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Array2::from_shape_vec((dims[0], dims[1]), values)?)
}

/// Fits k-means `reps` times on `x` (or the synthetic clusters) and keeps the fastest fit.
pub fn measure(file: Option<&Path>, reps: usize) -> anyhow::Result<KMeansTiming> {
    let x = match file {
        Some(path) => read_npy_f32(path)?,
        None => crate::bench::analysis::clustered_embedding(POINTS, DIMS, K, 0).0,
    };
    let params = KMeansParams {
        n_init: 1,
        ..KMeansParams::new(K, 0)
    };
    let mut best: Option<KMeansTiming> = None;
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        let fit = kmeans(x.view(), params)?;
        let seconds = start.elapsed().as_secs_f64();
        if best.as_ref().is_none_or(|b| seconds < b.seconds) {
            best = Some(KMeansTiming {
                points: x.nrows(),
                dims: x.ncols(),
                k: K,
                seconds,
                n_iter: fit.n_iter,
                inertia: fit.inertia,
            });
        }
    }
    Ok(best.expect("at least one repetition"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_float32_npy_written_by_numpy_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header.as_bytes());
        for v in [1f32, 2., 3., 4., 5., 6.] {
            bytes.extend(v.to_le_bytes());
        }
        std::fs::write(&path, &bytes).unwrap();
        let x = read_npy_f32(&path).unwrap();
        assert_eq!(x.dim(), (2, 3));
        assert_eq!(x[[1, 2]], 6.0);
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        assert!(read_npy_f32(&path).is_err());
    }
}
