//! 2-D views of an embedding: plain PCA, and a neighbour-preserving Barnes-Hut t-SNE with sparse
//! kNN affinities (perplexity 30 on 3 x perplexity exact neighbours), parallel with rayon.
//!
//! Why our own t-SNE: linfa-tsne runs single-threaded with dense affinities (10 s for 2,000
//! points here), and no maintained UMAP/t-SNE crate builds against ndarray 0.16 without a second
//! ndarray. This one follows van der Maaten's Barnes-Hut t-SNE (2014) with openTSNE-style
//! defaults: PCA initialisation scaled to std 1e-4, early exaggeration 12 for 250 iterations,
//! learning rate max(N / 12 / 4, 50) with gains and momentum. It lays out at most `max_cells`
//! cells sampled with the seed; every other cell goes to the mean position of its 5 nearest laid-out
//! cells (in the embedding). Each cell's forces are summed in a fixed order, so a seed repeats exactly.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::AnalysisError;
use super::knn::{knn, knn_self, select_rows, subsample_indices};
use super::pca::pca_dense;

/// Settings of the t-SNE layout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TsneParams {
    pub perplexity: f64,
    /// Most cells optimised; the others are placed by their neighbours.
    pub max_cells: usize,
    /// Total iterations, the first 250 (at most) with early exaggeration.
    pub n_iter: usize,
    /// Barnes-Hut accuracy: a tree cell is summarised when its width / distance < theta.
    pub theta: f64,
    pub seed: u64,
}

impl TsneParams {
    /// Perplexity 30, 750 iterations, theta 0.5.
    pub fn new(max_cells: usize, seed: u64) -> Self {
        Self {
            perplexity: 30.0,
            max_cells,
            n_iter: 750,
            theta: 0.5,
            seed,
        }
    }
}

const EXAGGERATION: f64 = 12.0;
const EXAGGERATION_ITERS: usize = 250;
/// Laid-out neighbours whose mean places a cell outside the subsample.
const PLACE_K: usize = 5;

/// The first two principal components of the rows.
pub fn pca_2d(x: ArrayView2<f32>) -> Result<Array2<f32>, AnalysisError> {
    Ok(pca_dense(x, 2)?.scores)
}

/// A 2-D t-SNE layout of every row of `x` (n x 2).
pub fn tsne(x: ArrayView2<f32>, params: TsneParams) -> Result<Array2<f32>, AnalysisError> {
    let n = x.nrows();
    if n < 4 || x.ncols() < 2 {
        return Err(AnalysisError::TooFew {
            what: "cells (or dimensions) for a 2-D layout",
            got: n.min(x.ncols()),
            need: 4,
        });
    }
    let sample = subsample_indices(n, params.max_cells.max(4), params.seed);
    let xs = select_rows(x, &sample);
    let laid = optimise(xs.view(), params)?;
    if sample.len() == n {
        return Ok(laid);
    }
    let mut out = Array2::<f32>::zeros((n, 2));
    let mut in_sample = vec![None; n];
    for (s, &i) in sample.iter().enumerate() {
        in_sample[i] = Some(s);
        out.row_mut(i).assign(&laid.row(s));
    }
    let rest: Vec<usize> = (0..n).filter(|&i| in_sample[i].is_none()).collect();
    let nn = knn(select_rows(x, &rest).view(), xs.view(), PLACE_K);
    for (q, &i) in rest.iter().enumerate() {
        let idx = nn.row(q).0;
        let mean = laid.select(
            Axis(0),
            &idx.iter().map(|&j| j as usize).collect::<Vec<_>>(),
        );
        out.row_mut(i)
            .assign(&mean.mean_axis(Axis(0)).expect("k > 0"));
    }
    Ok(out)
}

/// Symmetric sparse affinities P (row-major CSR; sums to 1) from the kNN at the perplexity.
fn affinities(x: ArrayView2<f32>, perplexity: f64) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    let n = x.nrows();
    let k = ((3.0 * perplexity) as usize).clamp(1, n - 1);
    let nn = knn_self(x, k);
    let target = perplexity.min(k as f64).ln();
    let conditional: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let d: Vec<f64> = nn.row(i).1.iter().map(|&v| f64::from(v).powi(2)).collect();
            let d0 = d[0];
            let (mut lo, mut hi, mut beta) = (0.0f64, f64::INFINITY, 1.0f64);
            let mut p = vec![0.0; d.len()];
            for _ in 0..100 {
                p.iter_mut()
                    .zip(&d)
                    .for_each(|(p, &dj)| *p = (-beta * (dj - d0)).exp());
                let sum: f64 = p.iter().sum();
                let h = sum.ln()
                    + beta * p.iter().zip(&d).map(|(p, dj)| p * (dj - d0)).sum::<f64>() / sum;
                if (h - target).abs() < 1e-5 {
                    break;
                }
                if h > target {
                    lo = beta;
                    beta = if hi.is_finite() {
                        (beta + hi) / 2.0
                    } else {
                        beta * 2.0
                    };
                } else {
                    hi = beta;
                    beta = (beta + lo) / 2.0;
                }
            }
            let sum: f64 = p.iter().sum();
            p.iter().map(|v| v / sum).collect()
        })
        .collect();
    let mut edges = Vec::with_capacity(n * k);
    for (i, p) in conditional.iter().enumerate() {
        for (&j, &pj) in nn.row(i).0.iter().zip(p) {
            edges.push((i as u32, j, pj / (2.0 * n as f64)));
        }
    }
    let g = super::graph::Graph::from_edges(n, &edges);
    (g.indptr, g.indices, g.weights)
}

