//! What the probes say about their targets, where an operator looks:
//!
//! - the http probe against servers that answer gzip: real VictoriaMetrics
//!   and Prometheus (GET and HEAD), and a small gzip server on loopback for
//!   the answers they never give (an empty gzip body, 204 with gzip, a body
//!   past the 1 MiB the probe keeps, a broken gzip body);
//! - why a target is down (tcp, http, dns, ping of a name that does not
//!   resolve): in the log (thinned like a failing probe, recovery once), in
//!   `/api/status` (`reason`) and on the status page;
//! - exec and scrape tasks that work show as `up` on the status page;
//! - `/metrics` has one `# HELP`/`# TYPE` per family, as a real Prometheus
//!   scraping the agent reads them (`/api/v1/metadata`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};

use sentinel::probe::http::{HttpClientConfig, HttpMethod, HttpProbeConfig};
use sentinel::probe::{run_once, PluginConfig, RunOutput};
use sentinel::sample::Labels;

use crate::util::agent::Agent;
use crate::util::servers::{free_port, http_get, try_http_get, Prometheus, VictoriaMetrics};

/// How long the agent tests wait for what they expect.
const WAIT: Duration = Duration::from_secs(30);

fn http(url: String, method: HttpMethod) -> HttpProbeConfig {
    HttpProbeConfig {
        url,
        method,
        timeout: Duration::from_secs(5),
        accepted_status: vec![(200, 399)],
        body_regex: None,
        client: HttpClientConfig::default(),
    }
}

fn run(cfg: HttpProbeConfig) -> RunOutput {
    let base = Labels::new().with("task_id", "gzip-test");
    run_once(&PluginConfig::Http(cfg.clone()), &base)
        .unwrap_or_else(|e| panic!("{} {}: {e}", cfg.url, method_name(cfg.method)))
}

fn method_name(m: HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Head => "HEAD",
    }
}

fn http_up(out: &RunOutput) -> f64 {
    out.samples
        .iter()
        .find(|s| s.name == "http_up")
        .map(|s| s.value)
        .expect("an http_up sample")
}

/// Asserts that the server really answers `url` with gzip, so that the
/// probe's check below is about gzip: a plain HTTP/1.1 request on a
/// socket, its response head read.
fn assert_answers_gzip(url: &str, method: &str) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(authority).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(
        head.contains("content-encoding: gzip"),
        "{method} {url} does not answer gzip, the test proves nothing:\n{head}"
    );
}

