//! The Train pane: the settings form, run figures (gauges, cells/s, ETA, learning rate), the live
//! loss chart (train and validation; log-Y, smoothing and window toggles) and the last log lines.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LineGauge, Paragraph, Wrap};

use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::train::state::{RunPhase, TrainField, TrainPaneState};

use crate::tui::panes::{fmt_count, fmt_duration};

struct TrainLayout {
    form: Rect,
    run: Rect,
    chart: Rect,
    logs: Rect,
}

fn layout(body: Rect) -> TrainLayout {
    let left_width = (body.width / 3).clamp(30.min(body.width), 40);
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_width), Constraint::Min(0)]).areas(body);
    let [form, run] = Layout::vertical([
        Constraint::Length(TrainField::ALL.len() as u16 + 2),
        Constraint::Min(0),
    ])
    .areas(left);
    let log_height = if body.height >= 30 { 9 } else { 6 };
    let [chart, logs] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(log_height)]).areas(right);
    TrainLayout {
        form,
        run,
        chart,
        logs,
    }
}

/// The rows of the settings form (one per field), for mouse hit-testing.
pub fn form_rows(body: Rect) -> Rect {
    Block::bordered().inner(layout(body).form)
}

/// Draws the pane.
pub fn draw(frame: &mut Frame, app: &App, body: Rect) {
    let theme = app.theme;
    let boxes = layout(body);
    draw_form(frame, &app.train, &theme, boxes.form);
    draw_run(frame, &app.train, &theme, boxes.run);
    draw_chart(frame, &app.train, &theme, boxes.chart);
    draw_logs(frame, &app.train, &theme, boxes.logs);
}

