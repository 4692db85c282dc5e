//! Drawing an open sweep table: the columns of `cellscope sweep` (as many figure columns as fit,
//! the sorted one always), the verdicts coloured and in words, then the selected row's figures in
//! full and a legend.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Margin, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use crate::analysis::paired::Verdict;
use crate::analysis::transfer::report::{Stat, fmt_stat};
use crate::sweep::table::{VsPca, vs_cell};
use crate::tui::runs::sweep_table::{Column, SweepView, TableRow, combination, stat};
use crate::tui::runs::sweeps::{SweepContents, SweepInfo, combination_label};
use crate::tui::runs::view::body_rows;
use crate::tui::theme::Theme;

/// Width of each column (a sorted header gains one character, an arrow).
fn width(column: Column) -> u16 {
    match column {
        Column::Method => 7,
        Column::Mask => 5,
        Column::Seeds => 6,
        Column::KnnVsPca | Column::LogisticVsPca => 26,
        Column::Knn | Column::Logistic | Column::Ari | Column::Ev => 11,
    }
}

/// The columns always shown, before the figures.
const FIXED: [Column; 3] = [Column::Method, Column::Mask, Column::Seeds];

/// The figure columns shown in a table `inner` wide: the sorted one, then the others left to
/// right while they fit; in table order.
pub fn visible_figures(inner: u16, sort: Option<Column>) -> Vec<Column> {
    // The best mark, the selection symbol, the fixed columns and their gaps.
    let fixed: u16 = 2 + FIXED.iter().map(|&c| width(c) + 1).sum::<u16>();
    let mut room = inner.saturating_sub(fixed);
    let figures = &Column::ALL[FIXED.len()..];
    let mut shown = Vec::new();
    let sorted = sort.filter(|c| figures.contains(c));
    for &c in sorted
        .iter()
        .chain(figures.iter().filter(|&&c| Some(c) != sorted))
    {
        if width(c) < room {
            room -= width(c) + 1;
            shown.push(c);
        }
    }
    shown.sort_by_key(|c| Column::ALL.iter().position(|x| x == c));
    shown
}

/// The table above, its footer below.
fn layout(body: Rect, footer: u16) -> [Rect; 2] {
    let footer = footer.min(body.height / 2);
    Layout::vertical([Constraint::Min(0), Constraint::Length(footer)]).areas(body)
}

/// The rows of the sweep table on screen and the index of the first one shown.
pub fn table_rows(body: Rect, sweep: &SweepInfo, view: &SweepView, theme: &Theme) -> (Rect, usize) {
    let footer = footer_lines(sweep, view, theme, usize::from(body.width)).len() as u16;
    body_rows(layout(body, footer)[0], view.cursor)
}

/// Draws the open sweep's table.
pub fn draw(frame: &mut Frame, sweep: &SweepInfo, view: &SweepView, theme: &Theme, body: Rect) {
    let title = Line::from(vec![
        Span::styled(format!(" Sweep {} ", sweep.name), theme.accent()),
        Span::styled(format!("{} runs done ", sweep.runs_text()), theme.dim()),
    ]);
    let block = Block::bordered()
        .title(title)
        .title_bottom(Line::styled(" Esc back ", theme.dim()).right_aligned());
    let contents = match &sweep.contents {
        Ok(c) => c,
        Err(e) => {
            let text = Paragraph::new(Line::styled(e.clone(), theme.error())).block(block);
            frame.render_widget(text, body);
            return;
        }
    };
    let lines = footer_lines(sweep, view, theme, usize::from(body.width));
    let [area, footer] = layout(body, lines.len() as u16);
    let figures = visible_figures(table_inner(usize::from(body.width)), view.sort);
    let columns: Vec<Column> = FIXED.iter().chain(&figures).copied().collect();
    let header = std::iter::once(Cell::from(""))
        .chain(columns.iter().map(|&c| header_cell(c, view, theme)))
        .collect::<Row>();
    let rows = view
        .rows(&contents.table)
        .into_iter()
        .map(|row| table_row(contents, row, &columns, theme));
    let widths = std::iter::once(Constraint::Length(1))
        .chain(columns.iter().map(|&c| Constraint::Length(width(c))));
    let table = Table::new(rows, widths)
        .header(header.style(theme.accent()))
        .row_highlight_style(theme.selected())
        .highlight_symbol("▸")
        .block(block);
    let mut state = TableState::default().with_selected(Some(view.cursor));
    frame.render_stateful_widget(table, area, &mut state);
    let footer = footer.inner(Margin::new(1, 0));
    frame.render_widget(Paragraph::new(lines), footer);
}