/// Issue 12 item 1: every server that answers gzip was reported down
/// ("gzip decompression failed: unexpected end of file"), GET and HEAD.
#[test]
fn http_probe_is_up_against_victoria_metrics_and_prometheus_that_answer_gzip() {
    let vm = VictoriaMetrics::start();
    let prom = Prometheus::start();
    let mut checks = Vec::new();
    for path in ["/health", "/api/v1/status/buildinfo", "/metrics"] {
        for method in [HttpMethod::Get, HttpMethod::Head] {
            checks.push((format!("{}{path}", vm.base_url()), method));
        }
    }
    // Prometheus answers HEAD with 405 on these: GET only.
    for path in ["/api/v1/status/buildinfo", "/metrics"] {
        checks.push((format!("{}{path}", prom.base_url()), HttpMethod::Get));
    }
    for (url, method) in checks {
        assert_answers_gzip(&url, method_name(method));
        let out = run(http(url.clone(), method));
        assert_eq!(
            (http_up(&out), out.down.as_deref()),
            (1.0, None),
            "{} {url}: {:?}",
            method_name(method),
            out
        );
    }
    // `sentinel trigger http` (the report) says up and exits 0.
    for head in [false, true] {
        let url = format!("{}/health", vm.base_url());
        let mut args = vec!["trigger", "http", url.as_str()];
        if head {
            args.insert(2, "--head");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_sentinel"))
            .args(&args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("200, up"),
            "sentinel {args:?}: {}\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The body is decoded, not just skipped: body_regex sees VM's "OK"
    // and Prometheus' build info.
    let mut cfg = http(format!("{}/health", vm.base_url()), HttpMethod::Get);
    cfg.body_regex = Some("^OK$".into());
    let out = run(cfg);
    assert_eq!(http_up(&out), 1.0, "{out:?}");
    let mut cfg = http(
        format!("{}/api/v1/status/buildinfo", prom.base_url()),
        HttpMethod::Get,
    );
    cfg.body_regex = Some("\"goVersion\"".into());
    let out = run(cfg);
    assert_eq!(http_up(&out), 1.0, "{out:?}");
}

/// A loopback HTTP server whose answers are all `Content-Encoding: gzip`,
/// for what VictoriaMetrics and Prometheus never send. Stops on drop.
struct GzipServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// `data` compressed by the `gzip` command.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip runs (apt-get install gzip)");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    writer.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success());
    out
}

/// A body bigger than what the probe keeps (1 MiB), gzip-compressed.
const BIG_BODY_BYTES: usize = 3 << 20;

impl GzipServer {
    fn start() -> GzipServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let big = gzip(&b"sentinel gzip test line\n".repeat(BIG_BODY_BYTES / 24));
        let page = gzip(b"status: green\n");
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => answer(stream, &page, &big),
                    Err(_) => sleep(Duration::from_millis(10)),
                }
            }
        });
        GzipServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for GzipServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(mut stream: TcpStream, page: &[u8], big: &[u8]) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut first = head.split_whitespace();
    let method = first.next().unwrap_or("");
    let path = first.next().unwrap_or("");
    let (status, body): (&str, &[u8]) = match path {
        "/empty" => ("200 OK", b""),
        "/no-content" => ("204 No Content", b""),
        "/big" => ("200 OK", big),
        // A gzip header, then bytes that are no deflate stream.
        "/broken" => (
            "200 OK",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03this is not deflate data at all",
        ),
        _ => ("200 OK", page),
    };
    let length = if status.starts_with("204") {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n{length}Connection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    if method != "HEAD" {
        let _ = stream.write_all(body);
    }
}

/// HEAD, bodies without content, a body read only in part: up. A broken
/// gzip body: down, and the reason says so.
#[test]
fn http_probe_with_gzip_heads_empty_bodies_and_big_ones() {
    let server = GzipServer::start();
    let cases = [
        ("/page", HttpMethod::Head),
        ("/empty", HttpMethod::Head),
        ("/page", HttpMethod::Get),
        ("/empty", HttpMethod::Get),
        ("/no-content", HttpMethod::Get),
        ("/big", HttpMethod::Get),
        ("/big", HttpMethod::Head),
    ];
    for (path, method) in cases {
        let out = run(http(server.url(path), method));
        assert_eq!(
            (http_up(&out), out.down.as_deref()),
            (1.0, None),
            "{} {path}: {out:?}",
            method_name(method)
        );
    }
    // The first MiB of the big body is decoded and searched.
    let mut cfg = http(server.url("/big"), HttpMethod::Get);
    cfg.body_regex = Some("(?m)^sentinel gzip test line$".into());
    let out = run(cfg);
    assert_eq!(http_up(&out), 1.0, "{out:?}");

    let out = run(http(server.url("/broken"), HttpMethod::Get));
    assert_eq!(http_up(&out), 0.0, "{out:?}");
    let why = out.down.expect("a reason for http_up 0");
    assert!(
        why.contains("status 200") && why.contains("gzip"),
        "the reason names the status and the gzip failure: {why}"
    );
}

/// Polls `f` until it returns `Some`, or panics with `what`.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(250));
    }
}

fn agent_config(listen: &str, tasks: &str) -> String {
    format!(
        "sentinel:\n  name: health-test\n\
         sender:\n  mode: direct\n  direct: {{}}\n\
         buffer:\n  sync: interval\n\
         http:\n  listen: \"{listen}\"\n\
         tasks:\n{tasks}"
    )
}

