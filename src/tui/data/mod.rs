//! The Data pane: the dataset summary, obs columns and the gene table.

pub mod actions;
pub mod keys;
pub mod load;
pub mod state;
pub mod view;
