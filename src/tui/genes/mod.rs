//! The Genes pane: per-gene reconstruction of the opened run, sortable and searchable.

pub mod actions;
pub mod keys;
pub mod state;
pub mod view;
