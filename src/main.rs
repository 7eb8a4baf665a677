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
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sentinel: error: {err:#}");
            let usage = err
                .chain()
                .any(|e| e.is::<ConfigError>() || e.is::<UsageError>());
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
