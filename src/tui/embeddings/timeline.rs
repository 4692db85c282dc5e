//! The Embeddings pane's timeline: the latent snapshots a run stored while it trained
//! (`analysis::timeline`), stepped through with `[` / `]` or played, each drawn as its 2-D
//! points coloured as the pane colours those cells, pre-binned like the final view.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::analysis::timeline::Snapshot;
use crate::tui::embeddings::state::{Ink, PlotGrid, bounds};

/// How long a played snapshot stays up.
pub const PLAY_EVERY: Duration = Duration::from_millis(500);

/// How the pane colours its cells, for colouring the same cells in a snapshot.
pub struct PaneColours<'a> {
    /// Per cell of the run: its legend row (u32::MAX: none).
    pub entries: &'a [u32],
    /// Per legend row: its ink after highlighting.
    pub inks: &'a [Ink],
    /// The cells in drawing order.
    pub order: &'a [u32],
}

/// The snapshots of one run and which of them is shown.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// The run whose snapshots these are.
    run_dir: Option<PathBuf>,
    /// The Train pane's run (from its `Started` event), whose snapshots are read as they come.
    pub train_run: Option<PathBuf>,
    snapshots: Vec<Snapshot>,
    /// The snapshot shown; None: the final view (or, without one, the newest snapshot).
    at: Option<usize>,
    /// Whether the run's final embedding is open to return to.
    final_view: bool,
    playing: bool,
    since_step: Duration,
    /// A read of the file is under way; `reread`: another was asked for meanwhile.
    reading: bool,
    reread: bool,
    /// Per snapshot cell: its ink; the snapshot cells in drawing order.
    inks: Vec<Ink>,
    order: Vec<u32>,
    pub grid: PlotGrid,
}

impl Timeline {
    /// The run whose snapshots these are.
    pub fn run_dir(&self) -> Option<&Path> {
        self.run_dir.as_deref()
    }

    /// How many snapshots there are.
    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    /// Whether the final embedding of the timeline's run is open to return to.
    pub fn has_final_view(&self) -> bool {
        self.final_view
    }

    /// Whether the snapshots are playing.
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Points the timeline at `run_dir` (its snapshots go when it is another run); true when
    /// the file should be read now (false: a read is under way and another follows it).
    pub fn follow(&mut self, run_dir: &Path) -> bool {
        if self.run_dir.as_deref() != Some(run_dir) {
            *self = Self {
                run_dir: Some(run_dir.to_path_buf()),
                train_run: self.train_run.take(),
                grid: std::mem::take(&mut self.grid),
                ..Self::default()
            };
        }
        if self.reading {
            self.reread = true;
            return false;
        }
        self.reading = true;
        true
    }

    /// Takes the snapshots read from `run_dir`'s file; true when it changed since the read
    /// began and should be read again. Reads of another run are ignored.
    pub fn set_snapshots(&mut self, run_dir: &Path, snapshots: Vec<Snapshot>) -> bool {
        if self.run_dir.as_deref() != Some(run_dir) {
            return false;
        }
        self.snapshots = snapshots;
        self.at = self.at.filter(|&i| i < self.snapshots.len());
        self.reading = std::mem::take(&mut self.reread);
        self.reading
    }

    /// Whether a snapshot was stepped to (not the final view or the newest followed).
    pub fn is_stepping(&self) -> bool {
        self.at.is_some()
    }

    /// The index of the snapshot shown, if one is.
    pub fn shown(&self) -> Option<usize> {
        let newest = self.snapshots.len().checked_sub(1);
        self.at.or(newest.filter(|_| !self.final_view))
    }

    /// The snapshot shown, if one is.
    pub fn current(&self) -> Option<&Snapshot> {
        self.snapshots.get(self.shown()?)
    }

    /// "snapshot 3/10 · epoch 20 · kNN macro-F1 0.812" for the snapshot shown.
    pub fn caption(&self) -> Option<String> {
        let i = self.shown()?;
        let s = &self.snapshots[i];
        let f1 = s
            .knn_macro_f1
            .filter(|f| f.is_finite())
            .map_or_else(|| "kNN F1 n/a".into(), |f| format!("kNN macro-F1 {f:.3}"));
        Some(format!(
            "snapshot {}/{} · epoch {} · {f1}",
            i + 1,
            self.snapshots.len(),
            s.epoch
        ))
    }

    /// One snapshot back (from the final view: the last snapshot); pauses.
    pub fn previous(&mut self) {
        let n = self.snapshots.len();
        if n == 0 {
            return;
        }
        self.playing = false;
        self.at = Some(match self.at {
            Some(i) => i.saturating_sub(1),
            None if self.final_view => n - 1,
            None => n.saturating_sub(2),
        });
        self.rebin();
    }

