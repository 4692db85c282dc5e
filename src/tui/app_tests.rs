//! Tests of the app shell and the features it routes to, driven by keys, clicks and worker
//! messages; also the fixtures (apps in known states) the snapshot tests reuse.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};

use super::app::*;
use crate::config::Config;
use crate::train::{TrainCommand, TrainEvent};
use crate::tui::data::state::LoadState;
use crate::tui::data::state::tests::demo_view;
use crate::tui::embeddings::job::AnalysisEvent;
use crate::tui::embeddings::state::tests::scripted_analysis;
use crate::tui::input::Modal;
use crate::tui::keymap::Scope;
use crate::tui::message::{Effect, Msg};
use crate::tui::panes;
use crate::tui::tab::Tab;
use crate::tui::theme::Theme;
use crate::tui::train::state::RunPhase;
use crate::tui::train::state::tests::scripted_run;
use crate::tui::transfer::state::TransferMsg;
use crossterm::event::KeyModifiers;
use ratatui::symbols::Marker;

/// An app on a fixed demo path with a fixed log path and colours off, as pane tests want it.
pub fn test_app() -> App {
    App::new(
        Config::default(),
        PathBuf::from("/data/demo_immune.h5ad"),
        "~/.local/state/cellscope/cellscope.log".into(),
        Theme::new(true, Marker::Braille),
    )
}

/// The test app with the demo view loaded.
pub fn loaded_app() -> App {
    let mut app = test_app();
    app.start();
    app.update(Msg::Loaded(Ok(demo_view())));
    app
}

/// The loaded app with a scripted analysis of `n` cells opened (changed by `edit` first).
pub fn explored_app_with(
    n: usize,
    edit: impl FnOnce(&mut crate::analysis::run_analysis::RunAnalysis),
) -> App {
    let mut app = loaded_app();
    let effects = app.open_run(PathBuf::from("runs/20261123-masked"));
    let Effect::Analyse { job, .. } = effects[0] else {
        panic!("{effects:?}")
    };
    let mut analysis = scripted_analysis(n);
    edit(&mut analysis);
    app.update(Msg::Analysis(AnalysisEvent::Done {
        job,
        result: Ok(std::sync::Arc::new(analysis)),
    }));
    app
}

/// The loaded app with a scripted analysis of `n` cells opened.
pub fn explored_app(n: usize) -> App {
    explored_app_with(n, |_| {})
}

pub fn press(app: &mut App, c: char) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

