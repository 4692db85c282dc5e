//! `cellscope import` / `export --format torch` against checkpoints PyTorch wrote
//! (tests/fixtures/torch_ckpt/make_ckpt.py): the imported run embeds the fixture cells as torch
//! did, passes the loaders of a trained run, works with eval and transfer, exports names the
//! reference layout uses, and comes back through torch unchanged; bad inputs are named.

mod common;

use std::path::{Path, PathBuf};

use cellscope::torch::checkpoint::read_torch_checkpoint;
use cellscope::train::checkpoint::read_checkpoint;
use common::{cellscope, fixture, ok, run_dir};
use serde_json::Value;

fn ckpt(name: &str) -> PathBuf {
    fixture(&format!("torch_ckpt/{name}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The fixture cells (120 of the demo), counts.
fn data() -> PathBuf {
    fixture("embed/anndata07_demo120.h5ad")
}

/// `cellscope import CKPT --genes genes.txt --out OUT [extra]`, returning the run directory.
fn import(name: &str, out: &Path, extra: &[&str]) -> PathBuf {
    let (c, g) = (ckpt(name), ckpt("genes.txt"));
    let args = [
        &["import", s(&c), "--genes", s(&g), "--out", s(out)][..],
        extra,
    ]
    .concat();
    run_dir(&ok(&cellscope(&args)))
}

/// The error text of a command that must fail.
fn refused(args: &[&str]) -> String {
    let out = cellscope(args);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// torch's embedding of the fixture cells for `key` of expected.json.
fn expected(key: &str) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(ckpt("expected.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(common::floats)
        .collect()
}

/// Runs `cellscope embed RUN --data DATA` and checks obsm['X_cellscope'] against torch's.
fn embed_matches(run: &Path, key: &str, tmp: &Path) {
    let out = tmp.join(format!("{key}.h5ad"));
    ok(&cellscope(&[
        "embed",
        s(run),
        "--data",
        s(&data()),
        "--out",
        s(&out),
    ]));
    let z = hdf5::File::open(&out)
        .unwrap()
        .dataset("obsm/X_cellscope")
        .unwrap()
        .read_2d::<f32>()
        .unwrap();
    let want = expected(key);
    assert_eq!(z.dim(), (want.len(), want[0].len()));
    let gap = z
        .rows()
        .into_iter()
        .zip(&want)
        .flat_map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (f64::from(*x) - y).abs())
                .collect::<Vec<_>>()
        })
        .fold(0.0, f64::max);
    assert!(gap < 1e-5, "{key}: max |cellscope - torch| = {gap}");
}

#[test]
fn an_imported_lightning_checkpoint_embeds_as_torch_does_and_is_a_normal_run() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let run = import("ssl_in_scg.ckpt", &runs, &["--data", s(&data())]);
    embed_matches(&run, "ssl_in_scg", tmp.path());

    // The loaders of a trained run accept it: config, genes, checkpoint, summary.
    let loaded = cellscope::train::load_run(&run).unwrap();
    assert_eq!(loaded.config.model.hidden, vec![32, 16]);
    assert_eq!(loaded.config.model.latent, 8);
    assert_eq!(loaded.config.model.activation, "selu");
    assert!((loaded.config.model.dropout - 0.1).abs() < 1e-12);
    assert_eq!(loaded.config.preprocess.target_sum, 1e4);
    assert!(loaded.config.preprocess.log1p);
    assert_eq!(loaded.genes.len(), 62);
    assert_eq!(loaded.genes[30], "NOT_A_GENE_1");
    assert_eq!(loaded.dataset_path, std::path::absolute(data()).unwrap());
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let from = summary["imported_from"].as_str().unwrap();
    assert!(from.ends_with("torch_ckpt/ssl_in_scg.ckpt"), "{from}");
    assert_eq!(summary["import"]["encoder_prefix"], "encoder.");
    let listed = ok(&cellscope(&["runs", s(&runs)]));
    assert!(listed.contains("masked (imported)"), "{listed}");
    assert!(listed.contains("finished"), "{listed}");

    // eval (no decoder: no reconstruction) and the three transfer arms.
    let eval = ok(&cellscope(&["eval", s(&run), "--label", "cell_type"]));
    assert!(eval.contains("no decoder"), "{eval}");
    let cfg = tmp.path().join("small.toml");
    std::fs::write(
        &cfg,
        "[transfer]\nepochs = 2\nbatch_size = 32\nhead_epochs = 2\n",
    )
    .unwrap();
    let transfer = ok(&cellscope(&[
        "transfer",
        s(&run),
        "--config",
        s(&cfg),
        "--target",
        s(&data()),
        "--label",
        "cell_type",
        "--seeds",
        "1",
        "--json",
    ]));
    let report: Value = serde_json::from_str(&transfer).unwrap();
    assert_eq!(report["genes"]["model_genes"], 62);
    let arms: Vec<&str> = report["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["arm"].as_str().unwrap())
        .collect();
    assert_eq!(arms, ["zero_shot", "fine_tuned", "scratch"]);
}

#[test]
fn a_bare_state_dict_with_batch_norm_embeds_as_torch_does() {
    let tmp = tempfile::tempdir().unwrap();
    let run = import(
        "atlas_state_dict.pt",
        &tmp.path().join("runs"),
        &["--activation", "relu"],
    );
    embed_matches(&run, "atlas_state_dict", tmp.path());
    let loaded = cellscope::train::load_run(&run).unwrap();
    assert_eq!(
        (
            loaded.config.model.hidden.clone(),
            loaded.config.model.latent
        ),
        (vec![24, 12], 6)
    );
    // Without --data the run names no dataset; commands then ask for one.
    let err = refused(&["eval", s(&run)]);
    assert!(err.contains("--data"), "{err}");
}

#[test]
fn export_writes_the_reference_names_and_comes_back_through_torch_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let run = import("ssl_in_scg.ckpt", &tmp.path().join("runs"), &[]);
    let out = tmp.path().join("export");
    ok(&cellscope(&[
        "export",
        s(&run),
        "--format",
        "torch",
        "--out",
        s(&out),
    ]));
    // The exported tensors are the checkpoint's encoder, under the same Sequential names.
    let exported = read_checkpoint(&out.join("model.safetensors"))
        .unwrap()
        .tensors;
    let original = read_torch_checkpoint(&ckpt("ssl_in_scg.ckpt"), None)
        .unwrap()
        .tensors;
    let mut names: Vec<&String> = exported.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "encoder.0.bias",
            "encoder.0.weight",
            "encoder.3.bias",
            "encoder.3.weight",
            "encoder.6.bias",
            "encoder.6.weight"
        ]
    );
    for (name, t) in &exported {
        assert_eq!(t, &original[name], "{name}");
    }
    let module = std::fs::read_to_string(out.join("cellscope_model.py")).unwrap();
    for line in [
        "N_GENES = 62",
        "HIDDEN = [32, 16]",
        "LATENT = 8",
        "HAS_DECODER = False",
        "nn.SELU()",
    ] {
        assert!(module.contains(line), "{line} missing from\n{module}");
    }
    // make_ckpt.py loaded such an export with this module in torch and saved it as a .pt.
    let back = import(
        "roundtrip.pt",
        &tmp.path().join("runs"),
        &["--kind", "state-dict"],
    );
    embed_matches(&back, "ssl_in_scg", tmp.path());
}

