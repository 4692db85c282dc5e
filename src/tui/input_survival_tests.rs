//! The UI survives its inputs changing under it, through the real background work (`LiveWork`):
//! a run directory deleted while the Runs pane lists it, a followed metrics.jsonl truncated, and
//! the terminal shrunk to 20x5 and grown back, a setting typed out of range. Each gives a
//! message, never a panic.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::train::TrainEvent;
use crate::train::rundir::{CONFIG_FILE, DATASET_FILE, METRICS_FILE, PID_FILE};
use crate::tui::app::App;
use crate::tui::app_tests::{explored_app, loaded_app, press, press_code};
use crate::tui::embeddings::job::AnalysisEvent;
use crate::tui::message::{Effect, Msg};
use crate::tui::tab::Tab;
use crate::tui::work::{LiveWork, Work};

/// The screen as text after drawing `app` at `w`x`h`.
fn screen(app: &mut App, w: u16, h: u16) -> String {
    app.update(Msg::Resize(w, h));
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| crate::tui::panes::draw(f, app)).unwrap();
    terminal.backend().to_string()
}

/// Runs the effects these tests cause on the real work, as the event loop would.
fn perform(
    app: &mut App,
    work: &mut LiveWork,
    effects: Vec<Effect>,
    to_app: &UnboundedSender<Msg>,
) {
    for effect in effects {
        match effect {
            Effect::ScanRuns { out_dir } => work.scan_runs(out_dir, to_app.clone()),
            Effect::Attach { run_dir } => {
                let attached = work.attach(run_dir.clone(), to_app.clone());
                app.update(Msg::Attached(attached.map(|()| run_dir)));
            }
            Effect::Analyse {
                job,
                run_dir,
                label,
            } => work.analyse(job, run_dir, label, to_app.clone()),
            Effect::Detach => work.detach(),
            Effect::LoadSavedTransfer { .. } | Effect::LoadTargetColumns { .. } => {}
            other => panic!("unexpected effect {other:?}"),
        }
    }
}

