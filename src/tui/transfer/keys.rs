//! The key table of the Transfer tab: keys, palette names and help lines.

use crossterm::event::KeyCode;

use crate::tui::keymap::{Action, Binding, Key, b};

pub const BINDINGS: &[Binding] = &[
    b(
        &[Key::char('s')],
        Action::Start,
        "start",
        "start the transfer (zero-shot, fine-tuned, scratch) on the current run",
    ),
    b(
        &[Key::char('a')],
        Action::NextArm,
        "arm",
        "next arm for the confusion matrix",
    ),
    b(
        &[Key::char('r')],
        Action::Refresh,
        "reload",
        "reread the target's columns and the run's transfer.json",
    ),
    b(
        &[Key::code(KeyCode::Enter), Key::char('e')],
        Action::Edit,
        "edit",
        "type the target, label map or seeds",
    ),
    b(
        &[Key::char('j'), Key::code(KeyCode::Down)],
        Action::Down,
        "down",
        "next field",
    ),
    b(
        &[Key::char('k'), Key::code(KeyCode::Up)],
        Action::Up,
        "up",
        "previous field",
    ),
    b(
        &[Key::char('h'), Key::code(KeyCode::Left)],
        Action::Decrease,
        "less",
        "previous label column / fewer seeds",
    ),
    b(
        &[Key::char('l'), Key::code(KeyCode::Right)],
        Action::Increase,
        "more",
        "next label column / more seeds",
    ),
];
