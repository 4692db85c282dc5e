//! What the Data pane shows: a dataset summary, obs columns as category counts and per-gene
//! statistics, built on a background task from the data layer; plus the pane's cursor state.

use crate::data::{Column, ColumnValues, Dataset};

/// One gene row of the searchable gene table.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneRow {
    pub name: String,
    pub mean: f64,
    pub detection_rate: f64,
    pub variance: f64,
}

/// One obs column: its kind and, for label-like columns, category counts (largest first).
#[derive(Debug, Clone, PartialEq)]
pub struct ObsColumnView {
    pub name: String,
    pub kind: &'static str,
    pub counts: Vec<(String, u64)>,
    pub n_missing: u64,
}

impl ObsColumnView {
    /// Counts the categories of a column (categorical, string, integer or bool); floats get none.
    pub fn from_column(column: &Column) -> Self {
        let kind = match &column.values {
            ColumnValues::Categorical { .. } => "categorical",
            ColumnValues::Str(_) => "string",
            ColumnValues::Float(_) => "float",
            ColumnValues::Int(_) => "integer",
            ColumnValues::Bool(_) => "bool",
        };
        let (counts, n_missing) = match column.as_labels() {
            Some((codes, names)) => {
                let mut tally = vec![0u64; names.len()];
                let mut missing = 0;
                for code in codes {
                    match code {
                        Some(c) => tally[c] += 1,
                        None => missing += 1,
                    }
                }
                let mut counts: Vec<(String, u64)> = names.into_iter().zip(tally).collect();
                counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                (counts, missing)
            }
            None => (Vec::new(), 0),
        };
        Self {
            name: column.name.clone(),
            kind,
            counts,
            n_missing,
        }
    }
}

/// A loaded dataset as the UI shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataView {
    /// The file name (not the full path, so screens do not depend on where it lives).
    pub name: String,
    /// `info`-style summary lines (key, value).
    pub summary: Vec<(String, String)>,
    /// The matrices one can train on: "X", "raw", "layer:<name>".
    pub matrices: Vec<String>,
    pub obs: Vec<ObsColumnView>,
    pub genes: Vec<GeneRow>,
}

impl DataView {
    /// Builds the view of a dataset from its summary lines and per-gene (mean, detection, variance).
    pub fn new(
        dataset: &Dataset,
        summary: Vec<(String, String)>,
        matrices: Vec<String>,
        gene_stats: impl IntoIterator<Item = (f64, f64, f64)>,
    ) -> Self {
        let name = dataset.path.file_name().map_or_else(
            || dataset.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let genes = dataset
            .var_names
            .iter()
            .zip(gene_stats)
            .map(|(name, (mean, detection_rate, variance))| GeneRow {
                name: name.clone(),
                mean,
                detection_rate,
                variance,
            })
            .collect();
        Self {
            name,
            summary,
            matrices,
            obs: dataset.obs.iter().map(ObsColumnView::from_column).collect(),
            genes,
        }
    }
}

/// Progress of the background load.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadState {
    /// Nothing asked yet.
    Idle,
    /// Reading: what file and which stage ("reading X", "gene statistics").
    Loading {
        name: String,
        stage: String,
    },
    Ready(DataView),
    Failed(String),
}

/// How the gene table is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneSort {
    Mean,
    Detection,
    Variance,
    Name,
}

impl GeneSort {
    /// The next ordering in the cycle.
    pub fn next(self) -> Self {
        match self {
            GeneSort::Mean => GeneSort::Detection,
            GeneSort::Detection => GeneSort::Variance,
            GeneSort::Variance => GeneSort::Name,
            GeneSort::Name => GeneSort::Mean,
        }
    }

    /// The column heading it sorts by.
    pub fn label(self) -> &'static str {
        match self {
            GeneSort::Mean => "mean",
            GeneSort::Detection => "detected",
            GeneSort::Variance => "variance",
            GeneSort::Name => "name",
        }
    }
}

