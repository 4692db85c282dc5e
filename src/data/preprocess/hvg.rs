//! Highly variable genes, scanpy's `flavor="seurat_v3"` (single batch): a loess fit of log
//! variance on log mean gives each gene's expected spread; clipped standardised variance ranks.

use super::GeneStat;
use super::loess::loess_fitted;
use super::scan::{Moments, RowBlocks, Whole};
use crate::data::{CsrMatrix, DataError};

/// scanpy's default loess span for seurat_v3.
pub const SPAN: f64 = 0.3;

/// Per-gene results of seurat_v3, as scanpy stores them in `var`.
#[derive(Debug, Clone, PartialEq)]
pub struct HvgScores {
    /// Mean count per gene.
    pub means: Vec<f64>,
    /// Variance per gene (ddof 1).
    pub variances: Vec<f64>,
    /// Variance of clipped, standardised counts (`variances_norm`).
    pub variances_norm: Vec<f64>,
}

/// Computes seurat_v3 statistics on a counts matrix (cells x genes).
pub fn seurat_v3_scores(counts: &CsrMatrix) -> Result<HvgScores, String> {
    let mut moments = Moments::new(counts.n_cols);
    moments.add(counts);
    match scores_from_blocks(&mut Whole(counts), &moments) {
        Ok(scores) => scores,
        Err(e) => Err(e.to_string()),
    }
}

/// seurat_v3 from the plain `moments` of all rows plus one more pass over `blocks` for the
/// clipped moments; the inner error is a failed loess fit.
fn scores_from_blocks(
    blocks: &mut dyn RowBlocks,
    moments: &Moments,
) -> Result<Result<HvgScores, String>, DataError> {
    let n = moments.n_rows() as f64;
    let stats: Vec<GeneStat> = moments.stats();
    let means: Vec<f64> = stats.iter().map(|s| s.mean).collect();
    let variances: Vec<f64> = stats.iter().map(|s| s.variance).collect();
    let varying: Vec<usize> = (0..variances.len())
        .filter(|&g| variances[g] > 0.0)
        .collect();
    let x: Vec<f64> = varying.iter().map(|&g| means[g].log10()).collect();
    let y: Vec<f64> = varying.iter().map(|&g| variances[g].log10()).collect();
    let fitted = match loess_fitted(&x, &y, SPAN) {
        Ok(f) => f,
        Err(why) => return Ok(Err(why)),
    };
    let mut log_expected = vec![0.0; means.len()];
    for (&g, f) in varying.iter().zip(fitted) {
        log_expected[g] = f;
    }
    let reg_std: Vec<f64> = log_expected.iter().map(|e| 10f64.powf(*e).sqrt()).collect();
    let clip: Vec<f64> = reg_std
        .iter()
        .zip(&means)
        .map(|(s, m)| s * n.sqrt() + m)
        .collect();
    let (mut sum, mut sum_sq) = (vec![0.0; means.len()], vec![0.0; means.len()]);
    blocks.for_each_block(&mut |_, counts| {
        for (&j, &v) in counts.indices.iter().zip(&counts.data) {
            let g = j as usize;
            let v = f64::from(v).min(clip[g]);
            sum[g] += v;
            sum_sq[g] += v * v;
        }
        Ok(())
    })?;
    let variances_norm = (0..means.len())
        .map(|g| {
            let m = means[g];
            (n * m * m + sum_sq[g] - 2.0 * sum[g] * m) / ((n - 1.0) * reg_std[g] * reg_std[g])
        })
        .collect();
    Ok(Ok(HvgScores {
        means,
        variances,
        variances_norm,
    }))
}

/// Gene indices ordered by decreasing normalised variance (rank 0 first).
pub fn rank_genes(scores: &HvgScores) -> Vec<usize> {
    let v = &scores.variances_norm;
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
    order
}

/// The `n_top` most variable genes by seurat_v3, most variable first. With too few varying
/// genes for the loess fit (fewer than 4 / span, where scanpy raises) genes rank by variance.
pub fn highly_variable_genes_seurat_v3(counts: &CsrMatrix, n_top: usize) -> Vec<usize> {
    let mut moments = Moments::new(counts.n_cols);
    moments.add(counts);
    // reading an in-memory matrix cannot fail
    top_genes_seurat_v3(&mut Whole(counts), &moments, n_top).unwrap_or_default()
}

/// [`highly_variable_genes_seurat_v3`] over row blocks whose plain `moments` are known (the
/// clipped moments take one more pass).
pub fn top_genes_seurat_v3(
    blocks: &mut dyn RowBlocks,
    moments: &Moments,
    n_top: usize,
) -> Result<Vec<usize>, DataError> {
    let scores = scores_from_blocks(blocks, moments)?.unwrap_or_else(|why| {
        tracing::warn!("seurat_v3 falls back to plain variance: {why}");
        let stats = moments.stats();
        HvgScores {
            means: stats.iter().map(|s| s.mean).collect(),
            variances: stats.iter().map(|s| s.variance).collect(),
            variances_norm: stats.iter().map(|s| s.variance).collect(),
        }
    });
    let mut order = rank_genes(&scores);
    order.truncate(n_top);
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_genes_get_finite_scores_and_rank_last() {
        let (n, g) = (40usize, 24usize);
        let mut dense = vec![0.0f32; n * g];
        for i in 0..n {
            for j in 0..g - 2 {
                dense[i * g + j] = ((i * 7 + j * 13) % (j + 3)) as f32;
            }
            dense[i * g + g - 2] = 5.0; // constant non-zero gene
            // gene g - 1 stays all zero
        }
        let counts = CsrMatrix::from_dense(n, g, &dense);
        let scores = seurat_v3_scores(&counts).unwrap();
        assert!(
            scores.variances_norm.iter().all(|v| v.is_finite()),
            "{:?}",
            scores.variances_norm
        );
        assert!(scores.variances_norm[g - 2].abs() < 1e-9);
        assert!(scores.variances_norm[g - 1].abs() < 1e-9);
        let top = highly_variable_genes_seurat_v3(&counts, g - 2);
        assert!(
            !top.contains(&(g - 2)) && !top.contains(&(g - 1)),
            "{top:?}"
        );
    }
}
