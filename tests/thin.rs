//! Thin links (issue 15): after an outage the present goes first
//! (`backfill: newest_first`) and the backlog behind it, within a
//! bandwidth cap (`max_bytes_per_second`), complete and counted; a
//! `kill -9` in the middle of a backfill loses nothing accepted; a
//! Prometheus without an out-of-order window refuses the backfill, which
//! is counted as `out_of_order` with a log line naming the setting, and
//! one with the window takes everything.
//!
//! Load comes from the ping plugin on the agent's own loopback: a task
//! over `127.0.0.0/28` pings 14 addresses a second (8 samples each).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::util::agent::{Agent, SyncMode};
use crate::util::faults::NetnsVictoriaMetrics;
use crate::util::netns::{in_netns, sh, NetnsPair};
use crate::util::servers::{
    http_get, now_ms, url_encode, Prometheus, RemoteWriteServer, VictoriaMetrics,
};

/// Every series: the ping samples and the agent's own `sentinel_*`
/// (the servers hold nothing else).
const ALL: &str = r#"{__name__=~".+"}"#;
const WRITE_FAILED: &str = "Remote write failed; keeping the data in the WAL and retrying.";
const BACKEND_BACK: &str = "Backend is back; delivering the backlog.";

/// An agent config: one backend with `extra` yaml lines, requests of at
/// most `batch_size` samples, one ping task over `hosts` every second.
fn yaml(url: &str, extra: &str, hosts: &str, batch_size: u64, listen: Option<&str>) -> String {
    let mut backend = format!("    thin:\n      url: \"{url}\"\n");
    for l in extra.lines() {
        backend.push_str(&format!("      {l}\n"));
    }
    let http = match listen {
        Some(l) => format!("http:\n  listen: \"{l}\"\n"),
        None => "http:\n  enabled: false\n".to_string(),
    };
    format!(
        "sentinel:\n  name: \"thin\"\n  region: \"lab\"\n\
         sender:\n  mode: \"direct\"\n  flush_interval: 1s\n  batch_size: {batch_size}\n  timeout: 10s\n  \
         retry:\n    min_backoff: 200ms\n    max_backoff: 1s\n  direct:\n{backend}\
         buffer:\n  sync: interval\n  sync_interval: 1s\n\
         {http}\
         logging:\n  level: debug\n  format: json\n  output: stdout\n\
         tasks:\n  - id: \"load\"\n    device_id: \"lo\"\n    plugin: \"ping\"\n    interval: 1s\n    \
         config:\n      hosts: [\"{hosts}\"]\n      count: 1\n      timeout: 300ms\n"
    )
}

/// Samples appended so far (all runs, synced or not).
fn appended(agent: &Agent) -> u64 {
    agent
        .lines_with_msg("Samples appended.")
        .iter()
        .filter_map(|l| l["samples"].as_u64())
        .sum()
}

