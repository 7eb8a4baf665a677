//! Crash loop (issue 14): the agent scrapes a small local endpoint (39
//! series plus the two `scrape_*` samples: 41 samples a run) every 200 ms
//! and ships to a real VictoriaMetrics, while the test `kill -9`s it at
//! random moments and restarts it, many times, with `buffer.sync: always`
//! and with `interval`. At the end every sample the agent's log says was
//! durably accepted (`util::agent::Agent::accepted_samples`: with
//! `always` every "Samples appended." line, with `interval` the appends a
//! later "WAL synced." covers) must be in VictoriaMetrics, as distinct
//! (series, timestamp) pairs; duplicates (a batch resent after a kill) are
//! allowed and counted.
//!
//! A third loop (`crash_loop_concurrency_4_loses_nothing_synced`, 20 kills)
//! runs four requests in flight per backend over 1,500-series runs, whose
//! records go to the WAL's chunk trees.
//!
//! A run's samples all carry its start timestamp, so the check is per run:
//! for each accepted run (its `ts_ms`), VictoriaMetrics must hold that many
//! distinct series at that timestamp.
//!
//! Knobs (the defaults keep each loop under about 90 s):
//! - `SENTINEL_CRASHLOOP_KILLS` (40): kills per mode; hundreds by hand.
//! - `SENTINEL_CRASHLOOP_DELAY_MS` (`200-1200`): the random wait before
//!   each kill, `MIN-MAX` in ms (an operator's loop: `300-3000`).
//! - `SENTINEL_CRASHLOOP_SEED`: the RNG seed (printed at the start), to
//!   replay a failing run.
//! - `SENTINEL_CRASHLOOP_LOG=PATH`: keep the agent's log as `PATH.<sync>`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::util::agent::{Agent, RunEnd, SyncMode};
use crate::util::servers::{now_ms, RemoteWriteServer, VictoriaMetrics};

/// Series the scraped endpoint exposes (plus `scrape_duration_seconds`
/// and `scrape_samples_scraped`: 41 samples a run).
const EXPOSED_SERIES: usize = 39;
/// How long everything accepted may take to arrive after the last restart.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(90);
const TASK: &str = "crashloop";

/// A `/metrics` endpoint on loopback answering every request with
/// `EXPOSED_SERIES` gauges (a counter in the values, so runs differ);
/// stopped on drop.
struct Endpoint {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Endpoint {
    fn start() -> Endpoint {
        Endpoint::with_series(EXPOSED_SERIES, 0)
    }

