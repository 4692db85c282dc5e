//! The panes later issues fill (Embeddings, Genes): until then each says what will
//! appear there and which headless command produces the same numbers today.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::tui::app::Tab;
use crate::tui::theme::Theme;

/// What a later pane will show, and the command that produces it.
fn description(tab: Tab) -> (&'static str, &'static str) {
    match tab {
        Tab::Embeddings => (
            "The embedding of every cell from a run's best checkpoint, beside a PCA baseline, laid \
             out in 2-D and coloured by cluster, by the label column chosen in Data, or by one \
             gene's expression; with a legend, zoom and clustering metrics.",
            "cellscope embed RUN --out cells.h5ad   ·   cellscope eval RUN",
        ),
        Tab::Genes => (
            "Per-gene reconstruction quality of a masked autoencoder run: which genes and gene \
             programmes the model predicts well from the unmasked rest.",
            "cellscope eval RUN",
        ),
        Tab::Data | Tab::Train | Tab::Transfer | Tab::Runs => ("", ""),
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
