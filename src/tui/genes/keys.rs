//! The key table of the Genes pane: keys, palette names and help lines.

use crossterm::event::KeyCode;

use crate::tui::keymap::{Action, Binding, Key, b, gene_table};

pub const BINDINGS: &[Binding] = gene_table![
    b(
        &[Key::code(KeyCode::Enter)],
        Action::Select,
        "colour-by",
        "colour the embedding by this gene (opens Embeddings)",
    ),
    b(
        &[Key::char('e')],
        Action::ColourByError,
        "error-by",
        "colour held-out cells by this gene's reconstruction error",
    ),
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
        "sort by the next column: gene, MSE, Pearson r, explained variance",
    ),
    b(
        &[Key::char('o')],
        Action::ReverseSort,
        "reverse",
        "reverse the sort order",
    ),
];
