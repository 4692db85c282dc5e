//! The bundled files the demo uses: the pbmc68k transfer target reads, and its label map folds
//! every pbmc68k label but the progenitors into classes the Bassez demo shares.

use std::collections::BTreeSet;

use cellscope::analysis::transfer::labels::read_label_map;
use cellscope::data::read_dataset;

#[test]
fn the_bundled_transfer_target_and_label_map_fit_the_demo() {
    let (target, map) = cellscope::demo_transfer_target();
    let pbmc = read_dataset(&target, "X").unwrap();
    assert_eq!((pbmc.n_cells(), pbmc.n_genes()), (700, 765));
    let map = read_label_map(&map).unwrap();
    let (codes, labels) = pbmc.obs_column("cell_type").unwrap().as_labels().unwrap();
    let unmapped: Vec<&String> = labels.iter().filter(|l| !map.contains_key(*l)).collect();
    assert_eq!(unmapped, ["CD34+"], "only the progenitors have no class");
    let dropped = codes
        .iter()
        .filter(|c| c.is_some_and(|c| labels[c] == "CD34+"))
        .count();
    assert!(dropped < 20, "{dropped} cells dropped");

    // Each coarse class is one the demo has cells of.
    let demo = read_dataset(&cellscope::demo_dataset(), "X").unwrap();
    let (_, demo_labels) = demo.obs_column("cell_type").unwrap().as_labels().unwrap();
    fn demo_class(l: &str) -> &str {
        match l {
            "CD4_T" | "Treg" => "T_CD4",
            "CD8_T" => "T_CD8",
            "B_naive" | "B_memory" => "B",
            "MDC" => "myeloid",
            other => other,
        }
    }
    let demo_classes: BTreeSet<&str> = demo_labels.iter().map(|l| demo_class(l)).collect();
    let classes: BTreeSet<&str> = map.values().map(String::as_str).collect();
    assert!(
        classes.is_subset(&demo_classes),
        "{classes:?} not all in {demo_classes:?}"
    );
    assert_eq!(classes.len(), 6);
}
