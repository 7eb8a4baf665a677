//! The tcp, http, dns, exec and scrape plugins against real local servers
//! that each test starts on loopback and stops on `Drop`: a TCP listener
//! and a closed port; an HTTP(S) server (rustls, with a CA and a server
//! certificate made by the `openssl` CLI with a known expiry) that answers
//! 200, 500, slowly, and serves a static metrics file; `dnsmasq` with known
//! records; shell commands; the agent's own `/metrics`.
//!
//! Everything goes through `probe::run_once`, the agent's own entry point.
//! Only loopback is contacted; the DNS tests ask only the dnsmasq they
//! start. Missing tools (`openssl`, `dnsmasq`) fail the test with the
//! package to install.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sentinel::config::{IpVersion, Secret};
use sentinel::probe::dns::{DnsConfig, DnsType};
use sentinel::probe::exec::ExecConfig;
use sentinel::probe::http::{HttpClientConfig, HttpMethod, HttpProbeConfig};
use sentinel::probe::ping::PingConfig;
use sentinel::probe::scrape::ScrapeConfig;
use sentinel::probe::tcp::TcpConfig;
use sentinel::probe::{run_once, PluginConfig, ProbeError};
use sentinel::sample::{Labels, Sample};

use crate::util::agent::Agent;
use crate::util::http_server::{HttpServer, Reply, Request};
use crate::util::servers::free_port;

/// Days the test server certificate is valid for.
const CERT_DAYS: u64 = 30;
/// How long `/slow` waits before answering.
const SLOW_ANSWER: Duration = Duration::from_secs(3);
/// The body of `/ok`.
const OK_BODY: &str = "hello from sentinel's test server, status: green";

fn base() -> Labels {
    Labels::new()
        .with("device_id", "dev-1")
        .with("task_id", "plugin-test")
}

fn value(samples: &[Sample], name: &str) -> Option<f64> {
    samples.iter().find(|s| s.name == name).map(|s| s.value)
}

fn run(plugin: PluginConfig) -> Vec<Sample> {
    run_once(&plugin, &base())
        .unwrap_or_else(|e| panic!("{}: {e}", plugin.name()))
        .samples
}

fn run_err(plugin: PluginConfig) -> ProbeError {
    match run_once(&plugin, &base()) {
        Ok(s) => panic!("{} succeeded: {s:?}", plugin.name()),
        Err(e) => e,
    }
}

/// Fails the test unless `tool` runs; names the Debian package.
fn require_tool(tool: &str, args: &[&str], package: &str) {
    let ok = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "`{tool}` is not installed: these tests need it; install it with `apt-get install {package}`"
    );
}

// ---------------------------------------------------------------- tcp

fn tcp(port: u16) -> PluginConfig {
    PluginConfig::Tcp(TcpConfig {
        host: "127.0.0.1".into(),
        port,
        timeout: Duration::from_secs(2),
        ip_version: IpVersion::Any,
    })
}

#[test]
fn tcp_listener_is_up() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = run(tcp(port));
    assert_eq!(value(&s, "tcp_up"), Some(1.0));
    let ms = value(&s, "tcp_connect_ms").unwrap();
    assert!((0.0..100.0).contains(&ms), "{ms}");
    for sample in &s {
        assert_eq!(sample.labels.get("port"), Some(port.to_string().as_str()));
        assert_eq!(sample.labels.get("host"), Some("127.0.0.1"));
        assert_eq!(sample.labels.get("task_id"), Some("plugin-test"));
    }
    // The probe connected and closed: the listener saw one connection.
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_ok());
}

#[test]
fn tcp_closed_port_is_down() {
    let port = free_port();
    let s = run(tcp(port));
    assert_eq!(value(&s, "tcp_up"), Some(0.0));
    assert_eq!(value(&s, "tcp_connect_ms"), None);
    assert_eq!(s.len(), 1);
}

#[test]
fn tcp_ipv6_loopback() {
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let s = run(PluginConfig::Tcp(TcpConfig {
        host: "::1".into(),
        port: listener.local_addr().unwrap().port(),
        timeout: Duration::from_secs(2),
        ip_version: IpVersion::V6,
    }));
    assert_eq!(value(&s, "tcp_up"), Some(1.0));
}