/// The Data pane: load progress, chosen matrix and label column, and the gene table cursor.
#[derive(Debug, Clone)]
pub struct DataState {
    pub load: LoadState,
    /// The matrix asked for ("X", "raw", "layer:<name>").
    pub matrix: String,
    /// The obs column later panes colour by.
    pub label: Option<String>,
    /// Which obs column the bar chart shows.
    pub obs_cursor: usize,
    pub sort: GeneSort,
    pub query: String,
    /// Indices into `genes` that match the query, in display order.
    pub visible: Vec<usize>,
    pub gene_cursor: usize,
    /// First visible row of the gene table (kept by the drawing code so the cursor stays visible).
    pub gene_offset: usize,
    /// Frames of the loading spinner so far.
    pub spinner: usize,
}

impl DataState {
    /// Nothing loaded, with the configured matrix and label column.
    pub fn new(matrix: &str, label: &str) -> Self {
        Self {
            load: LoadState::Idle,
            matrix: matrix.to_string(),
            label: (!label.is_empty()).then(|| label.to_string()),
            obs_cursor: 0,
            sort: GeneSort::Mean,
            query: String::new(),
            visible: Vec::new(),
            gene_cursor: 0,
            gene_offset: 0,
            spinner: 0,
        }
    }

    /// The loaded view, if any.
    pub fn view(&self) -> Option<&DataView> {
        match &self.load {
            LoadState::Ready(v) => Some(v),
            _ => None,
        }
    }

    /// Installs a freshly loaded view; picks a default label column when none was configured.
    pub fn set_loaded(&mut self, view: DataView) {
        if self.label.is_none() {
            self.label = ["cell_type", "celltype", "labels", "label"]
                .iter()
                .find(|n| view.obs.iter().any(|c| c.name == **n))
                .map(|n| n.to_string());
        }
        self.obs_cursor = self
            .label
            .as_ref()
            .and_then(|l| view.obs.iter().position(|c| &c.name == l))
            .unwrap_or(0);
        self.load = LoadState::Ready(view);
        self.refresh_genes();
    }

    /// Recomputes the visible gene order after a change of query or sort; keeps the cursor in range.
    pub fn refresh_genes(&mut self) {
        let Some(view) = self.view() else {
            self.visible.clear();
            return;
        };
        let query = self.query.to_lowercase();
        let mut visible: Vec<usize> = (0..view.genes.len())
            .filter(|&i| query.is_empty() || view.genes[i].name.to_lowercase().contains(&query))
            .collect();
        let genes = &view.genes;
        let desc = |a: f64, b: f64| b.total_cmp(&a);
        match self.sort {
            GeneSort::Mean => visible.sort_by(|&a, &b| desc(genes[a].mean, genes[b].mean)),
            GeneSort::Detection => {
                visible.sort_by(|&a, &b| desc(genes[a].detection_rate, genes[b].detection_rate))
            }
            GeneSort::Variance => {
                visible.sort_by(|&a, &b| desc(genes[a].variance, genes[b].variance))
            }
            GeneSort::Name => visible.sort_by(|&a, &b| genes[a].name.cmp(&genes[b].name)),
        }
        self.visible = visible;
        self.gene_cursor = self.gene_cursor.min(self.visible.len().saturating_sub(1));
    }

    /// Scrolls the gene table so the cursor stays among its `height` visible rows.
    pub fn scroll_genes(&mut self, height: usize) {
        let height = height.max(1);
        if self.gene_cursor < self.gene_offset {
            self.gene_offset = self.gene_cursor;
        } else if self.gene_cursor >= self.gene_offset + height {
            self.gene_offset = self.gene_cursor + 1 - height;
        }
    }

    /// Moves the gene cursor by `delta` rows, clamped.
    pub fn move_gene(&mut self, delta: isize) {
        let last = self.visible.len().saturating_sub(1) as isize;
        self.gene_cursor = (self.gene_cursor as isize + delta).clamp(0, last.max(0)) as usize;
    }