/// A task of `plugin` with `config`, every second.
fn task(id: &str, plugin: &str, config: &str) -> String {
    format!(
        "  - id: {id}\n    device_id: dev-{id}\n    plugin: {plugin}\n    interval: 1s\n    \
         config: {config}\n"
    )
}

/// The tasks of `/api/status`, by id.
fn tasks(listen: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let (_, body) = try_http_get(
        &format!("http://{listen}/api/status"),
        Duration::from_secs(2),
    )?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some(
        v["tasks"]
            .as_array()?
            .iter()
            .map(|t| (t["task_id"].as_str().unwrap_or("").to_string(), t.clone()))
            .collect(),
    )
}

/// Issue 17 item 9: a run that completes but reports its target down says
/// why, in the log (once, not per run; the recovery once), in
/// `/api/status` and on the status page.
#[test]
fn down_targets_say_why_in_the_log_the_api_and_the_page() {
    let vm = VictoriaMetrics::start();
    let listen = format!("127.0.0.1:{}", free_port());
    let closed = free_port();
    // A UDP port nothing answers on: the DNS query gets no answer.
    let silent_dns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns_port = silent_dns.local_addr().unwrap().port();
    let tasks_yaml = [
        task(
            "tcp-closed",
            "tcp",
            &format!("{{host: 127.0.0.1, port: {closed}, timeout: 500ms}}"),
        ),
        task(
            "http-404",
            "http",
            &format!("{{url: '{}/no-such-page', timeout: 900ms}}", vm.base_url()),
        ),
        task(
            "dns-silent",
            "dns",
            &format!(
                "{{server: '127.0.0.1:{dns_port}', name: example.org, type: A, timeout: 300ms}}"
            ),
        ),
        task(
            "ping-unresolved",
            "ping",
            "{host: no-such-device.invalid, count: 1, timeout: 500ms}",
        ),
    ]
    .concat();
    let mut agent = Agent::start(&agent_config(&listen, &tasks_yaml));
    let expected = [
        ("tcp-closed", "refused"),
        ("http-404", "status 40"),
        ("dns-silent", "no answer"),
        ("ping-unresolved", "no-such-device.invalid"),
    ];
    let status = wait_for("a down reason for every task in /api/status", || {
        let t = tasks(&listen)?;
        expected
            .iter()
            .all(|(id, _)| t[*id]["reason"].is_string())
            .then_some(t)
    });
    for (id, want) in expected {
        let t = &status[id];
        assert_eq!(t["state"], "down", "{id}: {t}");
        assert!(t["error"].is_null(), "{id}: {t}");
        let reason = t["reason"].as_str().unwrap();
        assert!(
            reason.contains(want),
            "{id}: reason {reason:?} lacks {want:?}"
        );
    }
    let (_, page) = http_get(&format!("http://{listen}/"));
    for (id, want) in expected {
        let at = page
            .find(&format!("data-task=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} is on the page"));
        let card = &page[at..at + page[at..].find("</div>").unwrap()];
        assert!(
            card.contains("down: ") && card.contains(want),
            "{id}: the page shows why it is down: {card}"
        );
    }
    // Several runs later: one warning per task, not one per run.
    sleep(Duration::from_secs(4));
    for (id, want) in expected {
        let warnings: Vec<_> = agent
            .lines_with_msg("Target down.")
            .into_iter()
            .filter(|l| l["task_id"] == id && l["level"] == "warn")
            .collect();
        assert_eq!(warnings.len(), 1, "{id}: {warnings:?}");
        let reason = warnings[0]["reason"].as_str().unwrap_or("");
        assert!(reason.contains(want), "{id}: {reason:?}");
        let runs = agent
            .lines_with_msg("Target down.")
            .into_iter()
            .filter(|l| l["task_id"] == id)
            .count();
        assert!(runs >= 3, "{id}: each run logs at debug level: {runs}");
    }
    // The port opens: the recovery is logged once, the reason goes.
    let listener = TcpListener::bind(("127.0.0.1", closed)).unwrap();
    agent.wait_for_log("the tcp recovery", WAIT, |l| {
        l["msg"] == "Target answers again." && l["task_id"] == "tcp-closed"
    });
    wait_for("tcp-closed up without a reason", || {
        let t = tasks(&listen)?;
        (t["tcp-closed"]["state"] == "up" && t["tcp-closed"]["reason"].is_null()).then_some(())
    });
    sleep(Duration::from_secs(2));
    agent.terminate();
    let recoveries = agent
        .lines_with_msg("Target answers again.")
        .into_iter()
        .filter(|l| l["task_id"] == "tcp-closed")
        .count();
    assert_eq!(recoveries, 1);
    drop(listener);
}