/// A host with no address of the wanted version (as a name that stops
/// resolving) is down, not silent: `tcp_up` 0, so an alert on it fires.
/// (`::1` under ip_version 4 fails in the resolver step without asking
/// any DNS server.)
#[test]
fn tcp_host_without_an_address_is_down() {
    let s = run(PluginConfig::Tcp(TcpConfig {
        host: "::1".into(),
        port: 9,
        timeout: Duration::from_secs(2),
        ip_version: IpVersion::V4,
    }));
    assert_eq!(value(&s, "tcp_up"), Some(0.0), "{s:?}");
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].labels.get("host"), Some("::1"));
}

/// Likewise for ping, alone and among other hosts: reachable 0, loss 100.
#[test]
fn ping_host_without_an_address_is_unreachable() {
    crate::util::netns::require_root("raw ICMP sockets");
    for hosts in [vec![], vec!["127.0.0.1".to_string()]] {
        let s = run(PluginConfig::Ping(PingConfig {
            host: "::1".into(),
            hosts: hosts.clone(),
            count: 1,
            timeout: Duration::from_millis(500),
            ip_version: IpVersion::V4,
            ..PingConfig::default()
        }));
        let of = |host: &str, name: &str| {
            s.iter()
                .find(|x| x.name == name && x.labels.get("host") == Some(host))
                .map(|x| x.value)
        };
        assert_eq!(of("::1", "ping_reachable"), Some(0.0), "{s:?}");
        assert_eq!(of("::1", "ping_packet_loss"), Some(100.0), "{s:?}");
        assert_eq!(of("::1", "ping_rtt_ms"), None, "{s:?}");
        if !hosts.is_empty() {
            assert_eq!(of("127.0.0.1", "ping_reachable"), Some(1.0), "{s:?}");
        }
    }
}

// ---------------------------------------------------------------- http

/// A CA and a server certificate for 127.0.0.1/localhost signed by it,
/// valid `CERT_DAYS` from now, made with the `openssl` CLI.
struct Certs {
    dir: tempfile::TempDir,
    /// When `openssl` was run: the server certificate expires
    /// `CERT_DAYS` after it.
    made_at: u64,
}

