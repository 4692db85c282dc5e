//! The Embeddings pane: the opened run's cells as a braille scatter (t-SNE or PCA, pre-binned in
//! state), a legend with counts, the highlighted group's markers and SSL vs PCA scores
//! (cross-validated kNN and logistic-probe macro-F1 with the paired verdict, then clustering).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, LineGauge, Paragraph, Row, Table, TableState, Wrap};

use crate::analysis::embed::{EmbeddingScores, LabelScores};
use crate::analysis::paired::{Paired, Verdict};
use crate::tui::app::App;
use crate::tui::embeddings::state::{AnalysisStatus, EmbeddingsState, Ink, PlotGrid};
use crate::tui::theme::Theme;

use crate::tui::panes::{fmt_count, truncate};

/// Rows of the scores box: a header, two cross-validated metrics with their verdict lines,
/// five clustering metrics and the border.
const SCORES_HEIGHT: u16 = 12;
/// Marker genes listed at most.
const MARKER_ROWS: u16 = 6;
/// Rows the legend keeps (two entries and its border) before the markers box shrinks.
const LEGEND_MIN: u16 = 4;
/// Widths of the SSL and PCA columns of the scores box.
const SSL_WIDTH: usize = 6;
const PCA_WIDTH: usize = 7;

/// The scatter box and the side column.
fn layout(body: Rect) -> [Rect; 2] {
    let side = if body.width >= 110 { 36 } else { 30 }.min(body.width / 2);
    Layout::horizontal([Constraint::Min(0), Constraint::Length(side)]).areas(body)
}

/// The scatter's drawing area (inside its border): the state bins points for this size.
pub fn plot_area(body: Rect) -> Rect {
    Block::bordered().inner(layout(body)[0])
}

/// The side column's legend, markers (when a group is highlighted) and scores boxes; the
/// scores keep their rows first, the markers box shrinks to leave the legend two entries.
fn side_boxes(side: Rect, with_markers: bool) -> [Rect; 3] {
    let scores = SCORES_HEIGHT.min(side.height.saturating_sub(3));
    let markers = if with_markers {
        (MARKER_ROWS + 2).min(side.height.saturating_sub(LEGEND_MIN + scores))
    } else {
        0
    };
    Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(markers),
        Constraint::Length(scores),
    ])
    .areas(side)
}

/// The legend row under (x, y), for mouse selection (the table scrolls to keep the cursor shown).
pub fn legend_row_at(body: Rect, s: &EmbeddingsState, x: u16, y: u16) -> Option<usize> {
    let legend = side_boxes(layout(body)[1], s.selected_markers().is_some())[0];
    let rows = Block::bordered().inner(legend);
    if !rows.contains(ratatui::layout::Position::new(x, y)) {
        return None;
    }
    let offset = s
        .cursor
        .saturating_sub(usize::from(rows.height).saturating_sub(1));
    let i = offset + usize::from(y - rows.y);
    (i < s.legend.len()).then_some(i)
}

/// The style of an ink.
fn ink_style(ink: Ink, theme: &Theme) -> Style {
    match ink {
        Ink::Faded => theme.faded(),
        Ink::Category(i) => theme.category(usize::from(i)),
        Ink::Ramp(level) => theme.ramp(usize::from(level)),
    }
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let (s, theme) = (&app.embeddings, &app.theme);
    // A run being analysed shows its progress, a failed analysis why, unless stepped away
    // from; otherwise a snapshot stepped to (or, before any analysis, the newest) is drawn.
    let timeline = match s.status {
        AnalysisStatus::Running { .. } => false,
        AnalysisStatus::Failed { .. } => s.timeline.is_stepping(),
        AnalysisStatus::Idle | AnalysisStatus::Ready => s.timeline.shown().is_some(),
    };
    if timeline {
        return draw_timeline(frame, s, theme, body);
    }
    match &s.status {
        AnalysisStatus::Ready => {}
        status => return draw_status(frame, status, theme, "Embeddings", body),
    }
    let Some(a) = &s.analysis else { return };
    let [plot, side] = layout(body);
    let mut title = vec![
        Span::styled(format!(" {} ", s.view.title()), theme.accent()),
        Span::raw(format!("· {} · ", s.colour_name())),
        Span::styled(format!("{} cells ", fmt_count(a.n_cells())), theme.dim()),
    ];
    if s.zoom > 0 {
        title.push(Span::styled(
            format!("zoom ×{} ", 1u32 << s.zoom),
            theme.key(),
        ));
    }
    let hint = match s.timeline.len() {
        0 => " +/- zoom · HJKL pan · 0 whole ".to_string(),
        n => format!(" [ ] {n} snapshots · +/- zoom · HJKL pan · 0 whole "),
    };
    let block = Block::bordered()
        .title(Line::from(title))
        .title_bottom(Line::styled(hint, theme.dim()).right_aligned());
    frame.render_widget(block, plot);
    draw_scatter(frame, &s.grid, theme, plot_area(body));
    let [legend, marker_box, scores_box] = side_boxes(side, s.selected_markers().is_some());
    draw_legend(frame, s, theme, legend);
    draw_markers(frame, s, theme, marker_box);
    draw_scores(frame, &a.scores, theme, scores_box);
}

