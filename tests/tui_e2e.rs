//! End-to-end: the real binary in a tmux pane. Opens on the demo, switches tabs, opens help,
//! (once the data layer and worker are merged) trains, then quits and checks the terminal is back.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cellscope::train::detached::{pid_alive, run_pid};

/// A private tmux server (its own socket) running one shell session; killed on drop.
struct Tmux {
    socket: String,
    home: tempfile::TempDir,
}

impl Tmux {
    /// Starts a 100x30 session with a plain shell whose HOME and state dir are a temp directory.
    fn start(name: &str) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipping: tmux is not installed");
            return None;
        }
        let home = tempfile::tempdir().unwrap();
        let socket = format!("cellscope-e2e-{name}-{}", std::process::id());
        let t = Self { socket, home };
        let home = t.home().display().to_string();
        t.tmux(&[
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            "100",
            "-y",
            "30",
            "-e",
            &format!("HOME={home}"),
            "-e",
            &format!("XDG_STATE_HOME={home}/state"),
            "bash --norc --noprofile",
        ]);
        t.send_literal("PS1='PROMPT$ '");
        t.keys(&["Enter"]);
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn home(&self) -> &Path {
        self.home.path()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn send_literal(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "e2e", "-l", text]);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "e2e"]).stdout).into()
    }

    fn format(&self, f: &str) -> String {
        let out = self.tmux(&["display-message", "-p", "-t", "e2e", f]).stdout;
        String::from_utf8_lossy(&out).trim().to_string()
    }

    /// Waits until the screen satisfies `ok`; panics with the screen after `secs`.
    fn wait_for(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_text(&self, text: &str, secs: u64) -> String {
        self.wait_for(text, secs, |s| s.contains(text))
    }

    /// Runs cellscope with `args`, printing its exit code when it ends.
    fn launch(&self, args: &str) {
        let bin = env!("CARGO_BIN_EXE_cellscope");
        self.send_literal(&format!("{bin} {args}; echo \"EXIT=$?\""));
        self.keys(&["Enter"]);
    }

    /// Opens the UI on the demo with the settings in `config`, then its Train tab.
    fn train_tab_on_the_demo(&self, config: &Path) {
        self.wait_text("PROMPT$", 5);
        self.launch(&format!("--config {}", config.display()));
        // The gene table's title counts the genes once the demo has loaded.
        self.wait_text("6397/6397", 60);
        self.keys(&["2"]);
        self.wait_text("Settings", 5);
    }

    /// Checks the terminal is back to normal after the UI ended with code 0.
    fn assert_restored(&self) {
        // The line the shell prints, not the typed command that contains the same text.
        let screen = self.wait_for("exit code", 10, |s| {
            s.lines().any(|l| l.starts_with("EXIT="))
        });
        assert!(screen.lines().any(|l| l.trim() == "EXIT=0"), "{screen}");
        assert!(screen.contains("PROMPT$"), "no shell prompt:\n{screen}");
        assert_eq!(
            self.format("#{alternate_on}"),
            "0",
            "still in the alternate screen"
        );
        assert_eq!(
            self.format("#{mouse_any_flag}"),
            "0",
            "mouse capture left on"
        );
        assert_eq!(self.format("#{cursor_flag}"), "1", "cursor left hidden");
        // The shell reads lines again (raw mode off): a command typed now runs.
        self.send_literal("echo TYPED-$((40+2))");
        self.keys(&["Enter"]);
        self.wait_text("TYPED-42", 5);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn write_small_config(dir: &Path) -> PathBuf {
    let path = dir.join("small.toml");
    std::fs::write(
        &path,
        "[train]\nepochs = 2\nbatch_size = 64\n\n[preprocess]\nn_top_genes = 200\n\n\
         [model]\nhidden = [32]\nlatent = 8\n\n[analysis]\nlayout_max_cells = 200\n\n\
         [ui]\nmarker = \"dot\"\n",
    )
    .unwrap();
    path
}

#[test]
fn shell_tabs_help_and_quit_leave_the_terminal_restored() {
    let Some(t) = Tmux::start("shell") else {
        return;
    };
    t.wait_text("PROMPT$", 5);
    t.launch("");
    t.wait_text("1 Data │ 2 Train", 10);
    t.keys(&["2"]);
    t.wait_text("Settings", 5);
    t.keys(&["?"]);
    let help = t.wait_text("Help: keys", 5);
    assert!(
        help.contains("cellscope.log"),
        "help names the log file:\n{help}"
    );
    t.keys(&["Escape"]);
    t.wait_for("help closed", 5, |s| !s.contains("Help: keys"));
    t.keys(&["3"]);
    t.wait_text("No run open", 5);
    // The Runs tab scans the runs directory in the background and shows the outcome.
    t.keys(&["6"]);
    t.wait_for("runs scanned", 5, |s| {
        s.contains("No runs yet") || s.contains("best val")
    });
    // Shrunk to 20x5 the UI says so; grown back it draws its panes again.
    t.tmux(&["resize-window", "-t", "e2e", "-x", "20", "-y", "5"]);
    t.wait_text("too small", 5);
    t.tmux(&["resize-window", "-t", "e2e", "-x", "100", "-y", "30"]);
    t.wait_text("1 Data │ 2 Train", 5);
    t.keys(&["m"]);
    t.wait_text("mouse off", 5);
    t.keys(&["m"]);
    t.keys(&["q"]);
    t.assert_restored();
    let log = t.home().join("state/cellscope/cellscope.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("ui start"),
        "log file {}: {text}",
        log.display()
    );
}

#[test]
fn ctrl_c_quits_and_restores_the_terminal() {
    let Some(t) = Tmux::start("ctrlc") else {
        return;
    };
    t.wait_text("PROMPT$", 5);
    t.launch("");
    t.wait_text("1 Data │ 2 Train", 10);
    t.keys(&["C-c"]);
    t.assert_restored();
}

#[test]
fn masked_pretraining_from_the_ui_fills_the_loss_chart_and_stops() {
    let Some(t) = Tmux::start("train") else {
        return;
    };
    let config = write_small_config(t.home());
    t.train_tab_on_the_demo(&config);
    t.keys(&["s"]);
    t.wait_text("training", 30);
    // The chart fills: its empty-state hint goes away and plotted dots appear.
    t.wait_for("loss points", 60, |s| {
        !s.contains("Press s to start") && s.matches('•').count() >= 5
    });
    t.keys(&["x"]);
    t.wait_for("run stopped", 30, |s| {
        s.contains("stopped") || s.contains("finished")
    });
    // The finished run opens into the Embeddings pane: analysed in the background, then drawn.
    t.wait_text("o explore embeddings", 10);
    t.keys(&["o"]);
    let screen = t.wait_text("Legend", 90);
    assert!(screen.contains("5-fold CV vs cell_type"), "{screen}");
    t.keys(&["4"]);
    t.wait_text("Reconstruction of held-out cells", 5);
    t.keys(&["q"]);
    t.assert_restored();
}

#[test]
fn the_embeddings_timeline_follows_the_training_run_and_steps_through_its_snapshots() {
    let Some(t) = Tmux::start("timeline") else {
        return;
    };
    let config = t.home().join("timeline.toml");
    std::fs::write(
        &config,
        format!(
            "[train]\nepochs = 3\nbatch_size = 64\npatience = 0\nsnapshot_every = 1\n\
             snapshot_cells = 300\nout_dir = \"{}\"\n\n[preprocess]\nn_top_genes = 200\n\n\
             [model]\nhidden = [32]\nlatent = 8\n\n[analysis]\nlayout_max_cells = 200\n\n\
             [ui]\nmarker = \"dot\"\n",
            t.home().join("runs").display()
        ),
    )
    .unwrap();
    t.train_tab_on_the_demo(&config);
    t.keys(&["s"]);
    // Live: before any analysis the Embeddings pane shows the run's newest snapshot as it comes.
    t.keys(&["3"]);
    t.wait_text("┌ snapshot ", 60);
    t.wait_text("snapshot 4/4 · epoch 3 · kNN macro-F1", 120);
    t.keys(&["2"]);
    t.wait_text("o explore embeddings", 30);
    t.keys(&["o"]);
    t.wait_text("Legend", 90);
    // [ and ] step through the snapshots; past the last, back to the final view.
    t.keys(&["["]);
    t.wait_text("snapshot 4/4 · epoch 3", 5);
    t.keys(&["["]);
    t.wait_text("snapshot 3/4 · epoch 2", 5);
    t.keys(&["]"]);
    t.wait_text("snapshot 4/4 · epoch 3", 5);
    t.keys(&["]"]);
    let screen = t.wait_for("the final view", 5, |s| !s.contains("snapshot 4/4"));
    assert!(
        screen.contains("t-SNE") && screen.contains("[ ] 4 snapshots"),
        "{screen}"
    );
    t.keys(&["q"]);
    t.assert_restored();
}

#[test]
fn a_detached_run_started_from_the_ui_survives_detach_reattach_and_the_ui_dying() {
    let Some(t) = Tmux::start("attach") else {
        return;
    };
    let runs = t.home().join("runs");
    let config = t.home().join("slow.toml");
    std::fs::write(
        &config,
        format!(
            "[train]\nepochs = 100000\nbatch_size = 8\nthreads = 1\npatience = 0\nout_dir = \"{}\"\n\n\
             [preprocess]\nn_top_genes = 100\n\n[model]\nhidden = [16]\nlatent = 4\n\n\
             [ui]\nmarker = \"dot\"\n",
            runs.display()
        ),
    )
    .unwrap();
    t.train_tab_on_the_demo(&config);
    t.keys(&["S"]);
    t.wait_for("the detached run training", 60, |s| {
        s.contains("own process") && s.contains("training")
    });
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .expect("a run directory");
    let _kill = common::KillRun(run.clone());
    let pid = run_pid(&run).expect("the run records its pid");
    let name = run.file_name().unwrap().to_string_lossy().to_string();

    // Detach: the pane lets go, the run goes on.
    t.keys(&["d"]);
    t.wait_text("detached from", 5);
    assert!(pid_alive(pid), "detaching stopped the run");

    // Re-attach from the Runs tab: the history is replayed from the first line.
    t.keys(&["6"]);
    t.wait_text("running", 20);
    t.keys(&["a"]);
    let prefix: String = name.chars().take(15).collect();
    t.wait_for("the re-attached run", 20, |s| {
        s.contains("own process") && s.contains(&prefix) && s.contains("training")
    });
    // Its whole loss history is back: the chart's step axis starts at 0 again.
    t.wait_for("the replayed history", 20, |s| {
        s.lines()
            .any(|l| l.contains("│     0 ") || l.contains("│     0  "))
    });

    // The UI dies with its terminal (as over a dropped SSH link); the run keeps training.
    let metrics = run.join("metrics.jsonl");
    let before = std::fs::metadata(&metrics).unwrap().len();
    t.tmux(&["kill-server"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&metrics).unwrap().len() == before {
        assert!(Instant::now() < deadline, "the run stopped writing metrics");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(pid_alive(pid), "the run died with the UI");
}

#[test]
fn without_a_terminal_the_ui_points_to_the_headless_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_cellscope"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing drawn on stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("cellscope train"),
        "{err}"
    );
}

#[test]
fn a_transfer_started_from_the_ui_reports_its_arms_and_writes_transfer_json() {
    let Some(t) = Tmux::start("transfer") else {
        return;
    };
    let data = common::fixture("scanpy/counts.h5ad");
    let runs = t.home().join("runs");
    let config = t.home().join("transfer.toml");
    std::fs::write(
        &config,
        format!(
            "[train]\nepochs = 2\nbatch_size = 64\nout_dir = \"{}\"\n\n[preprocess]\n\
             n_top_genes = 200\n\n[model]\nhidden = [32]\nlatent = 8\n\n\
             [transfer]\nepochs = 3\nseeds = 2\n",
            runs.display()
        ),
    )
    .unwrap();
    let train = Command::new(env!("CARGO_BIN_EXE_cellscope"))
        .args(["train", "--config"])
        .arg(&config)
        .arg(&data)
        .output()
        .unwrap();
    assert!(train.status.success(), "{train:?}");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .expect("a run directory");
    t.wait_text("PROMPT$", 5);
    // Away from the repository the pane still suggests the bundled pbmc68k target (found like
    // the demo) with its coarse label map.
    t.send_literal(&format!("cd {}", t.home().display()));
    t.keys(&["Enter"]);
    t.launch(&format!("{} --config {}", data.display(), config.display()));
    t.wait_text("1 Data │ 2 Train", 10);
    t.keys(&["6"]);
    t.wait_text("best val", 10);
    // The Transfer tab works on the selected run and reads the target's label columns.
    t.keys(&["5"]);
    let form = t.wait_text("cell_type  (1 of 4)", 10);
    assert!(
        form.contains("_reduced_counts_700x765.h5ad") && form.contains("pbmc68k_coarse.csv"),
        "{form}"
    );
    t.keys(&["s"]);
    let done = t.wait_text("fine-tuned − scratch", 60);
    assert!(
        done.contains("zero-shot") && done.contains("confusion"),
        "{done}"
    );
    assert!(run.join("transfer.json").is_file());
    t.keys(&["q"]);
    t.assert_restored();
}

#[test]
fn a_file_that_crashes_libhdf5_shows_an_error_in_the_ui_instead_of_killing_it() {
    let Some(t) = Tmux::start("corrupt") else {
        return;
    };
    t.wait_text("PROMPT$", 5);
    let bad = common::fixture("bad/hdf5_segfault_global_heap.h5ad");
    t.launch(&bad.display().to_string());
    let screen = t.wait_text("corrupt", 20);
    assert!(screen.contains("1 Data"), "the UI is still up:\n{screen}");
    t.keys(&["q"]);
    t.assert_restored();
}
