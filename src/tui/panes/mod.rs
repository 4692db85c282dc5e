//! Drawing the screen: the shell (tab bar, status bar, help, quit prompt, text input) around the
//! focused feature's view (`tui::<feature>::view`).
//! Layout functions are shared with mouse handling so clicks and pixels agree.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::tui::app::App;
use crate::tui::input::{InputPurpose, Modal};
use crate::tui::keymap::{self, Action, Scope};
use crate::tui::tab::Tab;
use crate::tui::theme::Theme;

/// The three bands of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenLayout {
    pub tabs: Rect,
    pub body: Rect,
    pub status: Rect,
}

/// Splits the terminal into tab bar, body and status bar.
pub fn screen_layout(area: Rect) -> ScreenLayout {
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    ScreenLayout { tabs, body, status }
}

const BRAND: &str = " cellscope ";
const DIVIDER: &str = "│";

/// The labels of the tab bar with the tab each one selects, left to right.
fn tab_labels() -> impl Iterator<Item = (Option<Tab>, String)> {
    let tabs = Tab::ALL.iter().enumerate().flat_map(|(i, &tab)| {
        let label = (Some(tab), format!(" {} {} ", i + 1, tab.title()));
        let divider = (None, DIVIDER.to_string());
        (i > 0).then_some(divider).into_iter().chain([label])
    });
    std::iter::once((None, BRAND.to_string())).chain(tabs)
}

/// The tab whose label covers column `x` of the tab bar.
pub fn tab_at(bar: Rect, x: u16) -> Option<Tab> {
    let mut left = bar.x;
    for (tab, label) in tab_labels() {
        let right = left + label.chars().count() as u16;
        if (left..right).contains(&x) {
            return tab;
        }
        left = right;
    }
    None
}

/// The smallest terminal (columns, rows) the panes are laid out for.
pub const MIN_SIZE: (u16, u16) = (40, 10);

/// Draws the whole screen for the app's state (a message instead below [`MIN_SIZE`]).
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let text = format!(
            "too small: {}x{}, cellscope needs {}x{} (q quits)",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        );
        let message = Paragraph::new(text)
            .style(app.theme.warn())
            .wrap(Wrap { trim: true });
        frame.render_widget(message, area);
        return;
    }
    let layout = screen_layout(area);
    draw_tabs(frame, app, layout.tabs);
    match app.tab {
        Tab::Data => crate::tui::data::view::draw(frame, app, layout.body),
        Tab::Train => crate::tui::train::view::draw(frame, app, layout.body),
        Tab::Runs => crate::tui::runs::view::draw(frame, app, layout.body),
        Tab::Embeddings => crate::tui::embeddings::view::draw(frame, app, layout.body),
        Tab::Genes => crate::tui::genes::view::draw(frame, app, layout.body),
        Tab::Transfer => crate::tui::transfer::view::draw(frame, app, layout.body),
    }
    draw_status(frame, app, layout.status);
    match &app.modal {
        Modal::Help { scroll } => draw_help(frame, app, *scroll),
        Modal::QuitPrompt => draw_quit_prompt(frame, &app.theme),
        Modal::Input { .. } | Modal::None => {}
    }
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let spans: Vec<Span> = tab_labels()
        .map(|(tab, label)| match tab {
            Some(tab) if tab == app.tab => Span::styled(label, t.accent().patch(t.selected())),
            Some(_) => Span::styled(label, t.text()),
            None if label == BRAND => Span::styled(label, t.accent()),
            None => Span::styled(label, t.dim()),
        })
        .collect();
    frame.render_widget(Line::from(spans), area);
}

/// The short hints of a scope: its bindings except movement and detaching (the Run box says
/// when `d` applies), then help and quit unless the scope takes their key; the status bar shows
/// those that fit.
fn hints(scope: Scope) -> Vec<(String, &'static str)> {
    let quiet = |a: Action| {
        matches!(
            a,
            Action::Down
                | Action::Up
                | Action::PageDown
                | Action::PageUp
                | Action::Top
                | Action::Bottom
                | Action::Decrease
                | Action::Increase
                | Action::Detach
        )
    };
    let own = keymap::bindings(scope)
        .iter()
        .filter(|b| !quiet(b.action))
        .map(|b| (b.keys[0].label(), b.command));
    let global = (scope.is_pane() || scope == Scope::Global).then(|| {
        keymap::bindings(Scope::Global)
            .iter()
            .filter(|b| matches!(b.action, Action::Help | Action::Quit))
            .filter(move |b| scope == Scope::Global || keymap::lookup(scope, b.keys[0]).is_none())
            .map(|b| (b.keys[0].label(), b.command))
    });
    own.chain(global.into_iter().flatten()).collect()
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    frame.render_widget(Block::new().style(t.status_bar()), area);
    if let Modal::Input { purpose, buffer } = &app.modal {
        let prompt = match purpose {
            InputPurpose::Search => "search genes: ".to_string(),
            InputPurpose::Palette => ":".to_string(),
            InputPurpose::Edit(field) => format!("{}: ", field.label()),
            InputPurpose::EditTransfer(field) => format!("{}: ", field.label()),
        };
        let line = Line::from(vec![
            Span::raw(format!(" {prompt}")),
            Span::raw(buffer.clone()),
            Span::styled("  (Enter accept · Esc cancel)", t.dim()),
        ]);
        let x = area.x + 1 + (prompt.chars().count() + buffer.chars().count()) as u16;
        frame.render_widget(line, area);
        frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
        return;
    }
    let mut left = vec![Span::raw(format!(
        " {} · {}",
        app.dataset_name(),
        app.data.matrix
    ))];
    if let Some(label) = &app.data.label {
        left.push(Span::raw(format!(" · by {label}")));
    }
    let run = &app.train;
    let mut run_text = format!(" │ {}", run.status.word());
    if run.status.is_active() && run.epochs > 0 {
        run_text += &format!(
            " · epoch {}/{}",
            (run.epochs_done + 1).min(run.epochs),
            run.epochs
        );
    }
    left.push(Span::raw(run_text));
    if !app.mouse {
        left.push(Span::raw(" │ mouse off"));
    }
    let used: usize = left.iter().map(|s| s.content.chars().count()).sum();
    let room = usize::from(area.width).saturating_sub(used + 3);
    let mut right = vec![Span::raw(" │ ")];
    match &app.notice {
        Some(notice) => right.push(Span::raw(truncate(notice, room))),
        None => {
            let mut width = 0;
            for (key, command) in hints(app.scope()) {
                let w = key.chars().count() + command.len() + 2;
                if width + w > room {
                    continue;
                }
                width += w;
                right.push(Span::styled(key, t.status_bar().patch(t.key())));
                right.push(Span::raw(format!(" {command} ")));
            }
        }
    }
    left.extend(right);
    frame.render_widget(Line::from(left), area);
}

