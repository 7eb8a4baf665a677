//! Unit tests of config loading: the original Sentinel's fixtures, the
//! shipped configs, the defaults, `${VAR}` expansion, relative paths, and
//! one test per kind of mistake asserting the message an operator reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::probe::dns::DnsType;
use crate::probe::http::HttpMethod;
use crate::probe::ping::PingConfig;
use crate::probe::tcp::TcpConfig;

const FILE: &str = "config/x.yaml";

/// A fixed environment, so tests do not depend on the machine's.
fn test_env(name: &str) -> Option<String> {
    match name {
        "PROM_PASSWORD" => Some("s3cret".into()),
        "SENTINEL_TEST_HOST" => Some("vm.example".into()),
        "SENTINEL_TEST_EMPTY" => Some(String::new()),
        "SENTINEL_TEST_COUNT" => Some("7".into()),
        _ => None,
    }
}

fn parse_text(yaml: &str) -> Result<Config, ConfigError> {
    parse_with_env(yaml, Path::new(FILE), &test_env)
}

fn ok(yaml: &str) -> Config {
    parse_text(yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn err(yaml: &str) -> String {
    match parse_text(yaml) {
        Ok(c) => panic!("expected an error, loaded {c:#?}"),
        Err(e) => e.to_string(),
    }
}

/// A valid config with one backend and `task` as the only task's body.
fn with_task(task: &str) -> String {
    format!(
        "sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428/api/v1/write\ntasks:\n  - id: a\n    plugin: ping\n{task}"
    )
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn ping(t: &TaskConfig) -> &PingConfig {
    match &t.plugin {
        PluginConfig::Ping(p) => p,
        other => panic!("not a ping task: {other:?}"),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---------------------------------------------------------------- fixtures

#[test]
fn fixture_recommended_loads() {
    let c = load(&fixture("config-seed-recommended.yaml")).unwrap();
    assert_eq!(c.agent.name, "sentinel-standalone");
    assert_eq!(c.agent.region, "local");
    assert!(c.agent.labels.is_empty());
    assert_eq!(c.sender.flush_interval, secs(10));
    assert_eq!(c.sender.batch_size, DEFAULT_BATCH_SIZE);
    let b: Vec<_> = c.enabled_backends().collect();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].id.as_str(), "victoria_metrics");
    assert_eq!(b[0].url, "http://localhost:8428/api/v1/write");
    assert_eq!(b[0].timeout, DEFAULT_SEND_TIMEOUT);
    assert!(b[0].password.is_none() && b[0].headers.is_empty());
    assert_eq!(c.tasks.len(), 1);
    let t = &c.tasks[0];
    assert_eq!(t.id.as_str(), "ping-gateway");
    assert_eq!(t.device_id, "192.168.1.1");
    assert_eq!(t.interval, secs(60));
    assert_eq!(t.timeout, secs(60));
    assert!(t.enabled);
    let p = ping(t);
    assert_eq!(p.host, "192.168.1.1");
    assert_eq!(p.count, 4);
    assert_eq!(p.timeout, secs(1));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn fixture_both_backends_loads() {
    let c = load(&fixture("config-seed-both-backends.yaml")).unwrap();
    assert_eq!(c.agent.name, "sentinel-office-1");
    assert_eq!(c.agent.region, "office-beijing");
    let names: Vec<_> = c.sender.backends.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(names, ["victoria_metrics", "prometheus"]);
    let vm = c.backend("victoria_metrics").unwrap();
    assert!(vm.enabled);
    assert_eq!(vm.url, "http://localhost:8428/api/v1/write");
    let prom = c.backend("prometheus").unwrap();
    assert!(!prom.enabled);
    assert_eq!(prom.url, "http://localhost:9090/api/v1/write");
    assert_eq!(c.enabled_backends().count(), 1);

    assert_eq!(c.tasks.len(), 2);
    let gw = c.task("ping-gateway").unwrap();
    assert_eq!(gw.interval, secs(60));
    assert_eq!(gw.timeout, secs(10));
    assert_eq!(ping(gw).count, 4);
    assert_eq!(ping(gw).max_run_time(), secs(4));
    let dns = c.task("ping-dns").unwrap();
    assert_eq!(dns.device_id, "8.8.8.8");
    assert_eq!(dns.interval, secs(300));
    assert_eq!(dns.timeout, secs(300));
    assert_eq!(ping(dns).host, "8.8.8.8");
    assert_eq!(c.enabled_tasks().count(), 2);
}

#[test]
fn fixture_auth_headers_loads() {
    // The real environment, as `sentinel start` sees it.
    std::env::set_var("PROM_PASSWORD", "from-the-env");
    let c = load(&fixture("config-seed-auth-headers.yaml")).unwrap();
    assert_eq!(
        c.agent.labels,
        Labels::new()
            .with("env", "production")
            .with("datacenter", "dc1")
    );
    assert_eq!(c.sender.batch_size, 1000);
    assert_eq!(c.sender.timeout, secs(30));
    let prom = c.backend("prometheus").unwrap();
    assert!(prom.enabled);
    assert_eq!(prom.url, "http://prometheus:9090/api/v1/write");
    assert_eq!(prom.username.as_deref(), Some("admin"));
    assert_eq!(prom.password.as_ref().unwrap().expose(), "from-the-env");
    assert_eq!(
        prom.headers,
        [
            ("X-Scope-OrgID".to_string(), "tenant1".to_string()),
            ("X-Custom-Header".to_string(), "custom-value".to_string())
        ]
    );
    let vm = c.backend("victoria_metrics").unwrap();
    assert_eq!(
        vm.url,
        "http://vminsert:8480/insert/0/prometheus/api/v1/write"
    );
    assert_eq!(vm.headers, [("X-Scope-OrgID".into(), "tenant1".into())]);
    assert!(vm.password.is_none());
    assert_eq!(c.logging.level, log::LevelFilter::Info);
    assert_eq!(c.logging.format, LogFormat::Json);
    assert_eq!(c.logging.output, LogOutput::Stdout);
    let t = c.task("ping-core-switch").unwrap();
    assert_eq!(t.device_id, "switch-01");
    assert_eq!(t.interval, secs(30));
    assert_eq!(t.timeout, secs(30));
    let p = ping(t);
    assert_eq!(p.host, "10.0.0.2");
    assert_eq!(p.count, 10);
    // Bare seconds: the per-reply wait.
    assert_eq!(p.timeout, secs(5));
    assert_eq!(p.max_run_time(), secs(14));
    // The password never shows in Debug output.
    assert!(!format!("{c:?}").contains("from-the-env"));
}

#[test]
fn fixture_auth_headers_needs_its_variable() {
    let text = std::fs::read_to_string(fixture("config-seed-auth-headers.yaml")).unwrap();
    let e = parse_with_env(&text, Path::new("seed.yaml"), &|_| None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "seed.yaml: sender.direct.prometheus.password: environment variable PROM_PASSWORD is not set; set it, or give a default with ${PROM_PASSWORD:-default}"
    );
}

// ------------------------------------------------------- shipped configs

#[test]
fn shipped_config_loads_and_puts_the_wal_in_data() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let c = load(&dir.join("config/config.yaml")).unwrap();
    assert_eq!(c.agent.name, "sentinel-dev");
    assert_eq!(
        c.buffer.path,
        std::fs::canonicalize(dir).unwrap().join("data/wal")
    );
    let b: Vec<_> = c.enabled_backends().collect();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].id.as_str(), "victoria_metrics");
    assert_eq!(b[0].url, "http://127.0.0.1:8428/api/v1/write");
    let hosts: Vec<_> = c.enabled_tasks().map(|t| ping(t).host.as_str()).collect();
    assert_eq!(hosts, ["127.0.0.1", "::1"]);
    for t in &c.tasks {
        assert_eq!(t.interval, secs(10));
        assert_eq!(ping(t).count, 3);
    }
    assert_eq!(c.logging.format, LogFormat::Auto);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn example_config_loads_and_shows_the_defaults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(dir.join("config/config.example.yaml")).unwrap();
    let c = parse_with_env(&text, &dir.join("config/config.example.yaml"), &|_| None).unwrap();
    assert_eq!(c.sender.backends.len(), 3);
    assert_eq!(c.enabled_backends().count(), 1);
    assert_eq!(c.sender.flush_interval, DEFAULT_FLUSH_INTERVAL);
    assert_eq!(c.sender.retry.min_backoff, DEFAULT_MIN_BACKOFF);
    assert_eq!(c.sender.retry.max_backoff, DEFAULT_MAX_BACKOFF);
    assert_eq!(c.buffer.max_size, DEFAULT_BUFFER_SIZE);
    assert_eq!(c.buffer.max_age, DEFAULT_MAX_AGE);
    assert_eq!(c.buffer.cache_size, DEFAULT_CACHE_SIZE);
    assert_eq!(c.http.listen, DEFAULT_LISTEN);
    let gc = c.backend("grafana_cloud").unwrap();
    // Disabled: the token file is not read, but the path is resolved.
    assert!(gc.bearer_token.is_none());
    assert_eq!(gc.ca_file, Some(dir.join("config/certs/ca.pem")));
    let dns = c.task("ping-dns").unwrap();
    assert_eq!(ping(dns).ip_version, IpVersion::V6);
    assert_eq!(dns.device_id, "ping-dns");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

// ---------------------------------------------------------------- defaults

#[test]
fn defaults_fill_every_section() {
    let c = parse_with_env(
        "tasks:\n  - {id: t, plugin: ping, config: {host: 127.0.0.1}}\n",
        Path::new("/etc/sentinel/config.yaml"),
        &|_| None,
    )
    .unwrap();
    assert_eq!(Some(c.agent.name.clone()), default_agent_name());
    assert_eq!(c.agent.region, "");
    assert!(c.agent.labels.is_empty());
    assert_eq!(c.sender.flush_interval, secs(10));
    assert_eq!(c.sender.batch_size, 1000);
    assert_eq!(c.sender.timeout, secs(30));
    assert_eq!(c.sender.retry.min_backoff, secs(1));
    assert_eq!(c.sender.retry.max_backoff, secs(300));
    assert!(c.sender.backends.is_empty());
    assert_eq!(c.buffer.path, Path::new("/var/lib/sentinel/wal"));
    assert_eq!(c.buffer.max_size, 256 << 20);
    assert_eq!(c.buffer.max_age, secs(7 * 86400));
    assert_eq!(c.buffer.sync, SyncMode::Interval);
    assert_eq!(c.buffer.sync_interval, secs(1));
    assert_eq!(c.buffer.cache_size, 4 << 20);
    assert!(c.http.enabled);
    assert_eq!(c.http.listen, "127.0.0.1:9851");
    assert_eq!(c.logging.level, log::LevelFilter::Info);
    assert_eq!(c.logging.format, LogFormat::Auto);
    assert_eq!(c.logging.output, LogOutput::Stdout);
    assert_eq!(
        c.logging.file_path,
        Path::new("/var/log/sentinel/sentinel.log")
    );
    let t = &c.tasks[0];
    assert_eq!(t.device_id, "t");
    assert_eq!(t.interval, secs(60));
    assert_eq!(t.timeout, secs(60));
    assert!(t.enabled);
    assert_eq!(
        ping(t),
        &PingConfig {
            host: "127.0.0.1".into(),
            ..PingConfig::default()
        }
    );
    assert_eq!(
        c.warnings,
        ["/etc/sentinel/config.yaml: no enabled backend under sender.direct: samples are kept in the WAL and shown on /metrics but not shipped"]
    );
}

#[test]
fn state_directory_moves_the_default_wal() {
    let env = |n: &str| (n == "STATE_DIRECTORY").then(|| "/var/lib/sentinel-a:/other".to_string());
    let c = parse_with_env("http: {enabled: false}\n", Path::new("/etc/s.yaml"), &env).unwrap();
    assert_eq!(c.buffer.path, Path::new("/var/lib/sentinel-a/wal"));
    assert!(!c.http.enabled);
    assert!(c.tasks.is_empty());
}

#[test]
fn every_key_can_be_set() {
    let c = ok(r#"
sentinel: {name: r1, region: eu, labels: {site: "17", tier: 2}}
sender:
  mode: DIRECT
  flush_interval: 1m30s
  batch_size: 500
  timeout: 10
  retry: {min_backoff: 500ms, max_backoff: 1h}
  direct:
    mimir:
      url: https://mimir.example/api/v1/push
      bearer_token: tok
      timeout: 5s
      insecure_skip_verify: true
      headers: {X-Scope-OrgID: 42}
buffer: {path: /srv/wal, max_size: 1GB, max_age: 2d, sync: always, sync_interval: 250ms, cache_size: 512KiB}
http: {enabled: true, listen: "[::1]:9100"}
logging: {level: DEBUG, format: text, output: file, file_path: logs/s.log}
tasks:
  - id: gw.1
    device_id: 42
    plugin: ping
    interval: 2m
    timeout: 1m
    enabled: false
    labels: {role: gw}
    config: {host: gw.example, count: 5, interval: 200ms, timeout: 2, size: 1400, ttl: 8, ip_version: ipv4}
"#);
    assert_eq!(
        c.agent.labels,
        Labels::new().with("site", "17").with("tier", "2")
    );
    assert_eq!(c.sender.flush_interval, secs(90));
    assert_eq!(c.sender.batch_size, 500);
    assert_eq!(c.sender.timeout, secs(10));
    assert_eq!(c.sender.retry.min_backoff, Duration::from_millis(500));
    assert_eq!(c.sender.retry.max_backoff, secs(3600));
    let m = c.backend("mimir").unwrap();
    assert_eq!(m.bearer_token.as_ref().unwrap().expose(), "tok");
    assert_eq!(m.timeout, secs(5));
    assert!(m.insecure_skip_verify);
    assert_eq!(m.headers, [("X-Scope-OrgID".into(), "42".into())]);
    assert_eq!(c.buffer.path, Path::new("/srv/wal"));
    assert_eq!(c.buffer.max_size, 1_000_000_000);
    assert_eq!(c.buffer.max_age, secs(2 * 86400));
    assert_eq!(c.buffer.sync, SyncMode::Always);
    assert_eq!(c.buffer.sync_interval, Duration::from_millis(250));
    assert_eq!(c.buffer.cache_size, 512 << 10);
    assert_eq!(c.http.listen, "[::1]:9100");
    assert_eq!(c.logging.level, log::LevelFilter::Debug);
    assert_eq!(c.logging.format, LogFormat::Text);
    assert_eq!(c.logging.output, LogOutput::File);
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(c.logging.file_path, cwd.join("config/logs/s.log"));
    let t = &c.tasks[0];
    assert_eq!(t.id.as_str(), "gw.1");
    assert_eq!(t.device_id, "42");
    assert_eq!(
        (t.interval, t.timeout, t.enabled),
        (secs(120), secs(60), false)
    );
    assert_eq!(t.labels, Labels::new().with("role", "gw"));
    assert_eq!(
        ping(t),
        &PingConfig {
            host: "gw.example".into(),
            count: 5,
            interval: Duration::from_millis(200),
            timeout: secs(2),
            size: 1400,
            ttl: Some(8),
            ip_version: IpVersion::V4,
            ..PingConfig::default()
        }
    );
    assert_eq!(c.enabled_tasks().count(), 0);
    assert_eq!(
        c.warnings,
        [
            "config/x.yaml: sender.direct.mimir.insecure_skip_verify is true: the TLS certificate of backend mimir is not checked, so anyone on the path can read and change the data; prefer ca_file",
            "config/x.yaml: no enabled task under tasks: the agent probes nothing",
        ]
    );
}

#[test]
fn sections_of_the_original_are_ignored_with_a_warning_each() {
    let c = ok(&format!(
        "core: {{url: http://core:8080}}\nheartbeat: {{interval: 30s}}\ncollector: {{workers: 4}}\nplugins:\n  ping: {{privileged: true}}\n{}",
        with_task("    config: {host: 127.0.0.1}\n")
    ));
    assert_eq!(c.warnings.len(), 4, "{:?}", c.warnings);
    assert!(c.warnings[0].starts_with(
        "config/x.yaml: section `core` of the original Sentinel is ignored: it configures the original Sentinel's central server"
    ));
    for (w, s) in c
        .warnings
        .iter()
        .zip(["core", "heartbeat", "collector", "plugins"])
    {
        assert!(w.contains(&format!("section `{s}`")), "{w}");
    }
}

// ------------------------------------------------- ${VAR} and relative paths

#[test]
fn env_expansion_in_values() {
    std::env::set_var(
        "SENTINEL_CFGTEST_EXPAND_URL",
        "http://10.1.2.3:8428/api/v1/write",
    );
    std::env::set_var("SENTINEL_CFGTEST_EXPAND_COUNT", "6");
    let c = parse(
        r#"
sentinel: {name: "${SENTINEL_CFGTEST_EXPAND_UNSET:-edge-1}", region: "cost $5 $$HOME $${X}"}
sender:
  direct:
    vm:
      url: ${SENTINEL_CFGTEST_EXPAND_URL}
      enabled: ${SENTINEL_CFGTEST_EXPAND_UNSET2:-true}
tasks:
  - id: a
    plugin: ping
    config: {host: 127.0.0.1, count: "${SENTINEL_CFGTEST_EXPAND_COUNT}"}
"#,
        Path::new(FILE),
    )
    .unwrap();
    assert_eq!(c.agent.name, "edge-1");
    assert_eq!(c.agent.region, "cost $5 $HOME ${X}");
    assert_eq!(
        c.sender.backends[0].url,
        "http://10.1.2.3:8428/api/v1/write"
    );
    assert!(c.sender.backends[0].enabled);
    assert_eq!(ping(&c.tasks[0]).count, 6);
}

#[test]
fn env_expansion_default_on_empty_and_numbers() {
    let c = ok(&with_task(
        "    device_id: ${SENTINEL_TEST_EMPTY:-dev}\n    config:\n      host: ${SENTINEL_TEST_HOST}\n      count: ${SENTINEL_TEST_COUNT}\n",
    ));
    assert_eq!(c.tasks[0].device_id, "dev");
    assert_eq!(ping(&c.tasks[0]).host, "vm.example");
    assert_eq!(ping(&c.tasks[0]).count, 7);
}

#[test]
fn env_expansion_is_not_applied_to_keys() {
    let e = err("sentinel:\n  labels:\n    ${SENTINEL_TEST_HOST}: x\n");
    assert_eq!(
        e,
        "config/x.yaml: sentinel.labels.\"${SENTINEL_TEST_HOST}\": found label name \"${SENTINEL_TEST_HOST}\", expected letters, digits and _, not starting with a digit or __ (like env or site_id)"
    );
}

#[test]
fn unset_variable_names_variable_and_path() {
    assert_eq!(
        err(&with_task("    config: {host: \"${SENTINEL_CFGTEST_NOPE}\"}\n")),
        "config/x.yaml: tasks[0].config.host: environment variable SENTINEL_CFGTEST_NOPE is not set; set it, or give a default with ${SENTINEL_CFGTEST_NOPE:-default}"
    );
}

#[test]
fn expanded_values_are_shown_with_their_source() {
    let e = err(&with_task(
        "    config: {host: h, count: \"${SENTINEL_TEST_HOST}\"}\n",
    ));
    assert_eq!(
        e,
        "config/x.yaml: tasks[0].config.count: found \"vm.example\" (from \"${SENTINEL_TEST_HOST}\"), expected a whole number from 1 to 10000"
    );
    let e = err(&with_task("    config: {host: \"${BROKEN\"}\n"));
    assert!(e.contains("unclosed \"${\""), "{e}");
}

#[test]
fn secret_files_are_read_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/pw"), "hunter2\n").unwrap();
    std::fs::write(dir.path().join("token"), "  tok-123 \n").unwrap();
    std::fs::write(dir.path().join("ca.pem"), "-----BEGIN CERTIFICATE-----\n").unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(
        &file,
        "sender:\n  direct:\n    a:\n      url: https://a.example/api/v1/write\n      username: u\n      password_file: secrets/pw\n      ca_file: ca.pem\n    b:\n      url: https://b.example/api/v1/write\n      bearer_token_file: token\nbuffer: {path: wal}\n",
    )
    .unwrap();
    let c = load(&file).unwrap();
    let a = c.backend("a").unwrap();
    assert_eq!(a.password.as_ref().unwrap().expose(), "hunter2");
    assert_eq!(
        a.ca_file.as_deref(),
        Some(dir.path().join("ca.pem").as_path())
    );
    let b = c.backend("b").unwrap();
    assert_eq!(b.bearer_token.as_ref().unwrap().expose(), "tok-123");
    assert_eq!(c.buffer.path, dir.path().join("wal"));
}

#[test]
fn unreadable_secret_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "sender:\n  direct:\n    a:\n      url: https://a.example/api/v1/write\n      bearer_token_file: missing.token\n",
    )
    .unwrap();
    let e = load(&file).unwrap_err().to_string();
    let missing = dir.path().join("missing.token");
    assert_eq!(
        e,
        format!(
            "{}: sender.direct.a.bearer_token_file: cannot read {}: No such file or directory (os error 2)",
            file.display(),
            missing.display()
        )
    );
    std::fs::write(&missing, "\n").unwrap();
    let e = load(&file).unwrap_err().to_string();
    assert!(
        e.ends_with("missing.token is empty, expected the bearer_token in it"),
        "{e}"
    );
}

