//! The key table of the Runs pane: keys, palette names and help lines.

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
        "open the run in Embeddings and Genes (embeds, clusters, scores)",
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
