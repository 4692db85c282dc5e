//! The event loop: `tokio::select!` over terminal events, background messages and the frame
//! deadline. Redraws are coalesced to at most `ui.fps`, drawn as soon as allowed after a change.

use std::io;
use std::time::{Duration, Instant};

use crossterm::event::Event;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::tui::app::App;
use crate::tui::message::{Effect, Msg};
use crate::tui::terminal::Screen;
use crate::tui::work::Work;

/// One drawn frame: when it was done, how long drawing took, and how many inputs it reflects.
#[derive(Debug, Clone, Copy)]
pub struct FrameRecord {
    pub done: Instant,
    pub draw: Duration,
    pub inputs_seen: usize,
}

/// What the loop did, for the `bench ui` figures.
#[derive(Debug, Default)]
pub struct LoopStats {
    pub frames: Vec<FrameRecord>,
}

/// How long a quitting UI waits for a stopping run to checkpoint.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);
/// Spinner and clock refresh while loading, timeline steps while playing.
pub const TICK: Duration = Duration::from_millis(200);

fn to_msg(event: Event) -> Option<Msg> {
    match event {
        Event::Key(key) => Some(Msg::Key(key)),
        Event::Mouse(mouse) => Some(Msg::Mouse(mouse)),
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        _ => None,
    }
}

/// Runs the app until it quits or the input ends; returns per-frame records.
pub async fn run<S, I, W>(
    screen: &mut S,
    app: &mut App,
    mut inputs: I,
    work: &mut W,
    fps: u32,
) -> anyhow::Result<LoopStats>
where
    S: Screen,
    I: Stream<Item = io::Result<Event>> + Unpin,
    W: Work,
{
    let frame_interval = Duration::from_secs_f64(1.0 / f64::from(fps.max(1)));
    let (to_app, mut from_work) = mpsc::unbounded_channel::<Msg>();
    let mut stats = LoopStats::default();
    let mut inputs_seen = 0;
    let mut dirty = true;
    let mut last_frame: Option<Instant> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending = app.start();
    loop {
        for effect in pending.drain(..) {
            match effect {
                Effect::Quit => {
                    work.shutdown(SHUTDOWN_WAIT);
                    return Ok(stats);
                }
                Effect::SetMouse(on) => screen.set_mouse(on)?,
                Effect::Load { path, matrix } => work.load(path, matrix, to_app.clone()),
                Effect::StartTraining { path, config } => {
                    if let Err(message) = work.start_training(path, *config, to_app.clone()) {
                        app.update(Msg::Train(crate::train::TrainEvent::Failed { message }));
                    }
                }
                Effect::Command(command) => work.command(command),
                Effect::Attach { run_dir } => {
                    let attached = work.attach(run_dir.clone(), to_app.clone());
                    app.update(Msg::Attached(attached.map(|()| run_dir)));
                }
                Effect::StartDetached { path, config } => {
                    let attached = work.start_detached(path, *config).and_then(|dir| {
                        work.attach(dir.clone(), to_app.clone())?;
                        Ok(dir)
                    });
                    app.update(Msg::Attached(attached));
                }
                Effect::Detach => work.detach(),
                Effect::ScanRuns { out_dir } => work.scan_runs(out_dir, to_app.clone()),
                Effect::Analyse {
                    job,
                    run_dir,
                    label,
                } => work.analyse(job, run_dir, label, to_app.clone()),
                Effect::LoadTimeline { run_dir } => work.timeline(run_dir, to_app.clone()),
                Effect::LoadTargetColumns { path } => work.target_columns(path, to_app.clone()),
                Effect::LoadSavedTransfer { run } => work.saved_transfer(run, to_app.clone()),
                Effect::StartTransfer {
                    run,
                    request,
                    config,
                } => work.start_transfer(run, request, *config, to_app.clone()),
            }
            dirty = true;
        }
        let now = Instant::now();
        let due = last_frame.map_or(now, |t| t + frame_interval);
        if dirty && now >= due {
            let start = Instant::now();
            screen.draw_app(app)?;
            let done = Instant::now();
            stats.frames.push(FrameRecord {
                done,
                draw: done - start,
                inputs_seen,
            });
            last_frame = Some(start);
            dirty = false;
        }
        let deadline = dirty.then_some(due.max(now));
        tokio::select! {
            event = inputs.next() => match event {
                Some(Ok(event)) => {
                    inputs_seen += 1;
                    if let Some(msg) = to_msg(event) {
                        pending = app.update(msg);
                        dirty = true;
                    }
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(stats),
            },
            Some(msg) = from_work.recv() => {
                pending = app.update(msg);
                // Drain what else is queued so a burst of steps costs one frame.
                while let Ok(msg) = from_work.try_recv() {
                    pending.extend(app.update(msg));
                }
                dirty = true;
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or(now).into()), if deadline.is_some() => {}
            _ = tick.tick() => {
                let loading =
                    matches!(app.data.load, crate::tui::data::state::LoadState::Loading { .. });
                if loading || app.embeddings.timeline.is_playing() {
                    app.update(Msg::Tick);
                    dirty = true;
                }
            }
        }
    }
}
