//! The key table of the Data pane: keys, palette names and help lines.

use crossterm::event::KeyCode;

use crate::tui::keymap::{Action, Binding, Key, b, gene_table};

pub const BINDINGS: &[Binding] = gene_table![
    b(
        &[Key::char('/')],
        Action::Search,
        "search",
        "search genes by name",
    ),
    b(
        &[Key::char('s')],
        Action::CycleSort,
        "sort",
        "sort genes: mean, detection, variance, name",
    ),
    b(
        &[Key::char('l'), Key::code(KeyCode::Right)],
        Action::NextColumn,
        "next-col",
        "next obs column",
    ),
    b(
        &[Key::char('h'), Key::code(KeyCode::Left)],
        Action::PrevColumn,
        "prev-col",
        "previous obs column",
    ),
    b(
        &[Key::char('c')],
        Action::UseAsLabel,
        "label",
        "colour later panes by this obs column",
    ),
    b(
        &[Key::char('x')],
        Action::CycleMatrix,
        "matrix",
        "use the next matrix (X, raw, layers)",
    ),
];
