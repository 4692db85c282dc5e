//! The Data pane: the dataset summary with the matrix and label choices, one obs column's category
//! counts as a bar chart, and the searchable, sortable gene table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Block, Cell, Paragraph, Row, Table, Wrap};

use crate::tui::app::App;
use crate::tui::data::state::{DataView, LoadState};
use crate::tui::theme::Theme;

/// Where the three boxes of the pane go.
struct DataLayout {
    summary: Rect,
    obs: Rect,
    genes: Rect,
}

fn layout(body: Rect, summary_lines: u16) -> DataLayout {
    let left_width = (body.width * 2 / 5).clamp(30.min(body.width), 48);
    let [left, genes] =
        Layout::horizontal([Constraint::Length(left_width), Constraint::Min(0)]).areas(body);
    let summary_height = (summary_lines + 2).min(left.height / 2).max(3);
    let [summary, obs] =
        Layout::vertical([Constraint::Length(summary_height), Constraint::Min(0)]).areas(left);
    DataLayout {
        summary,
        obs,
        genes,
    }
}

/// The rows of the gene table (inside its border, below its header), for mouse hit-testing.
pub fn gene_rows(body: Rect) -> Rect {
    table_rows(layout(body, 0).genes)
}

fn table_rows(genes: Rect) -> Rect {
    let inner = Block::bordered().inner(genes);
    Rect {
        y: inner.y + 1,
        height: inner.height.saturating_sub(1),
        ..inner
    }
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let theme = app.theme;
    let view = match &app.data.load {
        LoadState::Ready(view) => view,
        LoadState::Idle => return,
        LoadState::Loading { name, stage } => {
            const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
            let spin = SPINNER[app.data.spinner % SPINNER.len()];
            let text = vec![
                Line::raw(""),
                Line::from(vec![
                    Span::styled(format!(" {spin} "), theme.accent()),
                    Span::raw(format!("Loading {name}: {stage}…")),
                ]),
                Line::raw(""),
                Line::styled(
                    " The file is read on a background task; keys keep working.",
                    theme.dim(),
                ),
            ];
            frame.render_widget(Paragraph::new(text).block(Block::bordered()), body);
            return;
        }
        LoadState::Failed(message) => {
            let text = vec![
                Line::styled(
                    format!("Could not load {}", app.dataset_name()),
                    theme.error(),
                ),
                Line::raw(""),
                Line::raw(message.clone()),
                Line::raw(""),
                Line::styled(
                    "Open another file with `cellscope FILE`; `cellscope info FILE` prints the same check.",
                    theme.dim(),
                ),
            ];
            frame.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: false })
                    .block(Block::bordered().title(" Data ")),
                body,
            );
            return;
        }
    };
    let summary = summary_text(view, &app.data.matrix, app.data.label.as_deref(), &theme);
    let boxes = layout(body, summary.len() as u16);
    frame.render_widget(
        Paragraph::new(summary).block(
            Block::bordered().title(Span::styled(format!(" {} ", view.name), theme.accent())),
        ),
        boxes.summary,
    );
    draw_obs(frame, app, boxes.obs);
    draw_genes(frame, app, boxes.genes);
}

fn summary_text(
    view: &DataView,
    matrix: &str,
    label: Option<&str>,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let w = view
        .summary
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 13)
        + 1;
    let mut choices = vec![Span::styled(format!("{:<w$}", "matrix"), theme.dim())];
    for m in &view.matrices {
        if m == matrix {
            choices.push(Span::styled(format!("[{m}]"), theme.accent()));
        } else {
            choices.push(Span::raw(format!(" {m} ")));
        }
    }
    let mut lines = vec![
        Line::from(choices),
        Line::from(vec![
            Span::styled(format!("{:<w$}", "label"), theme.dim()),
            Span::raw(
                label
                    .unwrap_or("none (c picks the shown column)")
                    .to_string(),
            ),
        ]),
    ];
    lines.extend(view.summary.iter().map(|(k, v)| {
        Line::from(vec![
            Span::styled(
                format!("{:<w$}", crate::tui::panes::truncate(k, w - 1)),
                theme.dim(),
            ),
            Span::raw(v.clone()),
        ])
    }));
    lines
}

