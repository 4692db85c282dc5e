//! Every malformed input in tests/fixtures/bad and the fuzz corpus's structural mutants through
//! info and train (those crashing libhdf5 also embed/eval/transfer): exit 2, one line naming it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// (file, expected substring of the error line).
const BAD: &[(&str, &str)] = &[
    (
        "fixtures/bad/category_code_out_of_range.h5ad",
        "category code 7 is out of range",
    ),
    (
        "fixtures/bad/data_indices_mismatch.h5ad",
        "indices (20) and data (19) differ",
    ),
    ("fixtures/bad/empty_file.h5ad", "not an HDF5 file"),
    (
        "fixtures/bad/hdf5_hang.h5ad",
        "the file is corrupt: the HDF5 library did not finish reading it",
    ),
    (
        "fixtures/bad/hdf5_segfault_global_heap.h5ad",
        "the file is corrupt: the HDF5 library crashed reading it (segmentation fault",
    ),
    (
        "fixtures/bad/hdf5_segfault_metadata_cache.h5ad",
        "the file is corrupt: the HDF5 library crashed reading it (segmentation fault",
    ),
    (
        "fixtures/bad/hdf5_segfault_page_buffer.h5ad",
        "the file is corrupt: the HDF5 library crashed reading it (segmentation fault",
    ),
    ("fixtures/bad/huge_declared_shape.h5ad", "100000000000"),
    (
        "fixtures/bad/index_out_of_range.h5ad",
        "index 4000 at position 0 is out of range",
    ),
    (
        "fixtures/bad/indptr_decreasing.h5ad",
        "indptr decreases at entry 2",
    ),
    (
        "fixtures/bad/indptr_wrong_length.h5ad",
        "indptr has 5 entries, need at least 7",
    ),
    ("fixtures/bad/obs_length_mismatch.h5ad", "obs has 2 rows"),
    ("fixtures/bad/string_x.h5ad", "matrix values of type string"),
    ("fixtures/bad/truncated_half.h5ad", "truncated file"),
    (
        "fixtures/bad/unknown_encoding.h5ad",
        "matrix encoding `awkward-array`",
    ),
    ("fuzz/corpus/csc_huge_cols.h5ad", "1000000000000"),
    ("fuzz/corpus/csc_huge_shape.h5ad", "1000000000000 x 5"),
    ("fuzz/corpus/dense_1d.h5ad", "a dense matrix must be 2-D"),
    ("fuzz/corpus/mtx_entry_out_of_range", "bad entry `9 1 1`"),
    (
        "fuzz/corpus/tenx_index_out_of_range.h5",
        "index 99 at position 0 is out of range",
    ),
    ("fuzz/corpus/var_no_index.h5ad", "_index"),
    (
        "fuzz/corpus/x_data_strings.h5ad",
        "matrix values of type string",
    ),
    ("fuzz/corpus/x_shape_1d.h5ad", "bad shape attribute [6]"),
    (
        "fuzz/corpus/x_shape_negative.h5ad",
        "bad shape attribute [-6, 5]",
    ),
];

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Runs cellscope and returns (exit code, stderr), asserting it was not killed by a signal.
/// A file that hangs libhdf5 is given up on after 4 s (the crash probe's limit).
fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cellscope"))
        .args(args)
        .env("CELLSCOPE_PROBE_TIMEOUT", "4")
        .output()
        .expect("run cellscope");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("{args:?} died: {:?}\n{stderr}", out.status));
    (code, stderr)
}

fn check(args: &[&str], file: &str, expected: &str) {
    let (code, stderr) = run(args);
    assert_eq!(code, 2, "{args:?}: exit {code}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{args:?}: no error line in\n{stderr}"));
    let name = Path::new(file).file_name().unwrap().to_str().unwrap();
    assert!(
        line.contains(name),
        "{args:?}: the line does not name the file: {line}"
    );
    assert!(
        line.contains(expected),
        "{args:?}: expected `{expected}` in: {line}"
    );
}

#[test]
fn every_bad_file_fails_info_with_its_message() {
    let bad_dir = tests_dir().join("fixtures/bad");
    let listed: Vec<_> = std::fs::read_dir(&bad_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".h5ad"))
        .collect();
    for name in &listed {
        assert!(
            BAD.iter().any(|(f, _)| f.ends_with(name.as_str())),
            "{name} has no expected message in BAD"
        );
    }
    for (file, expected) in BAD {
        let path = tests_dir().join(file);
        check(&["info", path.to_str().unwrap()], file, expected);
    }
}

#[test]
fn every_bad_file_fails_train_with_its_message() {
    let out = tempfile::tempdir().unwrap();
    for (file, expected) in BAD {
        let path = tests_dir().join(file);
        let args = [
            "train",
            path.to_str().unwrap(),
            "--epochs",
            "1",
            "--out",
            out.path().to_str().unwrap(),
        ];
        check(&args, file, expected);
    }
}

#[test]
fn bad_gene_sets_and_configs_fail_with_a_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let gmt = dir.path().join("weird.gmt");
    std::fs::write(&gmt, "\t\t\n\u{0}\u{1}\n").unwrap();
    let cfg = tests_dir().join("fuzz/corpus/config_wrong_types.toml");
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[train]\nepoch = 3\n").unwrap();
    let out = dir.path().to_str().unwrap();
    let demo_cfg = tests_dir().join("fuzz/corpus/config.toml");
    let cases: [(Vec<&str>, &str, &str); 3] = [
        (
            vec![
                "train",
                "--config",
                demo_cfg.to_str().unwrap(),
                "--method",
                "gp",
            ],
            "weird.gmt",
            "weird.gmt",
        ),
        (
            vec!["train", "--config", cfg.to_str().unwrap()],
            "config_wrong_types.toml",
            "line 2, column 10: invalid type: string \"many\", expected a sequence",
        ),
        (
            vec!["train", "--config", unknown.to_str().unwrap()],
            "unknown.toml",
            "epoch",
        ),
    ];
    for (mut args, file, expected) in cases {
        if file == "weird.gmt" {
            args.extend(["--genes", gmt.to_str().unwrap()]);
        }
        args.extend(["--epochs", "1", "--out", out]);
        check(&args, file, expected);
    }
}

#[test]
fn a_file_that_crashes_libhdf5_fails_embed_eval_and_transfer_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::tiny_config(dir.path(), "tiny.toml", "[train]\nepochs = 1\n");
    let out = dir.path().join("runs");
    let train = common::ok(&common::cellscope(&[
        "train",
        common::fixture("scanpy/counts.h5ad").to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let run = common::run_dir(&train);
    let run = run.to_str().unwrap();
    let file = "fixtures/bad/hdf5_segfault_metadata_cache.h5ad";
    let bad = tests_dir().join(file);
    let bad = bad.to_str().unwrap();
    let copy = dir.path().join("embedded.h5ad");
    let commands: [&[&str]; 3] = [
        &["embed", run, "--data", bad, "--out", copy.to_str().unwrap()],
        &["eval", run, "--data", bad],
        &["transfer", run, "--target", bad, "--label", "cell_type"],
    ];
    for args in commands {
        check(args, file, "the file is corrupt: the HDF5 library crashed");
    }
}
