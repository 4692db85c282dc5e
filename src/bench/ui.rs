//! `cellscope bench ui`: the Train pane's frame time with 100,000 loss points and the Embeddings
//! pane's with 50,000 points at 120x40, and the key-to-screen latency of the real event loop while
//! a scripted run keeps both cores busy.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::Config;
use crate::data::{CsrMatrix, Dataset};
use crate::train::{TrainCommand, TrainEvent};

use crate::analysis::run_analysis::{Grouping, RunAnalysis};
use crate::data::CscMatrix;
use crate::tui::app::App;
use crate::tui::data::state::DataView;
use crate::tui::embeddings::job::AnalysisEvent;
use crate::tui::message::{Effect, Msg};
use crate::tui::runner;
use crate::tui::tab::Tab;
use crate::tui::terminal::Screen;
use crate::tui::theme::Theme;
use crate::tui::work::Work;

/// Loss points in the frame-time benchmark.
const LOSS_POINTS: usize = 100_000;
/// Points in the Embeddings-pane benchmark.
const SCATTER_POINTS: usize = 50_000;
/// Frames drawn for the median.
const FRAMES: usize = 200;
/// Keys injected for the latency figure, and the gap between them.
const KEYS: usize = 120;
const KEY_GAP: Duration = Duration::from_millis(25);

/// The figures `bench ui` prints.
#[derive(Debug, Serialize)]
pub struct UiBenchReport {
    pub loss_points: usize,
    pub width: u16,
    pub height: u16,
    /// Folding 100,000 step events into the pane state (ms in total).
    pub ingest_ms: f64,
    pub frame_median_ms: f64,
    pub frame_p95_ms: f64,
    pub scatter_points: usize,
    pub scatter_frame_median_ms: f64,
    pub scatter_frame_p95_ms: f64,
    /// Re-binning the points after a zoom, pan or colour change (in `update`, not in draw).
    pub scatter_rebin_median_ms: f64,
    pub scatter_rebin_p95_ms: f64,
    pub keys: usize,
    pub key_to_screen_median_ms: f64,
    pub key_to_screen_p95_ms: f64,
    pub key_to_screen_max_ms: f64,
    /// Step events the scripted worker sent while keys were measured.
    pub worker_events: usize,
    pub busy_threads: usize,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn bench_view() -> DataView {
    let genes = 200;
    let dataset = Dataset {
        path: PathBuf::from("bench.h5ad"),
        x: CsrMatrix::from_dense(1, genes, &vec![1.0; genes]),
        obs_names: vec!["c0".into()],
        var_names: (0..genes).map(|g| format!("G{g}")).collect(),
        obs: Vec::new(),
    };
    let stats = (0..genes).map(|g| (g as f64, 0.5, 1.0));
    let summary = vec![("shape".to_string(), format!("1 cells x {genes} genes"))];
    DataView::new(&dataset, summary, vec!["X".into()], stats)
}

fn bench_app(config: &Config) -> App {
    let mut app = App::new(
        config.clone(),
        PathBuf::from("bench.h5ad"),
        "-".into(),
        Theme::new(true, crate::tui::theme::parse_marker(&config.ui.marker)),
    );
    app.update(Msg::Loaded(Ok(bench_view())));
    app
}

/// The start of the synthetic run the UI benchmarks follow.
fn started() -> TrainEvent {
    TrainEvent::Started {
        run_dir: "runs/bench".into(),
        method: "masked".into(),
        epochs: 100,
        batch_size: 256,
        steps_per_epoch: 1000,
        n_train: 256_000,
        n_val: 10_000,
        n_params: 3_000_000,
    }
}

fn step(global_step: usize) -> TrainEvent {
    let g = global_step as f32;
    TrainEvent::Step {
        epoch: global_step / 1000,
        step: global_step % 1000,
        global_step,
        loss: 1.0 / (1.0 + g / 500.0) + 0.1 * ((g * 0.37).sin()).abs(),
        lr: 1e-3,
        cells_per_sec: 2500.0,
    }
}

/// Median and p95 frame time of the Train pane holding `LOSS_POINTS` loss points.
fn frame_times(config: &Config) -> anyhow::Result<(f64, f64, f64)> {
    let mut app = bench_app(config);
    app.tab = Tab::Train;
    app.update(Msg::Resize(120, 40));
    app.update(Msg::Train(started()));
    let start = Instant::now();
    for g in 1..=LOSS_POINTS {
        app.update(Msg::Train(step(g)));
    }
    let ingest = ms(start.elapsed());
    let mut terminal = Terminal::new(TestBackend::new(120, 40))?;
    let mut times = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        // Alternate views so every frame really redraws the chart.
        app.train.smooth = i % 2 == 1;
        let start = Instant::now();
        terminal.draw_app(&app)?;
        times.push(ms(start.elapsed()));
    }
    times.sort_by(f64::total_cmp);
    Ok((ingest, percentile(&times, 0.5), percentile(&times, 0.95)))
}

