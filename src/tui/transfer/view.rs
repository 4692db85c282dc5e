//! The Transfer pane: the request form and progress on top, then the arms x metrics table (best
//! arm marked, fine-tuned minus scratch), per-class F1 bars and the selected arm's confusion matrix.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, LineGauge, Paragraph, Row, Table, Wrap};

use crate::analysis::transfer::{ArmResult, TransferReport, fmt_stat};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::transfer::state::{Columns, TransferField, TransferState, TransferStatus};

use crate::tui::panes::{fmt_count, truncate, truncate_left};

/// Bar glyphs per arm (in report order), so arms read apart without colour.
const ARM_GLYPHS: [char; 4] = ['░', '█', '▓', '▒'];
/// Heatmap shades for a row share below 25%, 50%, 75% and above.
const SHADES: [char; 4] = ['░', '▒', '▓', '█'];
/// Longest class name shown before truncation.
const NAME_WIDTH: usize = 10;

/// Draws the pane.
pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let t = &app.transfer;
    let theme = &app.theme;
    let n_arms = t.report.as_ref().map_or(3, |r| r.arms.len()) as u16;
    let [form, table, lower] = Layout::vertical([
        Constraint::Length(6),
        Constraint::Length(n_arms + 3),
        Constraint::Min(0),
    ])
    .areas(body);
    draw_form(frame, t, theme, form);
    let Some(report) = &t.report else {
        draw_intro(frame, t, theme, table.union(lower));
        return;
    };
    draw_table(frame, t, report, theme, table);
    let [bars, heat] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(lower);
    draw_class_bars(frame, report, theme, bars);
    if let Some(arm) = t.selected_arm() {
        draw_confusion(frame, report, arm, theme, heat);
    }
}

/// How an arm is named on screen.
fn arm_title(arm: &str) -> String {
    match arm {
        "zero_shot" => "zero-shot".into(),
        "fine_tuned" => "fine-tuned".into(),
        "linear_probe" => "linear probe".into(),
        other => other.replace('_', " "),
    }
}

fn run_name(t: &TransferState) -> Option<String> {
    let run = t.run.as_ref()?;
    Some(run.file_name().map_or_else(
        || run.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    ))
}