/// Issue 12 item 4: exec and scrape tasks that work are `up` (not grey
/// "unknown" with red ticks), scrape with its duration as latency; dns
/// and tcp likewise.
#[test]
fn working_exec_scrape_and_tcp_tasks_are_up_on_the_status_page() {
    let vm = VictoriaMetrics::start();
    let listen = format!("127.0.0.1:{}", free_port());
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let tasks_yaml = [
        task(
            "exec-ok",
            "exec",
            "{command: ['/bin/sh', '-c', 'echo modem_signal_dbm -71']}",
        ),
        task(
            "scrape-vm",
            "scrape",
            &format!("{{url: '{}/metrics', timeout: 900ms}}", vm.base_url()),
        ),
        task(
            "tcp-open",
            "tcp",
            &format!(
                "{{host: 127.0.0.1, port: {}, timeout: 500ms}}",
                open.local_addr().unwrap().port()
            ),
        ),
    ]
    .concat();
    let agent = Agent::start(&agent_config(&listen, &tasks_yaml));
    // Runs and answered runs over the task's history.
    let counts = |t: &serde_json::Value, key: &str| -> u64 {
        t["history"]
            .as_array()
            .map_or(0, |h| h.iter().map(|p| p[key].as_u64().unwrap_or(0)).sum())
    };
    let mut last = None;
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(t) = tasks(&listen) {
            if ["exec-ok", "scrape-vm", "tcp-open"]
                .iter()
                .all(|id| counts(&t[*id], "runs") >= 3)
            {
                break t;
            }
            last = Some(t);
        }
        assert!(
            Instant::now() < deadline,
            "three runs of every task: {last:?}\n{}",
            agent.log_tail()
        );
        sleep(Duration::from_millis(250));
    };
    for id in ["exec-ok", "scrape-vm", "tcp-open"] {
        let t = &status[id];
        assert_eq!(t["state"], "up", "{id}: {t}");
        assert_eq!(
            counts(t, "up"),
            counts(t, "runs"),
            "{id}: every run counts as answered: {t}"
        );
    }
    let scrape_ms = status["scrape-vm"]["last_rtt_ms"].as_f64();
    assert!(
        scrape_ms.is_some_and(|ms| ms > 0.0 && ms < 900.0),
        "the scrape's duration is its latency, in ms: {scrape_ms:?}"
    );
    let (_, page) = http_get(&format!("http://{listen}/"));
    for id in ["exec-ok", "scrape-vm", "tcp-open"] {
        assert!(
            page.contains(&format!("data-task=\"{id}\" data-state=\"up\"")),
            "{id} is up on the page"
        );
    }
}

/// The family of an exposition line (`# TYPE name kind` or a sample).
fn family_of(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix("# ") {
        return rest.split_whitespace().nth(1);
    }
    let name = line.split(['{', ' ']).next()?;
    Some(
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name),
    )
}

