//! The Train pane: the settings form, the live run (in-process or followed in another process) and its loss history.

pub mod actions;
pub mod bridge;
pub mod follow;
pub mod history;
pub mod keys;
pub mod state;
pub mod view;
