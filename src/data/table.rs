//! Cell and gene annotations (obs/var columns) as read from any AnnData version.

/// One annotation column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: ColumnValues,
}

/// The values of a column, by kind. Missing categorical entries have code -1.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    Categorical {
        codes: Vec<i32>,
        categories: Vec<String>,
    },
    Str(Vec<String>),
    Float(Vec<f64>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
}

impl Column {
    /// Number of entries.
    pub fn len(&self) -> usize {
        match &self.values {
            ColumnValues::Categorical { codes, .. } => codes.len(),
            ColumnValues::Str(v) => v.len(),
            ColumnValues::Float(v) => v.len(),
            ColumnValues::Int(v) => v.len(),
            ColumnValues::Bool(v) => v.len(),
        }
    }

    /// True when the column has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column as class labels: (per-cell class index or None if missing, class names).
    /// Categorical, string, integer and bool columns qualify; floats do not.
    pub fn as_labels(&self) -> Option<(Vec<Option<usize>>, Vec<String>)> {
        fn index_strings<T: ToString>(values: &[T]) -> (Vec<Option<usize>>, Vec<String>) {
            let mut names: Vec<String> = values.iter().map(ToString::to_string).collect();
            names.sort();
            names.dedup();
            let codes = values
                .iter()
                .map(|v| names.binary_search(&v.to_string()).ok())
                .collect();
            (codes, names)
        }
        match &self.values {
            ColumnValues::Categorical { codes, categories } => Some((
                codes
                    .iter()
                    .map(|&c| (c >= 0 && (c as usize) < categories.len()).then_some(c as usize))
                    .collect(),
                categories.clone(),
            )),
            ColumnValues::Str(v) => Some(index_strings(v)),
            ColumnValues::Int(v) => Some(index_strings(v)),
            ColumnValues::Bool(v) => Some(index_strings(v)),
            ColumnValues::Float(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_categorical_mark_missing_codes() {
        let c = Column {
            name: "t".into(),
            values: ColumnValues::Categorical {
                codes: vec![1, -1, 0],
                categories: vec!["a".into(), "b".into()],
            },
        };
        let (codes, names) = c.as_labels().unwrap();
        assert_eq!(codes, vec![Some(1), None, Some(0)]);
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn labels_from_strings_are_sorted_classes() {
        let c = Column {
            name: "t".into(),
            values: ColumnValues::Str(vec!["y".into(), "x".into(), "y".into()]),
        };
        let (codes, names) = c.as_labels().unwrap();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(codes, vec![Some(1), Some(0), Some(1)]);
    }
}
