//! The analysis of one run that the Embeddings and Genes panes show: loads the run, embeds every
//! cell (with progress), then the PCA baseline, 2-D views, clusters, label scores, markers and
//! reconstruction, from the same steps `eval` and `embed` use. The UI runs it on a worker thread.

use std::path::{Path, PathBuf};

use crate::analysis::embed::{
    Clusters, EvalInput, LabelScores, ReconSummary, cluster, decoder_or_note,
    for_each_reconstruction, held_out_summary, label_column, label_scores, views_2d,
};
use crate::analysis::knn::subsample_indices;
use crate::analysis::markers::{MarkerGene, MarkerRank, markers_by_group};
use crate::data::{Column, CscMatrix, CsrMatrix};

/// obs columns with more categories than this are not offered for colouring.
pub const MAX_GROUPS: usize = 64;
/// Marker genes kept per group.
pub const N_MARKERS: usize = 12;
/// Held-out cells whose per-gene reconstruction errors are kept for colouring (bounds memory).
pub const ERROR_CELLS: usize = 3000;

/// A way of splitting cells into groups: clusters or a categorical obs column.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    pub name: String,
    /// Per cell: its group, None when the value is missing.
    pub codes: Vec<Option<u32>>,
    pub names: Vec<String>,
    pub counts: Vec<usize>,
    /// Top marker genes of each group against the rest (Welch's t).
    pub markers: Vec<Vec<MarkerGene>>,
}

impl Grouping {
    /// A grouping from per-cell codes, with counts; markers from `x` when given.
    pub fn new(
        name: &str,
        codes: Vec<Option<usize>>,
        names: Vec<String>,
        x: Option<&CsrMatrix>,
    ) -> anyhow::Result<Self> {
        let mut counts = vec![0; names.len()];
        for &c in codes.iter().flatten() {
            if let Some(n) = counts.get_mut(c) {
                *n += 1;
            }
        }
        let markers = match x {
            Some(x) => markers_by_group(x, &codes, names.len(), N_MARKERS, MarkerRank::WelchT)?,
            None => vec![Vec::new(); names.len()],
        };
        Ok(Self {
            name: name.into(),
            codes: codes.iter().map(|c| c.map(|c| c as u32)).collect(),
            names,
            counts,
            markers,
        })
    }

    fn clusters(name: &str, labels: &[usize], x: &CsrMatrix) -> anyhow::Result<Self> {
        let k = labels.iter().max().map_or(0, |m| m + 1);
        let names = (0..k).map(|i| i.to_string()).collect();
        Self::new(
            name,
            labels.iter().map(|&l| Some(l)).collect(),
            names,
            Some(x),
        )
    }
}

/// Squared reconstruction error of every gene in a sample of held-out cells, for colouring.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CellErrors {
    /// The held-out cells (ascending).
    pub cells: Vec<u32>,
    pub n_genes: usize,
    /// Cells x genes, row-major.
    pub values: Vec<f32>,
}

impl CellErrors {
    /// Gene `g`'s error in every sampled cell, as (cell, error).
    pub fn gene(&self, g: usize) -> Vec<(u32, f32)> {
        if g >= self.n_genes {
            return Vec::new();
        }
        self.cells
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, self.values[i * self.n_genes + g]))
            .collect()
    }
}

/// Everything the Embeddings and Genes panes show about one run.
#[derive(Debug, Clone)]
pub struct RunAnalysis {
    pub run_dir: PathBuf,
    pub run_name: String,
    pub method: String,
    pub latent: usize,
    pub genes: Vec<String>,
    /// The t-SNE and PCA-2 views of the embedding, one point per cell.
    pub tsne: Vec<[f32; 2]>,
    pub pca: Vec<[f32; 2]>,
    /// k-means, Leiden, then the categorical obs columns.
    pub groupings: Vec<Grouping>,
    pub expression: CscMatrix,
    /// Scores against the label column, or why there are none.
    pub scores: Result<LabelScores, String>,
    /// Held-out reconstruction, or why there is none (contrastive runs).
    pub recon: Result<ReconSummary, String>,
    /// Per-cell errors of held-out cells (masked runs).
    pub errors: Option<CellErrors>,
}

impl RunAnalysis {
    /// Cells in the run's dataset.
    pub fn n_cells(&self) -> usize {
        self.tsne.len()
    }
}

