//! The whole preprocessing chain against scanpy, in the order users run it: seurat_v3 HVGs on
//! counts, normalize_total over all genes, log1p, then the subset (or the mapping onto a model's
//! genes), never renormalised. Values written by tests/fixtures/scanpy_chain/make_chain.py on a
//! real-counts file where the 200 HVGs carry a median 7% of a cell's counts, so the wrong order
//! (normalising after the subset) fails by far.

mod common;

use common::{fixture, floats};
use serde_json::Value;

use cellscope::config::Config;
use cellscope::data::CsrMatrix;
use cellscope::train::TrainData;
use cellscope::train::stream::for_each_block;

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("scanpy_chain/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// scanpy's CSR result as a dense row-major matrix.
fn dense_expected(v: &Value) -> (usize, usize, Vec<f64>) {
    let (n, g) = (
        v["n_rows"].as_u64().unwrap() as usize,
        v["n_cols"].as_u64().unwrap() as usize,
    );
    let indptr = floats(&v["indptr"]);
    let (indices, data) = (floats(&v["indices"]), floats(&v["data"]));
    let mut out = vec![0.0; n * g];
    for i in 0..n {
        for p in indptr[i] as usize..indptr[i + 1] as usize {
            out[i * g + indices[p] as usize] = data[p];
        }
    }
    (n, g, out)
}

/// Every cell of the prepared data, in memory or gathered from the streamed blocks.
fn all_rows(data: &TrainData) -> CsrMatrix {
    let mut blocks = Vec::new();
    for_each_block(data, 64, &mut |_, block| {
        blocks.push(block.clone());
        Ok(())
    })
    .unwrap();
    CsrMatrix::vstack(&blocks, data.genes.len())
}

fn assert_matches(what: &str, got: &CsrMatrix, want: &Value) {
    let (n, g, want) = dense_expected(want);
    assert_eq!((got.n_rows, got.n_cols), (n, g), "{what}: shape");
    let mut dense = vec![0f32; n * g];
    got.densify_rows(&(0..n).collect::<Vec<_>>(), &mut dense);
    for (k, (&ours, &theirs)) in dense.iter().zip(&want).enumerate() {
        let tol = 1e-5 * theirs.abs().max(1.0);
        assert!(
            (f64::from(ours) - theirs).abs() <= tol,
            "{what}: cell {}, gene {}: ours {ours}, scanpy {theirs}",
            k / g,
            k % g
        );
    }
}

fn config(stream: bool) -> Config {
    let mut c = Config::default();
    c.preprocess.n_top_genes = 200;
    if stream {
        c.data.memory_budget_mb = 0;
    }
    c
}

#[test]
fn hvg_then_normalise_all_genes_then_subset_matches_scanpy_in_memory_and_streamed() {
    let e = expected();
    let path = fixture("scanpy_chain/counts.h5ad");
    for stream in [false, true] {
        let data = TrainData::load(&path, &config(stream), None).unwrap();
        assert_eq!(data.stream.is_some(), stream);
        let mut ours = data.genes.clone();
        let mut theirs = strings(&e["hvg"]["genes"]);
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "the same 200 HVGs (stream {stream})");
        // Compare in scanpy's column order (the original gene order for both).
        assert_eq!(data.genes, strings(&e["hvg"]["genes"]));
        assert_matches(
            &format!("HVG subset (stream {stream})"),
            &all_rows(&data),
            &e["hvg"]["x"],
        );
    }
}

#[test]
fn mapping_onto_a_model_gene_list_zero_fills_without_renormalising() {
    let e = expected();
    let model = strings(&e["mapped"]["genes"]);
    let path = fixture("scanpy_chain/counts.h5ad");
    for stream in [false, true] {
        let data = TrainData::load(&path, &config(stream), Some(&model)).unwrap();
        assert_eq!(data.genes, model);
        assert_matches(
            &format!("mapped (stream {stream})"),
            &all_rows(&data),
            &e["mapped"]["x"],
        );
    }
}