/// 50,000 cells in 12 Gaussian blobs as both 2-D views, grouped by type and into 20 clusters.
fn scatter_analysis() -> anyhow::Result<RunAnalysis> {
    let (xy, truth) = crate::bench::analysis::clustered_embedding(SCATTER_POINTS, 2, 12, 0);
    let points: Vec<[f32; 2]> = xy.rows().into_iter().map(|r| [r[0], r[1]]).collect();
    let group = |name: &str, k: usize, of: &dyn Fn(usize) -> usize| {
        Grouping::new(
            name,
            (0..SCATTER_POINTS).map(|i| Some(of(i))).collect(),
            (0..k).map(|c| format!("{name} {c}")).collect(),
            None,
        )
    };
    Ok(RunAnalysis {
        run_dir: "runs/bench".into(),
        run_name: "bench".into(),
        method: "masked".into(),
        latent: 64,
        genes: Vec::new(),
        tsne: points.clone(),
        pca: points,
        groupings: vec![
            group("type", 12, &|i| truth[i])?,
            group("cluster", 20, &|i| i % 20)?,
        ],
        expression: CscMatrix::default(),
        scores: Err("synthetic points: no labels".into()),
        recon: Err("synthetic points: no reconstruction".into()),
        errors: None,
    })
}

/// The Embeddings pane with `SCATTER_POINTS` points at 120x40: frame time (median, p95), and the
/// time `update` takes to re-bin after zoom, pan and colour keys (median, p95).
fn scatter_times(config: &Config) -> anyhow::Result<[f64; 4]> {
    let mut app = bench_app(config);
    app.update(Msg::Resize(120, 40));
    let effects = app.open_run("runs/bench".into());
    let Some(Effect::Analyse { job, .. }) = effects.first() else {
        anyhow::bail!("opening a run gave no analysis job");
    };
    app.update(Msg::Analysis(AnalysisEvent::Done {
        job: *job,
        result: Ok(Arc::new(scatter_analysis()?)),
    }));
    let mut terminal = Terminal::new(TestBackend::new(120, 40))?;
    let mut frames = Vec::with_capacity(FRAMES);
    let mut rebins = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        // Each of these keys changes the binned grid: zoom, pan, colour, highlight.
        let key = ['+', 'L', 'K', '-', 'c', ' '][i % 6];
        let start = Instant::now();
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char(key),
            KeyModifiers::NONE,
        )));
        rebins.push(ms(start.elapsed()));
        let start = Instant::now();
        terminal.draw_app(&app)?;
        frames.push(ms(start.elapsed()));
    }
    frames.sort_by(f64::total_cmp);
    rebins.sort_by(f64::total_cmp);
    Ok([
        percentile(&frames, 0.5),
        percentile(&frames, 0.95),
        percentile(&rebins, 0.5),
        percentile(&rebins, 0.95),
    ])
}

/// A scripted run: a thread sending step events every millisecond, plus threads spinning on
/// arithmetic so both cores are busy as in real training.
struct ScriptedWork {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<usize>>,
}

impl Work for ScriptedWork {
    fn load(&mut self, _path: PathBuf, _matrix: String, to_app: UnboundedSender<Msg>) {
        let _ = to_app.send(Msg::Loaded(Ok(bench_view())));
    }

