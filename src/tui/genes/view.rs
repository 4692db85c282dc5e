//! The Genes pane: held-out reconstruction of a masked run: overall weighted and uniform explained
//! variance, a sortable, searchable per-gene table (MSE, Pearson r, EV) and an error histogram.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use crate::analysis::embed::ReconSummary;
use crate::tui::app::App;
use crate::tui::embeddings::state::AnalysisStatus;
use crate::tui::genes::state::{GeneColumn, GenesState};
use crate::tui::theme::Theme;

use crate::tui::panes::{fmt_count, truncate};

/// The summary box, the gene table and the histogram.
fn layout(body: Rect) -> [Rect; 3] {
    let [summary, rest] = Layout::vertical([Constraint::Length(4), Constraint::Min(0)]).areas(body);
    let hist = if body.width >= 110 { 44 } else { 34 }.min(body.width / 2);
    let [table, histogram] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(hist)]).areas(rest);
    [summary, table, histogram]
}

/// The rows of the gene table (inside its border, below its header), for paging.
pub fn table_rows(body: Rect) -> Rect {
    let inner = Block::bordered().inner(layout(body)[1]);
    Rect {
        y: inner.y + 1,
        height: inner.height.saturating_sub(1),
        ..inner
    }
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let (g, theme) = (&app.genes, &app.theme);
    let recon = match (&app.embeddings.status, &g.recon) {
        (AnalysisStatus::Ready, Some(r)) => r,
        (status, _) => {
            return crate::tui::embeddings::view::draw_status(frame, status, theme, "Genes", body);
        }
    };
    let run = app
        .embeddings
        .analysis
        .as_ref()
        .map_or_else(String::new, |a| a.run_name.clone());
    let summary = match recon {
        Ok(r) => r,
        Err(note) => {
            let block =
                Block::bordered().title(Span::styled(format!(" Genes · {run} "), theme.accent()));
            let text = vec![
                Line::styled(note.clone(), theme.warn()),
                Line::raw(""),
                Line::styled(
                    "Per-gene reconstruction needs a decoder: train with a masked method.",
                    theme.dim(),
                ),
            ];
            frame.render_widget(
                Paragraph::new(text).wrap(Wrap { trim: true }).block(block),
                body,
            );
            return;
        }
    };
    let [head, table, histogram] = layout(body);
    draw_summary(frame, summary, &run, theme, head);
    draw_table(frame, g, theme, table);
    draw_histogram(frame, g, theme, histogram);
}

fn draw_summary(frame: &mut Frame, r: &ReconSummary, run: &str, theme: &Theme, area: Rect) {
    let block = Block::bordered().title(Span::styled(
        format!(" Reconstruction of held-out cells · {run} "),
        theme.accent(),
    ));
    let field = |k: &str, v: String| {
        vec![
            Span::styled(format!("{k} "), theme.dim()),
            Span::raw(format!("{v}   ")),
        ]
    };
    let first = [
        field(
            "explained variance: weighted",
            format!("{:.3}", r.ev_weighted),
        ),
        field("uniform", format!("{:.3}", r.ev_uniform)),
    ];
    let second = [
        field("held-out cells", fmt_count(r.n_cells)),
        field("genes", fmt_count(r.genes.len())),
        field("MSE", format!("{:.4}", r.mse)),
    ];
    let lines = vec![Line::from(first.concat()), Line::from(second.concat())];
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// A number to 4 decimals, "n/a" when undefined.
fn number(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "n/a".into(), |v| format!("{v:.4}"))
}

fn draw_table(frame: &mut Frame, g: &GenesState, theme: &Theme, area: Rect) {
    let arrow = if g.descending { "▼" } else { "▲" };
    let header = Row::new(GeneColumn::ALL.map(|c| {
        let title = if c == g.sort {
            format!("{}{arrow}", c.title())
        } else {
            c.title().to_string()
        };
        match c {
            GeneColumn::Gene => Cell::from(title),
            _ => Cell::from(Line::raw(title).right_aligned()),
        }
    }))
    .style(theme.accent());
    let genes = g.genes();
    let rows = g.visible.iter().map(|&i| {
        let r = &genes[i];
        Row::new([
            Cell::from(r.gene.clone()),
            Cell::from(Line::raw(number(Some(r.mse))).right_aligned()),
            Cell::from(Line::raw(number(r.pearson)).right_aligned()),
            Cell::from(Line::raw(number(Some(r.explained_variance))).right_aligned()),
        ])
    });
    let title = Line::from(vec![
        Span::styled(" Genes ", theme.accent()),
        Span::styled(
            format!(
                "{} of {} ",
                fmt_count(g.visible.len()),
                fmt_count(genes.len())
            ),
            theme.dim(),
        ),
    ]);
    let hint = if g.query.is_empty() {
        " s sort · o reverse · Enter colour ".to_string()
    } else {
        format!(" search: {} ", truncate(&g.query, 20))
    };
    let block = Block::bordered()
        .title(title)
        .title_bottom(Line::styled(hint, theme.dim()).right_aligned());
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(10),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(theme.selected())
        .block(block);
    let mut state = TableState::default().with_selected(g.selected().map(|_| g.cursor));
    frame.render_stateful_widget(table, area, &mut state);
}

/// A histogram bin edge with three significant digits (0.123, 1.23, 12.3, 123).
fn bin_edge(v: f64) -> String {
    let decimals = match v.abs() {
        a if a < 1.0 => 3,
        a if a < 10.0 => 2,
        a if a < 100.0 => 1,
        _ => 0,
    };
    format!("{v:.decimals$}")
}

fn draw_histogram(frame: &mut Frame, g: &GenesState, theme: &Theme, area: Rect) {
    let block = Block::bordered().title(Span::styled(" Per-gene MSE ", theme.accent()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let most = g
        .histogram
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(0)
        .max(1);
    let labels: Vec<String> = g
        .histogram
        .iter()
        .map(|b| format!("{}-{}", bin_edge(b.lo), bin_edge(b.hi)))
        .collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 1;
    let bar_room = usize::from(inner.width).saturating_sub(label_width + 7);
    let lines: Vec<Line> = g
        .histogram
        .iter()
        .zip(&labels)
        .map(|(b, label)| {
            let bar = (b.count * bar_room).div_ceil(most);
            Line::from(vec![
                Span::styled(format!("{label:<label_width$}"), theme.dim()),
                Span::styled("█".repeat(bar), theme.bars()),
                Span::raw(format!(" {}", fmt_count(b.count))),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