    /// One snapshot on; past the last, back to the final view (from it, the first snapshot).
    pub fn next(&mut self) {
        let n = self.snapshots.len();
        self.playing = false;
        self.at = match self.at {
            Some(i) if i + 1 < n => Some(i + 1),
            Some(_) => None,
            None if self.final_view && n > 0 => Some(0),
            None => None,
        };
        self.rebin();
    }

    /// Plays from the snapshot shown (from the first when at the end), or pauses.
    pub fn toggle_play(&mut self) {
        let n = self.snapshots.len();
        if self.playing || n == 0 {
            self.playing = false;
            return;
        }
        if self.at.is_none_or(|i| i + 1 >= n) {
            self.at = Some(0);
            self.rebin();
        }
        self.playing = n > 1;
        self.since_step = Duration::ZERO;
    }

    /// Back to the final embedding view.
    pub fn to_final(&mut self) {
        self.playing = false;
        self.at = None;
        self.rebin();
    }

    /// Time passed while playing: steps every `PLAY_EVERY`, stopping at the last snapshot.
    pub fn tick(&mut self, elapsed: Duration) {
        if !self.playing {
            return;
        }
        self.since_step += elapsed;
        let last = self.snapshots.len().saturating_sub(1);
        let mut at = self.at.unwrap_or(0);
        while self.since_step >= PLAY_EVERY && at < last {
            self.since_step -= PLAY_EVERY;
            at += 1;
        }
        self.playing = at < last;
        if self.at != Some(at) {
            self.at = Some(at);
            self.rebin();
        }
    }

    /// Colours the snapshot cells as the pane colours the run's cells (`pane`: None when no
    /// analysis of this run is open, then in one colour) and re-bins.
    pub fn colour(&mut self, pane: Option<PaneColours>) {
        self.final_view = pane.is_some();
        let cells = self.snapshots.first().map_or(&[][..], |s| &s.cells[..]);
        let Some(p) = pane else {
            self.inks = vec![Ink::Category(0); cells.len()];
            self.order = (0..cells.len() as u32).collect();
            return self.rebin();
        };
        let ink = |c: usize| {
            let e = p.entries.get(c).copied().unwrap_or(u32::MAX) as usize;
            p.inks.get(e).copied().unwrap_or(Ink::Faded)
        };
        self.inks = cells.iter().map(|&c| ink(c)).collect();
        let mut rank = vec![u32::MAX; p.entries.len()];
        for (r, &c) in p.order.iter().enumerate() {
            if let Some(slot) = rank.get_mut(c as usize) {
                *slot = r as u32;
            }
        }
        let mut order: Vec<u32> = (0..cells.len() as u32).collect();
        order.sort_by_key(|&i| rank.get(cells[i as usize]).copied().unwrap_or(0));
        self.order = order;
        self.rebin();
    }

    /// Sets the plot size in cells and re-bins.
    pub fn resize(&mut self, width: u16, height: u16) {
        if (width, height) != (self.grid.width, self.grid.height) {
            (self.grid.width, self.grid.height) = (width, height);
            self.rebin();
        }
    }

