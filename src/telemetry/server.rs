//! The HTTP listener on `http.listen` (loopback by default): `/metrics`
//! (Prometheus text format: the agent's own metrics and the latest result
//! of every probe, for pull mode), `/healthz` (200 while the agent runs,
//! with each backend's state and backlog), and `/api/wal/stats` (JSON, for
//! `sentinel wal stats` while the agent holds the WAL's lock), and the
//! status page for the person on site (`/`, `/api/status`, see `status.rs`).
//!
//! A small HTTP/1.1 server of our own on tokio's sockets and timers (already
//! in the tree under actix-rt), run by a current-thread runtime on one
//! thread of its own, never on the actix event loop: a connection is a
//! task, not a thread. The listener may face the LAN, so everything a client
//! can hold is bounded (issue 17):
//!
//! - at most [`MAX_CONNECTIONS`] connections are open; the next one closes
//!   the oldest, which is the likeliest to be idle or hostile, so a fresh
//!   request always gets in and descriptors never run out;
//! - the request head must arrive whole within [`HEAD_TIMEOUT`] (idle and
//!   slowloris clients) and fit in [`MAX_HEAD`] bytes (414/431 otherwise);
//! - each piece of the answer must be taken within [`WRITE_TIMEOUT`] (a
//!   client that does not read); the 404 page echoes at most
//!   [`MAX_ECHO`] characters of the path;
//! - one request per connection (`Connection: close`): no keep-alive
//!   connection waits in a slot;
//! - an accept error (EMFILE when the process is out of descriptors) is
//!   logged at most once a minute and retried after [`ACCEPT_BACKOFF`],
//!   EMFILE after closing the oldest connection; the listener never stops.
//!
//! The answers themselves are computed on this thread; `/api/wal/stats`
//! asks the WAL actor by spawning the request on the system arbiter and
//! awaiting the reply, bounded in time.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::telemetry::Telemetry;
use crate::wal::{GetStats, Wal, WalStats};

/// How long `/api/wal/stats` waits for the WAL actor.
const STATS_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections open at once. Past it, each new one closes the oldest. 64
/// is far above what Prometheus, a browser and `sentinel wal stats` need,
/// and far below systemd's 1,024 descriptors.
pub const MAX_CONNECTIONS: usize = 64;
/// From accept to the blank line that ends the request head. A real client
/// sends its head in one packet; slowloris and idle sockets are closed.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Request line and headers together; a request is a path and a few headers.
pub const MAX_HEAD: usize = 8 * 1024;
/// The longest a client may take to accept each [`WRITE_CHUNK`] of the
/// answer. A slow but steady reader (a scrape over a thin uplink) keeps
/// going; one that stops reading is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_CHUNK: usize = 64 * 1024;
/// How much of a path the 404 page repeats.
pub const MAX_ECHO: usize = 100;
/// The pause after a failed accept (out of descriptors) before the next one.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// A failed accept is logged at most this often.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(60);
/// After the answer: how long the agent reads (and discards) what the
/// client still sends, so that closing with unread input (a body, the rest
/// of an oversized head) does not reset the connection before the client
/// has read the answer.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// What the listener needs to answer.
#[derive(Clone)]
pub struct Endpoints {
    pub telemetry: Arc<Telemetry>,
    pub wal: Addr<Wal>,
    /// Where to run the `GetStats` request (the actix system's arbiter).
    pub arbiter: actix_rt::ArbiterHandle,
    /// Agent name, for the /healthz header line and the status page.
    pub agent: String,
    /// Agent region, for the status page.
    pub region: String,
}

/// How often a listen address that was busy or refused is tried again.
pub const BIND_RETRY: Duration = Duration::from_secs(30);

/// Serves the endpoints on `listen` from a thread of their own. When the
/// address cannot be bound (another process holds the port), the error is
/// returned for the caller to log, and the thread tries again every
/// [`BIND_RETRY`] until it can: the agent probes meanwhile.
pub fn start(listen: &str, endpoints: Endpoints) -> Result<(), String> {
    let bind = |listen: &str| {
        std::net::TcpListener::bind(listen)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("cannot listen on {listen} (http.listen): {e}"))
    };
    let first = bind(listen);
    let failed = first.as_ref().err().cloned();
    let listen_owned = listen.to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the http listener's runtime: {e}"))?;
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            let listener = match first {
                Ok(listener) => listener,
                Err(_) => loop {
                    std::thread::sleep(BIND_RETRY);
                    if let Ok(listener) = bind(&listen_owned) {
                        log::info!(listen = listen_owned.as_str(); "HTTP listener is up after all; serving /metrics and /healthz.");
                        break listener;
                    }
                },
            };
            // spawn_local: the connections share `Endpoints` through an Rc.
            tokio::task::LocalSet::new().block_on(&runtime, serve(listener, endpoints));
        })
        .map_err(|e| format!("cannot start the http thread: {e}"))?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The accept loop: one task per connection, at most [`MAX_CONNECTIONS`].
