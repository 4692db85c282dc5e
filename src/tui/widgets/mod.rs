//! Widgets shared by the panes.

pub mod braille;
