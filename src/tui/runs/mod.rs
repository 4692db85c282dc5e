//! The Runs pane: the catalogue of run directories and sweeps, details, a side-by-side
//! comparison and a sweep's sortable table.

pub mod actions;
pub mod keys;
pub mod state;
pub mod sweep_table;
pub mod sweep_view;
pub mod sweeps;
pub mod view;
