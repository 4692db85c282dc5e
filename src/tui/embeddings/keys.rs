//! The key table of the Embeddings pane: keys, palette names and help lines.

use crossterm::event::KeyCode;

use crate::tui::keymap::{Action, Binding, Key, b};

pub const BINDINGS: &[Binding] = &[
    b(
        &[Key::char('v')],
        Action::ToggleView,
        "view",
        "t-SNE / PCA view of the embedding",
    ),
    b(
        &[Key::char('c')],
        Action::CycleColour,
        "colour",
        "colour by k-means, Leiden, then each obs column",
    ),
    b(
        &[Key::char('/')],
        Action::Search,
        "gene",
        "colour by a gene's expression (type its name)",
    ),
    b(
        &[Key::code(KeyCode::Enter), Key::char(' ')],
        Action::Select,
        "select",
        "highlight the legend row; list its marker genes",
    ),
    b(
        &[Key::char('+'), Key::char('=')],
        Action::ZoomIn,
        "zoom-in",
        "zoom in (also the mouse wheel)",
    ),
    b(&[Key::char('-')], Action::ZoomOut, "zoom-out", "zoom out"),
    b(
        &[Key::char('0')],
        Action::ResetZoom,
        "reset-zoom",
        "show the whole view",
    ),
    b(
        &[Key::char('H'), Key::code(KeyCode::Left)],
        Action::Pan(-1, 0),
        "pan-left",
        "pan left",
    ),
    b(
        &[Key::char('L'), Key::code(KeyCode::Right)],
        Action::Pan(1, 0),
        "pan-right",
        "pan right",
    ),
    b(&[Key::char('K')], Action::Pan(0, 1), "pan-up", "pan up"),
    b(
        &[Key::char('J')],
        Action::Pan(0, -1),
        "pan-down",
        "pan down",
    ),
    b(
        &[Key::char('j'), Key::code(KeyCode::Down)],
        Action::Down,
        "down",
        "next legend row",
    ),
    b(
        &[Key::char('k'), Key::code(KeyCode::Up)],
        Action::Up,
        "up",
        "previous legend row",
    ),
    b(
        &[Key::char('[')],
        Action::PrevSnapshot,
        "snapshot-prev",
        "timeline: previous latent snapshot (from the final view: the last)",
    ),
    b(
        &[Key::char(']')],
        Action::NextSnapshot,
        "snapshot-next",
        "timeline: next latent snapshot (past the last: the final view)",
    ),
    b(
        &[Key::char('p')],
        Action::PlaySnapshots,
        "play",
        "timeline: play the snapshots (every 0.5 s) or pause",
    ),
    b(
        &[Key::code(KeyCode::Esc)],
        Action::FinalView,
        "final",
        "timeline: back to the final embedding",
    ),
];