async fn serve(listener: std::net::TcpListener, endpoints: Endpoints) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            log::error!(error:% = e; "HTTP listener failed; /metrics and /healthz are not served until the agent restarts.");
            return;
        }
    };
    let endpoints = Rc::new(endpoints);
    // Open connections, oldest first.
    let mut open: VecDeque<Conn> = VecDeque::new();
    let mut last_warning: Option<Instant> = None;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                open.retain(|c| !c.task.is_finished());
                if open.len() >= MAX_CONNECTIONS {
                    // Dropping its task closes its socket.
                    if let Some(victim) = evict(&mut open) {
                        victim.task.abort();
                    }
                }
                let answering = Rc::new(Cell::new(false));
                let task = tokio::task::spawn_local(connection(
                    stream,
                    endpoints.clone(),
                    answering.clone(),
                ));
                open.push_back(Conn {
                    task: task.abort_handle(),
                    answering,
                });
            }
            Err(e) => {
                if last_warning.is_none_or(|at| at.elapsed() >= ACCEPT_WARN_EVERY) {
                    log::warn!(error:% = e; "HTTP listener cannot take a connection; it keeps trying.");
                    last_warning = Some(Instant::now());
                }
                // Out of descriptors: give back the oldest connection's, so
                // the next accept can succeed even if the rest of the agent
                // holds all the others; try again as soon as its task is
                // gone. With nothing to give back, wait.
                open.retain(|c| !c.task.is_finished());
                let victim = match e.raw_os_error() {
                    Some(libc::EMFILE | libc::ENFILE) => evict(&mut open),
                    _ => None,
                };
                match victim {
                    Some(victim) => {
                        victim.task.abort();
                        tokio::task::yield_now().await;
                    }
                    None => tokio::time::sleep(ACCEPT_BACKOFF).await,
                }
            }
        }
    }
}

/// An open connection: its task, and whether it has its request (and is
/// being answered) or is still waiting for it.
struct Conn {
    task: tokio::task::AbortHandle,
    answering: Rc<Cell<bool>>,
}

/// The connection to close for a new one: the oldest still waiting for
/// its request (idle and slowloris sockets), so that a flood of those
/// never cuts off a scrape being answered; the oldest of all only when
/// every connection is being answered.
fn evict(open: &mut VecDeque<Conn>) -> Option<Conn> {
    let at = open.iter().position(|c| !c.answering.get()).unwrap_or(0);
    open.remove(at)
}

/// One connection: read the head, answer, close.
async fn connection(mut stream: TcpStream, ep: Rc<Endpoints>, answering: Rc<Cell<bool>>) {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        // Gone, reset, or too slow (idle, slowloris): nothing to answer.
        Ok(Err(_)) | Err(_) => return,
    };
    answering.set(true);
    let answer = match head {
        Head::Complete(head) => match request_line(&head) {
            Some((method, path)) => answer(method, path, &ep).await,
            None => Answer::text(400, "not an HTTP/1 request line\n".into()),
        },
        Head::TooLarge { line_ended: false } => Answer::text(
            414,
            format!("the request line is longer than {MAX_HEAD} bytes\n"),
        ),
        Head::TooLarge { line_ended: true } => Answer::text(
            431,
            format!("the request headers are longer than {MAX_HEAD} bytes\n"),
        ),
    };
    if write_answer(&mut stream, &answer.encode()).await.is_ok() {
        linger(&mut stream).await;
    }
}

/// A request head as read from the socket.
enum Head {
    /// Everything up to and including the blank line.
    Complete(Vec<u8>),
    /// [`MAX_HEAD`] bytes without the blank line; whether the request line
    /// at least ended in them.
    TooLarge { line_ended: bool },
}

/// Reads until the blank line that ends the head, at most [`MAX_HEAD`]
/// bytes; EOF before it is an error.
async fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let room = (MAX_HEAD - head.len()).min(chunk.len());
        let n = stream.read(&mut chunk[..room]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        // The end marker may straddle the previous read.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&head[from..]) {
            head.truncate(from + end);
            return Ok(Head::Complete(head));
        }
        if head.len() >= MAX_HEAD {
            return Ok(Head::TooLarge {
                line_ended: head.contains(&b'\n'),
            });
        }
    }
}

