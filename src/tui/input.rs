//! The modal layer over the panes: help, the quit prompt and the text input (search, field
//! edits, the `:` palette), and what typing into it does.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};

use crate::tui::app::App;
use crate::tui::keymap::{self, Action, Key, Scope};
use crate::tui::message::Effect;
use crate::tui::tab::Tab;
use crate::tui::train::state::TrainField;
use crate::tui::transfer;

/// What the text input is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPurpose {
    Search,
    Edit(TrainField),
    EditTransfer(crate::tui::transfer::state::TransferField),
    Palette,
}

/// The modal layer on top of the panes.
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    None,
    Help {
        scroll: u16,
    },
    QuitPrompt,
    Input {
        purpose: InputPurpose,
        buffer: String,
    },
}

/// A key typed while the text input is open: Enter/Esc finish it, other keys edit the buffer
/// (a search filters as it is typed).
pub fn on_key(app: &mut App, event: &KeyEvent, key: Key) -> Vec<Effect> {
    let Modal::Input { buffer, purpose } = &mut app.modal else {
        return Vec::new();
    };
    let purpose = *purpose;
    match keymap::lookup(Scope::TextInput, key) {
        Some(Action::Confirm) => return finish(app, true),
        Some(Action::Cancel) => return finish(app, false),
        _ => {}
    }
    match event.code {
        KeyCode::Backspace => {
            buffer.pop();
        }
        KeyCode::Char(c) => buffer.push(c),
        _ => return Vec::new(),
    }
    if purpose == InputPurpose::Search {
        match app.tab {
            Tab::Genes => app.genes.set_query(buffer),
            Tab::Embeddings => {}
            _ => {
                app.data.query = buffer.clone();
                app.data.gene_cursor = 0;
                app.data.refresh_genes();
            }
        }
    }
    Vec::new()
}

/// Closes the text input, accepting (Enter) or discarding (Esc) what was typed.
pub fn finish(app: &mut App, accept: bool) -> Vec<Effect> {
    let Modal::Input { purpose, buffer } = std::mem::replace(&mut app.modal, Modal::None) else {
        return Vec::new();
    };
    match (purpose, accept) {
        (InputPurpose::Search, false) => match app.tab {
            Tab::Genes => app.genes.set_query(""),
            Tab::Embeddings => {}
            _ => {
                app.data.query.clear();
                app.data.refresh_genes();
            }
        },
        (InputPurpose::Search, true) if app.tab == Tab::Embeddings => {
            match app.embeddings.find_gene(&buffer) {
                Some(g) => app.embeddings.colour_by_gene(g),
                None => app.notice = Some(format!("no gene matches `{}`", buffer.trim())),
            }
        }
        (InputPurpose::Search, true) => {}
        (InputPurpose::Edit(field), true) => {
            if let Err(e) = app.train.form.set(field, &buffer) {
                app.notice = Some(e);
            }
        }
        (InputPurpose::EditTransfer(field), true) => match app.transfer.set(field, &buffer) {
            Ok(true) => return transfer::actions::columns_effect(app),
            Ok(false) => {}
            Err(e) => app.notice = Some(e),
        },
        (InputPurpose::Palette, true) => {
            if let Some(path) = buffer.trim().strip_prefix("open ") {
                return app.open_run(PathBuf::from(path.trim()));
            }
            return match keymap::by_command(app.pane_scope(), &buffer) {
                Some(binding) => app.act(binding.action),
                None => {
                    app.notice = Some(format!(
                        "no command `{}` here (see ? for names)",
                        buffer.trim()
                    ));
                    Vec::new()
                }
            };
        }
        (_, false) => {}
    }
    Vec::new()
}
