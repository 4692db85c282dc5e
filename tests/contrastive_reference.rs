//! Contrastive losses and the NB-noise augmentation against values written by PyTorch
//! (tests/fixtures/contrastive/make_reference.py, committed with its output).

use candle_core::{Device, Tensor};
use cellscope::model::augment::Augmenter;
use cellscope::model::contrastive::{barlow_loss, byol_loss};
use serde_json::Value;

fn reference() -> Value {
    let text = include_str!("fixtures/contrastive/reference.json");
    serde_json::from_str(text).expect("reference.json is valid JSON")
}

fn matrix(v: &Value) -> Tensor {
    let rows: Vec<Vec<f32>> = v
        .as_array()
        .expect("a list of rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("a row")
                .iter()
                .map(|x| x.as_f64().expect("a number") as f32)
                .collect()
        })
        .collect();
    let (n, d) = (rows.len(), rows[0].len());
    Tensor::from_vec(rows.concat(), (n, d), &Device::Cpu).expect("rectangular")
}

fn number(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is a number"))
}

#[test]
fn barlow_loss_matches_pytorch_on_unstandardised_correlated_views() {
    let r = &reference()["barlow"];
    let (z1, z2) = (matrix(&r["z1"]), matrix(&r["z2"]));
    let cases = r["cases"].as_array().expect("cases");
    // lambda = 0 isolates the on-diagonal term; the other lambdas then pin the off-diagonal one.
    assert!(cases.iter().any(|c| number(c, "lambda") == 0.0));
    for case in cases {
        let lambda = number(case, "lambda");
        let want = number(case, "loss");
        let got = f64::from(
            barlow_loss(&z1, &z2, lambda)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
        );
        assert!(
            (got - want).abs() < 1e-4 * (1.0 + want.abs()),
            "lambda {lambda}: cellscope {got}, PyTorch {want}"
        );
    }
}

#[test]
fn byol_loss_matches_pytorch() {
    let r = &reference()["byol"];
    let want = number(r, "loss");
    let got = f64::from(
        byol_loss(&matrix(&r["p"]), &matrix(&r["z"]))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap(),
    );
    assert!((got - want).abs() < 1e-5, "cellscope {got}, PyTorch {want}");
}

#[test]
fn nb_noise_has_the_reference_mean() {
    let r = &reference()["nb_noise"];
    let genes = number(r, "genes") as usize;
    let cells = 4000;
    let augmenter = Augmenter {
        dropout_prob: 0.0,
        dropout_rate: 0.1,
        nb_noise_prob: 1.0,
        nb_noise_intensity: number(r, "intensity") as f32,
        gauss_noise_prob: 0.0,
        gauss_noise_std: 0.01,
    };
    // On an all-zero batch the view is the noise itself (it is never negative).
    let mut noise = vec![0.0; cells * genes];
    augmenter.view(&vec![0.0; cells * genes], genes, 9, &mut noise);
    let mean = noise.iter().map(|&v| f64::from(v)).sum::<f64>() / noise.len() as f64;
    // Cells are independent: 4 standard errors of the mean of `cells` per-cell means.
    let tolerance = 4.0 * number(r, "per_cell_mean_sd") / (cells as f64).sqrt();
    let want = number(r, "mean");
    assert!(
        (mean - want).abs() < tolerance,
        "NB noise mean {mean}, PyTorch {want} (tolerance {tolerance})"
    );
}
