//! What a reload (SIGHUP) changes: a pure comparison of the running config
//! with the new one, so that the supervisor only carries it out.
//!
//! Backends and tasks are compared by value: every setting, secrets
//! included (a changed password or token restarts the backend's shipper;
//! their `Debug` text prints `***` and must never be what is compared),
//! and what `*_file` settings pointed to when each config was loaded.
//! Settings only a restart can change (`http`, `buffer`, `logging`) are
//! kept as they run and named, so that the next reload compares with
//! what really runs.

use std::collections::BTreeMap;

use crate::config::{BackendConfig, Config, TaskConfig};
use crate::sample::BackendId;

/// What to do to go from the running config to a new one.
#[derive(Debug)]
pub struct Plan {
    /// The config to run from now on: the new one, with the settings that
    /// need a restart kept as they run.
    pub config: Config,
    /// The sections that changed but take effect at the next restart.
    pub needs_restart: Vec<&'static str>,
    /// `sentinel.name`, `region` or `labels` changed: every series gets
    /// new labels, so every task restarts.
    pub agent_changed: bool,
    pub backends: Changes<BackendId>,
    /// By task id.
    pub tasks: Changes<String>,
}

/// What was added, removed and changed, each sorted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes<K> {
    pub added: Vec<K>,
    pub removed: Vec<K>,
    /// Still there with other settings: stopped, then started anew.
    pub changed: Vec<K>,
}

impl<K> Changes<K> {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares `running` (what the agent runs) with `new` (just loaded).
pub fn plan(running: &Config, mut new: Config) -> Plan {
    let mut needs_restart = Vec::new();
    if new.http != running.http {
        needs_restart.push("http");
        new.http = running.http.clone();
    }
    if new.buffer != running.buffer {
        needs_restart.push("buffer");
        new.buffer = running.buffer.clone();
    }
    if new.logging != running.logging {
        needs_restart.push("logging");
        new.logging = running.logging.clone();
    }
    let agent_changed = new.agent.name != running.agent.name
        || new.agent.region != running.agent.region
        || new.agent.labels != running.agent.labels;
    // What every shipper shares: a change restarts them all.
    let (old_s, new_s) = (&running.sender, &new.sender);
    let shared_changed = old_s.flush_interval != new_s.flush_interval
        || old_s.batch_size != new_s.batch_size
        || old_s.retry != new_s.retry;
    let backends = diff(
        &by_key(running.enabled_backends(), |b| b.id.clone()),
        &by_key(new.enabled_backends(), |b| b.id.clone()),
        |a: &BackendConfig, b| shared_changed || a != b,
    );
    let tasks = diff(
        &by_key(running.enabled_tasks(), |t| t.id.0.clone()),
        &by_key(new.enabled_tasks(), |t| t.id.0.clone()),
        |a: &TaskConfig, b| agent_changed || a != b,
    );
    Plan {
        config: new,
        needs_restart,
        agent_changed,
        backends,
        tasks,
    }
}

fn by_key<'a, T, K: Ord>(
    items: impl Iterator<Item = &'a T>,
    key: impl Fn(&T) -> K,
) -> BTreeMap<K, &'a T>
where
    T: 'a,
{
    items.map(|i| (key(i), i)).collect()
}

