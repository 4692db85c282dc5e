//! The Embeddings pane's state: the opened run's analysis, the 2-D view, the colouring and its
//! legend, the highlighted group, zoom and pan, and the scatter pre-binned into the plot's cells.

use std::sync::Arc;

use crate::analysis::markers::MarkerGene;
use crate::analysis::timeline::Snapshot;

use crate::analysis::run_analysis::RunAnalysis;
use crate::tui::embeddings::job::AnalysisEvent;
use crate::tui::embeddings::timeline::{PaneColours, Timeline};
use crate::tui::widgets::braille::BrailleGrid;

/// Zoom levels above the whole view; each halves the visible range.
pub const MAX_ZOOM: u8 = 6;
/// Share of the visible range one pan step moves.
const PAN_STEP: f64 = 0.25;
/// Levels of the expression ramp above "not detected".
const RAMP_LEVELS: usize = 4;

/// Where the analysis of the opened run is.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisStatus {
    /// No run opened yet.
    Idle,
    Running {
        run_name: String,
        stage: String,
        done: usize,
        total: usize,
    },
    Failed {
        run_name: String,
        message: String,
    },
    Ready,
}

/// The 2-D view drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View2d {
    Tsne,
    Pca,
}

impl View2d {
    /// The view's name in titles.
    pub fn title(self) -> &'static str {
        match self {
            View2d::Tsne => "t-SNE",
            View2d::Pca => "PCA",
        }
    }
}

/// What colours the points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColourBy {
    /// A grouping of the analysis (k-means, Leiden, an obs column), by index.
    Group(usize),
    /// One gene's expression, by gene index.
    Gene(usize),
    /// One gene's squared reconstruction error in held-out cells, by gene index.
    GeneError(usize),
}

/// How a point or plot cell is coloured; the pane maps inks to theme styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ink {
    /// Outside the highlighted group, or without a value.
    #[default]
    Faded,
    /// The colour of the n-th group.
    Category(u16),
    /// A level of the expression ramp (0 = not detected).
    Ramp(u8),
}

/// One legend row.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    pub name: String,
    pub count: usize,
    pub ink: Ink,
}

/// The scatter binned into plot cells, each inked as its last point.
pub type PlotGrid = BrailleGrid<Ink>;

/// The Embeddings pane.
#[derive(Debug, Clone)]
pub struct EmbeddingsState {
    /// The newest analysis job; events of older ones are ignored.
    pub job: u64,
    pub status: AnalysisStatus,
    pub analysis: Option<Arc<RunAnalysis>>,
    pub view: View2d,
    pub colour: ColourBy,
    pub legend: Vec<LegendEntry>,
    /// The legend row under the cursor.
    pub cursor: usize,
    /// The legend row highlighted (others faded), whose markers are listed.
    pub highlight: Option<usize>,
    pub zoom: u8,
    /// Centre of the visible window in view coordinates.
    pub centre: (f64, f64),
    pub grid: PlotGrid,
    /// The run's latent snapshots, shown instead of the final view while stepping.
    pub timeline: Timeline,
    /// Per point: its legend row (u32::MAX: none).
    point_entry: Vec<u32>,
    /// Per legend row: its ink after highlighting.
    entry_ink: Vec<Ink>,
    /// Points in drawing order (later ones win a shared cell).
    order: Vec<u32>,
    /// The whole view's [x0, x1, y0, y1].
    bounds: [f64; 4],
}

impl Default for EmbeddingsState {
    fn default() -> Self {
        Self {
            job: 0,
            status: AnalysisStatus::Idle,
            analysis: None,
            view: View2d::Tsne,
            colour: ColourBy::Group(0),
            legend: Vec::new(),
            cursor: 0,
            highlight: None,
            zoom: 0,
            centre: (0.0, 0.0),
            grid: PlotGrid::default(),
            timeline: Timeline::default(),
            point_entry: Vec::new(),
            entry_ink: Vec::new(),
            order: Vec::new(),
            bounds: [-1.0, 1.0, -1.0, 1.0],
        }
    }
}

