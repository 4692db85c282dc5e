//! Leiden community detection (Traag, Waltman & van Eck 2019) maximising the weighted
//! RB-configuration / modularity quality with a resolution, as scanpy's `tl.leiden` default.
//!
//! Fast local moving (queue), refinement of each community into well-connected
//! sub-communities (greedy: the best merge, where leidenalg samples with a small temperature),
//! aggregation of the refined partition, repeated until the partition no longer changes.
//! Node orders are shuffled from the seed, so a seed gives the same clusters every run.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::graph::Graph;

/// Settings of a Leiden run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeidenParams {
    /// Resolution gamma of the RB-configuration model (1.0 = modularity).
    pub resolution: f64,
    /// Whole Leiden passes at most (each starts from the previous partition).
    pub max_iterations: usize,
    pub seed: u64,
}

impl LeidenParams {
    /// Resolution `resolution`, up to 10 passes.
    pub fn new(resolution: f64, seed: u64) -> Self {
        Self {
            resolution,
            max_iterations: 10,
            seed,
        }
    }
}

/// One level of the hierarchy: adjacency without self-loops, plus loops and strengths.
struct Level {
    graph: Graph,
    strength: Vec<f64>,
}

/// Leiden clusters of the graph's nodes, numbered by decreasing size.
pub fn leiden(graph: &Graph, params: LeidenParams) -> Vec<usize> {
    let n = graph.n_nodes();
    // A self-loop counts twice in its node's degree (the adjacency-matrix convention).
    let strength: Vec<f64> = (0..n)
        .map(|i| {
            let (idx, w) = graph.neighbours(i);
            idx.iter()
                .zip(w)
                .map(|(&j, &wj)| if j as usize == i { 2.0 * wj } else { wj })
                .sum()
        })
        .collect();
    let two_m: f64 = strength.iter().sum();
    if n == 0 || two_m <= 0.0 {
        return (0..n).collect();
    }
    let mut rng = StdRng::seed_from_u64(params.seed);
    let base = Level {
        graph: without_self_loops(graph),
        strength,
    };
    let gamma_over = params.resolution / two_m;
    let mut membership: Vec<usize> = (0..n).collect();
    for _ in 0..params.max_iterations.max(1) {
        let next = one_pass(&base, membership.clone(), gamma_over, &mut rng);
        let next = renumber_by_size(&next);
        let changed = next != membership;
        membership = next;
        if !changed {
            break;
        }
    }
    membership
}

/// RB-configuration quality: (1 / 2m) * sum_c (e_c - gamma * K_c^2 / 2m) (modularity at 1.0).
pub fn quality(graph: &Graph, membership: &[usize], resolution: f64) -> f64 {
    let n = graph.n_nodes();
    let k = membership.iter().max().map_or(0, |m| m + 1);
    let (mut internal, mut total) = (vec![0.0; k], vec![0.0; k]);
    for i in 0..n {
        let (idx, w) = graph.neighbours(i);
        for (&j, &wij) in idx.iter().zip(w) {
            // A stored self-loop is one undirected edge: it counts twice in a node's degree.
            let wij = if j as usize == i { 2.0 * wij } else { wij };
            total[membership[i]] += wij;
            if membership[j as usize] == membership[i] {
                internal[membership[i]] += wij;
            }
        }
    }
    let two_m: f64 = total.iter().sum();
    (0..k)
        .map(|c| internal[c] - resolution * total[c] * total[c] / two_m)
        .sum::<f64>()
        / two_m
}

fn without_self_loops(g: &Graph) -> Graph {
    let mut edges = Vec::new();
    for i in 0..g.n_nodes() {
        let (idx, w) = g.neighbours(i);
        for (&j, &wij) in idx.iter().zip(w) {
            if (j as usize) > i {
                edges.push((i as u32, j, wij));
            }
        }
    }
    Graph::from_edges(g.n_nodes(), &edges)
}

/// One multi-level Leiden pass from `start` on the base graph.
fn one_pass(base: &Level, start: Vec<usize>, gamma_over: f64, rng: &mut StdRng) -> Vec<usize> {
    // node_of[v]: the aggregate node holding original node v.
    let mut node_of: Vec<usize> = (0..base.strength.len()).collect();
    let mut owned: Option<Level> = None;
    let mut partition = start;
    loop {
        let level = owned.as_ref().unwrap_or(base);
        let n = level.strength.len();
        move_nodes_fast(level, &mut partition, gamma_over, rng);
        let n_comms = renumber(&mut partition);
        if n_comms == n {
            break;
        }
        let mut refined = refine(level, &partition, gamma_over, rng);
        let mut n_refined = renumber(&mut refined);
        if n_refined == n {
            // Nothing merged: aggregate the moved partition itself (still progress).
            refined = partition.clone();
            n_refined = n_comms;
        }
        let mut next_partition = vec![0; n_refined];
        for v in 0..n {
            next_partition[refined[v]] = partition[v];
        }
        owned = Some(aggregate(level, &refined, n_refined));
        node_of.iter_mut().for_each(|a| *a = refined[*a]);
        partition = next_partition;
    }
    node_of.iter().map(|&a| partition[a]).collect()
}

