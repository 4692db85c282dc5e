//! The Runs pane: a table of every sweep (one row each, its best combination) and run directory
//! (method, dataset, status, epochs, best validation loss, headline metric), with the selected
//! row's details or two marked runs compared; an open sweep's table instead when there is one.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState,
};

use crate::train::catalog::RunInfo;
use crate::train::detached::RunStatus;
use crate::tui::app::App;
use crate::tui::runs::state::{Entry, RunsState, headline};
use crate::tui::runs::sweeps::{SweepInfo, combination_label};
use crate::tui::theme::Theme;

use crate::analysis::transfer::report::fmt_stat;
use crate::sweep::table::vs_cell;
use crate::tui::panes::{truncate, truncate_left};

/// Table on top, details or comparison below.
fn layout(body: Rect) -> [Rect; 2] {
    let panel = (body.height / 2).max(8.min(body.height));
    Layout::vertical([Constraint::Min(0), Constraint::Length(panel)]).areas(body)
}

/// The rows of the run table (inside its border, below the header) and the index of the first
/// row shown there, as the table scrolls to keep the selection visible.
pub fn run_rows(body: Rect, s: &RunsState) -> (Rect, usize) {
    let table = if s.is_empty() { body } else { layout(body)[0] };
    body_rows(table, s.cursor)
}

/// The rows of a bordered table with a header drawn in `area` and the index of the first row
/// shown there, as ratatui scrolls it to keep row `cursor` visible.
pub fn body_rows(area: Rect, cursor: usize) -> (Rect, usize) {
    let inner = Block::bordered().inner(area);
    let rows = Rect {
        y: inner.y.saturating_add(1),
        height: inner.height.saturating_sub(1),
        ..inner
    };
    let first = cursor.saturating_sub(usize::from(rows.height.max(1)) - 1);
    (rows, first)
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let theme = app.theme;
    if let Some((sweep, view)) = app.runs.open_sweep() {
        super::sweep_view::draw(frame, sweep, view, &theme, body);
        return;
    }
    if app.runs.is_empty() {
        draw_table(frame, &app.runs, &theme, &app.config.train.out_dir, body);
        return;
    }
    let [table, panel] = layout(body);
    draw_table(frame, &app.runs, &theme, &app.config.train.out_dir, table);
    match (app.runs.compared(), app.runs.entry(app.runs.cursor)) {
        (Some(pair), _) => draw_compare(frame, pair, &theme, panel),
        (None, Some(Entry::Run(run))) => draw_details(frame, run, &theme, panel),
        (None, Some(Entry::Sweep(sweep))) => draw_sweep_details(frame, sweep, &theme, panel),
        (None, None) => {}
    }
}

fn status_style(status: RunStatus, theme: &Theme) -> Style {
    match status {
        RunStatus::Running | RunStatus::Finished => theme.ok(),
        RunStatus::Paused | RunStatus::Stopped => theme.warn(),
        RunStatus::Failed | RunStatus::Died => theme.error(),
    }
}

/// The headline figure, value first so a narrow column cuts the name, not the number.
fn fmt_metric((name, value): &(String, f64)) -> String {
    format!("{value:.3} {name}")
}

/// A figure to 4 decimals, a whole number (a count) without decimals.
fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}

