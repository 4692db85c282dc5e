//! Masked-autoencoding pretext tasks, fused with batch densification: random gene masking,
//! gene-programme masking and isolated (GP-to-TF / GP-to-GP) masking.

use rand::{Rng, SeedableRng, rngs::SmallRng, seq::index};
use rayon::prelude::*;

use crate::data::CsrMatrix;
use crate::model::random::{fill_bernoulli, row_rng};

/// How the input of a batch is masked and which entries the loss covers.
#[derive(Debug, Clone)]
pub enum Pretext {
    /// Each gene of each cell is masked with probability `rate`; kept inputs are scaled by
    /// 1 / (1 - rate); the loss covers the masked entries.
    Random { rate: f32 },
    /// Per batch a `fraction` of the programmes is chosen and all their genes are zeroed in every
    /// cell (kept genes rescaled); the loss covers those genes.
    Programmes { sets: Vec<Vec<u32>>, fraction: f32 },
    /// Each cell keeps only one programme's genes (chosen at random); the loss covers all others.
    Isolated { sets: Vec<Vec<u32>> },
}

/// A dense masked batch: the model input, the clean target and the loss weights (1 = scored).
/// Buffers are reused from batch to batch.
#[derive(Debug, Clone, Default)]
pub struct MaskedBatch {
    pub rows: usize,
    pub cols: usize,
    pub input: Vec<f32>,
    pub target: Vec<f32>,
    pub weight: Vec<f32>,
    /// Number of scored entries (the sum of `weight`).
    pub n_scored: f64,
}

impl MaskedBatch {
    fn resize(&mut self, rows: usize, cols: usize) {
        self.rows = rows;
        self.cols = cols;
        for buf in [&mut self.input, &mut self.target, &mut self.weight] {
            buf.resize(rows * cols, 0.0);
        }
    }
}

/// Writes row `i` of `x` densely into `dst` (length `x.n_cols`).
fn densify_row(x: &CsrMatrix, i: usize, dst: &mut [f32]) {
    dst.fill(0.0);
    let (idx, val) = x.row(i);
    for (&j, &v) in idx.iter().zip(val) {
        dst[j as usize] = v;
    }
}

impl Pretext {
    /// Densifies `rows` of `x` and masks them with the draw identified by `seed`.
    pub fn fill(&self, x: &CsrMatrix, rows: &[usize], seed: u64, out: &mut MaskedBatch) {
        let g = x.n_cols;
        out.resize(rows.len(), g);
        let gene_mask = match self {
            Pretext::Programmes { sets, fraction } => {
                Some(programme_gene_mask(sets, *fraction, g, seed))
            }
            _ => None,
        };
        let counts: Vec<f64> = out
            .input
            .par_chunks_mut(g.max(1))
            .zip(out.target.par_chunks_mut(g.max(1)))
            .zip(out.weight.par_chunks_mut(g.max(1)))
            .enumerate()
            .map(|(k, ((inp, tgt), w))| {
                densify_row(x, rows[k], tgt);
                let mut rng = row_rng(seed, k);
                match self {
                    Pretext::Random { rate } => {
                        let scale = 1.0 / (1.0 - rate);
                        fill_bernoulli(w, *rate, (1.0, 0.0), &mut rng);
                        for ((i, &t), &w) in inp.iter_mut().zip(&*tgt).zip(&*w) {
                            *i = t * scale * (1.0 - w);
                        }
                    }
                    Pretext::Programmes { .. } => {
                        let (mask, scale) = gene_mask.as_ref().expect("computed above");
                        for j in 0..g {
                            inp[j] = if mask[j] { 0.0 } else { tgt[j] * scale };
                            w[j] = f32::from(u8::from(mask[j]));
                        }
                    }
                    Pretext::Isolated { sets } => {
                        inp.fill(0.0);
                        w.fill(1.0);
                        if !sets.is_empty() {
                            for &j in &sets[rng.random_range(0..sets.len())] {
                                inp[j as usize] = tgt[j as usize];
                                w[j as usize] = 0.0;
                            }
                        }
                    }
                }
                w.iter().map(|&v| f64::from(v)).sum::<f64>()
            })
            .collect();
        out.n_scored = counts.iter().sum();
    }
}