/// Where the head in `bytes` ends (after `\n\r\n` or a bare `\n\n`).
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).enumerate().find_map(|(i, w)| match w {
        b"\n\n" => Some(i + 2),
        b"\n\r" if bytes.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

/// `(method, path)` of the request line `METHOD TARGET HTTP/1.x`; the query
/// is cut off the path.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let end = head.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&head[..end])
        .ok()?
        .trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || method.is_empty() || !version.starts_with("HTTP/1.") {
        return None;
    }
    let path = target.split('?').next().unwrap_or("");
    Some((method, path))
}

/// Writes `bytes`, each [`WRITE_CHUNK`] within [`WRITE_TIMEOUT`], then
/// ends the sending side.
async fn write_answer(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    for chunk in bytes.chunks(WRITE_CHUNK) {
        tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(chunk))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    }
    stream.shutdown().await
}

/// Reads and drops what the client still sends, until it closes, for at
/// most [`LINGER`] and [`LINGER_BYTES`] (see [`LINGER`]).
async fn linger(stream: &mut TcpStream) {
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut total = 0;
        while total < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// A whole answer: status, content type and body.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
    /// HEAD: the headers of the GET answer, without its body.
    head_only: bool,
}

const TEXT: &str = "text/plain; charset=utf-8";

impl Answer {
    fn text(status: u16, body: String) -> Answer {
        Answer {
            status,
            content_type: TEXT,
            body,
            head_only: false,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            414 => "URI Too Long",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "",
        };
        let allow = if self.status == 405 {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

async fn answer(method: &str, path: &str, ep: &Endpoints) -> Answer {
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Answer::text(405, "only GET is served here\n".into()),
    };
    let (status, content_type, body) = route(path, ep).await;
    Answer {
        status,
        content_type,
        body,
        head_only,
    }
}

async fn route(path: &str, ep: &Endpoints) -> (u16, &'static str, String) {
    const PROM: &str = "text/plain; version=0.0.4; charset=utf-8";
    const JSON: &str = "application/json";
    match path {
        "/metrics" => (200, PROM, ep.telemetry.render()),
        "/healthz" => (200, TEXT, healthz(ep)),
        "/api/wal/stats" => match wal_stats(ep).await {
            Ok(mut stats) => {
                // The drain rate is the shippers', not the WAL's.
                for (name, b) in stats.backends.iter_mut() {
                    let l = crate::sample::Labels::new().with("backend", name.as_str());
                    let rate = ep.telemetry.get("sentinel_send_samples_per_second", &l);
                    b.send_rate_samples_per_second = Some(rate);
                    b.backlog_eta_seconds =
                        super::status::backlog_eta_seconds(b.pending_samples, rate);
                }
                (
                    200,
                    JSON,
                    serde_json::to_string(&stats).unwrap_or_else(|_| "{}".into()),
                )
            }
            Err(e) => (503, TEXT, format!("{e}\n")),
        },
        "/" => (
            200,
            "text/html; charset=utf-8",
            super::status::render_html(&ep.telemetry.status(&ep.agent, &ep.region)),
        ),
        "/api/status" => (
            200,
            JSON,
            serde_json::to_string(&ep.telemetry.status(&ep.agent, &ep.region))
                .unwrap_or_else(|_| "{}".into()),
        ),
        _ => (
            404,
            TEXT,
            format!("no such page: {}\n", clip(path, MAX_ECHO)),
        ),
    }
}

/// The first `max` characters of `s`, with `...` when it was longer.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_string(),
    }
}

/// Asks the WAL actor for its stats from this (non-actix) thread.
async fn wal_stats(ep: &Endpoints) -> Result<WalStats, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let wal = ep.wal.clone();
    ep.arbiter.spawn(async move {
        let _ = tx.send(wal.send(GetStats).await);
    });
    match tokio::time::timeout(STATS_TIMEOUT, rx).await {
        Ok(Ok(Ok(Ok(stats)))) => Ok(stats),
        Ok(Ok(Ok(Err(e)))) => Err(e.to_string()),
        Ok(Ok(Err(e))) => Err(format!("the WAL actor is gone: {e}")),
        Ok(Err(_)) | Err(_) => Err("the WAL did not answer in time".into()),
    }
}

