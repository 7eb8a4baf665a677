//! The command line: `start`, `trigger`, `check`, `version`,
//! `list-plugins`. Parsing is clap's; each command is one function here
//! returning the process exit code. User mistakes come back as errors that
//! `main` prints in one line (exit 2 for usage and config errors).

/// `println!` for the one-shot commands that returns the write error (a
/// full disk behind `> file`) instead of panicking, so that it ends as one
/// line on stderr and exit code 1.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
            .map_err(|e| anyhow::anyhow!("cannot write to standard output: {e}"))?
    }};
}

pub(crate) mod args;
mod check;
mod trigger;
mod wal_stats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::config;

pub use trigger::Trigger;

/// The config used when `-c` is not given and it exists (installed package).
pub const INSTALLED_CONFIG: &str = "/etc/sentinel/config.yaml";
/// The config used when `-c` is not given in a checkout.
pub const CHECKOUT_CONFIG: &str = "config/config.yaml";

#[derive(Parser, Debug)]
#[command(
    name = "sentinel",
    version,
    about = "Monitoring agent for edge routers: probes devices, keeps every sample in a \
             write-ahead log on disk, and ships it over Prometheus remote write.",
    after_help = "Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.\n\
                  Without -c, the config is /etc/sentinel/config.yaml when it exists, \
                  else config/config.yaml."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the agent in the foreground until SIGTERM/SIGINT (SIGHUP reloads the config).
    Start(ConfigArg),
    /// Run one probe now and print what it measured; nothing is sent or stored.
    #[command(subcommand)]
    Trigger(Trigger),
    /// Validate a config file; without --offline also try each enabled backend.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Only validate the file; do not contact the backends.
        #[arg(long)]
        offline: bool,
    },
    /// Inspect the write-ahead log.
    #[command(subcommand)]
    Wal(WalCommand),
    /// Print the version.
    Version,
    /// List the probe plugins and their config keys.
    ListPlugins,
}

#[derive(Subcommand, Debug)]
pub enum WalCommand {
    /// Backlog per backend, age of the oldest sample, disk use and drops
    /// by reason. Asks the running agent (over http.listen) when it holds
    /// the WAL, else opens the WAL itself.
    Stats {
        #[command(flatten)]
        config: ConfigArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ConfigArg {
    /// The config file (YAML).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    fn path(&self) -> PathBuf {
        match &self.config {
            Some(p) => p.clone(),
            None if Path::new(INSTALLED_CONFIG).exists() => PathBuf::from(INSTALLED_CONFIG),
            None => PathBuf::from(CHECKOUT_CONFIG),
        }
    }
}

/// Marks an error as a usage or config error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The error as one line: each cause after `: `, except a cause that the
/// message before it already ends with (many errors print their source).
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Runs the command; the error, if any, is printed by `main`.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Start(c) => start(&c.path()),
        Command::Trigger(t) => trigger::trigger(t),
        Command::Check { config, offline } => check::check(&config.path(), offline),
        Command::Wal(WalCommand::Stats { config, json }) => {
            wal_stats::wal_stats(&config.path(), json)
        }
        Command::Version => {
            outln!("sentinel {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::ListPlugins => {
            for p in crate::probe::PLUGINS {
                outln!(
                    "{:<8} {}\n         config keys: {}",
                    p.name,
                    p.about,
                    p.keys_help()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn start(path: &Path) -> anyhow::Result<ExitCode> {
    let cfg = config::load(path)?;
    crate::logging::init(&cfg.logging).with_context(|| {
        format!(
            "cannot open the log file {}",
            cfg.logging.file_path.display()
        )
    })?;
    crate::supervisor::run(cfg)?;
    Ok(ExitCode::SUCCESS)
}

/// 0 when it went well (the target answered, every check passed), 1 when
/// not (like ping(8)).
fn up_code(up: bool) -> ExitCode {
    if up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn an_error_line_names_each_cause_once() {
        let e = config::load(Path::new("/nonexistent/x.yaml")).unwrap_err();
        let e = anyhow::Error::from(e).context("checking");
        assert_eq!(
            error_line(&e),
            "checking: /nonexistent/x.yaml: cannot read the config file: No such file or directory (os error 2)"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_line(&e), "outer: inner");
    }
}