fn draw_obs(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let Some(view) = app.data.view() else { return };
    let Some(column) = app.data.shown_column() else {
        frame.render_widget(
            Paragraph::new("no obs columns").block(Block::bordered().title(" obs ")),
            area,
        );
        return;
    };
    let star = if app.data.label.as_deref() == Some(&column.name) {
        " ★"
    } else {
        ""
    };
    let title = format!(
        " obs {}/{}: {} ({}){star} ",
        app.data.obs_cursor + 1,
        view.obs.len(),
        column.name,
        column.kind
    );
    let block = Block::bordered()
        .title(Span::styled(title, theme.accent()))
        .title_bottom(Line::styled(" h/l column · c colour by it ", theme.dim()).right_aligned());
    if column.counts.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                "numeric column: no categories to count",
                theme.dim(),
            ))
            .block(block),
            area,
        );
        return;
    }
    let inner = block.inner(area);
    let shown = usize::from(inner.height).min(column.counts.len());
    let label_width = usize::from(inner.width / 3).max(4);
    let bars: Vec<Bar> = column.counts[..shown]
        .iter()
        .map(|(name, n)| {
            Bar::default()
                .value(*n)
                .label(Line::from(crate::tui::panes::truncate(name, label_width)))
                .text_value(n.to_string())
        })
        .collect();
    let mut block = block;
    let hidden = column.counts.len() - shown;
    if hidden > 0 || column.n_missing > 0 {
        let mut note = Vec::new();
        if hidden > 0 {
            note.push(format!("+{hidden} more"));
        }
        if column.n_missing > 0 {
            note.push(format!("{} missing", column.n_missing));
        }
        block = block
            .title(Line::styled(format!(" {} ", note.join(", ")), theme.dim()).right_aligned());
    }
    frame.render_widget(
        BarChart::horizontal(bars)
            .bar_width(1)
            .bar_gap(0)
            .bar_style(theme.bars())
            .value_style(theme.selected())
            .block(block),
        area,
    );
}

fn draw_genes(frame: &mut Frame, app: &App, area: Rect) {
    let theme = app.theme;
    let data = &app.data;
    let Some(view) = (match &data.load {
        LoadState::Ready(v) => Some(v),
        _ => None,
    }) else {
        return;
    };
    let search = if data.query.is_empty() {
        String::new()
    } else {
        format!(" · /{}", data.query)
    };
    let title = format!(
        " Genes {}/{}{search} · by {} ",
        data.visible.len(),
        view.genes.len(),
        data.sort.label()
    );
    let block = Block::bordered()
        .title(Span::styled(title, theme.accent()))
        .title_bottom(Line::styled(" / search · s sort ", theme.dim()).right_aligned());
    let rows_area = table_rows(area);
    let height = usize::from(rows_area.height).max(1);
    let end = (data.gene_offset + height).min(data.visible.len());
    let rows: Vec<Row> = (data.gene_offset..end)
        .map(|i| {
            let g = &view.genes[data.visible[i]];
            let row = Row::new(vec![
                Cell::from(g.name.clone()),
                Cell::from(format!("{:>8.3}", g.mean)),
                Cell::from(format!("{:>7.1}%", 100.0 * g.detection_rate)),
                Cell::from(format!("{:>9.3}", g.variance)),
            ]);
            if i == data.gene_cursor {
                row.style(theme.selected())
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(vec!["gene", "    mean", "detected", " variance"]).style(theme.dim());
    let table = Table::new(
        rows,
        [
            Constraint::Min(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(9),
        ],
    )
    .header(header)
    .block(block);
    frame.render_widget(table, area);
}