/// A latent snapshot of the timeline: its points in the pane's colours (one colour before
/// the run is opened), the legend when it applies, and what the keys do.
fn draw_timeline(frame: &mut Frame, s: &EmbeddingsState, theme: &Theme, body: Rect) {
    let [plot, side] = layout(body);
    let caption = s.timeline.caption().unwrap_or_default();
    let play = if s.timeline.is_playing() {
        "p pause"
    } else {
        "p play"
    };
    let back = if s.timeline.has_final_view() {
        " · Esc final"
    } else {
        ""
    };
    let block = Block::bordered()
        .title(Span::styled(format!(" {caption} "), theme.accent()))
        .title_bottom(
            Line::styled(format!(" [ ] step · {play}{back} "), theme.dim()).right_aligned(),
        );
    frame.render_widget(block, plot);
    draw_scatter(frame, &s.timeline.grid, theme, plot_area(body));
    if s.timeline.has_final_view() {
        return draw_legend(frame, s, theme, side);
    }
    let text = vec![
        Line::raw(
            "The latent space as the run trains: a fixed subsample of its cells, laid out by PCA and turned onto the previous snapshot.",
        ),
        Line::raw(""),
        Line::styled(
            "Colours come with the run's analysis: open it with Enter in the Runs tab (or o in the Train tab once it has finished).",
            theme.dim(),
        ),
    ];
    let block = Block::bordered().title(Span::styled(" Timeline ", theme.accent()));
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(block),
        side,
    );
}

/// The progress, failure or "open a run" message shared with the Genes pane.
pub fn draw_status(
    frame: &mut Frame,
    status: &AnalysisStatus,
    theme: &Theme,
    pane: &str,
    body: Rect,
) {
    let block = Block::bordered().title(Span::styled(format!(" {pane} "), theme.accent()));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    let text = match status {
        AnalysisStatus::Idle => vec![
            Line::styled("No run open.", theme.warn()),
            Line::raw(""),
            Line::raw(
                "Open one with Enter in the Runs tab, with o in the Train tab when a run has \
                 finished, or type :open RUN_DIR. The run's cells are embedded, laid out, \
                 clustered and scored against the PCA baseline in the background.",
            ),
            Line::raw(""),
            Line::styled("The same figures: cellscope eval RUN", theme.dim()),
        ],
        AnalysisStatus::Running {
            run_name,
            stage,
            done,
            total,
        } => {
            let [head, gauge] =
                Layout::vertical([Constraint::Length(2), Constraint::Length(1)]).areas(inner);
            let ratio = if *total == 0 {
                0.0
            } else {
                (*done as f64 / *total as f64).clamp(0.0, 1.0)
            };
            frame.render_widget(
                LineGauge::default()
                    .ratio(ratio)
                    .label(format!(
                        "embedded {}/{} ",
                        fmt_count(*done),
                        fmt_count(*total)
                    ))
                    .filled_style(theme.train_series())
                    .unfilled_style(theme.dim()),
                gauge,
            );
            let line = Line::from(vec![
                Span::styled(format!("analysing {run_name}: "), theme.accent()),
                Span::raw(format!("{stage}…")),
            ]);
            frame.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), head);
            return;
        }
        AnalysisStatus::Failed { run_name, message } => vec![
            Line::styled(format!("Could not analyse {run_name}:"), theme.error()),
            Line::raw(message.clone()),
        ],
        AnalysisStatus::Ready => Vec::new(),
    };
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
}

/// Copies the pre-binned grid into the buffer: one braille character (or dot) per cell.
fn draw_scatter(frame: &mut Frame, grid: &PlotGrid, theme: &Theme, area: Rect) {
    let braille = theme.marker == Marker::Braille;
    grid.render(frame.buffer_mut(), area, braille, |ink| {
        ink_style(ink, theme)
    });
}