    fn start_training(
        &mut self,
        _path: PathBuf,
        _config: Config,
        to_app: UnboundedSender<Msg>,
    ) -> Result<(), String> {
        let stop = self.stop.clone();
        self.threads.push(std::thread::spawn(move || {
            let _ = to_app.send(Msg::Train(started()));
            let mut g = 0;
            while !stop.load(Ordering::Relaxed) {
                g += 1;
                let _ = to_app.send(Msg::Train(step(g)));
                std::thread::sleep(Duration::from_millis(1));
            }
            g
        }));
        for _ in 0..BUSY_THREADS {
            let stop = self.stop.clone();
            self.threads.push(std::thread::spawn(move || {
                let mut x = 1.0f64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..10_000 {
                        x = (x * 1.000_001 + 1e-9).sqrt() + 0.5;
                    }
                    std::hint::black_box(x);
                }
                0
            }));
        }
        Ok(())
    }

    fn command(&mut self, _command: TrainCommand) {}

    fn attach(&mut self, _run_dir: PathBuf, _to_app: UnboundedSender<Msg>) -> Result<(), String> {
        Err("the benchmark has no detached runs".into())
    }

    fn detach(&mut self) {}

    fn shutdown(&mut self, _timeout: Duration) {}
}

const BUSY_THREADS: usize = 2;

fn key(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// Key-to-screen latency through the real event loop: from injecting a key to the end of the first
/// frame that reflects it, with a scripted run sending steps and both cores busy.
fn key_latency(config: &Config) -> anyhow::Result<(Vec<f64>, usize)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (keys, inputs) = futures::channel::mpsc::unbounded::<std::io::Result<Event>>();
    let injector = std::thread::spawn(move || {
        let mut sent = Vec::new();
        let mut send = |e: Event| {
            sent.push(Instant::now());
            let _ = keys.unbounded_send(Ok(e));
        };
        send(key('2'));
        std::thread::sleep(Duration::from_millis(50));
        send(key('s'));
        std::thread::sleep(Duration::from_millis(300));
        for i in 0..KEYS {
            // Toggles that change the chart, at slightly irregular gaps.
            send(key(['y', 'a', 'w'][i % 3]));
            std::thread::sleep(KEY_GAP + Duration::from_millis((i * 7 % 11) as u64));
        }
        send(key('q'));
        send(key('y'));
        sent
    });
    let mut work = ScriptedWork {
        stop: Arc::new(AtomicBool::new(false)),
        threads: Vec::new(),
    };
    let mut app = bench_app(config);
    let mut screen = Terminal::new(TestBackend::new(120, 40))?;
    app.update(Msg::Resize(120, 40));
    let stats = runtime.block_on(runner::run(
        &mut screen,
        &mut app,
        inputs,
        &mut work,
        config.ui.fps,
    ))?;
    work.stop.store(true, Ordering::Relaxed);
    let events: usize = work.threads.drain(..).map(|t| t.join().unwrap_or(0)).sum();
    let sent = injector
        .join()
        .map_err(|_| anyhow::anyhow!("key injector panicked"))?;
    // The measured keys: the toggles (indices 2..2+KEYS), each until the first frame reflecting it.
    let latencies = (2..2 + KEYS)
        .filter_map(|i| {
            stats
                .frames
                .iter()
                .find(|f| f.inputs_seen > i)
                .map(|f| ms(f.done.saturating_duration_since(sent[i])))
        })
        .collect();
    Ok((latencies, events))
}

/// Runs both measurements.
pub fn measure(config: &Config) -> anyhow::Result<UiBenchReport> {
    let (ingest_ms, frame_median_ms, frame_p95_ms) = frame_times(config)?;
    let [
        scatter_frame_median_ms,
        scatter_frame_p95_ms,
        scatter_rebin_median_ms,
        scatter_rebin_p95_ms,
    ] = scatter_times(config)?;
    let (mut latencies, worker_events) = key_latency(config)?;
    latencies.sort_by(f64::total_cmp);
    Ok(UiBenchReport {
        loss_points: LOSS_POINTS,
        width: 120,
        height: 40,
        ingest_ms,
        frame_median_ms,
        frame_p95_ms,
        scatter_points: SCATTER_POINTS,
        scatter_frame_median_ms,
        scatter_frame_p95_ms,
        scatter_rebin_median_ms,
        scatter_rebin_p95_ms,
        keys: latencies.len(),
        key_to_screen_median_ms: percentile(&latencies, 0.5),
        key_to_screen_p95_ms: percentile(&latencies, 0.95),
        key_to_screen_max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        worker_events,
        busy_threads: BUSY_THREADS,
    })
}