#[test]
fn missing_file_is_a_read_error() {
    let e = load(Path::new("/nonexistent/sentinel.yaml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/sentinel.yaml: cannot read the config file: No such file or directory (os error 2)"
    );
}

// --------------------------------------------------------------- mistakes

#[test]
fn unknown_key_suggests_the_nearest() {
    let yaml = format!(
        "{}  - id: b\n    plugin: ping\n    config: {{host: h}}\n  - id: c\n    plugin: ping\n    config: {{host: h, cont: 3}}\n",
        with_task("    config: {host: h}\n")
    );
    assert_eq!(
        err(&yaml),
        "config/x.yaml: tasks[2].config.cont: unknown key `cont`; did you mean `count`? expected one of: host, hosts, count, interval, timeout, size, ttl, ip_version, histogram"
    );
}

#[test]
fn unknown_top_level_key() {
    assert_eq!(
        err("sendr:\n  mode: direct\n"),
        "config/x.yaml: sendr: unknown key `sendr`; did you mean `sender`? expected one of: sentinel, sender, buffer, http, logging, tasks, core, heartbeat, collector, plugins"
    );
    let e = err("buffer:\n  wal_path: /x\n");
    assert!(
        e.starts_with(
            "config/x.yaml: buffer.wal_path: unknown key `wal_path`; did you mean `path`?"
        ),
        "{e}"
    );
    let e =
        err("sender:\n  direct:\n    vm:\n      url: http://a/api/v1/write\n      pasword: x\n");
    assert!(e.starts_with("config/x.yaml: sender.direct.vm.pasword: unknown key `pasword`; did you mean `password`?"), "{e}");
    let e = err("logging:\n  zzz: 1\n");
    assert_eq!(
        e,
        "config/x.yaml: logging.zzz: unknown key `zzz`, expected one of: level, format, output, file_path"
    );
}

#[test]
fn a_host_with_a_port_is_refused_and_brackets_are_dropped() {
    let e = err(&with_task("    config: {host: \"127.0.0.1:80\"}\n"));
    assert_eq!(
        e,
        "config/x.yaml: tasks[0].config.host: found \"127.0.0.1:80\", a host with a port; expected the host alone (the tcp plugin takes the port under `port`)"
    );
    let e = err(&with_task("    config: {host: 192.168.1.300}\n"));
    assert!(
        e.contains("\"192.168.1.300\", which is not a valid IPv4 address"),
        "{e}"
    );
    let e = err(&with_task("    config: {host: \"[::1\"}\n"));
    assert!(e.contains("not a valid IPv6 address"), "{e}");
    let e = err(&with_task(
        "    config: {hosts: [a.example, \"gw:8080\"]}\n",
    ));
    assert!(
        e.starts_with(
            "config/x.yaml: tasks[0].config.hosts[1]: found \"gw:8080\", a host with a port"
        ),
        "{e}"
    );
    let cfg = ok(&with_task("    config: {host: \"[::1]\"}\n"));
    match &cfg.tasks[0].plugin {
        PluginConfig::Ping(p) => assert_eq!(p.host, "::1"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_number_beyond_64_bits_and_a_huge_value_read_well() {
    let e = err(&with_task(
        "    config: {host: h, count: 99999999999999999999999}\n",
    ));
    assert!(
        e.ends_with(": tasks[0].config.count: found 99999999999999999999999, a number too large for any setting (the largest is 18446744073709551615)"),
        "{e}"
    );
    assert!(!e.contains("invalid YAML"), "{e}");
    let huge = "x".repeat(100_000);
    let e = err(&with_task(&format!(
        "    config: {{host: h, count: \"{huge}\"}}\n"
    )));
    assert!(e.len() < 1_000, "{} bytes", e.len());
    assert!(
        e.contains("bytes left out") && e.ends_with("expected a whole number from 1 to 10000"),
        "{e}"
    );
}

#[test]
fn a_file_as_buffer_path_is_refused() {
    let e = err("buffer:\n  path: /etc/passwd\n");
    assert_eq!(
        e,
        "config/x.yaml: buffer.path: found /etc/passwd, which is a file; expected a directory for the WAL (it is created when missing)"
    );
}

#[test]
fn an_influxdb_write_path_is_refused_as_a_backend() {
    for path in [
        "/api/v2/write",
        "/influx/write",
        "/insert/0/influx/api/v2/write",
    ] {
        let e = err(&format!(
            "sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428{path}\n"
        ));
        assert!(
            e.starts_with("config/x.yaml: sender.direct.vm.url: found ")
                && e.contains("an InfluxDB write endpoint"),
            "{path}: {e}"
        );
    }
}

#[test]
fn durations_beyond_ten_years_are_refused() {
    let e = err(&with_task(
        "    config: {host: h, timeout: 10000000000000000000s}\n",
    ));
    assert_eq!(
        e,
        "config/x.yaml: tasks[0].config.timeout: found \"10000000000000000000s\", expected a duration like 10s, 1m30s, 500ms or a number of seconds: it is too long, the most is 3650d (ten years)"
    );
    let e = err("sender:\n  timeout: 400000000\n");
    assert!(
        e.starts_with("config/x.yaml: sender.timeout: found 400000000, expected a duration"),
        "{e}"
    );
}

#[test]
fn ping_count_zero() {
    let yaml = format!(
        "{}  - id: b\n    plugin: ping\n    config: {{host: h, count: 0}}\n",
        with_task("    config: {host: h}\n")
    );
    assert_eq!(
        err(&yaml),
        "config/x.yaml: tasks[1].config.count: found 0, expected a whole number from 1 to 10000"
    );
}

#[test]
fn ping_count_wrong_type_and_too_large() {
    assert_eq!(
        err(&with_task("    config: {host: h, count: \"abc\"}\n")),
        "config/x.yaml: tasks[0].config.count: found \"abc\", expected a whole number from 1 to 10000"
    );
    assert_eq!(
        err(&with_task("    config: {host: h, count: 10001}\n")),
        "config/x.yaml: tasks[0].config.count: found 10001, expected a whole number from 1 to 10000"
    );
    assert_eq!(
        err(&with_task("    config: {host: h, count: -1}\n")),
        "config/x.yaml: tasks[0].config.count: found -1, expected a whole number from 1 to 10000"
    );
    assert_eq!(
        err(&with_task("    config: {host: h, count: [1]}\n")),
        "config/x.yaml: tasks[0].config.count: found a list, expected a whole number from 1 to 10000"
    );
}

#[test]
fn mode_core_and_hybrid_are_explained() {
    for mode in ["core", "hybrid"] {
        let e = err(&format!("sender:\n  mode: {mode}\n"));
        assert_eq!(
            e,
            format!("config/x.yaml: sender.mode: found \"{mode}\", expected direct: modes core and hybrid send through the original Sentinel's central server, which this agent does not have; use `mode: direct` with a backend under sender.direct (victoria_metrics, prometheus, ...)")
        );
    }
    assert_eq!(
        err("sender:\n  mode: push\n"),
        "config/x.yaml: sender.mode: found \"push\", expected direct"
    );
}

#[test]
fn duplicate_task_ids_name_both() {
    let yaml = format!(
        "{}  - id: b\n    plugin: ping\n    config: {{host: h}}\n  - id: a\n    plugin: ping\n    config: {{host: h}}\n",
        with_task("    config: {host: h}\n")
    );
    assert_eq!(
        err(&yaml),
        "config/x.yaml: tasks[2].id: found \"a\", already the id of tasks[0], expected a unique task id"
    );
}

#[test]
fn task_id_must_be_set_and_plain() {
    assert_eq!(
        err("tasks:\n  - id: \"\"\n    plugin: ping\n"),
        "config/x.yaml: tasks[0].id: found \"\", expected a task id of 1 to 128 bytes without control characters or surrounding spaces (like ping-gateway)"
    );
    assert_eq!(
        err("tasks:\n  - id: \"ping gateway \"\n    plugin: ping\n"),
        "config/x.yaml: tasks[0].id: found \"ping gateway \", expected a task id of 1 to 128 bytes without control characters or surrounding spaces (like ping-gateway)"
    );
    assert_eq!(
        err("tasks:\n  - plugin: ping\n"),
        "config/x.yaml: tasks[0].id: is missing, expected a task id like ping-gateway"
    );
}

#[test]
fn unknown_plugin_lists_the_known() {
    // The registered plugins in their order: these six, then any added
    // since (a new plugin need not edit this test).
    let known = crate::probe::PLUGINS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ");
    assert!(
        known.starts_with("ping, tcp, http, dns, exec, scrape"),
        "{known}"
    );
    assert_eq!(
        err("tasks:\n  - id: a\n    plugin: pnig\n"),
        format!("config/x.yaml: tasks[0].plugin: found unknown plugin \"pnig\"; did you mean `ping`? expected one of: {known} (`sentinel list-plugins` shows them)")
    );
    assert_eq!(
        err("tasks:\n  - id: a\n    plugin: snmp\n"),
        format!("config/x.yaml: tasks[0].plugin: found unknown plugin \"snmp\", expected one of: {known} (`sentinel list-plugins` shows them)")
    );
    assert_eq!(
        err("tasks:\n  - id: a\n"),
        format!("config/x.yaml: tasks[0].plugin: is missing, expected one of: {known}")
    );
}

#[test]
fn task_interval_and_timeout_zero() {
    assert_eq!(
        err(&with_task("    interval: 0\n    config: {host: h}\n")),
        "config/x.yaml: tasks[0].interval: found 0, expected a duration above zero like 1m"
    );
    assert_eq!(
        err(&with_task("    timeout: 0s\n    config: {host: h}\n")),
        "config/x.yaml: tasks[0].timeout: found \"0s\", expected a duration above zero like 1m"
    );
}

#[test]
fn task_timeout_above_interval() {
    assert_eq!(
        err(&with_task("    interval: 10s\n    timeout: 15s\n    config: {host: h}\n")),
        "config/x.yaml: tasks[0].timeout: found 15s, longer than the task's interval 10s, expected at most the interval (a run must end before the next starts)"
    );
}

#[test]
fn ping_run_longer_than_task_timeout() {
    assert_eq!(
        err(&with_task("    interval: 10s\n    config: {host: h, count: 10, timeout: 5}\n")),
        "config/x.yaml: tasks[0].config: one ping run can take up to 14s ((count - 1) x interval + timeout = 9 x 1s + 5s), longer than the task's timeout (default: the interval) 10s; lower the values under config, or raise the task's timeout (and interval)"
    );
}

#[test]
fn ping_interval_timeout_size_ttl() {
    assert_eq!(
        err(&with_task("    config: {host: h, interval: 0ms}\n")),
        "config/x.yaml: tasks[0].config.interval: found \"0ms\", expected a duration above zero like 1s"
    );
    assert_eq!(
        err(&with_task("    config: {host: h, timeout: 0}\n")),
        "config/x.yaml: tasks[0].config.timeout: found 0, expected a duration above zero like 1s"
    );
    assert_eq!(
        err(&with_task("    config: {host: h, size: 70000}\n")),
        "config/x.yaml: tasks[0].config.size: found 70000, expected a payload size in bytes from 0 to 65507"
    );
    assert_eq!(
        err(&with_task("    config: {host: h, ttl: 0}\n")),
        "config/x.yaml: tasks[0].config.ttl: found 0, expected a whole number from 1 to 255"
    );
    assert_eq!(
        err(&with_task("    config: {host: h, ttl: 256}\n")),
        "config/x.yaml: tasks[0].config.ttl: found 256, expected a whole number from 1 to 255"
    );
}

#[test]
fn ping_ip_version() {
    assert_eq!(
        err(&with_task("    config: {host: h, ip_version: 5}\n")),
        "config/x.yaml: tasks[0].config.ip_version: found \"5\", expected one of 4, 6, ipv4, ipv6, any"
    );
    assert_eq!(
        err(&with_task("    config: {host: \"::1\", ip_version: 4}\n")),
        "config/x.yaml: tasks[0].config.ip_version: found \"4\", but host \"::1\" is an IPv6 address; remove ip_version or make it match"
    );
    let c = ok(&with_task("    config: {host: h, ip_version: IPv6}\n"));
    assert_eq!(ping(&c.tasks[0]).ip_version, IpVersion::V6);
}

#[test]
fn ping_needs_a_host() {
    assert_eq!(
        err(&with_task("    config: {count: 3}\n")),
        "config/x.yaml: tasks[0].config.host: is missing, expected the host to ping (a name or an IPv4/IPv6 address), or a list under hosts"
    );
    assert_eq!(
        err(&with_task("")),
        "config/x.yaml: tasks[0].config.host: is missing, expected the host to ping (a name or an IPv4/IPv6 address) under config"
    );
    assert_eq!(
        err(&with_task("    config: {host: \"a b\"}\n")),
        "config/x.yaml: tasks[0].config.host: found \"a b\", expected a host name or an IPv4/IPv6 address (like 192.168.1.1, ::1 or gw.example.net)"
    );
}

#[test]
fn invalid_label_names() {
    assert_eq!(
        err("sentinel:\n  labels:\n    data-center: dc1\n"),
        "config/x.yaml: sentinel.labels.data-center: found label name \"data-center\", expected letters, digits and _, not starting with a digit or __ (like env or site_id)"
    );
    assert_eq!(
        err(&with_task("    labels: {__name__: x}\n    config: {host: h}\n")),
        "config/x.yaml: tasks[0].labels.__name__: found label name \"__name__\", expected letters, digits and _, not starting with a digit or __ (like env or site_id)"
    );
    assert_eq!(
        err("sentinel:\n  labels:\n    env: [a]\n"),
        "config/x.yaml: sentinel.labels.env: found a list, expected a label value (a string)"
    );
    assert_eq!(
        err("sentinel:\n  labels:\n    on: true\n"),
        "config/x.yaml: sentinel.labels.on: found true, expected a label value (a string) (quote it: \"true\")"
    );
}

#[test]
fn names_must_not_be_empty() {
    assert_eq!(
        err("sentinel:\n  name: \"\"\n"),
        "config/x.yaml: sentinel.name: found \"\", expected the agent's name (leave the key out to use the host name)"
    );
    assert_eq!(
        err(&with_task("    device_id: \"\"\n    config: {host: h}\n")),
        "config/x.yaml: tasks[0].device_id: found \"\", expected a device id (leave the key out to use the task id)"
    );
}

#[test]
fn reserved_labels_are_errors() {
    assert_eq!(
        err(&with_task("    labels: {region: eu}\n    config: {host: h}\n")),
        "config/x.yaml: tasks[0].labels.region: label `region` is reserved: sentinel sets it on every series (set it with sentinel.region); choose another name"
    );
    assert_eq!(
        err("sentinel:\n  labels:\n    device_id: x\n"),
        "config/x.yaml: sentinel.labels.device_id: label `device_id` is reserved: sentinel sets it on every series (set it with tasks[].device_id); choose another name"
    );
}

#[test]
fn buffer_limits() {
    assert_eq!(
        err("buffer:\n  max_size: 512KiB\n"),
        "config/x.yaml: buffer.max_size: found \"512KiB\" (524288 bytes), expected at least 1MiB (the WAL needs room for its own files)"
    );
    assert_eq!(
        err("buffer:\n  max_size: lots\n"),
        "config/x.yaml: buffer.max_size: found \"lots\", expected a size like 64MiB, 1GB, 512KiB, 100kB or a number of bytes"
    );
    assert_eq!(
        err("buffer:\n  max_size: 5XB\n"),
        "config/x.yaml: buffer.max_size: found \"5XB\", expected a size like 64MiB, 1GB, 512KiB, 100kB or a number of bytes: unknown unit \"xb\", expected one of B, kB, MB, GB, TB, KiB, MiB, GiB, TiB"
    );
    assert_eq!(
        err("buffer:\n  sync: sometimes\n"),
        "config/x.yaml: buffer.sync: found \"sometimes\", expected one of always, interval"
    );
    assert_eq!(
        err("buffer:\n  max_age: abc\n"),
        "config/x.yaml: buffer.max_age: found \"abc\", expected a duration like 10s, 1m30s, 500ms or a number of seconds: expected a number at \"abc\""
    );
    assert_eq!(
        err("buffer:\n  path: \"\"\n"),
        "config/x.yaml: buffer.path: found \"\", expected a file path"
    );
    assert_eq!(
        err("buffer:\n  cache_size: 1KiB\n"),
        "config/x.yaml: buffer.cache_size: found \"1KiB\" (1024 bytes), expected at least 64KiB"
    );
}

#[test]
fn sender_limits() {
    assert_eq!(
        err("sender:\n  retry:\n    min_backoff: 10m\n"),
        "config/x.yaml: sender.retry.min_backoff: found max_backoff 5m below min_backoff 10m, expected max_backoff >= min_backoff"
    );
    assert_eq!(
        err("sender:\n  batch_size: 0\n"),
        "config/x.yaml: sender.batch_size: found 0, expected a whole number of samples from 1 to 1000000"
    );
    assert_eq!(
        err("sender:\n  flush_interval: 10x\n"),
        "config/x.yaml: sender.flush_interval: found \"10x\", expected a duration like 10s, 1m30s, 500ms or a number of seconds: unknown unit \"x\", expected one of w, d, h, m, s, ms, us, ns"
    );
    assert_eq!(
        err("sender:\n  timeout: -5\n"),
        "config/x.yaml: sender.timeout: found -5, expected a duration like 10s, 1m30s, 500ms or a number of seconds"
    );
}

#[test]
fn logging_choices() {
    assert_eq!(
        err("logging:\n  level: verbose\n"),
        "config/x.yaml: logging.level: found \"verbose\", expected one of error, warn, info, debug, trace"
    );
    assert_eq!(
        err("logging:\n  format: xml\n"),
        "config/x.yaml: logging.format: found \"xml\", expected one of auto, json, text"
    );
    assert_eq!(
        err("logging:\n  output: stderr\n"),
        "config/x.yaml: logging.output: found \"stderr\", expected one of stdout, file"
    );
}

#[test]
fn wrong_section_types() {
    assert_eq!(
        err("tasks: {}\n"),
        "config/x.yaml: tasks: found a mapping, expected a list of tasks (each item starting with `- id:`)"
    );
    assert_eq!(
        err("sentinel: edge-1\n"),
        "config/x.yaml: sentinel: found \"edge-1\", expected a mapping with keys name, region, labels, self_metrics_interval"
    );
    assert_eq!(
        err("tasks:\n  - ping\n"),
        "config/x.yaml: tasks[0]: found \"ping\", expected a mapping with keys id, device_id, plugin, interval, timeout, enabled, labels, config"
    );
    assert_eq!(
        err("http:\n  enabled: yes\n"),
        "config/x.yaml: http.enabled: found \"yes\", expected true or false"
    );
}

#[test]
fn backend_url_rules() {
    assert_eq!(
        err("sender:\n  direct:\n    vm:\n      enabled: true\n"),
        "config/x.yaml: sender.direct.vm.url: is missing, expected the remote-write URL of backend vm (like http://127.0.0.1:8428/api/v1/write), or `enabled: false`"
    );
    assert_eq!(
        err("sender:\n  direct:\n    mimir:\n"),
        "config/x.yaml: sender.direct.mimir.url: is missing, expected the remote-write URL of backend mimir (like http://127.0.0.1:8428/api/v1/write), or `enabled: false`"
    );
    assert_eq!(
        err("sender:\n  direct:\n    vm:\n      url: ftp://vm/api/v1/write\n"),
        "config/x.yaml: sender.direct.vm.url: found \"ftp://vm/api/v1/write\", expected an http:// or https:// URL like http://127.0.0.1:8428/api/v1/write"
    );
    assert_eq!(
        err("sender:\n  direct:\n    vm:\n      url: http://u:p@vm/api/v1/write\n"),
        "config/x.yaml: sender.direct.vm.url: the URL holds credentials (user:password@), which would show in logs; use username and password (or password_file) instead"
    );
    assert_eq!(
        err("sender:\n  direct:\n    vm:\n      url: http://vm:99999/api/v1/write\n"),
        "config/x.yaml: sender.direct.vm.url: found \"http://vm:99999/api/v1/write\", expected a URL with a host and an optional port, like http://127.0.0.1:8428/api/v1/write"
    );
    // Disabled and without a url is fine; a missing path is a warning.
    let c = ok("sender:\n  direct:\n    off:\n      enabled: false\n    vm:\n      url: http://[::1]:8428\n");
    assert_eq!(c.sender.backends.len(), 2);
    assert_eq!(c.sender.backends[0].url, "");
    assert_eq!(
        c.warnings[0],
        "config/x.yaml: sender.direct.vm.url: \"http://[::1]:8428\" has no path; remote-write endpoints usually end in /api/v1/write"
    );
}

#[test]
fn backend_auth_rules() {
    let base = "sender:\n  direct:\n    vm:\n      url: http://vm/api/v1/write\n";
    assert_eq!(
        err(&format!("{base}      username: u\n      password: p\n      password_file: pw\n")),
        "config/x.yaml: sender.direct.vm.password_file: found both password and password_file, expected one of them"
    );
    assert_eq!(
        err(&format!("{base}      username: u\n      password: p\n      bearer_token: t\n")),
        "config/x.yaml: sender.direct.vm: found both basic auth (username/password) and a bearer token, expected one of them"
    );
    assert_eq!(
        err(&format!("{base}      username: u\n")),
        "config/x.yaml: sender.direct.vm.password: is missing: username needs password or password_file for basic auth"
    );
    assert_eq!(
        err(&format!("{base}      password: p\n")),
        "config/x.yaml: sender.direct.vm.password: is set without username, expected username with it for basic auth"
    );
    assert_eq!(
        err(&format!("{base}      bearer_token: t\n      bearer_token_file: f\n")),
        "config/x.yaml: sender.direct.vm.bearer_token_file: found both bearer_token and bearer_token_file, expected one of them"
    );
}

#[test]
fn backend_names_and_headers() {
    assert_eq!(
        err("sender:\n  direct:\n    Grafana-Cloud:\n      url: http://g/api/v1/write\n"),
        "config/x.yaml: sender.direct.Grafana-Cloud: found backend name \"Grafana-Cloud\", expected lowercase letters, digits and _, starting with a letter, at most 128 long (like victoria_metrics or grafana_cloud)"
    );
    let base = "sender:\n  direct:\n    vm:\n      url: http://vm/api/v1/write\n      headers:\n";
    assert_eq!(
        err(&format!("{base}        X Bad: 1\n")),
        "config/x.yaml: sender.direct.vm.headers.\"X Bad\": found header name \"X Bad\", expected letters, digits and !#$%&'*+-.^_`|~ (like X-Scope-OrgID)"
    );
    assert_eq!(
        err(&format!("{base}        content-type: text/plain\n")),
        "config/x.yaml: sender.direct.vm.headers.content-type: header content-type is set by sentinel for the remote-write protocol and cannot be overridden"
    );
    assert_eq!(
        err(&format!("{base}        X-A: 1\n        x-a: 2\n")),
        "config/x.yaml: sender.direct.vm.headers.x-a: header x-a is already set as X-A (header names ignore case)"
    );
    assert_eq!(
        err(&format!("{base}        X-A: \"secret\\nvalue\"\n")),
        "config/x.yaml: sender.direct.vm.headers.X-A: the value contains a control character (a line break?), expected a single line of text"
    );
    assert_eq!(
        err(&format!("{base}        Authorization: Basic x\n      bearer_token: t\n")),
        "config/x.yaml: sender.direct.vm.headers.Authorization: found an Authorization header and username/password or bearer_token, expected only one way to authenticate"
    );
}

#[test]
fn http_listen() {
    assert_eq!(
        err("http:\n  listen: \":9851\"\n"),
        "config/x.yaml: http.listen: found \":9851\", expected host:port; write 0.0.0.0:9851 to listen on every interface, or 127.0.0.1:9851 for this host only"
    );
    assert_eq!(
        err("http:\n  listen: localhost\n"),
        "config/x.yaml: http.listen: found \"localhost\", expected host:port like 127.0.0.1:9851 (IPv6: [::1]:9851)"
    );
    assert_eq!(
        ok("http:\n  listen: localhost:9851\n").http.listen,
        "localhost:9851"
    );
}

// ------------------------------------------------------------ weird input

#[test]
fn empty_file_is_an_error() {
    for text in ["", "\n", "# only a comment\n", "~\n"] {
        assert_eq!(
            parse_text(text).unwrap_err().to_string(),
            "config/x.yaml: the file is empty, expected a mapping with the sections sentinel, sender, buffer, http, logging and tasks (see config/config.example.yaml)"
        );
    }
}

#[test]
fn top_level_must_be_a_mapping() {
    assert_eq!(
        err("- a\n- b\n"),
        "config/x.yaml: found a list at the top level, expected a mapping with the sections sentinel, sender, buffer, http, logging and tasks"
    );
    assert_eq!(
        err("42\n"),
        "config/x.yaml: found 42 at the top level, expected a mapping with the sections sentinel, sender, buffer, http, logging and tasks"
    );
    assert!(err("just text\n").contains("found \"just text\" at the top level"));
    let e = err("!foo {a: 1}\n");
    assert!(
        e.contains("found a value tagged !foo at the top level"),
        "{e}"
    );
}

#[test]
fn yaml_syntax_errors_give_line_and_column() {
    let e = err("sentinel:\n  name: a\n\tregion: b\n");
    assert!(e.contains("found a tab character"), "{e}");
    assert!(
        e.starts_with("config/x.yaml: invalid YAML at line 3, column 1: "),
        "{e}"
    );
    assert!(!e.contains(" at line 3 column 1"), "position twice: {e}");
    let e = err("sender:\n  direct: [\n");
    assert!(e.starts_with("config/x.yaml: invalid YAML at line "), "{e}");
    let e = err("sentinel:\n  name: a\n  name: b\n");
    assert!(e.contains("duplicate entry with key \"name\""), "{e}");
    // serde_yaml points at the mapping that holds the duplicate.
    assert!(
        e.starts_with("config/x.yaml: invalid YAML at line 2, column 3: sentinel: "),
        "{e}"
    );
    let e = err("a: 1\n---\nb: 2\n");
    assert!(e.contains("more than one document"), "{e}");
}

#[test]
fn odd_keys_and_values_do_not_panic() {
    for text in [
        "? [a, b]\n: 1\n",
        "~: 1\n",
        "1: 2\n",
        "tasks:\n  - {}\n",
        "tasks:\n  - ~\n",
        "tasks: [[]]\n",
        "sender: {direct: [vm]}\n",
        "sender: {direct: {vm: 5}}\n",
        "sentinel: {labels: [a]}\n",
        "sentinel: {name: 1.5}\n",
        "buffer: {max_size: 1.5}\n",
        "buffer: {max_size: -1}\n",
        "buffer: {max_age: .inf}\n",
        "buffer: {max_age: 1e300}\n",
        "buffer: {max_age: 99999999999999999999w}\n",
        "tasks:\n  - {id: a, plugin: ping, config: {host: h, size: 18446744073709551616}}\n",
        "anchors:\n  base: &b {count: 1}\n",
        "\u{0}",
        "\"\\xff\": 1\n",
    ] {
        let r = parse_text(text);
        assert!(r.is_err(), "{text:?} loaded");
    }
}

#[test]
fn merge_keys_work() {
    let c = ok(r#"
tasks:
  - &base {id: a, plugin: ping, interval: 30s, config: {host: h, count: 2}}
  - <<: *base
    id: b
"#);
    assert_eq!(c.tasks.len(), 2);
    assert_eq!(c.tasks[1].interval, secs(30));
    assert_eq!(ping(&c.tasks[1]).count, 2);
}

#[test]
fn config_error_display() {
    let e = ConfigError::Invalid {
        file: "config/x.yaml".into(),
        path: "tasks[1].config.count".into(),
        reason: "found 0, expected a whole number from 1 to 10000".into(),
    };
    assert_eq!(
        e.to_string(),
        "config/x.yaml: tasks[1].config.count: found 0, expected a whole number from 1 to 10000"
    );
    let e = ConfigError::Invalid {
        file: "c.yaml".into(),
        path: String::new(),
        reason: "the file is empty".into(),
    };
    assert_eq!(e.to_string(), "c.yaml: the file is empty");
}

#[test]
fn name_rules() {
    assert!(is_backend_name("victoria_metrics"));
    assert!(is_backend_name("vm2"));
    assert!(!is_backend_name("2vm"));
    assert!(!is_backend_name("grafana-cloud"));
    assert!(!is_backend_name(""));
    assert!(is_task_id("ping-gw.1:a_b"));
    assert!(is_task_id("ping gateway <b>"));
    assert!(!is_task_id(" a"));
    assert!(!is_task_id("a\tb"));
    assert!(!is_task_id(&"x".repeat(MAX_NAME_LEN + 1)));
}

// ------------------------------------------------------------ other plugins

/// A valid config whose only task is `plugin` with `body` as its keys
/// (task-level lines indented by four spaces).
fn plugin_task(plugin: &str, body: &str) -> String {
    format!("tasks:\n  - id: p\n    plugin: {plugin}\n{body}")
}

fn plugin_ok(plugin: &str, body: &str) -> Config {
    ok(&plugin_task(plugin, body))
}

fn plugin_err(plugin: &str, body: &str) -> String {
    err(&plugin_task(plugin, body))
}

#[test]
fn tcp_config_and_defaults() {
    let c = plugin_ok("tcp", "    config: {host: 127.0.0.1, port: 22}\n");
    let PluginConfig::Tcp(t) = &c.tasks[0].plugin else {
        panic!()
    };
    assert_eq!(
        t,
        &TcpConfig {
            host: "127.0.0.1".into(),
            port: 22,
            timeout: DEFAULT_PROBE_TIMEOUT,
            ip_version: IpVersion::Any,
        }
    );
    // The default timeout is capped at the task's.
    let c = plugin_ok(
        "tcp",
        "    interval: 3s\n    config: {host: h, port: 1, ip_version: 6}\n",
    );
    let PluginConfig::Tcp(t) = &c.tasks[0].plugin else {
        panic!()
    };
    assert_eq!((t.timeout, t.ip_version), (secs(3), IpVersion::V6));
    assert_eq!(
        plugin_err("tcp", "    config: {host: h}\n"),
        "config/x.yaml: tasks[0].config.port: is missing, expected the TCP port to connect to (1 to 65535)"
    );
    assert_eq!(
        plugin_err("tcp", "    config: {host: h, port: 70000}\n"),
        "config/x.yaml: tasks[0].config.port: found 70000, expected a TCP port from 1 to 65535"
    );
    assert_eq!(
        plugin_err("tcp", ""),
        "config/x.yaml: tasks[0].config.host: is missing, expected the host to connect to (a name or an IPv4/IPv6 address) under config"
    );
    assert_eq!(
        plugin_err("tcp", "    config: {host: h, prot: 1}\n"),
        "config/x.yaml: tasks[0].config.prot: unknown key `prot`; did you mean `port`? expected one of: host, port, timeout, ip_version"
    );
    assert_eq!(
        plugin_err("tcp", "    interval: 5s\n    config: {host: h, port: 1, timeout: 6s}\n"),
        "config/x.yaml: tasks[0].config: one tcp run can take up to 6s (its timeout = 6s), longer than the task's timeout (default: the interval) 5s; lower the values under config, or raise the task's timeout (and interval)"
    );
}

#[test]
fn http_config_every_key() {
    let c = plugin_ok(
        "http",
        r#"    config:
      url: https://127.0.0.1:8443/health
      method: head
      timeout: 2s
      accepted_status: [200, 3xx, "401-403"]
      headers: {X-Api-Key: k}
      username: admin
      password: ${PROM_PASSWORD}
      insecure_skip_verify: true
"#,
    );
    let PluginConfig::Http(h) = &c.tasks[0].plugin else {
        panic!()
    };
    assert_eq!(h.url, "https://127.0.0.1:8443/health");
    assert_eq!(h.method, HttpMethod::Head);
    assert_eq!(h.timeout, secs(2));
    assert_eq!(h.accepted_status, [(200, 200), (300, 399), (401, 403)]);
    assert_eq!(h.client.headers, [("X-Api-Key".into(), "k".into())]);
    assert_eq!(h.client.username.as_deref(), Some("admin"));
    assert_eq!(h.client.password.as_ref().unwrap().expose(), "s3cret");
    assert!(h.client.insecure_skip_verify);
    assert_eq!(
        c.warnings[1],
        "config/x.yaml: tasks[0].config.insecure_skip_verify is true: the http probe does not check the TLS certificate it is shown; prefer ca_file"
    );
    let c = plugin_ok(
        "http",
        "    config: {url: \"http://h/\", body_regex: \"ok|up\"}\n",
    );
    let PluginConfig::Http(h) = &c.tasks[0].plugin else {
        panic!()
    };
    assert_eq!(h.method, HttpMethod::Get);
    assert_eq!(h.accepted_status, [(200, 399)]);
    assert_eq!(h.body_regex.as_deref(), Some("ok|up"));
    assert_eq!(h.timeout, DEFAULT_PROBE_TIMEOUT);
}

/// A required key left out, beside others, is named with what it takes.
#[test]
fn missing_required_plugin_keys() {
    assert_eq!(
        plugin_err("tcp", "    config: {port: 22}\n"),
        "config/x.yaml: tasks[0].config.host: is missing, expected the host to connect to (a name or an IPv4/IPv6 address)"
    );
    assert_eq!(
        plugin_err("dns", "    config: {server: 127.0.0.1}\n"),
        "config/x.yaml: tasks[0].config.name: is missing, expected the name to look up (like router.example.net)"
    );
    assert_eq!(
        plugin_err("exec", "    config: {env: {A: b}}\n"),
        "config/x.yaml: tasks[0].config.command: is missing, expected the command to run: a list (program and arguments) or a string for /bin/sh -c"
    );
    assert_eq!(
        plugin_err("scrape", "    config: {url: ~}\n"),
        "config/x.yaml: tasks[0].config.url: is missing, expected the URL of a Prometheus /metrics endpoint (like http://192.0.2.1:9100/metrics)"
    );
}

/// The http and scrape plugins' headers go through the reader backends
/// use, with the probe's example and without the remote-write rules.
#[test]
fn probe_header_mistakes() {
    for plugin in ["http", "scrape"] {
        let cfg =
            |headers: &str| format!("    config: {{url: \"http://h/\", headers: {headers}}}\n");
        assert_eq!(
            plugin_err(plugin, &cfg("{X Bad: 1}")),
            "config/x.yaml: tasks[0].config.headers.\"X Bad\": found header name \"X Bad\", expected letters, digits and !#$%&'*+-.^_`|~ (like X-Api-Key)"
        );
        assert_eq!(
            plugin_err(plugin, &cfg("{X-A: 1, x-a: 2}")),
            "config/x.yaml: tasks[0].config.headers.x-a: header x-a is already set as X-A (header names ignore case)"
        );
        assert_eq!(
            plugin_err(plugin, &cfg("{X-A: \"a\\nb\"}")),
            "config/x.yaml: tasks[0].config.headers.X-A: the value contains a control character (a line break?), expected a single line of text"
        );
        assert_eq!(
            plugin_err(
                plugin,
                "    config: {url: \"http://h/\", username: u, password: p, headers: {authorization: x}}\n"
            ),
            "config/x.yaml: tasks[0].config.headers.authorization: found an Authorization header and username/password, expected only one way to authenticate"
        );
        // What a backend refuses, a probe may send.
        let c = plugin_ok(plugin, &cfg("{Authorization: x, Content-Type: text/plain}"));
        let client = match &c.tasks[0].plugin {
            PluginConfig::Http(h) => &h.client,
            PluginConfig::Scrape(s) => &s.client,
            _ => panic!(),
        };
        assert_eq!(client.headers.len(), 2);
    }
}

#[test]
fn http_config_mistakes() {
    assert_eq!(
        plugin_err("http", "    config: {url: \"ftp://h/\"}\n"),
        "config/x.yaml: tasks[0].config.url: found \"ftp://h/\", expected an http:// or https:// URL like http://192.0.2.1/"
    );
    assert_eq!(
        plugin_err("http", "    config: {url: \"http://u:p@h/\"}\n"),
        "config/x.yaml: tasks[0].config.url: the URL holds credentials (user:password@), which would show in logs; use username and password (or password_file) instead"
    );
    assert_eq!(
        plugin_err("http", "    config: {url: \"http://h/\", accepted_status: [6xx]}\n"),
        "config/x.yaml: tasks[0].config.accepted_status[0]: found \"6xx\", expected a status code from 100 to 599, a class like 2xx, or a range like 200-299"
    );
    assert_eq!(
        plugin_err("http", "    config: {url: \"http://h/\", accepted_status: []}\n"),
        "config/x.yaml: tasks[0].config.accepted_status: found an empty list, expected status codes like [200, 3xx]"
    );
    assert_eq!(
        plugin_err("http", "    config: {url: \"http://h/\", body_regex: \"(\"}\n"),
        "config/x.yaml: tasks[0].config.body_regex: found \"(\", expected a regular expression: found open group without closing ')'"
    );
    assert_eq!(
        plugin_err("http", "    config: {url: \"http://h/\", method: head, body_regex: x}\n"),
        "config/x.yaml: tasks[0].config.body_regex: is set with method HEAD, which gets no body; use method GET or remove body_regex"
    );
    assert_eq!(
        plugin_err("http", "    config: {url: \"http://h/\", method: post}\n"),
        "config/x.yaml: tasks[0].config.method: found \"post\", expected one of get, head"
    );
    assert_eq!(
        plugin_err("http", "    config: {url: \"http://h/\", password: x}\n"),
        "config/x.yaml: tasks[0].config.password: is set without username, expected username with it for basic auth"
    );
    assert_eq!(
        plugin_err("http", "    config: {url: \"http://h/\", ca_file: /nonexistent/ca.pem}\n"),
        "config/x.yaml: tasks[0].config.ca_file: cannot read /nonexistent/ca.pem: No such file or directory (os error 2), expected a PEM file of CA certificates"
    );
    assert_eq!(
        plugin_err("http", "    config: {}\n"),
        "config/x.yaml: tasks[0].config.url: is missing, expected the URL to request (like https://192.0.2.1/)"
    );
}

#[test]
fn dns_config() {
    let c = plugin_ok(
        "dns",
        "    config: {server: \"127.0.0.1:5353\", name: router.example.net., type: aaaa}\n",
    );
    let PluginConfig::Dns(d) = &c.tasks[0].plugin else {
        panic!()
    };
    assert_eq!(d.server, "127.0.0.1:5353".parse().unwrap());
    assert_eq!(d.name, "router.example.net");
    assert_eq!(d.record_type, DnsType::Aaaa);
    for (server, want) in [
        ("192.0.2.53", "192.0.2.53:53"),
        ("\"::1\"", "[::1]:53"),
        ("\"[::1]\"", "[::1]:53"),
        ("\"[::1]:5353\"", "[::1]:5353"),
    ] {
        let c = plugin_ok(
            "dns",
            &format!("    config: {{server: {server}, name: a}}\n"),
        );
        let PluginConfig::Dns(d) = &c.tasks[0].plugin else {
            panic!()
        };
        assert_eq!(d.server.to_string(), want);
        assert_eq!(d.record_type, DnsType::A);
    }
    assert_eq!(
        plugin_err("dns", "    config: {server: dns.google, name: a}\n"),
        "config/x.yaml: tasks[0].config.server: found \"dns.google\", expected the server's IP address with an optional port, like 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53 (a name is not resolved)"
    );
    assert_eq!(
        plugin_err("dns", "    config: {server: 127.0.0.1, name: \"a..b\"}\n"),
        "config/x.yaml: tasks[0].config.name: found \"a..b\", expected a DNS name of labels of 1 to 63 letters, digits, - and _ joined by dots (like router.example.net)"
    );
    assert_eq!(
        plugin_err("dns", "    config: {server: 127.0.0.1, name: a, type: SRV}\n"),
        "config/x.yaml: tasks[0].config.type: found \"SRV\", expected one of A, AAAA, MX, TXT, NS, CNAME"
    );
    assert_eq!(
        plugin_err("dns", "    config: {name: a}\n"),
        "config/x.yaml: tasks[0].config.server: is missing, expected the DNS server's IP address (like 192.0.2.53 or 127.0.0.1:5353)"
    );
}

#[test]
fn exec_config() {
    let c = plugin_ok(
        "exec",
        "    config: {command: \"echo x 1\", timeout: 3s, env: {MODEM: /dev/ttyUSB2}}\n",
    );
    let PluginConfig::Exec(e) = &c.tasks[0].plugin else {
        panic!()
    };
    assert_eq!(e.command, ["/bin/sh", "-c", "echo x 1"]);
    assert_eq!(e.timeout, secs(3));
    assert_eq!(e.env, [("MODEM".into(), "/dev/ttyUSB2".into())]);
    let c = plugin_ok("exec", "    config: {command: [/usr/bin/ups, --json]}\n");
    let PluginConfig::Exec(e) = &c.tasks[0].plugin else {
        panic!()
    };
    assert_eq!(e.command, ["/usr/bin/ups", "--json"]);
    assert_eq!(
        plugin_err("exec", "    config: {command: []}\n"),
        "config/x.yaml: tasks[0].config.command: found no program, expected a list starting with the program, like [/usr/local/bin/modem-signal, --prometheus]"
    );
    assert_eq!(
        plugin_err("exec", "    config: {command: x, env: {1X: a}}\n"),
        "config/x.yaml: tasks[0].config.env.1X: found variable name \"1X\", expected letters, digits and _, not starting with a digit"
    );
    assert_eq!(
        plugin_err("exec", "    config: {comand: x}\n"),
        "config/x.yaml: tasks[0].config.comand: unknown key `comand`; did you mean `command`? expected one of: command, timeout, env"
    );
}

#[test]
fn scrape_config() {
    let c = plugin_ok(
        "scrape",
        "    interval: 15s\n    config: {url: \"http://127.0.0.1:9100/metrics\", headers: {X-A: b}}\n",
    );
    let PluginConfig::Scrape(s) = &c.tasks[0].plugin else {
        panic!()
    };
    assert_eq!(s.url, "http://127.0.0.1:9100/metrics");
    assert_eq!(s.timeout, secs(10));
    assert_eq!(s.client.headers, [("X-A".into(), "b".into())]);
    assert_eq!(
        plugin_err("scrape", "    config: {timeout: 1s}\n"),
        "config/x.yaml: tasks[0].config.url: is missing, expected the URL of a Prometheus /metrics endpoint (like http://192.0.2.1:9100/metrics)"
    );
}

#[test]
fn ping_hosts_and_cidr_ranges() {
    let c = ok(&with_task(
        "    config: {host: 10.0.0.1, hosts: [gw.example, 127.0.1.0/30, \"::1/127\", 127.0.2.7/32], histogram: true}\n",
    ));
    let p = ping(&c.tasks[0]);
    assert_eq!(p.host, "10.0.0.1");
    assert_eq!(
        p.hosts,
        [
            "gw.example",
            "127.0.1.1",
            "127.0.1.2",
            "::",
            "::1",
            "127.0.2.7"
        ]
    );
    assert_eq!(p.targets().len(), 7);
    assert!(p.histogram);
    let c = ok(&with_task("    config: {hosts: [127.0.1.0/24]}\n"));
    let p = ping(&c.tasks[0]);
    assert!(p.host.is_empty());
    assert_eq!(p.hosts.len(), 254);
    assert_eq!(p.hosts[0], "127.0.1.1");
    assert_eq!(p.hosts[253], "127.0.1.254");
    // 254 hosts at PING_SEND_RATE take 12.65 ms to send a round to.
    assert_eq!(p.round_spread(), Duration::from_millis(13));
    assert_eq!(
        err(&with_task("    config: {hosts: [127.0.0.0/15]}\n")),
        "config/x.yaml: tasks[0].config.hosts[0]: found \"127.0.0.0/15\", a range of 2^17 addresses, expected at most 65536 hosts per task (a prefix of /16 or longer)"
    );
    assert_eq!(
        err(&with_task("    config: {hosts: [127.0.0.0/33]}\n")),
        "config/x.yaml: tasks[0].config.hosts[0]: found \"127.0.0.0/33\", expected a prefix length from 0 to 32"
    );
    assert_eq!(
        err(&with_task("    config: {hosts: [x/24]}\n")),
        "config/x.yaml: tasks[0].config.hosts[0]: found \"x/24\", expected a CIDR range like 127.0.1.0/24 (an address, /, a prefix length)"
    );
    assert_eq!(
        err(&with_task("    config: {host: 127.0.1.2, hosts: [127.0.1.0/30]}\n")),
        "config/x.yaml: tasks[0].config.hosts[0]: host 127.0.1.2 is already listed at tasks[0].config.host, expected each host once"
    );
    assert_eq!(
        err(&with_task("    config: {hosts: []}\n")),
        "config/x.yaml: tasks[0].config.hosts: found an empty list, expected at least one host"
    );
    assert_eq!(
        err(&with_task("    config: {hosts: [127.0.0.1], ip_version: 6}\n")),
        "config/x.yaml: tasks[0].config.ip_version: found \"6\", but host \"127.0.0.1\" is an IPv4 address; remove ip_version or make it match"
    );
    assert_eq!(
        err(&with_task("    interval: 2s\n    config: {hosts: [127.1.0.0/16], timeout: 1s, count: 2}\n")),
        "config/x.yaml: tasks[0].config: one ping run can take up to 5.277s ((count - 1) x interval + sending to 65534 hosts + timeout = 1 x 1s + 3.277s + 1s), longer than the task's timeout (default: the interval) 2s; lower the values under config, or raise the task's timeout (and interval)"
    );
}

#[test]
fn intervals_below_their_floor_are_refused_naming_it() {
    assert_eq!(
        err(&with_task("    interval: 1ns\n    config: {host: h}\n")),
        "config/x.yaml: tasks[0].interval: found \"1ns\", expected at least 100ms (like 1m): a shorter one would only keep a core busy"
    );
    assert_eq!(
        err(&with_task("    interval: 99ms\n    config: {host: h}\n")),
        "config/x.yaml: tasks[0].interval: found \"99ms\", expected at least 100ms (like 1m): a shorter one would only keep a core busy"
    );
    let t = ok(&with_task(
        "    interval: 100ms\n    config: {host: h, count: 1, timeout: 50ms}\n",
    ));
    assert_eq!(t.tasks[0].interval, MIN_TASK_INTERVAL);
    let base = "sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428/api/v1/write\n";
    for (yaml, path) in [
        ("  flush_interval: 1us\n", "sender.flush_interval"),
        ("  retry: {min_backoff: 1ms}\n", "sender.retry.min_backoff"),
    ] {
        let e = err(&format!("{base}{yaml}"));
        assert!(
            e.starts_with(&format!("config/x.yaml: {path}: found "))
                && e.contains("expected at least"),
            "{e}"
        );
    }
    let e = err(&format!("{base}buffer: {{sync_interval: 1ns}}\n"));
    assert!(
        e.contains("buffer.sync_interval: found \"1ns\", expected at least 10ms"),
        "{e}"
    );
    let e = err(&format!(
        "{base}sentinel: {{self_metrics_interval: 10ms}}\n"
    ));
    assert!(
        e.contains("sentinel.self_metrics_interval: found \"10ms\", expected at least 1s"),
        "{e}"
    );
    let e = err(&with_task("    config: {host: h, interval: 1us}\n"));
    assert!(
        e.contains("tasks[0].config.interval: found \"1us\", expected at least 1ms"),
        "{e}"
    );
    // 0 still turns the agent's own metrics off.
    assert!(
        ok(&format!("{base}sentinel: {{self_metrics_interval: 0}}\n"))
            .agent
            .self_metrics_interval
            .is_none()
    );
}

#[test]
fn deep_nesting_is_refused_before_the_yaml_parser_sees_it() {
    // 100,000 `[` kept the YAML parser busy for a minute.
    let text = format!("tasks: {}", "[".repeat(100_000));
    let e = err(&text);
    assert_eq!(
        e,
        "config/x.yaml: at line 1, column 72: `[` and `{` nest more than 64 levels deep here; a config needs only a few"
    );
    // Brackets in quotes and comments do not count; real nesting does.
    let quoted = format!(
        "sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428/api/v1/write\n      headers: {{X-A: \"{}\"}} # {}\n",
        "[".repeat(100),
        "{".repeat(100)
    );
    ok(&quoted);
    let nested = format!("x: {}1{}\n", "[".repeat(64), "]".repeat(64));
    assert!(!err(&nested).contains("nest more than"));
    assert!(
        err(&format!("x: {}1{}\n", "[".repeat(65), "]".repeat(65))).contains("nest more than 64")
    );
}

#[test]
fn a_file_that_is_not_a_config_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, vec![b' '; (MAX_CONFIG_BYTES + 1) as usize]).unwrap();
    let e = load(&big).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: the file is larger than 4MiB, the most a config may be; is this the right file?",
            big.display()
        )
    );
    // An endless file ends the same way.
    let e = load(Path::new("/dev/zero")).unwrap_err().to_string();
    assert!(
        e.starts_with("/dev/zero: the file is larger than 4MiB"),
        "{e}"
    );
    let bin = dir.path().join("bin.yaml");
    std::fs::write(&bin, b"tasks: \xff\xfe\n").unwrap();
    let e = load(&bin).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "the file is not UTF-8 text (invalid byte at offset 7); is this the right file?"
        ),
        "{e}"
    );
}

