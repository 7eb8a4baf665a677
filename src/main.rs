//! The `sentinel` binary: parse the command line, run the command, map the
//! outcome to an exit code (0 ok, 1 runtime failure, 2 usage or config
//! error). Errors are printed as one line with their causes, never as a
//! backtrace.

use std::process::ExitCode;

use clap::Parser;
use sentinel::cli::{self, Cli, UsageError};
use sentinel::config::ConfigError;

fn main() -> ExitCode {
    // clap exits 2 on usage errors and 0 for --help/--version by itself.
    let cli = Cli::parse();
    if matches!(cli.command, sentinel::cli::Command::Start(_)) {
        sentinel::memory::tune_allocator();
    } else {
        // One-shot commands end quietly when their reader goes away
        // (`sentinel trigger ping ... | head`), like any Unix tool. The
        // agent keeps Rust's default (EPIPE as an error) so that a closed
        // stdout never kills it.
        // SAFETY: resetting a signal disposition before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sentinel: error: {}", cli::error_line(&err));
            let usage = err
                .chain()
                .any(|e| e.is::<ConfigError>() || e.is::<UsageError>());
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