impl EmbeddingsState {
    /// Starts showing the progress of job `job` on `run_name` (the previous run stays until done).
    pub fn begin(&mut self, job: u64, run_name: String) {
        self.job = job;
        self.status = AnalysisStatus::Running {
            run_name,
            stage: "starting".into(),
            done: 0,
            total: 0,
        };
    }

    /// Folds in a job event; returns the analysis when the current job has just finished.
    pub fn apply(&mut self, event: AnalysisEvent) -> Option<Arc<RunAnalysis>> {
        match event {
            AnalysisEvent::Stage { job, stage: s } if job == self.job => {
                if let AnalysisStatus::Running { stage, .. } = &mut self.status {
                    *stage = s;
                }
            }
            AnalysisEvent::Progress {
                job,
                done: d,
                total: t,
            } if job == self.job => {
                if let AnalysisStatus::Running { done, total, .. } = &mut self.status {
                    (*done, *total) = (d, t);
                }
            }
            AnalysisEvent::Done { job, result } if job == self.job => match result {
                Ok(analysis) => {
                    self.set_analysis(analysis.clone());
                    return Some(analysis);
                }
                Err(message) => {
                    let run_name = match &self.status {
                        AnalysisStatus::Running { run_name, .. } => run_name.clone(),
                        _ => String::new(),
                    };
                    self.status = AnalysisStatus::Failed { run_name, message };
                }
            },
            _ => {}
        }
        None
    }

    /// Shows a finished analysis: coloured by the scored label column if any, else by Leiden.
    pub fn set_analysis(&mut self, analysis: Arc<RunAnalysis>) {
        let label = analysis.scores.as_ref().ok().map(|s| s.label.as_str());
        let by_label = label.and_then(|l| analysis.groupings.iter().position(|g| g.name == l));
        self.colour = ColourBy::Group(by_label.unwrap_or(1.min(analysis.groupings.len())));
        self.analysis = Some(analysis);
        self.status = AnalysisStatus::Ready;
        self.view = View2d::Tsne;
        self.reset_view();
        self.recolour();
    }

    /// The points of the current view.
    pub fn points(&self) -> &[[f32; 2]] {
        match (&self.analysis, self.view) {
            (Some(a), View2d::Tsne) => &a.tsne,
            (Some(a), View2d::Pca) => &a.pca,
            (None, _) => &[],
        }
    }

    /// What the colour is called in titles: "Leiden", "cell_type", "gene CD3E".
    pub fn colour_name(&self) -> String {
        let Some(a) = &self.analysis else {
            return String::new();
        };
        match self.colour {
            ColourBy::Group(i) => a
                .groupings
                .get(i)
                .map_or_else(String::new, |g| g.name.clone()),
            ColourBy::Gene(g) => format!("gene {}", a.genes.get(g).map_or("?", |s| s.as_str())),
            ColourBy::GeneError(g) => {
                format!("error of {}", a.genes.get(g).map_or("?", |s| s.as_str()))
            }
        }
    }

    /// Switches between the t-SNE and the PCA view (zoom resets).
    pub fn toggle_view(&mut self) {
        self.view = match self.view {
            View2d::Tsne => View2d::Pca,
            View2d::Pca => View2d::Tsne,
        };
        self.reset_view();
        self.rebin();
    }

    /// Colours by the next grouping (after a gene: the first grouping).
    pub fn cycle_colour(&mut self) {
        let n = self.analysis.as_ref().map_or(0, |a| a.groupings.len());
        if n == 0 {
            return;
        }
        self.colour = match self.colour {
            ColourBy::Group(i) => ColourBy::Group((i + 1) % n),
            ColourBy::Gene(_) | ColourBy::GeneError(_) => ColourBy::Group(0),
        };
        self.recolour();
    }

    /// Colours by gene `g`'s expression.
    pub fn colour_by_gene(&mut self, g: usize) {
        self.colour = ColourBy::Gene(g);
        self.recolour();
    }

