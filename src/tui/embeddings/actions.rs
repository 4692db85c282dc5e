//! What keys, clicks and the wheel do in the Embeddings pane: views, colours, highlight, zoom and pan.

use ratatui::layout::{Position, Rect};

use crate::tui::app::App;
use crate::tui::input::InputPurpose;
use crate::tui::keymap::Action;

use super::view::{legend_row_at, plot_area};

/// Handles an action of the Embeddings pane.
pub fn act(app: &mut App, action: Action) {
    let e = &mut app.embeddings;
    let t = &mut e.timeline;
    match action {
        Action::PrevSnapshot | Action::NextSnapshot | Action::PlaySnapshots if t.is_empty() => {
            app.notice = Some(
                "no latent snapshots: runs store them every train.snapshot_every epochs".into(),
            );
            return;
        }
        Action::PrevSnapshot => return t.previous(),
        Action::NextSnapshot => return t.next(),
        Action::PlaySnapshots => return t.toggle_play(),
        Action::FinalView => return t.to_final(),
        _ => {}
    }
    if e.analysis.is_none() {
        app.notice = Some("no run open: Enter on a run in the Runs tab, or :open RUN_DIR".into());
        return;
    }
    match action {
        Action::ToggleView => e.toggle_view(),
        Action::CycleColour => e.cycle_colour(),
        Action::Search => app.open_input(InputPurpose::Search, String::new()),
        Action::Select => e.toggle_highlight(),
        Action::Down => e.move_cursor(1),
        Action::Up => e.move_cursor(-1),
        Action::ZoomIn | Action::ZoomOut => e.zoom_by(action == Action::ZoomIn, None),
        Action::ResetZoom => e.reset_zoom(),
        Action::Pan(dx, dy) => e.pan(dx, dy),
        _ => {}
    }
}

/// A click on a legend row highlights that group.
pub fn click(app: &mut App, at: Position, body: Rect) {
    let e = &mut app.embeddings;
    if let Some(i) = legend_row_at(body, e, at.x, at.y) {
        e.cursor = i;
        e.toggle_highlight();
    }
}

/// The mouse wheel over the scatter zooms about the pointer (up zooms in).
pub fn wheel(app: &mut App, up: bool, at: Position, body: Rect) {
    let plot = plot_area(body);
    if plot.contains(at) {
        let anchor = app.embeddings.view_at(at.x - plot.x, at.y - plot.y);
        app.embeddings.zoom_by(up, Some(anchor));
    }
}