impl Certs {
    fn make() -> Certs {
        require_tool("openssl", &["version"], "openssl");
        let dir = tempfile::tempdir().unwrap();
        let made_at = unix_now();
        let d = dir.path();
        let sh = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=sentinel test CA",
        ]);
        sh(&ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        sh(&csr);
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let days = CERT_DAYS.to_string();
        sh(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "42",
            "-days",
            &days,
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ]);
        Certs { dir, made_at }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(self.path("server.pem"))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(self.path("server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        )
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The shared test HTTP server, plain or TLS, with these routes: `/ok`
/// (200, `OK_BODY`), `/fail` (500), `/slow` (200 after `SLOW_ANSWER`),
/// `/moved` (302), `/auth` (200 with the right basic auth and header,
/// else 401), `/metrics` (the static file given). Stopped on drop.
struct TestServer(HttpServer);

impl TestServer {
    fn start(tls: Option<Arc<rustls::ServerConfig>>, metrics_file: Option<PathBuf>) -> TestServer {
        let route = move |req: &Request| route(req, metrics_file.as_deref());
        TestServer(match tls {
            Some(cfg) => HttpServer::start_tls(cfg, route),
            None => HttpServer::start(route),
        })
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.0.addr())
    }
}

/// The answer to one request.
fn route(req: &Request, metrics: Option<&Path>) -> Reply {
    let (status, body): (u16, String) = match req.path.as_str() {
        "/ok" => (200, OK_BODY.into()),
        "/fail" => (500, "boom".into()),
        "/slow" => (200, "late".into()),
        "/moved" => (302, String::new()),
        "/auth" => {
            // admin:secret
            let authed = req.header("authorization") == Some("Basic YWRtaW46c2VjcmV0")
                && req.header("x-site") == Some("17");
            if authed {
                (200, "welcome".into())
            } else {
                (401, "who are you".into())
            }
        }
        "/accept" => (
            200,
            format!(
                "accept_header{{value=\"{}\"}} 1\n",
                req.header("accept").unwrap_or_default()
            ),
        ),
        "/metrics" => match metrics.map(std::fs::read_to_string) {
            Some(Ok(text)) => (200, text),
            _ => (404, "no metrics here".into()),
        },
        _ => (404, "not found".into()),
    };
    let reply = Reply::new(status)
        .header("Content-Type", "text/plain")
        .body(body)
        .close();
    match req.path.as_str() {
        "/slow" => reply.delay(SLOW_ANSWER),
        "/moved" => reply.header("Location", "/ok"),
        _ => reply,
    }
}

fn http(url: String) -> HttpProbeConfig {
    HttpProbeConfig {
        url,
        method: HttpMethod::Get,
        timeout: Duration::from_secs(2),
        accepted_status: vec![(200, 399)],
        body_regex: None,
        client: HttpClientConfig::default(),
    }
}

#[test]
fn http_ok_status_time_and_body_regex() {
    let server = TestServer::start(None, None);
    let mut cfg = http(server.url("http", "/ok"));
    cfg.body_regex = Some("status: (green|yellow)".into());
    let s = run(PluginConfig::Http(cfg.clone()));
    assert_eq!(value(&s, "http_up"), Some(1.0));
    assert_eq!(value(&s, "http_status_code"), Some(200.0));
    let ms = value(&s, "http_response_ms").unwrap();
    assert!((0.0..1000.0).contains(&ms), "{ms}");
    assert_eq!(value(&s, "http_tls_cert_expiry_seconds"), None);
    assert_eq!(s[0].labels.get("url"), Some(cfg.url.as_str()));

    cfg.body_regex = Some("status: red".into());
    let s = run(PluginConfig::Http(cfg.clone()));
    assert_eq!(value(&s, "http_up"), Some(0.0));
    assert_eq!(value(&s, "http_status_code"), Some(200.0));

    cfg.body_regex = None;
    cfg.method = HttpMethod::Head;
    let s = run(PluginConfig::Http(cfg));
    assert_eq!(value(&s, "http_up"), Some(1.0));
}

#[test]
fn http_500_redirect_and_accepted_status() {
    let server = TestServer::start(None, None);
    let s = run(PluginConfig::Http(http(server.url("http", "/fail"))));
    assert_eq!(value(&s, "http_up"), Some(0.0));
    assert_eq!(value(&s, "http_status_code"), Some(500.0));
    assert!(value(&s, "http_response_ms").is_some());

    // 3xx is up by default and not followed.
    let s = run(PluginConfig::Http(http(server.url("http", "/moved"))));
    assert_eq!(value(&s, "http_up"), Some(1.0));
    assert_eq!(value(&s, "http_status_code"), Some(302.0));

    // A list that accepts only 500 (a health check that expects failure).
    let mut cfg = http(server.url("http", "/fail"));
    cfg.accepted_status = vec![(500, 500)];
    assert_eq!(value(&run(PluginConfig::Http(cfg)), "http_up"), Some(1.0));
}

#[test]
fn http_slow_answer_past_the_timeout_is_down() {
    let server = TestServer::start(None, None);
    let mut cfg = http(server.url("http", "/slow"));
    cfg.timeout = Duration::from_millis(500);
    let started = Instant::now();
    let s = run(PluginConfig::Http(cfg));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_eq!(value(&s, "http_up"), Some(0.0));
    assert_eq!(value(&s, "http_status_code"), None);
    assert_eq!(value(&s, "http_response_ms"), None);
}

#[test]
fn http_basic_auth_and_headers() {
    let server = TestServer::start(None, None);
    let mut cfg = http(server.url("http", "/auth"));
    assert_eq!(
        value(&run(PluginConfig::Http(cfg.clone())), "http_status_code"),
        Some(401.0)
    );
    cfg.client.username = Some("admin".into());
    cfg.client.password = Some(Secret("secret".into()));
    cfg.client.headers = vec![("X-Site".into(), "17".into())];
    let s = run(PluginConfig::Http(cfg));
    assert_eq!(value(&s, "http_status_code"), Some(200.0));
    assert_eq!(value(&s, "http_up"), Some(1.0));
}

#[test]
fn http_closed_port_is_down() {
    let s = run(PluginConfig::Http(http(format!(
        "http://127.0.0.1:{}/",
        free_port()
    ))));
    assert_eq!(value(&s, "http_up"), Some(0.0));
    assert_eq!(s.len(), 1);
}

/// Expiry within a minute of `CERT_DAYS` after the certificate was made.
fn assert_expiry(s: &[Sample], certs: &Certs) {
    let got = value(s, "http_tls_cert_expiry_seconds").expect("no expiry sample");
    let want = (certs.made_at + CERT_DAYS * 86_400) as f64 - unix_now() as f64;
    assert!(
        (got - want).abs() <= 60.0,
        "expiry {got} s, expected {want} s (+- 60 s)"
    );
}

#[test]
fn https_with_ca_file_reports_the_certificate_expiry() {
    let certs = Certs::make();
    let server = TestServer::start(Some(certs.server_config()), None);
    let mut cfg = http(server.url("https", "/ok"));
    cfg.client.ca_file = Some(certs.path("ca.pem"));
    let s = run(PluginConfig::Http(cfg));
    assert_eq!(value(&s, "http_up"), Some(1.0), "{s:?}");
    assert_eq!(value(&s, "http_status_code"), Some(200.0));
    assert_expiry(&s, &certs);
}

#[test]
fn https_with_an_unknown_ca_is_down_but_still_reports_expiry() {
    let certs = Certs::make();
    let server = TestServer::start(Some(certs.server_config()), None);
    let cfg = http(server.url("https", "/ok"));
    let s = run(PluginConfig::Http(cfg.clone()));
    assert_eq!(value(&s, "http_up"), Some(0.0), "{s:?}");
    assert_eq!(value(&s, "http_status_code"), None);
    assert_expiry(&s, &certs);

    let mut insecure = cfg;
    insecure.client.insecure_skip_verify = true;
    let s = run(PluginConfig::Http(insecure));
    assert_eq!(value(&s, "http_up"), Some(1.0), "{s:?}");
    assert_expiry(&s, &certs);
}

#[test]
fn https_bad_ca_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let mut cfg = http("https://127.0.0.1:1/".into());
    cfg.client.ca_file = Some(bad.clone());
    let e = run_err(PluginConfig::Http(cfg));
    assert_eq!(
        e.to_string(),
        format!(
            "cannot use ca_file {}: no certificate found in it; expected a PEM file of CA certificates",
            bad.display()
        )
    );
}

