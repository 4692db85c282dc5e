//! cellscope: self-supervised learning on single-cell RNA-seq, in the terminal.
//!
//! Layers, data flowing one way: `data` (I/O, preprocessing) -> `model` (candle modules) ->
//! `train` (background worker, runs) -> `analysis` (embeddings, metrics) -> `sweep` (many runs,
//! one table) -> `tui` / `cli`.

pub mod analysis;
pub mod bench;
pub mod cli;
pub mod config;
pub mod config_check;
pub mod data;
pub mod model;
pub mod plot;
pub mod sweep;
pub mod torch;
pub mod train;
pub mod tui;

use std::path::PathBuf;

/// A file under the bundled `assets/` folder: the copy beside the executable when installed
/// that way (`<exe dir>/assets/`), else the crate's own.
pub fn bundled_asset(relative: &str) -> PathBuf {
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("assets").join(relative)))
        .filter(|p| p.exists());
    beside_exe.unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .join(relative)
    })
}

/// The bundled demo dataset (Bassez et al. 2021 immune cells), used when no file is given.
pub fn demo_dataset() -> PathBuf {
    bundled_asset("bassez2021_immune_1000x6397_counts.h5ad")
}

/// The bundled transfer target of the demo (pbmc68k_reduced: 700 labelled PBMCs) and the
/// label map that folds its labels into classes the demo shares.
pub fn demo_transfer_target() -> (PathBuf, PathBuf) {
    (
        bundled_asset("pbmc68k_reduced_counts_700x765.h5ad"),
        bundled_asset("label_maps/pbmc68k_coarse.csv"),
    )
}