fn diff<K: Ord + Clone, T>(
    old: &BTreeMap<K, &T>,
    new: &BTreeMap<K, &T>,
    changed: impl Fn(&T, &T) -> bool,
) -> Changes<K> {
    let mut out = Changes {
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    };
    for (k, o) in old {
        match new.get(k) {
            None => out.removed.push(k.clone()),
            Some(n) if changed(o, n) => out.changed.push(k.clone()),
            Some(_) => {}
        }
    }
    out.added = new
        .keys()
        .filter(|k| !old.contains_key(*k))
        .cloned()
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const BASE: &str = "sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428/api/v1/write\n      username: u\n      password: p1\n      headers: {X-Scope-OrgID: a}\n    prom:\n      url: http://127.0.0.1:9090/api/v1/write\n      bearer_token: t1\nbuffer: {path: /tmp/wal}\ntasks:\n  - id: a\n    plugin: ping\n    config: {host: 127.0.0.1}\n  - id: b\n    plugin: tcp\n    config: {host: 127.0.0.1, port: 22}\n";

    fn cfg(text: &str) -> Config {
        crate::config::parse_with_env(text, Path::new("/etc/x.yaml"), &|_| None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn backends(running: &str, new: &str) -> Changes<BackendId> {
        plan(&cfg(running), cfg(new)).backends
    }

    fn ids(names: &[&str]) -> Vec<BackendId> {
        names.iter().map(|n| BackendId(n.to_string())).collect()
    }

    #[test]
    fn the_same_config_changes_nothing() {
        let p = plan(&cfg(BASE), cfg(BASE));
        assert!(p.backends.is_empty() && p.tasks.is_empty(), "{p:?}");
        assert!(p.needs_restart.is_empty() && !p.agent_changed);
    }

    #[test]
    fn a_changed_secret_or_header_restarts_that_backend_only() {
        // The secrets print as *** in Debug: equal text, different values.
        for (from, to) in [
            ("password: p1", "password: p2"),
            ("X-Scope-OrgID: a", "X-Scope-OrgID: b"),
            ("username: u", "username: v"),
            ("8428/api/v1/write", "8428/api/v1/write/"),
        ] {
            let b = backends(BASE, &BASE.replace(from, to));
            assert_eq!(b.changed, ids(&["vm"]), "{from} -> {to}");
            assert!(b.added.is_empty() && b.removed.is_empty());
        }
        let b = backends(BASE, &BASE.replace("bearer_token: t1", "bearer_token: t2"));
        assert_eq!(b.changed, ids(&["prom"]));
    }

    #[test]
    fn what_a_secret_file_holds_is_compared_not_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&pw, "one\n").unwrap();
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nA\n").unwrap();
        let text = BASE
            .replace("password: p1", &format!("password_file: {}", pw.display()))
            .replace("bearer_token: t1", "bearer_token: t1\n      ca_file: CA")
            .replace("CA", &ca.display().to_string());
        let running = cfg(&text);
        assert!(plan(&running, cfg(&text)).backends.is_empty());
        std::fs::write(&pw, "two\n").unwrap();
        assert_eq!(plan(&running, cfg(&text)).backends.changed, ids(&["vm"]));
        std::fs::write(&pw, "one\n").unwrap();
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nB\n").unwrap();
        assert_eq!(plan(&running, cfg(&text)).backends.changed, ids(&["prom"]));
    }

    #[test]
    fn shared_sender_settings_restart_every_backend() {
        let with = |s: &str| BASE.replace("sender:\n", &format!("sender:\n  {s}\n"));
        let b = backends(&with("batch_size: 1000"), &with("batch_size: 500"));
        assert_eq!(b.changed, ids(&["prom", "vm"]));
        let b = backends(
            &with("retry: {max_backoff: 1m}"),
            &with("retry: {max_backoff: 2m}"),
        );
        assert_eq!(b.changed, ids(&["prom", "vm"]));
        // The default timeout reaches the backends that have none.
        let b = backends(&with("timeout: 30s"), &with("timeout: 10s"));
        assert_eq!(b.changed, ids(&["prom", "vm"]));
    }

    #[test]
    fn backends_added_removed_enabled_and_disabled() {
        let b = backends(
            BASE,
            &BASE.replace("    prom:\n", "    prom:\n      enabled: false\n"),
        );
        assert_eq!(b.removed, ids(&["prom"]));
        let b = backends(
            &BASE.replace("    prom:\n", "    prom:\n      enabled: false\n"),
            BASE,
        );
        assert_eq!(b.added, ids(&["prom"]));
        let b = backends(BASE, &BASE.replace("    prom:\n", "    other:\n"));
        assert_eq!((b.added, b.removed), (ids(&["other"]), ids(&["prom"])));
    }

    #[test]
    fn tasks_added_removed_changed_and_the_agent_labels() {
        let p = plan(&cfg(BASE), cfg(&BASE.replace("port: 22", "port: 23")));
        assert_eq!(p.tasks.changed, ["b"]);
        let p = plan(&cfg(BASE), cfg(&BASE.replace("  - id: b\n", "  - id: c\n")));
        assert_eq!(
            (p.tasks.added, p.tasks.removed),
            (vec!["c".to_string()], vec!["b".to_string()])
        );
        let p = plan(
            &cfg(BASE),
            cfg(&format!("sentinel: {{region: north}}\n{BASE}")),
        );
        assert!(p.agent_changed);
        assert_eq!(p.tasks.changed, ["a", "b"]);
        assert!(p.backends.is_empty());
    }

    #[test]
    fn restart_only_settings_are_named_and_kept_as_they_run() {
        let running = cfg(BASE);
        let new = BASE
            .replace("{path: /tmp/wal}", "{path: /tmp/other, max_size: 64MiB}")
            .replace(
                "tasks:\n",
                "http: {listen: 127.0.0.1:1}\nlogging: {level: debug}\ntasks:\n",
            );
        let p = plan(&running, cfg(&new));
        assert_eq!(p.needs_restart, ["http", "buffer", "logging"]);
        assert_eq!(p.config.buffer, running.buffer);
        assert_eq!(p.config.http, running.http);
        assert_eq!(p.config.logging, running.logging);
        // So a second reload of the same file names them again, and
        // changes nothing else.
        let again = plan(&p.config, cfg(&new));
        assert_eq!(again.needs_restart, ["http", "buffer", "logging"]);
        assert!(again.backends.is_empty() && again.tasks.is_empty());
    }
}
