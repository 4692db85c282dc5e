//! Reproducible randomness for parallel kernels: every (seed, row) pair gets its own generator,
//! so masks and noise do not depend on how rayon splits the work.

use rand::{Rng, SeedableRng, rngs::SmallRng};
use rayon::prelude::*;

/// Mixes two numbers into a well-spread 64-bit seed (splitmix64 finaliser).
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator for one row of one draw.
pub fn row_rng(seed: u64, row: usize) -> SmallRng {
    SmallRng::seed_from_u64(mix(seed, row as u64))
}

/// An inverted-dropout mask: each entry is 0 with probability `rate`, else 1 / (1 - rate).
pub fn dropout_mask(rows: usize, cols: usize, rate: f32, seed: u64) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    fill_dropout_mask(&mut out, cols, rate, seed);
    out
}

/// Fills `out` (rows of `cols`) with an inverted-dropout mask, as [`dropout_mask`].
pub fn fill_dropout_mask(out: &mut [f32], cols: usize, rate: f32, seed: u64) {
    let keep = 1.0 - rate;
    out.par_chunks_mut(cols.max(1))
        .enumerate()
        .for_each(|(r, row)| fill_bernoulli(row, keep, (1.0 / keep, 0.0), &mut row_rng(seed, r)));
}

/// Resolution of the uniform draws of [`fill_bernoulli`]: 16 bits.
const BERNOULLI_STEPS: f64 = 65_536.0;

/// Sets each entry of `out` to `hit` with probability `p` (to the nearest 1/65,536) and to
/// `miss` otherwise: four 16-bit uniforms from each 64-bit draw of `rng`.
pub fn fill_bernoulli(out: &mut [f32], p: f32, (hit, miss): (f32, f32), rng: &mut impl Rng) {
    let threshold = (f64::from(p.clamp(0.0, 1.0)) * BERNOULLI_STEPS).round() as u64;
    for chunk in out.chunks_mut(4) {
        let bits = rng.next_u64();
        for (k, v) in chunk.iter_mut().enumerate() {
            *v = if (bits >> (16 * k)) & 0xFFFF < threshold {
                hit
            } else {
                miss
            };
        }
    }
}