pub fn press_code(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

#[test]
fn start_loads_the_dataset_with_the_configured_matrix() {
    let mut app = test_app();
    let effects = app.start();
    assert_eq!(
        effects,
        [Effect::Load {
            path: "/data/demo_immune.h5ad".into(),
            matrix: "X".into()
        }]
    );
    assert!(matches!(app.data.load, LoadState::Loading { .. }));
}

#[test]
fn tabs_switch_by_number_tab_key_and_wrap() {
    let mut app = loaded_app();
    press(&mut app, '2');
    assert_eq!(app.tab, Tab::Train);
    press_code(&mut app, KeyCode::BackTab);
    press_code(&mut app, KeyCode::BackTab);
    assert_eq!(app.tab, Tab::Runs);
    press_code(&mut app, KeyCode::Tab);
    assert_eq!(app.tab, Tab::Data);
}

#[test]
fn quit_is_immediate_when_idle_and_asks_while_training() {
    let mut app = loaded_app();
    assert_eq!(press(&mut app, 'q'), [Effect::Quit]);
    press(&mut app, '2');
    let effects = press(&mut app, 's');
    assert!(matches!(effects[0], Effect::StartTraining { .. }));
    assert!(press(&mut app, 'q').is_empty());
    assert_eq!(app.modal, Modal::QuitPrompt);
    assert!(press(&mut app, 'n').is_empty());
    assert_eq!(app.modal, Modal::None);
    press(&mut app, 'q');
    assert_eq!(
        press(&mut app, 'y'),
        [Effect::Command(TrainCommand::Stop), Effect::Quit]
    );
}

#[test]
fn ctrl_c_quits_from_anywhere_and_stops_a_run() {
    let mut app = loaded_app();
    press(&mut app, '2');
    press(&mut app, 's');
    press(&mut app, '/');
    let effects = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(effects, [Effect::Command(TrainCommand::Stop), Effect::Quit]);
}

#[test]
fn start_pause_resume_stop_follow_the_run_status() {
    let mut app = loaded_app();
    press(&mut app, '2');
    let effects = press(&mut app, 's');
    let Effect::StartTraining { config, .. } = &effects[0] else {
        panic!("{effects:?}")
    };
    assert_eq!(config.train.epochs, crate::config::Epochs::Auto);
    assert_eq!(config.data.label, "cell_type");
    for e in scripted_run(1, 5) {
        app.update(Msg::Train(e));
    }
    assert_eq!(press(&mut app, 'p'), [Effect::Command(TrainCommand::Pause)]);
    app.update(Msg::Train(TrainEvent::Paused));
    assert_eq!(
        press(&mut app, ' '),
        [Effect::Command(TrainCommand::Resume)]
    );
    app.update(Msg::Train(TrainEvent::Resumed));
    assert_eq!(press(&mut app, 'x'), [Effect::Command(TrainCommand::Stop)]);
    assert_eq!(app.train.status, RunPhase::Stopping);
}

#[test]
fn editing_a_setting_by_typing_and_by_steps() {
    let mut app = loaded_app();
    press(&mut app, '2');
    press(&mut app, 'j'); // epochs ("auto")
    press_code(&mut app, KeyCode::Enter);
    for _ in 0..4 {
        press_code(&mut app, KeyCode::Backspace);
    }
    press(&mut app, '3');
    press_code(&mut app, KeyCode::Enter);
    let fixed = crate::config::Epochs::Fixed;
    assert_eq!(app.train.form.epochs, fixed(3));
    press(&mut app, 'l');
    assert_eq!(app.train.form.epochs, fixed(4));
    press_code(&mut app, KeyCode::Enter);
    press(&mut app, 'x');
    press_code(&mut app, KeyCode::Enter);
    assert!(app.notice.as_deref().unwrap().contains("whole number"));
    assert_eq!(app.train.form.epochs, fixed(4));
}

#[test]
fn gene_search_filters_live_and_escape_clears_it() {
    let mut app = loaded_app();
    press(&mut app, '/');
    press(&mut app, 'c');
    press(&mut app, 'd');
    assert_eq!(app.data.visible.len(), 3);
    press_code(&mut app, KeyCode::Esc);
    assert_eq!(app.data.visible.len(), 8);
}

#[test]
fn matrix_choice_reloads_and_label_choice_is_remembered() {
    let mut app = loaded_app();
    let effects = press(&mut app, 'x');
    assert_eq!(
        effects,
        [Effect::Load {
            path: "/data/demo_immune.h5ad".into(),
            matrix: "raw".into()
        }]
    );
    app.update(Msg::Loaded(Ok(demo_view())));
    press(&mut app, 'l'); // donor
    press(&mut app, 'c');
    assert_eq!(app.data.label.as_deref(), Some("donor"));
    press(&mut app, 'l'); // n_counts: a float column
    press(&mut app, 'c');
    assert_eq!(app.data.label.as_deref(), Some("donor"));
}

#[test]
fn palette_runs_commands_by_name() {
    let mut app = loaded_app();
    press(&mut app, ':');
    for c in "train".chars() {
        press(&mut app, c);
    }
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Train);
    press(&mut app, ':');
    for c in "log-y".chars() {
        press(&mut app, c);
    }
    press_code(&mut app, KeyCode::Enter);
    assert!(app.train.log_y);
}