fn draw_table(frame: &mut Frame, s: &RunsState, theme: &Theme, out_dir: &str, area: Rect) {
    let title = Line::from(vec![
        Span::styled(" Runs ", theme.accent()),
        Span::styled(format!("in {out_dir} "), theme.dim()),
    ]);
    let hint = match (s.scanning, s.marked.len()) {
        (true, _) => " scanning… ".to_string(),
        (false, 0) => " Space marks two runs to compare ".to_string(),
        (false, n) => format!(" {n}/2 marked "),
    };
    let block = Block::bordered()
        .title(title)
        .title_bottom(Line::styled(hint, theme.dim()).right_aligned());
    if s.is_empty() {
        let text = if s.scanned {
            "No runs yet: start one in the Train tab or with `cellscope train`."
        } else {
            "Scanning the runs directory…"
        };
        frame.render_widget(
            Paragraph::new(Line::styled(text, theme.dim())).block(block),
            area,
        );
        return;
    }
    let header = Row::new([
        "", "method", "dataset", "status", "epochs", "best val", "metric",
    ])
    .style(theme.accent());
    let rows = s.entries().map(|entry| match entry {
        Entry::Sweep(sweep) => sweep_row(sweep, theme),
        Entry::Run(run) => {
            let mark = if s.is_marked(&run.name) { "●" } else { " " };
            Row::new([
                Cell::from(Span::styled(mark, theme.key())),
                Cell::from(run.method_text()),
                Cell::from(run.dataset.clone()),
                Cell::from(Span::styled(
                    run.status.label(),
                    status_style(run.status, theme),
                )),
                Cell::from(run.epochs_text()),
                Cell::from(run.best_val_text()),
                Cell::from(headline(run).map_or_else(|| "-".into(), fmt_metric)),
            ])
        }
    });
    let widths = [
        Constraint::Length(1),
        Constraint::Length(8),
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(theme.selected())
        .highlight_symbol("▸")
        .block(block);
    let mut state = TableState::default().with_selected(Some(s.cursor));
    frame.render_stateful_widget(table, area, &mut state);
}

/// A sweep as one row: its name, runs finished of asked (under epochs) and its best combination.
fn sweep_row(sweep: &SweepInfo, theme: &Theme) -> Row<'static> {
    let (status, style) = match (&sweep.contents, sweep.complete()) {
        (Err(_), _) => ("error", theme.error()),
        (Ok(_), true) => ("done", theme.ok()),
        (Ok(_), false) => ("partial", theme.warn()),
    };
    Row::new([
        Cell::from(Span::styled("Σ", theme.key())),
        Cell::from("sweep"),
        Cell::from(sweep.name.clone()),
        Cell::from(Span::styled(status, style)),
        Cell::from(sweep.runs_text()),
        Cell::from("-"),
        Cell::from(best_text(sweep)),
    ])
}

/// The best combination's mean kNN macro-F1, value first: "0.812 masked r0.50".
fn best_text(sweep: &SweepInfo) -> String {
    sweep
        .best()
        .and_then(|c| Some((c.knn_macro_f1.as_ref()?.ssl.mean, combination_label(c))))
        .map_or_else(|| "-".into(), |(f1, label)| format!("{f1:.3} {label}"))
}

