//! The `sentinel` command line as a user meets it: exit codes, `--help`,
//! `check --offline` on the original's documented configs, `trigger ping`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn sentinel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run the sentinel binary")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn every_fixture_passes_offline_check() {
    for name in [
        "config-seed-recommended.yaml",
        "config-seed-both-backends.yaml",
        "config-seed-auth-headers.yaml",
    ] {
        let path = fixture(name);
        let out = Command::new(env!("CARGO_BIN_EXE_sentinel"))
            .args(["check", "--offline", "-c"])
            .arg(&path)
            .env("PROM_PASSWORD", "s3cret-test-value")
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "{name}: {t}");
        assert!(t.contains("config OK"), "{name}: {t}");
        assert!(
            !t.contains("s3cret-test-value"),
            "{name} leaks the password: {t}"
        );
    }
}

#[test]
fn auth_fixture_without_its_variable_names_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["check", "--offline", "-c"])
        .arg(fixture("config-seed-auth-headers.yaml"))
        .env_remove("PROM_PASSWORD")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("PROM_PASSWORD"), "{t}");
    assert!(t.contains("sender.direct.prometheus.password"), "{t}");
}

#[test]
fn malformed_config_gives_message_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "sender:\n  mode: direct\n  direct:\n    victoria_metrics:\n      url: http://127.0.0.1:8428/api/v1/write\ntasks:\n  - id: a\n    plugin: ping\n    config:\n      host: 127.0.0.1\n      count: 0\n",
    )
    .unwrap();
    for cmd in ["check", "start"] {
        let mut args = vec![cmd];
        if cmd == "check" {
            args.push("--offline");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_sentinel"))
            .args(&args)
            .arg("-c")
            .arg(&path)
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {t}");
        assert!(t.contains("bad.yaml"), "{cmd}: names the file: {t}");
        assert!(
            t.contains("tasks[0].config.count"),
            "{cmd}: names the path: {t}"
        );
        assert!(
            !t.contains("panicked") && !t.contains("RUST_BACKTRACE"),
            "{t}"
        );
    }
}

#[test]
fn missing_config_file_is_exit_2_naming_it() {
    let out = sentinel(&["check", "--offline", "-c", "/nonexistent/sentinel.yaml"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("/nonexistent/sentinel.yaml"), "{t}");
}

#[test]
fn missing_file_error_names_its_cause_once() {
    let out = sentinel(&["check", "--offline", "-c", "/nonexistent/sentinel.yaml"]);
    let t = text(&out);
    assert_eq!(t.matches("No such file or directory").count(), 1, "{t}");
}

/// Output to a full disk (`> file` on a full flash) is an error line and
/// exit 1, never a panic.
#[test]
fn a_full_stdout_is_an_error_not_a_panic() {
    for args in [
        &["version"][..],
        &["list-plugins"],
        &["check", "--offline", "-c", "config/config.yaml"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = Command::new(env!("CARGO_BIN_EXE_sentinel"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(full)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("sentinel: error: cannot write to standard output:")
                && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let out = sentinel(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = sentinel(&["trigger", "ping"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = sentinel(&["trigger", "ping", "127.0.0.1", "-n", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = sentinel(&["trigger", "ping", "127.0.0.1", "-i", "soon"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    for args in [
        &["--help"][..],
        &["start", "--help"],
        &["trigger", "ping", "--help"],
        &["check", "--help"],
    ] {
        let out = sentinel(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("Usage"), "{args:?}");
    }
}

#[test]
fn version_and_plugins() {
    let out = sentinel(&["version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains(env!("CARGO_PKG_VERSION")));
    let out = sentinel(&["--version"]);
    assert!(text(&out).contains(env!("CARGO_PKG_VERSION")));
    let out = sentinel(&["list-plugins"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains("ping"));
    assert!(text(&out).contains("count"));
}

#[test]
fn trigger_ping_loopback_prints_rtt_loss_and_reachable() {
    crate::util::netns::require_root("trigger ping opens a raw ICMP socket");
    let out = sentinel(&["trigger", "ping", "127.0.0.1", "-n", "3", "-i", "100ms"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let line = |name: &str| {
        t.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} line in:\n{t}"))
            .to_string()
    };
    assert!(
        line("ping_reachable").split_whitespace().nth(1) == Some("1"),
        "{t}"
    );
    assert!(
        line("ping_packet_loss").split_whitespace().nth(1) == Some("0"),
        "{t}"
    );
    assert!(line("ping_rtt_ms").contains("ms"), "{t}");
    assert!(
        line("ping_packets_sent").split_whitespace().nth(1) == Some("3"),
        "{t}"
    );

    let out = sentinel(&[
        "trigger",
        "ping",
        "127.0.0.1",
        "-n",
        "2",
        "-i",
        "100ms",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let samples = v["samples"].as_array().unwrap();
    let get = |n: &str| {
        samples
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing: {v}"))
    };
    assert_eq!(get("ping_reachable")["value"], 1.0);
    assert_eq!(get("ping_packets_received")["value"], 2.0);
    assert_eq!(get("ping_rtt_ms")["labels"]["host"], "127.0.0.1");
}