/// `sentinel wal stats --json` on a stopped agent: (pending samples,
/// drops by reason) of backend `thin`.
fn wal_stats(agent: &Agent) -> (u64, BTreeMap<String, u64>) {
    let v = agent.wal_stats_json();
    let b = &v["backends"]["thin"];
    let drops = b["drops"]
        .as_object()
        .map(|d| {
            d.iter()
                .map(|(r, n)| (r.clone(), n.as_u64().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default();
    (b["pending_samples"].as_u64().unwrap_or(0), drops)
}

/// Bytes sent on `veth0` of namespace `ns` so far.
fn tx_bytes(ns: &str) -> u64 {
    let out = std::process::Command::new("ip")
        .args(["-n", ns, "-s", "-j", "link", "show", "dev", "veth0"])
        .output()
        .expect("run ip -s link");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
    v[0]["stats64"]["tx"]["bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no tx bytes in {v}"))
}

/// (distinct (series, timestamp) pairs, repeats) in a netns VM, samples
/// stamped at or after `since_ms` only when given.
fn vm_counts_since(vm: &NetnsVictoriaMetrics, since_ms: Option<i64>) -> (u64, u64) {
    match since_ms {
        None => vm.counts(ALL),
        Some(t) => {
            let _ = vm.get("/internal/force_flush");
            let path = format!(
                "/api/v1/export?match[]={}&start={}",
                url_encode(ALL),
                t as f64 / 1000.0
            );
            let (_, body) = vm.get(&path).expect("export from VictoriaMetrics");
            let n = body
                .lines()
                .filter(|l| !l.trim().is_empty())
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .map(|v| v["timestamps"].as_array().map_or(0, |a| a.len() as u64))
                .sum();
            (n, 0)
        }
    }
}

/// The outage of the shaped-link test.
const OUTAGE: Duration = Duration::from_secs(45);
/// Its bandwidth cap, bytes per second: about twice the steady load's.
const CAP: u64 = 16 << 10;
/// Its load: 62 addresses pinged a second, 8 samples each.
const LINK_HOSTS: &str = "127.0.0.0/26";
const LINK_PER_RUN: u64 = 8 * 62;

/// The agent in namespace `a` behind a 1 Mbit/s link (tbf), VictoriaMetrics
/// in `b`, `backfill: newest_first` and a 16 KiB/s cap; the link goes
/// down for 45 s under a steady load (about 500 samples a second) and
/// comes back. The newest
/// samples are queryable within a few seconds of the return while most
/// of the backlog is still missing; the bytes leaving the agent's
/// interface stay within the cap (plus a burst and TCP/IP overhead); in
/// the end every accepted sample is in VictoriaMetrics exactly once (but
/// for the one request whose answer the link's loss cut off).
#[test]
fn r15_1_the_present_first_within_the_cap_over_a_shaped_link() {
    let pair = NetnsPair::new();
    pair.exec(
        &pair.a,
        "tc",
        &[
            "qdisc", "add", "dev", "veth0", "root", "tbf", "rate", "1mbit", "burst", "32kbit",
            "latency", "400ms",
        ],
    );
    let vm = NetnsVictoriaMetrics::start(&pair.b, SocketAddr::new(pair.b_v4.into(), 8428));
    let cfg = yaml(
        &vm.write_url(),
        &format!("backfill: newest_first\nmax_bytes_per_second: {CAP}"),
        LINK_HOSTS,
        1000,
        Some("127.0.0.1:9851"),
    );
    let mut agent = in_netns(&pair.a, move || Agent::start(&cfg));
    agent.wait_for_count_in_run("Samples appended.", 5, Duration::from_secs(30));
    sh("ip", &["-n", &pair.b, "link", "set", "veth0", "down"]);
    agent.wait_for_log("the outage's start", Duration::from_secs(30), |l| {
        l["msg"] == WRITE_FAILED
    });
    sleep(OUTAGE);
    let up_ms = now_ms();
    let up = Instant::now();
    sh("ip", &["-n", &pair.b, "link", "set", "veth0", "up"]);
    // The present: a sample stamped after the return.
    let mut tx = vec![(Instant::now(), tx_bytes(&pair.a))];
    let (present_after, delivered_then, appended_then) = loop {
        if vm_counts_since(&vm, Some(up_ms)).0 > 0 {
            break (up.elapsed(), vm.counts(ALL).0, appended(&agent));
        }
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "no sample stamped after the return in VictoriaMetrics\n{}",
            agent.log_tail()
        );
        sleep(Duration::from_millis(200));
        tx.push((Instant::now(), tx_bytes(&pair.a)));
    };
    // /healthz shows the drain's progress and when it will be done, and
    // /api/status the same as numbers.
    let ns = pair.a.clone();
    let (healthz, eta) = in_netns(&pair.a, move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, text) = http_get("http://127.0.0.1:9851/healthz");
            if text.contains("draining") || Instant::now() > deadline {
                let (_, status) = http_get("http://127.0.0.1:9851/api/status");
                let v: serde_json::Value = serde_json::from_str(&status).unwrap();
                return (text, v["backends"][0]["backlog_eta_seconds"].as_f64());
            }
            sleep(Duration::from_millis(250));
        }
    });
    tx.push((Instant::now(), tx_bytes(&ns)));
    // The backlog drains behind it, within the cap.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        sleep(Duration::from_secs(1));
        tx.push((Instant::now(), tx_bytes(&pair.a)));
        let (d, _) = vm.counts(ALL);
        // Everything appended up to a few seconds ago is there.
        if d + LINK_PER_RUN * 3 >= appended(&agent) || Instant::now() > deadline {
            break;
        }
    }
    let drained_after = up.elapsed();
    agent.terminate();
    let accepted = agent.accepted_samples(SyncMode::Interval).samples;
    let (pending, drops) = wal_stats(&agent);
    let (delivered, dup) = loop {
        let c = vm.counts(ALL);
        if c.0 + pending >= accepted || up.elapsed() > Duration::from_secs(240) {
            break c;
        }
        sleep(Duration::from_millis(500));
    };
    // The worst 5-second window of the drain at the interface.
    const WINDOW: Duration = Duration::from_secs(5);
    let mut worst = 0f64;
    for (i, (t0, b0)) in tx.iter().enumerate() {
        if let Some((t1, b1)) = tx[i..]
            .iter()
            .find(|(t, _)| t.duration_since(*t0) >= WINDOW)
        {
            let rate = (b1 - b0) as f64 / t1.duration_since(*t0).as_secs_f64();
            worst = worst.max(rate);
        }
    }
    let total_rate = (tx.last().unwrap().1 - tx[0].1) as f64
        / tx.last().unwrap().0.duration_since(tx[0].0).as_secs_f64();
    eprintln!(
        "thin link: newest sample {present_after:?} after the return ({delivered_then} of \
         {appended_then} appended samples delivered then); drained after {drained_after:?}; \
         at the interface: worst {WINDOW:?} window {worst:.0} B/s, average {total_rate:.0} B/s, \
         cap {CAP} B/s; accepted {accepted}, delivered {delivered}, duplicated {dup}, \
         pending {pending}, drops {drops:?}"
    );
    eprintln!("thin link: /healthz during the drain: {healthz}");
    assert!(
        healthz
            .lines()
            .any(|l| l.starts_with("backend thin: ok, backlog")
                && l.contains("draining")
                && l.contains("done in about")),
        "{healthz}"
    );
    assert!(eta.is_some_and(|s| s > 0.0), "backlog_eta_seconds {eta:?}");
    assert!(
        present_after <= Duration::from_secs(6),
        "the newest sample took {present_after:?}\n{}",
        agent.log_tail()
    );
    // Most of the outage's load was missing then.
    assert!(
        delivered_then + LINK_PER_RUN * 30 <= appended_then,
        "the backlog was not behind the present: {delivered_then} of {appended_then}"
    );
    // The cap is on request bodies and heads; the interface also carries
    // Ethernet, IP and TCP headers and ACKs (about 6 %), the sampling
    // of the counter jitters, and one burst of a second's worth may go at
    // once. Without the cap the drain would fill the 1 Mbit/s link
    // (about 120 KB/s).
    let bound = CAP as f64 * 1.25 + CAP as f64 / WINDOW.as_secs_f64();
    assert!(worst <= bound, "worst window {worst:.0} B/s > {bound:.0}");
    // And over the whole drain, however short.
    let (t0, b0) = tx[0];
    let (t1, b1) = *tx.last().unwrap();
    let span = t1.duration_since(t0).as_secs_f64();
    let allowed = CAP as f64 * 1.25 * span + CAP as f64;
    assert!(
        (b1 - b0) as f64 <= allowed,
        "{} bytes in {span:.1} s, allowed {allowed:.0}",
        b1 - b0
    );
    // Exactly once, but for the request the link's loss cut off: stored,
    // its answer lost, sent again (at-least-once, as any remote write).
    assert!(dup <= 1000, "{dup} repeats: more than one request's worth");
    assert_eq!(drops, BTreeMap::new(), "nothing dropped");
    assert_eq!(delivered + pending, accepted, "{}", agent.log_tail());
}