// ---------------------------------------------------------------- scrape

fn scrape(url: String) -> PluginConfig {
    PluginConfig::Scrape(ScrapeConfig {
        url,
        timeout: Duration::from_secs(2),
        client: HttpClientConfig::default(),
    })
}

#[test]
fn scrape_of_a_static_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(
        &file,
        "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.42\n\
         node_network_up{device=\"wwan0\",task_id=\"spoof\"} 1\n",
    )
    .unwrap();
    let server = TestServer::start(None, Some(file));
    let s = run(scrape(server.url("http", "/metrics")));
    assert_eq!(value(&s, "node_load1"), Some(0.42));
    let up = s.iter().find(|s| s.name == "node_network_up").unwrap();
    assert_eq!(up.labels.get("device"), Some("wwan0"));
    assert_eq!(up.labels.get("task_id"), Some("plugin-test"));
    assert_eq!(up.labels.get("exported_task_id"), Some("spoof"));
    assert_eq!(up.labels.get("device_id"), Some("dev-1"));
    assert_eq!(value(&s, "scrape_samples_scraped"), Some(2.0));
    assert!(value(&s, "scrape_duration_seconds").unwrap() < 1.0);
    assert_eq!(value(&s, "up"), Some(1.0));
    // OpenMetrics asked for first, as Prometheus asks.
    let s2 = run(scrape(server.url("http", "/accept")));
    let accept = s2[0].labels.get("value").unwrap_or("");
    assert!(
        accept.starts_with("application/openmetrics-text;version=1.0.0,"),
        "{accept}"
    );
    assert!(accept.contains("text/plain;version=0.0.4"), "{accept}");
    let instance = server.0.addr().to_string();
    for sample in &s {
        assert_eq!(sample.labels.get("job"), Some("plugin-test"), "{sample:?}");
        assert_eq!(sample.labels.get("instance"), Some(instance.as_str()));
    }
}

/// A failed scrape is still `up 0`, `scrape_duration_seconds` and
/// `scrape_samples_scraped 0`, carried by the error.
fn failed_scrape(url: &str) -> (String, Vec<Sample>) {
    let (e, samples) = run_err(scrape(url.to_string())).into_parts();
    let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["up", "scrape_duration_seconds", "scrape_samples_scraped"],
        "{e}"
    );
    assert_eq!(value(&samples, "up"), Some(0.0));
    assert_eq!(value(&samples, "scrape_samples_scraped"), Some(0.0));
    assert_eq!(samples[0].labels.get("job"), Some("plugin-test"));
    (e.to_string(), samples)
}

