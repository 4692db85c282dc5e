//! What keys and clicks do in the Runs pane: move, mark, rescan, open, attach.

use std::path::PathBuf;

use ratatui::layout::{Position, Rect};

use crate::tui::app::App;
use crate::tui::keymap::Action;
use crate::tui::message::Effect;
use crate::tui::tab::Tab;

use super::view::run_rows;

/// Handles an action of the Runs pane.
pub fn act(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Down => app.runs.move_cursor(1),
        Action::Up => app.runs.move_cursor(-1),
        Action::Mark => app.runs.toggle_mark(),
        Action::Refresh => return scan(app),
        Action::Attach => return attach_selected(app),
        Action::Open => {
            if let Some(run) = app.runs.selected() {
                return app.open_run(run.dir.clone());
            }
        }
        _ => {}
    }
    Vec::new()
}

/// Rescans the runs directory off the UI thread.
pub fn scan(app: &mut App) -> Vec<Effect> {
    app.runs.scanning = true;
    vec![Effect::ScanRuns {
        out_dir: PathBuf::from(&app.config.train.out_dir),
    }]
}
/// Follows the selected run in the Train tab (unless this UI is training in-process).
pub fn attach_selected(app: &mut App) -> Vec<Effect> {
    let Some(run) = app.runs.selected() else {
        return Vec::new();
    };
    if app.train.training_here() {
        app.notice = Some("a run is training in this UI: stop it first".into());
        return Vec::new();
    }
    let run_dir = run.dir.clone();
    app.train.reset_run();
    app.tab = Tab::Train;
    vec![Effect::Detach, Effect::Attach { run_dir }]
}

/// A click in the Runs pane selects the run under it.
pub fn click(app: &mut App, at: Position, body: Rect) {
    let (rows, first) = run_rows(body, &app.runs);
    if rows.contains(at) {
        let i = first + usize::from(at.y - rows.y);
        if i < app.runs.runs.len() {
            app.runs.cursor = i;
        }
    }
}
