//! Parity of cellscope's analysis figures with numpy / scikit-learn / scipy on committed fixtures
//! (written by tests/fixtures/analysis/make_expected.py); every figure within 1e-6.

mod common;

use cellscope::analysis::{knn, markers, metrics, pca, recon};
use cellscope::data::CsrMatrix;
use common::floats;
use ndarray::Array2;
use serde_json::Value;

const TOL: f64 = 1e-6;

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/analysis/expected.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn labels(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn optional_floats(v: &Value) -> Vec<Option<f64>> {
    v.as_array().unwrap().iter().map(Value::as_f64).collect()
}

fn matrix(v: &Value) -> Array2<f32> {
    let rows = v.as_array().unwrap();
    let cols = rows[0].as_array().unwrap().len();
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|r| floats(r).into_iter().map(|x| x as f32))
        .collect();
    Array2::from_shape_vec((rows.len(), cols), flat).unwrap()
}

fn close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!(
        (got - want).abs() < TOL,
        "{what}: got {got}, sklearn {want}"
    );
}

fn close_all(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() < tol, "{what}[{i}]: got {g}, expected {w}");
    }
}

#[test]
fn clustering_agreement_matches_sklearn() {
    let f = fixture();
    let l = &f["labels"];
    let (truth, pred, clusters) = (
        labels(&l["truth"]),
        labels(&l["pred"]),
        labels(&l["clusters"]),
    );
    close(
        metrics::adjusted_rand_score(&truth, &clusters).unwrap(),
        &l["ari"],
        "ARI",
    );
    close(
        metrics::normalized_mutual_info_score(&truth, &clusters).unwrap(),
        &l["nmi"],
        "NMI",
    );
    close(
        metrics::adjusted_rand_score(&truth, &pred).unwrap(),
        &l["ari_pred"],
        "ARI pred",
    );
    close(
        metrics::normalized_mutual_info_score(&truth, &pred).unwrap(),
        &l["nmi_pred"],
        "NMI pred",
    );
}

#[test]
fn classification_scores_match_sklearn() {
    let f = fixture();
    let l = &f["labels"];
    let (truth, pred) = (labels(&l["truth"]), labels(&l["pred"]));
    close(
        metrics::macro_f1(&truth, &pred).unwrap(),
        &l["macro_f1"],
        "macro-F1",
    );
    close(
        metrics::accuracy(&truth, &pred).unwrap(),
        &l["accuracy"],
        "accuracy",
    );
    close(
        metrics::accuracy(&truth, &pred).unwrap(),
        &l["micro_f1"],
        "micro-F1",
    );
    let scores = metrics::per_class_scores(&truth, &pred, 7);
    let pick = |f: fn(&metrics::ClassScore) -> f64| scores.iter().map(f).collect::<Vec<_>>();
    close_all(
        &pick(|s| s.precision),
        &floats(&l["precision"]),
        TOL,
        "precision",
    );
    close_all(&pick(|s| s.recall), &floats(&l["recall"]), TOL, "recall");
    close_all(&pick(|s| s.f1), &floats(&l["f1"]), TOL, "f1");
    close_all(
        &pick(|s| s.support as f64),
        &floats(&l["support"]),
        0.0 + TOL,
        "support",
    );
    let cm = metrics::confusion_matrix(&truth, &pred, 7);
    let want: Vec<Vec<u64>> = serde_json::from_value(l["confusion"].clone()).unwrap();
    assert_eq!(cm, want);
    let weights = metrics::balanced_class_weights(&truth, 6);
    close_all(&weights, &floats(&l["class_weights"]), TOL, "class weights");
}

#[test]
fn silhouette_and_knn_match_sklearn() {
    let f = fixture();
    let e = &f["embedding"];
    let x = matrix(&e["x"]);
    let lab = labels(&e["labels"]);
    let s = metrics::silhouette_score(x.view(), &lab).unwrap();
    close(s, &e["silhouette"], "silhouette");
    let asw = metrics::cell_type_asw(x.view(), &lab).unwrap();
    assert!((asw - (s + 1.0) / 2.0).abs() < 1e-15);
    let nn = knn::knn(
        x.slice(ndarray::s![100.., ..]),
        x.slice(ndarray::s![..100, ..]),
        5,
    );
    let want_idx: Vec<Vec<u32>> =
        serde_json::from_value(e["knn_query_vs_ref_indices"].clone()).unwrap();
    let want_d = matrix(&e["knn_query_vs_ref_distances"]);
    for (q, row) in want_idx.iter().enumerate() {
        assert_eq!(nn.row(q).0, &row[..], "neighbours of query {q}");
        let got: Vec<f64> = nn.row(q).1.iter().map(|&v| f64::from(v)).collect();
        let want: Vec<f64> = want_d.row(q).iter().map(|&v| f64::from(v)).collect();
        close_all(&got, &want, 1e-5, "knn distances");
    }
}