fn draw_form(frame: &mut Frame, t: &TransferState, theme: &Theme, area: Rect) {
    let title = Line::from(vec![
        Span::styled(" Transfer ", theme.accent()),
        Span::styled(
            match run_name(t) {
                Some(name) => format!("of {name} "),
                None => "· no run ".into(),
            },
            theme.dim(),
        ),
    ]);
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [fields, status] = Layout::horizontal([Constraint::Percentage(50), Constraint::Min(0)])
        .spacing(1)
        .areas(inner);
    let value_width = usize::from(fields.width).saturating_sub(15);
    let lines: Vec<Line> = TransferField::ALL
        .iter()
        .enumerate()
        .map(|(i, &field)| {
            let (value, style) = field_value(t, field, value_width, theme);
            let label = format!(
                "{}{:<13}",
                if i == t.field { "▸" } else { " " },
                field.label()
            );
            let label_style = if i == t.field {
                theme.selected()
            } else {
                theme.dim()
            };
            Line::from(vec![
                Span::styled(label, label_style),
                Span::raw(" "),
                Span::styled(value, style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), fields);
    draw_status(frame, t, theme, status);
}

fn field_value(
    t: &TransferState,
    field: TransferField,
    width: usize,
    theme: &Theme,
) -> (String, Style) {
    match field {
        TransferField::Target => (truncate_left(&t.target, width), theme.text()),
        TransferField::Label => match (&t.columns, &t.label) {
            (Columns::Loaded(cols), Some(label)) => {
                let at = cols.iter().position(|c| c == label).map_or(0, |i| i + 1);
                let text = format!("{label}  ({at} of {})", cols.len());
                (truncate(&text, width), theme.text())
            }
            (Columns::Loaded(_), None) => ("no label columns".into(), theme.warn()),
            (Columns::Loading | Columns::Unknown, _) => ("reading columns…".into(), theme.dim()),
            (Columns::Failed(e), _) => (truncate(e, width), theme.error()),
        },
        TransferField::LabelMap if t.label_map.is_empty() => ("none".into(), theme.dim()),
        TransferField::LabelMap => (truncate_left(&t.label_map, width), theme.text()),
        TransferField::Seeds => (t.seeds.to_string(), theme.text()),
    }
}

fn draw_status(frame: &mut Frame, t: &TransferState, theme: &Theme, area: Rect) {
    let width = usize::from(area.width);
    let mut lines = Vec::new();
    let (word, style, detail) = match &t.status {
        TransferStatus::Idle => ("idle", theme.dim(), "s starts".to_string()),
        TransferStatus::Running if t.progress.epochs > 0 => (
            "running",
            theme.ok(),
            format!(
                "{} seed {}/{}",
                arm_title(&t.progress.arm),
                t.progress.seed,
                t.progress.n_seeds
            ),
        ),
        TransferStatus::Running => ("running", theme.ok(), t.progress.line.clone()),
        TransferStatus::Done => (
            "done",
            theme.ok(),
            t.report.as_ref().map_or_else(String::new, |r| {
                format!(
                    "{} seeds · {} ref / {} query",
                    r.n_seeds,
                    fmt_count(r.n_reference),
                    fmt_count(r.n_query)
                )
            }),
        ),
        TransferStatus::Failed(e) => ("failed", theme.error(), e.clone()),
    };
    lines.push(Line::from(vec![
        Span::styled(word, style),
        Span::raw(" "),
        Span::raw(truncate(&detail, width.saturating_sub(word.len() + 1))),
    ]));
    let p = &t.progress;
    if t.status == TransferStatus::Running && p.epochs > 0 {
        lines.push(Line::raw(truncate(
            &format!("epoch {}/{} · {}", p.epoch, p.epochs, p.line_loss()),
            width,
        )));
    }
    if let Some(g) = &t.genes {
        let (matched, model) = (fmt_count(g.matched), fmt_count(g.model_genes));
        let share = 100.0 * g.share();
        let full = format!(
            "genes {matched}/{model} matched ({share:.0}%) · {} zero-filled · {} dropped",
            fmt_count(g.missing),
            fmt_count(g.extra)
        );
        let short = format!("genes {matched}/{model} matched ({share:.0}%)");
        let text = if full.chars().count() <= width {
            full
        } else {
            short
        };
        let style = if g.warning().is_some() {
            theme.warn()
        } else {
            theme.text()
        };
        lines.push(Line::styled(truncate(&text, width), style));
    }
    if let Some(r) = &t.report {
        let mapped = r.label_map.as_deref().map_or(String::new(), |m| {
            let name = std::path::Path::new(m)
                .file_name()
                .map_or(m.into(), |n| n.to_string_lossy());
            format!(" via {name}")
        });
        let n = r.classes.len();
        let full = format!("{n} classes of {}{mapped} · {}", r.label, r.split);
        let text = if full.chars().count() <= width {
            full
        } else {
            format!("{n} classes{mapped}")
        };
        lines.push(Line::styled(truncate(&text, width), theme.dim()));
    }
    let running = t.status == TransferStatus::Running;
    let text_height = (lines.len() as u16).min(area.height);
    let [text, gauge] = Layout::vertical([
        Constraint::Length(text_height),
        Constraint::Length(u16::from(running)),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(lines), text);
    if running {
        let g = LineGauge::default()
            .ratio(p.fraction)
            .filled_style(theme.train_series())
            .unfilled_style(theme.dim())
            .label(format!("{:>3.0}%", p.fraction * 100.0));
        frame.render_widget(g, gauge);
    }
}

/// Before any report: what the pane will do, or how it is going.
fn draw_intro(frame: &mut Frame, t: &TransferState, theme: &Theme, area: Rect) {
    let text = match &t.status {
        TransferStatus::Running => vec![
            Line::raw("The target is read onto the run's genes; zero-shot kNN is scored, then a"),
            Line::raw("fine-tuned and a from-scratch classifier are trained for each seed."),
            Line::raw("The results table appears here when every arm is done."),
        ],
        TransferStatus::Failed(e) => vec![Line::styled(e.clone(), theme.error())],
        TransferStatus::Idle | TransferStatus::Done => vec![
            Line::raw(
                "Transfer compares, on a labelled target, three ways to classify its cells: \
                 zero-shot kNN on the pretrained embedding, the pretrained encoder fine-tuned \
                 with a new classifier head, and the same model trained from scratch; each over \
                 the seeds, scored on a held-out query split (macro-F1, accuracy, per-class F1).",
            ),
            Line::raw(""),
            Line::from(vec![
                Span::raw("Choose the target (Enter) and its label column (h/l), then press "),
                Span::styled("s", theme.key()),
                Span::raw(". Results are saved as transfer.json in the run directory."),
            ]),
            Line::styled(
                "Same numbers headless: cellscope transfer RUN --target FILE --label COLUMN",
                theme.dim(),
            ),
        ],
    };
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(Span::styled(" Arms ", theme.accent()))),
        area,
    );
}

fn draw_table(
    frame: &mut Frame,
    t: &TransferState,
    report: &TransferReport,
    theme: &Theme,
    area: Rect,
) {
    let header =
        Row::new(["", "arm", "macro-F1", "accuracy", "kNN macro-F1"]).style(theme.accent());
    let shown = t.selected_arm().map(|a| a.arm.as_str());
    let rows = report.arms.iter().map(|a| {
        let best = a.arm == report.best_arm;
        let style = if best {
            theme.ok().add_modifier(Modifier::BOLD)
        } else {
            theme.text()
        };
        let mark = match (best, shown == Some(a.arm.as_str())) {
            (true, true) => "*▸",
            (true, false) => "* ",
            (false, true) => " ▸",
            (false, false) => "  ",
        };
        Row::new([
            Cell::from(mark),
            Cell::from(arm_title(&a.arm)),
            Cell::from(fmt_stat(Some(a.macro_f1), "±")),
            Cell::from(fmt_stat(Some(a.accuracy), "±")),
            Cell::from(fmt_stat(a.knn_macro_f1, "±")),
        ])
        .style(style)
    });
    let widths = [
        Constraint::Length(2),
        Constraint::Length(13),
        Constraint::Length(14),
        Constraint::Length(14),
        Constraint::Length(14),
    ];
    let delta = report
        .delta_finetuned_vs_scratch
        .filter(|d| d.is_finite())
        .map_or_else(
            || " fine-tuned − scratch: n/a ".to_string(),
            |d| format!(" fine-tuned − scratch macro-F1 {d:+.3} "),
        );
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(" Arms ", theme.accent()),
            Span::styled(
                format!("mean ± sd over {} seeds · * best ", report.n_seeds),
                theme.dim(),
            ),
        ]))
        .title_bottom(Line::styled(delta, theme.key()).right_aligned());
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn arm_style(i: usize, theme: &Theme) -> Style {
    match i % 3 {
        0 => theme.dim(),
        1 => theme.train_series(),
        _ => theme.val_series(),
    }
}

