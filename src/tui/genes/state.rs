//! The Genes pane's state: per-gene reconstruction of held-out cells (MSE, Pearson r, explained
//! variance), sorted and filtered, the selected gene, and a histogram of per-gene errors.

use crate::analysis::embed::{GeneRecon, ReconSummary};

/// Bins of the per-gene error histogram.
pub const HISTOGRAM_BINS: usize = 10;

/// A column of the gene table (the sort key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneColumn {
    Gene,
    Mse,
    Pearson,
    ExplainedVariance,
}

impl GeneColumn {
    /// The columns in table order.
    pub const ALL: [GeneColumn; 4] = [
        GeneColumn::Gene,
        GeneColumn::Mse,
        GeneColumn::Pearson,
        GeneColumn::ExplainedVariance,
    ];

    /// The column heading.
    pub fn title(self) -> &'static str {
        match self {
            GeneColumn::Gene => "gene",
            GeneColumn::Mse => "MSE",
            GeneColumn::Pearson => "Pearson r",
            GeneColumn::ExplainedVariance => "expl. var",
        }
    }

    fn next(self) -> Self {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

/// One bar of the error histogram: errors in [lo, hi).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
}

/// The Genes pane.
#[derive(Debug, Clone)]
pub struct GenesState {
    /// The reconstruction, or why there is none (None: no run analysed yet).
    pub recon: Option<Result<ReconSummary, String>>,
    pub sort: GeneColumn,
    pub descending: bool,
    pub query: String,
    /// Indices into the summary's genes, in display order.
    pub visible: Vec<usize>,
    pub cursor: usize,
    pub histogram: Vec<ErrorBin>,
}

impl Default for GenesState {
    fn default() -> Self {
        Self {
            recon: None,
            sort: GeneColumn::Mse,
            descending: true,
            query: String::new(),
            visible: Vec::new(),
            cursor: 0,
            histogram: Vec::new(),
        }
    }
}

impl GenesState {
    /// Shows a run's reconstruction (or the reason it has none); keeps sort and search.
    pub fn set_recon(&mut self, recon: Result<ReconSummary, String>) {
        self.histogram = match &recon {
            Ok(r) => histogram(&r.genes),
            Err(_) => Vec::new(),
        };
        self.recon = Some(recon);
        self.cursor = 0;
        self.refresh();
    }

    /// Forgets the shown run (a new one is being analysed).
    pub fn clear(&mut self) {
        self.recon = None;
        self.visible.clear();
        self.histogram.clear();
        self.cursor = 0;
    }

    /// The per-gene figures, if any.
    pub fn genes(&self) -> &[GeneRecon] {
        match &self.recon {
            Some(Ok(r)) => &r.genes,
            _ => &[],
        }
    }

    /// The selected gene's index in the summary.
    pub fn selected(&self) -> Option<usize> {
        self.visible.get(self.cursor).copied()
    }

    /// Sorts by the next column (numbers start worst-first: high MSE, low r and EV).
    pub fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
        self.descending = self.sort == GeneColumn::Mse;
        self.refresh();
    }

    /// Flips the sort order.
    pub fn reverse(&mut self) {
        self.descending = !self.descending;
        self.refresh();
    }

    /// Sets the gene search (case-insensitive substring) and refilters.
    pub fn set_query(&mut self, query: &str) {
        self.query = query.to_string();
        self.cursor = 0;
        self.refresh();
    }

    /// Moves the selection by `by` rows, clamped.
    pub fn move_cursor(&mut self, by: isize) {
        let last = self.visible.len().saturating_sub(1) as isize;
        self.cursor = (self.cursor as isize + by).clamp(0, last) as usize;
    }

    /// Recomputes the visible rows from the query and sort, keeping the selected gene if shown.
    pub fn refresh(&mut self) {
        let selected = self.selected();
        let genes = self.genes();
        let q = self.query.to_lowercase();
        let mut rows: Vec<usize> = (0..genes.len())
            .filter(|&i| q.is_empty() || genes[i].gene.to_lowercase().contains(&q))
            .collect();
        let key = |g: &GeneRecon| match self.sort {
            GeneColumn::Gene => 0.0,
            GeneColumn::Mse => g.mse,
            // Undefined r sorts below every value.
            GeneColumn::Pearson => g.pearson.unwrap_or(f64::NEG_INFINITY),
            GeneColumn::ExplainedVariance => g.explained_variance,
        };
        rows.sort_by(|&a, &b| {
            let (ga, gb) = (&genes[a], &genes[b]);
            let order = match self.sort {
                GeneColumn::Gene => ga.gene.cmp(&gb.gene),
                _ => key(ga).total_cmp(&key(gb)),
            };
            let order = if self.descending {
                order.reverse()
            } else {
                order
            };
            order.then(a.cmp(&b))
        });
        self.cursor = selected
            .and_then(|s| rows.iter().position(|&r| r == s))
            .unwrap_or(self.cursor)
            .min(rows.len().saturating_sub(1));
        self.visible = rows;
    }
}

