//! The app state and its one entry point, `update(msg) -> effects`: pure, so every key, click and
//! worker event can be tested without a terminal. The event loop performs the returned effects.

use std::path::PathBuf;

use crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use crate::config::Config;
use crate::train::{TrainCommand, TrainEvent};

use crate::analysis::run_analysis::run_name;
use crate::tui::data::state::{DataState, LoadState};
use crate::tui::embeddings::state::EmbeddingsState;
use crate::tui::genes::state::GenesState;
use crate::tui::input::{self, InputPurpose, Modal};
use crate::tui::keymap::{self, Action, Key, Scope};
use crate::tui::message::{Effect, Msg};
use crate::tui::panes;
use crate::tui::runs::state::RunsState;
use crate::tui::tab::Tab;
use crate::tui::theme::Theme;
use crate::tui::train::state::{RunPhase, TrainPaneState};
use crate::tui::transfer::state::TransferState;
use crate::tui::{data, embeddings, genes, runs, train, transfer};

/// The whole UI state.
#[derive(Debug, Clone)]
pub struct App {
    pub tab: Tab,
    pub modal: Modal,
    pub data: DataState,
    pub train: TrainPaneState,
    pub runs: RunsState,
    pub embeddings: EmbeddingsState,
    pub genes: GenesState,
    /// The directory of the last run the Train pane finished, for "explore".
    pub finished_run: Option<PathBuf>,
    pub transfer: TransferState,
    pub config: Config,
    pub dataset: PathBuf,
    pub mouse: bool,
    /// The terminal area, from the last resize.
    pub area: Rect,
    /// The log file, as shown in help.
    pub log_path: String,
    /// A one-line message in the status bar until the next key.
    pub notice: Option<String>,
    pub theme: Theme,
}

impl App {
    /// A fresh app on `dataset` with the given settings.
    pub fn new(config: Config, dataset: PathBuf, log_path: String, theme: Theme) -> Self {
        Self {
            tab: Tab::Data,
            modal: Modal::None,
            data: DataState::new(&config.data.matrix, &config.data.label),
            train: TrainPaneState::new(&config),
            runs: RunsState::default(),
            embeddings: EmbeddingsState::default(),
            genes: GenesState::default(),
            finished_run: None,
            transfer: TransferState::new(&config, &dataset),
            mouse: config.ui.mouse,
            config,
            dataset,
            area: Rect::new(0, 0, 80, 24),
            log_path,
            notice: None,
            theme,
        }
    }

    /// The effects to run at start-up: load the dataset.
    pub fn start(&mut self) -> Vec<Effect> {
        self.load_effect()
    }

    /// Loads the dataset with the chosen matrix off the UI thread.
    pub fn load_effect(&mut self) -> Vec<Effect> {
        self.data.load = LoadState::Loading {
            name: self.dataset_name(),
            stage: "opening".into(),
        };
        vec![Effect::Load {
            path: self.dataset.clone(),
            matrix: self.data.matrix.clone(),
        }]
    }