fn draw_legend(frame: &mut Frame, s: &EmbeddingsState, theme: &Theme, area: Rect) {
    let hint = if s.highlight.is_some() {
        " Enter clears "
    } else {
        " Enter highlights "
    };
    let block = Block::bordered()
        .title(Span::styled(" Legend ", theme.accent()))
        .title_bottom(Line::styled(hint, theme.dim()).right_aligned());
    let name_width = usize::from(area.width).saturating_sub(13);
    let rows = s.legend.iter().enumerate().map(|(i, e)| {
        let lit = s.highlight.is_none_or(|h| h == i);
        let swatch = if lit { e.ink } else { Ink::Faded };
        let mark = if s.highlight == Some(i) { "▸" } else { " " };
        Row::new([
            Cell::from(Span::styled("⣿", ink_style(swatch, theme))),
            Cell::from(format!("{mark}{}", truncate(&e.name, name_width))),
            Cell::from(Line::raw(fmt_count(e.count)).right_aligned()),
        ])
    });
    let widths = [
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(7),
    ];
    let table = Table::new(rows, widths)
        .row_highlight_style(theme.selected())
        .block(block);
    let mut state = TableState::default().with_selected(Some(s.cursor));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_markers(frame: &mut Frame, s: &EmbeddingsState, theme: &Theme, area: Rect) {
    let (Some((group, markers)), Some(a)) = (s.selected_markers(), &s.analysis) else {
        return;
    };
    let block = Block::bordered().title(Span::styled(
        format!(
            " Markers of {} ",
            truncate(group, usize::from(area.width).saturating_sub(14))
        ),
        theme.accent(),
    ));
    if markers.is_empty() {
        let text = Line::styled("too few cells for a test", theme.dim());
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let rows = markers.iter().map(|m| {
        let name = a.genes.get(m.gene).map_or("?", |g| g.as_str());
        Row::new([
            name.to_string(),
            format!("{:+.2}", m.mean_diff),
            m.t.map_or_else(|| "n/a".into(), |t| format!("{t:.1}")),
        ])
    });
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    let header = Row::new(["gene", "Δmean", "t"]).style(theme.dim());
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

/// A metric to 3 decimals, "n/a" when undefined.
fn metric(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "n/a".into(), |v| format!("{v:.3}"))
}

/// A row of the scores box: the name left, the SSL and PCA figures in right-aligned columns.
fn score_line(name: &str, ssl: Span<'static>, pca: Span<'static>, width: usize) -> Line<'static> {
    let name_width = width.saturating_sub(SSL_WIDTH + PCA_WIDTH + 1);
    let pad = |s: Span<'static>, w: usize| {
        let fill = w.saturating_sub(s.content.chars().count());
        [Span::raw(" ".repeat(fill)), s]
    };
    let mut spans = vec![Span::raw(format!(
        "{:<name_width$}",
        truncate(name, name_width)
    ))];
    spans.extend(pad(ssl, SSL_WIDTH));
    spans.extend(pad(pca, PCA_WIDTH));
    Line::from(spans)
}

/// The paired difference and verdict under a cross-validated metric: "Δ+0.012 ± 0.020 better",
/// losing the sd, then the difference, where the width is short.
fn verdict_line(p: &Paired, theme: &Theme, width: usize) -> Line<'static> {
    let word = p.verdict.word();
    let style = match p.verdict {
        Verdict::Better => theme.ok(),
        Verdict::Worse => theme.warn(),
        Verdict::NoClearDifference => theme.dim(),
    };
    let heads = [
        format!(" Δ{:+.3} ± {:.3} ", p.diff, p.sd.diff),
        format!(" Δ{:+.3}±{:.3} ", p.diff, p.sd.diff),
        format!(" Δ{:+.3} ", p.diff),
        " ".to_string(),
    ];
    let fits = |h: &String| h.chars().count() + word.len() <= width;
    let head = heads.iter().find(|h| fits(h)).unwrap_or(&heads[3]);
    Line::from(vec![
        Span::styled(head.clone(), theme.dim()),
        Span::styled(word, style),
    ])
}

