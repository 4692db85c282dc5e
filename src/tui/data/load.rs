//! Reading a dataset into the Data pane's view (off the UI thread).

use std::path::Path;

use super::state::DataView;

/// Reads a dataset's summary, the chosen matrix and per-gene statistics into the UI's view.
pub fn load_view(path: &Path, matrix: &str, stage: &dyn Fn(&str)) -> Result<DataView, String> {
    stage("summary");
    let summary = crate::data::summarize(path).map_err(|e| e.to_string())?;
    stage(&format!("reading {matrix}"));
    let dataset = crate::data::read_dataset(path, matrix).map_err(|e| e.to_string())?;
    stage("gene statistics");
    let stats = crate::data::preprocess::gene_stats(&dataset.x);
    Ok(DataView::new(
        &dataset,
        summary
            .overview()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        summary.matrix_choices(),
        stats.iter().map(|g| (g.mean, g.detection_rate, g.variance)),
    ))
}
