//! Exact Euclidean k-nearest neighbours (blocked matrix products on rayon), kNN classification
//! and the helpers around them. Self-matches are excluded by index; no true neighbour is dropped.

use ndarray::{Array2, ArrayView2, Axis, linalg::general_mat_mul, s};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rayon::prelude::*;

/// Query rows handled per task, and reference rows per matrix product.
const QUERY_BLOCK: usize = 128;
const REF_BLOCK: usize = 2048;

/// The k nearest reference rows of each query row, nearest first (row-major `n_query x k`).
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    /// Neighbours per query (the requested k, capped at the number of candidates).
    pub k: usize,
    /// Reference row indices.
    pub indices: Vec<u32>,
    /// Euclidean distances, ascending within a row.
    pub distances: Vec<f32>,
}

impl Neighbours {
    /// Number of query rows.
    pub fn n_query(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    /// Indices and distances of query row `i`'s neighbours.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let span = i * self.k..(i + 1) * self.k;
        (&self.indices[span.clone()], &self.distances[span])
    }
}

/// The k nearest rows of `reference` for every row of `query` (disjoint sets: nothing excluded).
pub fn knn(query: ArrayView2<f32>, reference: ArrayView2<f32>, k: usize) -> Neighbours {
    search(query, reference, k, false)
}

/// The k nearest other rows of each row of `points`: the row itself is excluded by index, so an
/// exact duplicate of it still counts as a (distance 0) neighbour.
pub fn knn_self(points: ArrayView2<f32>, k: usize) -> Neighbours {
    search(points, points, k, true)
}

/// Majority vote of each query's neighbours; ties go to the tied label met first, i.e. the one
/// with the nearest member. `reference_labels` are indexed by the neighbours' reference rows.
pub fn knn_classify(neighbours: &Neighbours, reference_labels: &[usize]) -> Vec<usize> {
    let mut votes: Vec<(usize, usize)> = Vec::with_capacity(neighbours.k);
    (0..neighbours.n_query())
        .map(|q| {
            votes.clear();
            for &r in neighbours.row(q).0 {
                let label = reference_labels[r as usize];
                match votes.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, c)) => *c += 1,
                    None => votes.push((label, 1)),
                }
            }
            // max_by_key keeps the last maximum: scan reversed so the nearest-first tie wins.
            votes
                .iter()
                .rev()
                .max_by_key(|(_, c)| *c)
                .map_or(0, |(l, _)| *l)
        })
        .collect()
}

/// kNN prediction of query labels from a labelled reference (disjoint sets).
pub fn knn_predict(
    query: ArrayView2<f32>,
    reference: ArrayView2<f32>,
    reference_labels: &[usize],
    k: usize,
) -> Vec<usize> {
    knn_classify(&knn(query, reference, k), reference_labels)
}

/// `n_take` distinct indices of `0..n` chosen at random with `seed`, sorted (all when n_take >= n).
pub fn subsample_indices(n: usize, n_take: usize, seed: u64) -> Vec<usize> {
    if n_take >= n {
        return (0..n).collect();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut picked = sample(&mut rng, n, n_take).into_vec();
    picked.sort_unstable();
    picked
}

/// Copies the given rows of a matrix.
pub fn select_rows(x: ArrayView2<f32>, rows: &[usize]) -> Array2<f32> {
    x.select(Axis(0), rows)
}

fn squared_norms(x: ArrayView2<f32>) -> Vec<f32> {
    x.rows().into_iter().map(|r| r.dot(&r)).collect()
}

fn exact_distance(a: ndarray::ArrayView1<f32>, b: ndarray::ArrayView1<f32>) -> f32 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| {
            let d = f64::from(*x) - f64::from(*y);
            d * d
        })
        .sum::<f64>()
        .sqrt() as f32
}

/// Keeps the `k` smallest (score, index) pairs seen, sorted ascending.
struct TopK {
    k: usize,
    items: Vec<(f32, u32)>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn worst(&self) -> f32 {
        if self.items.len() < self.k {
            f32::INFINITY
        } else {
            self.items[self.k - 1].0
        }
    }

    fn push(&mut self, score: f32, index: u32) {
        let pos = self.items.partition_point(|&(s, _)| s <= score);
        self.items.insert(pos, (score, index));
        self.items.truncate(self.k);
    }
}