fn optimise(x: ArrayView2<f32>, params: TsneParams) -> Result<Array2<f32>, AnalysisError> {
    let n = x.nrows();
    let (indptr, indices, p) = affinities(x, params.perplexity);
    let init = pca_2d(x)?;
    let std = init
        .column(0)
        .mapv(f64::from)
        .std(0.0)
        .max(f64::MIN_POSITIVE);
    let mut y: Vec<[f64; 2]> = init
        .rows()
        .into_iter()
        .map(|r| [f64::from(r[0]) / std * 1e-4, f64::from(r[1]) / std * 1e-4])
        .collect();
    let lr = (n as f64 / EXAGGERATION / 4.0).max(50.0);
    let mut update = vec![[0.0f64; 2]; n];
    let mut gains = vec![[1.0f64; 2]; n];
    for iter in 0..params.n_iter {
        let early = iter < EXAGGERATION_ITERS.min(params.n_iter / 3);
        let (exaggeration, momentum) = if early {
            (EXAGGERATION, 0.5)
        } else {
            (1.0, 0.8)
        };
        let tree = QuadTree::build(&y);
        let repulsion: Vec<([f64; 2], f64)> = (0..n)
            .into_par_iter()
            .map(|i| tree.repulsion(y[i], params.theta))
            .collect();
        let z: f64 = repulsion
            .iter()
            .map(|r| r.1)
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        let grads: Vec<[f64; 2]> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut attract = [0.0; 2];
                for e in indptr[i]..indptr[i + 1] {
                    let j = indices[e] as usize;
                    let (dx, dy) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
                    let w = p[e] / (1.0 + dx * dx + dy * dy);
                    attract[0] += w * dx;
                    attract[1] += w * dy;
                }
                let rep = repulsion[i].0;
                [
                    4.0 * (exaggeration * attract[0] - rep[0] / z),
                    4.0 * (exaggeration * attract[1] - rep[1] / z),
                ]
            })
            .collect();
        for i in 0..n {
            for d in 0..2 {
                let same_sign = (grads[i][d] > 0.0) == (update[i][d] > 0.0);
                gains[i][d] = if same_sign {
                    gains[i][d] * 0.8
                } else {
                    gains[i][d] + 0.2
                }
                .max(0.01);
                update[i][d] = momentum * update[i][d] - lr * gains[i][d] * grads[i][d];
                y[i][d] += update[i][d];
            }
        }
        let mean = y.iter().fold([0.0; 2], |m, p| [m[0] + p[0], m[1] + p[1]]);
        y.iter_mut().for_each(|p| {
            p[0] -= mean[0] / n as f64;
            p[1] -= mean[1] / n as f64;
        });
    }
    if y.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return Err(AnalysisError::Invalid(
            "t-SNE diverged (non-finite positions)".into(),
        ));
    }
    Ok(Array2::from_shape_fn((n, 2), |(i, d)| y[i][d] as f32))
}

/// A point-region quadtree over 2-D positions with each node's centre of mass.
struct QuadTree {
    nodes: Vec<QuadNode>,
}

struct QuadNode {
    /// Width of the square region.
    width: f64,
    com: [f64; 2],
    count: usize,
    /// Index of the first child (four consecutive nodes), or 0 for a leaf.
    children: usize,
}

/// Leaves stop splitting below this width (coincident points share a leaf).
const MIN_WIDTH: f64 = 1e-9;

