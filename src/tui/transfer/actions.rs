//! What keys do in the Transfer tab: edit the request, pick the label column, start, refresh.

use std::path::PathBuf;

use crate::tui::app::App;
use crate::tui::input::InputPurpose;
use crate::tui::keymap::Action;
use crate::tui::message::Effect;

use super::state::{Columns, TransferField};

/// Handles an action of the Transfer tab.
pub fn act(app: &mut App, action: Action) -> Vec<Effect> {
    let t = &mut app.transfer;
    let field = t.current_field();
    match action {
        Action::Down => t.move_field(1),
        Action::Up => t.move_field(-1),
        Action::Decrease | Action::Increase => {
            if field == TransferField::Label && !matches!(t.columns, Columns::Loaded(_)) {
                app.notice = Some("the target's columns are not loaded".into());
            }
            t.adjust(field, action == Action::Increase);
        }
        Action::Edit if field == TransferField::Label => {
            app.notice = Some("choose the label column with h / l".into());
        }
        Action::Edit => {
            let value = t.value(field);
            app.open_input(InputPurpose::EditTransfer(field), value);
        }
        Action::NextArm => t.next_arm(),
        Action::Refresh => {
            let mut effects = columns_effect(app);
            if let Some(run) = &app.transfer.run {
                effects.push(Effect::LoadSavedTransfer { run: run.clone() });
            }
            return effects;
        }
        Action::Start => match (t.request(), t.run.clone()) {
            (Ok(request), Some(run)) => {
                t.start();
                return vec![Effect::StartTransfer {
                    run,
                    request,
                    config: Box::new(app.config.clone()),
                }];
            }
            (Err(e), _) => app.notice = Some(e),
            (Ok(_), None) => {}
        },
        _ => {}
    }
    Vec::new()
}

/// Opening the Transfer tab: follow the current run (and look up its saved report) and
/// read the target's label columns if not yet known.
pub fn open(app: &mut App) -> Vec<Effect> {
    let mut effects = Vec::new();
    if app.transfer.set_run(app.current_run())
        && let Some(run) = &app.transfer.run
    {
        effects.push(Effect::LoadSavedTransfer { run: run.clone() });
    }
    if app.transfer.columns == Columns::Unknown {
        effects.extend(columns_effect(app));
    }
    effects
}

/// Reads the target's label columns off the UI thread.
pub fn columns_effect(app: &mut App) -> Vec<Effect> {
    app.transfer.columns = Columns::Loading;
    vec![Effect::LoadTargetColumns {
        path: PathBuf::from(&app.transfer.target),
    }]
}
