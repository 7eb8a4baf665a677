//! The HTTP listener under hostile clients from the LAN (issue 17): the real
//! agent, its descriptors limited to 1,024 as systemd does, against 600 idle
//! and slowloris connections, and against a client that sends a 16 MB path
//! and never reads its answer. `/healthz` and the status page must answer
//! during the attack and after it, the agent must not grow a thread or keep
//! a descriptor per connection, and it must close idle and slow clients by
//! itself.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::util::agent::Agent;
use crate::util::servers::{free_port, try_http_get};

/// systemd's default `LimitNOFILE` soft limit for a service.
const SYSTEMD_NOFILE: u64 = 1024;
/// Hostile connections: enough to need more than 1,024 descriptors when
/// each costs a thread and two descriptors (the listener before issue 17).
const IDLE: usize = 300;
const SLOWLORIS: usize = 300;
/// How long the agent may take to close a client that never completes its
/// request head (the listener's head timeout is 10 s).
const CLOSE_WITHIN: Duration = Duration::from_secs(30);
/// Per request of ours while the attack runs; a stalled listener misses it.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

fn config(listen: &str) -> String {
    format!(
        "sentinel:\n  name: lan-test\n  region: lab\n\
         sender:\n  mode: direct\n  flush_interval: 1s\n  direct:\n    central:\n      url: http://127.0.0.1:{}/api/v1/write\n\
         buffer:\n  sync: interval\n\
         http:\n  listen: \"{listen}\"\n\
         tasks:\n  - id: gw\n    device_id: gateway\n    plugin: ping\n    interval: 1s\n    \
         config: {{host: 127.0.0.1, count: 1, timeout: 500ms}}\n",
        free_port()
    )
}

/// Starts the agent on a free port and waits until `/healthz` answers.
fn start_agent() -> (Agent, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut agent = Agent::start(&config(&addr.to_string()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while try_http_get(&format!("http://{addr}/healthz"), ASK_TIMEOUT).map(|r| r.0) != Some(200) {
        assert!(agent.is_running(), "the agent exited\n{}", agent.log_tail());
        assert!(
            Instant::now() < deadline,
            "/healthz never answered\n{}",
            agent.log_tail()
        );
        sleep(Duration::from_millis(200));
    }
    (agent, addr)
}

/// Lowers the agent's descriptor limit as systemd's default would.
fn limit_descriptors(pid: u32, limit: u64) {
    let rl = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: prlimit(2) on our own child with a valid struct.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &rl,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(
        rc,
        0,
        "prlimit(RLIMIT_NOFILE) on the agent failed (the test needs root): {}",
        std::io::Error::last_os_error()
    );
}

fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Threads: in /proc/PID/status")
}

/// The agent's threads by name, without the pools that grow and shrink
/// with the agent's other work (sled's I/O pool, actix's blocking pool).
fn steady_threads(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.starts_with("sled-io") && n != "tokio-rt-worker")
        .collect();
    names.sort();
    names
}

fn descriptors_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// `/healthz` and the status page both answer 200 in time, `rounds` times.
fn serves(addr: SocketAddr, rounds: usize, when: &str, agent: &Agent) {
    for round in 0..rounds {
        for path in ["/healthz", "/"] {
            let got = try_http_get(&format!("http://{addr}{path}"), ASK_TIMEOUT);
            assert!(
                matches!(got, Some((200, _))),
                "{when}: GET {path} (round {}) got {:?} instead of 200 within {ASK_TIMEOUT:?}\n{}",
                round + 1,
                got.map(|g| g.0),
                agent.log_tail()
            );
        }
    }
}

