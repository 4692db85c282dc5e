//! Files as today's anndata (0.12) writes them with nullable strings on
//! (tests/fixtures/nullable/make_nullable.py): `nullable-string-array` indices and columns,
//! nullable integers and booleans, categories stored as nullable strings, and an element of an
//! unknown encoding skipped with a note. Values are compared with what anndata reads back.

mod common;

use cellscope::data::h5ad::{H5adFile, MatrixChoice};
use cellscope::data::{ColumnValues, read_dataset};
use common::{cellscope, fixture, ok};
use serde_json::Value;

fn path() -> std::path::PathBuf {
    fixture("nullable/nullable.h5ad")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("nullable/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A value as text, the same for both sides: booleans as True/False, whole numbers without a
/// fraction, missing as None.
fn texts_of(values: &ColumnValues) -> Vec<Option<String>> {
    let whole = |v: f64| (!v.is_nan()).then(|| format!("{v}"));
    match values {
        ColumnValues::Categorical { codes, categories } => codes
            .iter()
            .map(|&c| usize::try_from(c).ok().map(|c| categories[c].clone()))
            .collect(),
        ColumnValues::Str(v) => v.iter().cloned().map(Some).collect(),
        ColumnValues::Int(v) => v.iter().map(|x| Some(x.to_string())).collect(),
        ColumnValues::Float(v) => v.iter().map(|&x| whole(x)).collect(),
        ColumnValues::Bool(v) => v.iter().map(|&b| Some(python_bool(b))).collect(),
    }
}

fn python_bool(b: bool) -> String {
    if b { "True" } else { "False" }.to_string()
}

fn expected_texts(values: &Value) -> Vec<Option<String>> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| match v {
            Value::Null => None,
            Value::Bool(b) => Some(python_bool(*b)),
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        })
        .collect()
}

fn names(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn nullable_string_indices_are_read_for_obs_var_and_raw() {
    let want = expected();
    let ds = read_dataset(&path(), "X").unwrap();
    assert_eq!(ds.obs_names, names(&want["obs_names"]));
    assert_eq!(ds.var_names, names(&want["var_names"]));
    let file = H5adFile::open(&path()).unwrap();
    assert_eq!(
        (file.n_obs(), file.n_vars()),
        (
            want["n_cells"].as_u64().unwrap() as usize,
            want["n_genes"].as_u64().unwrap() as usize
        )
    );
    assert_eq!(
        file.var_names(&MatrixChoice::Raw).unwrap(),
        names(&want["raw_var_names"])
    );
    assert_eq!(file.obsm_keys(), ["X_pca"]);
}

#[test]
fn every_nullable_column_reads_as_anndata_reads_it() {
    let want = expected();
    let ds = read_dataset(&path(), "X").unwrap();
    let columns = want["obs"].as_object().unwrap();
    assert_eq!(columns.len(), 8, "the fixture has eight readable columns");
    for (name, values) in columns {
        let col = ds
            .obs_column(name)
            .unwrap_or_else(|| panic!("no obs column {name}"));
        assert_eq!(texts_of(&col.values), expected_texts(values), "{name}");
    }
    // Missing values stay missing as labels: the categorical with nullable categories, the
    // nullable strings and booleans keep code -1 where anndata has NA.
    let missing = |n: &str| {
        let (codes, _) = ds.obs_column(n).unwrap().as_labels().unwrap();
        codes.iter().filter(|c| c.is_none()).count()
    };
    assert_eq!(missing("label_nullable_categories"), 1);
    assert_eq!(missing("note"), 4);
    assert_eq!(missing("qc_pass"), 2);
}

#[test]
fn info_shows_nullable_kinds_and_the_skipped_element() {
    let file = path();
    let file = file.to_str().unwrap();
    let json: Value = serde_json::from_str(&ok(&cellscope(&["info", file, "--json"]))).unwrap();
    let stored: std::collections::BTreeMap<String, Option<String>> = json["obs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            (name, c["stored_as"].as_str().map(str::to_string))
        })
        .collect();
    for (name, encoding) in expected()["stored_as"].as_object().unwrap() {
        assert_eq!(
            stored[name].as_deref(),
            encoding.as_str(),
            "{name}: stored_as"
        );
    }
    let skipped = json["obs_skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].as_str().unwrap().contains("ragged")
            && skipped[0].as_str().unwrap().contains("awkward-array"),
        "{skipped:?}"
    );

    let text = ok(&cellscope(&["info", file]));
    for line in [
        "note (categorical from nullable-string-array, 6 values, 4 missing)",
        "n_umi (float from nullable-integer",
        "batch (int from nullable-integer",
        "qc_pass (categorical from nullable-boolean, 2 values, 2 missing)",
        "(skipped ragged: column encoding `awkward-array` is not supported)",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
}