    /// Colours held-out cells by gene `g`'s squared reconstruction error; false when the run
    /// has no per-cell errors (contrastive runs).
    pub fn colour_by_error(&mut self, g: usize) -> bool {
        if self.analysis.as_ref().is_none_or(|a| a.errors.is_none()) {
            return false;
        }
        self.colour = ColourBy::GeneError(g);
        self.recolour();
        true
    }

    /// The gene best matching `query`: exact (any case), else the first starting with it, else the
    /// first containing it.
    pub fn find_gene(&self, query: &str) -> Option<usize> {
        let genes = &self.analysis.as_ref()?.genes;
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return None;
        }
        let lower: Vec<String> = genes.iter().map(|g| g.to_lowercase()).collect();
        lower
            .iter()
            .position(|g| *g == q)
            .or_else(|| lower.iter().position(|g| g.starts_with(&q)))
            .or_else(|| lower.iter().position(|g| g.contains(&q)))
    }

    /// Moves the legend cursor by `by` rows, clamped.
    pub fn move_cursor(&mut self, by: isize) {
        let last = self.legend.len().saturating_sub(1) as isize;
        self.cursor = (self.cursor as isize + by).clamp(0, last) as usize;
    }

    /// Highlights the legend row under the cursor, or clears the highlight if it is that row.
    pub fn toggle_highlight(&mut self) {
        if self.legend.is_empty() {
            return;
        }
        self.highlight = if self.highlight == Some(self.cursor) {
            None
        } else {
            Some(self.cursor)
        };
        self.reorder();
    }

    /// The highlighted group's name and top markers (groupings only).
    pub fn selected_markers(&self) -> Option<(&str, &[MarkerGene])> {
        let (a, h) = (self.analysis.as_ref()?, self.highlight?);
        match self.colour {
            ColourBy::Group(i) => {
                let g = a.groupings.get(i)?;
                Some((g.names.get(h)?.as_str(), g.markers.get(h)?.as_slice()))
            }
            ColourBy::Gene(_) | ColourBy::GeneError(_) => None,
        }
    }

    /// Zooms in or out by one level, keeping `anchor` (view coordinates) in place if given.
    pub fn zoom_by(&mut self, zoom_in: bool, anchor: Option<(f64, f64)>) {
        let level = if zoom_in {
            (self.zoom + 1).min(MAX_ZOOM)
        } else {
            self.zoom.saturating_sub(1)
        };
        if level == self.zoom {
            return;
        }
        let ratio = 2f64.powi(i32::from(self.zoom) - i32::from(level));
        if let Some((ax, ay)) = anchor {
            self.centre = (
                ax + (self.centre.0 - ax) * ratio,
                ay + (self.centre.1 - ay) * ratio,
            );
        }
        self.zoom = level;
        self.clamp_centre();
        self.rebin();
    }

    /// Moves the window by steps of a quarter of its size (x right, y up).
    pub fn pan(&mut self, dx: i8, dy: i8) {
        let [x0, x1, y0, y1] = self.window();
        self.centre.0 += f64::from(dx) * PAN_STEP * (x1 - x0);
        self.centre.1 += f64::from(dy) * PAN_STEP * (y1 - y0);
        self.clamp_centre();
        self.rebin();
    }

    /// Back to the whole view.
    pub fn reset_zoom(&mut self) {
        self.reset_view();
        self.rebin();
    }

    fn reset_view(&mut self) {
        self.bounds = bounds(self.points());
        let [x0, x1, y0, y1] = self.bounds;
        self.centre = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        self.zoom = 0;
    }

    fn clamp_centre(&mut self) {
        let [x0, x1, y0, y1] = self.bounds;
        self.centre = (self.centre.0.clamp(x0, x1), self.centre.1.clamp(y0, y1));
    }

    /// The visible [x0, x1, y0, y1].
    pub fn window(&self) -> [f64; 4] {
        let [x0, x1, y0, y1] = self.bounds;
        let scale = 2f64.powi(i32::from(self.zoom));
        let (hx, hy) = ((x1 - x0) / 2.0 / scale, (y1 - y0) / 2.0 / scale);
        let (cx, cy) = self.centre;
        [cx - hx, cx + hx, cy - hy, cy + hy]
    }

    /// The view coordinates under plot cell (col, row).
    pub fn view_at(&self, col: u16, row: u16) -> (f64, f64) {
        let [x0, x1, y0, y1] = self.window();
        let fx = (f64::from(col) + 0.5) / f64::from(self.grid.width.max(1));
        let fy = (f64::from(row) + 0.5) / f64::from(self.grid.height.max(1));
        (x0 + fx * (x1 - x0), y1 - fy * (y1 - y0))
    }

    /// Sets the plot size in cells and re-bins.
    pub fn resize(&mut self, width: u16, height: u16) {
        if (width, height) != (self.grid.width, self.grid.height) {
            self.grid.width = width;
            self.grid.height = height;
            self.rebin();
        }
        self.timeline.resize(width, height);
    }

    /// Takes the snapshots read from `run_dir` (see `Timeline::set_snapshots`), coloured as
    /// the cells are now.
    pub fn set_timeline(&mut self, run_dir: &std::path::Path, snapshots: Vec<Snapshot>) -> bool {
        let again = self.timeline.set_snapshots(run_dir, snapshots);
        self.colour_timeline();
        again
    }

    /// Colours the snapshots as the pane's cells when they are of the run open here.
    fn colour_timeline(&mut self) {
        let same_run = self.analysis.as_ref().map(|a| a.run_dir.as_path());
        let pane =
            (same_run.is_some() && same_run == self.timeline.run_dir()).then(|| PaneColours {
                entries: &self.point_entry,
                inks: &self.entry_ink,
                order: &self.order,
            });
        self.timeline.colour(pane);
    }

    /// Rebuilds the legend and per-point legend rows for the colouring (highlight cleared).
    fn recolour(&mut self) {
        let Some(a) = self.analysis.clone() else {
            return;
        };
        let n = a.n_cells();
        self.point_entry = vec![u32::MAX; n];
        self.legend = match self.colour {
            ColourBy::Group(i) => match a.groupings.get(i) {
                Some(g) => {
                    for (p, code) in self.point_entry.iter_mut().zip(&g.codes) {
                        *p = code.unwrap_or(u32::MAX);
                    }
                    g.names
                        .iter()
                        .zip(&g.counts)
                        .enumerate()
                        .map(|(k, (name, &count))| LegendEntry {
                            name: name.clone(),
                            count,
                            ink: Ink::Category(k as u16),
                        })
                        .collect()
                }
                None => Vec::new(),
            },
            ColourBy::Gene(g) => {
                let (cells, values) = a.expression.column(g);
                let values: Vec<(u32, f32)> =
                    cells.iter().copied().zip(values.iter().copied()).collect();
                self.ramp_legend(&values, "not detected", Ink::Ramp(0), true)
            }
            ColourBy::GeneError(g) => {
                let values = a.errors.as_ref().map_or_else(Vec::new, |e| e.gene(g));
                self.ramp_legend(&values, "not held out", Ink::Faded, false)
            }
        };
        self.cursor = self.cursor.min(self.legend.len().saturating_sub(1));
        self.highlight = None;
        self.reorder();
    }

    /// Levels of a per-cell value: the first row for cells without one (`rest`, drawn with
    /// `rest_ink`), then the quartiles of the values (`positive_only`: zeros count as without).
    fn ramp_legend(
        &mut self,
        values: &[(u32, f32)],
        rest: &str,
        rest_ink: Ink,
        positive_only: bool,
    ) -> Vec<LegendEntry> {
        let has_value = |v: f32| !positive_only || v > 0.0;
        let mut sorted: Vec<f32> = values
            .iter()
            .map(|&(_, v)| v)
            .filter(|&v| has_value(v))
            .collect();
        sorted.sort_by(f32::total_cmp);
        let quantile = |q: f64| {
            sorted
                .get(((sorted.len().saturating_sub(1)) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        let cuts: Vec<f32> = (1..RAMP_LEVELS)
            .map(|k| quantile(k as f64 / RAMP_LEVELS as f64))
            .collect();
        let mut counts = [0usize; RAMP_LEVELS + 1];
        self.point_entry.iter_mut().for_each(|p| *p = 0);
        for &(c, v) in values {
            if has_value(v) {
                self.point_entry[c as usize] = (1 + cuts.iter().filter(|&&t| v > t).count()) as u32;
            }
        }
        for &p in &self.point_entry {
            counts[p as usize] += 1;
        }
        let max = sorted.last().copied().unwrap_or(0.0);
        (0..=RAMP_LEVELS)
            .map(|level| LegendEntry {
                name: match level {
                    0 => rest.to_string(),
                    l if l == RAMP_LEVELS => format!("≤ {max:.2}"),
                    l => format!("≤ {:.2}", cuts[l - 1]),
                },
                count: counts[level],
                ink: if level == 0 {
                    rest_ink
                } else {
                    Ink::Ramp(level as u8)
                },
            })
            .collect()
    }

    /// Inks after highlighting and the drawing order: faded and missing first, then groups from
    /// largest to smallest (expression: lowest level first), the highlighted group last.
    fn reorder(&mut self) {
        let rows = self.legend.len();
        self.entry_ink = (0..rows)
            .map(|e| match self.highlight {
                Some(h) if h != e => Ink::Faded,
                _ => self.legend[e].ink,
            })
            .collect();
        let mut rank: Vec<usize> = (0..rows).collect();
        match self.colour {
            ColourBy::Group(_) => rank.sort_by_key(|&e| std::cmp::Reverse(self.legend[e].count)),
            ColourBy::Gene(_) | ColourBy::GeneError(_) => {}
        }
        if let Some(h) = self.highlight {
            rank.retain(|&e| e != h);
            rank.push(h);
        }
        let mut position = vec![0usize; rows];
        for (p, &e) in rank.iter().enumerate() {
            position[e] = p;
        }
        let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); rows + 1];
        for (i, &e) in self.point_entry.iter().enumerate() {
            let slot = match e as usize {
                e if e < rows && self.entry_ink[e] != Ink::Faded => 1 + position[e],
                _ => 0,
            };
            buckets[slot].push(i as u32);
        }
        self.order = buckets.concat();
        self.rebin();
        self.colour_timeline();
    }

    /// Bins the visible points into the plot grid (braille resolution: 2 x 4 dots a cell).
    fn rebin(&mut self) {
        self.grid.clear(Ink::Faded);
        let [x0, x1, y0, y1] = self.window();
        let (dw, dh) = self.grid.dot_size();
        if dw == 0 || dh == 0 || x1 <= x0 || y1 <= y0 {
            return;
        }
        let points = match (&self.analysis, self.view) {
            (Some(a), View2d::Tsne) => &a.tsne,
            (Some(a), View2d::Pca) => &a.pca,
            (None, _) => return,
        };
        let (sx, sy) = (dw as f64 / (x1 - x0), dh as f64 / (y1 - y0));
        let (dw, dh) = (dw as f64, dh as f64);
        for &i in &self.order {
            let p = points[i as usize];
            let px = (f64::from(p[0]) - x0) * sx;
            let py = (y1 - f64::from(p[1])) * sy;
            if !(0.0..dw).contains(&px) || !(0.0..dh).contains(&py) {
                continue;
            }
            let e = self.point_entry[i as usize] as usize;
            let ink = self.entry_ink.get(e).copied().unwrap_or(Ink::Faded);
            self.grid.plot(px as usize, py as usize, ink);
        }
    }
}

