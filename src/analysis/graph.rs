//! The weighted cell-cell graph for clustering: a symmetric sparse adjacency built from the kNN
//! with UMAP's fuzzy connectivities (scanpy's `pp.neighbors` default weighting).

use super::knn::Neighbours;

/// An undirected weighted graph in CSR form (each edge stored in both directions).
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub weights: Vec<f64>,
}

impl Graph {
    /// Builds a symmetric graph from undirected edges (i, j, w); duplicates are summed,
    /// self-loops are kept once.
    pub fn from_edges(n: usize, edges: &[(u32, u32, f64)]) -> Self {
        let mut adj: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
        for &(i, j, w) in edges {
            adj[i as usize].push((j, w));
            if i != j {
                adj[j as usize].push((i, w));
            }
        }
        Self::from_adjacency(adj)
    }

    fn from_adjacency(mut adj: Vec<Vec<(u32, f64)>>) -> Self {
        let mut indptr = vec![0];
        let (mut indices, mut weights) = (Vec::new(), Vec::new());
        for list in &mut adj {
            list.sort_by_key(|e| e.0);
            for &(j, w) in list.iter() {
                if indices.len() > *indptr.last().unwrap() && *indices.last().unwrap() == j {
                    *weights.last_mut().unwrap() += w;
                } else {
                    indices.push(j);
                    weights.push(w);
                }
            }
            indptr.push(indices.len());
        }
        Self {
            indptr,
            indices,
            weights,
        }
    }

    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Neighbours and edge weights of node `i`.
    pub fn neighbours(&self, i: usize) -> (&[u32], &[f64]) {
        let span = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[span.clone()], &self.weights[span])
    }
}

/// UMAP fuzzy-set weights of a kNN (self excluded), symmetrised as a + b - a*b: per cell,
/// w = exp(-(d - rho) / sigma) with rho the nearest distance and sigma set so the weights sum
/// to log2(k + 1) (UMAP's target with the cell itself counted among its k + 1 neighbours).
pub fn umap_connectivities(nn: &Neighbours) -> Graph {
    let n = nn.n_query();
    let target = ((nn.k + 1) as f64).log2();
    let mut directed: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
    for (i, out) in directed.iter_mut().enumerate() {
        let (idx, dist) = nn.row(i);
        let rho = dist.iter().copied().find(|&d| d > 0.0).unwrap_or(0.0) as f64;
        let sigma = fit_sigma(dist, rho, target);
        for (&j, &d) in idx.iter().zip(dist) {
            let w = (-(f64::from(d) - rho).max(0.0) / sigma).exp();
            if j as usize != i {
                out.push((j, w));
            }
        }
    }
    // Symmetrise: w_ij + w_ji - w_ij * w_ji over the union of directed edges.
    let mut undirected: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
    let lookup = |from: usize, to: u32| {
        directed[from]
            .iter()
            .find(|e| e.0 == to)
            .map_or(0.0, |e| e.1)
    };
    for (i, out) in directed.iter().enumerate() {
        for &(j, a) in out {
            let b = lookup(j as usize, i as u32);
            // Each pair once: from the smaller index, or from i when j has no edge back.
            if b == 0.0 || (i as u32) < j {
                let w = a + b - a * b;
                undirected[i].push((j, w));
                undirected[j as usize].push((i as u32, w));
            }
        }
    }
    Graph::from_adjacency(undirected)
}

/// Binary search of sigma so that sum_j exp(-max(0, d_j - rho) / sigma) = target.
fn fit_sigma(dist: &[f32], rho: f64, target: f64) -> f64 {
    let (mut lo, mut hi, mut mid) = (0.0f64, f64::INFINITY, 1.0f64);
    for _ in 0..64 {
        let sum: f64 = dist
            .iter()
            .map(|&d| (-(f64::from(d) - rho).max(0.0) / mid).exp())
            .sum();
        if (sum - target).abs() < 1e-5 {
            break;
        }
        if sum > target {
            hi = mid;
            mid = (lo + hi) / 2.0;
        } else {
            lo = mid;
            mid = if hi.is_finite() {
                (lo + hi) / 2.0
            } else {
                mid * 2.0
            };
        }
    }
    // UMAP's floor keeps sigma away from zero for cells whose neighbours are all at rho.
    let mean: f64 = dist.iter().map(|&d| f64::from(d)).sum::<f64>() / dist.len().max(1) as f64;
    mid.max(1e-3 * mean).max(1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::{knn_self, tests::random_points};

    #[test]
    fn connectivities_are_symmetric_in_unit_range_without_self_loops() {
        let x = random_points(120, 5, 9);
        let g = umap_connectivities(&knn_self(x.view(), 10));
        for i in 0..g.n_nodes() {
            let (idx, w) = g.neighbours(i);
            for (&j, &wij) in idx.iter().zip(w) {
                assert_ne!(j as usize, i);
                assert!(wij > 0.0 && wij <= 1.0 + 1e-12);
                let (back, bw) = g.neighbours(j as usize);
                let pos = back
                    .iter()
                    .position(|&b| b as usize == i)
                    .expect("symmetric");
                assert!((bw[pos] - wij).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn duplicate_edges_are_summed() {
        let g = Graph::from_edges(3, &[(0, 1, 1.0), (1, 0, 2.0), (2, 2, 0.5)]);
        assert_eq!(g.neighbours(0), (&[1u32][..], &[3.0][..]));
        assert_eq!(g.neighbours(2), (&[2u32][..], &[0.5][..]));
    }
}
