//! Loss histories that stay readable for any run length: every point is folded in as it arrives
//! (burn-style doubling stride for the whole run, plus a window of the most recent points).

use std::borrow::Cow;
use std::collections::VecDeque;

/// A whole series kept at `cap/2..=cap` points: each kept point is the mean of `stride` raw points,
/// and when the buffer fills, neighbours are merged pairwise and the stride doubles.
#[derive(Debug, Clone)]
pub struct DownsampledSeries {
    cap: usize,
    stride: usize,
    points: Vec<(f64, f64)>,
    pending: (f64, f64, usize),
}

impl DownsampledSeries {
    /// An empty series holding at most `cap` points (rounded up to an even number, at least 2).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(2).next_multiple_of(2);
        Self {
            cap,
            stride: 1,
            points: Vec::with_capacity(cap),
            pending: (0.0, 0.0, 0),
        }
    }

    /// Folds in one raw point; amortised O(1).
    pub fn push(&mut self, x: f64, y: f64) {
        let (sx, sy, n) = &mut self.pending;
        *sx += x;
        *sy += y;
        *n += 1;
        if *n < self.stride {
            return;
        }
        let k = *n as f64;
        self.points.push((*sx / k, *sy / k));
        self.pending = (0.0, 0.0, 0);
        if self.points.len() == self.cap {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let merged: Vec<(f64, f64)> = self
            .points
            .chunks_exact(2)
            .map(|p| ((p[0].0 + p[1].0) / 2.0, (p[0].1 + p[1].1) / 2.0))
            .collect();
        self.points = merged;
        self.stride *= 2;
    }

    /// The kept points, oldest first (the last incomplete bucket is not included).
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    /// How many raw points each kept point averages.
    pub fn stride(&self) -> usize {
        self.stride
    }
}

/// The last `cap` raw points.
#[derive(Debug, Clone)]
pub struct RecentWindow {
    cap: usize,
    points: VecDeque<(f64, f64)>,
}

impl RecentWindow {
    /// An empty window of at most `cap` points.
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            points: VecDeque::with_capacity(cap),
        }
    }

    /// Appends a point, dropping the oldest when full.
    pub fn push(&mut self, x: f64, y: f64) {
        if self.points.len() == self.cap {
            self.points.pop_front();
        }
        self.points.push_back((x, y));
    }

    /// The points, oldest first, as one slice (copied only when the ring has wrapped).
    pub fn points(&self) -> Cow<'_, [(f64, f64)]> {
        match self.points.as_slices() {
            (front, []) => Cow::Borrowed(front),
            _ => Cow::Owned(self.points.iter().copied().collect()),
        }
    }
}

/// One loss curve: raw and smoothed (EMA) versions, each downsampled and windowed, plus statistics.
#[derive(Debug, Clone)]
pub struct LossHistory {
    raw: DownsampledSeries,
    smooth: DownsampledSeries,
    recent_raw: RecentWindow,
    recent_smooth: RecentWindow,
    ema: Option<f64>,
    count: usize,
    last: Option<(f64, f64)>,
    min_y: f64,
}

/// Weight of the newest point in the smoothed curve.
const EMA_ALPHA: f64 = 0.1;

impl LossHistory {
    /// An empty history keeping about `cap` points of the whole run and `recent` latest points.
    pub fn new(cap: usize, recent: usize) -> Self {
        Self {
            raw: DownsampledSeries::new(cap),
            smooth: DownsampledSeries::new(cap),
            recent_raw: RecentWindow::new(recent),
            recent_smooth: RecentWindow::new(recent),
            ema: None,
            count: 0,
            last: None,
            min_y: f64::INFINITY,
        }
    }

    /// Records a loss at x (global step); non-finite losses are counted but not plotted.
    pub fn push(&mut self, x: f64, y: f64) {
        self.count += 1;
        if !y.is_finite() {
            return;
        }
        let ema = self.ema.map_or(y, |e| e + EMA_ALPHA * (y - e));
        self.ema = Some(ema);
        self.raw.push(x, y);
        self.smooth.push(x, ema);
        self.recent_raw.push(x, y);
        self.recent_smooth.push(x, ema);
        self.last = Some((x, y));
        self.min_y = self.min_y.min(y);
    }