impl QuadTree {
    fn build(points: &[[f64; 2]]) -> Self {
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in points {
            for d in 0..2 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        let width = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(MIN_WIDTH) * (1.0 + 1e-9);
        let mut tree = Self {
            nodes: Vec::with_capacity(points.len() * 2),
        };
        let mut idx: Vec<usize> = (0..points.len()).collect();
        tree.nodes.push(QuadNode {
            width,
            com: [0.0; 2],
            count: 0,
            children: 0,
        });
        tree.fill(0, lo, &mut idx, points);
        tree
    }

    fn fill(&mut self, node: usize, corner: [f64; 2], idx: &mut [usize], points: &[[f64; 2]]) {
        let count = idx.len();
        let com = idx
            .iter()
            .fold([0.0; 2], |c, &i| [c[0] + points[i][0], c[1] + points[i][1]]);
        self.nodes[node].count = count;
        self.nodes[node].com = [com[0] / count as f64, com[1] / count as f64];
        let width = self.nodes[node].width;
        if count <= 1 || width < MIN_WIDTH {
            return;
        }
        let half = width / 2.0;
        let mid = [corner[0] + half, corner[1] + half];
        let quadrant = |p: &[f64; 2]| usize::from(p[0] >= mid[0]) + 2 * usize::from(p[1] >= mid[1]);
        idx.sort_by_key(|&i| quadrant(&points[i]));
        let first = self.nodes.len();
        self.nodes[node].children = first;
        for _ in 0..4 {
            self.nodes.push(QuadNode {
                width: half,
                com: [0.0; 2],
                count: 0,
                children: 0,
            });
        }
        let mut start = 0;
        for q in 0..4 {
            let end = start
                + idx[start..]
                    .iter()
                    .take_while(|&&i| quadrant(&points[i]) == q)
                    .count();
            let c = [
                corner[0] + half * (q & 1) as f64,
                corner[1] + half * (q >> 1) as f64,
            ];
            if end > start {
                self.fill(first + q, c, &mut idx[start..end], points);
            }
            start = end;
        }
    }

    /// Unnormalised repulsive force on a point and its share of Z = sum over pairs of 1/(1+d^2).
    fn repulsion(&self, y: [f64; 2], theta: f64) -> ([f64; 2], f64) {
        let (mut force, mut z) = ([0.0; 2], 0.0);
        let mut stack = vec![0usize];
        while let Some(node) = stack.pop() {
            let nd = &self.nodes[node];
            if nd.count == 0 {
                continue;
            }
            let (dx, dy) = (y[0] - nd.com[0], y[1] - nd.com[1]);
            let d2 = dx * dx + dy * dy;
            if nd.children == 0 || nd.width * nd.width < theta * theta * d2 {
                if d2 == 0.0 {
                    // The point itself (and exact duplicates): no force; duplicates add to Z.
                    z += (nd.count - 1) as f64;
                    continue;
                }
                let w = 1.0 / (1.0 + d2);
                let m = nd.count as f64;
                z += m * w;
                force[0] += m * w * w * dx;
                force[1] += m * w * w * dy;
            } else {
                stack.extend(nd.children..nd.children + 4);
            }
        }
        (force, z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::kmeans::tests::blobs;
    use crate::analysis::knn::knn_predict;
    use crate::analysis::metrics::accuracy;

    #[test]
    fn layout_keeps_blobs_apart_repeats_and_places_the_rest() {
        let (x, truth) = blobs(400, 4, 12, 11);
        let params = TsneParams {
            n_iter: 200,
            ..TsneParams::new(250, 3)
        };
        let y = tsne(x.view(), params).unwrap();
        assert_eq!(y.dim(), (400, 2));
        // Neighbour preservation: 2-D kNN recovers the blob of held-out halves.
        let (a, b) = (
            y.slice(ndarray::s![..200, ..]),
            y.slice(ndarray::s![200.., ..]),
        );
        let pred = knn_predict(b, a, &truth[..200], 5);
        assert!(accuracy(&truth[200..], &pred).unwrap() > 0.97);
        assert_eq!(y, tsne(x.view(), params).unwrap());
    }

    #[test]
    fn tree_forces_match_the_exact_sum_at_theta_zero() {
        let pts: Vec<[f64; 2]> = (0..50)
            .map(|i| [(i as f64 * 0.37).sin(), (i as f64 * 1.3).cos()])
            .collect();
        let tree = QuadTree::build(&pts);
        let (f, z) = tree.repulsion(pts[7], 0.0);
        let (mut ef, mut ez) = ([0.0; 2], 0.0);
        for (_, p) in pts.iter().enumerate().filter(|(j, _)| *j != 7) {
            let (dx, dy) = (pts[7][0] - p[0], pts[7][1] - p[1]);
            let w = 1.0 / (1.0 + dx * dx + dy * dy);
            ez += w;
            ef[0] += w * w * dx;
            ef[1] += w * w * dy;
        }
        assert!(
            (z - ez).abs() < 1e-12 && (f[0] - ef[0]).abs() < 1e-12 && (f[1] - ef[1]).abs() < 1e-12
        );
    }
}