#[test]
fn a_trained_masked_run_exports_its_decoder_too() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = common::tiny_config(
        tmp.path(),
        "tiny.toml",
        "[train]\nepochs = 1\nbatch_size = 64\n",
    );
    let runs = tmp.path().join("runs");
    let run = run_dir(&ok(&cellscope(&[
        "train",
        "--config",
        s(&cfg),
        "--out",
        s(&runs),
    ])));
    let out = tmp.path().join("export");
    let printed = ok(&cellscope(&[
        "export",
        s(&run),
        "--format",
        "torch",
        "--out",
        s(&out),
    ]));
    assert!(printed.contains("encoder and decoder"), "{printed}");
    let exported = read_checkpoint(&out.join("model.safetensors"))
        .unwrap()
        .tensors;
    assert_eq!(exported["encoder.3.weight"].0, vec![4, 16]);
    assert_eq!(exported["decoder.3.weight"].0, vec![100, 16]);
    let module = std::fs::read_to_string(out.join("cellscope_model.py")).unwrap();
    assert!(module.contains("HAS_DECODER = True"));
}

/// The error of `cellscope import CKPT --genes GENES --out OUT [extra]`, which must fail.
fn import_refused(checkpoint: &Path, genes: &Path, out: &Path, extra: &[&str]) -> String {
    let base = [
        "import",
        s(checkpoint),
        "--genes",
        s(genes),
        "--out",
        s(out),
    ];
    refused(&[&base[..], extra].concat())
}

#[test]
fn wrong_shapes_gene_counts_and_kinds_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let genes = ckpt("genes.txt");
    let err = import_refused(&ckpt("wrong_shape.pt"), &genes, &out, &[]);
    assert!(
        err.contains("tensor 3.weight has shape [12, 20]") && err.contains("gives 24"),
        "{err}"
    );
    let short = tmp.path().join("short.txt");
    std::fs::write(&short, "CD3E\nCD4\nMS4A1\n").unwrap();
    let err = import_refused(&ckpt("ssl_in_scg.ckpt"), &short, &out, &[]);
    assert!(
        err.contains("lists 3 genes") && err.contains("encoder.0.weight takes 62 inputs"),
        "{err}"
    );
    let lightning = ["--kind", "ssl_in_scg"];
    let err = import_refused(&ckpt("atlas_state_dict.pt"), &genes, &out, &lightning);
    assert!(err.contains("not a Lightning checkpoint"), "{err}");
    let err = import_refused(
        &ckpt("ssl_in_scg.ckpt"),
        &genes,
        &out,
        &["--kind", "state-dict"],
    );
    assert!(err.contains("try --kind ssl_in_scg"), "{err}");
    let err = import_refused(&genes, &genes, &out, &[]);
    assert!(err.contains("not a PyTorch zip checkpoint"), "{err}");
    let left = std::fs::read_dir(&out).map_or(0, |d| d.count());
    assert_eq!(left, 0, "a refused import left a run directory");
}
