//! Analysis of learned embeddings: projection, clustering, metrics, cross-validated label
//! prediction against the PCA baseline, reconstruction, transfer.
//! Pure functions on ndarray views and CSR matrices; the UI and CLI call them on the worker.

pub mod cv;
pub mod embed;
pub mod graph;
pub mod kmeans;
pub mod knn;
pub mod layout;
pub mod leiden;
pub mod markers;
pub mod metrics;
pub mod paired;
pub mod pca;
pub mod prediction;
pub mod probe;
pub mod recon;
pub mod run_analysis;
pub mod timeline;
pub mod transfer;

/// What can go wrong in an analysis step.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("too few {what}: {got} (need at least {need})")]
    TooFew {
        what: &'static str,
        got: usize,
        need: usize,
    },
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error("{0}")]
    Invalid(String),
}