    /// The obs column shown in the bar chart.
    pub fn shown_column(&self) -> Option<&ObsColumnView> {
        self.view().and_then(|v| v.obs.get(self.obs_cursor))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::CsrMatrix;
    use std::path::PathBuf;

    /// A small deterministic dataset view for pane tests.
    pub fn demo_view() -> DataView {
        let n_cells = 120;
        let types = ["T cell", "B cell", "NK cell", "monocyte"];
        let codes = (0..n_cells)
            .map(|i| [0, 0, 0, 1, 1, 2, 3, 0][i % 8])
            .collect();
        let donors = (0..n_cells).map(|i| format!("donor{}", i % 3)).collect();
        let genes = [
            "CD3E", "MS4A1", "NKG7", "LYZ", "GNLY", "CD8A", "IL7R", "CD14",
        ];
        let dataset = Dataset {
            path: PathBuf::from("/somewhere/demo_immune.h5ad"),
            x: CsrMatrix::from_dense(n_cells, genes.len(), &vec![0.0; n_cells * genes.len()]),
            obs_names: (0..n_cells).map(|i| format!("cell{i}")).collect(),
            var_names: genes.iter().map(|g| g.to_string()).collect(),
            obs: vec![
                Column {
                    name: "cell_type".into(),
                    values: ColumnValues::Categorical {
                        codes,
                        categories: types.iter().map(|t| t.to_string()).collect(),
                    },
                },
                Column {
                    name: "donor".into(),
                    values: ColumnValues::Str(donors),
                },
                Column {
                    name: "n_counts".into(),
                    values: ColumnValues::Float(vec![1.0; n_cells]),
                },
            ],
        };
        let summary = [
            ("format", "h5ad, anndata >= 0.8 (encoded elements)"),
            ("shape", "8 cells x 8 genes"),
            (
                "X",
                "csr float32, 40 stored values, 37.5% zeros, raw counts",
            ),
            ("layers", "counts"),
            ("raw", "yes"),
            ("obsm", "X_pca, X_umap"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        let matrices = ["X", "raw", "layer:counts"].map(String::from).to_vec();
        let stats = (0..genes.len()).map(|i| {
            let m = (i as f64 * 0.7 + 0.2) % 3.0;
            (m, (0.1 * i as f64 + 0.05) % 1.0, m * 1.5)
        });
        DataView::new(&dataset, summary, matrices, stats)
    }

    #[test]
    fn category_counts_are_sorted_largest_first_with_missing_counted() {
        let col = Column {
            name: "t".into(),
            values: ColumnValues::Categorical {
                codes: vec![0, 1, 1, -1, 1, 0, 2],
                categories: vec!["a".into(), "b".into(), "c".into()],
            },
        };
        let v = ObsColumnView::from_column(&col);
        assert_eq!(
            v.counts,
            [("b".into(), 3), ("a".into(), 2), ("c".into(), 1)]
        );
        assert_eq!(v.n_missing, 1);
    }

    #[test]
    fn search_filters_case_insensitively_and_sort_orders() {
        let mut d = DataState::new("X", "");
        d.set_loaded(demo_view());
        assert_eq!(d.label.as_deref(), Some("cell_type"));
        d.sort = GeneSort::Name;
        d.query = "cd".into();
        d.refresh_genes();
        let names: Vec<&str> = d
            .visible
            .iter()
            .map(|&i| d.view().unwrap().genes[i].name.as_str())
            .collect();
        assert_eq!(names, ["CD14", "CD3E", "CD8A"]);
        d.move_gene(10);
        assert_eq!(d.gene_cursor, 2);
        d.query = "zzz".into();
        d.refresh_genes();
        assert_eq!(d.gene_cursor, 0);
        assert!(d.visible.is_empty());
    }
}
