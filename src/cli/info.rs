//! `cellscope info FILE [--json]`: a dataset's shape, encoding, value kind, obs columns with
//! label counts, gene id kind, layers, raw and obsm, as text or JSON.

use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::config::Config;
use crate::data::{DatasetSummary, summarize};

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Dataset (.h5ad, Cell Ranger .h5 or mtx folder); the bundled demo when omitted.
    pub file: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InfoArgs, _config: &Config) -> anyhow::Result<()> {
    let path = crate::cli::dataset_or_demo(args.file);
    let summary = summarize(&path)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", render(&summary));
    }
    Ok(())
}

/// Categories shown per column in the text view.
const SHOWN: usize = 12;

/// The human-readable report.
pub fn render(s: &DatasetSummary) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "{}", s.path);
    for (key, value) in s.overview() {
        let _ = writeln!(w, "  {key:<11} {value}");
    }
    for c in &s.obs {
        let distinct = c
            .n_categories
            .map(|n| format!(", {n} values"))
            .unwrap_or_default();
        let missing = if c.missing > 0 {
            format!(", {} missing", c.missing)
        } else {
            String::new()
        };
        // A nullable element's encoding says more than its kind (a nullable string with missing
        // values is read as a categorical, a nullable integer with missing values as floats).
        let stored = c
            .stored_as
            .as_deref()
            .filter(|e| e.starts_with("nullable"))
            .map(|e| format!(" from {e}"))
            .unwrap_or_default();
        let _ = write!(w, "    {} ({}{stored}{distinct}{missing})", c.name, c.kind);
        let show = c.kind == "categorical" || c.n_categories.is_some_and(|n| n <= SHOWN);
        if show && !c.counts.is_empty() {
            let shown: Vec<String> = c
                .counts
                .iter()
                .take(SHOWN)
                .map(|k| format!("{} {}", k.name, k.count))
                .collect();
            let more = c.n_categories.unwrap_or(0).saturating_sub(SHOWN);
            let tail = if more > 0 {
                format!(", ... {more} more")
            } else {
                String::new()
            };
            let _ = write!(w, ": {}{tail}", shown.join(", "));
        }
        let _ = writeln!(w);
    }
    for skipped in &s.obs_skipped {
        let _ = writeln!(w, "    (skipped {skipped})");
    }
    out
}
