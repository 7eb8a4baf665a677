//! Helpers for the fault-injection suite (`tests/faults.rs`): mock
//! remote-write servers for the answers a real server cannot be made to
//! give (a hang, 429 with `Retry-After`,
//! 413, minutes of 500), a VictoriaMetrics inside a network namespace, the
//! agent's resident memory, and the result table every fault test prints.
//!
//! Every guard removes what it made on `Drop` (mount, process, thread),
//! also when the test panics.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message as _;

use super::http_server::{HttpServer, Reply};

/// One row of the suite's result table, printed with `eprintln!` so the
/// numbers show in the test output (`--nocapture`) and in CI logs.
pub struct Row<'a> {
    pub fault: &'a str,
    pub injected: &'a str,
    pub accepted: u64,
    pub delivered: u64,
    /// `reason=count` pairs, e.g. `size=1200`.
    pub dropped: &'a str,
    pub duplicated: u64,
}

impl Row<'_> {
    pub fn print(&self) {
        eprintln!(
            "FAULT-TABLE | {} | {} | {} | {} | {} | {} |",
            self.fault, self.injected, self.accepted, self.delivered, self.dropped, self.duplicated
        );
    }
}

/// What a mock answers to one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Accept the connection and never answer (until the mock stops).
    Hang,
    /// `status`, with a `Retry-After` header when set.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// 204 and the samples are counted as stored.
    Store,
}

/// What a mock saw, for assertions.
#[derive(Debug, Default)]
pub struct MockLog {
    /// Arrival time, answer status (0 for a hang) and samples per request.
    pub requests: Vec<(Instant, u16, u64)>,
    /// (series labels, timestamp) of every stored sample.
    pub stored: Vec<(String, i64)>,
}

/// The policy: the answer to a request holding `series` series, given the
/// number of requests seen before it.
pub type Policy = dyn Fn(usize, usize) -> Answer + Send + Sync;

/// A loopback remote-write mock with a programmable answer per request
/// (the shared test HTTP server with a remote-write policy).
pub struct MockServer {
    pub url: String,
    pub log: Arc<Mutex<MockLog>>,
    server: HttpServer,
}

impl MockServer {
    pub fn start(policy: Box<Policy>) -> MockServer {
        let log = Arc::new(Mutex::new(MockLog::default()));
        let log2 = log.clone();
        let server = HttpServer::start(move |req| {
            let series = decode(&req.body);
            let samples: u64 = series.iter().map(|(_, ts)| ts.len() as u64).sum();
            let answer = policy(req.index, series.len());
            let status = match &answer {
                Answer::Hang => 0,
                Answer::Status { status, .. } => *status,
                Answer::Store => 204,
            };
            let mut log = log2.lock().unwrap();
            log.requests.push((Instant::now(), status, samples));
            match answer {
                Answer::Hang => Reply::hang(),
                Answer::Status {
                    status,
                    retry_after,
                } => {
                    let mut reply = Reply::new(status).body("mock");
                    if let Some(s) = retry_after {
                        reply = reply.header("retry-after", &s.to_string());
                    }
                    reply
                }
                Answer::Store => {
                    for (labels, ts) in &series {
                        for t in ts {
                            log.stored.push((labels.clone(), *t));
                        }
                    }
                    Reply::new(204)
                }
            }
        });
        MockServer {
            url: server.url("/api/v1/write"),
            log,
            server,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Distinct stored (series, timestamp) pairs and the repeats among them.
    pub fn stored_counts(&self) -> (u64, u64) {
        let log = self.log.lock().unwrap();
        let mut set = std::collections::BTreeSet::new();
        let mut dup = 0;
        for k in &log.stored {
            if !set.insert(k.clone()) {
                dup += 1;
            }
        }
        (set.len() as u64, dup)
    }
}

use crate::util::prompb as proto;

/// (labels as text, timestamps) per series of a snappy remote-write body.
fn decode(body: &[u8]) -> Vec<(String, Vec<i64>)> {
    let Ok(raw) = snap::raw::Decoder::new().decompress_vec(body) else {
        return Vec::new();
    };
    let Ok(req) = proto::WriteRequest::decode(raw.as_slice()) else {
        return Vec::new();
    };
    req.timeseries
        .into_iter()
        .map(|ts| {
            let labels: Vec<String> = ts
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            (
                labels.join(","),
                ts.samples.iter().map(|s| s.timestamp).collect(),
            )
        })
        .collect()
}

/// Resident memory of process `pid` in KiB (`VmRSS`), 0 when it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The pid of the agent's process (the newest `sentinel start` child of
/// this test process whose config is `config`).
pub fn agent_pid(config: &Path) -> Option<u32> {
    let want = config.display().to_string();
    let me = std::process::id().to_string();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect();
        if !args.iter().any(|a| a == &want) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1));
        if ppid == Some(me.as_str()) {
            return Some(pid);
        }
    }
    None
}

/// A VictoriaMetrics started inside a network namespace, listening on
/// `addr` there; killed on drop. The data dir outlives restarts.
pub struct NetnsVictoriaMetrics {
    ns: String,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NetnsVictoriaMetrics {
    pub fn start(ns: &str, addr: SocketAddr) -> NetnsVictoriaMetrics {
        let mut vm = NetnsVictoriaMetrics {
            ns: ns.to_string(),
            addr,
            dir: tempfile::Builder::new()
                .prefix("sentinel-fault-vm-")
                .tempdir()
                .expect("create a temp dir"),
            child: None,
        };
        let log = std::fs::File::create(vm.dir.path().join("server.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "victoria-metrics"])
            .arg(format!(
                "-storageDataPath={}",
                vm.dir.path().join("data").display()
            ))
            .arg(format!("-httpListenAddr={addr}"))
            .arg("-retentionPeriod=100y")
            .arg("-search.latencyOffset=0s")
            .arg("-search.disableCache")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start victoria-metrics in the namespace");
        vm.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while vm.get("/health").map(|(s, _)| s) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "VictoriaMetrics in {ns} not ready on {addr}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        vm
    }

    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// GET `path` from inside the namespace.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let url = format!("http://{}{path}", self.addr);
        super::netns::in_netns(&self.ns, move || {
            super::servers::try_http_get(&url, Duration::from_secs(10))
        })
    }

    /// (distinct (series, timestamp) pairs, repeats) matching `selector`.
    pub fn counts(&self, selector: &str) -> (u64, u64) {
        let _ = self.get("/internal/force_flush");
        let path = format!(
            "/api/v1/export?match[]={}",
            super::servers::url_encode(selector)
        );
        let (_, body) = self.get(&path).expect("export from VictoriaMetrics");
        let mut distinct = 0;
        let mut dup = 0;
        let mut seen = std::collections::BTreeMap::<String, std::collections::BTreeSet<i64>>::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = v["metric"].to_string();
            let set = seen.entry(key).or_default();
            for t in v["timestamps"].as_array().unwrap() {
                if set.insert(t.as_i64().unwrap()) {
                    distinct += 1;
                } else {
                    dup += 1;
                }
            }
        }
        (distinct, dup)
    }
}

impl Drop for NetnsVictoriaMetrics {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `ip netns exec` execs the server, so this pid is the server.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
