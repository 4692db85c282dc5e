//! The Embeddings pane: the analysis of an opened run drawn as a braille scatter with legend, markers and scores.

pub mod actions;
pub mod job;
pub mod keys;
pub mod live;
pub mod state;
pub mod timeline;
pub mod view;
