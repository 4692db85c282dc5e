//! The `cellscope` binary: parses the command line and dispatches; errors exit with code 2.

use clap::Parser;

fn main() {
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
