//! cellscope: self-supervised learning on single-cell RNA-seq, in the terminal.
//!
//! Layers, data flowing one way: `data` (I/O, preprocessing) -> `model` (candle modules) ->
//! `train` (background worker, runs) -> `analysis` (embeddings, metrics) -> `tui` / `cli`.

pub mod analysis;
pub mod cli;
pub mod config;
pub mod config_check;
pub mod data;
pub mod model;
pub mod train;
pub mod tui;

use std::path::PathBuf;

/// The bundled demo dataset (Bassez et al. 2021 immune cells), used when no file is given.
pub fn demo_dataset() -> PathBuf {
    const NAME: &str = "bassez2021_immune_1000x6397_counts.h5ad";
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("assets").join(NAME)))
        .filter(|p| p.exists());
    beside_exe.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join(NAME)
    })
}
