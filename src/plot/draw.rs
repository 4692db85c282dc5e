//! Drawing each kind of figure on any plotters backend.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Figure, SIZE};

type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

const FONT: &str = "sans-serif";
const TITLE: u32 = 40;
const LABEL: u32 = 28;
/// Legend entries listed at most (then "… N more").
const LEGEND_MAX: usize = 22;
/// Pixels right of a bar chart kept for its legend.
const LEGEND_WIDTH: i32 = 240;

/// Draws `figure` on `root` and writes it out.
pub fn figure<DB: DrawingBackend>(
    figure: &Figure,
    root: DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let drawn = (|| -> Drawn<DB> {
        root.fill(&WHITE)?;
        match figure {
            Figure::Loss { train, val } => loss(&root, train, val)?,
            Figure::Scatter {
                title,
                points,
                groups,
                names,
            } => scatter(&root, title, points, groups, names)?,
            Figure::Bars {
                title,
                y_label,
                groups,
                series,
            } => bars(&root, title, y_label, groups, series)?,
            Figure::Confusion {
                title,
                classes,
                counts,
            } => confusion(&root, title, classes, counts)?,
        }
        root.present()
    })();
    drawn.map_err(|e| e.to_string())
}

/// The colour of group `i` (a palette of 99 distinct colours).
fn colour(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// Low and high of the finite values, padded by 5% (a unit range when there are none).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

fn loss<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    train: &[(f64, f64)],
    val: &[(f64, f64)],
) -> Drawn<DB> {
    let x_max = train.iter().chain(val).map(|p| p.0).fold(2.0, f64::max);
    let (lo, hi) = padded(train.iter().chain(val).map(|p| p.1));
    let mut chart = ChartBuilder::on(root)
        .caption("Loss per epoch", (FONT, TITLE))
        .margin(30)
        .x_label_area_size(80)
        .y_label_area_size(110)
        .build_cartesian_2d(1.0..x_max, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("loss")
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, LABEL + 4))
        .draw()?;
    for (name, points, c) in [("train", train, BLUE), ("validation", val, RED)] {
        let finite = points.iter().copied().filter(|p| p.1.is_finite());
        chart
            .draw_series(LineSeries::new(finite.clone(), c.stroke_width(4)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(4)));
        chart.draw_series(finite.map(|p| Circle::new(p, 6, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, LABEL + 2))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
}

fn scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[(f64, f64)],
    groups: &[Option<usize>],
    names: &[String],
) -> Drawn<DB> {
    let (plot, legend) = root.split_horizontally(1200);
    let (x0, x1) = padded(points.iter().map(|p| p.0));
    let (y0, y1) = padded(points.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, (FONT, TITLE))
        .margin(30)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("t-SNE 1")
        .y_desc("t-SNE 2")
        .label_style((FONT, LABEL - 6))
        .axis_desc_style((FONT, LABEL + 4))
        .draw()?;
    let grey = RGBColor(190, 190, 190);
    let unlabelled = points.iter().zip(groups).filter(|(_, g)| g.is_none());
    chart.draw_series(unlabelled.map(|(&p, _)| Circle::new(p, 4, grey.filled())))?;
    for g in 0..names.len() {
        let c = colour(g);
        let mine = points.iter().zip(groups).filter(|(_, x)| **x == Some(g));
        chart.draw_series(mine.map(|(&p, _)| Circle::new(p, 5, c.filled())))?;
    }
    let mut counts = vec![0usize; names.len()];
    for g in groups.iter().flatten() {
        counts[*g] += 1;
    }
    let row = 38;
    let style = TextStyle::from((FONT, LABEL).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, name) in names.iter().enumerate().take(LEGEND_MAX) {
        let y = 110 + row * i as i32;
        legend.draw(&Circle::new((20, y), 10, colour(i).filled()))?;
        legend.draw(&Text::new(
            format!("{name} ({})", counts[i]),
            (42, y),
            style.clone(),
        ))?;
    }
    if names.len() > LEGEND_MAX {
        let y = 110 + row * LEGEND_MAX as i32;
        let more = format!("… {} more", names.len() - LEGEND_MAX);
        legend.draw(&Text::new(more, (42, y), style))?;
    }
    Ok(())
}