/// Per class one row: each arm's mean F1 as a bar, arms side by side.
fn draw_class_bars(frame: &mut Frame, report: &TransferReport, theme: &Theme, area: Rect) {
    let mut legend = vec![Span::raw(" ")];
    for (i, a) in report.arms.iter().enumerate() {
        legend.push(Span::styled(
            format!("{} ", ARM_GLYPHS[i % ARM_GLYPHS.len()]),
            arm_style(i, theme),
        ));
        legend.push(Span::styled(format!("{} ", arm_title(&a.arm)), theme.dim()));
    }
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(" per-class F1 ", theme.accent()),
            Span::styled("mean over seeds ", theme.dim()),
        ]))
        .title_bottom(Line::from(legend));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let name_w = name_width(&report.classes);
    let n_arms = report.arms.len().max(1);
    let slot = usize::from(inner.width).saturating_sub(name_w + 1) / n_arms;
    let with_value = slot >= 10;
    let bar_w = slot.saturating_sub(if with_value { 6 } else { 1 });
    let rows = usize::from(inner.height);
    let lines = fit_rows(report.classes.len(), rows, |c| {
        let mut spans = vec![Span::styled(
            format!("{:<name_w$} ", truncate(&report.classes[c], name_w)),
            theme.text(),
        )];
        for (i, a) in report.arms.iter().enumerate() {
            let f1 = a.per_class_f1.get(c).map_or(f64::NAN, |s| s.mean);
            let filled = if f1.is_finite() {
                ((f1.clamp(0.0, 1.0) * bar_w as f64).round() as usize).min(bar_w)
            } else {
                0
            };
            let glyph = ARM_GLYPHS[i % ARM_GLYPHS.len()];
            spans.push(Span::styled(
                glyph.to_string().repeat(filled),
                arm_style(i, theme),
            ));
            spans.push(Span::styled("·".repeat(bar_w - filled), theme.dim()));
            if with_value {
                let v = if f1.is_finite() {
                    format!("{f1:.2}")
                } else {
                    "n/a".into()
                };
                spans.push(Span::raw(format!(" {v:<4}")));
            }
            spans.push(Span::raw(" "));
        }
        Line::from(spans)
    });
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Width of the class-name column: the longest name up to `NAME_WIDTH`.
fn name_width(classes: &[String]) -> usize {
    classes
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(1, NAME_WIDTH)
}

