//! Operating the agent (issue 5): `/metrics` scraped by a real Prometheus,
//! the agent's own `sentinel_*` series in VictoriaMetrics (also from an
//! outage), `sentinel check` against real and broken backends,
//! `sentinel wal stats` with the agent running and stopped, and reload on
//! SIGHUP (tasks added and removed, stale markers, a broken config refused,
//! the log file reopened).

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::util::agent::{Agent, SyncMode};
use crate::util::servers::{
    free_port, http_get, now_ms, Prometheus, RemoteWriteServer, VictoriaMetrics,
};

/// How long to wait for anything that should happen within seconds.
const WAIT: Duration = Duration::from_secs(30);

fn config(listen: &str, backends: &str, tasks: &str, extra: &str) -> String {
    format!(
        "sentinel:\n  name: op-test\n  region: lab\n  self_metrics_interval: 1s\n\
         sender:\n  mode: direct\n  flush_interval: 1s\n  retry:\n    min_backoff: 200ms\n    max_backoff: 1s\n  direct:\n{backends}\
         buffer:\n  sync: always\n\
         http:\n  listen: \"{listen}\"\n\
         {extra}\
         tasks:\n{tasks}"
    )
}

fn ping_task(id: &str) -> String {
    format!(
        "  - id: {id}\n    device_id: dev-{id}\n    plugin: ping\n    interval: 1s\n    config: {{host: 127.0.0.1, count: 1, timeout: 500ms}}\n"
    )
}

fn vm_backend(name: &str, url: &str) -> String {
    format!("    {name}:\n      url: {url}\n")
}