/// Applies background messages until one matches `done` (10 s at most).
fn until(app: &mut App, rx: &mut UnboundedReceiver<Msg>, done: impl Fn(&Msg) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match rx.try_recv() {
            Ok(msg) => {
                let last = done(&msg);
                app.update(msg);
                if last {
                    return;
                }
            }
            Err(_) => {
                assert!(Instant::now() < deadline, "no such message within 10 s");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A run directory as a training process leaves it, recording `pid` as its writer.
fn write_run(out: &Path, pid: u32, events: &[TrainEvent]) -> PathBuf {
    let dir = out.join("20261201-090000-masked");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(CONFIG_FILE), "[train]\nepochs = 4\n").unwrap();
    std::fs::write(dir.join(DATASET_FILE), "/data/demo.h5ad\n").unwrap();
    std::fs::write(dir.join(PID_FILE), format!("{pid}\n")).unwrap();
    let lines: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(dir.join(METRICS_FILE), lines).unwrap();
    dir
}

fn started(dir: &Path) -> TrainEvent {
    TrainEvent::Started {
        run_dir: dir.to_path_buf(),
        method: "masked".into(),
        epochs: 4,
        batch_size: 30,
        steps_per_epoch: 3,
        n_train: 90,
        n_val: 10,
        n_params: 100,
    }
}

fn epoch(epoch: usize) -> TrainEvent {
    TrainEvent::EpochEnd {
        epoch,
        train_loss: 0.5,
        val_loss: 0.4,
        lr: 1e-3,
        cells_per_sec: 1e3,
        elapsed_secs: 1.0,
        eta_secs: Some(3.0),
    }
}

#[test]
fn a_run_deleted_while_listed_gives_messages_and_goes_on_rescan() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _inside = runtime.enter();
    let out = tempfile::tempdir().unwrap();
    let run = out.path().join("20261201-090000-masked");
    write_run(out.path(), 4_194_305, &[started(&run), epoch(0)]);
    let (to_app, mut rx) = unbounded_channel();
    let mut work = LiveWork::default();
    let mut app = loaded_app();
    app.config.train.out_dir = out.path().display().to_string();
    let effects = press(&mut app, '6');
    perform(&mut app, &mut work, effects, &to_app);
    until(&mut app, &mut rx, |m| matches!(m, Msg::RunsScanned(_)));
    assert_eq!(app.runs.runs.len(), 1);
    assert!(screen(&mut app, 80, 24).contains("20261201-090000-masked"));

    std::fs::remove_dir_all(&run).unwrap();
    screen(&mut app, 80, 24);
    press(&mut app, ' ');
    let effects = press(&mut app, 'a');
    perform(&mut app, &mut work, effects, &to_app);
    let notice = app.notice.clone().unwrap_or_default();
    assert!(notice.contains("not a run directory"), "{notice}");
    let shown = screen(&mut app, 80, 24);
    assert!(shown.contains("directory (no metrics.jsonl)"), "{shown}");
    // Back on the Runs tab before its rescan arrives: the deleted run is still listed.
    press(&mut app, '6');
    assert_eq!(app.runs.runs.len(), 1);
    let effects = press_code(&mut app, crossterm::event::KeyCode::Enter);
    perform(&mut app, &mut work, effects, &to_app);
    until(&mut app, &mut rx, |m| {
        matches!(m, Msg::Analysis(AnalysisEvent::Done { result: Err(_), .. }))
    });
    assert_eq!(app.tab, Tab::Embeddings);
    let shown = screen(&mut app, 120, 40);
    assert!(shown.contains("not a run directory"), "{shown}");
    let effects = press(&mut app, '6');
    perform(&mut app, &mut work, effects, &to_app);
    until(&mut app, &mut rx, |m| matches!(m, Msg::RunsScanned(_)));
    assert!(app.runs.runs.is_empty() && app.runs.marked.is_empty());
    screen(&mut app, 80, 24);
}

#[test]
fn a_followed_metrics_file_truncated_under_the_ui_is_said_and_followed_on() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _inside = runtime.enter();
    let out = tempfile::tempdir().unwrap();
    let run = out.path().join("20261201-090000-masked");
    write_run(
        out.path(),
        std::process::id(),
        &[started(&run), epoch(0), epoch(1)],
    );
    let (to_app, mut rx) = unbounded_channel();
    let mut work = LiveWork::default();
    let mut app = loaded_app();
    press(&mut app, '2');
    let attach = Effect::Attach {
        run_dir: run.clone(),
    };
    perform(&mut app, &mut work, vec![attach], &to_app);
    until(&mut app, &mut rx, |m| {
        matches!(m, Msg::Train(TrainEvent::EpochEnd { epoch: 1, .. }))
    });
    screen(&mut app, 80, 24);
    std::fs::write(run.join(METRICS_FILE), "").unwrap();
    until(&mut app, &mut rx, |m| {
        matches!(m, Msg::Train(TrainEvent::Log(_)))
    });
    let shown = screen(&mut app, 120, 40);
    assert!(shown.contains("was cut"), "{shown}");
    let line = serde_json::to_string(&epoch(2)).unwrap() + "\n";
    std::fs::write(run.join(METRICS_FILE), line).unwrap();
    until(&mut app, &mut rx, |m| {
        matches!(m, Msg::Train(TrainEvent::EpochEnd { epoch: 2, .. }))
    });
    screen(&mut app, 80, 24);
    work.detach();
}

#[test]
fn every_pane_says_a_20x5_terminal_is_too_small_and_draws_the_same_when_grown_back() {
    let mut app = explored_app(300);
    for tab in ['1', '2', '3', '4', '5', '6'] {
        press(&mut app, tab);
        let before = screen(&mut app, 80, 24);
        let tiny = screen(&mut app, 20, 5);
        assert!(tiny.contains("too small"), "{tab}: {tiny}");
        assert_eq!(
            screen(&mut app, 80, 24),
            before,
            "tab {tab} after growing back"
        );
    }
}

#[test]
fn a_setting_typed_out_of_range_is_refused_before_any_data_is_read() {
    let mut app = loaded_app();
    press(&mut app, '2');
    app.train.form.mask_rate = 0.0;
    let config = app.train.form.apply(&app.config);
    let (to_app, _rx) = unbounded_channel();
    let err = LiveWork::default()
        .start_training("/nonexistent/data.h5ad".into(), config.clone(), to_app)
        .unwrap_err();
    assert_eq!(err, "masking.rate = 0: must be in (0, 1)");
    let err = LiveWork::default()
        .start_detached("/nonexistent/data.h5ad".into(), config)
        .unwrap_err();
    assert_eq!(err, "masking.rate = 0: must be in (0, 1)");
}
