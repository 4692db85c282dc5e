//! The real terminal: raw mode, alternate screen, mouse capture and synchronized frames, restored on
//! every exit (quit, Ctrl-C, error returns via Drop, and panics of the UI thread via the panic hook).

use std::io::{self, Stdout, stdout};
use std::sync::OnceLock;
use std::thread::ThreadId;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::tui::app::App;
use crate::tui::panes;

/// Where the event loop draws and what it toggles; the real terminal or a test backend.
pub trait Screen {
    /// Draws one frame of the app.
    fn draw_app(&mut self, app: &App) -> io::Result<()>;
    /// Turns mouse capture on or off.
    fn set_mouse(&mut self, on: bool) -> io::Result<()>;
}

impl Screen for Terminal<ratatui::backend::TestBackend> {
    fn draw_app(&mut self, app: &App) -> io::Result<()> {
        self.draw(|f| panes::draw(f, app))
            .map(drop)
            .map_err(|e| match e {})
    }

    fn set_mouse(&mut self, _on: bool) -> io::Result<()> {
        Ok(())
    }
}

/// The UI thread, whose panics must restore the terminal (other threads' panics are only logged).
static UI_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// The terminal in UI mode; dropping it restores the terminal.
pub struct TerminalSession {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    mouse: bool,
}

impl TerminalSession {
    /// Enters raw mode and the alternate screen, with mouse capture if asked.
    pub fn enter(mouse: bool) -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        let terminal = Terminal::new(CrosstermBackend::new(stdout())).inspect_err(|_| restore())?;
        // From here on, Drop restores whatever was switched on.
        let mut session = Self {
            terminal,
            mouse: false,
        };
        execute!(stdout(), EnterAlternateScreen)?;
        session.set_mouse(mouse)?;
        session.terminal.clear()?;
        Ok(session)
    }
}

impl Screen for TerminalSession {
    fn draw_app(&mut self, app: &App) -> io::Result<()> {
        execute!(stdout(), BeginSynchronizedUpdate)?;
        let drawn = self.terminal.draw(|f| panes::draw(f, app)).map(drop);
        execute!(stdout(), EndSynchronizedUpdate)?;
        drawn
    }

    fn set_mouse(&mut self, on: bool) -> io::Result<()> {
        if on {
            execute!(stdout(), EnableMouseCapture)?;
        } else {
            execute!(stdout(), DisableMouseCapture)?;
        }
        self.mouse = on;
        Ok(())
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        let _ = self.terminal.show_cursor();
        restore();
    }
}

/// Leaves every terminal mode the UI may have entered; safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        stdout(),
        EndSynchronizedUpdate,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// A panic on the UI thread restores the terminal before the message is printed; a panic on any
/// other thread (loader, worker) is logged to the file and left to that thread's owner to report,
/// so it never scribbles over the screen.
fn install_panic_hook() {
    if UI_THREAD.set(std::thread::current().id()).is_err() {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if UI_THREAD.get() == Some(&std::thread::current().id()) {
            restore();
            previous(info);
        } else {
            tracing::error!("panic in background thread: {info}");
        }
    }));
}