/// The [x0, x1, y0, y1] of the points with a 3% margin (a unit box around a single point).
pub(super) fn bounds(points: &[[f32; 2]]) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for p in points
        .iter()
        .filter(|p| p[0].is_finite() && p[1].is_finite())
    {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        b = [b[0].min(x), b[1].max(x), b[2].min(y), b[3].max(y)];
    }
    if !b[0].is_finite() {
        return [-1.0, 1.0, -1.0, 1.0];
    }
    let pad = |lo: f64, hi: f64| ((hi - lo) * 0.03).max(1e-6);
    let (px, py) = (pad(b[0], b[1]), pad(b[2], b[3]));
    [b[0] - px, b[1] + px, b[2] - py, b[3] + py]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::embed::{EmbeddingScores, GeneRecon, LabelScores, ReconSummary};
    use crate::analysis::markers::MarkerGene;
    use crate::analysis::paired::Paired;
    use crate::analysis::prediction::{CvSummary, LabelPrediction};
    use crate::analysis::run_analysis::{CellErrors, Grouping};
    use crate::data::CsrMatrix;

    fn scores(f1: f64) -> EmbeddingScores {
        EmbeddingScores {
            kmeans_ari: Some(f1 - 0.2),
            kmeans_nmi: Some(f1 - 0.1),
            leiden_ari: Some(f1 - 0.15),
            leiden_nmi: Some(f1 - 0.05),
            leiden_clusters: 3,
            asw: None,
        }
    }

    /// Five folds around the given SSL and PCA means (same spread, opposite signs).
    fn paired(ssl: f64, pca: f64) -> Paired {
        let spread = [0.01, -0.02, 0.0, 0.015, -0.005];
        Paired::new(
            spread.iter().map(|d| ssl + d).collect(),
            spread.iter().map(|d| pca - d).collect(),
        )
    }

    /// Cross-validated figures: kNN worse than PCA, the probe no clearly different.
    fn prediction() -> LabelPrediction {
        LabelPrediction {
            cv: CvSummary {
                folds: 5,
                seed: 0,
                n_cells: 600,
                classes: ["T cell", "B cell", "monocyte"].map(String::from).to_vec(),
                min_class_cells: 10,
                excluded_classes: Vec::new(),
                unlabelled_cells: 0,
                knn_k: 5,
                logistic_c: 1.0,
                logistic_max_iterations: 500,
            },
            knn_macro_f1: paired(0.653, 0.72),
            knn_accuracy: paired(0.753, 0.82),
            logistic_macro_f1: paired(0.735, 0.731),
            logistic_accuracy: paired(0.81, 0.8),
        }
    }

    /// A small fixed analysis: `n` cells in three blobs, six genes, k-means / Leiden / cell_type.
    pub fn scripted_analysis(n: usize) -> RunAnalysis {
        let blob = |i: usize| i % 3;
        // A fixed hash of (cell, axis) spread over [-2.5, 2.5): round blobs, the same everywhere.
        let jitter = |i: usize, k: usize| {
            let mut h = (i as u64 * 2 + k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h ^= h >> 29;
            h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h ^= h >> 32;
            ((h % 10_000) as f32 / 10_000.0 - 0.5) * 5.0
        };
        let centres = [[-10.0, -6.0], [8.0, -4.0], [0.0, 9.0]];
        let tsne: Vec<[f32; 2]> = (0..n)
            .map(|i| {
                let c = centres[blob(i)];
                [c[0] + jitter(i, 1), c[1] + jitter(i, 2)]
            })
            .collect();
        let pca = tsne
            .iter()
            .map(|p| [p[0] * 0.5 + p[1], p[1] - p[0]])
            .collect();
        let genes: Vec<String> = ["CD3E", "CD79A", "LYZ", "NKG7", "MS4A1", "GNLY"]
            .map(String::from)
            .to_vec();
        let dense: Vec<f32> = (0..n * 6)
            .map(|k| {
                let (cell, gene) = (k / 6, k % 6);
                if gene % 3 == blob(cell) {
                    1.0 + ((cell + gene) % 7) as f32 / 3.0
                } else {
                    0.0
                }
            })
            .collect();
        let x = CsrMatrix::from_dense(n, 6, &dense);
        let marker = |gene: usize, t: f64| MarkerGene {
            gene,
            mean_in: 1.5,
            mean_out: 0.2,
            mean_diff: 1.3,
            t: Some(t),
            p_value: Some(1e-6),
        };
        let mut types = Grouping::new(
            "cell_type",
            (0..n).map(|i| Some(blob(i))).collect(),
            ["T cell", "B cell", "monocyte"].map(String::from).to_vec(),
            None,
        )
        .unwrap();
        types.markers = (0..3)
            .map(|k| vec![marker(k, 12.5), marker(k + 3, 8.25)])
            .collect();
        let clusters = |name: &str, k: usize| {
            Grouping::new(
                name,
                (0..n).map(|i| Some(i % k)).collect(),
                (0..k).map(|c| c.to_string()).collect(),
                None,
            )
            .unwrap()
        };
        let recon = ReconSummary {
            n_cells: n / 10,
            ev_weighted: 0.155,
            ev_uniform: 0.083,
            mse: 0.42,
            genes: genes
                .iter()
                .enumerate()
                .map(|(i, g)| GeneRecon {
                    gene: g.clone(),
                    mse: 0.1 + 0.13 * i as f64,
                    pearson: (i != 4).then_some(0.8 - 0.1 * i as f64),
                    explained_variance: 0.5 - 0.12 * i as f64,
                })
                .collect(),
        };
        RunAnalysis {
            run_dir: "runs/20261123-masked".into(),
            run_name: "20261123-masked".into(),
            method: "masked".into(),
            latent: 64,
            genes,
            tsne,
            pca,
            groupings: vec![clusters("k-means", 4), clusters("Leiden", 3), types],
            expression: x.to_csc(),
            scores: Ok(LabelScores {
                label: "cell_type".into(),
                n_labels: 3,
                pca_components: 50,
                ssl: scores(0.653),
                pca: scores(0.72),
                prediction: Some(prediction()),
                prediction_note: None,
            }),
            recon: Ok(recon),
            errors: Some(CellErrors {
                cells: (0..n as u32).step_by(10).collect(),
                n_genes: 6,
                values: (0..n.div_ceil(10) * 6)
                    .map(|i| (i % 13) as f32 / 4.0)
                    .collect(),
            }),
        }
    }

    pub fn ready_state(n: usize) -> EmbeddingsState {
        let mut s = EmbeddingsState::default();
        s.begin(1, "20261123-masked".into());
        s.apply(AnalysisEvent::Done {
            job: 1,
            result: Ok(Arc::new(scripted_analysis(n))),
        });
        s.resize(40, 16);
        s
    }

    /// The inks of the grid's cells with a dot.
    pub fn drawn_inks(grid: &PlotGrid) -> std::collections::HashSet<Ink> {
        grid.ink
            .iter()
            .zip(&grid.dots)
            .filter(|(_, d)| **d != 0)
            .map(|(i, _)| *i)
            .collect()
    }

    fn dots(s: &EmbeddingsState) -> u32 {
        s.grid.dots.iter().map(|d| d.count_ones()).sum()
    }

    #[test]
    fn events_of_older_jobs_are_ignored_and_failures_keep_the_run_name() {
        let mut s = EmbeddingsState::default();
        s.begin(2, "run-b".into());
        s.apply(AnalysisEvent::Progress {
            job: 1,
            done: 5,
            total: 9,
        });
        s.apply(AnalysisEvent::Progress {
            job: 2,
            done: 3,
            total: 9,
        });
        assert!(matches!(s.status, AnalysisStatus::Running { done: 3, .. }));
        let old = AnalysisEvent::Done {
            job: 1,
            result: Ok(Arc::new(scripted_analysis(30))),
        };
        assert!(s.apply(old).is_none());
        assert!(s.analysis.is_none());
        s.apply(AnalysisEvent::Done {
            job: 2,
            result: Err("no checkpoint".into()),
        });
        assert_eq!(
            s.status,
            AnalysisStatus::Failed {
                run_name: "run-b".into(),
                message: "no checkpoint".into()
            }
        );
    }

    #[test]
    fn ready_colours_by_the_scored_label_and_bins_every_point() {
        let s = ready_state(300);
        assert_eq!(s.colour_name(), "cell_type");
        assert_eq!(s.legend.len(), 3);
        assert_eq!(s.legend.iter().map(|e| e.count).sum::<usize>(), 300);
        assert_eq!(s.order.len(), 300);
        assert!(dots(&s) > 30, "points land on the grid");
        // Each blob keeps its own colour in its own corner: bottom-left is T cells.
        let (w, h) = (s.grid.width, s.grid.height);
        let ink_at = |x0: u16, x1: u16, y0: u16, y1: u16| {
            (x0..x1)
                .flat_map(|x| (y0..y1).map(move |y| (x, y)))
                .filter_map(|(x, y)| s.grid.cell(x, y).map(|c| c.1))
                .collect::<std::collections::HashSet<_>>()
        };
        assert_eq!(ink_at(0, w / 3, h / 2, h), [Ink::Category(0)].into());
    }

    #[test]
    fn zoom_pan_and_reset_change_the_window_and_the_bins() {
        let mut s = ready_state(300);
        let whole = s.window();
        let before = dots(&s);
        s.zoom_by(true, None);
        let half = s.window();
        assert!(((half[1] - half[0]) * 2.0 - (whole[1] - whole[0])).abs() < 1e-9);
        s.zoom_by(true, Some((-10.0, -6.0)));
        assert!(s.centre.0 < 0.0 && s.centre.1 < 0.0, "{:?}", s.centre);
        assert!(dots(&s) < before, "zoomed in on one blob");
        s.pan(1, 0);
        assert!(s.window()[0] > half[0] - 1e-9 || s.centre.0 > -10.0);
        for _ in 0..20 {
            s.zoom_by(true, None);
            s.pan(-1, -1);
        }
        assert_eq!(s.zoom, MAX_ZOOM);
        let [x0, _, y0, _] = s.bounds;
        assert!(
            s.centre.0 >= x0 && s.centre.1 >= y0,
            "panning stays in bounds"
        );
        s.reset_zoom();
        assert_eq!((s.zoom, s.window()), (0, whole));
        assert_eq!(dots(&s), before);
    }

    #[test]
    fn highlight_fades_the_rest_and_lists_markers() {
        let mut s = ready_state(300);
        s.move_cursor(1);
        s.toggle_highlight();
        let (name, markers) = s.selected_markers().unwrap();
        assert_eq!((name, markers[0].gene), ("B cell", 1));
        assert_eq!(drawn_inks(&s.grid), [Ink::Faded, Ink::Category(1)].into());
        // The highlighted group is drawn last, so it wins shared cells.
        assert_eq!(s.order.last().map(|&i| i % 3), Some(1));
        s.toggle_highlight();
        assert!(s.selected_markers().is_none());
    }

    #[test]
    fn colour_cycles_groupings_and_gene_colour_uses_the_ramp() {
        let mut s = ready_state(300);
        s.cycle_colour();
        assert_eq!(s.colour_name(), "k-means");
        s.cycle_colour();
        assert_eq!(s.colour_name(), "Leiden");
        assert_eq!(s.find_gene("cd79"), Some(1));
        assert_eq!(s.find_gene("ly"), Some(2));
        assert_eq!(s.find_gene("zzz"), None);
        s.colour_by_gene(1);
        assert_eq!(s.colour_name(), "gene CD79A");
        assert_eq!(s.legend[0].name, "not detected");
        assert_eq!(
            s.legend[0].count, 200,
            "only the B-cell blob expresses CD79A"
        );
        assert_eq!(s.legend.iter().map(|e| e.count).sum::<usize>(), 300);
        assert!(s.colour_by_error(1));
        assert_eq!(s.colour_name(), "error of CD79A");
        assert_eq!(
            (s.legend[0].name.as_str(), s.legend[0].ink),
            ("not held out", Ink::Faded)
        );
        assert_eq!(s.legend[0].count, 270);
        assert_eq!(s.legend[1..].iter().map(|e| e.count).sum::<usize>(), 30);
        s.toggle_view();
        assert_eq!(s.view, View2d::Pca);
        s.cycle_colour();
        assert_eq!(s.colour, ColourBy::Group(0));
    }

    #[test]
    fn fifty_thousand_points_bin_into_any_grid_and_a_tiny_one() {
        let mut s = ready_state(50_000);
        s.resize(1, 1);
        assert!(s.grid.cell(0, 0).is_some());
        s.resize(0, 0);
        assert!(s.grid.dots.is_empty());
        s.resize(90, 30);
        assert_eq!(s.grid.dots.len(), 90 * 30);
    }
}
