//! The one table of key bindings per pane: it maps keys to actions and generates the help screen,
//! the status-bar hints and the command palette, so the three can never disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::tui::tab::Tab;

/// A key with its modifiers, as bindings name it (Shift is folded into upper-case letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    /// A key without modifiers.
    pub const fn code(code: KeyCode) -> Self {
        Self {
            code,
            mods: KeyModifiers::NONE,
        }
    }

    /// A printable character without modifiers.
    pub const fn char(c: char) -> Self {
        Self::code(KeyCode::Char(c))
    }

    /// Control plus a character.
    pub const fn ctrl(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            mods: KeyModifiers::CONTROL,
        }
    }

    /// The key of a terminal event, with Shift folded away for characters and Back-Tab.
    pub fn from_event(event: &KeyEvent) -> Self {
        let mut mods = event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        if !matches!(event.code, KeyCode::Char(_) | KeyCode::BackTab) {
            mods |= event.modifiers & KeyModifiers::SHIFT;
        }
        Self {
            code: event.code,
            mods,
        }
    }

    /// How the key is written in help and hints: `q`, `Ctrl-c`, `↑`, `PgDn`.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{base}")
        } else if self.mods.contains(KeyModifiers::ALT) {
            format!("Alt-{base}")
        } else {
            base
        }
    }
}

/// Everything a key can ask the app to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    ForceQuit,
    Help,
    NextTab,
    PrevTab,
    GoTab(Tab),
    ToggleMouse,
    Palette,
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    Search,
    NextColumn,
    PrevColumn,
    UseAsLabel,
    CycleMatrix,
    CycleSort,
    Decrease,
    Increase,
    Edit,
    Start,
    PauseResume,
    Stop,
    ToggleLogY,
    ToggleSmoothing,
    ToggleWindow,
    Refresh,
    Mark,
    NextArm,
    /// Open the selected or finished run in the Embeddings and Genes panes.
    Open,
    ToggleView,
    CycleColour,
    /// Highlight a legend row, or colour the embedding by the selected gene.
    Select,
    ZoomIn,
    ZoomOut,
    ResetZoom,
    /// Move the view by (x, y) steps; y up.
    Pan(i8, i8),
    ReverseSort,
    /// Colour the embedding by the selected gene's reconstruction error.
    ColourByError,
    /// Step to the previous / next latent snapshot, play them, back to the final view.
    PrevSnapshot,
    NextSnapshot,
    PlaySnapshots,
    FinalView,
    StartDetached,
    Detach,
    Attach,
    Confirm,
    Cancel,
}

/// Which table is consulted: the global one plus the focused pane's, or a modal's alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Data,
    Train,
    Runs,
    /// A sweep's table, opened from the Runs pane.
    SweepTable,
    Embeddings,
    Genes,
    Transfer,
    Help,
    QuitPrompt,
    TextInput,
}

impl Scope {
    /// Every scope, in the order the help screen lists them.
    pub const ALL: [Scope; 11] = [
        Scope::Global,
        Scope::Data,
        Scope::Train,
        Scope::Embeddings,
        Scope::Genes,
        Scope::Runs,
        Scope::SweepTable,
        Scope::Transfer,
        Scope::Help,
        Scope::QuitPrompt,
        Scope::TextInput,
    ];

    /// The keymap scope of the tab's pane, if it has bindings of its own.
    pub fn of_tab(tab: Tab) -> Option<Scope> {
        match tab {
            Tab::Data => Some(Scope::Data),
            Tab::Train => Some(Scope::Train),
            Tab::Runs => Some(Scope::Runs),
            Tab::Embeddings => Some(Scope::Embeddings),
            Tab::Genes => Some(Scope::Genes),
            Tab::Transfer => Some(Scope::Transfer),
        }
    }

    /// Whether this is a pane's table (consulted together with the global one).
    pub fn is_pane(self) -> bool {
        matches!(
            self,
            Scope::Data
                | Scope::Train
                | Scope::Runs
                | Scope::SweepTable
                | Scope::Embeddings
                | Scope::Genes
                | Scope::Transfer
        )
    }

    /// The heading of this scope in the help screen.
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Data => "Data pane",
            Scope::Train => "Train pane",
            Scope::Runs => "Runs pane",
            Scope::SweepTable => "Sweep table (Enter on a sweep in the Runs pane)",
            Scope::Embeddings => "Embeddings pane",
            Scope::Genes => "Genes pane",
            Scope::Transfer => "Transfer pane",
            Scope::Help => "Help screen",
            Scope::QuitPrompt => "Quit prompt",
            Scope::TextInput => "Search, field edit and : palette",
        }
    }
}