/// Chooses `fraction` of the programmes (at least one) and returns which genes they cover,
/// with the rescale factor for the kept genes (genes / kept genes).
pub fn programme_gene_mask(
    sets: &[Vec<u32>],
    fraction: f32,
    n_genes: usize,
    seed: u64,
) -> (Vec<bool>, f32) {
    let mut mask = vec![false; n_genes];
    if sets.is_empty() {
        return (mask, 1.0);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let k = ((fraction * sets.len() as f32).round() as usize).clamp(1, sets.len());
    for s in index::sample(&mut rng, sets.len(), k) {
        for &j in &sets[s] {
            mask[j as usize] = true;
        }
    }
    let kept = mask.iter().filter(|m| !**m).count().max(1);
    (mask, n_genes as f32 / kept as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ones(rows: usize, cols: usize) -> CsrMatrix {
        CsrMatrix::from_dense(rows, cols, &vec![2.0; rows * cols])
    }

    #[test]
    fn random_mask_rate_is_respected_and_kept_inputs_are_rescaled() {
        let x = ones(200, 500);
        let rows: Vec<usize> = (0..200).collect();
        let mut b = MaskedBatch::default();
        Pretext::Random { rate: 0.3 }.fill(&x, &rows, 7, &mut b);
        let rate = b.n_scored / (200.0 * 500.0);
        assert!((rate - 0.3).abs() < 0.01, "mask rate {rate}");
        for i in 0..b.input.len() {
            let expect = if b.weight[i] == 1.0 { 0.0 } else { 2.0 / 0.7 };
            assert!((b.input[i] - expect).abs() < 1e-6);
            assert_eq!(b.target[i], 2.0);
        }
    }

    #[test]
    fn programme_masking_zeroes_exactly_the_chosen_programmes_genes_in_every_cell() {
        let x = ones(5, 10);
        let sets = vec![vec![0, 1], vec![2, 3, 4], vec![7], vec![8, 9]];
        let pretext = Pretext::Programmes {
            sets: sets.clone(),
            fraction: 0.5,
        };
        let mut b = MaskedBatch::default();
        pretext.fill(&x, &[0, 1, 2, 3, 4], 11, &mut b);
        let (mask, _) = programme_gene_mask(&sets, 0.5, 10, 11);
        let chosen: Vec<&Vec<u32>> = sets.iter().filter(|s| mask[s[0] as usize]).collect();
        assert_eq!(chosen.len(), 2, "half of four programmes");
        let expected: Vec<bool> = (0..10u32)
            .map(|j| chosen.iter().any(|s| s.contains(&j)))
            .collect();
        // Kept genes are scaled by genes / kept genes, so a cell's total input is unchanged.
        let kept = expected.iter().filter(|c| !**c).count();
        let scaled = 2.0 * 10.0 / kept as f32;
        for row in 0..5 {
            for (j, &chosen) in expected.iter().enumerate() {
                let i = row * 10 + j;
                let want = if chosen { 0.0 } else { scaled };
                assert!((b.input[i] - want).abs() < 1e-6, "row {row} gene {j}");
                assert_eq!(b.weight[i] == 1.0, chosen);
                assert_eq!(b.target[i], 2.0);
            }
            let total: f32 = b.input[row * 10..][..10].iter().sum();
            assert!((total - 20.0).abs() < 1e-4, "row {row} total {total}");
        }
    }

    #[test]
    fn isolated_masking_keeps_one_set_per_cell_unscaled_and_scores_the_rest() {
        let (rows, cols) = (60, 8);
        let dense: Vec<f32> = (0..rows * cols).map(|i| 1.0 + i as f32).collect();
        let x = CsrMatrix::from_dense(rows, cols, &dense);
        let sets = vec![vec![1, 2], vec![4], vec![5, 6, 7]];
        let mut b = MaskedBatch::default();
        let all: Vec<usize> = (0..rows).collect();
        Pretext::Isolated { sets: sets.clone() }.fill(&x, &all, 3, &mut b);
        let mut drawn = [0usize; 3];
        for r in 0..rows {
            let (inp, w) = (&b.input[r * cols..][..cols], &b.weight[r * cols..][..cols]);
            let kept: Vec<u32> = (0..cols as u32).filter(|&j| w[j as usize] == 0.0).collect();
            let k = sets
                .iter()
                .position(|s| *s == kept)
                .unwrap_or_else(|| panic!("row {r} keeps genes {kept:?}, not one programme"));
            drawn[k] += 1;
            for j in 0..cols {
                let want = if w[j] == 0.0 {
                    dense[r * cols + j]
                } else {
                    0.0
                };
                assert_eq!(inp[j], want, "row {r} gene {j}");
            }
        }
        assert!(
            drawn.iter().all(|&n| n > 5),
            "each programme drawn: {drawn:?}"
        );
        let scored = rows * cols
            - drawn
                .iter()
                .zip(&sets)
                .map(|(n, s)| n * s.len())
                .sum::<usize>();
        assert_eq!(b.n_scored, scored as f64);
    }
}
