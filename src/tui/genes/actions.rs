//! What keys do in the Genes pane: move, sort, search, colour the embedding by a gene.

use crate::tui::app::App;
use crate::tui::input::InputPurpose;
use crate::tui::keymap::Action;
use crate::tui::message::Effect;
use crate::tui::tab::Tab;

use super::view::table_rows;

/// Handles an action of the Genes pane.
pub fn act(app: &mut App, action: Action) -> Vec<Effect> {
    let page = table_rows(app.body()).height.max(1) as isize;
    let g = &mut app.genes;
    match action {
        Action::Down => g.move_cursor(1),
        Action::Up => g.move_cursor(-1),
        Action::PageDown => g.move_cursor(page),
        Action::PageUp => g.move_cursor(-page),
        Action::Top => g.move_cursor(isize::MIN / 2),
        Action::Bottom => g.move_cursor(isize::MAX / 2),
        Action::CycleSort => g.cycle_sort(),
        Action::ReverseSort => g.reverse(),
        Action::Search => {
            let query = g.query.clone();
            app.open_input(InputPurpose::Search, query);
        }
        Action::Select => {
            if let Some(gene) = g.selected() {
                app.embeddings.colour_by_gene(gene);
                return app.open_tab(Tab::Embeddings);
            }
        }
        Action::ColourByError => {
            if let Some(gene) = g.selected() {
                if app.embeddings.colour_by_error(gene) {
                    return app.open_tab(Tab::Embeddings);
                }
                app.notice = Some("this run has no per-cell reconstruction errors".into());
            }
        }
        _ => {}
    }
    Vec::new()
}
