//! `sentinel check`: validate a config file and, without `--offline`,
//! try the ICMP sockets and each enabled backend.

use std::path::Path;
use std::process::ExitCode;

use super::up_code;
use crate::config;
use crate::probe::PluginConfig;

pub(super) fn check(path: &Path, offline: bool) -> anyhow::Result<ExitCode> {
    crate::logging::init_for_command();
    let cfg = config::load(path)?;
    for w in &cfg.warnings {
        outln!("warning: {w}");
    }
    let tasks = cfg.tasks.iter().filter(|t| t.enabled).count();
    outln!(
        "{}: config OK ({} task(s), {} enabled)",
        path.display(),
        cfg.tasks.len(),
        tasks
    );
    for b in &cfg.sender.backends {
        outln!(
            "  backend {}: {} {}",
            b.id,
            if b.enabled { "enabled" } else { "disabled" },
            crate::ship::remote_write::mask_url(&b.url)
        );
    }
    if offline {
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    if cfg
        .tasks
        .iter()
        .any(|t| t.enabled && matches!(t.plugin, PluginConfig::Ping(_)))
    {
        use crate::probe::icmp::{create_socket, Family, SocketKind};
        for family in [Family::V4, Family::V6] {
            match create_socket(family) {
                Ok(s) => outln!(
                    "  icmp {family:?}: OK ({} socket)",
                    match s.kind() {
                        SocketKind::Dgram => "unprivileged ping",
                        SocketKind::Raw => "raw",
                    }
                ),
                Err(e) => {
                    failed = true;
                    outln!("  icmp {family:?}: FAILED: {e}");
                }
            }
        }
    }
    for b in cfg.sender.backends.iter().filter(|b| b.enabled) {
        match crate::ship::check_backend(b) {
            Ok(msg) => outln!("  backend {}: OK, {msg}", b.id),
            Err(msg) => {
                failed = true;
                outln!("  backend {}: FAILED: {msg}", b.id);
            }
        }
    }
    Ok(up_code(!failed))
}