/// Fast local moving: visit queued nodes, move each to the neighbouring community with the
/// best gain, and queue its neighbours outside that community when it moves.
fn move_nodes_fast(level: &Level, part: &mut [usize], gamma_over: f64, rng: &mut StdRng) {
    let n = level.strength.len();
    let mut comm_strength = vec![0.0; n];
    let mut comm_size = vec![0usize; n];
    for v in 0..n {
        comm_strength[part[v]] += level.strength[v];
        comm_size[part[v]] += 1;
    }
    let mut empty: Vec<usize> = (0..n).filter(|&c| comm_size[c] == 0).collect();
    let mut queue: std::collections::VecDeque<usize> = {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        order.into()
    };
    let mut queued = vec![true; n];
    let mut weight_to = vec![0.0f64; n];
    let mut touched: Vec<usize> = Vec::new();
    while let Some(v) = queue.pop_front() {
        queued[v] = false;
        let (idx, w) = level.graph.neighbours(v);
        let current = part[v];
        touched.clear();
        touched.push(current);
        for (&u, &wu) in idx.iter().zip(w) {
            let c = part[u as usize];
            if weight_to[c] == 0.0 && !touched.contains(&c) {
                touched.push(c);
            }
            weight_to[c] += wu;
        }
        let kv = level.strength[v];
        comm_strength[current] -= kv;
        comm_size[current] -= 1;
        let gain = |c: usize, wt: f64| wt - gamma_over * kv * comm_strength[c];
        let (mut best, mut best_gain) = (current, gain(current, weight_to[current]));
        for &c in &touched {
            let g = gain(c, weight_to[c]);
            if g > best_gain {
                (best, best_gain) = (c, g);
            }
        }
        if best_gain < 0.0 && comm_size[current] > 0 {
            // An empty community (gain 0) beats every negative option.
            while let Some(e) = empty.pop() {
                if comm_size[e] == 0 {
                    best = e;
                    break;
                }
            }
        }
        if comm_size[current] == 0 && best != current {
            empty.push(current);
        }
        comm_strength[best] += kv;
        comm_size[best] += 1;
        part[v] = best;
        for &c in &touched {
            weight_to[c] = 0.0;
        }
        if best != current {
            for &u in idx {
                let u = u as usize;
                if !queued[u] && part[u] != best {
                    queued[u] = true;
                    queue.push_back(u);
                }
            }
        }
    }
}