#[test]
fn scrape_failures_are_errors_naming_the_url() {
    let server = TestServer::start(None, None);
    let url = server.url("http", "/metrics");
    let (e, _) = failed_scrape(&url);
    assert_eq!(
        e,
        format!("scraping {url} got status 404, expected 200: no metrics here")
    );
    let url = server.url("http", "/ok");
    let (e, _) = failed_scrape(&url);
    assert!(
        e.starts_with(&format!(
            "{url} did not return the Prometheus text format: line 1: "
        )),
        "{e}"
    );
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let (e, samples) = failed_scrape(&url);
    assert!(e.starts_with(&format!("cannot scrape {url}: ")), "{e}");
    let instance = format!("127.0.0.1:{port}");
    assert_eq!(samples[0].labels.get("instance"), Some(instance.as_str()));
}

/// Binary garbage served run after run: the same short error each time,
/// so the failing-probe log rule (a changed error is logged again) logs
/// it once, not on every run.
#[test]
fn scrape_of_binary_garbage_gives_one_short_stable_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    let server = TestServer::start(None, Some(file.clone()));
    let url = server.url("http", "/metrics");
    let mut errors = std::collections::BTreeSet::new();
    for seed in 1..6u64 {
        // Different bytes each run, as a misconfigured target serving a
        // compressed or protobuf body would.
        let mut x = seed;
        let bytes: Vec<u8> = (0..600)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        std::fs::write(&file, &bytes).unwrap();
        let (e, _) = failed_scrape(&url);
        assert!(e.len() < 250, "{e}");
        errors.insert(e);
    }
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

/// The agent serves its own metrics on `http.listen`; another agent (or
/// this one) can scrape them.
#[test]
fn scrape_of_the_agents_own_metrics() {
    let port = free_port();
    let tcp_port = TcpListener::bind("127.0.0.1:0").unwrap();
    let yaml = format!(
        "sentinel: {{name: scrape-me}}\nhttp: {{listen: \"127.0.0.1:{port}\"}}\n\
         tasks:\n  - id: tcp-self\n    plugin: tcp\n    interval: 1s\n    \
         config: {{host: 127.0.0.1, port: {}}}\n",
        tcp_port.local_addr().unwrap().port()
    );
    let _agent = Agent::start(&yaml);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    let samples = loop {
        match run_once(&scrape(url.clone()), &base()).map(|r| r.samples) {
            Ok(s) if s.iter().any(|s| s.name == "tcp_up") => break s,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            other => panic!("no tcp_up on {url} after 20 s: {other:?}"),
        }
    };
    let up = samples.iter().find(|s| s.name == "tcp_up").unwrap();
    assert_eq!(up.value, 1.0);
    // The agent's task_id is kept as exported_task_id; ours wins.
    assert_eq!(up.labels.get("exported_task_id"), Some("tcp-self"));
    assert_eq!(up.labels.get("task_id"), Some("plugin-test"));
    assert!(samples.iter().any(|s| s.name.starts_with("sentinel_")));
}

