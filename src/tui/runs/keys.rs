//! The key tables of the Runs pane, its list and an open sweep table: keys, palette names and
//! help lines.

use crossterm::event::KeyCode;

use crate::tui::keymap::{Action, Binding, Key, b};

pub const BINDINGS: &[Binding] = &[
    b(
        &[Key::char('r')],
        Action::Refresh,
        "refresh",
        "rescan the runs directory",
    ),
    b(
        &[Key::char(' ')],
        Action::Mark,
        "compare",
        "mark / unmark the run for comparison (two at most)",
    ),
    b(
        &[Key::code(KeyCode::Enter)],
        Action::Open,
        "open",
        "open the run in Embeddings and Genes, or the sweep's table",
    ),
    b(
        &[Key::char('a')],
        Action::Attach,
        "attach",
        "follow the run in the Train tab (live: pause/stop)",
    ),
    b(
        &[Key::char('j'), Key::code(KeyCode::Down)],
        Action::Down,
        "down",
        "next run",
    ),
    b(
        &[Key::char('k'), Key::code(KeyCode::Up)],
        Action::Up,
        "up",
        "previous run",
    ),
];

/// An open sweep table (`q` closes it instead of quitting).
pub const SWEEP_TABLE: &[Binding] = &[
    b(
        &[Key::code(KeyCode::Enter)],
        Action::Open,
        "open",
        "open the row's run (first finished seed) in Embeddings and Genes",
    ),
    b(
        &[Key::code(KeyCode::Esc), Key::char('q')],
        Action::Cancel,
        "back",
        "back to the list of runs",
    ),
    b(
        &[Key::char('s')],
        Action::CycleSort,
        "sort",
        "sort by the next column (after the last: the sweep's order)",
    ),
    b(
        &[Key::char('o')],
        Action::ReverseSort,
        "reverse",
        "reverse the sort order",
    ),
    b(
        &[Key::char('j'), Key::code(KeyCode::Down)],
        Action::Down,
        "down",
        "next row",
    ),
    b(
        &[Key::char('k'), Key::code(KeyCode::Up)],
        Action::Up,
        "up",
        "previous row",
    ),
];
