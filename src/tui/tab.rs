//! The tabs of the shell: their order and titles. Imported by the app and the keymap alike.

/// The tabs of the shell, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Data,
    Train,
    Embeddings,
    Genes,
    Transfer,
    Runs,
}

impl Tab {
    /// Every tab in display order.
    pub const ALL: [Tab; 6] = [
        Tab::Data,
        Tab::Train,
        Tab::Embeddings,
        Tab::Genes,
        Tab::Transfer,
        Tab::Runs,
    ];

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Data => "Data",
            Tab::Train => "Train",
            Tab::Embeddings => "Embeddings",
            Tab::Genes => "Genes",
            Tab::Transfer => "Transfer",
            Tab::Runs => "Runs",
        }
    }

    /// The tab's position in the bar.
    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// The tab `by` places along, wrapping around.
    pub fn offset(self, by: isize) -> Tab {
        let n = Tab::ALL.len() as isize;
        Tab::ALL[(self.index() as isize + by).rem_euclid(n) as usize]
    }
}
