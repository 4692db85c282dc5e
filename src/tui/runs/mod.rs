//! The Runs pane: the catalogue of run directories, details and a side-by-side comparison.

pub mod actions;
pub mod keys;
pub mod state;
pub mod view;