/// Cuts `text` to `width` characters, ending in … when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else if width == 0 {
        String::new()
    } else {
        text.chars().take(width - 1).chain(['…']).collect()
    }
}

/// Cuts `text` from the left so its end stays visible (a path's file name, a key's last parts):
/// `…/datasets/file.h5ad`.
pub fn truncate_left(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        text.to_string()
    } else if width == 0 {
        String::new()
    } else {
        std::iter::once('…')
            .chain(text.chars().skip(n - width + 1))
            .collect()
    }
}

/// A rectangle of at most `w` x `h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// The lines of the help screen, generated from the keymap tables.
pub fn help_lines(theme: &Theme, log_path: &str) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Log file: ", theme.dim()),
            Span::raw(log_path.to_string()),
        ]),
        Line::styled(
            "Names in [brackets] of global and pane keys can be typed in the : palette.",
            theme.dim(),
        ),
    ];
    for scope in Scope::ALL {
        lines.push(Line::raw(""));
        lines.push(Line::styled(scope.title(), theme.accent()));
        for b in keymap::bindings(scope) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<13}", keymap::keys_label(b)), theme.key()),
                Span::raw(b.help),
                Span::styled(format!("  [{}]", b.command), theme.dim()),
            ]));
        }
    }
    lines
}

fn draw_help(frame: &mut Frame, app: &App, scroll: u16) {
    let t = &app.theme;
    let area = centered(frame.area(), 78, frame.area().height.saturating_sub(2));
    let lines = help_lines(t, &app.log_path);
    let max_scroll = (lines.len() as u16).saturating_sub(area.height.saturating_sub(2));
    let block = Block::bordered()
        .title(Span::styled(" Help: keys ", t.accent()))
        .title_bottom(Line::from(" j/k scroll · Esc close ").right_aligned());
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((scroll.min(max_scroll), 0)),
        area,
    );
}

fn draw_quit_prompt(frame: &mut Frame, theme: &Theme) {
    let area = centered(frame.area(), 60, 8);
    let text = vec![
        Line::styled("Training is still running.", theme.warn()),
        Line::raw(""),
        Line::from(vec![
            Span::styled("y", theme.key()),
            Span::raw(" stop the run (checkpoint) and quit   "),
            Span::styled("n", theme.key()),
            Span::raw(" stay"),
        ]),
        Line::styled(
            "Leaving a run going without the UI comes with detached runs (cellscope train --detach).",
            theme.dim(),
        ),
    ];
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(Span::styled(" Quit? ", theme.accent()))),
        area,
    );
}

/// Formats a count with thousands separators: 12,345.
pub fn fmt_count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats seconds as `42s`, `3m 07s` or `2h 05m`.
pub fn fmt_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_hit_test_matches_the_drawn_labels() {
        let bar = Rect::new(0, 0, 80, 1);
        let text: String = tab_labels().map(|(_, l)| l).collect();
        let x = text[..text.find("2 Train").unwrap()].chars().count() as u16;
        assert_eq!(tab_at(bar, x), Some(Tab::Train));
        assert_eq!(tab_at(bar, 0), None);
        assert_eq!(tab_at(bar, 79), None);
        assert!(text.chars().count() <= 80, "{text}");
    }

    #[test]
    fn numbers_and_durations_read_well() {
        assert_eq!(fmt_count(1234567), "1,234,567");
        assert_eq!(fmt_count(12), "12");
        assert_eq!(fmt_duration(42.4), "42s");
        assert_eq!(fmt_duration(187.0), "3m 07s");
        assert_eq!(fmt_duration(7500.0), "2h 05m");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}

#[cfg(test)]
mod snapshot_tests;