/// Splits each community into well-connected sub-communities, merging singletons greedily.
fn refine(level: &Level, part: &[usize], gamma_over: f64, rng: &mut StdRng) -> Vec<usize> {
    let n = level.strength.len();
    let mut comm_strength = vec![0.0; n];
    for v in 0..n {
        comm_strength[part[v]] += level.strength[v];
    }
    let mut refined: Vec<usize> = (0..n).collect();
    let mut sub_strength = level.strength.clone();
    let mut sub_size = vec![1usize; n];
    // ext[s]: weight from sub-community s to the rest of its community.
    let mut ext: Vec<f64> = (0..n)
        .map(|v| {
            let (idx, w) = level.graph.neighbours(v);
            idx.iter()
                .zip(w)
                .filter(|(u, _)| part[**u as usize] == part[v])
                .map(|(_, w)| w)
                .sum()
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut weight_to = vec![0.0f64; n];
    let mut touched: Vec<usize> = Vec::new();
    for v in order {
        if sub_size[refined[v]] != 1 {
            continue;
        }
        let kv = level.strength[v];
        let total = comm_strength[part[v]];
        if ext[v] < gamma_over * kv * (total - kv) {
            continue;
        }
        touched.clear();
        let (idx, w) = level.graph.neighbours(v);
        for (&u, &wu) in idx.iter().zip(w) {
            let u = u as usize;
            if part[u] == part[v] && refined[u] != refined[v] {
                let s = refined[u];
                if weight_to[s] == 0.0 {
                    touched.push(s);
                }
                weight_to[s] += wu;
            }
        }
        let (mut best, mut best_gain) = (refined[v], 0.0);
        for &s in &touched {
            let ks = sub_strength[s];
            let well_connected = ext[s] >= gamma_over * ks * (total - ks);
            let g = weight_to[s] - gamma_over * kv * ks;
            if well_connected && g > best_gain {
                (best, best_gain) = (s, g);
            }
        }
        if best != refined[v] {
            let own = refined[v];
            ext[best] += ext[own] - 2.0 * weight_to[best];
            sub_strength[best] += kv;
            sub_size[best] += 1;
            sub_size[own] = 0;
            refined[v] = best;
        }
        for &s in &touched {
            weight_to[s] = 0.0;
        }
    }
    refined
}

/// The graph of communities: edge weights summed, internal weight dropped (it never changes a
/// move's gain), strengths summed.
fn aggregate(level: &Level, part: &[usize], k: usize) -> Level {
    let mut strength = vec![0.0; k];
    let mut edges = Vec::new();
    for v in 0..part.len() {
        strength[part[v]] += level.strength[v];
        let (idx, w) = level.graph.neighbours(v);
        for (&u, &wu) in idx.iter().zip(w) {
            let (a, b) = (part[v], part[u as usize]);
            if a < b {
                edges.push((a as u32, b as u32, wu));
            }
        }
    }
    Level {
        graph: Graph::from_edges(k, &edges),
        strength,
    }
}

/// Renumbers labels to 0..k in order of first appearance; returns k.
fn renumber(labels: &mut [usize]) -> usize {
    let mut map = vec![usize::MAX; labels.len().max(labels.iter().max().map_or(0, |m| m + 1))];
    let mut next = 0;
    for l in labels.iter_mut() {
        if map[*l] == usize::MAX {
            map[*l] = next;
            next += 1;
        }
        *l = map[*l];
    }
    next
}

/// Labels 0..k with 0 the largest cluster (ties by first appearance), as scanpy numbers them.
pub fn renumber_by_size(labels: &[usize]) -> Vec<usize> {
    let mut labels = labels.to_vec();
    let k = renumber(&mut labels);
    let mut sizes = vec![0usize; k];
    labels.iter().for_each(|&l| sizes[l] += 1);
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut rank = vec![0; k];
    order.iter().enumerate().for_each(|(r, &c)| rank[c] = r);
    labels.iter().map(|&l| rank[l]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::graph::umap_connectivities;
    use crate::analysis::kmeans::tests::blobs;
    use crate::analysis::knn::knn_self;
    use crate::analysis::metrics::adjusted_rand_score;

    /// Zachary's karate club (networkx `karate_club_graph`, unweighted).
    #[rustfmt::skip]
    const KARATE: [(u32, u32); 78] = [
        (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 7), (0, 8), (0, 10), (0, 11),
        (0, 12), (0, 13), (0, 17), (0, 19), (0, 21), (0, 31), (1, 2), (1, 3), (1, 7), (1, 13),
        (1, 17), (1, 19), (1, 21), (1, 30), (2, 3), (2, 7), (2, 8), (2, 9), (2, 13), (2, 27),
        (2, 28), (2, 32), (3, 7), (3, 12), (3, 13), (4, 6), (4, 10), (5, 6), (5, 10), (5, 16),
        (6, 16), (8, 30), (8, 32), (8, 33), (9, 33), (13, 33), (14, 32), (14, 33), (15, 32),
        (15, 33), (18, 32), (18, 33), (19, 33), (20, 32), (20, 33), (22, 32), (22, 33),
        (23, 25), (23, 27), (23, 29), (23, 32), (23, 33), (24, 25), (24, 27), (24, 31),
        (25, 31), (26, 29), (26, 33), (27, 33), (28, 31), (28, 33), (29, 32), (29, 33),
        (30, 32), (30, 33), (31, 32), (31, 33), (32, 33),
    ];

    #[test]
    fn finds_the_karate_club_optimum() {
        let edges: Vec<_> = KARATE.iter().map(|&(a, b)| (a, b, 1.0)).collect();
        let g = Graph::from_edges(34, &edges);
        let best = (0..5)
            .map(|seed| quality(&g, &leiden(&g, LeidenParams::new(1.0, seed)), 1.0))
            .fold(f64::MIN, f64::max);
        // The maximum modularity of this graph is 0.41979 (four communities).
        assert!(best > 0.4197, "modularity {best}");
        assert!(quality(&g, &[0; 34], 1.0).abs() < 1e-12);
    }

    #[test]
    fn recovers_blobs_repeatably_and_resolution_controls_granularity() {
        let (x, truth) = blobs(800, 6, 10, 5);
        let g = umap_connectivities(&knn_self(x.view(), 15));
        let labels = leiden(&g, LeidenParams::new(1.0, 0));
        assert!(adjusted_rand_score(&truth, &labels).unwrap() > 0.9);
        assert_eq!(labels, leiden(&g, LeidenParams::new(1.0, 0)));
        // Higher resolution splits the blobs; the blobs are separate components of the graph,
        // so a lower one cannot merge them.
        let fine = leiden(&g, LeidenParams::new(5.0, 0));
        let count = |l: &[usize]| l.iter().max().unwrap() + 1;
        assert_eq!(count(&labels), 6);
        assert!(
            count(&fine) > 12,
            "{} clusters at resolution 5",
            count(&fine)
        );
    }
}
