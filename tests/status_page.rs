//! The local status page (issue 9) as the technician on site sees it: a
//! real headless Chromium loads `/` from a running agent whose tasks are up,
//! lossy (nft drops half the echoes) and dead (an address nobody holds),
//! with its only backend down. The DOM must show each state and the outage
//! with its backlog; `/api/status` must agree with `/metrics`; names from
//! the config must be escaped; and 1,000 task histories must stay within
//! their documented memory bound.
//!
//! The agent and Chromium both run inside network namespace `a` of a
//! `NetnsPair`, so the targets are addresses only that pair holds and the
//! listener's port cannot clash with anything else.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::util::netns::{in_netns, NetnsPair};
use crate::util::servers::http_get;

/// The listener inside namespace `a`.
const LISTEN: &str = "127.0.0.1:9851";

/// The agent as a child of `ip netns exec`, killed on drop.
struct NsAgent {
    child: Child,
    log: PathBuf,
}

impl NsAgent {
    fn start(ns: &str, dir: &Path, config: &str) -> NsAgent {
        let cfg = dir.join("config.yaml");
        std::fs::write(&cfg, config).unwrap();
        let log = dir.join("agent.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                env!("CARGO_BIN_EXE_sentinel"),
                "start",
                "-c",
            ])
            .arg(&cfg)
            .env("STATE_DIRECTORY", dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run ip netns exec sentinel");
        NsAgent { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NsAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("the status page test needs a real browser: apt-get install chromium");
}

/// Runs headless Chromium inside `ns` with `args` plus the URL; returns stdout.
fn browse(ns: &str, profile: &Path, args: &[&str], url: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn task(id: &str, device: &str, host: &str, count: u32) -> String {
    format!(
        "  - id: '{id}'\n    device_id: '{device}'\n    plugin: ping\n    interval: 2s\n    \
         config: {{host: {host}, count: {count}, interval: 20ms, timeout: 500ms}}\n"
    )
}

/// The `data-state` of the element carrying `attr="value"` in `dom`.
fn state_of(dom: &str, attr: &str, value: &str) -> String {
    let key = format!("{attr}=\"{value}\"");
    let at = dom
        .find(&key)
        .unwrap_or_else(|| panic!("no element with {key} in the page:\n{dom}"));
    let tag_end = dom[at..].find('>').unwrap() + at;
    let tag = &dom[at..tag_end];
    let s = tag.find("data-state=\"").expect("data-state") + 12;
    tag[s..s + tag[s..].find('"').unwrap()].to_string()
}

#[test]
fn status_page_in_a_real_browser_shows_states_outage_and_escapes_names() {
    let pair = NetnsPair::new();
    // Half of the echo requests to b vanish.
    pair.nft(
        &pair.b,
        "table inet loss {\n chain input {\n  type filter hook input priority 0; policy accept;\n  \
         icmp type echo-request numgen random mod 100 < 50 drop\n }\n}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "sentinel:\n  name: site-lab\n  region: bench\n\
         sender:\n  mode: direct\n  flush_interval: 1s\n  direct:\n    central:\n      url: http://127.0.0.1:9/api/v1/write\n\
         buffer:\n  sync: interval\n\
         http:\n  listen: {LISTEN}\n\
         tasks:\n{}{}{}{}{}",
        task("gw", "gateway", "127.0.0.1", 3),
        task("uplink", "uplink-modem", &pair.b_v4.to_string(), 20),
        task("dead", "old-switch", &pair.nobody_v4.to_string(), 2),
        task("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "127.0.0.1", 1),
        // A probe that fails every run: state `error`, with the reason.
        "  - id: broken\n    device_id: sensor-script\n    plugin: exec\n    interval: 2s\n    \
         config: {command: ['/bin/sh', '-c', 'echo garbage {']}\n",
    );
    let agent = NsAgent::start(&pair.a, dir.path(), &config);

    // Wait until every task has run and the backend shows its outage.
    let base = format!("http://{LISTEN}");
    let deadline = Instant::now() + Duration::from_secs(40);
    let status: serde_json::Value = loop {
        let url = format!("{base}/api/status");
        let got = in_netns(&pair.a, move || {
            crate::util::servers::try_http_get(&url, Duration::from_secs(2))
        });
        if let Some((200, body)) = got {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let ran = v["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["state"] != "pending");
            let outage = v["backends"][0]["ok"] == false
                && v["backends"][0]["backlog_samples"].as_u64().unwrap_or(0) > 0;
            if ran && outage {
                break v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the agent's status never showed every task run and the outage\n{}",
            agent.log()
        );
        sleep(Duration::from_millis(500));
    };
    assert_eq!(status["agent"], "site-lab");

    // The page in a real browser: DOM and screenshot.
    let profile = tempfile::tempdir().unwrap();
    let dom = browse(
        &pair.a,
        profile.path(),
        &["--dump-dom"],
        &format!("{base}/"),
    );
    assert_eq!(state_of(&dom, "data-task", "gw"), "up", "{dom}");
    assert_eq!(state_of(&dom, "data-task", "uplink"), "degraded", "{dom}");
    assert_eq!(state_of(&dom, "data-task", "dead"), "down", "{dom}");
    assert_eq!(state_of(&dom, "data-backend", "central"), "outage", "{dom}");
    assert_eq!(state_of(&dom, "data-task", "broken"), "error", "{dom}");
    assert!(
        dom.contains("probe error: command") && dom.contains("not the Prometheus text format"),
        "the failing probe's reason is on the page:\n{dom}"
    );
    let backlog_at = dom.find("data-backlog=\"").unwrap() + 14;
    let backlog: u64 = dom[backlog_at..backlog_at + dom[backlog_at..].find('"').unwrap()]
        .parse()
        .unwrap();
    assert!(backlog > 0, "the backend shows a backlog: {dom}");
    // Names from the config are text, never markup.
    assert!(
        !dom.contains("<script>alert"),
        "a task id became a script:\n{dom}"
    );
    assert!(
        !dom.contains("<img src=x"),
        "a device id became an image:\n{dom}"
    );
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{dom}"
    );
    assert!(dom.contains("<svg"), "latency strips are drawn: {dom}");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &pair.a,
        profile.path(),
        &[
            "--window-size=900,1200",
            &format!("--screenshot={}", shot.display()),
        ],
        &format!("{base}/"),
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG: {}", shot.display());
    let page = in_netns(&pair.a, move || http_get(&format!("http://{LISTEN}/")));
    eprintln!(
        "status page screenshot (CI artifact): {} ({} bytes); page size {} bytes",
        shot.display(),
        png.len(),
        page.1.len()
    );

    // /api/status agrees with /metrics at the same moment: read metrics,
    // status, metrics, and compare when nothing changed in between.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (m1, st, m2) = in_netns(&pair.a, move || {
            let m1 = http_get(&format!("http://{LISTEN}/metrics")).1;
            let st = http_get(&format!("http://{LISTEN}/api/status")).1;
            let m2 = http_get(&format!("http://{LISTEN}/metrics")).1;
            (m1, st, m2)
        });
        let pick = |m: &str, prefix: &str| -> Option<f64> {
            // `name{labels} value [timestamp]`; label values may hold spaces.
            m.lines().find(|l| l.starts_with(prefix)).and_then(|l| {
                l.rsplit_once("} ")?
                    .1
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
        };
        let pending = "sentinel_wal_samples_pending{backend=\"central\"}";
        let rtt = "ping_rtt_ms{device_id=\"gateway\"";
        let stable = pick(&m1, pending) == pick(&m2, pending) && pick(&m1, rtt) == pick(&m2, rtt);
        if stable {
            let st: serde_json::Value = serde_json::from_str(&st).unwrap();
            assert_eq!(
                st["backends"][0]["backlog_samples"].as_f64(),
                pick(&m1, pending),
                "backlog: /api/status vs /metrics\n{m1}\n{st}"
            );
            let gw = st["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["task_id"] == "gw")
                .unwrap();
            let lines: Vec<&str> = m1
                .lines()
                .filter(|l| l.starts_with("ping_rtt_ms"))
                .collect();
            assert_eq!(
                gw["last_rtt_ms"].as_f64(),
                pick(&m1, rtt),
                "rtt: {gw}\n{lines:#?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "/metrics never held still");
    }
    drop(agent);
}

/// VmRSS of this process, bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_thousand_full_histories_stay_within_the_documented_bound() {
    use sentinel::sample::{Labels, Sample};
    use sentinel::telemetry::status::{HISTORY_POINTS, HISTORY_SPAN};
    use sentinel::telemetry::Telemetry;

    const TASKS: usize = 1000;
    // status.rs: a ring is at most about 14 KiB, 1,000 about 14 MiB; each
    // task's latest samples (for /metrics) and malloc's slack from the
    // 361,000 short-lived sample vectors come on top (measured: 19 MiB in
    // all; with 64-byte buckets it was 25 MiB, which this bound refuses).
    const BOUND: u64 = 22 << 20;
    let t = Telemetry::new();
    let before = rss_bytes();
    let bucket_ms = (HISTORY_SPAN / HISTORY_POINTS as u32).as_millis() as i64;
    for i in 0..TASKS {
        let id = format!("ping-{i}");
        t.register_task(&id, &format!("dev-{i}"), "ping", Duration::from_secs(10));
        // One run per bucket and then some: the ring is full and wrapped.
        for b in 0..(HISTORY_POINTS as i64 + 20) {
            let l = Labels::new().with("task_id", id.as_str());
            t.set_probe_result(
                &id,
                vec![
                    Sample::new("ping_reachable", l.clone(), 1.0, b * bucket_ms),
                    Sample::new("ping_rtt_ms", l.clone(), 1.5, b * bucket_ms),
                    Sample::new("ping_packet_loss", l, 0.0, b * bucket_ms),
                ],
            );
        }
    }
    let grown = rss_bytes().saturating_sub(before);
    let status = t.status("a", "r");
    assert_eq!(status.tasks.len(), TASKS);
    assert!(status
        .tasks
        .iter()
        .all(|t| t.history.len() == HISTORY_POINTS));
    eprintln!(
        "1,000 full task histories: RSS grew by {} KiB",
        grown / 1024
    );
    assert!(
        grown <= BOUND,
        "1,000 full histories took {grown} bytes of RSS, more than the documented {BOUND}"
    );
}