/// `kill -9` in the middle of a `newest_first` backfill (capped so that
/// it lasts): after a restart every accepted sample arrives; repeats are
/// allowed (a crash), losses are not.
#[test]
fn r15_2_kill_9_in_a_backfill_loses_nothing_accepted() {
    let mut vm = VictoriaMetrics::not_started();
    let cfg = yaml(
        &vm.write_url(),
        "backfill: newest_first\nmax_bytes_per_second: 8KiB",
        "127.0.0.0/28",
        1000,
        None,
    );
    let mut agent = Agent::start(&cfg);
    sleep(Duration::from_secs(25));
    vm.restart();
    agent.wait_for_log("the drain", Duration::from_secs(30), |l| {
        l["msg"] == BACKEND_BACK
    });
    sleep(Duration::from_secs(1));
    let delivered_at_kill = count(&vm);
    let appended_at_kill = appended(&agent);
    agent.kill9();
    agent.restart();
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&vm) + 8 * 14 * 3 < appended(&agent) && Instant::now() < deadline {
        sleep(Duration::from_secs(1));
    }
    agent.terminate();
    let accepted = agent.accepted_samples(SyncMode::Interval).samples;
    let (pending, drops) = wal_stats(&agent);
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&vm) + pending < accepted && Instant::now() < deadline {
        sleep(Duration::from_millis(500));
    }
    let delivered = count(&vm);
    eprintln!(
        "kill -9 in a backfill: {delivered_at_kill} of {appended_at_kill} delivered at the kill; \
         accepted {accepted}, delivered {delivered}, pending {pending}, drops {drops:?}"
    );
    assert!(
        delivered_at_kill + 8 * 14 * 5 < appended_at_kill,
        "the kill was not in the middle of a backfill"
    );
    assert_eq!(drops, BTreeMap::new());
    assert!(
        delivered + pending >= accepted,
        "lost: {accepted} accepted, {delivered} delivered, {pending} pending\n{}",
        agent.log_tail()
    );
}

