//! Scores of an embedding: clusters (k-means, Leiden), their agreement with a label column and
//! the cell-type silhouette, for the SSL embedding and the PCA baseline, plus its 2-D views.

use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use super::input::EvalInput;
use crate::analysis::graph::umap_connectivities;
use crate::analysis::kmeans::{KMeansParams, kmeans};
use crate::analysis::knn::{knn_self, select_rows, subsample_indices};
use crate::analysis::layout::{TsneParams, pca_2d, tsne};
use crate::analysis::leiden::{LeidenParams, leiden};
use crate::analysis::metrics::{adjusted_rand_score, cell_type_asw, normalized_mutual_info_score};
use crate::analysis::prediction::{LabelPrediction, cross_validate};
use crate::config::Config;
use crate::data::Column;

/// Most cells used for the silhouette (it is quadratic in cells).
const ASW_MAX_CELLS: usize = 5000;

/// The label column to score against: the named one, else a usual cell-type column name.
pub fn label_column<'a>(obs: &'a [Column], name: Option<&str>) -> anyhow::Result<&'a Column> {
    const USUAL: [&str; 6] = [
        "cell_type",
        "celltype",
        "cell_type_original",
        "louvain",
        "labels",
        "bulk_labels",
    ];
    match name {
        Some(n) => obs.iter().find(|c| c.name == n).ok_or_else(|| {
            let names: Vec<&str> = obs.iter().map(|c| c.name.as_str()).collect();
            anyhow::anyhow!("no obs column {n:?} (columns: {})", names.join(", "))
        }),
        None => USUAL
            .iter()
            .find_map(|u| obs.iter().find(|c| c.name == *u))
            .ok_or_else(|| anyhow::anyhow!("no cell-type column found; choose one with --label")),
    }
}

/// Clustering agreement with the labels of one embedding.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EmbeddingScores {
    /// ARI and NMI of k-means clusters against the labels (None: undefined, e.g. one class).
    pub kmeans_ari: Option<f64>,
    pub kmeans_nmi: Option<f64>,
    /// ARI and NMI of Leiden clusters on the kNN graph.
    pub leiden_ari: Option<f64>,
    pub leiden_nmi: Option<f64>,
    pub leiden_clusters: usize,
    /// Cell-type silhouette rescaled to [0, 1] (scIB); None unless 2 <= classes <= cells - 1.
    pub asw: Option<f64>,
}

/// Clusters of one embedding (per cell).
#[derive(Debug, Clone)]
pub struct Clusters {
    pub kmeans: Vec<usize>,
    pub leiden: Vec<usize>,
}

/// k-means with the configured k and Leiden on the UMAP-weighted kNN graph.
pub fn cluster(z: ArrayView2<f32>, config: &Config, seed: u64) -> anyhow::Result<Clusters> {
    let a = &config.analysis;
    let k = a.kmeans_k.clamp(1, z.nrows().max(1));
    let km = kmeans(z, KMeansParams::new(k, seed))?;
    let graph = umap_connectivities(&knn_self(z, a.graph_k.min(z.nrows().saturating_sub(1))));
    let leiden = leiden(&graph, LeidenParams::new(a.leiden_resolution, seed));
    Ok(Clusters {
        kmeans: km.labels,
        leiden,
    })
}

/// Scores an embedding's clusters and silhouette against labels (unlabelled cells left out).
pub fn score(
    z: ArrayView2<f32>,
    clusters: &Clusters,
    labels: &[Option<usize>],
    config: &Config,
) -> anyhow::Result<EmbeddingScores> {
    let known: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
    anyhow::ensure!(known.len() >= 2, "fewer than two labelled cells");
    let truth: Vec<usize> = known.iter().filter_map(|&i| labels[i]).collect();
    let pick = |c: &[usize]| known.iter().map(|&i| c[i]).collect::<Vec<_>>();
    let (km, ld) = (pick(&clusters.kmeans), pick(&clusters.leiden));
    let sub = subsample_indices(known.len(), ASW_MAX_CELLS, config.train.seed);
    let zs = select_rows(z, &sub.iter().map(|&i| known[i]).collect::<Vec<_>>());
    let sub_truth: Vec<usize> = sub.iter().map(|&i| truth[i]).collect();
    let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
    Ok(EmbeddingScores {
        kmeans_ari: finite(adjusted_rand_score(&truth, &km)),
        kmeans_nmi: finite(normalized_mutual_info_score(&truth, &km)),
        leiden_ari: finite(adjusted_rand_score(&truth, &ld)),
        leiden_nmi: finite(normalized_mutual_info_score(&truth, &ld)),
        leiden_clusters: clusters.leiden.iter().max().map_or(0, |m| m + 1),
        asw: finite(cell_type_asw(zs.view(), &sub_truth)),
    })
}