fn draw_form(frame: &mut Frame, t: &TrainPaneState, theme: &Theme, area: Rect) {
    let locked = t.status.is_active();
    let lines: Vec<Line> = TrainField::ALL
        .iter()
        .enumerate()
        .map(|(i, &field)| {
            let text = format!(" {:<14}{}", field.label(), t.form.value(field));
            if i == t.field {
                Line::styled(text, theme.selected())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    let hint = if locked {
        " fixed while running "
    } else {
        " h/l change · Enter type "
    };
    let block = Block::bordered()
        .title(Span::styled(" Settings ", theme.accent()))
        .title_bottom(Line::styled(hint, theme.dim()).right_aligned());
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn status_style(status: &RunPhase, theme: &Theme) -> ratatui::style::Style {
    match status {
        RunPhase::Running | RunPhase::Finished { stopped: false } => theme.ok(),
        RunPhase::Failed(_) => theme.error(),
        RunPhase::Idle => theme.text(),
        _ => theme.warn(),
    }
}

fn draw_run(frame: &mut Frame, t: &TrainPaneState, theme: &Theme, area: Rect) {
    let title = if t.attached.is_some() {
        " Run · own process · d detach "
    } else {
        " Run "
    };
    let mut block = Block::bordered().title(Span::styled(title, theme.accent()));
    if matches!(t.status, RunPhase::Finished { .. }) {
        block =
            block.title_bottom(Line::styled(" o explore embeddings ", theme.key()).right_aligned());
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let mut status = vec![Span::styled(
        t.status.word(),
        status_style(&t.status, theme),
    )];
    if let Some(name) = &t.run_name {
        status.push(Span::raw(format!(" · {name}")));
    }
    let mut lines = vec![Line::from(status)];
    if let RunPhase::Failed(message) = &t.status {
        lines.push(Line::styled(message.clone(), theme.error()));
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }
    let [head, epoch_row, step_row, rest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(lines), head);
    let epochs = t.epochs.max(1);
    let done = t.epochs_done.min(epochs);
    gauge(frame, theme, epoch_row, "epoch", done, t.epochs);
    gauge(
        frame,
        theme,
        step_row,
        "step ",
        t.steps_in_epoch(),
        t.steps_per_epoch,
    );
    let eta = match (&t.status, t.eta_secs) {
        (_, Some(secs)) => fmt_duration(secs),
        (RunPhase::Running, None) => "after warm-up".into(),
        _ => "–".into(),
    };
    let loss = |v: Option<f64>| v.map_or_else(|| "–".into(), |v| format!("{v:.4}"));
    let last_val = t.val_loss.last().map(|p| p.1);
    let rows = [
        ("cells/s", format!("{:.0}", t.cells_per_sec)),
        ("ETA", eta),
        ("lr", format!("{:.2e}", t.lr)),
        (
            "step",
            match t.total_steps() {
                0 => fmt_count(t.global_step),
                total => format!("{} of {}", fmt_count(t.global_step), fmt_count(total)),
            },
        ),
        (
            "batch",
            match t.batch_size {
                0 => "–".into(),
                b => fmt_count(b),
            },
        ),
        ("loss", loss(t.train_loss.last().map(|p| p.1))),
        ("val loss", loss(last_val)),
        ("best val", loss(t.best_val.map(f64::from))),
        (
            "cells",
            format!(
                "{} train / {} val",
                fmt_count(t.n_train),
                fmt_count(t.n_val)
            ),
        ),
        ("params", fmt_count(t.n_params)),
    ];
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:<9}"), theme.dim()),
                Span::raw(v),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), rest);
}

fn gauge(frame: &mut Frame, theme: &Theme, area: Rect, name: &str, done: usize, total: usize) {
    let ratio = if total == 0 {
        0.0
    } else {
        (done as f64 / total as f64).clamp(0.0, 1.0)
    };
    frame.render_widget(
        LineGauge::default()
            .ratio(ratio)
            .label(format!("{name} {done:>3}/{total:<3}"))
            .filled_style(theme.train_series())
            .unfilled_style(theme.dim()),
        area,
    );
}

/// Y-axis bounds with a little headroom; a flat series gets a band around its value.
fn y_bounds(points: &[&[(f64, f64)]]) -> [f64; 2] {
    let (lo, hi) = points
        .iter()
        .flat_map(|s| s.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    if !lo.is_finite() {
        return [0.0, 1.0];
    }
    let pad = ((hi - lo) * 0.05).max(1e-3 * hi.abs().max(1e-3));
    [lo - pad, hi + pad]
}

fn draw_chart(frame: &mut Frame, t: &TrainPaneState, theme: &Theme, area: Rect) {
    let (log_y, smooth, recent) = (t.log_y, t.smooth, t.recent);
    let to_plot = |p: &(f64, f64)| {
        if log_y {
            (p.0, p.1.max(1e-12).log10())
        } else {
            *p
        }
    };
    let train: Vec<(f64, f64)> = t
        .train_loss
        .view(recent, smooth)
        .iter()
        .map(to_plot)
        .collect();
    let first_x = if recent {
        train.first().map_or(0.0, |p| p.0)
    } else {
        0.0
    };
    let val: Vec<(f64, f64)> = t
        .val_loss
        .iter()
        .filter(|p| p.0 >= first_x)
        .map(to_plot)
        .collect();
    let mut modes = vec![if recent { "recent steps" } else { "whole run" }];
    if smooth {
        modes.push("smoothed");
    }
    if log_y {
        modes.push("log y");
    }
    let block = Block::bordered()
        .title(Span::styled(
            format!(" Loss · {} ", modes.join(" · ")),
            theme.accent(),
        ))
        .title_bottom(Line::styled(" y log · a smooth · w window ", theme.dim()).right_aligned());
    if train.is_empty() && val.is_empty() {
        let text = vec![
            Line::raw(""),
            Line::raw(" Press s to start training with the settings on the left."),
            Line::styled(
                " The chart fills with the training loss of every step and the",
                theme.dim(),
            ),
            Line::styled(" validation loss of every epoch.", theme.dim()),
        ];
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let last_x = train
        .last()
        .map_or(1.0, |p| p.0)
        .max(val.last().map_or(1.0, |p| p.0))
        .max(first_x + 1.0);
    let [y_lo, y_hi] = y_bounds(&[&train, &val]);
    let y_label = |v: f64| {
        let v = if log_y { 10f64.powf(v) } else { v };
        Span::styled(format!("{v:.3}"), theme.dim())
    };
    let x_label = |v: f64| Span::styled(fmt_count(v.round() as usize), theme.dim());
    let datasets = vec![
        Dataset::default()
            .name("train")
            .marker(theme.marker)
            .graph_type(GraphType::Line)
            .style(theme.train_series())
            .data(&train),
        Dataset::default()
            .name("val")
            .marker(theme.marker)
            .graph_type(GraphType::Line)
            .style(theme.val_series())
            .data(&val),
    ];
    let chart = Chart::new(datasets)
        .block(block)
        .hidden_legend_constraints((Constraint::Ratio(1, 4), Constraint::Ratio(1, 3)))
        .x_axis(
            Axis::default()
                .bounds([first_x, last_x])
                .labels([x_label(first_x), x_label(last_x)])
                .style(theme.dim()),
        )
        .y_axis(
            Axis::default()
                .bounds([y_lo, y_hi])
                .labels([y_label(y_lo), y_label((y_lo + y_hi) / 2.0), y_label(y_hi)])
                .style(theme.dim()),
        );
    frame.render_widget(chart, area);
}

fn draw_logs(frame: &mut Frame, t: &TrainPaneState, theme: &Theme, area: Rect) {
    let block = Block::bordered().title(Span::styled(" Log ", theme.accent()));
    let height = usize::from(block.inner(area).height);
    let skip = t.logs.len().saturating_sub(height);
    let lines: Vec<Line> = t
        .logs
        .iter()
        .skip(skip)
        .map(|l| Line::raw(l.clone()))
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