/// Per-gene MSE in equal-width bins from 0 to the largest error.
fn histogram(genes: &[GeneRecon]) -> Vec<ErrorBin> {
    let finite = genes.iter().map(|g| g.mse).filter(|v| v.is_finite());
    let max = finite.clone().fold(0.0f64, f64::max);
    if genes.is_empty() {
        return Vec::new();
    }
    let width = if max > 0.0 {
        max / HISTOGRAM_BINS as f64
    } else {
        1.0
    };
    let mut bins: Vec<ErrorBin> = (0..HISTOGRAM_BINS)
        .map(|k| ErrorBin {
            lo: k as f64 * width,
            hi: (k + 1) as f64 * width,
            count: 0,
        })
        .collect();
    for v in finite {
        let k = ((v.max(0.0) / width) as usize).min(HISTOGRAM_BINS - 1);
        bins[k].count += 1;
    }
    bins
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::embeddings::state::tests::scripted_analysis;

    fn state() -> GenesState {
        let mut s = GenesState::default();
        s.set_recon(scripted_analysis(30).recon);
        s
    }

    fn names(s: &GenesState) -> Vec<&str> {
        s.visible
            .iter()
            .map(|&i| s.genes()[i].gene.as_str())
            .collect()
    }

    #[test]
    fn sorts_by_every_column_both_ways() {
        let mut s = state();
        assert_eq!(names(&s)[0], "GNLY", "worst MSE first");
        s.cycle_sort();
        assert_eq!(s.sort, GeneColumn::Pearson);
        assert_eq!(
            names(&s)[..2],
            ["MS4A1", "GNLY"],
            "undefined r, then the lowest"
        );
        s.reverse();
        assert_eq!(names(&s)[0], "CD3E");
        assert_eq!(*names(&s).last().unwrap(), "MS4A1");
        s.cycle_sort();
        assert_eq!(names(&s)[0], "GNLY", "lowest explained variance first");
        s.cycle_sort();
        assert_eq!(s.sort, GeneColumn::Gene);
        assert_eq!(names(&s), ["CD3E", "CD79A", "GNLY", "LYZ", "MS4A1", "NKG7"]);
    }

    #[test]
    fn search_filters_and_keeps_the_selected_gene() {
        let mut s = state();
        s.move_cursor(2);
        let picked = s.selected();
        s.cycle_sort();
        assert_eq!(s.selected(), picked, "selection follows the gene");
        s.set_query("cd");
        assert_eq!(s.visible.len(), 2);
        s.move_cursor(10);
        assert_eq!(s.cursor, 1);
        s.set_query("zzz");
        assert!(s.selected().is_none());
    }

    #[test]
    fn histogram_counts_every_gene_and_contrastive_runs_have_none() {
        let s = state();
        assert_eq!(s.histogram.len(), HISTOGRAM_BINS);
        assert_eq!(s.histogram.iter().map(|b| b.count).sum::<usize>(), 6);
        assert_eq!(s.histogram.last().unwrap().count, 1, "the largest error");
        let mut s = GenesState::default();
        s.set_recon(Err("reconstruction does not apply".into()));
        assert!(s.histogram.is_empty() && s.visible.is_empty());
    }
}