#[test]
fn relative_paths_are_shown_without_dot_dot() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir(root.join("config")).unwrap();
    let c = parse_with_env(
        "buffer: {path: ../data/wal}\nlogging: {file_path: ./logs/../x.log}\n",
        &root.join("config/sentinel.yaml"),
        &|_| None,
    )
    .unwrap();
    assert_eq!(c.buffer.path, root.join("data/wal"));
    // Only leading `.` and `..` are taken off: a later `..` may follow a
    // symlink, which only the kernel resolves right.
    assert_eq!(c.logging.file_path, root.join("config/logs/../x.log"));
    // The config's directory itself is resolved (symlinks and all).
    std::os::unix::fs::symlink(root.join("config"), root.join("link")).unwrap();
    let c = parse_with_env(
        "buffer: {path: ../wal}\n",
        &root.join("link/sentinel.yaml"),
        &|_| None,
    )
    .unwrap();
    assert_eq!(c.buffer.path, root.join("wal"));
}

#[test]
fn backend_concurrency() {
    let c = ok("sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428/api/v1/write\n      concurrency: 4\n    prom:\n      url: http://127.0.0.1:9090/api/v1/write\n");
    let by_name = |n: &str| {
        c.sender
            .backends
            .iter()
            .find(|b| b.id.as_str() == n)
            .unwrap()
            .concurrency
    };
    assert_eq!(by_name("vm"), 4);
    assert_eq!(by_name("prom"), DEFAULT_CONCURRENCY);
    assert_eq!(DEFAULT_CONCURRENCY, 1, "in order unless asked otherwise");
    for bad in ["0", "17", "two"] {
        assert_eq!(
            err(&format!("sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428/api/v1/write\n      concurrency: {bad}\n")),
            format!("config/x.yaml: sender.direct.vm.concurrency: found {}, expected a whole number of requests in flight from 1 to 16", if bad == "two" { "\"two\"".to_string() } else { bad.to_string() })
        );
    }
}

