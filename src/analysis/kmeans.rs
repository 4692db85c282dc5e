//! k-means clustering: k-means++ seeding and Lloyd iterations whose assignment step is the
//! blocked nearest-centroid search of `knn`; seedable, best of `n_init` runs by inertia.

use ndarray::{Array2, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::AnalysisError;
use super::knn::knn;

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
    let mut best: Option<KMeansFit> = None;
    for run in 0..params.n_init.max(1) {
        let mut rng = StdRng::seed_from_u64(params.seed.wrapping_add(run as u64));
        let fit = lloyd(x, seed_plus_plus(x, params.k, &mut rng), params);
        if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            best = Some(fit);
        }
    }
    Ok(best.expect("at least one run"))
}

/// k-means++: each next centre drawn with probability proportional to squared distance.
fn seed_plus_plus(x: ArrayView2<f32>, k: usize, rng: &mut StdRng) -> Array2<f32> {
    let n = x.nrows();
    let mut chosen = vec![rng.random_range(0..n)];
    let sq = |i: usize, c: usize| {
        let d = &x.row(i) - &x.row(c);
        f64::from(d.dot(&d))
    };
    let mut d2: Vec<f64> = (0..n).map(|i| sq(i, chosen[0])).collect();
    while chosen.len() < k {
        let total: f64 = d2.iter().sum();
        let next = if total > 0.0 {
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
        chosen.push(next);
        for (i, d) in d2.iter_mut().enumerate() {
            *d = d.min(sq(i, next));
        }
    }
    x.select(Axis(0), &chosen)
}

fn lloyd(x: ArrayView2<f32>, mut centroids: Array2<f32>, params: KMeansParams) -> KMeansFit {
    let (k, d) = centroids.dim();
    let mut previous = f64::INFINITY;
    let mut n_iter = 0;
    loop {
        let nearest = knn(x, centroids.view(), 1);
        let labels: Vec<usize> = nearest.indices.iter().map(|&c| c as usize).collect();
        let inertia: f64 = nearest
            .distances
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum();
        n_iter += 1;
        let converged = previous - inertia <= params.tol * inertia.max(f64::MIN_POSITIVE);
        if converged || n_iter >= params.max_iter {
            return KMeansFit {
                labels,
                centroids,
                inertia,
                n_iter,
            };
        }
        previous = inertia;
        let mut sums = Array2::<f64>::zeros((k, d));
        let mut counts = vec![0usize; k];
        for (row, &c) in x.rows().into_iter().zip(&labels) {
            counts[c] += 1;
            sums.row_mut(c)
                .iter_mut()
                .zip(row.iter())
                .for_each(|(s, &v)| *s += f64::from(v));
        }
        // An emptied cluster restarts at the cell farthest from its centroid (sorted only then).
        let mut far: Vec<usize> = Vec::new();
        if counts.contains(&0) {
            far = (0..x.nrows()).collect();
            far.sort_by(|&a, &b| nearest.distances[b].total_cmp(&nearest.distances[a]));
        }
        let mut far = far.into_iter();
        for ((mut centroid, sum), &count) in centroids
            .rows_mut()
            .into_iter()
            .zip(sums.rows())
            .zip(&counts)
        {
            if count == 0 {
                centroid.assign(&x.row(far.next().expect("k <= n")));
            } else {
                centroid.assign(&sum.mapv(|s| (s / count as f64) as f32));
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
}
