//! Target labels for transfer: an obs column read as classes, optionally renamed through a
//! two-column label map (from,to) so coarse and fine annotations from different studies compare.

use std::collections::HashMap;
use std::path::Path;

use crate::data::Column;

/// Per-cell class indices (None = missing or unmapped) with the class names.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    pub codes: Vec<Option<usize>>,
    pub names: Vec<String>,
    /// Cells whose label the map did not name (dropped).
    pub unmapped: usize,
}

/// Parses a label map: one `from,to` pair a line; blank lines, `#` comments and a `from,to`
/// header are skipped. Errors name the line.
pub fn parse_label_map(text: &str) -> anyhow::Result<HashMap<String, String>> {
    let mut map = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        anyhow::ensure!(
            fields.len() == 2 && !fields[0].is_empty() && !fields[1].is_empty(),
            "line {}: expected two fields `from,to`, got {line:?}",
            i + 1
        );
        if i == 0 && fields[0].eq_ignore_ascii_case("from") && fields[1].eq_ignore_ascii_case("to")
        {
            continue;
        }
        if let Some(old) = map.insert(fields[0].to_string(), fields[1].to_string()) {
            anyhow::ensure!(
                old == fields[1],
                "line {}: {:?} is mapped twice ({old:?} and {:?})",
                i + 1,
                fields[0],
                fields[1]
            );
        }
    }
    anyhow::ensure!(!map.is_empty(), "the label map has no entries");
    Ok(map)
}

/// Reads and parses a label map file.
pub fn read_label_map(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    parse_label_map(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The column's labels, renamed through `map` when given (labels it lacks are dropped and
/// counted); class names are sorted and only classes with cells are kept.
pub fn target_labels(
    column: &Column,
    map: Option<&HashMap<String, String>>,
) -> anyhow::Result<Labels> {
    let (codes, names) = column
        .as_labels()
        .ok_or_else(|| anyhow::anyhow!("obs column {:?} holds numbers, not labels", column.name))?;
    let mut unmapped = 0;
    let raw: Vec<Option<&str>> = codes
        .iter()
        .map(|c| {
            let name = names[(*c)?].as_str();
            match map {
                None => Some(name),
                Some(m) => {
                    let to = m.get(name).map(String::as_str);
                    unmapped += usize::from(to.is_none());
                    to
                }
            }
        })
        .collect();
    let mut classes: Vec<String> = raw.iter().flatten().map(|s| s.to_string()).collect();
    classes.sort();
    classes.dedup();
    let codes = raw
        .iter()
        .map(|l| l.and_then(|s| classes.binary_search_by(|c| c.as_str().cmp(s)).ok()))
        .collect();
    Ok(Labels {
        codes,
        names: classes,
        unmapped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ColumnValues;

    #[test]
    fn parses_pairs_skipping_header_comments_and_blanks() {
        let m = parse_label_map("from,to\n# coarse\nCD4_T, T_CD4\n\n\"B_naive\",B\n").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["CD4_T"], "T_CD4");
        assert_eq!(m["B_naive"], "B");
    }

    #[test]
    fn rejects_malformed_and_conflicting_lines() {
        let e = parse_label_map("a,b\nc\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(parse_label_map("a,b\na,c\n").is_err());
        assert!(parse_label_map("a,b,c\n").is_err());
        assert!(parse_label_map("# nothing\n").is_err());
        assert!(parse_label_map("a,b\na,b\n").is_ok());
    }

    #[test]
    fn maps_labels_and_counts_the_unmapped() {
        let col = Column {
            name: "cell_type".into(),
            values: ColumnValues::Categorical {
                codes: vec![0, 1, 2, -1, 0],
                categories: vec!["CD4_T".into(), "mast".into(), "CD8_T".into()],
            },
        };
        let map = parse_label_map("CD4_T,T_CD4\nCD8_T,T_CD8\n").unwrap();
        let l = target_labels(&col, Some(&map)).unwrap();
        assert_eq!(l.names, vec!["T_CD4", "T_CD8"]);
        assert_eq!(l.codes, vec![Some(0), None, Some(1), None, Some(0)]);
        assert_eq!(l.unmapped, 1);
        let plain = target_labels(&col, None).unwrap();
        assert_eq!(plain.names.len(), 3);
        assert_eq!(plain.unmapped, 0);
    }
}
