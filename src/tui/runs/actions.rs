//! What keys and clicks do in the Runs pane: move, mark, rescan, open, attach; in an open sweep
//! table: sort, open a row's run, go back.

use std::path::PathBuf;

use ratatui::layout::{Position, Rect};

use crate::tui::app::App;
use crate::tui::keymap::Action;
use crate::tui::message::Effect;
use crate::tui::tab::Tab;

use super::sweep_table::SweepView;
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
        Action::CycleSort => app.runs.resort(SweepView::cycle_sort),
        Action::ReverseSort => app.runs.resort(SweepView::reverse),
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

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

    use crate::tui::app::App;
    use crate::tui::app_tests::{loaded_app, press, press_code};
    use crate::tui::keymap::Scope;
    use crate::tui::message::{Effect, Msg};
    use crate::tui::runs::state::tests::scripted_runs;
    use crate::tui::runs::sweep_table::Column;
    use crate::tui::runs::sweeps::tests::scripted_sweep;
    use crate::tui::tab::Tab;

    /// The Runs tab with the scripted sweep above the scripted runs, the sweep selected.
    fn app_with_sweep() -> App {
        let mut app = loaded_app();
        press(&mut app, '6');
        app.update(Msg::SweepsScanned(vec![scripted_sweep()]));
        app.update(Msg::RunsScanned(scripted_runs()));
        app
    }

    #[test]
    fn enter_opens_the_sweeps_table_and_a_rows_run_q_goes_back() {
        let mut app = app_with_sweep();
        assert_eq!(app.runs.len(), 4);
        assert_eq!(app.runs.selected_sweep().unwrap().name, "sweep-demo_immune");
        assert!(press(&mut app, ' ').is_empty());
        assert!(app.runs.marked.is_empty() && app.notice.is_some());
        assert!(press_code(&mut app, KeyCode::Enter).is_empty());
        assert_eq!(app.scope(), Scope::SweepTable);
        // Sorted by kNN macro-F1, highest first, the selected first row (masked r0.25) is still
        // selected, second now; masked r0.50 leads and its first seed opens.
        for _ in 0..4 {
            press(&mut app, 's');
        }
        let view = app.runs.table.as_ref().unwrap();
        assert_eq!((view.sort, view.cursor), (Some(Column::Knn), 1));
        let sweep_runs = std::path::Path::new("runs/sweep-demo_immune/runs");
        assert_eq!(app.current_run(), Some(sweep_runs.join("masked-r0.25-s0")));
        press(&mut app, 'k');
        let run = sweep_runs.join("masked-r0.50-s0");
        assert_eq!(app.current_run(), Some(run.clone()));
        // Reversing keeps it selected too (now last).
        press(&mut app, 'o');
        assert_eq!(app.runs.table.as_ref().unwrap().cursor, 4);
        press(&mut app, 'o');
        let effects = press_code(&mut app, KeyCode::Enter);
        assert!(
            matches!(&effects[..], [Effect::Analyse { run_dir, .. }] if *run_dir == run),
            "{effects:?}"
        );
        assert_eq!(app.tab, Tab::Embeddings);
        press(&mut app, '6');
        // The PCA row (4th by kNN F1) has no run to open.
        press(&mut app, 'j');
        press(&mut app, 'j');
        press_code(&mut app, KeyCode::Down);
        assert!(press_code(&mut app, KeyCode::Enter).is_empty());
        assert!(app.notice.as_deref().unwrap().contains("PCA"));
        // q leaves the table, not the app; then q quits.
        assert!(press(&mut app, 'q').is_empty());
        assert!(app.runs.table.is_none() && app.scope() == Scope::Runs);
        assert_eq!(press(&mut app, 'q'), [Effect::Quit]);
    }

    #[test]
    fn a_click_selects_a_table_row_and_a_rescan_keeps_the_view() {
        let mut app = app_with_sweep();
        press_code(&mut app, KeyCode::Enter);
        let body = app.body();
        let sweep = scripted_sweep();
        let view = app.runs.table.clone().unwrap();
        let (rows, _) = super::table_rows(body, &sweep, &view, &app.theme);
        app.update(Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: rows.x + 3,
            row: rows.y + 2,
            modifiers: KeyModifiers::NONE,
        }));
        assert_eq!(app.runs.table.as_ref().unwrap().cursor, 2);
        app.update(Msg::SweepsScanned(vec![scripted_sweep()]));
        assert_eq!(app.runs.table.as_ref().unwrap().cursor, 2);
        press_code(&mut app, KeyCode::Esc);
        assert_eq!(app.runs.selected_sweep().unwrap().name, "sweep-demo_immune");
        // A sweep gone from the directory closes its table.
        press_code(&mut app, KeyCode::Enter);
        app.update(Msg::SweepsScanned(Vec::new()));
        assert!(app.runs.table.is_none());
        assert_eq!(app.runs.selected().unwrap().name, "run-c-masked");
    }
}
