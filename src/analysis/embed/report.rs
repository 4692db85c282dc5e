//! What `cellscope eval` reports: the label scores of the embedding and the PCA baseline, and the
//! held-out reconstruction with gene names.

use std::path::PathBuf;

use serde::Serialize;

use super::input::{EvalInput, load_autoencoder};
use super::scoring::{LabelScores, cluster, label_column, label_scores};
use crate::analysis::recon::Reconstruction;
use crate::model::Autoencoder;
use crate::train::split::Split;

/// Everything `cellscope eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub run: PathBuf,
    pub data: PathBuf,
    pub n_cells: usize,
    pub n_genes: usize,
    pub latent: usize,
    /// Label column, PCA baseline, clustering and cross-validated prediction figures.
    #[serde(flatten)]
    pub scores: LabelScores,
    /// Held-out reconstruction (masked runs only).
    pub reconstruction: Option<ReconSummary>,
    /// Why reconstruction is missing, if it is.
    pub reconstruction_note: Option<String>,
}

/// Overall and per-gene reconstruction figures with gene names.
#[derive(Debug, Clone, Serialize)]
pub struct ReconSummary {
    pub n_cells: usize,
    pub ev_weighted: f64,
    pub ev_uniform: f64,
    pub mse: f64,
    pub genes: Vec<GeneRecon>,
}

/// One gene's reconstruction on held-out cells.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GeneRecon {
    pub gene: String,
    pub mse: f64,
    pub pearson: Option<f64>,
    pub explained_variance: f64,
}

impl ReconSummary {
    /// Names the per-gene figures.
    pub fn new(r: &Reconstruction, genes: &[String]) -> Self {
        Self {
            n_cells: r.n_cells,
            ev_weighted: r.ev_weighted,
            ev_uniform: r.ev_uniform,
            mse: r.mse_overall,
            genes: genes
                .iter()
                .enumerate()
                .map(|(i, g)| GeneRecon {
                    gene: g.clone(),
                    mse: r.mse[i],
                    pearson: r.pearson[i],
                    explained_variance: r.explained_variance[i],
                })
                .collect(),
        }
    }
}

/// [`evaluate`] saved beside the run as `eval.json` (the Runs pane and later sessions read it).
pub fn evaluate_and_save(input: &EvalInput, label: Option<&str>) -> anyhow::Result<EvalReport> {
    let report = evaluate(input, label, &mut |_, _| {})?;
    crate::train::checkpoint::write_atomic(
        &input.run.dir.join(crate::train::rundir::EVAL_FILE),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    Ok(report)
}

/// Runs the whole evaluation: embedding, PCA baseline, clusters, metrics, reconstruction.
pub fn evaluate(
    input: &EvalInput,
    label: Option<&str>,
    progress: &mut dyn FnMut(usize, usize),
) -> anyhow::Result<EvalReport> {
    let config = &input.run.config;
    let col = label_column(&input.data.obs, label)?;
    let z = input.embedding(progress)?;
    let clusters = cluster(z.view(), config, config.train.seed)?;
    let scores = label_scores(input, z.view(), &clusters, col)?;
    let (reconstruction, reconstruction_note) = match decoder_or_note(input)? {
        Ok(ae) => (Some(held_out_summary(input, &ae, &input.split()?)?), None),
        Err(note) => (None, Some(note)),
    };
    Ok(EvalReport {
        run: input.run.dir.clone(),
        data: input.data.path.clone(),
        n_cells: input.n_cells(),
        n_genes: input.data.genes.len(),
        latent: input.run.encoder.latent,
        scores,
        reconstruction,
        reconstruction_note,
    })
}

/// The autoencoder of a masked run, or the note saying why reconstruction does not apply.
pub fn decoder_or_note(input: &EvalInput) -> anyhow::Result<Result<Autoencoder, String>> {
    Ok(load_autoencoder(&input.run)?.ok_or_else(|| {
        format!(
            "reconstruction does not apply: the {} run has no decoder (a contrastive \
                 method or an imported encoder)",
            input.run.config.train.method
        )
    }))
}

/// The reconstruction of the held-out cells of `split`, with gene names.
pub fn held_out_summary(
    input: &EvalInput,
    ae: &Autoencoder,
    split: &Split,
) -> anyhow::Result<ReconSummary> {
    let r = input.reconstruction(ae, split)?;
    Ok(ReconSummary::new(&r, &input.data.genes))
}