#[test]
fn mouse_toggle_and_clicks_on_tabs_and_rows() {
    let mut app = loaded_app();
    app.update(Msg::Resize(80, 24));
    assert_eq!(press(&mut app, 'm'), [Effect::SetMouse(false)]);
    let layout = panes::screen_layout(app.area);
    let x = (0..80)
        .find(|&x| panes::tab_at(layout.tabs, x) == Some(Tab::Train))
        .unwrap();
    let click = |column, row| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    app.update(click(x, layout.tabs.y));
    assert_eq!(app.tab, Tab::Train);
    let form = crate::tui::train::view::form_rows(app.body());
    app.update(click(form.x + 1, form.y + 2));
    assert_eq!(app.train.field, 2);
    press(&mut app, '1');
    let rows = crate::tui::data::view::gene_rows(app.body());
    app.update(click(rows.x + 1, rows.y + 4));
    assert_eq!(app.data.gene_cursor, 4);
}

#[test]
fn runs_tab_scans_when_opened_and_on_refresh_and_marks_runs() {
    let mut app = loaded_app();
    let scan = Effect::ScanRuns {
        out_dir: "runs".into(),
    };
    assert_eq!(press(&mut app, '6'), std::slice::from_ref(&scan));
    assert!(app.runs.scanning);
    // Pressing the tab's key again does not rescan; leaving and coming back does.
    assert!(press(&mut app, '6').is_empty());
    app.update(Msg::RunsScanned(
        crate::tui::runs::state::tests::scripted_runs(),
    ));
    assert!(!app.runs.scanning);
    press_code(&mut app, KeyCode::Down);
    press(&mut app, ' ');
    assert_eq!(app.runs.marked, ["run-b-byol"]);
    assert_eq!(press(&mut app, 'r'), std::slice::from_ref(&scan));
    press_code(&mut app, KeyCode::Tab);
    assert_eq!(app.tab, Tab::Data);
    assert_eq!(press_code(&mut app, KeyCode::BackTab), [scan]);
}

/// The app on the Runs tab with the scripted runs listed.
fn app_with_runs() -> App {
    let mut app = loaded_app();
    press(&mut app, '6');
    app.update(Msg::RunsScanned(
        crate::tui::runs::state::tests::scripted_runs(),
    ));
    app
}

#[test]
fn attaching_follows_a_run_and_quitting_or_detaching_leaves_it_going() {
    let mut app = app_with_runs();
    press_code(&mut app, KeyCode::Down);
    let run_dir = app.runs.selected().unwrap().dir.clone();
    let attach = Effect::Attach {
        run_dir: run_dir.clone(),
    };
    assert_eq!(press(&mut app, 'a'), [Effect::Detach, attach]);
    assert_eq!(app.tab, Tab::Train);
    app.update(Msg::Attached(Ok(run_dir.clone())));
    for event in scripted_run(2, 3).into_iter().take(4) {
        app.update(Msg::Train(event));
    }
    assert_eq!(app.train.status, RunPhase::Running);
    assert_eq!(app.train.attached.as_ref(), Some(&run_dir));
    // Commands go to the followed run; quitting does not stop it and does not ask.
    assert_eq!(press(&mut app, 'x'), [Effect::Command(TrainCommand::Stop)]);
    app.train.status = RunPhase::Running;
    assert_eq!(press(&mut app, 'q'), [Effect::Quit]);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.update(Msg::Key(ctrl_c)), [Effect::Quit]);
    assert_eq!(press(&mut app, 'd'), [Effect::Detach]);
    assert_eq!(app.train.attached, None);
    assert_eq!(app.train.status, RunPhase::Idle);
    assert!(press(&mut app, 'd').is_empty());
    assert!(app.notice.as_deref().unwrap().contains("not following"));
}

#[test]
fn a_failed_attach_says_why_and_an_in_process_run_blocks_attaching() {
    let mut app = app_with_runs();
    press(&mut app, 'a');
    app.update(Msg::Attached(Err("runs/x: not a run directory".into())));
    assert!(matches!(app.train.status, RunPhase::Failed(_)));
    assert_eq!(app.train.attached, None);
    let mut app = app_with_runs();
    app.train.status = RunPhase::Running;
    assert!(press(&mut app, 'a').is_empty());
    assert_eq!(app.tab, Tab::Runs);
}