    /// Bins the shown snapshot's points into the grid, the whole snapshot in view.
    fn rebin(&mut self) {
        self.grid.clear(Ink::Faded);
        let Some(s) = self.shown().map(|i| &self.snapshots[i]) else {
            return;
        };
        let points: Vec<[f32; 2]> = s.x.iter().zip(&s.y).map(|(&x, &y)| [x, y]).collect();
        let [x0, x1, y0, y1] = bounds(&points);
        let (dw, dh) = self.grid.dot_size();
        if dw == 0 || dh == 0 {
            return;
        }
        let (sx, sy) = (dw as f64 / (x1 - x0), dh as f64 / (y1 - y0));
        for &i in &self.order {
            let Some(p) = points.get(i as usize) else {
                continue;
            };
            let px = (f64::from(p[0]) - x0) * sx;
            let py = (y1 - f64::from(p[1])) * sy;
            if (0.0..dw as f64).contains(&px) && (0.0..dh as f64).contains(&py) {
                let ink = self.inks.get(i as usize).copied().unwrap_or(Ink::Faded);
                self.grid.plot(px as usize, py as usize, ink);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `n` snapshots of `cells` cells: three groups drifting apart, epochs 0, 2, 4, ...
    pub fn snapshots(n: usize, cells: usize) -> Vec<Snapshot> {
        (0..n)
            .map(|k| {
                let spread = 1.0 + k as f32;
                let jitter = |c: usize, m: usize| ((c * 37 % m) as f32 / m as f32 - 0.5) * 2.0;
                let (x, y) = (0..cells)
                    .map(|c| {
                        let [cx, cy] = [[-1.0, -0.6], [1.0, -0.6], [0.0, 1.0]][c % 3];
                        (
                            cx * spread + jitter(c, 101),
                            cy * spread + jitter(c * 3, 97),
                        )
                    })
                    .unzip();
                Snapshot {
                    epoch: 2 * k,
                    knn_macro_f1: Some(0.5 + 0.04 * k as f64),
                    cells: (0..cells).collect(),
                    x,
                    y,
                }
            })
            .collect()
    }

    fn timeline(n: usize, final_view: bool) -> Timeline {
        let mut t = Timeline::default();
        let dir = Path::new("runs/a");
        assert!(t.follow(dir));
        assert!(!t.set_snapshots(dir, snapshots(n, 30)));
        t.resize(20, 8);
        let entries: Vec<u32> = (0..30).map(|c| c % 3).collect();
        let inks = [0, 1, 2].map(Ink::Category);
        let order: Vec<u32> = (0..30).collect();
        t.colour(final_view.then_some(PaneColours {
            entries: &entries,
            inks: &inks,
            order: &order,
        }));
        t
    }

    #[test]
    fn stepping_goes_from_the_final_view_through_the_snapshots_and_back() {
        let mut t = timeline(3, true);
        assert_eq!((t.shown(), t.caption()), (None, None));
        t.next();
        assert_eq!(t.shown(), Some(0), "] from the final view: the first");
        t.previous();
        assert_eq!(t.shown(), Some(0), "[ stops at the first");
        t.next();
        t.next();
        assert_eq!(
            t.caption().unwrap(),
            "snapshot 3/3 · epoch 4 · kNN macro-F1 0.580"
        );
        t.next();
        assert_eq!(t.shown(), None, "] past the last: the final view");
        t.previous();
        assert_eq!(t.shown(), Some(2), "[ from the final view: the last");
        t.to_final();
        assert_eq!(t.shown(), None);
    }

    #[test]
    fn without_a_final_view_the_newest_snapshot_is_shown() {
        let mut t = timeline(3, false);
        assert_eq!(t.shown(), Some(2));
        t.previous();
        assert_eq!(t.shown(), Some(1));
        t.next();
        t.next();
        assert_eq!(t.shown(), Some(2), "past the last: the newest again");
        t.next();
        assert_eq!(t.shown(), Some(2));
        // A new snapshot arrives while following the newest: it is shown.
        let dir = Path::new("runs/a");
        assert!(t.follow(dir));
        assert!(!t.set_snapshots(dir, snapshots(4, 30)));
        assert_eq!(t.shown(), Some(3));
        t.snapshots[3].knn_macro_f1 = None;
        assert!(t.caption().unwrap().ends_with("epoch 6 · kNN F1 n/a"));
    }

    #[test]
    fn play_steps_every_half_second_and_stops_at_the_last() {
        let mut t = timeline(4, true);
        t.toggle_play();
        assert!(t.is_playing());
        assert_eq!(t.shown(), Some(0), "plays from the first");
        let tick = Duration::from_millis(200);
        t.tick(tick);
        t.tick(tick);
        assert_eq!(t.shown(), Some(0));
        t.tick(tick);
        assert_eq!(t.shown(), Some(1), "after 0.6 s");
        t.toggle_play();
        t.tick(Duration::from_secs(5));
        assert_eq!(t.shown(), Some(1), "paused");
        t.toggle_play();
        t.tick(Duration::from_secs(5));
        assert_eq!(t.shown(), Some(3));
        assert!(!t.is_playing(), "stops at the last");
        t.toggle_play();
        assert_eq!(
            t.shown(),
            Some(0),
            "p at the last plays again from the first"
        );
        t.next();
        assert!(!t.is_playing(), "stepping pauses");
    }

    #[test]
    fn snapshots_take_the_pane_colours_and_bin_every_point() {
        let t = timeline(2, true);
        assert_eq!(t.inks[..3], [0, 1, 2].map(Ink::Category));
        let mut t = t;
        t.next();
        let inks = crate::tui::embeddings::state::tests::drawn_inks(&t.grid);
        assert_eq!(inks.len(), 3, "{inks:?}");
        let one = timeline(2, false);
        assert!(one.inks.iter().all(|&i| i == Ink::Category(0)));
        assert!(one.grid.dots.iter().any(|&d| d != 0));
    }

    #[test]
    fn reads_of_another_run_are_ignored_and_a_read_asked_for_meanwhile_follows() {
        let mut t = timeline(2, true);
        let dir = Path::new("runs/a");
        assert!(t.follow(dir));
        assert!(!t.follow(dir), "one read at a time");
        assert!(!t.set_snapshots(Path::new("runs/b"), snapshots(5, 30)));
        assert_eq!(t.len(), 2);
        assert!(t.set_snapshots(dir, snapshots(3, 30)), "read again");
        assert!(!t.set_snapshots(dir, snapshots(3, 30)));
        assert!(t.follow(Path::new("runs/b")));
        assert!(t.is_empty(), "another run starts empty");
    }
}