/// One binding: its keys, what it does, its palette command name and its help line.
#[derive(Debug)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    /// The short name shown in the status bar and typed in the `:` palette.
    pub command: &'static str,
    pub help: &'static str,
}

/// A binding (const, for the key tables).
pub const fn b(
    keys: &'static [Key],
    action: Action,
    command: &'static str,
    help: &'static str,
) -> Binding {
    Binding {
        keys,
        action,
        command,
        help,
    }
}

const GLOBAL: &[Binding] = &[
    b(
        &[Key::char('q')],
        Action::Quit,
        "quit",
        "quit (asks first while training)",
    ),
    b(
        &[Key::ctrl('c')],
        Action::ForceQuit,
        "force-quit",
        "quit now; stops a running training",
    ),
    b(
        &[Key::char('?'), Key::code(KeyCode::F(1))],
        Action::Help,
        "help",
        "show or hide this help",
    ),
    b(
        &[Key::code(KeyCode::Tab)],
        Action::NextTab,
        "next-tab",
        "next tab",
    ),
    b(
        &[Key::code(KeyCode::BackTab)],
        Action::PrevTab,
        "prev-tab",
        "previous tab",
    ),
    b(
        &[Key::char('1')],
        Action::GoTab(Tab::Data),
        "data",
        "Data tab",
    ),
    b(
        &[Key::char('2')],
        Action::GoTab(Tab::Train),
        "train",
        "Train tab",
    ),
    b(
        &[Key::char('3')],
        Action::GoTab(Tab::Embeddings),
        "embeddings",
        "Embeddings tab",
    ),
    b(
        &[Key::char('4')],
        Action::GoTab(Tab::Genes),
        "genes",
        "Genes tab",
    ),
    b(
        &[Key::char('5')],
        Action::GoTab(Tab::Transfer),
        "transfer",
        "Transfer tab",
    ),
    b(
        &[Key::char('6')],
        Action::GoTab(Tab::Runs),
        "runs",
        "Runs tab",
    ),
    b(
        &[Key::char('m')],
        Action::ToggleMouse,
        "mouse",
        "mouse capture on/off (off: select text)",
    ),
    b(
        &[Key::char(':')],
        Action::Palette,
        "palette",
        "command palette: type a command name",
    ),
];

/// A gene table's bindings: the pane's own, then moving through the genes (shared by the Data
/// and Genes panes).
macro_rules! gene_table {
    ($($own:expr),* $(,)?) => {
        &[
            $($own,)*
            b(
                &[Key::char('j'), Key::code(KeyCode::Down)],
                Action::Down,
                "down",
                "next gene",
            ),
            b(
                &[Key::char('k'), Key::code(KeyCode::Up)],
                Action::Up,
                "up",
                "previous gene",
            ),
            b(
                &[Key::ctrl('d'), Key::code(KeyCode::PageDown)],
                Action::PageDown,
                "page-down",
                "page down",
            ),
            b(
                &[Key::ctrl('u'), Key::code(KeyCode::PageUp)],
                Action::PageUp,
                "page-up",
                "page up",
            ),
            b(
                &[Key::char('g'), Key::code(KeyCode::Home)],
                Action::Top,
                "top",
                "first gene",
            ),
            b(
                &[Key::char('G'), Key::code(KeyCode::End)],
                Action::Bottom,
                "bottom",
                "last gene",
            ),
        ]
    };
}
pub(crate) use gene_table;

const HELP: &[Binding] = &[
    b(
        &[Key::code(KeyCode::Esc), Key::char('?'), Key::char('q')],
        Action::Cancel,
        "close",
        "close help",
    ),
    b(
        &[Key::char('j'), Key::code(KeyCode::Down)],
        Action::Down,
        "down",
        "scroll down",
    ),
    b(
        &[Key::char('k'), Key::code(KeyCode::Up)],
        Action::Up,
        "up",
        "scroll up",
    ),
];

const QUIT_PROMPT: &[Binding] = &[
    b(
        &[Key::char('y'), Key::code(KeyCode::Enter)],
        Action::Confirm,
        "stop-quit",
        "stop the run and quit",
    ),
    b(
        &[Key::char('n'), Key::code(KeyCode::Esc)],
        Action::Cancel,
        "cancel",
        "keep training, stay",
    ),
];