fn bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[(String, Vec<f64>)],
) -> Drawn<DB> {
    let values = series.iter().flat_map(|(_, v)| v.iter().copied());
    let (lo, hi) = padded(values.chain([0.0, 1.0]));
    let n = groups.len().max(1) as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, TITLE))
        .margin(30)
        .margin_right(LEGEND_WIDTH)
        .x_label_area_size(90)
        .y_label_area_size(110)
        .build_cartesian_2d((0..n - 1).into_segmented(), lo..hi)?;
    let label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => groups.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups.len() + 1)
        .x_label_formatter(&label)
        .y_desc(y_label)
        .label_style((FONT, LABEL - 4))
        .axis_desc_style((FONT, LABEL + 4))
        .draw()?;
    let k = series.len().max(1) as f64;
    for (s, (name, values)) in series.iter().enumerate() {
        let c = colour(s);
        let boxes = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(g, &v)| {
                let left = chart.backend_coord(&(SegmentValue::Exact(g as i32), 0.0)).0;
                let right = chart
                    .backend_coord(&(SegmentValue::Exact(g as i32 + 1), 0.0))
                    .0;
                let w = f64::from(right - left) * 0.8 / k;
                let x = f64::from(left) + f64::from(right - left) * 0.1 + w * s as f64;
                let (_, y0) = chart.backend_coord(&(SegmentValue::Exact(0), 0.0));
                let (_, y1) = chart.backend_coord(&(SegmentValue::Exact(0), v));
                Rectangle::new([(x as i32, y0), ((x + w) as i32 - 2, y1)], c.filled())
            });
        for b in boxes.collect::<Vec<_>>() {
            root.draw(&b)?;
        }
        let (x, y) = (SIZE.0 as i32 - LEGEND_WIDTH + 20, 120 + 40 * s as i32);
        root.draw(&Rectangle::new([(x, y - 12), (x + 30, y + 12)], c.filled()))?;
        let style =
            TextStyle::from((FONT, LABEL).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(name.clone(), (x + 40, y), style))?;
    }
    Ok(())
}

fn confusion<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    classes: &[String],
    counts: &[Vec<u64>],
) -> Drawn<DB> {
    let n = classes.len().max(1) as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, TITLE))
        .margin(30)
        .x_label_area_size(90)
        .y_label_area_size(200)
        .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())?;
    // Row 0 (the first class) at the top.
    let name = |v: &SegmentValue<i32>, flip: bool| match v {
        SegmentValue::CenterOf(i) => {
            let i = if flip { n - 1 - i } else { *i };
            classes.get(i as usize).cloned().unwrap_or_default()
        }
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(classes.len() + 1)
        .y_labels(classes.len() + 1)
        .x_label_formatter(&|v| name(v, false))
        .y_label_formatter(&|v| name(v, true))
        .x_desc("predicted")
        .y_desc("true")
        .label_style((FONT, LABEL - 6))
        .axis_desc_style((FONT, LABEL + 4))
        .draw()?;
    let text =
        TextStyle::from((FONT, LABEL - 4).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    for (i, row) in counts.iter().enumerate().take(classes.len()) {
        let total = row.iter().sum::<u64>().max(1) as f64;
        let y = n - 1 - i as i32;
        for (j, &count) in row.iter().enumerate().take(classes.len()) {
            let share = count as f64 / total;
            let shade = |full: u8| (255.0 - share * (255.0 - f64::from(full))) as u8;
            let fill = RGBColor(shade(8), shade(48), shade(107));
            let j = j as i32;
            chart.draw_series([Rectangle::new(
                [
                    (SegmentValue::Exact(j), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(j + 1), SegmentValue::Exact(y + 1)),
                ],
                fill.filled(),
            )])?;
            let ink = if share > 0.5 { WHITE } else { BLACK };
            chart.draw_series([Text::new(
                count.to_string(),
                (SegmentValue::CenterOf(j), SegmentValue::CenterOf(y)),
                text.clone().color(&ink),
            )])?;
        }
    }
    Ok(())
}