fn header_cell(column: Column, view: &SweepView, theme: &Theme) -> Cell<'static> {
    match view.sort {
        Some(c) if c == column => {
            let arrow = if view.descending { "▼" } else { "▲" };
            Cell::from(Span::styled(
                format!("{}{arrow}", column.header()),
                theme.key(),
            ))
        }
        _ => Cell::from(column.header()),
    }
}

/// Green for better, red for worse, plain for no clear difference (the word is always there).
fn verdict_style(v: Option<&VsPca>, theme: &Theme) -> Style {
    match v.map(|v| v.verdict) {
        Some(Verdict::Better) => theme.ok(),
        Some(Verdict::Worse) => theme.error(),
        _ => theme.text(),
    }
}

/// "0.812±0.010", or "n/a".
fn compact(s: Option<Stat>) -> String {
    s.map_or_else(|| "n/a".into(), |s| format!("{:.3}±{:.3}", s.mean, s.sd))
}

fn table_row(
    contents: &SweepContents,
    row: TableRow,
    columns: &[Column],
    theme: &Theme,
) -> Row<'static> {
    let t = &contents.table;
    let c = combination(t, row);
    let best = if c.is_some_and(|c| c.best) { "*" } else { " " };
    let cell = |column: Column| -> Cell<'static> {
        let vs = |v: &Option<VsPca>| {
            Cell::from(Span::styled(
                vs_cell(v.as_ref()),
                verdict_style(v.as_ref(), theme),
            ))
        };
        match (c, column) {
            (Some(c), Column::Method) => Cell::from(c.method.clone()),
            (None, Column::Method) => Cell::from(format!("PCA-{}", contents.pca_components)),
            (Some(c), Column::Mask) => {
                Cell::from(c.mask_rate.map_or("-".into(), |r| format!("{r:.2}")))
            }
            (Some(c), Column::Seeds) => Cell::from(format!("{}/{}", c.seeds_done, c.seeds_asked)),
            (Some(c), Column::KnnVsPca) => vs(&c.knn_macro_f1),
            (Some(c), Column::LogisticVsPca) => vs(&c.logistic_macro_f1),
            (None, Column::KnnVsPca | Column::LogisticVsPca) => Cell::from(""),
            (None, Column::Mask | Column::Seeds | Column::Ev) => Cell::from("-"),
            (_, figure) => Cell::from(compact(stat(t, row, figure))),
        }
    };
    std::iter::once(Cell::from(Span::styled(best, theme.key())))
        .chain(columns.iter().map(|&col| cell(col)))
        .collect()
}

