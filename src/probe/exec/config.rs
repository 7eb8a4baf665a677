//! The exec plugin's configuration: `tasks[].config` (keys, defaults,
//! validation) and the arguments of `sentinel trigger exec`, made into the
//! same config by the same validators.

use std::time::Duration;

use serde_yaml::Value;

use crate::cli::args::duration_arg;
use crate::config::plugin::{probe_timeout, Loader, Table};
use crate::config::ConfigError;
use crate::probe::{
    Health, Plugin, PluginInfo, ProbeError, ReadConfig, RunOutput, TaskCache, Triggered,
};
use crate::sample::Labels;

/// `plugin: exec`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecConfig {
    /// The program and its arguments; a string in the file is run with
    /// `/bin/sh -c`.
    pub command: Vec<String>,
    /// The command and everything it started is killed after this.
    pub timeout: Duration,
    /// Extra environment variables, in file order.
    pub env: Vec<(String, String)>,
}

const EXEC_KEYS: &[&str] = &["command", "timeout", "env"];
/// What `command` takes.
const WHAT: &str = "the command to run: a list (program and arguments) or a string for /bin/sh -c";
/// `plugin: exec`.
fn read(loader: &mut Loader, t: &Table, task_timeout: Duration) -> Result<ExecConfig, ConfigError> {
    let ctx = &loader.ctx;
    let n = ctx.required(t, "command", WHAT)?;
    let command = match n.value {
        Value::Sequence(_) => {
            let mut argv = Vec::new();
            for item in ctx.seq(&n, WHAT)? {
                argv.push(ctx.string(&item, "an argument (a string)")?);
            }
            if argv.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(ctx.err(
                    &n.path,
                    "found no program, expected a list starting with the program, like [/usr/local/bin/modem-signal, --prometheus]",
                ));
            }
            argv
        }
        _ => {
            let s = ctx.string(&n, WHAT)?;
            if s.trim().is_empty() {
                return Err(ctx.err(&n.path, format!("found \"\", expected {WHAT}")));
            }
            vec!["/bin/sh".to_string(), "-c".to_string(), s]
        }
    };
    let mut env = Vec::new();
    if let Some(n) = t.get("env") {
        for (name, value) in ctx.entries(&n, "a mapping of environment variable names to values")? {
            let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(ctx.err(
                    &value.path,
                    format!("found variable name {name:?}, expected letters, digits and _, not starting with a digit"),
                ));
            }
            env.push((name, ctx.string(&value, "a value (a string)")?));
        }
    }
    let timeout = probe_timeout(ctx, t, task_timeout)?;
    Ok(ExecConfig {
        command,
        timeout,
        env,
    })
}

impl Plugin for ExecConfig {
    const ABOUT: &'static str = "Run a command and read Prometheus text format from its stdout";
    const KEYS: &'static [&'static str] = EXEC_KEYS;
    /// exec's series are the command's own: none declared, and a run that
    /// gives samples is up.
    const INFO: PluginInfo = PluginInfo {
        metrics: &[],
        health: Health {
            up: None,
            latency: None,
            latency_min: None,
            latency_max: None,
            loss: None,
        },
    };
    const TRIGGER_ABOUT: &'static str = "Run a command and parse its stdout as Prometheus text format. Exits 1 when it fails, hangs or prints something else.";
    type Args = ExecArgs;
    const TRIGGER_EXAMPLE: &'static [&'static str] = &["--", "true"];

    const REQUIRED: (&'static str, &'static str) = ("command", WHAT);
    const READ: ReadConfig<Self> = read;

    fn max_run_time(&self) -> Duration {
        self.timeout
    }

    fn run(&self, base: &Labels, ts: i64) -> Result<RunOutput, ProbeError> {
        super::samples(self, &super::run(self)?, base, ts).map(Into::into)
    }

    fn run_cached(&self, cache: &TaskCache, ts: i64) -> Result<RunOutput, ProbeError> {
        let labels = cache.encoded(Labels::clone);
        super::records(self, &super::run(self)?, labels, ts)
    }

    fn trigger(a: ExecArgs) -> anyhow::Result<Triggered> {
        let cfg = ExecConfig {
            command: a.command.clone(),
            timeout: a.timeout,
            env: Vec::new(),
        };
        let output = super::run(&cfg)?;
        let samples = super::samples(&cfg, &output, &Labels::new(), crate::sample::now_ms())?;
        Ok(Triggered {
            lines: vec![format!(
                "exec `{}`: {} sample(s) in {} ms",
                super::shown(&cfg.command),
                samples.len(),
                output.duration.as_millis()
            )],
            samples,
            up: true,
            config: cfg.into(),
        })
    }
}

/// `sentinel trigger exec`.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Kill the command and its children after this long.
    #[arg(short = 't', long = "timeout", default_value = "10s", value_parser = duration_arg)]
    pub timeout: Duration,
    /// The program and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}