#[test]
fn start_detached_asks_for_a_process_of_its_own() {
    let mut app = loaded_app();
    press(&mut app, '2');
    match press(&mut app, 'S').as_slice() {
        [Effect::StartDetached { path, config }] => {
            assert_eq!(path, &app.dataset);
            assert_eq!(config.train.method, app.train.form.method);
        }
        other => panic!("unexpected effects {other:?}"),
    }
}

#[test]
fn clicking_and_scrolling_select_runs() {
    let mut app = app_with_runs();
    app.update(Msg::Resize(80, 24));
    let (rows, first) = crate::tui::runs::view::run_rows(app.body(), &app.runs);
    assert_eq!(first, 0);
    app.update(Msg::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: rows.x + 2,
        row: rows.y + 2,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.runs.cursor, 2);
    app.update(Msg::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: rows.x + 2,
        row: rows.y,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.runs.cursor, 1);
}

#[test]
fn current_run_is_the_runs_selection_else_the_trained_run() {
    let mut app = loaded_app();
    assert_eq!(app.current_run(), None);
    app.train.run_name = Some("20261123-1-masked".into());
    assert_eq!(
        app.current_run(),
        Some(PathBuf::from("runs/20261123-1-masked"))
    );
    app.update(Msg::RunsScanned(
        crate::tui::runs::state::tests::scripted_runs(),
    ));
    assert_eq!(app.current_run(), Some(PathBuf::from("runs/run-c-masked")));
}

#[test]
fn transfer_tab_follows_the_selected_run_reads_columns_and_starts() {
    let mut app = app_with_runs();
    let run = PathBuf::from("runs/run-c-masked");
    let columns = Effect::LoadTargetColumns {
        path: "/data/demo_immune.h5ad".into(),
    };
    assert_eq!(
        press(&mut app, '5'),
        [
            Effect::LoadSavedTransfer { run: run.clone() },
            columns.clone()
        ]
    );
    assert!(press(&mut app, 's').is_empty());
    assert!(app.notice.as_deref().unwrap().contains("still loading"));
    app.update(Msg::Transfer(TransferMsg::Columns {
        path: "/data/demo_immune.h5ad".into(),
        result: Ok(vec!["donor".into(), "cell_type".into()]),
    }));
    press(&mut app, 'j'); // label column
    press(&mut app, 'l');
    assert_eq!(app.transfer.label.as_deref(), Some("donor"));
    press(&mut app, 'j');
    press(&mut app, 'j'); // seeds
    press(&mut app, 'h');
    let effects = press(&mut app, 's');
    let [
        Effect::StartTransfer {
            run: r, request, ..
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    assert_eq!(r, &run);
    assert_eq!((request.label.as_str(), request.seeds), ("donor", Some(2)));
    assert!(press(&mut app, 's').is_empty(), "one transfer at a time");
    // Typing a new target asks for its columns.
    press(&mut app, 'j');
    press_code(&mut app, KeyCode::Enter);
    for _ in 0.."/data/demo_immune.h5ad".len() {
        press_code(&mut app, KeyCode::Backspace);
    }
    for c in "t.h5ad".chars() {
        press(&mut app, c);
    }
    assert_eq!(
        press_code(&mut app, KeyCode::Enter),
        [Effect::LoadTargetColumns {
            path: "t.h5ad".into()
        }]
    );
}

#[test]
fn help_opens_scrolls_and_closes() {
    let mut app = loaded_app();
    press(&mut app, '?');
    assert_eq!(app.scope(), Scope::Help);
    press(&mut app, 'j');
    assert_eq!(app.modal, Modal::Help { scroll: 1 });
    press_code(&mut app, KeyCode::Esc);
    assert_eq!(app.modal, Modal::None);
}

#[test]
fn enter_on_a_run_opens_it_into_the_embeddings_pane() {
    let mut app = loaded_app();
    press(&mut app, '6');
    app.update(Msg::RunsScanned(
        crate::tui::runs::state::tests::scripted_runs(),
    ));
    let effects = press_code(&mut app, KeyCode::Enter);
    assert_eq!(
        effects,
        [Effect::Analyse {
            job: 1,
            run_dir: "runs/run-c-masked".into(),
            label: Some("cell_type".into()),
        }]
    );
    assert_eq!(app.tab, Tab::Embeddings);
    assert!(matches!(
        app.embeddings.status,
        crate::tui::embeddings::state::AnalysisStatus::Running { .. }
    ));
    // The palette opens any directory; a newer job supersedes the older one.
    press(&mut app, ':');
    for c in "open /tmp/runs/x".chars() {
        press(&mut app, c);
    }
    let effects = press_code(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::Analyse { job: 2, run_dir, .. }] if run_dir.ends_with("x"))
    );
}

