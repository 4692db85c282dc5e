//! k-means clustering: k-means++ seeding and Lloyd iterations whose assignment step takes all
//! row-centroid products in one gemm (Gram trick); seedable, best of `n_init` runs by inertia.

use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::AnalysisError;
use crate::model::matmul::{Operand, matmul};

/// Settings of a k-means run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    /// Independent seedings; the run with the lowest inertia is kept.
    pub n_init: usize,
    pub max_iter: usize,
    /// Stop when the inertia improves by less than this fraction.
    pub tol: f64,
    pub seed: u64,
}

impl KMeansParams {
    /// `k` clusters with defaults: 3 runs, at most 100 iterations, tolerance 1e-6.
    pub fn new(k: usize, seed: u64) -> Self {
        Self {
            k,
            n_init: 3,
            max_iter: 100,
            tol: 1e-6,
            seed,
        }
    }
}

/// The result of k-means.
#[derive(Debug, Clone)]
pub struct KMeansFit {
    /// Cluster of each row, 0..k.
    pub labels: Vec<usize>,
    /// Centroids (k x d).
    pub centroids: Array2<f32>,
    /// Sum of squared distances of rows to their centroid.
    pub inertia: f64,
    /// Lloyd iterations of the kept run.
    pub n_iter: usize,
}

/// Clusters the rows of `x` into `params.k` groups.
pub fn kmeans(x: ArrayView2<f32>, params: KMeansParams) -> Result<KMeansFit, AnalysisError> {
    let n = x.nrows();
    if params.k == 0 || params.k > n {
        return Err(AnalysisError::Invalid(format!(
            "k-means with k = {} needs 1 <= k <= {n} (the number of cells)",
            params.k
        )));
    }
    let d = x.ncols().max(1);
    let standard = x.as_standard_layout();
    let values = standard.as_slice().expect("standard layout is contiguous");
    let mut best: Option<KMeansFit> = None;
    for run in 0..params.n_init.max(1) {
        let mut rng = StdRng::seed_from_u64(params.seed.wrapping_add(run as u64));
        let seeds = seed_plus_plus(values, d, params.k, &mut rng);
        let fit = lloyd(values, d, seeds, params);
        if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            best = Some(fit);
        }
    }
    Ok(best.expect("at least one run"))
}

/// Squared Euclidean distance of two rows, accumulated in f64.
fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&p, &q)| f64::from(p - q).powi(2))
        .sum()
}

/// Greedy k-means++ (as scikit-learn's): each next centre is the best, by the total squared
/// distance it leaves, of `2 + ln k` candidates drawn with probability proportional to the
/// squared distance to the centres so far.
fn seed_plus_plus(x: &[f32], d: usize, k: usize, rng: &mut StdRng) -> Array2<f32> {
    let n = x.len() / d;
    let row = |i: usize| &x[i * d..(i + 1) * d];
    // `out[i] = min(d2[i], |x_i - x_c|^2)`, into buffers reused across the candidates.
    let distances_to = |c: usize, d2: &[f64], out: &mut [f64]| {
        out.par_iter_mut()
            .zip(d2)
            .enumerate()
            .for_each(|(i, (o, &v))| *o = v.min(squared_distance(row(i), row(c))));
    };
    let mut chosen = vec![rng.random_range(0..n)];
    let (mut d2, mut next, mut best_next) = (vec![0f64; n], vec![0f64; n], vec![0f64; n]);
    distances_to(chosen[0], &vec![f64::INFINITY; n], &mut d2);
    let trials = 2 + (k as f64).ln() as usize;
    while chosen.len() < k {
        let total: f64 = d2.iter().sum();
        let mut best: Option<(f64, usize)> = None;
        for _ in 0..trials {
            let candidate = if total > 0.0 {
                let mut target = rng.random::<f64>() * total;
                d2.iter()
                    .position(|&d| {
                        target -= d;
                        target < 0.0
                    })
                    .unwrap_or(n - 1)
            } else {
                rng.random_range(0..n)
            };
            distances_to(candidate, &d2, &mut next);
            let potential: f64 = next.iter().sum();
            if best.is_none_or(|b| potential < b.0) {
                best = Some((potential, candidate));
                std::mem::swap(&mut next, &mut best_next);
            }
        }
        let (_, candidate) = best.expect("at least two trials");
        chosen.push(candidate);
        std::mem::swap(&mut d2, &mut best_next);
    }
    Array2::from_shape_fn((k, d), |(c, j)| x[chosen[c] * d + j])
}

