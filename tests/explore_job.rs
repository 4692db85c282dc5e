//! The analysis job behind the Embeddings and Genes panes, end to end: a tiny masked run on the
//! bundled demo, then `analysis::run_analysis::analyse` (what the UI runs on its background thread).

mod common;

use cellscope::analysis::run_analysis::{Step, analyse};
use common::{cellscope, ok, run_dir, tiny_config};

#[test]
fn the_job_embeds_lays_out_clusters_scores_and_reconstructs_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(
        dir.path(),
        "small.toml",
        "[train]\nbatch_size = 64\nepochs = 1\n[analysis]\nlayout_max_cells = 200\n",
    );
    let out = dir.path().join("runs");
    let trained = cellscope(&[
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let run = run_dir(&ok(&trained));

    let (mut stages, mut embedded) = (Vec::new(), (0, 0));
    let mut report = |step: Step| match step {
        Step::Stage(s) => stages.push(s),
        Step::Embedded(done, total) => embedded = (done, total),
    };
    let a = analyse(&run, None, &mut report, &|| true).unwrap();
    let n = a.n_cells();
    assert!(n > 100, "{n} cells");
    assert_eq!(embedded, (n, n), "progress reaches every cell");
    assert_eq!(stages.first(), Some(&"loading the run and its data"));
    assert_eq!((a.tsne.len(), a.pca.len()), (n, n));
    assert!(a.tsne.iter().chain(&a.pca).flatten().all(|v| v.is_finite()));
    assert_eq!(a.groupings[0].name, "k-means");
    assert_eq!(a.groupings[1].name, "Leiden");
    for g in &a.groupings {
        assert_eq!(
            g.counts.iter().sum::<usize>(),
            g.codes.iter().flatten().count()
        );
        assert_eq!(g.markers.len(), g.names.len());
    }
    let scores = a.scores.as_ref().unwrap();
    assert_eq!(scores.label, "cell_type");
    assert!(a.groupings.iter().any(|g| g.name == "cell_type"));
    let prediction = scores.prediction.as_ref().unwrap();
    assert_eq!(prediction.cv.folds, 5);
    let f1 = &prediction.knn_macro_f1;
    assert!(
        (0.0..=1.0).contains(&f1.ssl) && (0.0..=1.0).contains(&f1.pca),
        "{f1:?}"
    );
    assert_eq!(f1.folds.diff.len(), 5);
    assert_eq!(scores.pca_components, 50);
    let recon = a.recon.as_ref().unwrap();
    assert_eq!(recon.genes.len(), a.genes.len());
    assert!(recon.ev_weighted <= 1.0);
    // Per-cell errors of held-out cells, one per gene, for colouring by a gene's error.
    let errors = a.errors.as_ref().unwrap();
    assert!(!errors.cells.is_empty());
    assert_eq!(errors.values.len(), errors.cells.len() * a.genes.len());
    assert!(errors.values.iter().all(|v| v.is_finite() && *v >= 0.0));
    // The colouring data covers the genes: the most expressed gene has cells.
    assert!((0..a.genes.len()).any(|g| !a.expression.column(g).0.is_empty()));
    // A superseded job stops at its next step with a clear error.
    let e = analyse(&run, None, &mut |_| {}, &|| false).unwrap_err();
    assert!(e.to_string().contains("superseded"), "{e}");
}
