//! The timeline's messages: a run's snapshots are read off the UI thread when its analysis is
//! shown, and again whenever the Train pane's run stores one while the timeline follows it.

use std::path::PathBuf;

use crate::analysis::timeline;
use crate::train::TrainEvent;
use crate::tui::app::App;
use crate::tui::message::{Effect, Msg};

/// Reads `run_dir`'s snapshots (none without the file; a torn last line is skipped).
pub fn read(run_dir: PathBuf) -> Msg {
    let snapshots = timeline::read(&run_dir);
    Msg::Timeline { run_dir, snapshots }
}

/// Points the timeline at `run_dir`: the read to start, if none is under way.
fn follow(app: &mut App, run_dir: PathBuf) -> Vec<Effect> {
    if app.embeddings.timeline.follow(&run_dir) {
        vec![Effect::LoadTimeline { run_dir }]
    } else {
        Vec::new()
    }
}

/// A finished analysis: its run's snapshots are read.
pub fn on_analysed(app: &mut App) -> Vec<Effect> {
    match app.embeddings.analysis.as_ref() {
        Some(a) => {
            let dir = a.run_dir.clone();
            follow(app, dir)
        }
        None => Vec::new(),
    }
}

/// The snapshots read; the read again when more came meanwhile.
pub fn on_read(app: &mut App, run_dir: PathBuf, snapshots: Vec<timeline::Snapshot>) -> Vec<Effect> {
    if app.embeddings.set_timeline(&run_dir, snapshots) {
        vec![Effect::LoadTimeline { run_dir }]
    } else {
        Vec::new()
    }
}

/// A Train pane event: a run that starts is followed while no analysis is open; each
/// snapshot it stores is read when the timeline follows that run (an attached run by the
/// directory the UI attached to, which the run's own events may name from another directory).
pub fn on_train(app: &mut App, event: &TrainEvent) -> Vec<Effect> {
    let free = app.embeddings.analysis.is_none();
    match event {
        TrainEvent::Started { run_dir, .. } => {
            let run = app
                .train
                .attached
                .clone()
                .unwrap_or_else(|| run_dir.clone());
            app.embeddings.timeline.train_run = Some(run.clone());
            if free {
                return follow(app, run);
            }
        }
        TrainEvent::Snapshot { .. } => {
            let t = &app.embeddings.timeline;
            if let Some(run) = t.train_run.clone()
                && (free || t.run_dir() == Some(run.as_path()))
            {
                return follow(app, run);
            }
        }
        _ => {}
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::timeline::{TIMELINE_FILE, append};
    use crate::tui::app_tests::{explored_app, loaded_app, press, press_code};
    use crate::tui::embeddings::job::AnalysisEvent;
    use crate::tui::embeddings::state::tests::scripted_analysis;
    use crate::tui::embeddings::timeline::tests::snapshots;
    use crossterm::event::KeyCode;
    use std::io::Write;

    #[test]
    fn a_torn_last_line_is_skipped_and_a_missing_file_is_no_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().to_path_buf();
        let Msg::Timeline {
            snapshots: none, ..
        } = read(run.clone())
        else {
            panic!()
        };
        assert!(none.is_empty());
        for s in snapshots(2, 40) {
            append(&run, &s).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(run.join(TIMELINE_FILE))
            .unwrap()
            .write_all(br#"{"epoch": 4, "knn_macro_f1": 0.6, "cells": [0, 1"#)
            .unwrap();
        let Msg::Timeline { run_dir, snapshots } = read(run.clone()) else {
            panic!()
        };
        assert_eq!((run_dir, snapshots.len()), (run, 2));
        assert_eq!(snapshots[1].epoch, 2);
    }

    #[test]
    fn an_opened_run_reads_its_timeline_and_the_keys_step_through_it() {
        let mut app = loaded_app();
        let dir = PathBuf::from("runs/20261123-masked");
        let Effect::Analyse { job, .. } = app.open_run(dir.clone())[0] else {
            panic!()
        };
        let done = Msg::Analysis(AnalysisEvent::Done {
            job,
            result: Ok(std::sync::Arc::new(scripted_analysis(600))),
        });
        let read_it = [Effect::LoadTimeline {
            run_dir: dir.clone(),
        }];
        assert_eq!(app.update(done), read_it);
        assert!(app.update(read(dir.clone())).is_empty());
        assert!(app.embeddings.timeline.is_empty(), "no file: no snapshots");
        assert!(press(&mut app, '[').is_empty());
        assert!(app.notice.as_ref().unwrap().contains("no latent snapshots"));
        assert_eq!(on_analysed(&mut app), read_it);
        app.update(Msg::Timeline {
            run_dir: dir,
            snapshots: snapshots(3, 600),
        });
        press(&mut app, '[');
        let t = &app.embeddings.timeline;
        assert_eq!(
            t.caption().unwrap(),
            "snapshot 3/3 · epoch 4 · kNN macro-F1 0.580"
        );
        press(&mut app, 'p');
        assert!(app.embeddings.timeline.is_playing());
        for _ in 0..3 {
            app.update(Msg::Tick);
        }
        assert_eq!(app.embeddings.timeline.shown(), Some(1));
        press_code(&mut app, KeyCode::Esc);
        assert_eq!(app.embeddings.timeline.shown(), None);
    }

    #[test]
    fn the_train_panes_snapshots_are_read_as_they_come() {
        let mut app = loaded_app();
        let run = PathBuf::from("runs/masked-0001");
        let started = TrainEvent::Started {
            run_dir: run.clone(),
            method: "masked".into(),
            epochs: 3,
            batch_size: 64,
            steps_per_epoch: 2,
            n_train: 540,
            n_val: 60,
            n_params: 1000,
        };
        let read_it = [Effect::LoadTimeline {
            run_dir: run.clone(),
        }];
        assert_eq!(app.update(Msg::Train(started.clone())), read_it);
        let snapshot = || {
            Msg::Train(TrainEvent::Snapshot {
                epoch: 1,
                knn_macro_f1: None,
                secs: 0.1,
            })
        };
        assert!(app.update(snapshot()).is_empty(), "a read is under way");
        let first = Msg::Timeline {
            run_dir: run.clone(),
            snapshots: snapshots(1, 50),
        };
        assert_eq!(
            app.update(first),
            read_it,
            "read again for the one that came"
        );
        app.update(Msg::Timeline {
            run_dir: run.clone(),
            snapshots: snapshots(2, 50),
        });
        let t = &app.embeddings.timeline;
        assert_eq!((t.len(), t.shown()), (2, Some(1)), "the newest shown live");
        assert_eq!(app.update(snapshot()), read_it);
        // With another run's analysis open, the training run's snapshots leave it alone.
        let mut app = explored_app(60);
        assert!(app.update(Msg::Train(started.clone())).is_empty());
        assert!(app.update(snapshot()).is_empty());
        // An attached run is read where the UI attached to it, whatever its events call it.
        let mut app = loaded_app();
        app.train.attached = Some(PathBuf::from("/work/runs/masked-0001"));
        assert_eq!(
            app.update(Msg::Train(started)),
            [Effect::LoadTimeline {
                run_dir: "/work/runs/masked-0001".into()
            }]
        );
    }
}
