//! What keys and clicks do in the Data pane.

use ratatui::layout::{Position, Rect};

use crate::tui::app::App;
use crate::tui::input::InputPurpose;
use crate::tui::keymap::Action;
use crate::tui::message::Effect;

use super::view::gene_rows;

/// Handles an action of the Data pane.
pub fn act(app: &mut App, action: Action) -> Vec<Effect> {
    let page = gene_rows(app.body()).height.max(1) as isize;
    let d = &mut app.data;
    match action {
        Action::Down => d.move_gene(1),
        Action::Up => d.move_gene(-1),
        Action::PageDown => d.move_gene(page),
        Action::PageUp => d.move_gene(-page),
        Action::Top => d.move_gene(isize::MIN / 2),
        Action::Bottom => d.move_gene(isize::MAX / 2),
        Action::Search => {
            let query = d.query.clone();
            app.open_input(InputPurpose::Search, query);
        }
        Action::CycleSort => {
            d.sort = d.sort.next();
            d.refresh_genes();
        }
        Action::NextColumn | Action::PrevColumn => {
            let n = d.view().map_or(0, |v| v.obs.len());
            if n > 0 {
                let by = if action == Action::NextColumn {
                    1
                } else {
                    n - 1
                };
                d.obs_cursor = (d.obs_cursor + by) % n;
            }
        }
        Action::UseAsLabel => match d.shown_column() {
            Some(col) if !col.counts.is_empty() => {
                let name = col.name.clone();
                app.notice = Some(format!("later panes colour cells by {name}"));
                d.label = Some(name);
            }
            Some(col) => {
                app.notice = Some(format!("{} has no categories to colour by", col.name));
            }
            None => {}
        },
        Action::CycleMatrix => {
            let Some(view) = d.view() else {
                return Vec::new();
            };
            let choices = view.matrices.clone();
            let i = choices
                .iter()
                .position(|m| *m == d.matrix)
                .map_or(0, |i| i + 1);
            match choices.get(i % choices.len().max(1)) {
                Some(next) if *next != d.matrix => {
                    d.matrix = next.clone();
                    return app.load_effect();
                }
                _ => app.notice = Some("this file has only one matrix".into()),
            }
        }
        _ => {}
    }
    Vec::new()
}

/// A click in the Data pane selects the gene row under it.
pub fn click(app: &mut App, at: Position, body: Rect) {
    let rows = gene_rows(body);
    if rows.contains(at) {
        let i = app.data.gene_offset + usize::from(at.y - rows.y);
        if i < app.data.visible.len() {
            app.data.gene_cursor = i;
        }
    }
}
