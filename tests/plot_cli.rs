//! `cellscope plot`: every figure of a run that was trained, evaluated and transferred (to the
//! bundled pbmc68k target) is written as a valid SVG and PNG of 1600x1000 px.

mod common;

use std::path::Path;

use common::{cellscope, ok, run_dir, tiny_config};

/// Width and height of a PNG from its IHDR chunk (None when not a PNG).
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let signature = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
    if bytes.len() < 24 || bytes[..8] != signature || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&bytes[16..20]), be(&bytes[20..24])))
}

/// Width and height declared by a whole SVG document (None when not one).
fn svg_size(text: &str) -> Option<(u32, u32)> {
    let open = &text[text.find("<svg")?..];
    let open = &open[..open.find('>')?];
    let attr = |name: &str| -> Option<u32> {
        let at = open.find(&format!(" {name}=\""))? + name.len() + 3;
        open[at..].split('"').next()?.parse().ok()
    };
    text.trim_end()
        .ends_with("</svg>")
        .then_some(())
        .and(Some((attr("width")?, attr("height")?)))
}

#[test]
fn plot_writes_every_figure_as_svg_and_png_of_the_stated_size() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(
        dir.path(),
        "tiny.toml",
        "[train]\nepochs = 2\n[analysis]\nlayout_max_cells = 150\n[transfer]\nepochs = 2\nseeds = 1\n",
    );
    let cfg = cfg.to_str().unwrap();
    let runs = dir.path().join("runs");
    let run = run_dir(&ok(&cellscope(&[
        "train",
        "--config",
        cfg,
        "--out",
        runs.to_str().unwrap(),
    ])));
    let run_s = run.to_str().unwrap();
    ok(&cellscope(&["eval", run_s, "--config", cfg]));
    let (target, map) = cellscope::demo_transfer_target();
    ok(&cellscope(&[
        "transfer",
        run_s,
        "--config",
        cfg,
        "--target",
        target.to_str().unwrap(),
        "--label",
        "cell_type",
        "--label-map",
        map.to_str().unwrap(),
    ]));

    let out = dir.path().join("figures");
    let printed = ok(&cellscope(&["plot", run_s, "--out", out.to_str().unwrap()]));
    let names = [
        "loss",
        "embedding_label",
        "embedding_cluster",
        "scores",
        "transfer_confusion",
        "transfer_f1",
    ];
    for name in names {
        let svg = out.join(format!("{name}.svg"));
        let png = out.join(format!("{name}.png"));
        assert!(printed.contains(&svg.display().to_string()), "{printed}");
        let text = std::fs::read_to_string(&svg).unwrap();
        assert_eq!(svg_size(&text), Some((1600, 1000)), "{name}.svg");
        assert!(text.contains("<text"), "{name}.svg has no text");
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(png_size(&bytes), Some((1600, 1000)), "{name}.png");
    }

    // One format on request, into the run directory by default.
    let only = ok(&cellscope(&["plot", run_s, "--format", "png"]));
    assert!(Path::new(&run.join("loss.png")).is_file(), "{only}");
    assert!(!run.join("loss.svg").exists());
}