#[test]
fn a_finished_training_run_can_be_explored_from_the_train_pane() {
    let mut app = loaded_app();
    press(&mut app, '2');
    assert!(press(&mut app, 'o').is_empty());
    assert!(app.notice.as_deref().unwrap().contains("finished"));
    press(&mut app, 's');
    for e in scripted_run(1, 5) {
        app.update(Msg::Train(e));
    }
    app.update(Msg::Train(TrainEvent::Finished {
        run_dir: "/tmp/runs/masked-0001".into(),
        best_val_loss: 0.5,
        epochs_done: 1,
        stopped: false,
    }));
    let effects = press(&mut app, 'o');
    assert!(
        matches!(&effects[..], [Effect::Analyse { run_dir, .. }] if run_dir.ends_with("masked-0001"))
    );
    assert_eq!(app.tab, Tab::Embeddings);
}

#[test]
fn choosing_a_gene_in_genes_colours_the_embedding_by_it() {
    let mut app = explored_app(60);
    press(&mut app, '4');
    assert_eq!(app.genes.visible.len(), 6);
    press(&mut app, 'j');
    let gene = app.genes.selected().unwrap();
    press_code(&mut app, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Embeddings);
    assert_eq!(
        app.embeddings.colour,
        crate::tui::embeddings::state::ColourBy::Gene(gene)
    );
    press(&mut app, '4');
    press(&mut app, 'e');
    assert_eq!(app.tab, Tab::Embeddings);
    assert_eq!(
        app.embeddings.colour,
        crate::tui::embeddings::state::ColourBy::GeneError(gene)
    );
    press(&mut app, '4');
    press_code(&mut app, KeyCode::Enter);
    // `/` in Embeddings picks a gene by name; an unknown name leaves the colour alone.
    press(&mut app, '/');
    press(&mut app, 'q');
    press_code(&mut app, KeyCode::Enter);
    assert!(app.notice.as_deref().unwrap().contains("no gene"));
    assert_eq!(
        app.embeddings.colour,
        crate::tui::embeddings::state::ColourBy::Gene(gene)
    );
}

#[test]
fn mouse_wheel_zooms_the_scatter_and_resize_rebins_it() {
    let mut app = explored_app(300);
    app.update(Msg::Resize(120, 40));
    let plot = crate::tui::embeddings::view::plot_area(app.body());
    assert_eq!(
        (app.embeddings.grid.width, app.embeddings.grid.height),
        (plot.width, plot.height)
    );
    let wheel = |kind| {
        Msg::Mouse(MouseEvent {
            kind,
            column: plot.x + 2,
            row: plot.bottom() - 2,
            modifiers: KeyModifiers::NONE,
        })
    };
    app.update(wheel(MouseEventKind::ScrollUp));
    assert_eq!(app.embeddings.zoom, 1);
    let (cx, cy) = app.embeddings.centre;
    let [x0, x1, y0, y1] = {
        app.embeddings.reset_zoom();
        app.embeddings.window()
    };
    assert!(
        cx < (x0 + x1) / 2.0 && cy < (y0 + y1) / 2.0,
        "zoomed towards the pointer"
    );
    app.update(wheel(MouseEventKind::ScrollDown));
    assert_eq!(app.embeddings.zoom, 0);
    // A click on a legend row highlights that group; a second click clears it.
    let body = app.body();
    let (x, y) = (body.right() - 10, body.y + 2);
    let click = Msg::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    });
    app.update(click.clone());
    assert_eq!(app.embeddings.highlight, Some(1));
    app.update(click);
    assert_eq!(app.embeddings.highlight, None);
}