fn draw_sweep_details(frame: &mut Frame, sweep: &SweepInfo, theme: &Theme, area: Rect) {
    let block = Block::bordered().title(Span::styled(
        format!(" sweep · {} ", sweep.name),
        theme.accent(),
    ));
    let width = usize::from(block.inner(area).width).saturating_sub(10);
    let field = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<10}"), theme.dim()),
            Span::raw(truncate(&v, width)),
        ])
    };
    let lines = match &sweep.contents {
        Err(e) => vec![Line::styled(e.clone(), theme.error())],
        Ok(c) => {
            let t = &c.table;
            let best = sweep.best().map_or_else(
                || "none yet (no finished run)".into(),
                |b| {
                    let knn = b.knn_macro_f1.as_ref();
                    format!(
                        "{}: kNN macro-F1 {} ({} vs PCA)",
                        combination_label(b),
                        fmt_stat(knn.map(|k| k.ssl), "±"),
                        vs_cell(knn)
                    )
                },
            );
            vec![
                field("data", t.data.display().to_string()),
                field(
                    "runs",
                    format!("{} of {} finished", t.runs_done, t.runs_asked),
                ),
                field(
                    "rows",
                    format!("{} combinations and PCA-{}", t.rows.len(), c.pca_components),
                ),
                field("best", best),
                Line::raw(""),
                Line::styled(
                    truncate(
                        "Enter opens the sweep's table; there Enter opens a row's run.",
                        width + 10,
                    ),
                    theme.dim(),
                ),
            ]
        }
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The lines describing one run: name, status, epochs, best val and every metric.
fn run_lines(run: &RunInfo, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let field = |k: &str, v: String, style: Style| {
        Line::from(vec![
            Span::styled(format!("{k:<10}"), theme.dim()),
            Span::styled(truncate(&v, width.saturating_sub(10)), style),
        ])
    };
    let mut lines = vec![
        field("run", run.name.clone(), theme.text()),
        field(
            "status",
            run.status.label().into(),
            status_style(run.status, theme),
        ),
        field("epochs", run.epochs_text(), theme.text()),
        field("best val", run.best_val_text(), theme.text()),
    ];
    if let Some(source) = run.imported_from() {
        lines.push(field("imported", source.into(), theme.text()));
    }
    if run.metrics.is_empty() {
        lines.push(field("metrics", "none yet".into(), theme.dim()));
    }
    lines.extend(run.metrics.iter().map(|(k, v)| {
        Line::from(vec![
            Span::styled(format!("{:<28}", truncate(k, 27)), theme.dim()),
            Span::raw(fmt_value(*v)),
        ])
    }));
    lines
}

fn draw_details(frame: &mut Frame, run: &RunInfo, theme: &Theme, area: Rect) {
    let block = Block::bordered().title(Span::styled(
        format!(" {} · {} ", run.method, run.dataset),
        theme.accent(),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width < 30 {
        let lines = run_lines(run, theme, usize::from(inner.width));
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    }
    let [text, chart] = Layout::horizontal([Constraint::Length(36), Constraint::Min(0)])
        .spacing(2)
        .areas(inner);
    frame.render_widget(
        Paragraph::new(run_lines(run, theme, usize::from(text.width))),
        text,
    );
    draw_curves(frame, &[(run, theme.val_series())], theme, chart);
}

fn draw_compare(frame: &mut Frame, pair: [&RunInfo; 2], theme: &Theme, area: Rect) {
    let styles = [theme.val_series(), theme.train_series()];
    let block = Block::bordered().title(Line::from(vec![
        Span::styled(" Compare ", theme.accent()),
        Span::styled(format!("{} ", pair[0].name), styles[0]),
        Span::styled("vs ", theme.dim()),
        Span::styled(format!("{} ", pair[1].name), styles[1]),
    ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [chart, table] = Layout::horizontal([Constraint::Percentage(55), Constraint::Min(0)])
        .spacing(2)
        .areas(inner);
    draw_curves(
        frame,
        &[(pair[0], styles[0]), (pair[1], styles[1])],
        theme,
        chart,
    );
    draw_side_by_side(frame, pair, styles, theme, table);
}

/// The figures of two runs in two columns: fixed fields, then every metric either run has.
fn draw_side_by_side(
    frame: &mut Frame,
    pair: [&RunInfo; 2],
    styles: [Style; 2],
    theme: &Theme,
    area: Rect,
) {
    let mut names: Vec<&String> = Vec::new();
    for (name, _) in pair.iter().flat_map(|r| &r.metrics) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let metric = |run: &RunInfo, name: &str| {
        run.metrics
            .iter()
            .find(|(k, _)| k == name)
            .map_or_else(|| "-".into(), |(_, v)| fmt_value(*v))
    };
    let mut rows = vec![
        Row::new([
            "status".to_string(),
            pair[0].status.label().into(),
            pair[1].status.label().into(),
        ]),
        Row::new([
            "epochs".to_string(),
            pair[0].epochs_text(),
            pair[1].epochs_text(),
        ]),
        Row::new([
            "best val".to_string(),
            pair[0].best_val_text(),
            pair[1].best_val_text(),
        ]),
    ];
    // Keys share their start (`eval.knn_macro_f1.`): a narrow column keeps their ends.
    let name_width = usize::from(area.width).saturating_sub(20);
    rows.extend(names.iter().map(|n| {
        Row::new([
            truncate_left(n, name_width),
            metric(pair[0], n),
            metric(pair[1], n),
        ])
    }));
    let header = Row::new([
        Cell::from(""),
        Cell::from(Span::styled(pair[0].method.clone(), styles[0])),
        Cell::from(Span::styled(pair[1].method.clone(), styles[1])),
    ]);
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(9),
        Constraint::Length(9),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(header.style(theme.accent()))
            .style(theme.text()),
        area,
    );
}

/// Validation loss per epoch of one or two runs on shared axes.
fn draw_curves(frame: &mut Frame, runs: &[(&RunInfo, Style)], theme: &Theme, area: Rect) {
    let points: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|(r, _)| {
            r.val_curve
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| ((i + 1) as f64, f64::from(*v)))
                .collect()
        })
        .collect();
    let all = points.iter().flatten();
    let max_x = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    if !lo.is_finite() {
        frame.render_widget(
            Paragraph::new(Line::styled("no validation loss yet", theme.dim())),
            area,
        );
        return;
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let (lo, hi) = (lo - pad, hi + pad);
    let datasets = runs
        .iter()
        .zip(&points)
        .map(|((run, style), pts)| {
            Dataset::default()
                .name(run.method.clone())
                .marker(theme.marker)
                .graph_type(GraphType::Line)
                .style(*style)
                .data(pts)
        })
        .collect();
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .title(Span::styled("epoch", theme.dim()))
                .bounds([1.0, max_x.max(2.0)])
                .labels(["1".to_string(), format!("{max_x:.0}")])
                .style(theme.dim()),
        )
        .y_axis(
            Axis::default()
                .title(Span::styled("val loss", theme.dim()))
                .bounds([lo, hi])
                .labels([format!("{lo:.2}"), format!("{hi:.2}")])
                .style(theme.dim()),
        );
    frame.render_widget(chart, area);
}
