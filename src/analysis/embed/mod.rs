//! A run's embedding of every cell (cached in the run directory), the PCA baseline beside it,
//! 2-D views, clusters, label metrics (cross-validated label prediction, clustering agreement)
//! and held-out reconstruction: what `eval`/`embed` report and the Embeddings pane shows.

pub mod cache;
pub mod input;
pub mod report;
pub mod scoring;

pub use cache::EMBEDDING_CACHE;
pub use input::{
    EvalInput, ReconstructionVisitor, embed_with_progress, for_each_reconstruction,
    load_autoencoder, reconstruct,
};
pub use report::{
    EvalReport, GeneRecon, ReconSummary, decoder_or_note, evaluate, evaluate_and_save,
    held_out_summary,
};
pub use scoring::{
    Clusters, EmbeddingScores, LabelScores, cluster, label_column, label_scores, score, views_2d,
};
