//! Synthetic single-cell data for benchmarks and tests: Poisson-Gamma (negative-binomial) counts
//! from latent cell types, then normalize_total + log1p. Real data stays the measure of quality.

use rand::Rng;
use rand_distr::{Distribution, Gamma, LogNormal, Poisson};
use rayon::prelude::*;

use crate::data::CsrMatrix;

/// Log-normalised expression (`ln(1 + 1e4 * count / total)`) of `n_cells` NB-count cells of
/// `n_types` types over `n_genes` genes, with per-cell type labels; about 10% non-zeros.
pub fn log_normalised_cells(
    n_cells: usize,
    n_genes: usize,
    n_types: usize,
    seed: u64,
) -> (CsrMatrix, Vec<usize>) {
    let n_types = n_types.max(1);
    let mut rng = seeded(seed, u64::MAX);
    let base = LogNormal::new(-2.9, 1.2).expect("valid log-normal");
    let shift = LogNormal::new(0.0, 0.8).expect("valid log-normal");
    let profiles: Vec<Vec<f64>> = (0..n_types)
        .map(|_| {
            (0..n_genes)
                .map(|_| f64::min(base.sample(&mut rng), 20.0) * shift.sample(&mut rng))
                .collect()
        })
        .collect();
    let rows: Vec<(usize, Vec<u32>, Vec<f32>)> = (0..n_cells)
        .into_par_iter()
        .map(|i| {
            let mut rng = seeded(seed, i as u64);
            let t = rng.random_range(0..n_types);
            let size: f64 = rng.random_range(0.5..2.0);
            let mut idx = Vec::new();
            let mut counts = Vec::new();
            for (j, &mu) in profiles[t].iter().enumerate() {
                // NB(mean mu * size, dispersion 2) as a Gamma-Poisson mixture.
                let lambda = Gamma::new(2.0, mu * size / 2.0).map_or(0.0, |g| g.sample(&mut rng));
                let c = if lambda > 0.0 {
                    Poisson::new(lambda).map_or(0.0, |p| p.sample(&mut rng))
                } else {
                    0.0
                };
                if c > 0.0 {
                    idx.push(j as u32);
                    counts.push(c);
                }
            }
            let total: f64 = counts.iter().sum::<f64>().max(1.0);
            let vals = counts
                .iter()
                .map(|c| (c / total * 1e4).ln_1p() as f32)
                .collect();
            (t, idx, vals)
        })
        .collect();
    let mut indptr = vec![0];
    let (mut indices, mut data, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for (t, idx, vals) in rows {
        labels.push(t);
        indices.extend(idx);
        data.extend(vals);
        indptr.push(data.len());
    }
    let x = CsrMatrix::new(n_cells, n_genes, indptr, indices, data)
        .expect("consistent by construction");
    (x, labels)
}

fn seeded(seed: u64, stream: u64) -> rand::rngs::SmallRng {
    use rand::SeedableRng;
    rand::rngs::SmallRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_cells_are_sparse_log_normalised_and_seeded() {
        let (x, labels) = log_normalised_cells(200, 300, 4, 1);
        let density = x.nnz() as f64 / (200.0 * 300.0);
        assert!((0.03..0.3).contains(&density), "density {density}");
        assert!(x.data.iter().all(|v| *v > 0.0 && *v < 10.0));
        assert!(labels.iter().all(|&t| t < 4));
        assert_eq!(log_normalised_cells(200, 300, 4, 1).0, x);
    }
}
