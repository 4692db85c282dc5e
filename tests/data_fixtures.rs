//! The .h5ad reader on committed fixtures (tests/fixtures/make_fixtures.py): every encoding,
//! layers/raw, obs column kinds, row-range reads, and a clear exit-2 line for every error.

use std::path::{Path, PathBuf};
use std::process::Command;

use cellscope::data::h5ad::{H5adFile, MatrixChoice};
use cellscope::data::{ColumnValues, CsrMatrix, read_dataset};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/h5ad")
        .join(name)
}

fn info(path: &Path, json: bool) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cellscope"));
    cmd.arg("info").arg(path);
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run cellscope")
}

fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn dense(m: &CsrMatrix) -> Vec<f32> {
    let mut out = vec![0.0; m.n_rows * m.n_cols];
    m.densify_rows(&(0..m.n_rows).collect::<Vec<_>>(), &mut out);
    out
}

#[test]
fn info_reports_shape_encoding_dtype_and_labels_of_every_encoding() {
    for (name, want) in expected() {
        let out = info(&fixture(&name), true);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got["n_cells"], want["n_cells"], "{name}");
        assert_eq!(got["n_genes"], want["n_genes"], "{name}");
        assert_eq!(got["x"]["encoding"], want["encoding"], "{name}");
        assert_eq!(got["x"]["dtype"], want["dtype"], "{name}");
        assert_eq!(got["x"]["value_kind"], "raw_counts", "{name}");
        for (col, counts) in want["labels"].as_object().unwrap() {
            let summary = got["obs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == *col)
                .unwrap_or_else(|| panic!("{name}: no obs column {col}"));
            for (label, n) in counts.as_object().unwrap() {
                let listed = summary["counts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["name"] == *label)
                    .unwrap_or_else(|| panic!("{name}/{col}: no label {label}"));
                assert_eq!(listed["count"], *n, "{name}/{col}/{label}");
            }
        }
    }
}

#[test]
fn every_encoding_reads_the_same_matrix() {
    let reference = read_dataset(&fixture("dense_f32.h5ad"), "X").unwrap();
    for name in expected().keys() {
        let ds = read_dataset(&fixture(name), "X").unwrap();
        assert_eq!(dense(&ds.x), dense(&reference.x), "{name}");
        assert_eq!(ds.var_names, reference.var_names, "{name}");
        assert_eq!(ds.obs_names, reference.obs_names, "{name}");
    }
}

#[test]
fn layers_and_raw_are_selectable() {
    let path = fixture("csr_i32_gzip.h5ad");
    let x = read_dataset(&path, "X").unwrap();
    for layer in ["layer:counts", "layer:dense_counts"] {
        assert_eq!(
            dense(&read_dataset(&path, layer).unwrap().x),
            dense(&x.x),
            "{layer}"
        );
    }
    let raw = read_dataset(&path, "raw").unwrap();
    assert_eq!((raw.n_cells(), raw.n_genes()), (12, 11));
    assert_eq!(raw.var_names[0], "RawGene0");
    let file = H5adFile::open(&path).unwrap();
    assert_eq!(file.layers(), ["counts", "dense_counts"]);
    assert!(file.has_raw());
    assert_eq!(file.obsm_keys(), ["X_pca"]);
    let err = read_dataset(&path, "layer:nope").unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("counts"), "{err}");
    let err = read_dataset(&path, "bogus").unwrap_err().to_string();
    assert!(err.contains("layer:NAME"), "{err}");
}

#[test]
fn obs_columns_of_every_kind_are_read() {
    let ds = read_dataset(&fixture("csr_i32_gzip.h5ad"), "X").unwrap();
    let col = |n: &str| &ds.obs_column(n).unwrap_or_else(|| panic!("no {n}")).values;
    match col("cell_type") {
        ColumnValues::Categorical { codes, categories } => {
            assert_eq!(codes[0], -1, "missing category is -1");
            assert_eq!(categories, &["T", "B", "NK", "unused"]);
        }
        other => panic!("cell_type: {other:?}"),
    }
    assert!(matches!(col("note"), ColumnValues::Str(v) if v[3] == "note3"));
    assert!(matches!(col("batch"), ColumnValues::Int(v) if v[4] == 1));
    assert!(matches!(col("n_counts"), ColumnValues::Float(_)));
    assert!(matches!(col("is_doublet"), ColumnValues::Bool(v) if v[0] && !v[1]));
    match col("n_umi_nullable") {
        ColumnValues::Float(v) => assert!(v[0].is_nan() && v[1] == 1.0),
        other => panic!("nullable int: {other:?}"),
    }
    match col("qc_pass") {
        ColumnValues::Categorical { codes, categories } => {
            assert_eq!(categories, &["False", "True"]);
            assert_eq!(&codes[..3], &[-1, 0, 1]);
        }
        other => panic!("nullable bool: {other:?}"),
    }
}

#[test]
fn row_range_reads_equal_slices_of_the_full_read() {
    for name in [
        "dense_f32.h5ad",
        "dense_int.h5ad",
        "csr_i64.h5ad",
        "csr_lzf.h5ad",
        "csc.h5ad",
    ] {
        let file = H5adFile::open(&fixture(name)).unwrap();
        let full = file.read_matrix(&MatrixChoice::X).unwrap();
        assert_eq!((file.n_obs(), file.n_vars()), (12, 9));
        for (a, b) in [(0, 12), (0, 1), (3, 7), (11, 12), (5, 5)] {
            let part = file.read_x_rows(a..b).unwrap();
            assert_eq!(
                part,
                full.select_rows(&(a..b).collect::<Vec<_>>()),
                "{name} {a}..{b}"
            );
        }
        assert!(file.read_x_rows(10..13).is_err(), "{name}: out of range");
    }
}

#[test]
fn every_error_is_one_clear_line_and_exit_code_2() {
    let cases = [
        ("missing.h5ad", "no such file"),
        ("not_hdf5.h5ad", "not an HDF5 file"),
        ("truncated.h5ad", "truncated"),
        ("no_x.h5ad", "no X matrix"),
        ("unsupported.h5ad", "unsupported encoding"),
        ("nan.h5ad", "NaN"),
        ("negative.h5ad", "negative"),
        ("empty.h5ad", "empty matrix"),
    ];
    for (name, problem) in cases {
        let out = info(&fixture(name), false);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains(problem),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn read_dataset_rejects_the_same_bad_inputs() {
    for (name, problem) in [
        ("nan.h5ad", "NaN"),
        ("negative.h5ad", "negative"),
        ("empty.h5ad", "empty"),
    ] {
        let err = read_dataset(&fixture(name), "X").unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(problem), "{err}");
    }
}

#[test]
fn text_info_names_the_essentials() {
    let out = info(&fixture("csr_i32_gzip.h5ad"), false);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "12 cells x 9 genes",
        "csr float32",
        "raw counts",
        "cell_type (categorical",
        "layers      counts, dense_counts",
        "raw         yes",
        "X_pca",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
}

#[test]
fn malformed_corpus_gives_one_clear_line_and_exit_code_2() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: {} is absent", dir.display());
        return;
    };
    let mut seen = 0;
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|e| e != "h5ad") {
            continue;
        }
        seen += 1;
        let out = info(&path, false);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.contains(&*name) && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
    assert!(seen > 0, "no malformed fixtures found in {}", dir.display());
}