    /// Points to plot: the whole run or the recent window, raw or smoothed.
    pub fn view(&self, recent: bool, smoothed: bool) -> Cow<'_, [(f64, f64)]> {
        match (recent, smoothed) {
            (false, false) => Cow::Borrowed(self.raw.points()),
            (false, true) => Cow::Borrowed(self.smooth.points()),
            (true, false) => self.recent_raw.points(),
            (true, true) => self.recent_smooth.points(),
        }
    }

    /// Number of points recorded, plotted or not.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True before the first point.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The newest finite point.
    pub fn last(&self) -> Option<(f64, f64)> {
        self.last
    }

    /// The lowest finite loss seen.
    pub fn min(&self) -> Option<f64> {
        self.min_y.is_finite().then_some(self.min_y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_series_is_kept_exactly() {
        let mut s = DownsampledSeries::new(8);
        for i in 0..7 {
            s.push(i as f64, 10.0 * i as f64);
        }
        assert_eq!(s.stride(), 1);
        assert_eq!(s.points().len(), 7);
        assert_eq!(s.points()[3], (3.0, 30.0));
    }

    #[test]
    fn filling_the_buffer_halves_it_and_doubles_the_stride() {
        let mut s = DownsampledSeries::new(8);
        for i in 0..8 {
            s.push(i as f64, i as f64);
        }
        assert_eq!(s.stride(), 2);
        assert_eq!(
            s.points(),
            &[(0.5, 0.5), (2.5, 2.5), (4.5, 4.5), (6.5, 6.5)]
        );
    }

    #[test]
    fn long_series_stays_bounded_and_every_point_is_a_bucket_mean() {
        let mut s = DownsampledSeries::new(500);
        let n = 100_000;
        for i in 0..n {
            s.push(i as f64, 2.0 * i as f64 + 1.0);
        }
        let pts = s.points();
        assert!(pts.len() >= 250 && pts.len() <= 500, "{}", pts.len());
        // A linear series: each bucket mean lies on the same line, in order, covering the run.
        for w in pts.windows(2) {
            assert!(w[0].0 < w[1].0);
        }
        for &(x, y) in pts {
            assert!((y - (2.0 * x + 1.0)).abs() < 1e-6, "{x} {y}");
        }
        let covered = pts.len() * s.stride();
        assert!(covered <= n && n - covered < s.stride(), "{covered} of {n}");
        assert!(pts[0].0 < s.stride() as f64);
    }

    #[test]
    fn bucket_means_preserve_the_overall_mean() {
        let mut s = DownsampledSeries::new(16);
        let ys: Vec<f64> = (0..64).map(|i| ((i * 37) % 11) as f64).collect();
        for (i, &y) in ys.iter().enumerate() {
            s.push(i as f64, y);
        }
        let kept: f64 = s.points().iter().map(|p| p.1).sum::<f64>() / s.points().len() as f64;
        let all: f64 = ys.iter().sum::<f64>() / ys.len() as f64;
        assert!((kept - all).abs() < 1e-9, "{kept} {all}");
    }

    #[test]
    fn recent_window_keeps_the_latest_points_in_order() {
        let mut w = RecentWindow::new(3);
        for i in 0..5 {
            w.push(i as f64, 0.0);
        }
        let xs: Vec<f64> = w.points().iter().map(|p| p.0).collect();
        assert_eq!(xs, [2.0, 3.0, 4.0]);
    }

    #[test]
    fn loss_history_smooths_and_skips_non_finite_losses() {
        let mut h = LossHistory::new(64, 8);
        h.push(0.0, 1.0);
        h.push(1.0, f64::NAN);
        h.push(2.0, 0.0);
        assert_eq!(h.len(), 3);
        assert_eq!(*h.view(false, false), [(0.0, 1.0), (2.0, 0.0)]);
        let smooth = h.view(false, true);
        assert_eq!(smooth[0].1, 1.0);
        assert!((smooth[1].1 - 0.9).abs() < 1e-12);
        assert_eq!(h.min(), Some(0.0));
        assert_eq!(h.last(), Some((2.0, 0.0)));
    }
}