/// A step of the job, as reported to the caller.
pub enum Step {
    Stage(&'static str),
    Embedded(usize, usize),
}

/// The whole analysis of a run on its own dataset; `current` false stops it between steps.
pub fn analyse(
    run_dir: &Path,
    label: Option<&str>,
    report: &mut dyn FnMut(Step),
    current: &dyn Fn() -> bool,
) -> anyhow::Result<RunAnalysis> {
    let stage = |name: &'static str, report: &mut dyn FnMut(Step)| {
        anyhow::ensure!(current(), "superseded by a newer analysis");
        report(Step::Stage(name));
        Ok(())
    };
    stage("loading the run and its data", report)?;
    let input = EvalInput::load(run_dir, None)?;
    anyhow::ensure!(
        input.data.stream.is_none(),
        "the dataset exceeds data.memory_budget_mb (the panes colour and test markers from it in \
         memory): analyse it with `cellscope eval` / `cellscope embed`"
    );
    let (x, config) = (&input.data.x, &input.run.config);
    stage("embedding cells", report)?;
    let z = input.embedding(&mut |done, total| report(Step::Embedded(done, total)))?;
    stage("clustering (k-means, Leiden)", report)?;
    let seed = config.train.seed;
    let clusters = cluster(z.view(), config, seed)?;
    stage("2-D layout (PCA, t-SNE)", report)?;
    let (pca, tsne) = views_2d(z.view(), config)?;
    stage("PCA baseline and cross-validated label scores", report)?;
    let scores = scores_against(&input, &z, &clusters, label).map_err(|e| format!("{e:#}"));
    stage("marker genes", report)?;
    let mut groupings = vec![
        Grouping::clusters("k-means", &clusters.kmeans, x)?,
        Grouping::clusters("Leiden", &clusters.leiden, x)?,
    ];
    for column in &input.data.obs {
        if let Some(g) = obs_grouping(column, x)? {
            groupings.push(g);
        }
    }
    stage("held-out reconstruction", report)?;
    let (recon, errors) = match decoder_or_note(&input)? {
        Ok(ae) => {
            let split = input.split()?;
            let recon = held_out_summary(&input, &ae, &split).map_err(|e| format!("{e:#}"));
            (recon, Some(cell_errors(&ae, x, &split.val, seed)?))
        }
        Err(note) => (Err(note), None),
    };
    let points = |a: &ndarray::Array2<f32>| a.rows().into_iter().map(|r| [r[0], r[1]]).collect();
    Ok(RunAnalysis {
        run_dir: run_dir.to_path_buf(),
        run_name: run_name(run_dir),
        method: config.train.method.clone(),
        latent: input.run.encoder.latent,
        genes: input.data.genes.clone(),
        tsne: points(&tsne),
        pca: points(&pca),
        groupings,
        expression: x.to_csc(),
        scores,
        recon,
        errors,
    })
}

/// Squared per-gene errors of up to `ERROR_CELLS` held-out cells (a seeded sample).
fn cell_errors(
    ae: &crate::model::Autoencoder,
    x: &CsrMatrix,
    held_out: &[usize],
    seed: u64,
) -> anyhow::Result<CellErrors> {
    let mut cells: Vec<usize> = subsample_indices(held_out.len(), ERROR_CELLS, seed)
        .into_iter()
        .map(|i| held_out[i])
        .collect();
    cells.sort_unstable();
    let mut values = Vec::with_capacity(cells.len() * x.n_cols);
    for_each_reconstruction(ae, x, &cells, &mut |_, y, yhat| {
        values.extend(y.iter().zip(yhat).map(|(a, b)| (a - b) * (a - b)));
        Ok(())
    })?;
    Ok(CellErrors {
        cells: cells.iter().map(|&c| c as u32).collect(),
        n_genes: x.n_cols,
        values,
    })
}

/// A run directory's last path component.
pub fn run_name(run_dir: &Path) -> String {
    run_dir.file_name().map_or_else(
        || run_dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The SSL and PCA-baseline scores against the label column (eval's default when None).
fn scores_against(
    input: &EvalInput,
    z: &ndarray::Array2<f32>,
    clusters: &Clusters,
    label: Option<&str>,
) -> anyhow::Result<LabelScores> {
    // A label chosen in the Data pane may not exist in this run's dataset: then eval's default.
    let col =
        label_column(&input.data.obs, label).or_else(|_| label_column(&input.data.obs, None))?;
    label_scores(input, z.view(), clusters, col)
}

/// An obs column as a grouping, when it has labels and 1..=MAX_GROUPS categories.
fn obs_grouping(column: &Column, x: &CsrMatrix) -> anyhow::Result<Option<Grouping>> {
    match column.as_labels() {
        Some((codes, names)) if !names.is_empty() && names.len() <= MAX_GROUPS => {
            Grouping::new(&column.name, codes, names, Some(x)).map(Some)
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groupings_count_cells_and_skip_missing_values() {
        let g = Grouping::new(
            "donor",
            vec![Some(1), None, Some(1), Some(0)],
            vec!["a".into(), "b".into()],
            None,
        )
        .unwrap();
        assert_eq!(g.counts, [1, 2]);
        assert_eq!(g.codes, [Some(1), None, Some(1), Some(0)]);
        assert_eq!(g.markers.len(), 2);
    }
}
