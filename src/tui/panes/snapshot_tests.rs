//! Whole-screen snapshots of every pane at 80x24 and 120x40 (TestBackend + insta), including the
//! Train pane fed a scripted run. Inputs are fixed so the screens are identical on every machine.

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::train::TrainEvent;
use crate::tui::app::App;
use crate::tui::app_tests::{
    explored_app, explored_app_with, loaded_app, press, press_code, test_app,
};
use crate::tui::embeddings::job::AnalysisEvent;
use crate::tui::message::{Effect, Msg};
use crate::tui::runs::state::tests::scripted_runs;
use crate::tui::runs::sweeps::tests::scripted_sweep;
use crate::tui::train::state::tests::scripted_run;
use crate::tui::transfer::state::TransferMsg;
use crate::tui::transfer::state::tests::scripted_report;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

/// Renders `app` at each size and compares with the stored snapshot `name_WxH`.
fn snapshot(name: &str, app: &mut App) {
    for (w, h) in SIZES {
        app.update(Msg::Resize(w, h));
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| crate::tui::panes::draw(f, app)).unwrap();
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

fn training_app(epochs: usize, steps: usize) -> App {
    let mut app = loaded_app();
    press(&mut app, '2');
    press(&mut app, 's');
    for e in scripted_run(epochs, steps) {
        app.update(Msg::Train(e));
    }
    app
}

#[test]
fn data_pane_loaded() {
    snapshot("data_loaded", &mut loaded_app());
}

#[test]
fn data_pane_searching_on_another_column() {
    let mut app = loaded_app();
    press(&mut app, 'l');
    press(&mut app, 's');
    press(&mut app, '/');
    press(&mut app, 'c');
    snapshot("data_search", &mut app);
}

#[test]
fn data_pane_loading_and_failed() {
    let mut app = test_app();
    app.start();
    app.update(Msg::LoadStage("reading X".into()));
    snapshot("data_loading", &mut app);
    app.update(Msg::Loaded(Err(
        "/data/demo_immune.h5ad: not an HDF5 file (or truncated/corrupt)".into(),
    )));
    snapshot("data_failed", &mut app);
}

#[test]
fn train_pane_idle_shows_the_form_from_config() {
    let mut app = loaded_app();
    press(&mut app, '2');
    snapshot("train_idle", &mut app);
}

#[test]
fn train_pane_mid_run_from_scripted_events() {
    let mut app = training_app(4, 60);
    app.update(Msg::Train(TrainEvent::Log(
        "lr 9.0e-4 after step schedule".into(),
    )));
    snapshot("train_running", &mut app);
}

#[test]
fn train_pane_log_y_smoothed_recent_window() {
    let mut app = training_app(6, 100);
    press(&mut app, 'y');
    press(&mut app, 'a');
    press(&mut app, 'w');
    snapshot("train_toggles", &mut app);
}

#[test]
fn train_pane_paused_then_finished_and_failed() {
    let mut app = training_app(2, 30);
    app.update(Msg::Train(TrainEvent::Paused));
    snapshot("train_paused", &mut app);
    app.update(Msg::Train(TrainEvent::Finished {
        run_dir: "/tmp/runs/masked-0001".into(),
        best_val_loss: 0.5,
        epochs_done: 2,
        stopped: true,
    }));
    snapshot("train_stopped", &mut app);
    let mut app = training_app(1, 10);
    app.update(Msg::Train(TrainEvent::Failed {
        message: "worker panicked: out of memory in backward".into(),
    }));
    snapshot("train_failed", &mut app);
}

#[test]
fn help_screen_from_the_keymap() {
    let mut app = loaded_app();
    press(&mut app, '?');
    snapshot("help", &mut app);
}

#[test]
fn quit_prompt_while_training() {
    let mut app = training_app(1, 10);
    press(&mut app, 'q');
    snapshot("quit_prompt", &mut app);
}

#[test]
fn palette_and_field_edit_use_the_status_line() {
    let mut app = loaded_app();
    press(&mut app, '2');
    press(&mut app, 'j');
    press_code(&mut app, KeyCode::Enter);
    snapshot("train_edit", &mut app);
}

#[test]
fn every_pane_draws_at_tiny_and_odd_sizes_without_panicking() {
    let mut app = training_app(2, 30);
    for (w, h) in [(1, 1), (20, 5), (40, 10), (79, 23), (200, 60)] {
        for tab in ['1', '2', '3', '4', '5', '6', '?'] {
            press(&mut app, tab);
            app.update(Msg::Resize(w, h));
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal.draw(|f| crate::tui::panes::draw(f, &app)).unwrap();
            if tab == '?' {
                press_code(&mut app, KeyCode::Esc);
            }
        }
    }
}

fn runs_app() -> App {
    let mut app = loaded_app();
    press(&mut app, '6');
    app.update(Msg::RunsScanned(scripted_runs()));
    app
}

#[test]
fn runs_pane_table_with_the_selected_run_in_detail() {
    snapshot("runs_details", &mut runs_app());
}

#[test]
fn runs_pane_scanning_and_empty() {
    let mut app = loaded_app();
    press(&mut app, '6');
    snapshot("runs_scanning", &mut app);
    app.update(Msg::RunsScanned(Vec::new()));
    snapshot("runs_empty", &mut app);
}

/// The Runs pane with the scripted sweep listed above the scripted runs, the sweep selected.
fn sweep_app() -> App {
    let mut app = runs_app();
    app.update(Msg::SweepsScanned(vec![scripted_sweep()]));
    press(&mut app, 'k');
    app
}

#[test]
fn runs_pane_lists_a_sweep_as_one_row_with_its_best_combination() {
    snapshot("runs_sweep_row", &mut sweep_app());
}

#[test]
fn sweep_table_sorted_by_logistic_f1_vs_pca() {
    let mut app = sweep_app();
    press_code(&mut app, KeyCode::Enter);
    for _ in 0..7 {
        press(&mut app, 's');
    }
    press(&mut app, 'j');
    snapshot("runs_sweep_table", &mut app);
}

#[test]
fn runs_pane_compares_two_marked_runs() {
    let mut app = runs_app();
    press(&mut app, ' ');
    press(&mut app, 'j');
    press(&mut app, ' ');
    snapshot("runs_compare", &mut app);
}

#[test]
fn embeddings_and_genes_panes_before_a_run_is_opened() {
    let mut app = loaded_app();
    press(&mut app, '3');
    snapshot("embeddings_idle", &mut app);
}

#[test]
fn embeddings_pane_while_the_run_is_analysed_and_when_it_fails() {
    let mut app = loaded_app();
    let effects = app.open_run("runs/20261123-masked".into());
    let Effect::Analyse { job, .. } = effects[0] else {
        panic!("{effects:?}")
    };
    app.update(Msg::Analysis(AnalysisEvent::Stage {
        job,
        stage: "embedding cells".into(),
    }));
    app.update(Msg::Analysis(AnalysisEvent::Progress {
        job,
        done: 4096,
        total: 10_000,
    }));
    snapshot("embeddings_running", &mut app);
    app.update(Msg::Analysis(AnalysisEvent::Done {
        job,
        result: Err("runs/20261123-masked: no checkpoint".into()),
    }));
    press(&mut app, '4');
    snapshot("genes_failed", &mut app);
}

#[test]
fn embeddings_pane_coloured_by_label_with_scores() {
    snapshot("embeddings_ready", &mut explored_app(600));
}

#[test]
fn embeddings_pane_highlighted_group_with_markers_in_the_pca_view() {
    let mut app = explored_app(600);
    press(&mut app, 'j');
    press_code(&mut app, KeyCode::Enter);
    press(&mut app, 'v');
    snapshot("embeddings_highlight", &mut app);
}

#[test]
fn embeddings_pane_coloured_by_a_gene() {
    let mut app = explored_app(600);
    press(&mut app, '/');
    for c in "lyz".chars() {
        press(&mut app, c);
    }
    press_code(&mut app, KeyCode::Enter);
    snapshot("embeddings_gene", &mut app);
}

#[test]
fn embeddings_pane_coloured_by_a_gene_reconstruction_error() {
    let mut app = explored_app(600);
    press(&mut app, '4');
    press(&mut app, 'e');
    snapshot("embeddings_gene_error", &mut app);
}

#[test]
fn embeddings_pane_steps_through_the_latent_timeline() {
    let mut app = explored_app(600);
    let run = std::path::PathBuf::from("runs/20261123-masked");
    app.update(Msg::Timeline {
        run_dir: run,
        snapshots: crate::tui::embeddings::timeline::tests::snapshots(3, 600),
    });
    press(&mut app, ']');
    press(&mut app, ']');
    snapshot("embeddings_timeline", &mut app);
}

#[test]
fn embeddings_pane_shows_the_training_runs_newest_snapshot_before_it_is_opened() {
    let mut app = loaded_app();
    press(&mut app, '3');
    let run = std::path::PathBuf::from("runs/masked-0001");
    app.embeddings.timeline.follow(&run);
    let mut snapshots = crate::tui::embeddings::timeline::tests::snapshots(2, 300);
    snapshots[1].knn_macro_f1 = None;
    app.update(Msg::Timeline {
        run_dir: run,
        snapshots,
    });
    snapshot("embeddings_timeline_live", &mut app);
}

#[test]
fn genes_pane_table_summary_and_histogram() {
    let mut app = explored_app(600);
    press(&mut app, '4');
    snapshot("genes_ready", &mut app);
    press(&mut app, 's');
    press(&mut app, 'o');
    press(&mut app, '/');
    press(&mut app, 'c');
    press_code(&mut app, KeyCode::Enter);
    snapshot("genes_sorted_search", &mut app);
}

#[test]
fn genes_pane_says_reconstruction_does_not_apply_to_contrastive_runs() {
    let mut app = explored_app_with(600, |a| {
        a.method = "byol".into();
        a.errors = None;
        a.recon =
            Err("reconstruction does not apply: byol is a contrastive method (no decoder)".into());
    });
    press(&mut app, '4');
    snapshot("genes_contrastive", &mut app);
}

/// The Transfer tab on the Runs pane's selected run, with the target's columns read.
fn transfer_app() -> App {
    let mut app = runs_app();
    press(&mut app, '5');
    app.update(Msg::Transfer(TransferMsg::Columns {
        path: "/data/demo_immune.h5ad".into(),
        result: Ok(vec!["donor".into(), "cell_type".into()]),
    }));
    app
}

#[test]
fn transfer_pane_idle_with_the_form() {
    snapshot("transfer_idle", &mut transfer_app());
}

#[test]
fn transfer_pane_running_shows_arm_seed_and_epoch() {
    use crate::analysis::transfer::TransferProgress;
    let mut app = transfer_app();
    press(&mut app, 's');
    let report = scripted_report();
    for step in [
        TransferProgress::Genes(report.genes.clone()),
        TransferProgress::ZeroShot,
        TransferProgress::Arm {
            arm: "fine_tuned".into(),
            seed: 2,
            n_seeds: 3,
        },
        TransferProgress::Epoch {
            arm: "fine_tuned".into(),
            seed: 2,
            n_seeds: 3,
            epoch: 7,
            epochs: 20,
            val_loss: 0.8123,
        },
    ] {
        app.update(Msg::Transfer(TransferMsg::Progress(step)));
    }
    snapshot("transfer_running", &mut app);
}

#[test]
fn transfer_pane_results_table_bars_and_confusion() {
    let mut app = transfer_app();
    app.update(Msg::Transfer(TransferMsg::Saved {
        run: "runs/run-c-masked".into(),
        report: Some(Box::new(scripted_report())),
    }));
    snapshot("transfer_done", &mut app);
    press(&mut app, 'a');
    press(&mut app, 'a');
    snapshot("transfer_done_zero_shot", &mut app);
}

#[test]
fn transfer_results_draw_at_tiny_and_odd_sizes_without_panicking() {
    let mut app = transfer_app();
    let mut report = scripted_report();
    report.arms[0].confusion.pop(); // a hand-edited transfer.json must not crash the pane
    app.update(Msg::Transfer(TransferMsg::Saved {
        run: "runs/run-c-masked".into(),
        report: Some(Box::new(report)),
    }));
    for (w, h) in [(1, 1), (20, 5), (40, 10), (79, 23), (200, 60)] {
        for _ in 0..3 {
            press(&mut app, 'a');
            app.update(Msg::Resize(w, h));
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal.draw(|f| crate::tui::panes::draw(f, &app)).unwrap();
        }
    }
}
