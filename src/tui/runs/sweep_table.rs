//! The sweep table opened from the Runs pane: its columns (those of `cellscope sweep`), the sort
//! (any column, either way, missing figures last) and the selected row.

use crate::analysis::transfer::report::Stat;
use crate::sweep::table::{Combination, SweepTable, VsPca};

/// A column of the sweep table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Method,
    Mask,
    Seeds,
    Knn,
    KnnVsPca,
    Logistic,
    LogisticVsPca,
    Ari,
    Ev,
}

impl Column {
    /// Every column, left to right (also the sort cycle).
    pub const ALL: [Column; 9] = [
        Column::Method,
        Column::Mask,
        Column::Seeds,
        Column::Knn,
        Column::KnnVsPca,
        Column::Logistic,
        Column::LogisticVsPca,
        Column::Ari,
        Column::Ev,
    ];

    /// The header, short enough for an 80-column table.
    pub fn header(self) -> &'static str {
        match self {
            Column::Method => "method",
            Column::Mask => "mask",
            Column::Seeds => "seeds",
            Column::Knn => "kNN F1",
            Column::KnnVsPca => "kNN vs PCA",
            Column::Logistic => "logit F1",
            Column::LogisticVsPca => "logit vs PCA",
            Column::Ari => "ARI",
            Column::Ev => "recon EV",
        }
    }

    /// The column in words ("sorted by ...").
    pub fn name(self) -> &'static str {
        match self {
            Column::Method => "method",
            Column::Mask => "mask rate",
            Column::Seeds => "seeds done",
            Column::Knn => "kNN macro-F1",
            Column::KnnVsPca => "kNN macro-F1 vs PCA",
            Column::Logistic => "logistic macro-F1",
            Column::LogisticVsPca => "logistic macro-F1 vs PCA",
            Column::Ari => "k-means ARI",
            Column::Ev => "reconstruction EV",
        }
    }

    /// Text columns sort A to Z first; figures highest first.
    fn descending_first(self) -> bool {
        self != Column::Method
    }
}

/// A row of the table: a combination (its index in the sweep table) or the PCA baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableRow {
    Combination(usize),
    Pca,
}

/// The combination of a row (None for PCA).
pub fn combination(table: &SweepTable, row: TableRow) -> Option<&Combination> {
    match row {
        TableRow::Combination(i) => table.rows.get(i),
        TableRow::Pca => None,
    }
}

/// The mean and sd a figure column shows for a row (None: not a figure column, or no value).
pub fn stat(table: &SweepTable, row: TableRow, column: Column) -> Option<Stat> {
    let ssl = |v: &Option<VsPca>| v.as_ref().map(|v| v.ssl);
    let diff = |v: &Option<VsPca>| v.as_ref().map(|v| v.diff);
    match (combination(table, row), column) {
        (Some(c), Column::Knn) => ssl(&c.knn_macro_f1),
        (Some(c), Column::KnnVsPca) => diff(&c.knn_macro_f1),
        (Some(c), Column::Logistic) => ssl(&c.logistic_macro_f1),
        (Some(c), Column::LogisticVsPca) => diff(&c.logistic_macro_f1),
        (Some(c), Column::Ari) => c.kmeans_ari,
        (Some(c), Column::Ev) => c.ev,
        (None, Column::Knn) => table.pca_knn_macro_f1,
        (None, Column::Logistic) => table.pca_logistic_macro_f1,
        (None, Column::Ari) => table.pca_kmeans_ari,
        _ => None,
    }
    .filter(|s| s.mean.is_finite())
}

/// What a row sorts by in a column.
#[derive(Debug, PartialEq, PartialOrd)]
enum SortKey {
    Text(String),
    Number(f64),
}

fn sort_key(table: &SweepTable, row: TableRow, column: Column) -> Option<SortKey> {
    let c = combination(table, row);
    match column {
        Column::Method => Some(SortKey::Text(
            c.map_or_else(|| "PCA".into(), |c| c.method.clone()),
        )),
        Column::Mask => c?.mask_rate.map(SortKey::Number),
        Column::Seeds => c.map(|c| SortKey::Number(c.seeds_done as f64)),
        _ => stat(table, row, column).map(|s| SortKey::Number(s.mean)),
    }
}

/// The rows in the order shown: the sweep's own order (PCA last) unsorted, else by `column`,
/// rows without a value last whichever the direction, ties in the sweep's order.
pub fn order(table: &SweepTable, sort: Option<Column>, descending: bool) -> Vec<TableRow> {
    let mut rows: Vec<TableRow> = (0..table.rows.len())
        .map(TableRow::Combination)
        .chain([TableRow::Pca])
        .collect();
    if let Some(column) = sort {
        rows.sort_by(
            |&a, &b| match (sort_key(table, a, column), sort_key(table, b, column)) {
                (Some(x), Some(y)) => {
                    let o = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
                    if descending { o.reverse() } else { o }
                }
                (x, y) => x.is_none().cmp(&y.is_none()),
            },
        );
    }
    rows
}