/// The selected row's figures in full, then the legend, packed into lines `width` wide.
fn footer_lines(
    sweep: &SweepInfo,
    view: &SweepView,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let Ok(contents) = &sweep.contents else {
        return Vec::new();
    };
    let t = &contents.table;
    let plain = |text: String| vec![Span::raw(text)];
    let mut figures: Vec<Vec<Span<'static>>> = Vec::new();
    match view.rows(t).get(view.cursor).map(|&r| combination(t, r)) {
        Some(Some(c)) => {
            figures.push(plain(format!(
                "{}, {}/{} seeds",
                combination_label(c),
                c.seeds_done,
                c.seeds_asked
            )));
            for (name, v) in [("kNN", &c.knn_macro_f1), ("logistic", &c.logistic_macro_f1)] {
                let v = v.as_ref();
                figures.push(vec![
                    Span::raw(format!("{name} {} (", fmt_stat(v.map(|v| v.ssl), "±"))),
                    Span::styled(vs_cell(v), verdict_style(v, theme)),
                    Span::raw(")"),
                ]);
            }
            figures.push(plain(format!("ARI {}", fmt_stat(c.kmeans_ari, "±"))));
            figures.push(plain(format!("recon EV {}", fmt_stat(c.ev, "±"))));
        }
        Some(None) => {
            figures.push(plain(format!(
                "PCA-{} baseline over the finished runs",
                contents.pca_components
            )));
            figures.push(plain(format!("kNN {}", fmt_stat(t.pca_knn_macro_f1, "±"))));
            figures.push(plain(format!(
                "logistic {}",
                fmt_stat(t.pca_logistic_macro_f1, "±")
            )));
            figures.push(plain(format!("ARI {}", fmt_stat(t.pca_kmeans_ari, "±"))));
        }
        None => {}
    }
    let mut legend = vec![
        view.sort_text(),
        "* best mean kNN macro-F1".to_string(),
        format!(
            "vs PCA: mean SSL - PCA-{} difference, verdict of `cellscope eval`",
            contents.pca_components
        ),
    ];
    let shown = visible_figures(table_inner(width), view.sort);
    let hidden: Vec<&str> = Column::ALL[FIXED.len()..]
        .iter()
        .filter(|c| !shown.contains(c))
        .map(|c| c.header())
        .collect();
    if !hidden.is_empty() {
        legend.push(format!(
            "hidden at this width: {} (s sorts by one to show it)",
            hidden.join(", ")
        ));
    }
    let legend = legend
        .into_iter()
        .map(|l| vec![Span::styled(l, theme.dim())])
        .collect();
    // The footer is indented like the table's contents.
    let width = width.saturating_sub(2);
    let mut lines = pack(figures, width);
    lines.extend(pack(legend, width));
    lines
}

/// The width inside the table's border for a body `width` wide.
fn table_inner(width: usize) -> u16 {
    u16::try_from(width.saturating_sub(2)).unwrap_or(u16::MAX)
}

/// Packs segments into lines at most `width` wide, joined by " · " (a longer segment gets a
/// line of its own and is cut there).
fn pack(segments: Vec<Vec<Span<'static>>>, width: usize) -> Vec<Line<'static>> {
    let len = |s: &[Span]| s.iter().map(|s| s.content.chars().count()).sum::<usize>();
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut used = 0;
    for seg in segments {
        let n = len(&seg);
        match lines.last_mut() {
            Some(line) if used + 3 + n <= width => {
                line.spans.push(Span::raw(" · "));
                line.spans.extend(seg);
                used += 3 + n;
            }
            _ => {
                lines.push(Line::from(seg));
                used = n;
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::runs::sweeps::tests::scripted_sweep;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::Color;
    use ratatui::symbols::Marker;

    /// The foreground of the first cell of `word` on screen, for a table drawn with `theme`.
    fn colour_of(word: &str, theme: Theme) -> Option<Color> {
        let mut terminal = Terminal::new(TestBackend::new(120, 20)).unwrap();
        let view = SweepView::new("sweep-demo_immune");
        terminal
            .draw(|f| draw(f, &scripted_sweep(), &view, &theme, f.area()))
            .unwrap();
        let buffer = terminal.backend().buffer();
        let area = buffer.area;
        (area.top()..area.bottom()).find_map(|y| {
            let line: String = (0..area.width).map(|x| buffer[(x, y)].symbol()).collect();
            let x = line.find(word)?;
            Some(buffer[(line[..x].chars().count() as u16, y)].fg)
        })
    }

    #[test]
    fn verdicts_are_green_or_red_and_in_words_without_colour() {
        let colour = Theme::new(true, Marker::Braille);
        assert_eq!(colour_of("better", colour), Some(Color::Green));
        assert_eq!(colour_of("worse", colour), Some(Color::Red));
        assert_eq!(colour_of("no clear difference", colour), Some(Color::Reset));
        let plain = Theme::new(false, Marker::Braille);
        for word in ["better", "worse", "no clear difference"] {
            assert_eq!(colour_of(word, plain), Some(Color::Reset), "{word}");
        }
    }

    #[test]
    fn the_sorted_figure_column_is_always_shown() {
        assert_eq!(
            visible_figures(78, None),
            [Column::Knn, Column::KnnVsPca, Column::Logistic]
        );
        assert_eq!(
            visible_figures(78, Some(Column::Ev)),
            [Column::Knn, Column::KnnVsPca, Column::Ev]
        );
        assert_eq!(visible_figures(200, None), Column::ALL[3..]);
        assert!(visible_figures(10, Some(Column::Ari)).is_empty());
    }
}
