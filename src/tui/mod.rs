//! The terminal UI: app state, keymap, panes and widgets. Draws state; computes no science.