/// The SSL embedding and the PCA baseline scored against one label column.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabelScores {
    pub label: String,
    pub n_labels: usize,
    /// Axes of the PCA baseline.
    pub pca_components: usize,
    /// Clustering agreement (k-means, Leiden, silhouette).
    pub ssl: EmbeddingScores,
    pub pca: EmbeddingScores,
    /// Cross-validated kNN and logistic-probe prediction, SSL paired with PCA (its fields sit at
    /// the top level of eval.json); None when there are not two classes to predict.
    #[serde(flatten)]
    pub prediction: Option<LabelPrediction>,
    /// Why `prediction` is missing, if it is.
    pub prediction_note: Option<String>,
}

/// Scores the embedding `z` (clustered as `clusters`) and the PCA baseline of the same cells
/// against the label column `col`.
pub fn label_scores(
    input: &EvalInput,
    z: ArrayView2<f32>,
    clusters: &Clusters,
    col: &Column,
) -> anyhow::Result<LabelScores> {
    let config = &input.run.config;
    let (labels, names) = col
        .as_labels()
        .ok_or_else(|| anyhow::anyhow!("obs column {:?} holds numbers, not labels", col.name))?;
    let p = input.pca_baseline()?;
    let pca_clusters = cluster(p.view(), config, config.train.seed)?;
    let (prediction, prediction_note) = match cross_validate(z, p.view(), &labels, &names, config) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    Ok(LabelScores {
        label: col.name.clone(),
        n_labels: names.len(),
        pca_components: p.ncols(),
        ssl: score(z, clusters, &labels, config)?,
        pca: score(p.view(), &pca_clusters, &labels, config)?,
        prediction,
        prediction_note,
    })
}

/// The 2-D views of an embedding: its first two principal components and a t-SNE layout.
pub fn views_2d(z: ArrayView2<f32>, config: &Config) -> anyhow::Result<(Array2<f32>, Array2<f32>)> {
    let pca = pca_2d(z)?;
    let t = tsne(
        z,
        TsneParams::new(config.analysis.layout_max_cells, config.train.seed),
    )?;
    Ok((pca, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::tests::random_points;

    #[test]
    fn label_column_prefers_the_named_one_and_explains_a_missing_one() {
        use crate::data::ColumnValues;
        let col = |n: &str| Column {
            name: n.into(),
            values: ColumnValues::Categorical {
                codes: vec![0],
                categories: vec!["a".into()],
            },
        };
        let obs = vec![col("donor"), col("cell_type")];
        assert_eq!(label_column(&obs, None).unwrap().name, "cell_type");
        assert_eq!(label_column(&obs, Some("donor")).unwrap().name, "donor");
        let e = label_column(&obs, Some("x")).unwrap_err().to_string();
        assert!(e.contains("donor, cell_type"), "{e}");
    }

    fn scores_for(labels: &[Option<usize>]) -> EmbeddingScores {
        let n = labels.len();
        let z = random_points(n, 3, 4);
        let clusters = Clusters {
            kmeans: (0..n).map(|i| i % 2).collect(),
            leiden: (0..n).map(|i| i % 3).collect(),
        };
        score(z.view(), &clusters, labels, &Config::default()).unwrap()
    }

    fn assert_no_nan(s: &EmbeddingScores) {
        for v in [
            s.kmeans_ari,
            s.kmeans_nmi,
            s.leiden_ari,
            s.leiden_nmi,
            s.asw,
        ]
        .into_iter()
        .flatten()
        {
            assert!(v.is_finite(), "{s:?}");
        }
    }

    #[test]
    fn a_single_class_or_one_cell_per_class_gives_no_nan() {
        let single = scores_for(&[Some(0); 12]);
        assert_no_nan(&single);
        assert_eq!(single.asw, None, "silhouette is undefined for one class");
        assert_eq!(single.kmeans_ari, Some(0.0));
        let distinct: Vec<Option<usize>> = (0..12).map(Some).collect();
        let each = scores_for(&distinct);
        assert_no_nan(&each);
        assert_eq!(each.asw, None, "silhouette is undefined for singletons");
        assert_eq!(each.kmeans_nmi.map(|v| v > 0.0), Some(true));
    }
}
