//! `sentinel trigger <plugin>`: one run of a plugin, printed. The
//! subcommands come from `probe::PLUGINS`; each plugin declares its
//! arguments and turns them into its config (`probe/<name>/config.rs`),
//! so the command line takes what the config file takes.

use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, FromArgMatches, Subcommand};

use super::up_code;
use crate::probe::{PluginConfig, PluginEntry, PLUGINS};
use crate::sample::Sample;

/// `sentinel trigger <plugin> ...`: the plugin and its arguments.
pub struct Trigger {
    plugin: &'static PluginEntry,
    matches: ArgMatches,
}

impl std::fmt::Debug for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trigger")
            .field("plugin", &self.plugin.name)
            .field("matches", &self.matches)
            .finish()
    }
}

impl FromArgMatches for Trigger {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let (name, sub) = m
            .subcommand()
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::MissingSubcommand))?;
        let plugin = crate::probe::plugin(name)
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))?;
        Ok(Trigger {
            plugin,
            matches: sub.clone(),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Trigger::from_arg_matches(m)?;
        Ok(())
    }
}

impl Subcommand for Trigger {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        PLUGINS.iter().fold(cmd, |cmd, p| {
            let sub = (p.trigger_args)(clap::Command::new(p.name))
                .about(p.trigger_about)
                .arg(
                    Arg::new("json")
                        .long("json")
                        .action(ArgAction::SetTrue)
                        .help("Print JSON instead of a table"),
                );
            cmd.subcommand(sub)
        })
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Trigger::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        crate::probe::plugin(name).is_some()
    }
}

/// Runs the plugin once and prints what it measured: exit 0 when it went
/// well (the target answered, every check passed), 1 when not.
pub(super) fn trigger(t: Trigger) -> anyhow::Result<ExitCode> {
    crate::logging::init_for_command();
    let json = t.matches.get_flag("json");
    let out = (t.plugin.trigger)(&t.matches)?;
    if json {
        print_json(&out.config, &out.samples)?;
    } else {
        for line in &out.lines {
            outln!("{line}");
        }
        print_table(&out.samples)?;
    }
    Ok(up_code(out.up))
}

/// The unit a metric's value is in, from the name's suffix.
fn unit(name: &str) -> &'static str {
    if name.ends_with("_ms") {
        "ms"
    } else if name.ends_with("_seconds") {
        "s"
    } else if name.ends_with("_loss") {
        "%"
    } else if name.ends_with("_bytes") {
        "bytes"
    } else {
        ""
    }
}

fn print_table(samples: &[Sample]) -> anyhow::Result<()> {
    let width = samples.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in samples {
        let value = if s.value.fract() == 0.0 && s.value.abs() < 1e15 {
            format!("{}", s.value as i64)
        } else {
            format!("{:.3}", s.value)
        };
        outln!(
            "  {:<width$}  {:>10} {:<5} {}",
            s.name,
            value,
            unit(&s.name),
            s.labels
        );
    }
    Ok(())
}

fn print_json(plugin: &PluginConfig, samples: &[Sample]) -> anyhow::Result<()> {
    let list: Vec<serde_json::Value> = samples
        .iter()
        .map(|s| {
            let labels: serde_json::Map<String, serde_json::Value> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect();
            serde_json::json!({
                "name": s.name,
                "labels": labels,
                "value": s.value,
                "unit": unit(&s.name),
                "timestamp_ms": s.timestamp_ms,
            })
        })
        .collect();
    let out = serde_json::json!({ "plugin": plugin.name(), "samples": list });
    outln!("{out:#}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sentinel").chain(args.iter().copied()))
    }

    /// Every registered plugin has its `trigger` subcommand, named as in
    /// the config, with `--json`.
    #[test]
    fn every_plugin_has_its_trigger_subcommand() {
        for p in PLUGINS {
            let mut argv = vec!["trigger", p.name, "--json"];
            argv.extend_from_slice(p.trigger_example);
            match parse(&argv) {
                Ok(Cli {
                    command: Command::Trigger(t),
                }) => {
                    assert_eq!(t.plugin.name, p.name);
                    assert!(t.matches.get_flag("json"), "{argv:?}");
                }
                other => panic!("{argv:?}: {other:?}"),
            }
        }
        assert!(parse(&["trigger", "snmp", "x"]).is_err());
    }

    /// `trigger dns --server` takes what the config's `server` takes: one
    /// parser for both (port 0, accepted by the command line before, is
    /// refused by both).
    #[test]
    fn trigger_dns_server_is_parsed_as_the_config_parses_it() {
        let run = |server: &str| -> Result<(), String> {
            let Ok(Cli {
                command: Command::Trigger(t),
            }) = parse(&["trigger", "dns", "example.net", "-s", server, "-t", "1ms"])
            else {
                panic!("{server}: does not parse");
            };
            match (t.plugin.trigger)(&t.matches) {
                Err(e) => match e.downcast_ref::<crate::cli::UsageError>() {
                    Some(u) => Err(u.0.clone()),
                    None => Ok(()),
                },
                Ok(_) => Ok(()),
            }
        };
        for bad in ["dns.google", "127.0.0.1:0", "[::1", "1.2.3"] {
            let why = run(bad).expect_err(bad);
            assert!(
                why.starts_with(&format!("--server {bad:?}: expected an IP address")),
                "{why}"
            );
        }
        for server in ["127.0.0.1:0", "dns.google"] {
            let yaml = format!(
                "tasks:\n  - id: d\n    plugin: dns\n    config: {{server: \"{server}\", name: a}}\n"
            );
            let e = crate::config::parse_with_env(&yaml, std::path::Path::new("x.yaml"), &|_| None)
                .expect_err(server)
                .to_string();
            assert!(e.contains("tasks[0].config.server"), "{e}");
        }
    }

    /// The notes `list-plugins` prints after a key name keys the plugin has.
    #[test]
    fn key_notes_name_config_keys() {
        for p in PLUGINS {
            for (key, _) in p.key_notes {
                assert!(
                    p.keys.contains(key),
                    "{}: note on unknown key {key}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn units_from_names() {
        assert_eq!(unit("ping_rtt_ms"), "ms");
        assert_eq!(unit("ping_packet_loss"), "%");
        assert_eq!(unit("ping_reachable"), "");
    }
}
