//! The `cellscope` binary: parses the command line and dispatches; errors exit with code 2.
//! Installs the HDF5 crash probe (a re-run of this binary with a hidden first argument).

use cellscope::data::probe;
use clap::Parser;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == probe::PROBE_COMMAND) {
        std::process::exit(probe::child_main(&args[2..]));
    }
    probe::install(probe::Prober::this_executable(&[probe::PROBE_COMMAND]));
    // Like other Unix tools, end quietly when a reader such as `head` closes the pipe
    // (Rust ignores SIGPIPE, which turns a closed stdout into a panic in println!).
    // SAFETY: restoring the default disposition of a signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = cellscope::cli::Cli::parse();
    if let Err(err) = cellscope::cli::dispatch(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(2);
    }
}
