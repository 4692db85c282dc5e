//! What keys and clicks do in the Train pane: edit settings, start, pause, stop, detach, explore.

use ratatui::layout::{Position, Rect};

use crate::train::TrainCommand;
use crate::tui::app::App;
use crate::tui::input::InputPurpose;
use crate::tui::keymap::Action;
use crate::tui::message::Effect;

use super::state::{RunPhase, TrainField};
use super::view::form_rows;

/// Handles an action of the Train pane.
pub fn act(app: &mut App, action: Action) -> Vec<Effect> {
    let t = &mut app.train;
    let n_fields = TrainField::ALL.len();
    let editable = !t.status.is_active();
    match action {
        Action::Down => t.field = (t.field + 1) % n_fields,
        Action::Up => t.field = (t.field + n_fields - 1) % n_fields,
        Action::Decrease | Action::Increase if editable => {
            let field = t.current_field();
            t.form.adjust(field, action == Action::Increase);
        }
        Action::Edit if editable => {
            let field = t.current_field();
            let value = t.form.value(field);
            app.open_input(InputPurpose::Edit(field), value);
        }
        Action::Decrease | Action::Increase | Action::Edit => {
            app.notice = Some("settings are fixed while a run is going".into());
        }
        Action::Start | Action::StartDetached if t.status.is_active() => {
            app.notice = Some("a run is already going".into());
        }
        Action::Start | Action::StartDetached if app.data.view().is_none() => {
            app.notice = Some("no dataset loaded yet".into());
        }
        Action::Start | Action::StartDetached => {
            let detached = t.attached.take().is_some();
            t.reset_run();
            let mut config = t.form.apply(&app.config);
            config.data.matrix = app.data.matrix.clone();
            config.data.label = app.data.label.clone().unwrap_or_default();
            let (path, config) = (app.dataset.clone(), Box::new(config));
            let start = if action == Action::Start {
                Effect::StartTraining { path, config }
            } else {
                Effect::StartDetached { path, config }
            };
            return if detached {
                vec![Effect::Detach, start]
            } else {
                vec![start]
            };
        }
        Action::Detach => match t.attached.take() {
            Some(dir) => {
                t.reset_run();
                t.status = RunPhase::Idle;
                t.log(format!("detached from {}: it goes on", dir.display()));
                return vec![Effect::Detach];
            }
            None => app.notice = Some("not following a detached run".into()),
        },
        Action::PauseResume => {
            let command = match t.status {
                RunPhase::Running => TrainCommand::Pause,
                RunPhase::Paused => TrainCommand::Resume,
                _ => return Vec::new(),
            };
            return vec![Effect::Command(command)];
        }
        Action::Stop if matches!(t.status, RunPhase::Running | RunPhase::Paused) => {
            t.status = RunPhase::Stopping;
            t.log("stopping after this batch");
            return vec![Effect::Command(TrainCommand::Stop)];
        }
        Action::Open => match (&t.status, &app.finished_run) {
            (RunPhase::Finished { .. }, Some(dir)) => return app.open_run(dir.clone()),
            _ => app.notice = Some("explore opens once the run has finished".into()),
        },
        Action::ToggleLogY => t.log_y = !t.log_y,
        Action::ToggleSmoothing => t.smooth = !t.smooth,
        Action::ToggleWindow => t.recent = !t.recent,
        _ => {}
    }
    Vec::new()
}

/// A click in the Train pane selects the setting under it.
pub fn click(app: &mut App, at: Position, body: Rect) {
    let rows = form_rows(body);
    if rows.contains(at) {
        app.train.field = usize::from(at.y - rows.y).min(TrainField::ALL.len() - 1);
    }
}