/// Whether the agent has closed its end of `s` (EOF or reset).
fn closed_by_agent(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an error page, then the close
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn six_hundred_idle_and_slowloris_clients_under_1024_descriptors_leave_the_listener_serving() {
    let (agent, addr) = start_agent();
    let pid = agent.pid();
    limit_descriptors(pid, SYSTEMD_NOFILE);
    let threads_before = threads_of(pid);
    let steady_before = steady_threads(pid);
    let fds_before = descriptors_of(pid);

    // Idle sockets say nothing; slowloris sockets start a request and then
    // add one byte of a header every half second, forever.
    let mut idle = Vec::new();
    let mut slow = Vec::new();
    for i in 0..IDLE + SLOWLORIS {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap_or_else(|e| {
            panic!(
                "connection {} of {}: {e}; the listener stopped accepting\n{}",
                i + 1,
                IDLE + SLOWLORIS,
                agent.log_tail()
            )
        });
        if i % 2 == 0 {
            idle.push(s);
        } else {
            let _ = s.write_all(b"GET / HTTP/1.1\r\nX-Slow: ");
            slow.push(s);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        let slow: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            let mut slow = slow;
            while !stop.load(Ordering::Relaxed) {
                for s in &mut slow {
                    let _ = s.write(b"a");
                }
                sleep(Duration::from_millis(500));
            }
        })
    };
    sleep(Duration::from_secs(1));

    // During the attack.
    serves(addr, 3, "600 hostile connections open", &agent);
    let threads_during = threads_of(pid);
    let fds_during = descriptors_of(pid);
    let steady_during = steady_threads(pid);
    eprintln!(
        "listener under attack: threads {threads_before} -> {threads_during}, \
         descriptors {fds_before} -> {fds_during}"
    );
    assert!(
        steady_during.len() <= steady_before.len() && threads_during < 64,
        "600 connections grew the agent from {threads_before} to {threads_during} threads: \
         {steady_before:?} -> {steady_during:?}"
    );
    assert!(
        fds_during <= fds_before + 100,
        "600 connections grew the agent from {fds_before} to {fds_during} descriptors"
    );

    // The agent closes every one of them by itself, the slowloris ones
    // although they keep sending.
    let deadline = Instant::now() + CLOSE_WITHIN;
    let mut open: Vec<TcpStream> = idle.into_iter().chain(slow).collect();
    for s in &open {
        s.set_nonblocking(true).unwrap();
    }
    while !open.is_empty() {
        open.retain_mut(|s| !closed_by_agent(s));
        if open.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of the {} idle and slowloris connections were still open after {CLOSE_WITHIN:?}",
            open.len(),
            IDLE + SLOWLORIS
        );
        serves(addr, 1, "while idle and slow clients are timed out", &agent);
        sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    trickle.join().unwrap();

    // After the clients left.
    serves(addr, 3, "after the hostile clients left", &agent);
    let steady_after = steady_threads(pid);
    assert!(
        steady_after.len() <= steady_before.len(),
        "threads before the attack: {steady_before:?}; after it: {steady_after:?}"
    );
    let log = std::fs::read_to_string(agent.state_dir().join("agent.log")).unwrap();
    assert!(
        !log.contains("Too many open files"),
        "the agent ran out of descriptors\n{}",
        agent.log_tail()
    );
}

#[test]
fn a_client_sending_a_16_mb_path_and_never_reading_stalls_nobody() {
    let (agent, addr) = start_agent();
    let stop = Arc::new(AtomicBool::new(false));
    let (sent_tx, sent) = std::sync::mpsc::channel();
    let hog = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut request = b"GET /".to_vec();
            request.resize(16 << 20, b'a');
            request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
            // The agent may stop reading and close: that is its right.
            let _ = s.write_all(&request);
            let _ = sent_tx.send(());
            // Never read the answer; keep the connection until told.
            while !stop.load(Ordering::Relaxed) {
                sleep(Duration::from_millis(100));
            }
        })
    };
    // Once the agent has taken the request (or refused the rest of it),
    // its answer waits for a reader that never comes.
    sent.recv_timeout(Duration::from_secs(120))
        .expect("the agent neither took nor refused the 16 MB request within 120 s");
    for round in 0..6 {
        sleep(Duration::from_secs(1));
        let got = try_http_get(&format!("http://{addr}/healthz"), ASK_TIMEOUT);
        assert!(
            matches!(got, Some((200, _))),
            "/healthz (round {}) got {:?} instead of 200 within {ASK_TIMEOUT:?} while a client \
             that does not read holds its answer\n{}",
            round + 1,
            got.map(|g| g.0),
            agent.log_tail()
        );
    }
    serves(addr, 1, "while a client does not read", &agent);

    // What the agent echoes is bounded: a 4,000-byte path gets a short 404,
    // a request line longer than the agent reads gets 414, not an echo.
    let long = "b".repeat(4000);
    let (status, body) =
        try_http_get(&format!("http://{addr}/{long}"), ASK_TIMEOUT).expect("GET a long path");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.starts_with("no such page: /bbb") && body.len() < 300,
        "the 404 page echoes {} bytes: {}...",
        body.len(),
        &body[..body.len().min(80)]
    );
    let huge = "c".repeat(20_000);
    let got = try_http_get(&format!("http://{addr}/{huge}"), ASK_TIMEOUT);
    assert!(
        matches!(got, Some((414, ref b)) if b.len() < 300),
        "a 20,000-byte path: {:?}",
        got.map(|(s, b)| (s, b.len()))
    );

    stop.store(true, Ordering::Relaxed);
    hog.join().unwrap();
    serves(addr, 1, "after the client left", &agent);
}

#[test]
fn out_of_descriptors_the_listener_keeps_accepting() {
    let (agent, addr) = start_agent();
    let pid = agent.pid();
    // Room for a few connections only: descriptors run out in accept.
    limit_descriptors(pid, descriptors_of(pid) as u64 + 8);
    let idle: Vec<TcpStream> = (0..30)
        .map(|i| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .unwrap_or_else(|e| panic!("idle connection {}: {e}", i + 1))
        })
        .collect();
    sleep(Duration::from_secs(1));
    serves(addr, 3, "with the agent out of descriptors", &agent);
    assert!(
        !agent
            .lines_with_msg("HTTP listener cannot take a connection; it keeps trying.")
            .is_empty(),
        "the listener never ran out of descriptors, so this test proves nothing\n{}",
        agent.log_tail()
    );
    drop(idle);
    sleep(Duration::from_secs(1));
    serves(addr, 3, "after the clients left", &agent);
}