fn draw_scores(frame: &mut Frame, scores: &Result<LabelScores, String>, theme: &Theme, area: Rect) {
    let block = |title: &str| {
        Block::bordered().title(Span::styled(
            truncate(title, usize::from(area.width).saturating_sub(2)),
            theme.accent(),
        ))
    };
    let scores = match scores {
        Ok(s) => s,
        Err(message) => {
            let text = Paragraph::new(Line::styled(message.clone(), theme.dim()))
                .wrap(Wrap { trim: true })
                .block(block(" Scores "));
            frame.render_widget(text, area);
            return;
        }
    };
    let width = usize::from(area.width.saturating_sub(2));
    let mut lines = vec![score_line(
        "",
        Span::styled("SSL", theme.val_series()),
        Span::styled(
            format!("PCA-{}", scores.pca_components),
            theme.train_series(),
        ),
        width,
    )];
    let figure = |v: f64| Span::raw(metric(Some(v)));
    match &scores.prediction {
        Some(p) => {
            for (name, m) in [
                ("kNN F1", &p.knn_macro_f1),
                ("logistic F1", &p.logistic_macro_f1),
            ] {
                lines.push(score_line(name, figure(m.ssl), figure(m.pca), width));
                lines.push(verdict_line(m, theme, width));
            }
        }
        None => lines.push(Line::styled(
            scores
                .prediction_note
                .clone()
                .unwrap_or_else(|| "no label prediction".into()),
            theme.dim(),
        )),
    }
    type Pick = fn(&EmbeddingScores) -> Option<f64>;
    let rows: [(&str, Pick); 5] = [
        ("k-means ARI", |s| s.kmeans_ari),
        ("k-means NMI", |s| s.kmeans_nmi),
        ("Leiden ARI", |s| s.leiden_ari),
        ("Leiden NMI", |s| s.leiden_nmi),
        ("ASW", |s| s.asw),
    ];
    for (name, pick) in rows {
        let cell = |s: &EmbeddingScores| Span::raw(metric(pick(s)));
        lines.push(score_line(
            name,
            cell(&scores.ssl),
            cell(&scores.pca),
            width,
        ));
    }
    let title = match &scores.prediction {
        Some(p) => format!(" {}-fold CV vs {} ", p.cv.folds, scores.label),
        None => format!(" Scores vs {} ", scores.label),
    };
    frame.render_widget(Paragraph::new(lines).block(block(&title)), area);
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::{Color, Modifier};

    use crate::tui::app_tests::{explored_app, press, press_code};
    use crate::tui::message::Msg;
    use crate::tui::theme::Theme;

    /// The styles of the scatter's drawn cells at 120x40 with `theme`.
    fn scatter_styles(theme: Theme, highlight: bool) -> Vec<ratatui::style::Style> {
        let mut app = explored_app(600);
        app.theme = theme;
        app.update(Msg::Resize(120, 40));
        if highlight {
            press_code(&mut app, crossterm::event::KeyCode::Enter);
        }
        press(&mut app, '3');
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        terminal.draw(|f| crate::tui::panes::draw(f, &app)).unwrap();
        let plot = super::plot_area(app.body());
        let buf = terminal.backend().buffer();
        (plot.y..plot.bottom())
            .flat_map(|y| (plot.x..plot.right()).map(move |x| (x, y)))
            .map(|(x, y)| &buf[(x, y)])
            .filter(|c| c.symbol() != " ")
            .map(|c| c.style())
            .collect()
    }

    #[test]
    fn scatter_uses_named_colours_and_no_colour_at_all_under_no_color() {
        let braille = ratatui::symbols::Marker::Braille;
        let coloured = scatter_styles(Theme::new(true, braille), false);
        assert!(!coloured.is_empty());
        let colours: std::collections::HashSet<Color> =
            coloured.iter().map(|s| s.fg.unwrap()).collect();
        assert_eq!(colours.len(), 3, "one colour per cell type: {colours:?}");
        assert!(
            colours
                .iter()
                .all(|c| !matches!(c, Color::Rgb(..) | Color::Indexed(_)))
        );
        let plain = scatter_styles(Theme::new(false, braille), true);
        // A buffer cell without a colour holds the terminal default.
        let uncoloured = |c: Option<Color>| matches!(c, None | Some(Color::Reset));
        assert!(plain.iter().all(|s| uncoloured(s.fg) && uncoloured(s.bg)));
        let dim = plain
            .iter()
            .filter(|s| s.add_modifier.contains(Modifier::DIM))
            .count();
        assert!(
            dim > 0 && dim < plain.len(),
            "the highlighted group stays plain, the rest dims"
        );
    }
}
