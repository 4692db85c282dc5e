//! What keys and clicks do in the Runs pane: move, mark, rescan, open, attach; in an open sweep
//! table: sort, open a row's run, go back.

use std::path::PathBuf;

use ratatui::layout::{Position, Rect};

use crate::tui::app::App;
use crate::tui::keymap::Action;
use crate::tui::message::Effect;
use crate::tui::tab::Tab;

use super::sweep_view::table_rows;
use super::view::run_rows;

/// Handles an action of the Runs pane (of its sweep table when one is open).
pub fn act(app: &mut App, action: Action) -> Vec<Effect> {
    if app.runs.table.is_some() {
        return act_in_table(app, action);
    }
    match action {
        Action::Down => app.runs.move_cursor(1),
        Action::Up => app.runs.move_cursor(-1),
        Action::Mark if app.runs.selected_sweep().is_some() => {
            app.notice = Some("a sweep is not compared: Enter opens its table".into());
        }
        Action::Mark => app.runs.toggle_mark(),
        Action::Refresh => return scan(app),
        Action::Attach => return attach_selected(app),
        Action::Open if app.runs.selected_sweep().is_some() => {
            if let Err(e) = app.runs.open_table() {
                app.notice = Some(e);
            }
        }
        Action::Open => {
            if let Some(run) = app.runs.selected() {
                return app.open_run(run.dir.clone());
            }
        }
        _ => {}
    }
    Vec::new()
}

fn act_in_table(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Down => app.runs.move_cursor(1),
        Action::Up => app.runs.move_cursor(-1),
        Action::CycleSort => app.runs.table.iter_mut().for_each(|v| v.cycle_sort()),
        Action::ReverseSort => app.runs.table.iter_mut().for_each(|v| v.reverse()),
        Action::Cancel => app.runs.table = None,
        Action::Open => match app.runs.table_run().cloned() {
            Some(dir) => return app.open_run(dir),
            None => app.notice = Some("no finished run in this row (PCA is the baseline)".into()),
        },
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

/// A click in the Runs pane selects the row under it (of the list, or of the open sweep table).
pub fn click(app: &mut App, at: Position, body: Rect) {
    let (rows, first, n) = match app.runs.open_sweep() {
        Some((sweep, view)) => {
            let (rows, first) = table_rows(body, sweep, view, &app.theme);
            (rows, first, sweep.row_count())
        }
        None => {
            let (rows, first) = run_rows(body, &app.runs);
            (rows, first, app.runs.len())
        }
    };
    if rows.contains(at) {
        let i = first + usize::from(at.y - rows.y);
        if i < n {
            match app.runs.table.as_mut() {
                Some(view) => view.cursor = i,
                None => app.runs.cursor = i,
            }
        }
    }
}