#[test]
fn backend_backfill_and_bandwidth_cap() {
    let c = ok("sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428/api/v1/write\n      backfill: newest_first\n      max_bytes_per_second: 64KiB\n    prom:\n      url: http://127.0.0.1:9090/api/v1/write\n");
    let vm = c.backend("vm").unwrap();
    assert_eq!(vm.backfill, Backfill::NewestFirst);
    assert_eq!(vm.max_bytes_per_second, Some(64 << 10));
    let prom = c.backend("prom").unwrap();
    assert_eq!(prom.backfill, Backfill::InOrder);
    assert_eq!(prom.max_bytes_per_second, None);
    assert_eq!(
        err("sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428/api/v1/write\n      backfill: newest\n"),
        "config/x.yaml: sender.direct.vm.backfill: found \"newest\", expected one of in_order, newest_first"
    );
    assert_eq!(
        err("sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428/api/v1/write\n      max_bytes_per_second: 100\n"),
        "config/x.yaml: sender.direct.vm.max_bytes_per_second: found 100 bytes per second, expected at least 1024 (1KiB), or 0 for no cap"
    );
    assert!(err("sender:\n  direct:\n    vm:\n      url: http://127.0.0.1:8428/api/v1/write\n      max_bytes_per_second: fast\n")
        .starts_with("config/x.yaml: sender.direct.vm.max_bytes_per_second: found \"fast\""));
}