fn assert_scores_match_up_to_sign(got: &Array2<f32>, want: &Array2<f32>, what: &str) {
    assert_eq!(got.dim(), want.dim(), "{what}: shape");
    for c in 0..got.ncols() {
        let sign = if got.column(c).dot(&want.column(c)) < 0.0 {
            -1.0
        } else {
            1.0
        };
        for r in 0..got.nrows() {
            let (g, w) = (sign * got[[r, c]], want[[r, c]]);
            assert!(
                (g - w).abs() < 1e-4,
                "{what}: score [{r}, {c}] {g} vs numpy {w}"
            );
        }
    }
}

#[test]
fn pca_matches_sklearn_up_to_sign() {
    let f = fixture();
    let e = &f["embedding"];
    let fit = pca::pca_dense(matrix(&e["x"]).view(), 4).unwrap();
    assert_scores_match_up_to_sign(&fit.scores, &matrix(&e["pca_scores"]), "dense PCA");
    close_all(
        &fit.pca.explained_variance_ratio,
        &floats(&e["pca_ratio"]),
        TOL,
        "dense ratio",
    );
    let g = &f["genes"];
    let x = matrix(&g["x"]);
    let sparse = CsrMatrix::from_dense(x.nrows(), x.ncols(), x.as_slice().unwrap());
    let fit = pca::pca_sparse(&sparse, 5).unwrap();
    assert_scores_match_up_to_sign(&fit.scores, &matrix(&g["pca_scores"]), "sparse PCA");
    close_all(
        &fit.pca.explained_variance_ratio,
        &floats(&g["pca_ratio"]),
        TOL,
        "sparse ratio",
    );
}

#[test]
fn reconstruction_matches_sklearn() {
    let f = fixture();
    let r = &f["recon"];
    let got = recon::reconstruction(matrix(&r["y"]).view(), matrix(&r["yhat"]).view()).unwrap();
    close_all(&got.mse, &floats(&r["mse"]), TOL, "MSE");
    close_all(&got.explained_variance, &floats(&r["ev"]), TOL, "EV");
    close(got.ev_uniform, &r["ev_uniform"], "EV uniform");
    close(got.ev_weighted, &r["ev_weighted"], "EV weighted");
    close(got.mse_overall, &r["mse_overall"], "MSE overall");
    let want = optional_floats(&r["pearson"]);
    for (g, (a, b)) in got.pearson.iter().zip(&want).enumerate() {
        match (a, b) {
            (Some(a), Some(b)) => assert!((a - b).abs() < TOL, "pearson[{g}] {a} vs {b}"),
            (None, None) => {}
            _ => panic!("pearson[{g}]: {a:?} vs scipy {b:?}"),
        }
    }
}

#[test]
fn markers_match_scipy_welch() {
    let f = fixture();
    let g = &f["genes"];
    let x = matrix(&g["x"]);
    let sparse = CsrMatrix::from_dense(x.nrows(), x.ncols(), x.as_slice().unwrap());
    let group: Vec<bool> = g["group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_bool().unwrap())
        .collect();
    let tests = markers::gene_tests(&sparse, &group).unwrap();
    let diffs: Vec<f64> = tests.iter().map(|t| t.mean_diff).collect();
    close_all(&diffs, &floats(&g["mean_diff"]), TOL, "mean difference");
    for (gene, (t, (wt, wp))) in tests
        .iter()
        .zip(
            optional_floats(&g["welch_t"])
                .into_iter()
                .zip(optional_floats(&g["welch_p"])),
        )
        .enumerate()
    {
        match (t.t, wt, t.p_value, wp) {
            (Some(a), Some(b), Some(p), Some(q)) => {
                assert!((a - b).abs() < TOL, "t[{gene}] {a} vs {b}");
                assert!((p - q).abs() < TOL, "p[{gene}] {p} vs {q}");
            }
            (None, None, None, None) => {}
            other => panic!("gene {gene}: {other:?}"),
        }
    }
    let top = markers::top_markers(&sparse, &group, 1, markers::MarkerRank::WelchT).unwrap();
    assert_eq!(top[0].gene, 3);
}
