//! The terminal UI: a thin shell (app, messages, input, keymap, tabs) around one folder per pane
//! (state, view, keys, actions, background work) and shared widgets. Draws state; computes no
//! science (docs/architecture.md).
//! `run` wires the terminal, the event loop and the background work together.

pub mod app;
#[cfg(test)]
pub(crate) mod app_tests;
pub mod data;
pub mod embeddings;
pub mod genes;
pub mod input;
#[cfg(test)]
mod input_survival_tests;
pub mod keymap;
pub mod logging;
pub mod message;
pub mod panes;
pub mod runner;
pub mod runs;
pub mod tab;
pub mod terminal;
pub mod theme;
pub mod train;
pub mod transfer;
pub mod widgets;
pub mod work;

use std::path::PathBuf;

use crate::config::Config;

/// Runs the UI on `dataset` until the user quits; the terminal is restored on every exit path.
pub fn run(dataset: PathBuf, config: Config) -> anyhow::Result<()> {
    let log_file = logging::log_path();
    logging::init(&log_file)?;
    tracing::info!(dataset = %dataset.display(), "ui start");
    let theme = theme::Theme::from_env(&config.ui.marker);
    let fps = config.ui.fps;
    let mut app = app::App::new(config, dataset, logging::display_path(&log_file), theme);
    let (target, label_map) = crate::demo_transfer_target();
    if target.is_file() {
        app.transfer
            .suggest(&target, label_map.is_file().then_some(label_map.as_path()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let mut session = terminal::TerminalSession::enter(app.mouse)?;
        let size = crossterm::terminal::size()?;
        app.update(message::Msg::Resize(size.0, size.1));
        let mut work = work::LiveWork::default();
        let events = crossterm::event::EventStream::new();
        let outcome = runner::run(&mut session, &mut app, events, &mut work, fps).await;
        drop(session);
        outcome
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    tracing::info!("ui end");
    result.map(drop)
}