/// Rows per parallel task of the assignment and update steps.
const ROW_BLOCK: usize = 4096;

/// The buffers of the Lloyd iterations, allocated once per fit rather than each iteration.
struct Buffers {
    labels: Vec<usize>,
    d2: Vec<f64>,
    /// x . c for every row and centroid (n x k).
    dots: Vec<f32>,
}

impl Buffers {
    fn new(n: usize, k: usize) -> Self {
        Self {
            labels: vec![0; n],
            d2: vec![0.0; n],
            dots: vec![0.0; n * k],
        }
    }
}

/// Nearest centroid of every row and its squared distance. Candidates come from the Gram trick
/// (|x|^2 - 2 x.c + |c|^2 with one gemm for all x.c); the distance to the chosen one is exact.
fn assign(x: &[f32], d: usize, centroids: &Array2<f32>, buffers: &mut Buffers) {
    let Buffers { labels, d2, dots } = buffers;
    let k = centroids.nrows();
    let c = centroids.as_slice().expect("centroids are contiguous");
    let norms: Vec<f32> = c
        .chunks_exact(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let n = x.len() / d;
    matmul(
        dots,
        (n, k, d),
        &Operand::rows(x, d),
        &Operand::transposed(c, d),
        false,
    );
    labels
        .par_chunks_mut(ROW_BLOCK)
        .zip(d2.par_chunks_mut(ROW_BLOCK))
        .enumerate()
        .for_each(|(b, (labels, d2))| {
            for (r, (label, dist)) in labels.iter_mut().zip(d2.iter_mut()).enumerate() {
                let i = b * ROW_BLOCK + r;
                let dot = &dots[i * k..(i + 1) * k];
                let mut best = (f32::INFINITY, 0);
                for (j, (&p, &q)) in dot.iter().zip(&norms).enumerate() {
                    let v = q - 2.0 * p;
                    if v < best.0 {
                        best = (v, j);
                    }
                }
                *label = best.1;
                *dist = squared_distance(&x[i * d..(i + 1) * d], &c[best.1 * d..(best.1 + 1) * d]);
            }
        });
}

/// Per-cluster sums (f64) and counts of the rows, in parallel blocks.
fn cluster_sums(x: &[f32], d: usize, k: usize, labels: &[usize]) -> (Vec<f64>, Vec<usize>) {
    let zero = || (vec![0f64; k * d], vec![0usize; k]);
    labels
        .par_chunks(ROW_BLOCK)
        .enumerate()
        .fold(zero, |(mut sums, mut counts), (b, labels)| {
            for (r, &c) in labels.iter().enumerate() {
                let i = b * ROW_BLOCK + r;
                counts[c] += 1;
                sums[c * d..(c + 1) * d]
                    .iter_mut()
                    .zip(&x[i * d..(i + 1) * d])
                    .for_each(|(s, &v)| *s += f64::from(v));
            }
            (sums, counts)
        })
        .reduce(zero, |(mut s1, mut c1), (s2, c2)| {
            s1.iter_mut().zip(s2).for_each(|(a, b)| *a += b);
            c1.iter_mut().zip(c2).for_each(|(a, b)| *a += b);
            (s1, c1)
        })
}

fn lloyd(x: &[f32], d: usize, mut centroids: Array2<f32>, params: KMeansParams) -> KMeansFit {
    let k = centroids.nrows();
    let n = x.len() / d;
    let mut buffers = Buffers::new(n, k);
    let mut previous = f64::INFINITY;
    let mut n_iter = 0;
    loop {
        assign(x, d, &centroids, &mut buffers);
        let inertia: f64 = buffers.d2.par_iter().sum();
        n_iter += 1;
        let converged = previous - inertia <= params.tol * inertia.max(f64::MIN_POSITIVE);
        if converged || n_iter >= params.max_iter {
            return KMeansFit {
                labels: buffers.labels,
                centroids,
                inertia,
                n_iter,
            };
        }
        previous = inertia;
        let Buffers { labels, d2, .. } = &buffers;
        let (sums, counts) = cluster_sums(x, d, k, labels);
        // An emptied cluster restarts at the cell farthest from its centroid (sorted only then).
        let mut far: Vec<usize> = Vec::new();
        if counts.contains(&0) {
            far = (0..n).collect();
            far.sort_by(|&a, &b| d2[b].total_cmp(&d2[a]));
        }
        let mut far = far.into_iter();
        for (c, mut centroid) in centroids.rows_mut().into_iter().enumerate() {
            if counts[c] == 0 {
                let i = far.next().expect("k <= n");
                centroid.assign(&ndarray::aview1(&x[i * d..(i + 1) * d]));
            } else {
                let sum = &sums[c * d..(c + 1) * d];
                centroid
                    .iter_mut()
                    .zip(sum)
                    .for_each(|(v, &s)| *v = (s / counts[c] as f64) as f32);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::metrics::adjusted_rand_score;
    use rand_distr::{Distribution, Normal};

    /// `n` points around `k` well-separated centres in `d` dimensions, with their true blob.
    pub(crate) fn blobs(n: usize, k: usize, d: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let noise = Normal::new(0.0f32, 1.0).unwrap();
        let centres = Array2::from_shape_fn((k, d), |_| rng.random_range(-10.0f32..10.0));
        let truth: Vec<usize> = (0..n).map(|i| i % k).collect();
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            centres[[truth[i], j]] + noise.sample(&mut rng)
        });
        (x, truth)
    }

    #[test]
    fn recovers_separated_blobs_and_repeats_with_a_seed() {
        let (x, truth) = blobs(600, 5, 16, 3);
        let fit = kmeans(x.view(), KMeansParams::new(5, 1)).unwrap();
        assert!(adjusted_rand_score(&truth, &fit.labels).unwrap() > 0.9);
        let again = kmeans(x.view(), KMeansParams::new(5, 1)).unwrap();
        assert_eq!(fit.labels, again.labels);
        assert!(kmeans(x.view(), KMeansParams::new(0, 1)).is_err());
        assert!(kmeans(x.view(), KMeansParams::new(601, 1)).is_err());
    }

    #[test]
    fn gram_trick_assignment_picks_the_exactly_nearest_centroid() {
        let (x, _) = blobs(3000, 6, 20, 9);
        let (n, d) = x.dim();
        let values = x.as_slice().unwrap();
        let centroids = Array2::from_shape_fn((6, d), |(c, j)| values[(c * 131) * d + j] + 0.5);
        // The reused product buffer holds the previous iteration's values: assign overwrites.
        let mut buffers = Buffers {
            dots: vec![f32::NAN; n * 6],
            ..Buffers::new(n, 6)
        };
        assign(values, d, &centroids, &mut buffers);
        let Buffers { labels, d2, .. } = buffers;
        let c = centroids.as_slice().unwrap();
        for i in 0..n {
            let row = &values[i * d..(i + 1) * d];
            let exact: Vec<f64> = (0..6)
                .map(|k| squared_distance(row, &c[k * d..(k + 1) * d]))
                .collect();
            let best = exact.iter().cloned().fold(f64::INFINITY, f64::min);
            assert!((d2[i] - exact[labels[i]]).abs() < 1e-9);
            assert!(exact[labels[i]] <= best * (1.0 + 1e-5) + 1e-6, "row {i}");
        }
    }
}
