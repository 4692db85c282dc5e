//! The Transfer tab: label transfer from the current run to a target dataset.

pub mod actions;
pub mod keys;
pub mod state;
pub mod view;
pub mod work;
