//! The Runs pane's state: the scanned sweeps and runs (sweeps listed first), the selected row,
//! up to two runs marked for comparison (remembered by directory name, so they survive a rescan)
//! and the sweep table when one is open.

use std::path::PathBuf;

use crate::train::catalog::RunInfo;
use crate::tui::runs::sweep_table::{SweepView, TableRow};
use crate::tui::runs::sweeps::SweepInfo;

/// Runs marked for comparison at most at once.
pub const MAX_MARKED: usize = 2;

/// Metric key endings preferred as a run's headline, best first: eval's cross-validated kNN
/// macro-F1 of the SSL embedding, then clustering agreement, then transfer's macro-F1.
const HEADLINE_PREFERENCE: [&str; 5] = [".knn_macro_f1.ssl", ".ari", ".nmi", ".asw", ".macro_f1"];

/// What the Runs pane shows.
#[derive(Debug, Clone, Default)]
pub struct RunsState {
    pub runs: Vec<RunInfo>,
    /// Sweep directories, each one row above the runs.
    pub sweeps: Vec<SweepInfo>,
    /// The selected row: sweeps first, then runs.
    pub cursor: usize,
    /// Names of the marked runs, oldest mark first.
    pub marked: Vec<String>,
    /// True while a scan is under way.
    pub scanning: bool,
    /// True once a scan has arrived.
    pub scanned: bool,
    /// The sweep table shown instead of the list, if one is open.
    pub table: Option<SweepView>,
}

/// A row of the list.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    Sweep(&'a SweepInfo),
    Run(&'a RunInfo),
}

/// Which row is selected, by name (is it a sweep, its directory name).
type Selection = Option<(bool, String)>;

impl RunsState {
    /// Replaces the catalogue with a fresh scan, keeping the selection and marks that still exist.
    pub fn set_runs(&mut self, runs: Vec<RunInfo>) {
        let selected = self.selection();
        self.runs = runs;
        self.marked
            .retain(|name| self.runs.iter().any(|r| r.name == *name));
        self.reselect(selected);
        self.scanning = false;
        self.scanned = true;
    }

    /// Replaces the sweeps with a fresh scan, keeping the selection and the open table if its
    /// sweep is still there.
    pub fn set_sweeps(&mut self, sweeps: Vec<SweepInfo>) {
        let selected = self.selection();
        self.sweeps = sweeps;
        self.reselect(selected);
        let rows = self.open_sweep().map(|(s, _)| s.row_count());
        match (self.table.as_mut(), rows) {
            (Some(view), Some(n)) => view.move_cursor(0, n),
            _ => self.table = None,
        }
    }

    fn selection(&self) -> Selection {
        match self.entry(self.cursor)? {
            Entry::Sweep(s) => Some((true, s.name.clone())),
            Entry::Run(r) => Some((false, r.name.clone())),
        }
    }

    fn reselect(&mut self, selected: Selection) {
        let position = selected.and_then(|(sweep, name)| {
            (0..self.len()).position(|i| match self.entry(i) {
                Some(Entry::Sweep(s)) => sweep && s.name == name,
                Some(Entry::Run(r)) => !sweep && r.name == name,
                None => false,
            })
        });
        self.cursor = position.unwrap_or(0).min(self.len().saturating_sub(1));
    }

    /// Rows in the list: sweeps and runs.
    pub fn len(&self) -> usize {
        self.sweeps.len() + self.runs.len()
    }

    /// Whether the list has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows of the list, sweeps first.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        let sweeps = self.sweeps.iter().map(Entry::Sweep);
        sweeps.chain(self.runs.iter().map(Entry::Run))
    }

    /// Row `i` of the list.
    pub fn entry(&self, i: usize) -> Option<Entry<'_>> {
        match i.checked_sub(self.sweeps.len()) {
            None => self.sweeps.get(i).map(Entry::Sweep),
            Some(j) => self.runs.get(j).map(Entry::Run),
        }
    }

    /// Moves the selection by `by` rows, clamped to the list (or to the open sweep table).
    pub fn move_cursor(&mut self, by: isize) {
        if let Some(n) = self.open_sweep().map(|(s, _)| s.row_count()) {
            if let Some(v) = self.table.as_mut() {
                v.move_cursor(by, n);
            }
            return;
        }
        let last = self.len().saturating_sub(1) as isize;
        self.cursor = (self.cursor as isize + by).clamp(0, last) as usize;
    }

    /// The selected run (None when a sweep is selected).
    pub fn selected(&self) -> Option<&RunInfo> {
        match self.entry(self.cursor)? {
            Entry::Run(r) => Some(r),
            Entry::Sweep(_) => None,
        }
    }

    /// The selected sweep (None when a run is selected).
    pub fn selected_sweep(&self) -> Option<&SweepInfo> {
        self.sweeps.get(self.cursor)
    }

    /// Opens the selected sweep's table; says why not when the sweep could not be read.
    pub fn open_table(&mut self) -> Result<(), String> {
        let Some(sweep) = self.selected_sweep() else {
            return Ok(());
        };
        if let Err(e) = &sweep.contents {
            return Err(format!("{}: {e}", sweep.name));
        }
        self.table = Some(SweepView::new(&sweep.name));
        Ok(())
    }

    /// Changes the open table's sort with `change`, keeping the selected row selected.
    pub fn resort(&mut self, change: impl FnOnce(&mut SweepView)) {
        let Some(view) = self.table.as_mut() else {
            return;
        };
        let sweep = self.sweeps.iter().find(|s| s.name == view.sweep);
        let Some(table) = sweep
            .and_then(|s| s.contents.as_ref().ok())
            .map(|c| &c.table)
        else {
            return;
        };
        let selected = view.rows(table).get(view.cursor).copied();
        change(view);
        let rows = view.rows(table);
        view.cursor = rows.iter().position(|&r| Some(r) == selected).unwrap_or(0);
    }

    /// The open sweep table and its sweep.
    pub fn open_sweep(&self) -> Option<(&SweepInfo, &SweepView)> {
        let view = self.table.as_ref()?;
        let sweep = self.sweeps.iter().find(|s| s.name == view.sweep)?;
        Some((sweep, view))
    }

    /// The run of the sweep table's selected row: its first finished seed.
    pub fn table_run(&self) -> Option<&PathBuf> {
        let (sweep, view) = self.open_sweep()?;
        let contents = sweep.contents.as_ref().ok()?;
        match view.rows(&contents.table).get(view.cursor)? {
            TableRow::Combination(i) => contents.seed_runs.get(*i)?.first(),
            TableRow::Pca => None,
        }
    }

    /// The run the later panes work on from here: the sweep table's row, else the selected run.
    pub fn selected_dir(&self) -> Option<PathBuf> {
        if self.table.is_some() {
            return self.table_run().cloned();
        }
        self.selected().map(|r| r.dir.clone())
    }

    /// Marks or unmarks the selected run; a third mark replaces the oldest.
    pub fn toggle_mark(&mut self) {
        let Some(name) = self.selected().map(|r| r.name.clone()) else {
            return;
        };
        if let Some(i) = self.marked.iter().position(|m| *m == name) {
            self.marked.remove(i);
        } else {
            if self.marked.len() == MAX_MARKED {
                self.marked.remove(0);
            }
            self.marked.push(name);
        }
    }

    /// Whether the run called `name` is marked.
    pub fn is_marked(&self, name: &str) -> bool {
        self.marked.iter().any(|m| m == name)
    }

    /// The two marked runs, in marking order, once two are marked.
    pub fn compared(&self) -> Option<[&RunInfo; 2]> {
        let find = |name: &String| self.runs.iter().find(|r| r.name == *name);
        match self.marked.as_slice() {
            [a, b] => Some([find(a)?, find(b)?]),
            _ => None,
        }
    }
}

