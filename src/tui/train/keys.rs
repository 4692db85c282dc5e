//! The key table of the Train pane: keys, palette names and help lines.

use crossterm::event::KeyCode;

use crate::tui::keymap::{Action, Binding, Key, b};

pub const BINDINGS: &[Binding] = &[
    b(
        &[Key::char('s')],
        Action::Start,
        "start",
        "start training with these settings",
    ),
    b(
        &[Key::char('p'), Key::char(' ')],
        Action::PauseResume,
        "pause",
        "pause / resume",
    ),
    b(
        &[Key::char('x')],
        Action::Stop,
        "stop",
        "stop (finish batch, checkpoint)",
    ),
    b(
        &[Key::char('o')],
        Action::Open,
        "open",
        "explore the finished run in Embeddings and Genes",
    ),
    b(
        &[Key::char('y')],
        Action::ToggleLogY,
        "log-y",
        "log-scale loss axis on/off",
    ),
    b(
        &[Key::char('a')],
        Action::ToggleSmoothing,
        "smooth",
        "smoothing (moving average) on/off",
    ),
    b(
        &[Key::char('w')],
        Action::ToggleWindow,
        "window",
        "whole run / recent steps",
    ),
    b(
        &[Key::code(KeyCode::Enter), Key::char('e')],
        Action::Edit,
        "edit",
        "type a value for the setting",
    ),
    b(
        &[Key::char('j'), Key::code(KeyCode::Down)],
        Action::Down,
        "down",
        "next setting",
    ),
    b(
        &[Key::char('k'), Key::code(KeyCode::Up)],
        Action::Up,
        "up",
        "previous setting",
    ),
    b(
        &[Key::char('h'), Key::code(KeyCode::Left)],
        Action::Decrease,
        "less",
        "decrease setting / previous method",
    ),
    b(
        &[Key::char('l'), Key::code(KeyCode::Right)],
        Action::Increase,
        "more",
        "increase setting / next method",
    ),
    b(
        &[Key::char('S')],
        Action::StartDetached,
        "start-detached",
        "start as its own process: it outlives the UI",
    ),
    b(
        &[Key::char('d')],
        Action::Detach,
        "detach",
        "stop following a detached run (it goes on)",
    ),
];