/// Distinct samples in a loopback VictoriaMetrics.
fn count(vm: &VictoriaMetrics) -> u64 {
    vm.export(ALL)
        .iter()
        .map(|s| s.distinct_timestamps().len() as u64)
        .sum()
}

/// Distinct samples in Prometheus.
fn prom_count(p: &Prometheus) -> u64 {
    p.raw_samples(ALL)
        .iter()
        .map(|s| s.distinct_timestamps().len() as u64)
        .sum()
}

/// `newest_first` to a Prometheus that is down for 15 s and comes back:
/// the present goes first; without an out-of-order window Prometheus
/// refuses the backfill, which is dropped as `out_of_order` (counted, and
/// the log names the setting), with it everything arrives.
fn prometheus_backfill(window: Option<&str>) -> (u64, u64, u64, BTreeMap<String, u64>, Agent) {
    let mut prom = match window {
        Some(w) => Prometheus::start_with_out_of_order_window(w),
        None => Prometheus::start(),
    };
    // Requests of a few runs: the backlog takes several, so the present
    // goes before most of it.
    let cfg = yaml(
        &prom.write_url(),
        "backfill: newest_first",
        "127.0.0.1",
        40,
        None,
    );
    let mut agent = Agent::start(&cfg);
    agent.wait_for_count_in_run("Samples appended.", 4, Duration::from_secs(30));
    sleep(Duration::from_secs(2));
    prom.stop();
    agent.wait_for_log("the outage's start", Duration::from_secs(30), |l| {
        l["msg"] == WRITE_FAILED
    });
    sleep(Duration::from_secs(15));
    prom.restart();
    agent.wait_for_log("the return", Duration::from_secs(30), |l| {
        l["msg"] == BACKEND_BACK
    });
    // A backlog of a few requests, each refused (or taken) in about a
    // second.
    sleep(Duration::from_secs(10));
    agent.terminate();
    let accepted = agent.accepted_samples(SyncMode::Interval).samples;
    let (pending, drops) = wal_stats(&agent);
    let delivered = prom_count(&prom);
    (accepted, delivered, pending, drops, agent)
}

#[test]
fn r15_3_prometheus_without_an_out_of_order_window_refuses_the_backfill_counted() {
    let (accepted, delivered, pending, drops, agent) = prometheus_backfill(None);
    let ooo = drops.get("out_of_order").copied().unwrap_or(0);
    eprintln!(
        "Prometheus, no window: accepted {accepted}, delivered {delivered}, out_of_order {ooo}, \
         pending {pending}, drops {drops:?}"
    );
    // About 15 s of 8 samples a second were refused.
    assert!(ooo >= 8 * 10, "{drops:?}\n{}", agent.log_tail());
    assert_eq!(delivered + ooo + pending, accepted, "{}", agent.log_tail());
    let hints = agent.lines_with_msg(sentinel::ship::OUT_OF_ORDER_HINT);
    assert!(!hints.is_empty(), "{}", agent.log_tail());
    assert!(
        sentinel::ship::OUT_OF_ORDER_HINT.contains("storage.tsdb.out_of_order_time_window"),
        "the log names the setting"
    );
    // Logged once per period, not per batch.
    assert!(hints.len() <= 2, "{hints:?}");
}

#[test]
fn r15_4_prometheus_with_an_out_of_order_window_takes_the_backfill() {
    let (accepted, delivered, pending, drops, agent) = prometheus_backfill(Some("1h"));
    eprintln!(
        "Prometheus, window 1h: accepted {accepted}, delivered {delivered}, pending {pending}, \
         drops {drops:?}"
    );
    assert_eq!(drops, BTreeMap::new(), "{}", agent.log_tail());
    assert_eq!(delivered + pending, accepted, "{}", agent.log_tail());
}