    /// `series` gauges, each with an `id` label of `id_len` hex digits
    /// (which snappy cannot shrink much: large records), in labels of
    /// 4,000 digits (`id`, `id1`, ...) when longer.
    fn with_series(series: usize, id_len: usize) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the scrape endpoint");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let hits = AtomicU64::new(0);
            while !stop2.load(Ordering::Relaxed) {
                let (mut conn, _) = match listener.accept() {
                    Ok(c) => c,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(_) => continue,
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                // Read the request head (ignored: every path is /metrics).
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let n = hits.fetch_add(1, Ordering::Relaxed);
                let mut body = String::new();
                for i in 0..series {
                    let mut id = String::new();
                    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    while id.len() < id_len {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        id.push_str(&format!("{x:016x}"));
                    }
                    id.truncate(id_len);
                    // A label value holds at most 4 KiB (the parser's
                    // bound): a longer id is spread over id, id1, id2...
                    let mut labels = format!("i=\"{i}\"");
                    for (k, part) in id.as_bytes().chunks(4000).enumerate() {
                        let name = if k == 0 {
                            "id".to_string()
                        } else {
                            format!("id{k}")
                        };
                        let part = std::str::from_utf8(part).unwrap();
                        labels.push_str(&format!(",{name}=\"{part}\""));
                    }
                    body.push_str(&format!("crashloop_gauge{{{labels}}} {}\n", n + i as u64));
                }
                let _ = conn.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        Endpoint {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a crash loop runs: the default (one request in flight, small
/// records), or several requests in flight over large records.
#[derive(Debug, Clone, Copy)]
struct Case {
    /// The backend's `concurrency`.
    concurrency: usize,
    /// Series of the scraped endpoint, and the length of their `id` label.
    series: usize,
    id_len: usize,
    /// Kills when `SENTINEL_CRASHLOOP_KILLS` is not set.
    kills: u64,
}

const DEFAULT_CASE: Case = Case {
    concurrency: 1,
    series: EXPOSED_SERIES,
    id_len: 0,
    kills: 40,
};

fn config(vm: &VictoriaMetrics, endpoint: &Endpoint, sync: SyncMode, case: Case) -> String {
    format!(
        "sentinel:\n  name: \"crashloop\"\n  region: \"lab\"\n\
         sender:\n  mode: \"direct\"\n  flush_interval: 200ms\n  batch_size: 500\n  timeout: 2s\n  \
         retry:\n    min_backoff: 100ms\n    max_backoff: 1s\n  \
         direct:\n    victoria_metrics:\n      enabled: true\n      url: \"{url}\"\n      \
         concurrency: {concurrency}\n\
         buffer:\n  sync: {sync}\n  sync_interval: 500ms\n\
         http:\n  enabled: false\n\
         logging:\n  level: debug\n  format: json\n  output: stdout\n\
         tasks:\n  - id: \"{TASK}\"\n    device_id: \"lo\"\n    plugin: \"scrape\"\n    interval: 200ms\n    \
         config:\n      url: \"http://127.0.0.1:{port}/metrics\"\n      timeout: 150ms\n",
        url = vm.write_url(),
        sync = sync.as_yaml(),
        port = endpoint.port,
        concurrency = case.concurrency,
    )
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: expected a whole number")),
        Err(_) => default,
    }
}

/// `SENTINEL_CRASHLOOP_DELAY_MS` as (min, max) milliseconds.
fn delay_range() -> (u64, u64) {
    let Ok(v) = std::env::var("SENTINEL_CRASHLOOP_DELAY_MS") else {
        return (200, 1200);
    };
    let parsed = v.split_once('-').and_then(|(a, b)| {
        let (a, b) = (a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?);
        (a <= b).then_some((a, b))
    });
    parsed.unwrap_or_else(|| {
        panic!("SENTINEL_CRASHLOOP_DELAY_MS={v:?}: expected MIN-MAX in ms, like 300-3000")
    })
}

/// One accepted append of the task: its run's timestamp and samples, and
/// where it is in the log (for the failure message).
#[derive(Debug, Clone)]
struct AcceptedAppend {
    run: usize,
    seq: u64,
    ts_ms: i64,
    samples: u64,
    /// ms between the run's timestamp and the kill that ended its agent
    /// run (`None` if the run was not killed).
    before_kill_ms: Option<i64>,
}

/// The task's appends that the durability contract says must arrive: the
/// same rule as `Agent::accepted_samples`, per append.
fn accepted_appends(agent: &Agent, sync: SyncMode, kills_at: &[i64]) -> Vec<AcceptedAppend> {
    let mut out = Vec::new();
    for (i, run) in agent.runs().iter().enumerate() {
        let synced = run
            .with_msg("WAL synced.")
            .filter_map(|l| l["seq"].as_u64())
            .max();
        let must_be_synced =
            sync == SyncMode::Interval && matches!(run.end, RunEnd::Killed | RunEnd::Exited);
        for l in run.with_msg("Samples appended.") {
            let seq = l["seq"].as_u64().expect("\"Samples appended.\" has a seq");
            if must_be_synced && synced.is_none_or(|s| seq > s) {
                continue;
            }
            if l["task_id"] != TASK {
                continue;
            }
            let ts_ms = l["ts_ms"]
                .as_i64()
                .expect("\"Samples appended.\" has ts_ms");
            out.push(AcceptedAppend {
                run: i + 1,
                seq,
                ts_ms,
                samples: l["samples"]
                    .as_u64()
                    .expect("\"Samples appended.\" has samples"),
                before_kill_ms: kills_at.get(i).map(|k| k - ts_ms),
            });
        }
    }
    out
}

/// For each timestamp of the task: distinct series stored at it, and
/// samples stored more than once.
fn stored(vm: &VictoriaMetrics) -> (BTreeMap<i64, u64>, u64) {
    let mut at: BTreeMap<i64, u64> = BTreeMap::new();
    let mut dup = 0;
    for s in vm.raw_samples(&format!("{{task_id=\"{TASK}\"}}")) {
        dup += s.duplicates() as u64;
        for ts in s.distinct_timestamps() {
            *at.entry(ts).or_default() += 1;
        }
    }
    (at, dup)
}

fn crash_loop(sync: SyncMode, case: Case) {
    let kills = env_u64("SENTINEL_CRASHLOOP_KILLS", case.kills);
    let (min_delay, max_delay) = delay_range();
    let mut seed = env_u64("SENTINEL_CRASHLOOP_SEED", now_ms() as u64) | 1;
    eprintln!(
        "crash loop ({}, {case:?}): {kills} kills, {min_delay}-{max_delay} ms apart, \
         SENTINEL_CRASHLOOP_SEED={seed}",
        sync.as_yaml()
    );
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let vm = VictoriaMetrics::start();
    let endpoint = Endpoint::with_series(case.series, case.id_len);
    let mut agent = Agent::start(&config(&vm, &endpoint, sync, case));
    agent.wait_for_count_in_run("Samples appended.", 1, Duration::from_secs(30));
    let started = Instant::now();
    // Wall-clock time of each run's kill, by run index.
    let mut kills_at = Vec::new();
    for _ in 0..kills {
        sleep(Duration::from_millis(
            min_delay + rand() % (max_delay - min_delay + 1),
        ));
        if !agent.is_running() {
            panic!(
                "the agent exited on its own during the crash loop\n{}",
                agent.log_tail()
            );
        }
        kills_at.push(now_ms());
        agent.kill9();
        agent.restart();
    }
    let loop_time = started.elapsed();
    // Let the last run append and deliver the backlog.
    agent.wait_for_count_in_run("Samples appended.", 3, Duration::from_secs(30));
    let expected = accepted_appends(&agent, sync, &kills_at);
    let complete = |at: &BTreeMap<i64, u64>| {
        let mut need: BTreeMap<i64, u64> = BTreeMap::new();
        for a in &expected {
            *need.entry(a.ts_ms).or_default() += a.samples;
        }
        need.into_iter()
            .all(|(ts, n)| at.get(&ts).copied().unwrap_or(0) >= n)
    };
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while !complete(&stored(&vm).0) && Instant::now() < deadline {
        sleep(Duration::from_millis(500));
    }
    agent.terminate();
    // The appends of the last run after the drain wait count too (it
    // ended with SIGTERM and a final flush).
    let expected = accepted_appends(&agent, sync, &kills_at);
    let accepted = agent.accepted_samples(sync);
    sleep(Duration::from_secs(2));
    let (at, duplicates) = stored(&vm);
    let mut need: BTreeMap<i64, (u64, Vec<&AcceptedAppend>)> = BTreeMap::new();
    for a in &expected {
        let e = need.entry(a.ts_ms).or_default();
        e.0 += a.samples;
        e.1.push(a);
    }
    let expected_samples: u64 = expected.iter().map(|a| a.samples).sum();
    let mut lost = 0u64;
    let mut missing = Vec::new();
    for (ts, (n, appends)) in &need {
        let have = at.get(ts).copied().unwrap_or(0);
        if have < *n {
            lost += n - have;
            let described: Vec<String> = appends
                .iter()
                .map(|a| {
                    let kill = a
                        .before_kill_ms
                        .map_or("not killed".into(), |ms| format!("{ms} ms before its kill"));
                    format!(
                        "agent run {} seq {} ({} samples, {kill})",
                        a.run, a.seq, a.samples
                    )
                })
                .collect();
            missing.push(format!(
                "ts {ts}: {have} of {n} samples stored; {}",
                described.join(", ")
            ));
        }
    }
    let delivered: u64 = at.values().sum();
    // Resends by the agent's own account: samples it logged as delivered
    // beyond what VictoriaMetrics holds once (every series, the agent's
    // own metrics too). A lower bound: a kill between the answer and the
    // log line hides a delivery.
    let sent: u64 = agent
        .lines_with_msg("Batch delivered.")
        .iter()
        .filter_map(|l| l["samples"].as_u64())
        .sum();
    let all = vm.raw_samples(r#"{__name__=~".+"}"#);
    let distinct_all: u64 = all
        .iter()
        .map(|s| s.distinct_timestamps().len() as u64)
        .sum();
    let resent = sent.saturating_sub(distinct_all);
    if let Ok(to) = std::env::var("SENTINEL_CRASHLOOP_LOG") {
        let to = format!("{to}.{}", sync.as_yaml());
        std::fs::copy(agent.state_dir().join("agent.log"), &to).unwrap_or_else(|e| {
            panic!("SENTINEL_CRASHLOOP_LOG: copying the agent log to {to}: {e}")
        });
        eprintln!("agent log copied to {to}");
    }
    eprintln!(
        "CRASHLOOP | sync {} | {kills} kills in {:.0?} | accepted {} samples in {} appends \
         ({} appended) | task runs accepted {} ({} samples) | stored {delivered} distinct | \
         lost {lost} | duplicates in VictoriaMetrics {duplicates} | resent by the agent's log \
         {resent} ({sent} sent, {distinct_all} stored) |",
        sync.as_yaml(),
        loop_time,
        accepted.samples,
        accepted.appends,
        accepted.appended,
        need.len(),
        expected_samples,
    );
    assert!(
        missing.is_empty(),
        "sync {}: {lost} accepted samples of {} runs are not in VictoriaMetrics \
         (SENTINEL_CRASHLOOP_SEED replays the kill times):\n{}\n{}",
        sync.as_yaml(),
        missing.len(),
        missing[..missing.len().min(20)].join("\n"),
        agent.log_tail()
    );
    assert!(
        expected.len() as u64 > kills / 4,
        "the agent accepted only {} runs in {kills} kills; the loop tested little\n{}",
        expected.len(),
        agent.log_tail()
    );
}

/// `buffer.sync: always`: every "Samples appended." (logged after the
/// fsync) survives any `kill -9`.
#[test]
fn crash_loop_sync_always_loses_nothing_accepted() {
    crash_loop(SyncMode::Always, DEFAULT_CASE);
}

/// `buffer.sync: interval`: every append a "WAL synced." covers survives
/// any `kill -9`.
#[test]
fn crash_loop_sync_interval_loses_nothing_synced() {
    crash_loop(SyncMode::Interval, DEFAULT_CASE);
}

/// Four requests in flight (acks out of order, a window resent after a
/// kill) over records large enough for the WAL's chunk trees (1,500
/// series with 16-digit ids, about 40 KB a run; `wal::records`): every
/// synced append survives any `kill -9`.
#[test]
fn crash_loop_concurrency_4_loses_nothing_synced() {
    crash_loop(
        SyncMode::Interval,
        Case {
            concurrency: 4,
            series: 1500,
            id_len: 16,
            kills: 20,
        },
    );
}

/// The sentinel that `strace` runs: killed (and strace reaped) on drop.
struct Traced {
    strace: std::process::Child,
}

impl Traced {
    /// The traced agent's pid: strace's child.
    fn agent_pid(&self) -> Option<i32> {
        let pid = self.strace.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if let Some(pid) = self.agent_pid() {
            // SAFETY: kill(2) on the child of our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.strace.try_wait() {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        let _ = self.strace.kill();
        let _ = self.strace.wait();
    }
}

/// Runs the agent (`sync: always`, no backend, a scrape of `endpoint`
/// every `interval`) under strace until it has logged `appends` accepted
/// appends; returns the trace (fsyncs, opens and writes, with paths) and
/// the WAL directory.
fn trace_agent(endpoint: &Endpoint, interval: &str, appends: usize) -> (String, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("sentinel-e2e-strace-")
        .tempdir()
        .expect("create a temp dir");
    let config_path = dir.path().join("config.yaml");
    std::fs::write(
        &config_path,
        format!(
            "sentinel:\n  name: \"strace\"\n  region: \"lab\"\n\
             sender:\n  mode: \"direct\"\n  direct:\n    victoria_metrics:\n      enabled: false\n      \
             url: \"http://127.0.0.1:9/api/v1/write\"\n\
             buffer:\n  sync: always\n\
             http:\n  enabled: false\n\
             logging:\n  level: debug\n  format: json\n  output: stdout\n\
             tasks:\n  - id: \"{TASK}\"\n    device_id: \"lo\"\n    plugin: \"scrape\"\n    interval: {interval}\n    \
             config:\n      url: \"http://127.0.0.1:{port}/metrics\"\n",
            port = endpoint.port
        ),
    )
    .unwrap();
    let log_path = dir.path().join("agent.log");
    let trace_path = dir.path().join("trace");
    let log = std::fs::File::create(&log_path).unwrap();
    let strace = std::process::Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-y",
            "-s",
            "200",
            "-e",
            "trace=fsync,fdatasync,write,openat",
            "-o",
        ])
        .arg(&trace_path)
        .arg(env!("CARGO_BIN_EXE_sentinel"))
        .arg("start")
        .arg("-c")
        .arg(&config_path)
        .env("STATE_DIRECTORY", dir.path())
        .env("RUST_LOG", "debug")
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run strace ({e}): install it: apt-get install strace"));
    let traced = Traced { strace };
    let appended = || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .matches("\"Samples appended.\"")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while appended() < appends {
        assert!(
            Instant::now() < deadline,
            "the traced agent appended {} runs in 90 s\n{}",
            appended(),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        sleep(Duration::from_millis(100));
    }
    drop(traced);
    let trace = std::fs::read_to_string(&trace_path).expect("read the strace output");
    // Kept with the temp dir's name, so the trace outlives it.
    (trace, dir.keep().join("wal"))
}

/// The path strace shows (`-y`) for the first fd after `call(`.
fn fd_path<'a>(line: &'a str, call: &str) -> Option<&'a str> {
    let rest = &line[line.find(call)? + call.len()..];
    let start = rest.find('<')? + 1;
    let end = start + rest[start..].find('>')?;
    Some(&rest[start..end])
}

/// `buffer.sync: always` must survive a power cut, not only a `kill -9`
/// (which keeps whatever reached the page cache): between two "Samples
/// appended." lines the agent fsyncs or fdatasyncs the WAL's log file.
/// sled 0.34's own flush ends with `sync_file_range`, which writes the data
/// but not the file's new size nor the drive's cache. Traced with strace.
#[test]
fn sync_always_fsyncs_the_wal_file_before_each_accepted_append() {
    let endpoint = Endpoint::start();
    let (trace, wal) = trace_agent(&endpoint, "200ms", 8);
    let _cleanup = RemoveDir(wal.parent().unwrap().to_path_buf());
    let wal_file = wal.join("db").display().to_string();
    let mut syncs_since_append: Option<u64> = None;
    let (mut checked, mut unsynced) = (0, 0);
    for line in trace.lines() {
        let synced = ["fsync(", "fdatasync("].iter().any(|c| {
            line.contains(&format!(" {c}")) && fd_path(line, c) == Some(wal_file.as_str())
        });
        if synced {
            if let Some(n) = syncs_since_append.as_mut() {
                *n += 1;
            }
        } else if line.contains(" write(") && line.contains("Samples appended.") {
            if let Some(n) = syncs_since_append {
                checked += 1;
                if n == 0 {
                    unsynced += 1;
                }
            }
            syncs_since_append = Some(0);
        }
    }
    assert!(
        checked >= 5,
        "only {checked} appends found in the strace output (looking for writes of \
         \"Samples appended.\" and syncs of {wal_file})"
    );
    assert_eq!(
        unsynced, 0,
        "{unsynced} of {checked} appends were logged as accepted with no fsync/fdatasync of \
         {wal_file} since the previous one: durable against kill -9 only, not a power cut"
    );
}

/// Records too large for sled's log (a node above about 128 KiB: the
/// WAL cuts runs into records under that, but one sample cannot be cut;
/// here a series with a 200,000-digit id in 50 labels) go to files of their own under
/// `blobs/`, which sled never fsyncs: every blob file created before an
/// append is logged as accepted is fsynced before that line.
#[test]
fn sync_always_fsyncs_large_records_before_accepting_them() {
    let endpoint = Endpoint::with_series(1, 200_000);
    let (trace, wal) = trace_agent(&endpoint, "1s", 4);
    let _cleanup = RemoveDir(wal.parent().unwrap().to_path_buf());
    let blobs = format!("{}/", wal.join("blobs").display());
    let mut pending: BTreeSet<String> = BTreeSet::new();
    let (mut created, mut unsynced, mut appends) = (0, 0, 0);
    for line in trace.lines() {
        if line.contains(" openat(") && line.contains("O_CREAT") {
            if let Some(path) = line.rsplit_once(" = ").and_then(|(_, r)| fd_path(r, "")) {
                if path.starts_with(&blobs) {
                    created += 1;
                    pending.insert(path.to_string());
                }
            }
        } else if line.contains(" fsync(") {
            if let Some(path) = fd_path(line, "fsync(") {
                pending.remove(path);
            }
        } else if line.contains(" write(") && line.contains("Samples appended.") {
            appends += 1;
            unsynced += pending.len();
            pending.clear();
        }
    }
    assert!(
        created > 0 && appends >= 3,
        "sled wrote {created} blob files in {appends} appends; the test needs larger records"
    );
    assert_eq!(
        unsynced, 0,
        "{unsynced} of {created} blob files under {blobs} were not fsynced before the append \
         that created them was logged as accepted"
    );
}

/// Removes a directory on drop (the traced agent's state).
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
