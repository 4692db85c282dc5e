//! The logistic-regression probe against scikit-learn's StandardScaler + LogisticRegression(C=1)
//! on a committed fixture (tests/fixtures/cv/make_expected.py wrote it): the same test-cell
//! probabilities within 1e-5 (measured: 2e-7) and the same predictions.

use cellscope::analysis::probe::LogisticProbe;
use ndarray::Array2;
use serde_json::Value;

fn matrix(v: &Value) -> Array2<f32> {
    let rows: Vec<Vec<f32>> = serde_json::from_value(v.clone()).unwrap();
    let (n, d) = (rows.len(), rows[0].len());
    Array2::from_shape_vec((n, d), rows.concat()).unwrap()
}

#[test]
fn the_probe_matches_scikit_learn_probabilities_and_predictions() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cv/probe_expected.json"
    );
    let e: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let y_train: Vec<usize> = serde_json::from_value(e["y_train"].clone()).unwrap();
    let probe = LogisticProbe::fit(matrix(&e["x_train"]).view(), &y_train).unwrap();
    let classes: Vec<usize> = serde_json::from_value(e["classes"].clone()).unwrap();
    assert_eq!(probe.classes(), classes);

    let x_test = matrix(&e["x_test"]);
    let got = probe.probabilities(x_test.view());
    let want: Vec<Vec<f64>> = serde_json::from_value(e["probabilities"].clone()).unwrap();
    let mut worst = 0f64;
    for (row, want_row) in got.rows().into_iter().zip(&want) {
        for (g, w) in row.iter().zip(want_row) {
            worst = worst.max((g - w).abs());
        }
    }
    assert!(worst < 1e-5, "largest probability difference {worst:e}");

    let predictions: Vec<usize> = serde_json::from_value(e["predictions"].clone()).unwrap();
    assert_eq!(probe.predict(x_test.view()), predictions);
}