/// Scrape tasks as Prometheus runs them, end to end into a real
/// VictoriaMetrics: `up` 1 with `job` (the task id) and `instance` (the
/// target's host:port) on every series, an OpenMetrics page with an
/// exemplar parsed, and a dead target stored as `up 0` (its labels set by
/// the task winning) with the reason in the log.
#[test]
fn scrape_tasks_deliver_up_job_and_instance_to_victoria_metrics() {
    let vm = crate::util::servers::VictoriaMetrics::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(
        &file,
        "# TYPE node_load1 gauge\nnode_load1 0.42\n\
         # TYPE reqs counter\nreqs_total{code=\"200\"} 7 # {trace_id=\"abc\"} 1.0\n# EOF\n",
    )
    .unwrap();
    let server = TestServer::start(None, Some(file));
    let live = server.url("http", "/metrics");
    let dead_port = free_port();
    let yaml = format!(
        "sentinel:\n  name: \"scraper\"\n  region: \"lab\"\n\
         sender:\n  mode: \"direct\"\n  flush_interval: 1s\n  direct:\n    victoria_metrics:\n      \
         enabled: true\n      url: \"{write}\"\n\
         http:\n  enabled: false\n\
         logging:\n  level: debug\n  format: json\n  output: stdout\n\
         tasks:\n  - id: \"node\"\n    plugin: scrape\n    interval: 1s\n    \
         config: {{url: \"{live}\"}}\n  \
         - id: \"gone\"\n    plugin: scrape\n    interval: 1s\n    labels: {{job: \"routers\"}}\n    \
         config: {{url: \"http://127.0.0.1:{dead_port}/metrics\"}}\n",
        write = crate::util::servers::RemoteWriteServer::write_url(&vm),
    );
    let mut agent = Agent::start(&yaml);
    let failed = agent.wait_for_log("the dead target's failure", Duration::from_secs(20), |l| {
        l["msg"] == "Probe failed." && l["task_id"] == "gone"
    });
    let expected = format!("cannot scrape http://127.0.0.1:{dead_port}/metrics: ");
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or("")
            .starts_with(&expected),
        "{failed}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let (live_up, dead_up, reqs) = loop {
        let up = vm.export("up");
        let find = |task: &str| {
            up.iter()
                .find(|s| s.label("task_id") == Some(task))
                .cloned()
        };
        let reqs = vm.export("reqs_total");
        match (find("node"), find("gone"), reqs.first()) {
            (Some(a), Some(b), Some(r)) => break (a, b, r.clone()),
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(300)),
            other => panic!(
                "up of both tasks and reqs_total not in VictoriaMetrics after 30 s: {other:?}\n{}",
                agent.log_tail()
            ),
        }
    };
    drop(agent);
    let instance = server.0.addr().to_string();
    assert!(live_up.values.iter().all(|v| *v == 1.0), "{live_up:?}");
    assert_eq!(live_up.label("job"), Some("node"));
    assert_eq!(live_up.label("instance"), Some(instance.as_str()));
    assert_eq!(reqs.label("job"), Some("node"));
    assert_eq!(reqs.label("instance"), Some(instance.as_str()));
    assert_eq!(reqs.label("code"), Some("200"));
    assert_eq!(reqs.label("trace_id"), None);
    assert_eq!(reqs.values.last(), Some(&7.0));
    for name in ["scrape_duration_seconds", "scrape_samples_scraped"] {
        let s = vm.export(&format!("{name}{{task_id=\"node\"}}"));
        assert_eq!(s.len(), 1, "{name}: {s:?}");
        assert_eq!(s[0].label("instance"), Some(instance.as_str()));
    }
    let scraped = vm.export("scrape_samples_scraped{task_id=\"node\"}");
    assert_eq!(scraped[0].values.last(), Some(&2.0));
    assert!(dead_up.values.iter().all(|v| *v == 0.0), "{dead_up:?}");
    assert_eq!(dead_up.label("job"), Some("routers"));
    let dead_instance = format!("127.0.0.1:{dead_port}");
    assert_eq!(dead_up.label("instance"), Some(dead_instance.as_str()));
}

// ---------------------------------------------------------------- exec

fn exec(script: &str, timeout: Duration) -> PluginConfig {
    PluginConfig::Exec(ExecConfig {
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        timeout,
        env: vec![("MODEM".into(), "wwan0".into())],
    })
}

#[test]
fn exec_good_output() {
    let s = run(exec(
        "printf '# HELP modem_rssi_dbm Signal.\\n# TYPE modem_rssi_dbm gauge\\n\
         modem_rssi_dbm{iface=\"%s\"} -67\\nups_on_battery 0\\n' \"$MODEM\"",
        Duration::from_secs(5),
    ));
    assert_eq!(s.len(), 2);
    assert_eq!(value(&s, "modem_rssi_dbm"), Some(-67.0));
    assert_eq!(s[0].labels.get("iface"), Some("wwan0"));
    assert_eq!(s[0].labels.get("task_id"), Some("plugin-test"));
    assert_eq!(value(&s, "ups_on_battery"), Some(0.0));
}

