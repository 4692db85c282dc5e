//! Transfer's scores against scikit-learn on committed label vectors (tests/fixtures/transfer,
//! written by make_expected.py): confusion matrix, per-class F1 and support, macro-F1, accuracy
//! as `SeedResult::score` records them in transfer.json, and the balanced class weights.

mod common;

use cellscope::analysis::metrics::balanced_class_weights;
use cellscope::analysis::transfer::SeedResult;
use common::{fixture, floats};
use serde_json::Value;

const TOL: f64 = 1e-6;

fn cases() -> Vec<Value> {
    let path = fixture("transfer/expected.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn usizes(v: &Value) -> Vec<usize> {
    serde_json::from_value(v.clone()).unwrap()
}

fn close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < TOL, "{what}: {got:?} vs sklearn {want:?}");
    }
}

#[test]
fn seed_scores_match_sklearn() {
    let cases = cases();
    assert!(cases.len() >= 3);
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let n = c["n_classes"].as_u64().unwrap() as usize;
        let (truth, pred) = (usizes(&c["y_true"]), usizes(&c["y_pred"]));
        let s = SeedResult::score(0, &truth, &pred, n);
        let confusion: Vec<Vec<u64>> = serde_json::from_value(c["confusion"].clone()).unwrap();
        assert_eq!(s.confusion, confusion, "{name}: confusion");
        let col = |f: &dyn Fn(&cellscope::analysis::metrics::ClassScore) -> f64| {
            s.per_class.iter().map(f).collect::<Vec<_>>()
        };
        close(&col(&|p| p.precision), &floats(&c["precision"]), name);
        close(&col(&|p| p.recall), &floats(&c["recall"]), name);
        close(&col(&|p| p.f1), &floats(&c["f1"]), name);
        let support: Vec<u64> = serde_json::from_value(c["support"].clone()).unwrap();
        assert_eq!(
            s.per_class.iter().map(|p| p.support).collect::<Vec<_>>(),
            support,
            "{name}: support"
        );
        close(&[s.macro_f1], &[c["macro_f1"].as_f64().unwrap()], name);
        close(&[s.accuracy], &[c["accuracy"].as_f64().unwrap()], name);
    }
}

#[test]
fn balanced_class_weights_match_sklearn_and_zero_absent_classes() {
    for c in cases() {
        let n = c["n_classes"].as_u64().unwrap() as usize;
        let w = balanced_class_weights(&usizes(&c["y_true"]), n);
        let mut want = vec![0.0; n];
        for (class, weight) in usizes(&c["class_weight_classes"])
            .into_iter()
            .zip(floats(&c["class_weight"]))
        {
            want[class] = weight;
        }
        close(&w, &want, c["name"].as_str().unwrap());
    }
    // By hand: n = 6, k = 2 present classes, counts 4 and 2 -> 6/(2*4), 6/(2*2); class 1 absent.
    assert_eq!(
        balanced_class_weights(&[0, 0, 0, 0, 2, 2], 3),
        [0.75, 0.0, 1.5]
    );
}