/// Polls `f` until it returns `Some`, or panics with `what`.
fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_scrapes_the_agent_and_vm_gets_its_own_series_through_an_outage() {
    let mut vm = VictoriaMetrics::start();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut agent = Agent::start(&config(
        &listen,
        &vm_backend("victoria_metrics", &vm.write_url()),
        &ping_task("scraped"),
        "",
    ));
    let prom = Prometheus::start_scraping(&listen);

    // Pull mode: a plain Prometheus scrape of /metrics.
    let rtt = wait_for("ping_rtt_ms scraped by Prometheus", WAIT, || {
        let r = prom.instant(r#"ping_rtt_ms{task_id="scraped"}"#);
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(rtt[0]["metric"]["device_id"], "dev-scraped", "{rtt:?}");
    let sent = wait_for("sentinel_samples_sent_total scraped", WAIT, || {
        let r = prom.instant(r#"sentinel_samples_sent_total{backend="victoria_metrics"} > 0"#);
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(sent[0]["metric"]["job"], "sentinel");
    // Drop and failure counters exist from the start at 0, for every
    // reason, so that `increase()` sees the first drop.
    let zeros = prom.instant(r#"sentinel_samples_dropped_total{backend="victoria_metrics"} == 0"#);
    let reasons: Vec<&str> = zeros
        .iter()
        .filter_map(|s| s["metric"]["reason"].as_str())
        .collect();
    for reason in ["size", "age", "rejected", "disk_full"] {
        assert!(reasons.contains(&reason), "{reason} missing: {zeros:?}");
    }
    let failures = prom.instant(
        r#"sentinel_send_failures_total{backend="victoria_metrics",reason="unreachable"}"#,
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    let errors =
        prom.instant(r#"sentinel_probe_runs_total{task_id="scraped",result="error"} == 0"#);
    assert_eq!(errors.len(), 1, "{errors:?}");

    // /healthz says the backend is fine.
    let (status, body) = http_get(&format!("http://{listen}/healthz"));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("ok: ") && body.contains("backend victoria_metrics: ok"),
        "{body}"
    );

    // Outage: the agent keeps recording its own metrics into the WAL.
    vm.stop();
    let outage_start = now_ms();
    agent.wait_for_log("the outage", WAIT, |l| {
        l["msg"] == "Remote write failed; keeping the data in the WAL and retrying."
    });
    let (status, body) = wait_for("/healthz to report the outage", WAIT, || {
        let (s, b) = http_get(&format!("http://{listen}/healthz"));
        b.contains("OUTAGE").then_some((s, b))
    });
    assert_eq!(
        status, 200,
        "healthz answers 200 while the agent runs: {body}"
    );
    assert!(
        body.starts_with("degraded: ") && body.contains("backend victoria_metrics: OUTAGE"),
        "{body}"
    );
    sleep(Duration::from_secs(3));
    let outage_end = now_ms();
    vm.restart();
    agent.wait_for_log("the recovery", WAIT, |l| {
        l["msg"] == "Backend is back; delivering the backlog."
    });

    // The fleet view: sentinel_backend_up was 0 during the outage, and
    // those values reached VictoriaMetrics afterwards.
    let down = wait_for("sentinel_backend_up=0 from the outage in VM", WAIT, || {
        let series =
            vm.raw_samples(r#"sentinel_backend_up{backend="victoria_metrics",sentinel="op-test"}"#);
        let zeros: Vec<i64> = series
            .iter()
            .flat_map(|s| s.timestamps.iter().zip(&s.values))
            .filter(|(t, v)| **v == 0.0 && **t >= outage_start && **t <= outage_end + 1000)
            .map(|(t, _)| *t)
            .collect();
        (!zeros.is_empty()).then_some(zeros)
    });
    assert!(!down.is_empty());
    let failures = vm.raw_samples(r#"sentinel_send_failures_total{backend="victoria_metrics"}"#);
    assert!(
        failures
            .iter()
            .any(|s| s.label("reason") == Some("unreachable") && s.values.iter().any(|v| *v > 0.0)),
        "send failures recorded during the outage: {failures:?}"
    );
    agent.terminate();
}

/// Runs `sentinel check -c FILE` and returns (exit code, output).
fn check(config_yaml: &str, env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("check.yaml");
    std::fs::write(&path, config_yaml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentinel"));
    cmd.args(["check", "-c"]).arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn line_for<'a>(out: &'a str, backend: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l.trim_start().starts_with(&format!("backend {backend}: "))
                && (l.contains("OK") || l.contains("FAILED"))
        })
        .unwrap_or_else(|| panic!("no result line for backend {backend} in:\n{out}"))
}

#[test]
fn check_explains_every_backend_failure() {
    let vm = VictoriaMetrics::start();
    let prom = Prometheus::start_without_receiver();
    let auth = VictoriaMetrics::start_with_flags(
        &[
            "-httpAuth.username=sentinel".to_string(),
            "-httpAuth.password=right-password".to_string(),
        ],
        &[200, 401],
    );
    // A self-signed certificate for an https VictoriaMetrics.
    let tls_dir = tempfile::tempdir().unwrap();
    let (cert, key) = (
        tls_dir.path().join("cert.pem"),
        tls_dir.path().join("key.pem"),
    );
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed for the TLS case: apt-get install openssl");
    assert!(
        ok.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let tls = VictoriaMetrics::start_with_flags(
        &[
            "-tls".to_string(),
            format!("-tlsCertFile={}", cert.display()),
            format!("-tlsKeyFile={}", key.display()),
        ],
        &[],
    );
    let closed = free_port();

    let backends = format!(
        "{}{}{}{}    wrong_auth:\n      url: http://127.0.0.1:{}/api/v1/write\n      username: sentinel\n      password: ${{WRONG_PW}}\n\
         {}    self_signed:\n      url: https://127.0.0.1:{}/api/v1/write\n",
        vm_backend("good", &vm.write_url()),
        vm_backend(
            "vm_typo",
            &vm.write_url().replace("/api/v1/write", "/api/v1/push")
        ),
        vm_backend(
            "vm_influx",
            &vm.write_url().replace("/api/v1/write", "/write")
        ),
        vm_backend("prom_no_receiver", &prom.write_url()),
        auth.port(),
        vm_backend("closed", &format!("http://127.0.0.1:{closed}/api/v1/write")),
        tls.port(),
    );
    let cfg = config("127.0.0.1:1", &backends, &ping_task("t"), "");
    let (code, out) = check(&cfg, &[("WRONG_PW", "not-the-password-xyz")]);
    assert_eq!(code, 1, "any failing backend makes check exit 1:\n{out}");
    assert!(line_for(&out, "good").contains("OK"), "{out}");
    let l = line_for(&out, "prom_no_receiver");
    assert!(
        l.contains("FAILED")
            && l.contains("404")
            && l.contains("--web.enable-remote-write-receiver"),
        "{l}"
    );
    // VictoriaMetrics answers an unknown path with 400: a wrong URL, not
    // an invalid batch.
    let l = line_for(&out, "vm_typo");
    assert!(
        l.contains("FAILED") && l.contains("has no remote-write endpoint"),
        "{l}"
    );
    // Its InfluxDB endpoint takes anything with 204: check must see that.
    // (`/api/v2/write` is refused by the config already; `/write` may be a
    // remote-write adapter's path elsewhere, so only check can tell.)
    let l = line_for(&out, "vm_influx");
    assert!(
        l.contains("FAILED") && l.contains("not a remote-write receiver"),
        "{l}"
    );
    let l = line_for(&out, "wrong_auth");
    assert!(l.contains("401") && l.contains("credentials"), "{l}");
    assert!(
        !out.contains("not-the-password-xyz"),
        "check printed the password:\n{out}"
    );
    let l = line_for(&out, "closed");
    assert!(
        l.contains("connection refused") && l.contains(&format!("127.0.0.1:{closed}")),
        "{l}"
    );
    let l = line_for(&out, "self_signed");
    assert!(
        l.contains("FAILED") && (l.contains("TLS") || l.contains("certificate")),
        "{l}"
    );
    assert!(l.contains("ca_file"), "the TLS failure names the fix: {l}");

    // All good: exit 0; --offline never contacts anything.
    let good = config(
        "127.0.0.1:1",
        &vm_backend("good", &vm.write_url()),
        &ping_task("t"),
        "",
    );
    let (code, out) = check(&good, &[]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn wal_stats_running_and_stopped_match_what_arrives() {
    let mut vm = VictoriaMetrics::not_started();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let cfg = config(
        &listen,
        &vm_backend("victoria_metrics", &vm.write_url()),
        &ping_task("backlog"),
        "",
    )
    .replace("self_metrics_interval: 1s", "self_metrics_interval: 0");
    let mut agent = Agent::start(&cfg);
    agent.wait_for_count_in_run("Samples appended.", 4, WAIT);

    // Running: the agent holds sled's lock and answers over HTTP.
    let running = agent.wal_stats_json();
    let pending = running["backends"]["victoria_metrics"]["pending_samples"]
        .as_u64()
        .unwrap();
    assert!(
        pending >= 8 * 3,
        "a backlog while the backend is down: {running}"
    );
    assert!(running["backends"]["victoria_metrics"]["oldest_ts_ms"]
        .as_i64()
        .is_some());

    agent.terminate();
    let stopped = agent.wal_stats_json();
    let backlog = stopped["backends"]["victoria_metrics"]["pending_samples"]
        .as_u64()
        .unwrap();
    let accepted = agent.accepted_samples(SyncMode::Always).samples;
    assert_eq!(
        backlog, accepted,
        "stopped: the backlog is all that was accepted: {stopped}"
    );
    assert!(stopped["disk_bytes"].as_u64().unwrap() > 0);

    // The backlog is exactly what the backend then receives.
    vm.restart();
    agent.restart();
    agent.wait_for_log("the backlog delivered", WAIT, |l| {
        l["msg"] == "Batch delivered."
    });
    sleep(Duration::from_secs(2));
    agent.terminate();
    let total = agent.accepted_samples(SyncMode::Always).samples;
    let stored = wait_for("every accepted sample in VM", WAIT, || {
        let n: usize = vm
            .raw_samples(r#"{__name__=~"ping_.*",task_id="backlog"}"#)
            .iter()
            .map(|s| s.distinct_timestamps().len())
            .sum();
        (n as u64 >= total).then_some(n)
    });
    assert_eq!(stored as u64, total, "{}", agent.log_tail());
    assert!(total >= backlog);
}

/// Root reading the WAL of a stopped agent that runs as another user (the
/// package's `sentinel`) must leave every file in it that user's: a
/// root-owned snapshot would stop the agent from opening its WAL again.
#[test]
fn wal_stats_as_root_leaves_the_wal_to_its_owner() {
    use std::os::unix::fs::MetadataExt;
    crate::util::netns::require_root("wal stats switching to the WAL owner");
    let vm = VictoriaMetrics::not_started();
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg = config(
        &listen,
        &vm_backend("central", &vm.write_url()),
        &ping_task("owned"),
        "",
    );
    let mut agent = Agent::start(&cfg);
    agent.wait_for_count_in_run("Samples appended.", 2, WAIT);
    agent.terminate();
    let wal = agent.state_dir().join("wal");
    // 65534 is nobody/nogroup on Debian; any non-root owner will do.
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&wal)
        .status()
        .unwrap();
    assert!(chown.success());
    // The temp dir is root's 0700: let the owner reach its WAL.
    let mut mode = std::fs::metadata(agent.state_dir()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
    std::fs::set_permissions(agent.state_dir(), mode).unwrap();

    let v = agent.wal_stats_json();
    assert!(
        v["backends"]["central"]["pending_samples"]
            .as_u64()
            .unwrap()
            > 0,
        "{v}"
    );
    let mut stack = vec![wal.clone()];
    let mut files = 0;
    while let Some(p) = stack.pop() {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (65534, 65534),
            "{} became another user's after `wal stats` as root",
            p.display()
        );
        files += 1;
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    assert!(files > 2, "the WAL has files: {}", wal.display());
}

#[test]
fn sighup_reloads_tasks_marks_removed_series_stale_and_refuses_a_broken_config() {
    let prom = Prometheus::start();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let backends = vm_backend("prometheus", &prom.write_url());
    let before = config(
        &listen,
        &backends,
        &(ping_task("keep") + &ping_task("drop") + &ping_task("moved")),
        "",
    );
    let mut agent = Agent::start(&before);
    wait_for(
        "the series of tasks drop and moved, in Prometheus",
        WAIT,
        || {
            (!prom.instant(r#"ping_reachable{task_id="drop"}"#).is_empty()
                && !prom
                    .instant(r#"ping_reachable{task_id="moved"}"#)
                    .is_empty())
            .then_some(())
        },
    );

    // Remove one task, add another, give a third a new device_id.
    let moved = ping_task("moved").replace("device_id: dev-moved", "device_id: dev-moved-2");
    agent.rewrite_config(&config(
        &listen,
        &backends,
        &(ping_task("keep") + &ping_task("added") + &moved),
        "",
    ));
    agent.hup();
    agent.wait_for_log("the reload", WAIT, |l| l["msg"] == "Config reloaded.");
    wait_for("the added task's series", WAIT, || {
        (!prom
            .instant(r#"ping_reachable{task_id="added"}"#)
            .is_empty())
        .then_some(())
    });
    // Stale markers: an instant query no longer sees the removed series,
    // long before Prometheus's 5 minute lookback would drop it.
    wait_for("the removed task's series to go stale", WAIT, || {
        prom.instant(r#"ping_reachable{task_id="drop"}"#)
            .is_empty()
            .then_some(())
    });
    assert!(!prom.instant(r#"ping_reachable{task_id="keep"}"#).is_empty());
    // The changed task: its former series go stale once the new ones run.
    wait_for("the moved task's old series to go stale", WAIT, || {
        (prom
            .instant(r#"ping_reachable{task_id="moved",device_id="dev-moved"}"#)
            .is_empty()
            && !prom
                .instant(r#"ping_reachable{task_id="moved",device_id="dev-moved-2"}"#)
                .is_empty())
        .then_some(())
    });

    // A broken config is refused; the agent keeps running the old one.
    agent.rewrite_config("tasks:\n  - id: [oops\n");
    agent.hup();
    let refused = agent.wait_for_log("the refusal", WAIT, |l| {
        l["msg"] == "Config reload failed; keeping the running config."
    });
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or("")
            .contains("config.yaml"),
        "{refused}"
    );
    let appended = agent.lines_with_msg("Samples appended.").len();
    sleep(Duration::from_secs(3));
    assert!(agent.is_running());
    assert!(
        agent.lines_with_msg("Samples appended.").len() > appended,
        "still probing"
    );
    agent.terminate();

    // Nothing lost or duplicated: every accepted sample of the kept task
    // is stored once (Prometheus would refuse a different value for the
    // same timestamp; VM-style duplicates are checked in pipeline.rs).
    let accepted_keep: u64 = agent
        .lines_with_msg("Samples appended.")
        .iter()
        .filter(|l| l["task_id"] == "keep")
        .map(|l| l["samples"].as_u64().unwrap())
        .sum();
    let stored = wait_for("every sample of task keep in Prometheus", WAIT, || {
        let n: usize = prom
            .raw_samples(r#"{__name__=~"ping_.*",task_id="keep"}"#)
            .iter()
            .map(|s| s.distinct_timestamps().len())
            .sum();
        (n as u64 >= accepted_keep).then_some(n)
    });
    assert_eq!(stored as u64, accepted_keep, "{}", agent.log_tail());
}

#[test]
fn sighup_applies_a_changed_password_file_without_losing_or_resending() {
    let vm = VictoriaMetrics::start_with_flags(
        &[
            "-httpAuth.username=sentinel".to_string(),
            "-httpAuth.password=right-password".to_string(),
            "-retentionPeriod=100y".to_string(),
            "-search.latencyOffset=0s".to_string(),
            "-search.disableCache".to_string(),
        ],
        &[200, 401],
    );
    let pw_dir = tempfile::tempdir().unwrap();
    let pw = pw_dir.path().join("password");
    std::fs::write(&pw, "wrong-password\n").unwrap();
    let backends = format!(
        "    vm:\n      url: {}\n      username: sentinel\n      password_file: {}\n",
        vm.write_url(),
        pw.display()
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let yaml = config(&listen, &backends, &ping_task("auth"), "");
    let mut agent = Agent::start(&yaml);
    agent.wait_for_log("the 401", WAIT, |l| {
        l["backend"] == "vm" && l["error"].as_str().is_some_and(|e| e.contains("401"))
    });
    // The same config file; only what password_file holds changed (its
    // Debug text, `***`, is the same either way).
    std::fs::write(&pw, "right-password\n").unwrap();
    agent.hup();
    agent.wait_for_log("the backend's restart", WAIT, |l| {
        l["msg"] == "Backend changed; it restarts with its new settings." && l["backend"] == "vm"
    });
    let n = |vm: &VictoriaMetrics| -> usize {
        vm.raw_samples(r#"{__name__=~"ping_.*",task_id="auth"}"#)
            .iter()
            .map(|s| s.timestamps.len())
            .sum()
    };
    wait_for(
        "samples in VictoriaMetrics with the new password",
        WAIT,
        || (n(&vm) > 0).then_some(()),
    );
    sleep(Duration::from_secs(2));
    agent.terminate();
    // Everything probed before and after the reload arrives, once. Only
    // the probe's own series: the agent's counters about the task carry
    // task_id="auth" too, but are not in the task's appends.
    let accepted = agent.accepted_samples(SyncMode::Always).samples
        - agent
            .lines_with_msg("Samples appended.")
            .iter()
            .filter(|l| l["task_id"] != "auth")
            .map(|l| l["samples"].as_u64().unwrap())
            .sum::<u64>();
    let stored = wait_for("every accepted sample in VictoriaMetrics", WAIT, || {
        let n = n(&vm) as u64;
        (n >= accepted).then_some(n)
    });
    assert_eq!(stored, accepted, "{}", agent.log_tail());
    for s in vm.raw_samples(r#"{__name__=~"ping_.*",task_id="auth"}"#) {
        assert_eq!(s.duplicates(), 0, "{}", s.describe());
    }
}

#[test]
fn a_reload_that_cannot_read_its_file_does_not_stop_probing_or_the_stop() {
    let listen = format!("127.0.0.1:{}", free_port());
    let yaml = config(&listen, "", &ping_task("busy"), "");
    let mut agent = Agent::start(&yaml);
    agent.wait_for_log("a first run", WAIT, |l| l["msg"] == "Samples appended.");
    // A FIFO that nobody writes: opening it blocks until a writer comes,
    // as a slow or hostile file would keep a parser busy.
    std::fs::remove_file(agent.config_path()).unwrap();
    let path = std::ffi::CString::new(agent.config_path().as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo(3) with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    agent.hup();
    sleep(Duration::from_millis(500));
    let before = agent.lines_with_msg("Samples appended.").len();
    sleep(Duration::from_secs(3));
    assert!(
        agent.lines_with_msg("Samples appended.").len() >= before + 2,
        "probing stopped while the reload waits for its file\n{}",
        agent.log_tail()
    );
    let t = Instant::now();
    assert!(agent.terminate().success());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(agent.lines_with_msg("Config reloaded.").len(), 0);
}

#[test]
fn sighup_reopens_the_log_file_for_logrotate() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sentinel.log");
    let extra = format!("logging:\n  output: file\n  file_path: {}\n", log.display());
    let closed = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let cfg = config(
        "127.0.0.1:1",
        &vm_backend("nowhere", &closed),
        &ping_task("rot"),
        &extra,
    )
    .replace(
        "http:\n  listen: \"127.0.0.1:1\"\n",
        "http:\n  enabled: false\n",
    );
    let mut agent = Agent::start(&cfg);
    wait_for("the log file", WAIT, || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("Samples appended."))
    });
    let rotated = dir.path().join("sentinel.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    agent.hup();
    let fresh = wait_for("a fresh log file after SIGHUP", WAIT, || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.contains("Samples appended."))
    });
    assert!(fresh.contains("Config reloaded.") || fresh.contains("Samples appended."));
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(old.contains("Sentinel started."), "{old}");
    agent.terminate();
}

/// A probe that fails every run is logged once as a warning (then only when
/// its error changes, or every ten minutes), not once per run, and
/// `/metrics` counts every failed run.
#[test]
fn a_probe_failing_every_run_is_logged_once() {
    let listen = format!("127.0.0.1:{}", free_port());
    let task = "  - id: broken\n    plugin: exec\n    interval: 1s\n    \
                config: {command: ['/bin/sh', '-c', 'echo garbage {']}\n";
    let mut agent = Agent::start(&config(&listen, "", task, ""));
    let runs = wait_for("four failed runs counted in /metrics", WAIT, || {
        let (_, body) = crate::util::servers::try_http_get(
            &format!("http://{listen}/metrics"),
            Duration::from_secs(2),
        )?;
        let n: f64 = body
            .lines()
            .find(|l| {
                l.starts_with("sentinel_probe_runs_total{")
                    && l.contains("task_id=\"broken\"")
                    && l.contains("result=\"error\"")
            })?
            .rsplit_once(' ')?
            .1
            .parse()
            .ok()?;
        (n >= 4.0).then_some(n)
    });
    agent.terminate();
    let warnings: Vec<_> = agent
        .lines_with_msg("Probe failed.")
        .into_iter()
        .filter(|l| l["level"] == "warn")
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "{runs} failed runs, one warning expected: {warnings:?}"
    );
    assert!(
        warnings[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not the Prometheus text format")),
        "{warnings:?}"
    );
}

/// http.listen held by another process at start: the agent probes anyway,
/// says so, and serves /metrics once the port is free (it retries every
/// 30 s).
#[test]
fn a_busy_listen_port_is_retried_until_free() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = squatter.local_addr().unwrap().to_string();
    let mut agent = Agent::start(&config(&listen, "", &ping_task("busy"), ""));
    let failed = agent.wait_for_log("the listener failure", WAIT, |l| {
        l["msg"]
            == "HTTP listener failed; probing goes on, and the listener is tried again every 30 s."
    });
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains(&listen) && e.contains("http.listen")),
        "{failed}"
    );
    agent.wait_for_count_in_run("Samples appended.", 2, WAIT);
    drop(squatter);
    let body = wait_for(
        "/metrics once the port is free",
        Duration::from_secs(60),
        || {
            let (status, body) = crate::util::servers::try_http_get(
                &format!("http://{listen}/metrics"),
                Duration::from_secs(2),
            )?;
            (status == 200).then_some(body)
        },
    );
    assert!(body.contains("ping_rtt_ms"), "{body}");
    agent.terminate();
}

/// SIGTERM while an exec probe's command is still running: the agent does
/// not wait out the command's timeout, and the command does not outlive
/// it. (`$$$$` is the shell's `$$` once the config's `$$` escape is read.)
#[test]
fn stop_kills_a_running_exec_command() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let task = format!(
        "  - id: slow\n    plugin: exec\n    interval: 300s\n    \
         config: {{command: ['/bin/sh', '-c', 'echo $$$$ > {}; exec sleep 120'], timeout: 200s}}\n",
        pidfile.display()
    );
    let mut agent = Agent::start(&config("127.0.0.1:1", "", &task, "").replace(
        "http:\n  listen: \"127.0.0.1:1\"\n",
        "http:\n  enabled: false\n",
    ));
    let pid: libc::pid_t = wait_for("the command to start", WAIT, || {
        std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok()
    });
    let asked = Instant::now();
    let status = agent.terminate();
    assert!(status.success(), "{status}\n{}", agent.log_tail());
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "stop waited {:?} for the command\n{}",
        asked.elapsed(),
        agent.log_tail()
    );
    // SAFETY: signal 0 only checks that the process exists.
    wait_for("the command to be gone", WAIT, || {
        (unsafe { libc::kill(pid, 0) } != 0).then_some(())
    });
}
