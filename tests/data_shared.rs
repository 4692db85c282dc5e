//! `cellscope info` on every real .h5ad and Cell Ranger file in ../shared/data (skipped with a
//! message when that folder is absent): shapes and label counts as the data README lists them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// (path under shared/data, cells, genes, optional (obs column, distinct labels, some counts)).
type Expectation = (
    &'static str,
    usize,
    usize,
    Option<(&'static str, usize, &'static [(&'static str, usize)])>,
);

const EXPECTED: &[Expectation] = &[
    (
        "datasets/bassez2021_immune_1000x6397_counts.h5ad",
        1000,
        6397,
        Some((
            "cell_type",
            14,
            &[
                ("CD8_T", 324),
                ("CD4_T", 264),
                ("MDC", 143),
                ("Treg", 70),
                ("B_memory", 51),
                ("NK", 37),
                ("plasma", 32),
                ("B_naive", 19),
                ("DC", 19),
                ("gdT", 12),
                ("pDC", 10),
                ("mast", 10),
                ("B_GC", 7),
                ("ILC3", 2),
            ],
        )),
    ),
    (
        "datasets/pbmc68k_reduced_counts_700x765.h5ad",
        700,
        765,
        Some((
            "cell_type",
            10,
            &[("Dendritic", 240), ("CD14+ Monocyte", 129), ("CD19+ B", 95)],
        )),
    ),
    (
        "datasets/kang2018_pbmc_ifnb_ctrl_stim_2000x9015_counts.h5ad",
        2000,
        9015,
        Some(("condition", 2, &[("ctrl", 1000), ("stim", 1000)])),
    ),
    (
        "datasets/10x_pbmc_5k_protein_v3_200_counts.h5ad",
        200,
        16581,
        None,
    ),
    (
        "datasets/10x_pbmc_10k_protein_v3_200_counts.h5ad",
        200,
        16727,
        None,
    ),
    (
        "encodings/legacy_anndata0.6_scanpy_pbmc68k_reduced.h5ad",
        700,
        765,
        Some((
            "bulk_labels",
            10,
            &[("Dendritic", 240), ("CD14+ Monocyte", 129)],
        )),
    ),
    (
        "encodings/anndata_v0.7.8_synthetic.h5ad",
        30,
        20,
        Some(("obs_cat", 21, &[("b", 3), ("x", 3), ("Z", 2)])),
    ),
    (
        "encodings/anndata0.7era_scvi_brainlarge_test_70x720.h5ad",
        70,
        720,
        None,
    ),
    (
        "encodings/modern_denseX_scanpy_t-cells_8x4.h5ad",
        8,
        4,
        Some(("IR_VDJ_1_c_call", 2, &[("TRBC2", 4), ("TRBC1", 3)])),
    ),
    (
        "encodings/modern_int64_indices_cellxgene_example_valid.h5ad",
        2,
        7,
        None,
    ),
    (
        "encodings/10x_mtx_h5_fixtures/1.2.0/filtered_gene_bc_matrices_h5.h5",
        12,
        343,
        None,
    ),
    (
        "encodings/10x_mtx_h5_fixtures/1.2.0/multiple_genomes.h5",
        12,
        686,
        None,
    ),
    (
        "encodings/10x_mtx_h5_fixtures/3.0.0/filtered_feature_bc_matrix.h5",
        1107,
        507,
        None,
    ),
    (
        "encodings/10x_mtx_h5_fixtures/1.2.0/filtered_gene_bc_matrices",
        12,
        343,
        None,
    ),
    (
        "encodings/10x_mtx_h5_fixtures/3.0.0/filtered_feature_bc_matrix",
        1107,
        507,
        None,
    ),
    ("encodings/10x_mtx_h5_fixtures/int-ids", 5, 6, None),
];

fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

fn info_json(path: &Path) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_cellscope"))
        .arg("info")
        .arg(path)
        .arg("--json")
        .output()
        .expect("run cellscope");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Every .h5ad and .h5 under `dir`, recursively.
fn hdf5_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            hdf5_files(&p, found);
        } else if p.extension().is_some_and(|e| e == "h5ad" || e == "h5") {
            found.push(p);
        }
    }
}

#[test]
fn info_reads_every_shared_file_with_the_documented_shape_and_labels() {
    let Some(root) = shared() else { return };
    for &(rel, cells, genes, labels) in EXPECTED {
        let path = root.join(rel);
        let got = info_json(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(got["n_cells"], cells, "{rel}");
        assert_eq!(got["n_genes"], genes, "{rel}");
        if let Some((column, distinct, counts)) = labels {
            let col = got["obs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == column);
            let col = col.unwrap_or_else(|| panic!("{rel}: no obs column {column}"));
            assert_eq!(col["n_categories"], distinct, "{rel}/{column}");
            for &(label, n) in counts {
                let entry = col["counts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["name"] == label);
                assert_eq!(
                    entry.map(|e| e["count"].clone()),
                    Some(n.into()),
                    "{rel}/{column}/{label}"
                );
            }
        }
    }
    // Nothing in shared/data goes unchecked: every HDF5 file has an expectation above,
    // except the one file that has no X by design.
    let mut files = Vec::new();
    hdf5_files(&root, &mut files);
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel.ends_with("anndata_v0.11.4_noX_10x20.h5ad") {
            let err = info_json(&f).unwrap_err();
            assert!(
                err.starts_with("exit Some(2)") && err.contains("no X"),
                "{rel}: {err}"
            );
        } else {
            assert!(
                EXPECTED.iter().any(|e| e.0 == rel),
                "{rel}: add its shape to EXPECTED"
            );
        }
    }
}

#[test]
fn lzf_compressed_file_is_read() {
    let Some(root) = shared() else { return };
    // anndata 0.7.8 wrote this file with h5py's LZF filter on every dataset.
    let got = info_json(&root.join("encodings/anndata_v0.7.8_synthetic.h5ad")).unwrap();
    assert_eq!(got["layers"], serde_json::json!(["array", "sparse"]));
    assert_eq!(got["has_raw"], true);
}