/// One line for the agent, one per backend: ok or in outage since when,
/// with the backlog.
fn healthz(ep: &Endpoints) -> String {
    let t = &ep.telemetry;
    // 200 either way (the agent runs); the first line says at a glance
    // whether every backend takes the data.
    let down = t.backend_health().iter().filter(|(_, h)| !h.ok).count();
    let mut out = if down == 0 {
        format!(
            "ok: sentinel {} running for {}s\n",
            ep.agent,
            t.uptime_seconds() as u64
        )
    } else {
        format!(
            "degraded: sentinel {} running for {}s, {down} backend(s) not storing\n",
            ep.agent,
            t.uptime_seconds() as u64
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for (name, h) in t.backend_health() {
        let l = crate::sample::Labels::new().with("backend", name.as_str());
        let backlog = t.get("sentinel_wal_samples_pending", &l) as u64;
        let age = t.get("sentinel_wal_oldest_sample_age_seconds", &l) as u64;
        let rate = t.get("sentinel_send_samples_per_second", &l);
        let progress =
            super::status::progress_text(rate, super::status::backlog_eta_seconds(backlog, rate));
        if h.ok {
            out.push_str(&format!(
                "backend {name}: ok, backlog {backlog} samples, oldest {age}s{progress}\n"
            ));
        } else {
            out.push_str(&format!(
                "backend {name}: OUTAGE since {} ({}s, {}), backlog {backlog} samples, oldest {age}s: {}\n",
                crate::logging::rfc3339_ms(h.since_unix as i64 * 1000),
                now.saturating_sub(h.since_unix),
                h.reason,
                h.error
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood of sockets that send nothing never closes a connection
    /// being answered while one waiting for its request is there to close.
    #[test]
    fn eviction_takes_a_waiting_connection_before_one_being_answered() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let conn = |answering: bool| Conn {
                task: tokio::spawn(std::future::pending::<()>()).abort_handle(),
                answering: Rc::new(Cell::new(answering)),
            };
            let mut open: VecDeque<Conn> =
                [true, true, false, false].into_iter().map(conn).collect();
            let flags = |open: &VecDeque<Conn>| -> Vec<bool> {
                open.iter().map(|c| c.answering.get()).collect()
            };
            assert!(!evict(&mut open).unwrap().answering.get());
            assert_eq!(flags(&open), [true, true, false]);
            assert!(!evict(&mut open).unwrap().answering.get());
            // Only connections being answered: the oldest goes.
            assert!(evict(&mut open).unwrap().answering.get());
            assert_eq!(open.len(), 1);
            evict(&mut open);
            assert!(evict(&mut open).is_none());
        });
    }

    #[test]
    fn a_head_ends_at_the_first_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(head_end(b"\r\n"), None);
    }

    #[test]
    fn the_request_line_gives_method_and_path_without_query() {
        assert_eq!(
            request_line(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(request_line(b"HEAD / HTTP/1.0\n\n"), Some(("HEAD", "/")));
        assert_eq!(request_line(b"GET /\r\n\r\n"), None);
        assert_eq!(request_line(b"GET / SPDY/3\r\n\r\n"), None);
        assert_eq!(request_line(b"GET / HTTP/1.1 x\r\n\r\n"), None);
        assert_eq!(request_line(b"GET /\xff HTTP/1.1\r\n\r\n"), None);
    }

    #[test]
    fn the_404_page_repeats_a_bounded_part_of_the_path() {
        assert_eq!(clip("/short", MAX_ECHO), "/short");
        let long = "/é".repeat(200);
        let clipped = clip(&long, MAX_ECHO);
        assert_eq!(clipped.chars().count(), MAX_ECHO + 3);
        assert!(clipped.ends_with("..."));
    }

    #[test]
    fn an_answer_is_a_closed_http_1_1_response() {
        let get = Answer::text(404, "no such page: /x\n".into()).encode();
        assert_eq!(
            String::from_utf8(get).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 17\r\nConnection: close\r\n\r\nno such page: /x\n"
        );
        let head = Answer {
            head_only: true,
            ..Answer::text(200, "ok\n".into())
        }
        .encode();
        let head = String::from_utf8(head).unwrap();
        assert!(head.contains("Content-Length: 3\r\n") && head.ends_with("\r\n\r\n"));
        let refused = String::from_utf8(Answer::text(405, String::new()).encode()).unwrap();
        assert!(refused.contains("Allow: GET, HEAD\r\n"), "{refused}");
    }
}