fn search(
    query: ArrayView2<f32>,
    reference: ArrayView2<f32>,
    k: usize,
    exclude_self: bool,
) -> Neighbours {
    assert_eq!(
        query.ncols(),
        reference.ncols(),
        "query and reference dimensions differ"
    );
    let candidates = reference.nrows().saturating_sub(usize::from(exclude_self));
    let k = k.min(candidates);
    let nq = query.nrows();
    if k == 0 {
        return Neighbours {
            k,
            indices: Vec::new(),
            distances: Vec::new(),
        };
    }
    let ref_norms = squared_norms(reference);
    let blocks: Vec<usize> = (0..nq).step_by(QUERY_BLOCK).collect();
    let per_block: Vec<(Vec<u32>, Vec<f32>)> = blocks
        .par_iter()
        .map(|&q0| {
            let q1 = (q0 + QUERY_BLOCK).min(nq);
            let qb = query.slice(s![q0..q1, ..]);
            let mut tops: Vec<TopK> = (q0..q1).map(|_| TopK::new(k)).collect();
            let mut dots = Array2::<f32>::zeros((q1 - q0, REF_BLOCK.min(reference.nrows())));
            for r0 in (0..reference.nrows()).step_by(REF_BLOCK) {
                let r1 = (r0 + REF_BLOCK).min(reference.nrows());
                let mut d = dots.slice_mut(s![.., ..r1 - r0]);
                general_mat_mul(1.0, &qb, &reference.slice(s![r0..r1, ..]).t(), 0.0, &mut d);
                for (bi, (row, top)) in d.axis_iter(Axis(0)).zip(tops.iter_mut()).enumerate() {
                    let qi = q0 + bi;
                    let mut worst = top.worst();
                    for (j, &dot) in row.iter().enumerate() {
                        let r = r0 + j;
                        // |q|^2 is the same for every candidate: rank by |r|^2 - 2 q.r.
                        let score = ref_norms[r] - 2.0 * dot;
                        if score < worst && !(exclude_self && r == qi) {
                            top.push(score, r as u32);
                            worst = top.worst();
                        }
                    }
                }
            }
            let mut idx = Vec::with_capacity((q1 - q0) * k);
            let mut dist = Vec::with_capacity((q1 - q0) * k);
            for (bi, top) in tops.iter().enumerate() {
                let qrow = query.row(q0 + bi);
                let mut exact: Vec<(f32, u32)> = top
                    .items
                    .iter()
                    .map(|&(_, r)| (exact_distance(qrow, reference.row(r as usize)), r))
                    .collect();
                exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                idx.extend(exact.iter().map(|e| e.1));
                dist.extend(exact.iter().map(|e| e.0));
            }
            (idx, dist)
        })
        .collect();
    let mut indices = Vec::with_capacity(nq * k);
    let mut distances = Vec::with_capacity(nq * k);
    for (i, d) in per_block {
        indices.extend(i);
        distances.extend(d);
    }
    Neighbours {
        k,
        indices,
        distances,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::Rng;

    /// Random points, seeded.
    pub(crate) fn random_points(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| rng.random::<f32>())
    }

    fn brute_force(
        q: ArrayView2<f32>,
        r: ArrayView2<f32>,
        k: usize,
        skip: Option<usize>,
    ) -> Vec<u32> {
        let mut all: Vec<(f32, u32)> = (0..r.nrows())
            .filter(|&j| Some(j) != skip)
            .map(|j| (exact_distance(q.row(0), r.row(j)), j as u32))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.iter().take(k).map(|x| x.1).collect()
    }

    #[test]
    fn matches_brute_force_across_blocks() {
        let r = random_points(REF_BLOCK + 300, 8, 1);
        let q = random_points(QUERY_BLOCK + 7, 8, 2);
        let nn = knn(q.view(), r.view(), 5);
        for i in [0, 50, QUERY_BLOCK + 3] {
            let want = brute_force(q.slice(s![i..i + 1, ..]), r.view(), 5, None);
            assert_eq!(nn.row(i).0, &want[..], "query {i}");
        }
    }

    #[test]
    fn self_search_excludes_the_point_but_keeps_its_true_nearest() {
        let mut p = random_points(200, 4, 3);
        // Row 1 duplicates row 0: each is the other's nearest neighbour at distance 0.
        let r0 = p.row(0).to_owned();
        p.row_mut(1).assign(&r0);
        let nn = knn_self(p.view(), 3);
        for i in 0..p.nrows() {
            assert!(!nn.row(i).0.contains(&(i as u32)), "self-match at {i}");
            let want = brute_force(p.slice(s![i..i + 1, ..]), p.view(), 3, Some(i));
            assert_eq!(nn.row(i).0, &want[..]);
        }
        assert_eq!((nn.row(0).0[0], nn.row(0).1[0]), (1, 0.0));
        assert_eq!((nn.row(1).0[0], nn.row(1).1[0]), (0, 0.0));
    }

    #[test]
    fn disjoint_query_keeps_its_nearest_reference() {
        let r = random_points(100, 3, 4);
        let q = r.slice(s![10..11, ..]).to_owned();
        // The query equals reference row 10: that row must be its first neighbour.
        assert_eq!(
            knn(q.view(), r.view(), 1).row(0),
            (&[10u32][..], &[0.0f32][..])
        );
    }

    #[test]
    fn vote_breaks_ties_towards_the_nearest() {
        let nn = Neighbours {
            k: 4,
            indices: vec![0, 1, 2, 3, 3, 2, 1, 0],
            distances: vec![0.0; 8],
        };
        let labels = [7, 8, 8, 7];
        assert_eq!(knn_classify(&nn, &labels), vec![7, 7]);
        let nn3 = Neighbours {
            k: 3,
            indices: vec![0, 1, 2],
            distances: vec![0.0; 3],
        };
        assert_eq!(knn_classify(&nn3, &labels), vec![8]);
    }

    #[test]
    fn k_is_capped_by_the_candidates() {
        let p = random_points(3, 2, 5);
        assert_eq!(knn_self(p.view(), 10).k, 2);
        assert_eq!(knn(p.view(), p.view(), 10).k, 3);
    }
}