const TEXT_INPUT: &[Binding] = &[
    b(
        &[Key::code(KeyCode::Enter)],
        Action::Confirm,
        "accept",
        "accept",
    ),
    b(
        &[Key::code(KeyCode::Esc)],
        Action::Cancel,
        "cancel",
        "cancel",
    ),
];

/// The bindings of one scope.
pub fn bindings(scope: Scope) -> &'static [Binding] {
    match scope {
        Scope::Global => GLOBAL,
        Scope::Data => crate::tui::data::keys::BINDINGS,
        Scope::Train => crate::tui::train::keys::BINDINGS,
        Scope::Runs => crate::tui::runs::keys::BINDINGS,
        Scope::SweepTable => crate::tui::runs::keys::SWEEP_TABLE,
        Scope::Embeddings => crate::tui::embeddings::keys::BINDINGS,
        Scope::Genes => crate::tui::genes::keys::BINDINGS,
        Scope::Transfer => crate::tui::transfer::keys::BINDINGS,
        Scope::Help => HELP,
        Scope::QuitPrompt => QUIT_PROMPT,
        Scope::TextInput => TEXT_INPUT,
    }
}

/// The action bound to `key` in `scope`, if any.
pub fn lookup(scope: Scope, key: Key) -> Option<Action> {
    bindings(scope)
        .iter()
        .find(|b| b.keys.contains(&key))
        .map(|b| b.action)
}

/// The binding whose palette command name is `command`, searched in the pane's table then globally.
pub fn by_command(pane: Option<Scope>, command: &str) -> Option<&'static Binding> {
    let command = command.trim();
    pane.into_iter()
        .chain([Scope::Global])
        .flat_map(bindings)
        .find(|b| b.command == command)
}

/// The keys of a binding as written in help: `j ↓`.
pub fn keys_label(binding: &Binding) -> String {
    binding
        .keys
        .iter()
        .map(Key::label)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_binding_has_help_text_and_a_command_name() {
        for scope in Scope::ALL {
            for b in bindings(scope) {
                assert!(!b.help.trim().is_empty(), "{scope:?} {:?}", b.action);
                assert!(!b.command.is_empty() && !b.command.contains(' '), "{b:?}");
                assert!(!b.keys.is_empty(), "{b:?}");
            }
        }
    }

    #[test]
    fn no_key_is_bound_twice_in_a_pane_or_shadows_a_global_key() {
        for scope in Scope::ALL {
            let mut seen = HashSet::new();
            let global = if scope.is_pane() {
                bindings(Scope::Global)
            } else {
                &[]
            };
            for b in bindings(scope).iter().chain(global) {
                for key in b.keys {
                    // A view's `close` may take `q` from quit, as help does.
                    let closes =
                        b.action == Action::Quit && lookup(scope, *key) == Some(Action::Cancel);
                    assert!(
                        seen.insert(*key) || closes,
                        "{scope:?}: {} bound twice",
                        key.label()
                    );
                }
            }
        }
    }

    #[test]
    fn palette_command_names_are_unique_per_pane() {
        for scope in [
            Scope::Data,
            Scope::Train,
            Scope::Runs,
            Scope::SweepTable,
            Scope::Embeddings,
            Scope::Genes,
            Scope::Transfer,
        ] {
            let mut seen = HashSet::new();
            for b in bindings(scope).iter().chain(bindings(Scope::Global)) {
                assert!(seen.insert(b.command), "{scope:?}: {} twice", b.command);
            }
        }
    }

    #[test]
    fn lookup_finds_vim_keys_and_arrows_alike() {
        assert_eq!(lookup(Scope::Data, Key::char('j')), Some(Action::Down));
        assert_eq!(
            lookup(Scope::Data, Key::code(KeyCode::Down)),
            Some(Action::Down)
        );
        assert_eq!(lookup(Scope::Train, Key::char('z')), None);
    }

    #[test]
    fn shift_is_folded_into_capital_letters() {
        let ev = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(
            lookup(Scope::Data, Key::from_event(&ev)),
            Some(Action::Bottom)
        );
        let ev = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(
            lookup(Scope::Global, Key::from_event(&ev)),
            Some(Action::PrevTab)
        );
    }

    #[test]
    fn palette_finds_pane_commands_before_global_ones() {
        assert_eq!(
            by_command(Some(Scope::Train), "start").unwrap().action,
            Action::Start
        );
        assert_eq!(
            by_command(Some(Scope::Data), "quit").unwrap().action,
            Action::Quit
        );
        assert!(by_command(Some(Scope::Data), "start").is_none());
    }
}