/// The metric shown in the table for a run: a preferred eval/transfer figure, else its first.
pub fn headline(run: &RunInfo) -> Option<&(String, f64)> {
    HEADLINE_PREFERENCE
        .iter()
        .find_map(|want| run.metrics.iter().find(|(k, _)| k.ends_with(want)))
        .or_else(|| run.metrics.first())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::train::detached::RunStatus;

    /// A scripted catalogue entry: fixed names, no real paths or times.
    pub fn scripted_info(
        name: &str,
        status: RunStatus,
        curve: &[f32],
        metrics: &[(&str, f64)],
    ) -> RunInfo {
        RunInfo {
            dir: format!("runs/{name}").into(),
            name: name.into(),
            method: name.rsplit('-').next().unwrap_or("").into(),
            dataset: "demo_immune.h5ad".into(),
            status,
            epochs_done: curve.len(),
            epochs: 10,
            best_val_loss: curve.iter().copied().min_by(f32::total_cmp),
            val_curve: curve.to_vec(),
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            summary: None,
        }
    }

    /// Three runs: a finished masked run with eval figures, a live byol run, a died vime run.
    pub fn scripted_runs() -> Vec<RunInfo> {
        vec![
            scripted_info(
                "run-c-masked",
                RunStatus::Finished,
                &[1.2, 0.9, 0.7, 0.62, 0.58, 0.55, 0.54, 0.53, 0.53, 0.52],
                &[
                    ("eval.knn_macro_f1.diff", -0.012),
                    ("eval.knn_macro_f1.pca", 0.665),
                    ("eval.knn_macro_f1.ssl", 0.653),
                    ("eval.n_cells", 600.0),
                    ("eval.ssl.asw", 0.41),
                    ("transfer.macro_f1", 0.78),
                ],
            ),
            scripted_info(
                "run-b-byol",
                RunStatus::Running,
                &[2.0, 1.4, 1.1, 0.95, 0.9],
                &[],
            ),
            scripted_info("run-a-vime", RunStatus::Died, &[1.5], &[("eval.asw", 0.2)]),
        ]
    }

    #[test]
    fn marks_hold_two_at_most_and_survive_a_rescan() {
        let mut s = RunsState::default();
        s.set_runs(scripted_runs());
        s.toggle_mark();
        s.move_cursor(1);
        s.toggle_mark();
        assert_eq!(s.compared().unwrap()[1].name, "run-b-byol");
        s.move_cursor(5);
        assert_eq!(s.cursor, 2);
        s.toggle_mark();
        assert_eq!(s.marked, ["run-b-byol", "run-a-vime"]);
        s.toggle_mark();
        assert!(s.compared().is_none());
        // The selected run keeps its selection when the order changes; vanished marks go.
        let mut rescanned = scripted_runs();
        rescanned.rotate_left(1);
        rescanned.pop();
        s.set_runs(rescanned);
        assert_eq!(s.selected().unwrap().name, "run-a-vime");
        assert_eq!(s.marked, ["run-b-byol"]);
        s.set_runs(Vec::new());
        assert!(s.selected().is_none() && s.marked.is_empty());
        s.toggle_mark();
        s.move_cursor(-1);
        assert_eq!(s.cursor, 0);
    }

    #[test]
    fn headline_prefers_the_cross_validated_knn_f1_then_clustering_agreement() {
        let runs = scripted_runs();
        assert_eq!(headline(&runs[0]).unwrap().0, "eval.knn_macro_f1.ssl");
        assert!(headline(&runs[1]).is_none());
        assert_eq!(headline(&runs[2]).unwrap().0, "eval.asw");
    }
}
