//! Colours and plot markers: named ANSI colours that read on a 16-colour terminal, no colour at all
//! under NO_COLOR (emphasis then comes from bold/reverse only), and the configured plot marker.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;

/// The styles every pane draws with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theme {
    color: bool,
    /// The marker of line and scatter plots.
    pub marker: Marker,
}

impl Theme {
    /// A theme; `color` false gives plain text with bold/reverse emphasis only.
    pub fn new(color: bool, marker: Marker) -> Self {
        Self { color, marker }
    }

    /// Colour unless the NO_COLOR environment variable is set to anything non-empty.
    pub fn from_env(marker: &str) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self::new(!no_color, parse_marker(marker))
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// Ordinary text.
    pub fn text(&self) -> Style {
        Style::new()
    }

    /// Secondary text: axis labels, hints, placeholders.
    pub fn dim(&self) -> Style {
        if self.color {
            self.fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    /// Headings and the active tab.
    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Key names in hints and help.
    pub fn key(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// The selected row of a list or form.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// Training loss series and gauges.
    pub fn train_series(&self) -> Style {
        self.fg(Color::Cyan)
    }

    /// Validation loss series.
    pub fn val_series(&self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Bars of category counts.
    pub fn bars(&self) -> Style {
        self.fg(Color::Blue)
    }

    /// Good news: running, finished.
    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    /// Paused, waiting, warnings.
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Errors and failed runs.
    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// The colour of group `i` in a scatter legend (named colours, cycling after 12).
    pub fn category(&self, i: usize) -> Style {
        const PALETTE: [Color; 12] = [
            Color::Cyan,
            Color::Yellow,
            Color::Green,
            Color::Magenta,
            Color::Red,
            Color::Blue,
            Color::LightCyan,
            Color::LightYellow,
            Color::LightGreen,
            Color::LightMagenta,
            Color::LightRed,
            Color::LightBlue,
        ];
        self.fg(PALETTE[i % PALETTE.len()])
    }

    /// Level `i` (0 = none, up to 4 = highest) of a continuous value such as expression; without
    /// colour the lowest level is dim and the highest bold.
    pub fn ramp(&self, level: usize) -> Style {
        const RAMP: [Color; 5] = [
            Color::DarkGray,
            Color::Blue,
            Color::Cyan,
            Color::Yellow,
            Color::LightRed,
        ];
        let level = level.min(RAMP.len() - 1);
        if self.color {
            self.fg(RAMP[level])
        } else if level == 0 {
            Style::new().add_modifier(Modifier::DIM)
        } else if level == RAMP.len() - 1 {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        }
    }

    /// Points outside the highlighted group (dim, with or without colour).
    pub fn faded(&self) -> Style {
        if self.color {
            self.fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    /// The status bar background.
    pub fn status_bar(&self) -> Style {
        if self.color {
            Style::new().bg(Color::Blue).fg(Color::White)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }
}

/// The plot marker named in `ui.marker`: "braille", "dot" or "block"; anything else falls back to dot.
pub fn parse_marker(name: &str) -> Marker {
    match name {
        "braille" => Marker::Braille,
        "block" => Marker::HalfBlock,
        _ => Marker::Dot,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_theme_has_no_colours_anywhere() {
        let t = Theme::new(false, Marker::Dot);
        for s in [
            t.text(),
            t.dim(),
            t.accent(),
            t.key(),
            t.selected(),
            t.train_series(),
            t.val_series(),
            t.bars(),
            t.ok(),
            t.warn(),
            t.error(),
            t.status_bar(),
            t.category(3),
            t.ramp(0),
            t.ramp(4),
            t.faded(),
        ] {
            assert_eq!((s.fg, s.bg), (None, None), "{s:?}");
        }
    }

    #[test]
    fn colour_theme_uses_only_named_ansi_colours() {
        let t = Theme::new(true, Marker::Dot);
        for s in [
            t.accent(),
            t.train_series(),
            t.val_series(),
            t.status_bar(),
            t.error(),
            t.category(13),
            t.ramp(2),
            t.faded(),
        ] {
            for c in [s.fg, s.bg].into_iter().flatten() {
                assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{c:?}");
            }
        }
    }

    #[test]
    fn unknown_marker_falls_back_to_dot() {
        assert_eq!(parse_marker("braille"), Marker::Braille);
        assert_eq!(parse_marker("block"), Marker::HalfBlock);
        assert_eq!(parse_marker("sparkles"), Marker::Dot);
    }
}