#[test]
fn exec_bad_output_is_a_clear_error() {
    let e = run_err(exec("echo 'signal: -67 dBm'", Duration::from_secs(5)));
    assert!(matches!(e, ProbeError::ExecOutput { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "command `echo 'signal: -67 dBm'` printed output that is not the Prometheus text format: line 1: \"dBm\" after the value is not a timestamp (milliseconds): \"signal: -67 dBm\""
    );
}

#[test]
fn exec_non_zero_exit_is_an_error_with_stderr() {
    let e = run_err(exec(
        "echo 'x 1'; echo 'modem not found' >&2; exit 4",
        Duration::from_secs(5),
    ));
    assert_eq!(
        e.to_string(),
        "command `echo 'x 1'; echo 'modem not found' >&2; exit 4` exited with status 4; stderr: modem not found"
    );
}

/// A command that hangs, with a child of its own in the background: both
/// are killed when the timeout passes, and the run returns right then.
#[test]
fn exec_hang_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let script = format!("sleep 60 & echo $! > {}; sleep 60", pidfile.display());
    let started = Instant::now();
    let e = run_err(exec(&script, Duration::from_millis(500)));
    let took = started.elapsed();
    assert!(matches!(e, ProbeError::ExecTimeout { .. }), "{e:?}");
    assert!(
        e.to_string().contains("did not finish within 500 ms"),
        "{e}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Gone, or a zombie waiting for init: either way no longer running.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(|r| r.trim().chars().next()));
        match state {
            None | Some(Some('Z')) => break,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("background child {pid} still running: {other:?}"),
        }
    }
}

#[test]
fn exec_missing_program_says_so() {
    let e = run_err(PluginConfig::Exec(ExecConfig {
        command: vec!["/nonexistent/modem-signal".into()],
        timeout: Duration::from_secs(1),
        env: vec![],
    }));
    assert!(
        e.to_string()
            .ends_with("(is the program installed, and its path absolute or on PATH?)"),
        "{e}"
    );
}

// ---------------------------------------------------------------- dns

/// dnsmasq on a loopback port with a few records under `sentinel.test`,
/// answering only from them (`--no-resolv`, `--local`); killed on drop.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Dnsmasq {
    /// dnsmasq binds TCP as well as UDP on its port: the port is one free
    /// for both, and another is tried if something took it meanwhile.
    fn start() -> Dnsmasq {
        require_tool("dnsmasq", &["--version"], "dnsmasq-base");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = loop {
                let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
                let port = udp.local_addr().unwrap().port();
                if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                    break port;
                }
            };
            let mut d = Dnsmasq::spawn(port);
            match d.wait_ready() {
                Ok(()) => return d,
                Err(e) if e.contains("Address already in use") => last_error = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("dnsmasq found no free port in 5 tries: {last_error}");
    }

    fn spawn(port: u16) -> Dnsmasq {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--user=root",
                "--local=/sentinel.test/",
                "--host-record=a.sentinel.test,192.0.2.10,2001:db8::10",
                "--host-record=v4only.sentinel.test,192.0.2.11",
                "--mx-host=sentinel.test,mail.sentinel.test,10",
                "--txt-record=sentinel.test,v=sentinel1",
            ])
            // Answers over 512 bytes: `mid` fits EDNS0's 1232, `big` does not.
            .args((0..4).map(|i| format!("--txt-record=mid.sentinel.test,{i}{}", "m".repeat(199))))
            .args((0..10).map(|i| format!("--txt-record=big.sentinel.test,{i}{}", "b".repeat(199))))
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-facility={}",
                dir.path().join("log").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start dnsmasq");
        Dnsmasq {
            child,
            addr,
            _dir: dir,
        }
    }

    /// Waits until dnsmasq answers a query (it binds after parsing); its
    /// error when it exits instead.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
                return Err(format!("dnsmasq exited with {status}: {err}"));
            }
            let o = sentinel::probe::dns::run(&dns_cfg(self.addr, "a.sentinel.test", DnsType::A))
                .unwrap();
            if o.response.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "dnsmasq on {} did not answer within 10 s",
            self.addr
        ))
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dns_cfg(server: SocketAddr, name: &str, t: DnsType) -> DnsConfig {
    DnsConfig {
        server,
        name: name.into(),
        record_type: t,
        timeout: Duration::from_millis(500),
    }
}