/// Lines for `n` items in `rows` rows: all of them, or as many as fit and a "… more" line.
fn fit_rows<'a>(n: usize, rows: usize, line: impl Fn(usize) -> Line<'a>) -> Vec<Line<'a>> {
    if n <= rows {
        return (0..n).map(line).collect();
    }
    let shown = rows.saturating_sub(1);
    let mut lines: Vec<Line> = (0..shown).map(line).collect();
    if rows > 0 {
        lines.push(Line::raw(format!(
            "… {} more classes (taller terminal)",
            n - shown
        )));
    }
    lines
}

/// The one-character code of class `i` in the heatmap: 1-9, then a-z, then +.
fn class_code(i: usize) -> char {
    match i {
        0..9 => char::from(b'1' + i as u8),
        9..35 => char::from(b'a' + (i - 9) as u8),
        _ => '+',
    }
}

/// The shade of a cell holding `share` of its row (None = empty).
fn shade(share: f64) -> Option<char> {
    if share <= 0.0 || !share.is_finite() {
        None
    } else {
        Some(SHADES[((share * 4.0) as usize).min(3)])
    }
}

/// Rows = true class, columns = predicted; each cell shaded by its share of the row, the
/// diagonal (correct) in green and the rest in red.
fn draw_confusion(
    frame: &mut Frame,
    report: &TransferReport,
    arm: &ArmResult,
    theme: &Theme,
    area: Rect,
) {
    let block = Block::bordered()
        .title(Line::from(vec![
            Span::styled(" confusion ", theme.accent()),
            Span::styled(format!("{} ", arm_title(&arm.arm)), theme.text()),
            Span::styled("(a: next arm) ", theme.dim()),
        ]))
        .title_bottom(Line::styled(
            " true ↓ predicted → ░▒▓█ share of row ",
            theme.dim(),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let n = report.classes.len();
    let name_w = name_width(&report.classes)
        .min(usize::from(inner.width).saturating_sub(4 + n))
        .max(1);
    let label_w = name_w + 2;
    let room = usize::from(inner.width).saturating_sub(label_w);
    let cell_w = if room >= 3 * n {
        3
    } else {
        2.min(room / n.max(1)).max(1)
    };
    let cols = (room / cell_w).min(n);
    let header: String = (0..cols)
        .map(|j| format!("{:>cell_w$}", class_code(j)))
        .collect();
    let mut lines = vec![Line::styled(
        format!("{:label_w$}{header}", ""),
        theme.dim(),
    )];
    let rows = usize::from(inner.height).saturating_sub(1);
    let hit = theme.ok().add_modifier(Modifier::BOLD);
    let miss = theme.error().remove_modifier(Modifier::BOLD);
    lines.extend(fit_rows(n, rows, |i| {
        let row = arm.confusion.get(i).map_or(&[][..], Vec::as_slice);
        let total: u64 = row.iter().sum();
        let mut spans = vec![Span::styled(
            format!(
                "{} {:<name_w$}",
                class_code(i),
                truncate(&report.classes[i], name_w)
            ),
            theme.text(),
        )];
        for (j, &count) in row.iter().enumerate().take(cols) {
            let share = if total > 0 {
                count as f64 / total as f64
            } else {
                0.0
            };
            let (text, style) = match shade(share) {
                Some(s) => (
                    format!(
                        "{:>cell_w$}",
                        s.to_string().repeat(cell_w.saturating_sub(1).max(1))
                    ),
                    if i == j { hit } else { miss },
                ),
                None => (format!("{:>cell_w$}", "·"), theme.dim()),
            };
            spans.push(Span::styled(text, style));
        }
        Line::from(spans)
    }));
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_their_file_name_and_shares_map_to_shades() {
        assert_eq!(truncate_left("/a/b/target.h5ad", 10), "…rget.h5ad");
        assert_eq!(truncate_left("t.h5ad", 10), "t.h5ad");
        assert_eq!(shade(0.0), None);
        assert_eq!(shade(0.1), Some('░'));
        assert_eq!(shade(0.5), Some('▓'));
        assert_eq!(shade(1.0), Some('█'));
        assert_eq!(arm_title("fine_tuned"), "fine-tuned");
        let codes: String = [0, 8, 9, 34, 35].map(class_code).iter().collect();
        assert_eq!(codes, "19az+");
    }
}
