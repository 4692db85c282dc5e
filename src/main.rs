//! The `cellscope` binary: parses the command line and dispatches; errors exit with code 2.

use clap::Parser;

fn main() {
    let cli = cellscope::cli::Cli::parse();
    if let Err(err) = cellscope::cli::dispatch(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(2);
    }
}
