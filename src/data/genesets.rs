//! Gene programmes from GMT files (name, description, genes...), matched to a dataset's genes by
//! symbol, case-insensitively, with a count of how many programmes matched.

use std::collections::HashMap;
use std::path::Path;

use crate::data::DataError;

/// The bundled default programmes: Spectra's 181 immune gene sets (MIT licence).
const DEFAULT_GMT: &str = include_str!("../../assets/spectra_default_gene_sets.gmt");

/// One gene programme as written in a GMT file.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneSet {
    pub name: String,
    pub description: String,
    pub genes: Vec<String>,
}

/// Programmes matched to a gene list: per kept programme its name and gene indices.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedSets {
    pub names: Vec<String>,
    pub genes: Vec<Vec<u32>>,
    /// Programmes in the file (matched or not).
    pub n_total: usize,
}

impl MatchedSets {
    /// Number of programmes with at least `min_genes` genes in the dataset.
    pub fn n_matched(&self) -> usize {
        self.names.len()
    }

    /// One line for the log: how many programmes matched.
    pub fn summary(&self) -> String {
        format!(
            "{} of {} gene programmes matched the dataset's genes",
            self.n_matched(),
            self.n_total
        )
    }
}

/// Parses GMT text; `source` names the file in errors. Blank lines are skipped.
pub fn parse_gmt(text: &str, source: &Path) -> Result<Vec<GeneSet>, DataError> {
    let mut sets = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let name = fields.next().unwrap_or_default().trim();
        let Some(description) = fields.next() else {
            return Err(DataError::Invalid {
                path: source.to_path_buf(),
                what: format!(
                    "line {}: expected tab-separated name, description, genes",
                    line_no + 1
                ),
            });
        };
        let genes: Vec<String> = fields
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(String::from)
            .collect();
        sets.push(GeneSet {
            name: name.to_string(),
            description: description.to_string(),
            genes,
        });
    }
    if sets.is_empty() {
        return Err(DataError::Invalid {
            path: source.to_path_buf(),
            what: "no gene sets in GMT file".into(),
        });
    }
    Ok(sets)
}

/// Reads and parses a GMT file.
pub fn read_gmt(path: &Path) -> Result<Vec<GeneSet>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.to_path_buf(),
        },
        _ => DataError::Invalid {
            path: path.to_path_buf(),
            what: format!("cannot read GMT file: {e}"),
        },
    })?;
    parse_gmt(&text, path)
}

/// The bundled default programmes (Spectra immune gene sets).
pub fn default_gene_sets() -> Vec<GeneSet> {
    parse_gmt(DEFAULT_GMT, Path::new("spectra_default_gene_sets.gmt"))
        .expect("the bundled GMT file parses")
}

/// Matches programmes to `genes` by symbol, ignoring case; keeps those with at least
/// `min_genes` genes present (indices deduplicated, in dataset order).
pub fn match_gene_sets(sets: &[GeneSet], genes: &[String], min_genes: usize) -> MatchedSets {
    let index: HashMap<String, u32> = genes
        .iter()
        .enumerate()
        .map(|(i, g)| (g.to_uppercase(), i as u32))
        .collect();
    let mut out = MatchedSets {
        names: Vec::new(),
        genes: Vec::new(),
        n_total: sets.len(),
    };
    for set in sets {
        let mut idx: Vec<u32> = set
            .genes
            .iter()
            .filter_map(|g| index.get(&g.to_uppercase()).copied())
            .collect();
        idx.sort_unstable();
        idx.dedup();
        if idx.len() >= min_genes.max(1) {
            out.names.push(set.name.clone());
            out.genes.push(idx);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gmt_and_matches_symbols_ignoring_case() {
        let text =
            "SET_A\tdesc\tCD3E\tcd8a\tNOPE\n\nSET_B\thttp://x\tFOO\nSET_C\t\tms4a1\tCD3E\r\n";
        let sets = parse_gmt(text, Path::new("t.gmt")).unwrap();
        assert_eq!(sets.len(), 3);
        assert_eq!(sets[0].genes, ["CD3E", "cd8a", "NOPE"]);
        let genes: Vec<String> = ["Cd3e", "CD8A", "MS4A1"].map(String::from).to_vec();
        let m = match_gene_sets(&sets, &genes, 1);
        assert_eq!(m.names, ["SET_A", "SET_C"]);
        assert_eq!(m.genes, [vec![0, 1], vec![0, 2]]);
        assert_eq!(
            m.summary(),
            "2 of 3 gene programmes matched the dataset's genes"
        );
    }

    #[test]
    fn bad_line_names_the_file_and_line_and_default_sets_load() {
        let err = parse_gmt("ONLY_NAME\n", Path::new("bad.gmt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.gmt") && err.contains("line 1"), "{err}");
        assert_eq!(default_gene_sets().len(), 181);
    }
}
