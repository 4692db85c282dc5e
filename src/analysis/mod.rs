//! Analysis of learned embeddings: projection, clustering, metrics, reconstruction, transfer.
