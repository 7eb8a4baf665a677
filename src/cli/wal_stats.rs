//! `sentinel wal stats`: the WAL's backlog per backend, from the running
//! agent (over `http.listen`) when it holds the WAL, else read directly.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use crate::config;

pub(super) fn wal_stats(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    crate::logging::init_for_command();
    let cfg = config::load(path)?;
    let wal_path = &cfg.buffer.path;
    if !wal_path.exists() {
        anyhow::bail!(
            "there is no WAL at {} yet: the agent has not run with this config",
            wal_path.display()
        );
    }
    drop_to_owner_of(wal_path)?;
    let opts = crate::wal::store::StoreOptions {
        path: wal_path.clone(),
        ..crate::wal::store::StoreOptions::of(&cfg.buffer)
    };
    let (stats, source) = match crate::wal::WalStore::open_unless_locked(&opts) {
        Ok(mut store) => {
            store.load_cursors()?;
            (store.stats()?, "read from disk; the agent is not running")
        }
        Err(crate::wal::WalError::Locked { .. }) => (ask_agent(&cfg)?, "from the running agent"),
        Err(e) => return Err(e.into()),
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = crate::sample::now_ms();
    outln!("WAL {} ({source})", wal_path.display());
    outln!(
        "  {} records, {} samples, {} on disk ({} of records), last seq {}",
        stats.records,
        stats.samples,
        config::units::format_size(stats.disk_bytes),
        config::units::format_size(stats.record_bytes),
        stats.last_seq
    );
    for (name, b) in &stats.backends {
        let age = b
            .oldest_ts_ms
            .map(|ts| {
                config::units::format_duration(Duration::from_millis((now - ts).max(0) as u64))
            })
            .unwrap_or_else(|| "-".into());
        let drops: Vec<String> = b
            .drops
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        let progress = crate::telemetry::status::progress_text(
            b.send_rate_samples_per_second.unwrap_or(0.0),
            b.backlog_eta_seconds,
        );
        outln!(
            "  backend {name}: backlog {} samples ({} records), oldest {age}{progress}, dropped {}",
            b.pending_samples,
            b.pending_records,
            if drops.is_empty() {
                "none".to_string()
            } else {
                drops.join(" ")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Run as root on a WAL that belongs to another user (the packaged agent
/// runs as `sentinel`), become that user before sled opens the directory:
/// opening may write a snapshot, and a root-owned file there would stop the
/// agent from starting again.
fn drop_to_owner_of(wal_path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let meta = std::fs::metadata(wal_path)
        .with_context(|| format!("cannot read {}", wal_path.display()))?;
    let (uid, gid) = (meta.uid(), meta.gid());
    if uid == 0 {
        return Ok(());
    }
    // SAFETY: plain system calls on integers; no threads of ours run yet,
    // and glibc applies set*id to every thread anyway.
    let failed = unsafe {
        libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
    };
    if failed {
        anyhow::bail!(
            "cannot switch to the owner (uid {uid}, gid {gid}) of {}: {}; run the command as that user",
            wal_path.display(),
            std::io::Error::last_os_error()
        );
    }
    log::debug!("reading {} as its owner, uid {uid}", wal_path.display());
    Ok(())
}

/// `GET /api/wal/stats` from the agent that holds the WAL's lock.
fn ask_agent(cfg: &config::Config) -> anyhow::Result<crate::wal::WalStats> {
    if !cfg.http.enabled {
        anyhow::bail!(
            "the WAL at {} is in use by a running agent and its HTTP listener is off (http.enabled: false): enable it, or stop the agent to read the WAL directly",
            cfg.buffer.path.display()
        );
    }
    let url = format!("http://{}/api/wal/stats", cfg.http.listen);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let answer = agent
        .get(&url)
        .call()
        .and_then(|mut r| r.body_mut().read_to_string());
    let body = answer.map_err(|e| {
        let refused =
            matches!(&e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused);
        let hint = if refused {
            " (nothing listens there: a changed http.listen takes effect when the agent restarts)"
        } else {
            ""
        };
        anyhow::Error::new(e).context(format!(
            "the WAL at {} is in use by a running agent, but asking it at {url} failed{hint}",
            cfg.buffer.path.display()
        ))
    })?;
    serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))
}