/// Issue 12 item 5: every family on `/metrics` has one `# HELP` (where
/// known) and one `# TYPE`, its series together; ping's percentiles have
/// a name of their own; counters exist from the start at 0. A real
/// Prometheus scraping the agent reads the same types and help.
#[test]
fn metrics_have_help_and_type_as_prometheus_reads_them() {
    let listen = format!("127.0.0.1:{}", free_port());
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let tasks_yaml = [
        task(
            "ping-hist",
            "ping",
            "{host: 127.0.0.1, count: 25, interval: 10ms, timeout: 500ms, histogram: true}",
        ),
        task(
            "tcp-open",
            "tcp",
            &format!(
                "{{host: 127.0.0.1, port: {}, timeout: 500ms}}",
                open.local_addr().unwrap().port()
            ),
        ),
        task(
            "exec-ok",
            "exec",
            "{command: ['/bin/sh', '-c', 'echo modem_signal_dbm -71']}",
        ),
    ]
    .concat();
    let _agent = Agent::start(&agent_config(&listen, &tasks_yaml));
    let body = wait_for("every task's series on /metrics", || {
        let (_, body) = try_http_get(&format!("http://{listen}/metrics"), Duration::from_secs(2))?;
        (body.contains("ping_rtt_quantile_ms{")
            && body.contains("\ntcp_up{")
            && body.contains("\nmodem_signal_dbm{"))
        .then_some(body)
    });
    let lines: Vec<&str> = body.lines().collect();
    // One TYPE per family, before its series, which come together.
    let mut typed = std::collections::BTreeMap::new();
    let mut done = std::collections::BTreeSet::new();
    let mut current = "";
    for line in &lines {
        let fam = family_of(line).unwrap();
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let kind = rest.split_whitespace().nth(1).unwrap();
            assert!(
                typed.insert(fam.to_string(), kind.to_string()).is_none(),
                "a second TYPE line for {fam}"
            );
        } else if !line.starts_with('#') {
            assert!(typed.contains_key(fam), "{fam} has no TYPE line: {line}");
        }
        if fam != current {
            assert!(done.insert(fam.to_string()), "{fam}'s lines are split up");
            current = fam;
        }
    }
    for (fam, kind) in [
        ("tcp_up", "gauge"),
        ("tcp_connect_ms", "gauge"),
        ("ping_rtt_ms", "gauge"),
        ("ping_rtt_quantile_ms", "gauge"),
        ("ping_rtt_seconds", "histogram"),
        ("modem_signal_dbm", "untyped"),
        ("sentinel_wall_clock_jumps_total", "counter"),
    ] {
        assert_eq!(typed.get(fam).map(String::as_str), Some(kind), "{fam}");
    }
    assert!(body.contains("# HELP tcp_up "), "{body}");
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with("ping_rtt_ms{"))
            .all(|l| !l.contains("quantile=")),
        "ping_rtt_ms is the mean alone"
    );
    assert!(
        body.contains("sentinel_wall_clock_jumps_total{direction=\"forward\"} 0\n"),
        "the clock-jump counter exists from the start"
    );
    assert!(
        body.contains("# TYPE sentinel_samples_accepted_total counter\n"),
        "{body}"
    );
    assert!(
        body.contains("\nsentinel_wal_reopens_total 0\n"),
        "the WAL reopen counter exists from the start: {body}"
    );

    // A real Prometheus scrapes it and keeps the declared types and help.
    let prom = Prometheus::start_scraping(&listen);
    let meta = wait_for("Prometheus' metadata of the agent's series", || {
        let (status, body) = try_http_get(
            &format!("{}/api/v1/metadata", prom.base_url()),
            Duration::from_secs(2),
        )?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        (status == 200
            && v["data"]["tcp_up"].is_array()
            && v["data"]["ping_rtt_seconds"].is_array())
        .then_some(v)
    });
    let up = prom.instant("up{job=\"sentinel\"}");
    assert_eq!(
        up[0]["value"][1], "1",
        "Prometheus scrapes the page: {up:?}"
    );
    for (fam, kind) in [
        ("tcp_up", "gauge"),
        ("ping_rtt_seconds", "histogram"),
        ("ping_rtt_quantile_ms", "gauge"),
        ("modem_signal_dbm", "unknown"),
    ] {
        assert_eq!(meta["data"][fam][0]["type"], kind, "{fam}: {meta}");
    }
    assert!(
        meta["data"]["tcp_up"][0]["help"]
            .as_str()
            .is_some_and(|h| h.contains("TCP handshake")),
        "{meta}"
    );
}
