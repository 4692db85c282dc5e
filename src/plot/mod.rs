//! Figures for slides and papers (plotters, SVG or PNG, 1600x1000 px): loss curves, a 2-D
//! embedding coloured by groups with a legend, grouped bars (SSL vs PCA scores, per-class F1)
//! and a confusion matrix. Text uses the bundled DejaVu Sans, so no system fonts are needed.

mod draw;

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

/// Width and height of every figure, in pixels.
pub const SIZE: (u32, u32) = (1600, 1000);

/// The font every figure's text uses (DejaVu Sans, bundled; see assets/fonts).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// An image format `plot` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Svg => "svg",
            Self::Png => "png",
        }
    }
}

/// One figure's content.
#[derive(Debug, Clone)]
pub enum Figure {
    /// Train and validation loss per epoch (epoch, loss).
    Loss {
        train: Vec<(f64, f64)>,
        val: Vec<(f64, f64)>,
    },
    /// Points coloured by group (`None` = no group, drawn grey), with a legend of group names.
    Scatter {
        title: String,
        points: Vec<(f64, f64)>,
        groups: Vec<Option<usize>>,
        names: Vec<String>,
    },
    /// Bars per group, one per series side by side (NaN = not drawn).
    Bars {
        title: String,
        y_label: String,
        groups: Vec<String>,
        series: Vec<(String, Vec<f64>)>,
    },
    /// Counts of true (rows) x predicted (columns) classes, shaded by row share.
    Confusion {
        title: String,
        classes: Vec<String>,
        counts: Vec<Vec<u64>>,
    },
}

/// Writes `figure` to `path` in `format` at `SIZE`.
pub fn write(figure: &Figure, path: &Path, format: Format) -> anyhow::Result<()> {
    register_font()?;
    let fail = |e: String| anyhow::anyhow!("{}: cannot draw the figure: {e}", path.display());
    match format {
        Format::Svg => draw::figure(figure, SVGBackend::new(path, SIZE).into_drawing_area()),
        Format::Png => draw::figure(figure, BitMapBackend::new(path, SIZE).into_drawing_area()),
    }
    .map_err(fail)
}

fn register_font() -> anyhow::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    anyhow::ensure!(ok, "the bundled font could not be loaded");
    Ok(())
}
