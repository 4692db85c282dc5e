//! Runs the analysis of a run (`analysis::run_analysis`) on a worker thread for the Embeddings and
//! Genes panes, reporting its steps as messages; a newer job supersedes older ones.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc::UnboundedSender;

use crate::analysis::run_analysis::{RunAnalysis, Step, analyse};

use crate::tui::message::Msg;
use crate::tui::work::spawn_job;

/// What the analysis job reports, tagged with the job it belongs to (older jobs are ignored).
#[derive(Debug, Clone)]
pub enum AnalysisEvent {
    /// A new step started.
    Stage { job: u64, stage: String },
    /// Cells embedded so far.
    Progress { job: u64, done: usize, total: usize },
    /// The job ended.
    Done {
        job: u64,
        result: Result<Arc<RunAnalysis>, String>,
    },
}

/// The newest job started: older jobs stop at their next step.
static LATEST_JOB: AtomicU64 = AtomicU64::new(0);

/// Starts the analysis of `run_dir` on its own thread; events arrive as `Msg::Analysis`.
pub fn spawn(job: u64, run_dir: PathBuf, label: Option<String>, to_app: UnboundedSender<Msg>) {
    LATEST_JOB.fetch_max(job, Ordering::SeqCst);
    let send = move |event| {
        let _ = to_app.send(Msg::Analysis(event));
    };
    let progress = send.clone();
    let shown = run_dir.display().to_string();
    spawn_job(
        "analysis",
        move || {
            let mut report = |step: Step| {
                progress(match step {
                    Step::Stage(stage) => AnalysisEvent::Stage {
                        job,
                        stage: stage.into(),
                    },
                    Step::Embedded(done, total) => AnalysisEvent::Progress { job, done, total },
                })
            };
            let current = || LATEST_JOB.load(Ordering::SeqCst) == job;
            analyse(&run_dir, label.as_deref(), &mut report, &current)
        },
        move |result| {
            if let Err(e) = &result {
                tracing::warn!("analysing {shown}: {e}");
            }
            send(AnalysisEvent::Done {
                job,
                result: result.map(Arc::new),
            });
        },
    );
}
