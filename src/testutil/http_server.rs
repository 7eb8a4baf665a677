//! A loopback HTTP/1.1 server for tests, for the answers a real server
//! cannot be made to give (413, 429 with `Retry-After`, a hang, a slow
//! answer, a redirect) and for checking what a client sent. A handler
//! turns each request into a [`Reply`]; the server numbers the requests,
//! keeps them for assertions, and serves plain or TLS (rustls)
//! connections, keep-alive, one thread each. Stopped and joined on drop.
//!
//! One file shared by the unit tests (`crate::testutil::http_server`) and
//! the integration tests (`tests/util` includes it with `#[path]`), so it
//! uses only std and rustls.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its number, from 0, in the order the server finished reading them.
    pub index: usize,
    pub method: String,
    pub path: String,
    /// The request line and the headers as sent, up to the blank line
    /// (included).
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// What the server answers to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
    hang: bool,
    close: bool,
}

impl Reply {
    /// `status` with an empty body; the connection stays open.
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            hang: false,
            close: false,
        }
    }

    /// No answer at all: the connection is held open until the server
    /// stops or the client gives up.
    pub fn hang() -> Reply {
        Reply {
            hang: true,
            ..Reply::new(0)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The body (`Content-Length` is set from it; a HEAD request gets
    /// the length without the body).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// Answers after `delay` (cut short when the server stops).
    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// Sends `Connection: close` and closes after the answer.
    pub fn close(mut self) -> Reply {
        self.close = true;
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: AtomicBool,
    count: AtomicUsize,
    requests: Mutex<Vec<Request>>,
}

/// The server; see the module documentation.
pub struct HttpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// A plain HTTP server on a free loopback port.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HttpServer {
        HttpServer::spawn(None, Box::new(handler))
    }

    /// An HTTPS server on a free loopback port.
    pub fn start_tls(
        tls: Arc<rustls::ServerConfig>,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> HttpServer {
        HttpServer::spawn(Some(tls), Box::new(handler))
    }

    fn spawn(tls: Option<Arc<rustls::ServerConfig>>, handler: Box<Handler>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test HTTP server");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            handler,
            tls,
            stop: AtomicBool::new(false),
            count: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            for conn in listener.incoming() {
                if sh.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let sh = sh.clone();
                conns.push(std::thread::spawn(move || serve(conn, &sh)));
            }
            for c in conns {
                let _ = c.join();
            }
        });
        HttpServer {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests read so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many requests were read so far.
    pub fn count(&self) -> usize {
        self.shared.count.load(Ordering::Relaxed)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How often a connection thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

fn serve(conn: TcpStream, shared: &Shared) {
    let _ = conn.set_read_timeout(Some(POLL));
    match &shared.tls {
        Some(cfg) => {
            let Ok(tls) = rustls::ServerConnection::new(cfg.clone()) else {
                return;
            };
            serve_stream(rustls::StreamOwned::new(tls, conn), shared);
        }
        None => serve_stream(conn, shared),
    }
}

/// Answers the requests of one connection until the peer closes, a reply
/// closes or hangs, or the server stops.
fn serve_stream<S: Read + Write>(mut stream: S, shared: &Shared) {
    let mut buf = Vec::new();
    while let Some((head, body)) = read_request(&mut stream, &mut buf, &shared.stop) {
        let mut words = head.split_whitespace();
        let method = words.next().unwrap_or("").to_string();
        let path = words.next().unwrap_or("").to_string();
        let request = Request {
            index: shared.count.fetch_add(1, Ordering::Relaxed),
            method,
            path,
            head,
            body,
        };
        let reply = (shared.handler)(&request);
        let head_only = request.method == "HEAD";
        shared.requests.lock().unwrap().push(request);
        if reply.hang {
            wait(Duration::MAX, &shared.stop);
            return;
        }
        if !wait(reply.delay, &shared.stop) {
            return;
        }
        let mut out = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
        for (name, value) in &reply.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
        if reply.close {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&reply.body);
        }
        if stream
            .write_all(&bytes)
            .and_then(|_| stream.flush())
            .is_err()
            || reply.close
        {
            return;
        }
    }
}

/// Sleeps `d` in steps; false when the server stopped meanwhile.
fn wait(d: Duration, stop: &AtomicBool) -> bool {
    let start = Instant::now();
    while start.elapsed() < d {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(POLL.min(d - start.elapsed()));
    }
    true
}

/// The next request's head and body; `buf` keeps what was read past it.
fn read_request<S: Read>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    stop: &AtomicBool,
) -> Option<(String, Vec<u8>)> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 << 10 || !fill(stream, buf, stop) {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.trim().parse().unwrap_or(0));
    while buf.len() < head_end + len {
        if !fill(stream, buf, stop) {
            return None;
        }
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Some((head, body))
}

/// Reads more into `buf`; false at the end of the stream, on an error,
/// or when the server stops.
fn fill<S: Read>(stream: &mut S, buf: &mut Vec<u8>, stop: &AtomicBool) -> bool {
    let mut chunk = [0u8; 16 << 10];
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return false,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Test",
    }
}
