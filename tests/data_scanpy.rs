//! Preprocessing parity with scanpy/scikit-misc on a committed real-counts fixture
//! (values written by tests/fixtures/make_fixtures.py).

mod common;

use common::floats;
use std::path::PathBuf;

use cellscope::data::preprocess::hvg::{rank_genes, seurat_v3_scores};
use cellscope::data::preprocess::loess::loess_fitted;
use cellscope::data::{highly_variable_genes_seurat_v3, log1p, normalize_total, read_dataset};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scanpy")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tol,
            "{what}[{i}]: got {g}, scanpy {w} (tolerance {tol:e})"
        );
    }
}

#[test]
fn normalize_total_and_log1p_match_scanpy() {
    let e = expected();
    let mut ds = read_dataset(&fixture_dir().join("counts.h5ad"), "X").unwrap();
    normalize_total(&mut ds.x, 1e4);
    log1p(&mut ds.x);
    let want = &e["log1p_normalized"];
    let n = want["n_cells"].as_u64().unwrap() as usize;
    let rows = ds.x.select_rows(&(0..n).collect::<Vec<_>>());
    let indptr: Vec<usize> = want["indptr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let indices: Vec<u32> = want["indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(rows.indptr, indptr);
    assert_eq!(rows.indices, indices);
    let got: Vec<f64> = rows.data.iter().map(|&v| f64::from(v)).collect();
    assert_close("log1p(normalize_total)", &got, &floats(&want["data"]), 1e-5);
}

#[test]
fn loess_matches_scikit_misc() {
    let e = &expected()["loess"];
    let fitted = loess_fitted(&floats(&e["x"]), &floats(&e["y"]), 0.3).unwrap();
    assert_close("loess fitted", &fitted, &floats(&e["fitted"]), 1e-6);
}

#[test]
fn seurat_v3_matches_scanpy() {
    let e = &expected()["hvg"];
    let ds = read_dataset(&fixture_dir().join("counts.h5ad"), "X").unwrap();
    let scores = seurat_v3_scores(&ds.x).unwrap();
    assert_close("means", &scores.means, &floats(&e["means"]), 1e-9);
    assert_close(
        "variances",
        &scores.variances,
        &floats(&e["variances"]),
        1e-9,
    );
    assert_close(
        "variances_norm",
        &scores.variances_norm,
        &floats(&e["variances_norm"]),
        1e-5,
    );
    let n_top = e["n_top_genes"].as_u64().unwrap() as usize;
    let want: Vec<usize> = e["top_genes_ranked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    // Genes with identical count patterns tie exactly; numpy's unstable argsort orders ties
    // arbitrarily, we order them by gene index. Ranks must agree up to such ties.
    let norm = &scores.variances_norm;
    let ranked = rank_genes(&scores);
    for (k, (&ours, &theirs)) in ranked.iter().zip(&want).enumerate() {
        assert!(
            ours == theirs || norm[ours] == norm[theirs],
            "rank {k}: gene {ours} ({}) vs scanpy's gene {theirs} ({})",
            norm[ours],
            norm[theirs]
        );
    }
    let boundary = norm[want[n_top - 1]];
    let untied = |v: &[usize]| {
        let mut s: Vec<usize> = v.iter().copied().filter(|&g| norm[g] != boundary).collect();
        s.sort_unstable();
        s
    };
    let top = highly_variable_genes_seurat_v3(&ds.x, n_top);
    assert_eq!(untied(&top), untied(&want), "HVG sets differ beyond ties");
}

#[test]
fn prepare_selects_hvgs_on_counts_and_keeps_their_whole_transcriptome_scale() {
    use cellscope::config::PreprocessConfig;
    use cellscope::data::prepare;
    let ds = read_dataset(&fixture_dir().join("counts.h5ad"), "X").unwrap();
    let cfg = PreprocessConfig {
        n_top_genes: 50,
        ..PreprocessConfig::default()
    };
    let p = prepare(&ds, &cfg, None).unwrap();
    let mut top = highly_variable_genes_seurat_v3(&ds.x, 50);
    top.sort_unstable();
    let names: Vec<String> = top.iter().map(|&j| ds.var_names[j].clone()).collect();
    assert_eq!(p.genes, names);
    assert_eq!((p.x.n_rows, p.x.n_cols), (ds.n_cells(), 50));
    // The selected columns hold the values of the whole matrix normalised over every gene: the
    // subset is not renormalised (its cells do not sum to 1e4).
    let mut full = ds.x.clone();
    normalize_total(&mut full, 1e4);
    log1p(&mut full);
    let rows: Vec<usize> = (0..ds.n_cells()).collect();
    let mut whole = vec![0f32; ds.n_cells() * ds.n_genes()];
    full.densify_rows(&rows, &mut whole);
    let mut sub = vec![0f32; ds.n_cells() * 50];
    p.x.densify_rows(&rows, &mut sub);
    for i in 0..ds.n_cells() {
        for (k, &j) in top.iter().enumerate() {
            assert_eq!(
                sub[i * 50 + k],
                whole[i * ds.n_genes() + j],
                "cell {i}, gene {j}"
            );
        }
    }
    let below: usize = (0..p.x.n_rows)
        .filter(|&i| {
            p.x.row(i)
                .1
                .iter()
                .map(|&v| f64::from(v).exp_m1())
                .sum::<f64>()
                < 0.9e4
        })
        .count();
    assert!(
        below > 0,
        "some cell keeps under 90% of its counts in 50 HVGs"
    );
    // Aligning to a reference gene list: order follows the reference, unknown genes are zero.
    let reference = vec![
        ds.var_names[5].to_lowercase(),
        "NOT_A_GENE".into(),
        ds.var_names[0].clone(),
    ];
    let p = prepare(&ds, &cfg, Some(&reference)).unwrap();
    let a = p.alignment.unwrap();
    assert_eq!((a.matched, a.missing, a.extra), (2, 1, ds.n_genes() - 2));
    assert_eq!(p.x.n_cols, 3);
    assert!(
        p.x.indices.iter().all(|&j| j != 1),
        "the missing gene stays zero"
    );
}