#[test]
fn dns_known_answers_of_every_type() {
    let d = Dnsmasq::start();
    for (name, t, answers) in [
        ("a.sentinel.test", DnsType::A, 1.0),
        ("a.sentinel.test", DnsType::Aaaa, 1.0),
        ("sentinel.test", DnsType::Mx, 1.0),
        ("sentinel.test", DnsType::Txt, 1.0),
    ] {
        let cfg = dns_cfg(d.addr, name, t);
        let s = run(PluginConfig::Dns(cfg.clone()));
        assert_eq!(value(&s, "dns_up"), Some(1.0), "{name} {t:?}: {s:?}");
        assert_eq!(value(&s, "dns_answers"), Some(answers), "{name} {t:?}");
        let ms = value(&s, "dns_lookup_ms").unwrap();
        assert!((0.0..500.0).contains(&ms), "{ms}");
        assert_eq!(s[0].labels.get("name"), Some(name));
        assert_eq!(s[0].labels.get("type"), Some(t.as_str()));
        assert_eq!(s[0].labels.get("server"), Some(d.addr.to_string().as_str()));
    }
    // The decoded records are the configured ones.
    let o = sentinel::probe::dns::run(&dns_cfg(d.addr, "a.sentinel.test", DnsType::Aaaa)).unwrap();
    let data: Vec<String> = o
        .response
        .unwrap()
        .answers
        .iter()
        .map(|a| a.data.to_string())
        .collect();
    assert_eq!(data, ["2001:db8::10"]);
    let o = sentinel::probe::dns::run(&dns_cfg(d.addr, "sentinel.test", DnsType::Mx)).unwrap();
    assert_eq!(
        o.response.unwrap().answers[0].data.to_string(),
        "10 mail.sentinel.test"
    );
}

#[test]
fn dns_nxdomain_and_no_answer() {
    let d = Dnsmasq::start();
    let o = sentinel::probe::dns::run(&dns_cfg(d.addr, "nope.sentinel.test", DnsType::A)).unwrap();
    assert_eq!(o.response.as_ref().unwrap().rcode, 3);
    assert_eq!(o.reason.as_deref(), Some("the server answered NXDOMAIN"));
    let s = run(PluginConfig::Dns(dns_cfg(
        d.addr,
        "nope.sentinel.test",
        DnsType::A,
    )));
    assert_eq!(value(&s, "dns_up"), Some(0.0));
    assert_eq!(value(&s, "dns_answers"), Some(0.0));
    assert!(value(&s, "dns_lookup_ms").is_some());

    // The name exists, but has no AAAA record: NOERROR, empty answer.
    let o =
        sentinel::probe::dns::run(&dns_cfg(d.addr, "v4only.sentinel.test", DnsType::Aaaa)).unwrap();
    assert_eq!(o.response.as_ref().unwrap().rcode, 0);
    assert_eq!(o.answers, 0);
    assert!(!o.up);
    assert_eq!(o.reason.as_deref(), Some("the answer holds no AAAA record"));
}

/// An answer over 512 bytes arrives whole (the query carries EDNS0); one
/// too large even for that says it was truncated (its count is short).
#[test]
fn dns_large_answers_use_edns_and_truncation_is_named() {
    let d = Dnsmasq::start();
    let s = run(PluginConfig::Dns(dns_cfg(
        d.addr,
        "mid.sentinel.test",
        DnsType::Txt,
    )));
    assert_eq!(value(&s, "dns_up"), Some(1.0), "{s:?}");
    assert_eq!(value(&s, "dns_answers"), Some(4.0), "{s:?}");
    let o = sentinel::probe::dns::run(&dns_cfg(d.addr, "big.sentinel.test", DnsType::Txt)).unwrap();
    assert!(o.answers < 10, "{o:?}");
    assert!(
        o.reason.as_deref().is_some_and(|r| r.contains("truncated")),
        "{o:?}"
    );
}

/// A server that never answers: the run ends at the timeout, dns_up 0,
/// no lookup time.
#[test]
fn dns_silent_server_times_out() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = dns_cfg(silent.local_addr().unwrap(), "a.sentinel.test", DnsType::A);
    let started = Instant::now();
    let s = run(PluginConfig::Dns(cfg));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    assert_eq!(value(&s, "dns_up"), Some(0.0));
    assert_eq!(value(&s, "dns_lookup_ms"), None);
    assert_eq!(s.len(), 1);
}

/// Nothing listens: the kernel's port-unreachable ends the wait early.
#[test]
fn dns_closed_port_is_down_at_once() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dns_cfg(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "a.sentinel.test",
        DnsType::A,
    );
    let started = Instant::now();
    let o = sentinel::probe::dns::run(&cfg).unwrap();
    assert!(started.elapsed() < Duration::from_millis(400));
    assert!(!o.up);
    assert!(
        o.reason.as_deref().unwrap().contains("refused"),
        "{:?}",
        o.reason
    );
}
