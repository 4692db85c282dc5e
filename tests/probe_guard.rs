//! The HDF5 crash probe as a library caller installs it: readers in this very process return
//! "the file is corrupt" for a file that segfaults libhdf5, and probe each file version once.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cellscope::data::{self, DataError, probe};

#[test]
fn an_installed_probe_turns_a_libhdf5_crash_into_an_error_and_probes_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    // The prober: a script that logs each call, then runs the real binary's probe.
    let log = dir.path().join("calls.log");
    let script = dir.path().join("probe.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec '{}' {} \"$@\"\n",
            log.display(),
            env!("CARGO_BIN_EXE_cellscope"),
            probe::PROBE_COMMAND
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(probe::install(probe::Prober {
        program: script,
        args: vec![],
        timeout: None,
    }));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let good = fixtures.join("scanpy/counts.h5ad");
    let bad = fixtures.join("bad/hdf5_segfault_global_heap.h5ad");

    let summary = data::summarize(&good).unwrap();
    assert_eq!(summary.n_cells, 300);
    data::read_dataset(&good, "X").unwrap();
    match data::summarize(&bad) {
        Err(DataError::Corrupt { detail, .. }) => {
            assert!(detail.contains("segmentation fault"), "{detail}")
        }
        other => panic!("expected a corrupt-file error, got {other:?}"),
    }
    assert!(matches!(
        data::read_dataset(&bad, "X"),
        Err(DataError::Corrupt { .. })
    ));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.lines().count(), 2, "one probe per file:\n{calls}");
}