    /// The dataset's file name.
    pub fn dataset_name(&self) -> String {
        self.dataset.file_name().map_or_else(
            || self.dataset.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// The keymap scope that currently handles keys (a modal's, else the pane's).
    pub fn scope(&self) -> Scope {
        match &self.modal {
            Modal::Help { .. } => Scope::Help,
            Modal::QuitPrompt => Scope::QuitPrompt,
            Modal::Input { .. } => Scope::TextInput,
            Modal::None => self.pane_scope().unwrap_or(Scope::Global),
        }
    }

    /// The keymap scope of the focused pane (an open sweep table has its own).
    pub fn pane_scope(&self) -> Option<Scope> {
        if self.tab == Tab::Runs && self.runs.table.is_some() {
            return Some(Scope::SweepTable);
        }
        Scope::of_tab(self.tab)
    }

    /// Applies one message; returns the effects for the event loop. Scroll positions follow
    /// their cursors here, so drawing only reads the state.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let effects = self.route(msg);
        let gene_rows = data::view::gene_rows(self.body()).height;
        self.data.scroll_genes(usize::from(gene_rows));
        effects
    }

    /// Hands a message to the shell or the feature it belongs to.
    fn route(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key),
            Msg::Key(_) => Vec::new(),
            Msg::Mouse(mouse) => self.on_mouse(mouse),
            Msg::Resize(w, h) => {
                self.area = Rect::new(0, 0, w, h);
                self.fit_plot();
                Vec::new()
            }
            Msg::Tick => {
                self.data.spinner = self.data.spinner.wrapping_add(1);
                self.embeddings.timeline.tick(crate::tui::runner::TICK);
                Vec::new()
            }
            Msg::LoadStage(stage) => {
                if let LoadState::Loading { stage: s, .. } = &mut self.data.load {
                    *s = stage;
                }
                Vec::new()
            }
            Msg::Loaded(Ok(view)) => {
                if !view.matrices.contains(&self.data.matrix) {
                    self.data.matrix = view.matrices.first().cloned().unwrap_or_default();
                }
                self.data.set_loaded(view);
                Vec::new()
            }
            Msg::Loaded(Err(message)) => {
                self.data.load = LoadState::Failed(message);
                Vec::new()
            }
            Msg::Train(event) => {
                if let TrainEvent::Finished { run_dir, .. } = &event {
                    self.finished_run = Some(run_dir.clone());
                }
                let effects = embeddings::live::on_train(self, &event);
                self.train.apply(event);
                effects
            }
            Msg::RunsScanned(runs) => {
                self.runs.set_runs(runs);
                Vec::new()
            }
            Msg::SweepsScanned(sweeps) => {
                self.runs.set_sweeps(sweeps);
                Vec::new()
            }
            Msg::Analysis(event) => {
                if let Some(analysis) = self.embeddings.apply(event) {
                    self.genes.set_recon(analysis.recon.clone());
                    self.fit_plot();
                    return embeddings::live::on_analysed(self);
                }
                Vec::new()
            }
            Msg::Timeline { run_dir, snapshots } => {
                embeddings::live::on_read(self, run_dir, snapshots)
            }
            Msg::Transfer(msg) => {
                if self.transfer.apply(msg) {
                    return transfer::actions::columns_effect(self);
                }
                Vec::new()
            }
            Msg::Attached(Ok(dir)) => {
                self.notice = Some(format!(
                    "following {}: q leaves it running · d detaches",
                    dir.display()
                ));
                self.train.attached = Some(dir);
                Vec::new()
            }
            Msg::Attached(Err(message)) => {
                self.train.status = RunPhase::Failed(message.clone());
                self.notice = Some(message);
                Vec::new()
            }
        }
    }

    /// Gives the Embeddings scatter the size of its plot area (it re-bins when that changes).
    fn fit_plot(&mut self) {
        let plot = crate::tui::embeddings::view::plot_area(self.body());
        self.embeddings.resize(plot.width, plot.height);
    }

    /// Opens a run into the Embeddings and Genes panes: starts its analysis off the UI thread.
    pub fn open_run(&mut self, run_dir: PathBuf) -> Vec<Effect> {
        let job = self.embeddings.job + 1;
        self.embeddings.begin(job, run_name(&run_dir));
        self.genes.clear();
        self.tab = Tab::Embeddings;
        vec![Effect::Analyse {
            job,
            run_dir,
            label: self.data.label.clone(),
        }]
    }

    fn on_key(&mut self, event: KeyEvent) -> Vec<Effect> {
        let key = Key::from_event(&event);
        if keymap::lookup(Scope::Global, key) == Some(Action::ForceQuit) {
            return self.act(Action::ForceQuit);
        }
        self.notice = None;
        if matches!(self.modal, Modal::Input { .. }) {
            return input::on_key(self, &event, key);
        }
        let scope = self.scope();
        let action = keymap::lookup(scope, key).or_else(|| {
            (scope.is_pane() || scope == Scope::Global)
                .then(|| keymap::lookup(Scope::Global, key))
                .flatten()
        });
        action.map_or_else(Vec::new, |a| self.act(a))
    }

    /// Performs an action in the current context (keys and the palette both land here).
    pub fn act(&mut self, action: Action) -> Vec<Effect> {
        match (&mut self.modal, action) {
            (_, Action::ForceQuit) => {
                let mut effects = Vec::new();
                if self.train.training_here() {
                    effects.push(Effect::Command(TrainCommand::Stop));
                }
                effects.push(Effect::Quit);
                return effects;
            }
            (Modal::Help { .. }, Action::Cancel | Action::Help) => self.modal = Modal::None,
            (Modal::Help { scroll }, Action::Down) => *scroll = scroll.saturating_add(1),
            (Modal::Help { scroll }, Action::Up) => *scroll = scroll.saturating_sub(1),
            (Modal::QuitPrompt, Action::Confirm) => {
                return vec![Effect::Command(TrainCommand::Stop), Effect::Quit];
            }
            (Modal::QuitPrompt, Action::Cancel) => self.modal = Modal::None,
            (Modal::None, _) => return self.act_normal(action),
            _ => {}
        }
        Vec::new()
    }

    fn act_normal(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Quit if self.train.training_here() => {
                self.modal = Modal::QuitPrompt;
            }
            Action::Quit => return vec![Effect::Quit],
            Action::Help => self.modal = Modal::Help { scroll: 0 },
            Action::NextTab => return self.open_tab(self.tab.offset(1)),
            Action::PrevTab => return self.open_tab(self.tab.offset(-1)),
            Action::GoTab(tab) => return self.open_tab(tab),
            Action::ToggleMouse => {
                self.mouse = !self.mouse;
                self.notice = Some(if self.mouse {
                    "mouse capture on".into()
                } else {
                    "mouse capture off: select text with the mouse; m turns it back on".into()
                });
                return vec![Effect::SetMouse(self.mouse)];
            }
            Action::Palette => self.open_input(InputPurpose::Palette, String::new()),
            _ => match self.tab {
                Tab::Data => return data::actions::act(self, action),
                Tab::Train => return train::actions::act(self, action),
                Tab::Runs => return runs::actions::act(self, action),
                Tab::Embeddings => embeddings::actions::act(self, action),
                Tab::Genes => return genes::actions::act(self, action),
                Tab::Transfer => return transfer::actions::act(self, action),
            },
        }
        Vec::new()
    }

    /// Switches to `tab`; opening the Runs tab rescans the runs directory.
    pub fn open_tab(&mut self, tab: Tab) -> Vec<Effect> {
        let opened = tab != self.tab;
        self.tab = tab;
        match tab {
            Tab::Runs if opened => runs::actions::scan(self),
            Tab::Transfer if opened => transfer::actions::open(self),
            _ => Vec::new(),
        }
    }

    /// The run later panes work on: the Runs pane's selection (a run, or a sweep table's row),
    /// else the run the Train pane follows or started in this session.
    pub fn current_run(&self) -> Option<PathBuf> {
        self.runs
            .selected_dir()
            .or_else(|| self.train.attached.clone())
            .or_else(|| {
                let name = self.train.run_name.as_ref()?;
                Some(PathBuf::from(&self.config.train.out_dir).join(name))
            })
    }

    /// Opens the text input for `purpose`, prefilled with `buffer`.
    pub fn open_input(&mut self, purpose: InputPurpose, buffer: String) {
        self.modal = Modal::Input { purpose, buffer };
    }

    /// The area between the tab bar and the status bar.
    pub fn body(&self) -> Rect {
        panes::screen_layout(self.area).body
    }

    fn on_mouse(&mut self, mouse: MouseEvent) -> Vec<Effect> {
        if self.modal != Modal::None {
            return Vec::new();
        }
        let at = Position::new(mouse.column, mouse.row);
        let layout = panes::screen_layout(self.area);
        let body = layout.body;
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) if layout.tabs.contains(at) => {
                if let Some(tab) = panes::tab_at(layout.tabs, at.x) {
                    return self.open_tab(tab);
                }
            }
            MouseEventKind::Down(MouseButton::Left) => match self.tab {
                Tab::Data => data::actions::click(self, at, body),
                Tab::Embeddings => embeddings::actions::click(self, at, body),
                Tab::Train => train::actions::click(self, at, body),
                Tab::Runs => runs::actions::click(self, at, body),
                Tab::Genes | Tab::Transfer => {}
            },
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let (up, step) = match mouse.kind {
                    MouseEventKind::ScrollUp => (true, -1),
                    _ => (false, 1),
                };
                match self.tab {
                    Tab::Data => self.data.move_gene(3 * step),
                    Tab::Embeddings => embeddings::actions::wheel(self, up, at, body),
                    Tab::Genes => self.genes.move_cursor(3 * step),
                    Tab::Runs => self.runs.move_cursor(step),
                    Tab::Train | Tab::Transfer => {}
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
