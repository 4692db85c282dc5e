//! `cellscope embed` end to end: a tiny run on the bundled demo written into a copy of its
//! .h5ad, read back with anndata; refusing to write over the input, which stays unchanged.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{cellscope, ok, run_dir};

const BIN: &str = env!("CARGO_BIN_EXE_cellscope");

/// Trains a one-epoch run on the demo with a small model and layout; returns its directory.
fn tiny_run(dir: &Path) -> PathBuf {
    let cfg = dir.join("small.toml");
    std::fs::write(
        &cfg,
        "[preprocess]\nn_top_genes = 200\n[model]\nhidden = [32]\nlatent = 8\n\
         [train]\nbatch_size = 64\nepochs = 1\n[analysis]\nlayout_max_cells = 150\n",
    )
    .unwrap();
    let out = dir.join("runs");
    let train = cellscope(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    run_dir(&ok(&train))
}

/// Runs `cellscope embed RUN [--data DATA] --out OUT`.
fn embed(run: &Path, data: Option<&Path>, out: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("embed").arg(run);
    if let Some(data) = data {
        cmd.arg("--data").arg(data);
    }
    cmd.arg("--out").arg(out).output().unwrap()
}

/// Runs a Python check on `args`; None (with a note) when python3 or anndata is missing.
fn python(script: &str, args: &[&Path]) -> Option<Output> {
    let Ok(py) = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
    else {
        println!("skipping the anndata read-back: no python3");
        return None;
    };
    let stderr = String::from_utf8_lossy(&py.stderr);
    if stderr.contains("No module named") {
        println!("skipping the anndata read-back: {stderr}");
        return None;
    }
    assert!(py.status.success(), "{stderr}");
    Some(py)
}

fn dataset_of(run: &Path) -> PathBuf {
    PathBuf::from(
        std::fs::read_to_string(run.join("dataset.txt"))
            .unwrap()
            .trim(),
    )
}

#[test]
fn embed_writes_a_copy_anndata_reads_and_never_touches_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path());
    let input = dataset_of(&run);
    let before = std::fs::read(&input).unwrap();

    let same = embed(&run, None, &input);
    assert_eq!(same.status.code(), Some(2));
    let err = String::from_utf8_lossy(&same.stderr);
    assert!(err.contains("is the input file"), "{err}");
    let link = dir.path().join("link.h5ad");
    std::fs::hard_link(&input, &link).unwrap();
    let linked = embed(&run, None, &link);
    assert_eq!(linked.status.code(), Some(2));

    let out = dir.path().join("out.h5ad");
    let done = embed(&run, None, &out);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(std::fs::read(&input).unwrap() == before, "input changed");

    let check = "import sys, anndata as ad, pandas as pd\n\
        a = ad.read_h5ad(sys.argv[1])\n\
        assert a.obsm['X_cellscope'].shape == (a.n_obs, 8), a.obsm['X_cellscope'].shape\n\
        assert str(a.obsm['X_cellscope'].dtype) == 'float32'\n\
        assert a.obsm['X_cellscope_2d'].shape == (a.n_obs, 2)\n\
        c = a.obs['cellscope_cluster']\n\
        assert isinstance(c.dtype, pd.CategoricalDtype) and len(c) == a.n_obs\n\
        assert c.notna().all() and len(c.cat.categories) >= 1\n\
        assert list(a.obs.columns)[-1] == 'cellscope_cluster'\n\
        assert 'cell_type' in a.obs.columns\n\
        print('ok', a.n_obs)\n";
    let Some(py) = python(check, &[&out]) else {
        return;
    };
    assert!(String::from_utf8_lossy(&py.stdout).starts_with("ok 1000"));
}

/// Compares a fresh output with its input as anndata (or h5py for Cell Ranger files) reads it:
/// X, obs names and columns, var names and columns, the input's obsm, and the three new
/// elements.
const COMPARE: &str = r#"
import sys, anndata as ad, h5py, numpy as np, scipy.sparse as sp
out, inp = sys.argv[1:3]
a = ad.read_h5ad(out)
if inp.endswith(".h5ad"):
    b = ad.read_h5ad(inp)
    x, obs_names, var_names = b.X, list(b.obs_names), list(b.var_names)
    for c in b.obs.columns:
        assert (a.obs[c].astype(str).values == b.obs[c].astype(str).values).all(), c
    assert list(a.var.columns) == list(b.var.columns), (a.var.columns, b.var.columns)
    for c in b.var.columns:
        assert (a.var[c].astype(str).values == b.var[c].astype(str).values).all(), c
    assert str(a.obs["cell_type"].dtype) == "category"
    assert np.allclose(a.obsm["X_pca"], b.obsm["X_pca"], atol=1e-6)
else:
    with h5py.File(inp) as f:
        m = f["matrix"]
        shape = tuple(m["shape"][:])
        x = sp.csc_matrix((m["data"][:], m["indices"][:], m["indptr"][:]), shape=shape).T
        obs_names = [s.decode() for s in m["barcodes"][:]]
        var_names = [s.decode() for s in m["features/name"][:]]
        features = {"gene_ids": "id", "feature_types": "feature_type", "genome": "genome"}
        assert list(a.var.columns) == list(features), a.var.columns
        for c, field in features.items():
            assert list(a.var[c].astype(str)) == [s.decode() for s in m["features"][field][:]], c
assert list(a.obs_names) == obs_names
assert list(a.var_names) == var_names
assert abs(sp.csr_matrix(a.X) - sp.csr_matrix(x)).max() == 0
assert a.obsm["X_cellscope"].shape == (a.n_obs, 8)
assert a.obsm["X_cellscope_2d"].shape == (a.n_obs, 2)
assert a.obs["cellscope_cluster"].notna().all()
print("ok", a.n_obs)
"#;

#[test]
fn embed_writes_a_fresh_anndata_for_inputs_it_cannot_extend() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path());
    for input in ["embed/anndata07_demo120.h5ad", "embed/tenx_demo120.h5"] {
        let input = common::fixture(input);
        // One output per input, so a lock HDF5 still holds on the last one cannot get in the way.
        let out = dir.path().join(format!(
            "fresh_{}.h5ad",
            input.file_stem().unwrap().display()
        ));
        let done = embed(&run, Some(&input), &out);
        assert!(
            done.status.success(),
            "{}: {}",
            input.display(),
            String::from_utf8_lossy(&done.stderr)
        );
        // cellscope reads its own output back as a modern file with the embedding in it.
        let back = cellscope::data::h5ad::H5adFile::open(&out).unwrap();
        assert_eq!(back.flavour(), cellscope::data::h5ad::Flavour::Modern);
        assert_eq!(back.n_obs(), 120);
        assert!(back.obsm_keys().contains(&"X_cellscope".to_string()));

        let Some(py) = python(COMPARE, &[&out, &input]) else {
            return;
        };
        assert!(String::from_utf8_lossy(&py.stdout).starts_with("ok 120"));
    }
}
