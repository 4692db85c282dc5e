//! Transfer where only part of the model's genes are in the target, the case the paper's
//! 19k-gene set-up never meets: a model pretrained on Kang (../shared/data, skipped with a
//! message when absent), transferred to the bundled pbmc68k. The overlap is reported as a share
//! with a warning below 80%, and the target is normalised over its own genes before the mapping,
//! so a matched gene holds exactly the value scanpy's normalize_total + log1p gives it.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use cellscope::analysis::transfer::{TransferRequest, prepare_target};
use cellscope::config::Config;
use cellscope::data::{log1p, normalize_total, read_dataset};
use cellscope::train::load_run;
use common::{cellscope, ok, run_dir, tiny_config};

fn kang() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/datasets/kang2018_pbmc_ifnb_ctrl_stim_2000x9015_counts.h5ad");
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} is absent", path.display());
        None
    }
}

#[test]
fn a_target_with_part_of_the_genes_is_mapped_without_renormalising_and_warned_about() {
    let Some(kang) = kang() else { return };
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/pbmc68k_reduced_counts_700x765.h5ad");
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(
        dir.path(),
        "tiny.toml",
        "[train]\nepochs = 1\nbatch_size = 128\n[transfer]\nepochs = 2\n",
    );
    let out = dir.path().join("runs");
    let train = ok(&cellscope(&[
        "train",
        kang.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let run = run_dir(&train);

    let printed = ok(&cellscope(&[
        "transfer",
        run.to_str().unwrap(),
        "--target",
        target.to_str().unwrap(),
        "--label",
        "cell_type",
        "--seeds",
        "1",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("transfer.json")).unwrap()).unwrap();
    let genes = &report["genes"];
    let (matched, model) = (
        genes["matched"].as_u64().unwrap(),
        genes["model_genes"].as_u64().unwrap(),
    );
    assert_eq!(model, 100);
    assert!(matched > 0 && matched < 80, "{matched} of {model} matched");
    let share = format!("({:.0}%)", 100.0 * matched as f64 / model as f64);
    assert!(printed.contains(&share), "{printed}");
    assert!(
        printed.contains("warning: the target has only"),
        "{printed}"
    );

    // Matched genes hold the target's own normalize_total(1e4) + log1p over all its genes.
    let loaded = load_run(&run).unwrap();
    let req = TransferRequest {
        target: target.clone(),
        label: "cell_type".into(),
        label_map: None,
        seeds: None,
    };
    let prepared = prepare_target(&loaded, &req, &Config::default()).unwrap();
    let mut whole = read_dataset(&target, "X").unwrap();
    normalize_total(&mut whole.x, 1e4);
    log1p(&mut whole.x);
    let column: HashMap<String, usize> = whole
        .var_names
        .iter()
        .enumerate()
        .map(|(j, g)| (g.to_uppercase(), j))
        .collect();
    let n = whole.n_cells();
    let rows: Vec<usize> = (0..n).collect();
    let (g_model, g_target) = (loaded.genes.len(), whole.n_genes());
    let mut ours = vec![0f32; n * g_model];
    prepared.x.densify_rows(&rows, &mut ours);
    let mut theirs = vec![0f32; n * g_target];
    whole.x.densify_rows(&rows, &mut theirs);
    let mut compared = 0;
    for (k, gene) in loaded.genes.iter().enumerate() {
        for i in 0..n {
            let want = column
                .get(&gene.to_uppercase())
                .map_or(0.0, |&j| theirs[i * g_target + j]);
            assert_eq!(ours[i * g_model + k], want, "cell {i}, gene {gene}");
            compared += 1;
        }
    }
    assert_eq!(compared, n * g_model);
}
