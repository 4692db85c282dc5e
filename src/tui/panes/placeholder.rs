//! The panes later issues fill (Transfer): until then each says what will appear there and which
//! headless command produces the same numbers today.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::tui::app::Tab;
use crate::tui::theme::Theme;

/// What a later pane will show, and the command that produces it.
fn description(tab: Tab) -> (&'static str, &'static str) {
    match tab {
        Tab::Transfer => (
            "Fine-tuning on a labelled target dataset: pretrained vs trained from scratch vs \
             zero-shot kNN, macro-F1 as mean ± sd over seeds, with the gene overlap report.",
            "cellscope transfer RUN --target TARGET.h5ad --label COLUMN",
        ),
        Tab::Data | Tab::Train | Tab::Runs | Tab::Embeddings | Tab::Genes => ("", ""),
    }
}

/// Draws the placeholder of a later pane.
pub fn draw(frame: &mut Frame, theme: &Theme, tab: Tab, body: Rect) {
    let (what, command) = description(tab);
    let text = vec![
        Line::styled("Not built yet. This pane will show:", theme.warn()),
        Line::raw(""),
        Line::raw(what),
        Line::raw(""),
        Line::styled("Today the same figures come from:", theme.dim()),
        Line::from(Span::styled(format!("  {command}"), theme.key())),
    ];
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::bordered().title(Span::styled(format!(" {} ", tab.title()), theme.accent())),
        ),
        body,
    );
}