/// The open sweep table: which sweep, its sort and the selected row (a position in the order).
#[derive(Debug, Clone, PartialEq)]
pub struct SweepView {
    /// The sweep directory's name (so the view survives a rescan).
    pub sweep: String,
    /// None: the sweep's own order.
    pub sort: Option<Column>,
    pub descending: bool,
    pub cursor: usize,
}

impl SweepView {
    /// The table of the sweep called `sweep`, in its own order, first row selected.
    pub fn new(sweep: &str) -> Self {
        Self {
            sweep: sweep.into(),
            sort: None,
            descending: false,
            cursor: 0,
        }
    }

    /// Sorts by the next column (after the last: the sweep's own order), in its natural
    /// direction.
    pub fn cycle_sort(&mut self) {
        self.sort = match self.sort {
            None => Some(Column::ALL[0]),
            Some(c) => {
                let i = Column::ALL.iter().position(|&x| x == c).unwrap_or(0);
                Column::ALL.get(i + 1).copied()
            }
        };
        self.descending = self.sort.is_some_and(Column::descending_first);
    }

    /// Flips the sort order.
    pub fn reverse(&mut self) {
        if self.sort.is_some() {
            self.descending = !self.descending;
        }
    }

    /// "kNN macro-F1, highest first", or the sweep's own order.
    pub fn sort_text(&self) -> String {
        match self.sort {
            None => "in the sweep's order (s sorts)".into(),
            Some(c) => {
                let way = match (c.descending_first(), self.descending) {
                    (true, true) => "highest first",
                    (true, false) => "lowest first",
                    (false, false) => "A to Z",
                    (false, true) => "Z to A",
                };
                format!("sorted by {}, {way}", c.name())
            }
        }
    }

    /// The rows in the order shown.
    pub fn rows(&self, table: &SweepTable) -> Vec<TableRow> {
        order(table, self.sort, self.descending)
    }

    /// Moves the selection by `by` rows within `n` rows.
    pub fn move_cursor(&mut self, by: isize, n: usize) {
        let last = n.saturating_sub(1) as isize;
        self.cursor = (self.cursor as isize + by).clamp(0, last) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::runs::sweeps::tests::scripted_sweep;

    fn table() -> SweepTable {
        scripted_sweep().contents.unwrap().table
    }

    fn names(t: &SweepTable, rows: &[TableRow]) -> Vec<String> {
        rows.iter()
            .map(|&r| {
                combination(t, r).map_or("PCA".into(), crate::tui::runs::sweeps::combination_label)
            })
            .collect()
    }

    #[test]
    fn rows_sort_by_any_column_either_way_with_missing_values_last() {
        let t = table();
        let sorted = |c, d| names(&t, &order(&t, c, d));
        assert_eq!(
            sorted(None, false),
            ["masked r0.25", "masked r0.50", "byol", "barlow", "PCA"]
        );
        assert_eq!(
            sorted(Some(Column::Knn), true),
            ["masked r0.50", "masked r0.25", "barlow", "PCA", "byol"]
        );
        assert_eq!(
            sorted(Some(Column::Knn), false),
            ["byol", "PCA", "barlow", "masked r0.25", "masked r0.50"]
        );
        // PCA has no difference to itself and byol/barlow no mask rate: last both ways.
        assert_eq!(
            sorted(Some(Column::LogisticVsPca), true),
            ["barlow", "masked r0.25", "masked r0.50", "byol", "PCA"]
        );
        assert_eq!(
            sorted(Some(Column::Mask), false),
            ["masked r0.25", "masked r0.50", "byol", "barlow", "PCA"]
        );
        assert_eq!(
            sorted(Some(Column::Mask), true),
            ["masked r0.50", "masked r0.25", "byol", "barlow", "PCA"]
        );
        // Text sorts A to Z; ties keep the sweep's order.
        assert_eq!(
            sorted(Some(Column::Method), false),
            ["PCA", "barlow", "byol", "masked r0.25", "masked r0.50"]
        );
        assert_eq!(
            sorted(Some(Column::Seeds), true)[3..],
            ["barlow".to_string(), "PCA".into()]
        );
    }

    #[test]
    fn the_sort_key_cycles_every_column_then_the_sweeps_order() {
        let mut v = SweepView::new("s");
        let mut seen = Vec::new();
        for _ in 0..Column::ALL.len() {
            v.cycle_sort();
            seen.push(v.sort.unwrap());
        }
        assert_eq!(seen, Column::ALL);
        assert!(v.descending && v.sort_text().contains("highest first"));
        v.reverse();
        assert_eq!(v.sort_text(), "sorted by reconstruction EV, lowest first");
        v.cycle_sort();
        assert_eq!(v.sort, None);
        v.reverse();
        assert!(!v.descending);
        v.cycle_sort();
        assert_eq!(v.sort_text(), "sorted by method, A to Z");
        v.move_cursor(9, 5);
        assert_eq!(v.cursor, 4);
        v.move_cursor(-9, 5);
        assert_eq!(v.cursor, 0);
    }
}
