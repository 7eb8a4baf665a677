//! Network namespaces for the probe tests, removed on `Drop`.
//!
//! `NetnsPair::new()` builds two namespaces, `a` and `b`, joined by a veth
//! pair, with addresses that exist only inside them (`10.231.<n>.1/24` in
//! `a`, `.2` in `b`, and `fd00:5e17:<n>::1` / `::2`). Test code runs inside
//! a namespace on a thread of its own (`in_netns` calls `setns(2)`, which
//! moves only the calling thread; sockets stay in the namespace they were
//! created in), so nothing touches the host's interfaces or routes.
//!
//! `Responder` is a small ICMP echo responder for namespace `b`: with the
//! kernel's own replies switched off, it answers each echo request after a
//! fixed delay, optionally preceded by damaged or foreign replies.
//!
//! Everything needs root and the `ip` (iproute2) and `nft` (nftables)
//! binaries; `require_root_and_tools` fails the test with what to install.

use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// MAC addresses of the veth ends in `a` and `b` (locally administered;
/// they exist only on the link between the two namespaces).
const MAC_A: &str = "02:5e:17:00:00:01";
const MAC_B: &str = "02:5e:17:00:00:02";

/// Third octet of the next pair's subnet, so pairs in one test run differ.
static NEXT_PAIR: AtomicU32 = AtomicU32::new(0);

/// Fails the test unless it runs as root; `why` says what needs it.
pub fn require_root(why: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root ({why}); run the tests as root, \
         e.g. `sudo -E cargo test --test integration`"
    );
}

/// Fails the test unless it runs as root with `ip` and `nft` installed.
pub fn require_root_and_tools() {
    require_root("network namespaces, veth, nft rules and raw ICMP sockets");
    for tool in ["ip", "nft"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(
            found,
            "`{tool}` is not installed: the probe tests need it; run `apt-get install iproute2 nftables`"
        );
    }
}

/// Runs `cmd args...`, panicking with its stderr when it fails.
pub fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by veth; deleted with everything in them on drop.
pub struct NetnsPair {
    /// Name of namespace `a` (where the pinger runs).
    pub a: String,
    /// Name of namespace `b` (the far end).
    pub b: String,
    pub a_v4: Ipv4Addr,
    pub b_v4: Ipv4Addr,
    pub a_v6: Ipv6Addr,
    pub b_v6: Ipv6Addr,
    /// An address in the veth subnet that no namespace holds: echoes to it
    /// go nowhere.
    pub nobody_v4: Ipv4Addr,
}

impl NetnsPair {
    pub fn new() -> NetnsPair {
        require_root_and_tools();
        let n = NEXT_PAIR.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let pair = NetnsPair {
            a: format!("sentinel-test-{pid}-{n}-a"),
            b: format!("sentinel-test-{pid}-{n}-b"),
            a_v4: Ipv4Addr::new(10, 231, n as u8, 1),
            b_v4: Ipv4Addr::new(10, 231, n as u8, 2),
            a_v6: format!("fd00:5e17:{n:x}::1").parse().unwrap(),
            b_v6: format!("fd00:5e17:{n:x}::2").parse().unwrap(),
            nobody_v4: Ipv4Addr::new(10, 231, n as u8, 9),
        };
        // The guard exists from here on, so a failure below still cleans up.
        for ns in [&pair.a, &pair.b] {
            sh("ip", &["netns", "add", ns]);
            // No duplicate address detection: addresses (link-local ones
            // included) are usable at once, not after a second or so.
            for conf in ["all", "default"] {
                pair.sysctl(ns, &format!("net.ipv6.conf.{conf}.accept_dad"), "0");
            }
        }
        // Created inside `a` with its peer moved straight into `b`: the
        // host never sees either end.
        sh(
            "ip",
            &[
                "-n", &pair.a, "link", "add", "veth0", "address", MAC_A, "type", "veth", "peer",
                "name", "veth0", "address", MAC_B, "netns", &pair.b,
            ],
        );
        for (ns, v4, v6) in [
            (&pair.a, pair.a_v4, pair.a_v6),
            (&pair.b, pair.b_v4, pair.b_v6),
        ] {
            sh("ip", &["-n", ns, "link", "set", "lo", "up"]);
            sh(
                "ip",
                &["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", "veth0"],
            );
            sh(
                "ip",
                &[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{v6}/64"),
                    "dev",
                    "veth0",
                    "nodad",
                ],
            );
            sh("ip", &["-n", ns, "link", "set", "veth0", "up"]);
        }
        // Static neighbours: the first neighbour solicitation on a fresh
        // veth is often lost and retried only after a second, which would
        // eat the first echoes of a test. ARP and ND stay in use for every
        // other address (`nobody_v4` relies on that).
        for (ns, peer_mac, peer_ips) in [
            (&pair.a, MAC_B, [IpAddr::from(pair.b_v4), pair.b_v6.into()]),
            (&pair.b, MAC_A, [IpAddr::from(pair.a_v4), pair.a_v6.into()]),
        ] {
            for ip in peer_ips {
                sh(
                    "ip",
                    &[
                        "-n",
                        ns,
                        "neigh",
                        "replace",
                        &ip.to_string(),
                        "lladdr",
                        peer_mac,
                        "dev",
                        "veth0",
                        "nud",
                        "permanent",
                    ],
                );
            }
        }
        pair
    }

    /// Runs `ip netns exec <ns> <cmd> <args>`.
    pub fn exec(&self, ns: &str, cmd: &str, args: &[&str]) {
        let mut all = vec!["netns", "exec", ns, cmd];
        all.extend_from_slice(args);
        sh("ip", &all);
    }

    /// Loads an nft ruleset (`nft -f -` syntax) into namespace `ns`.
    pub fn nft(&self, ns: &str, ruleset: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run ip netns exec ... nft");
        io::Write::write_all(&mut child.stdin.take().unwrap(), ruleset.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nft -f - in {ns} failed: {}\n{ruleset}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Writes a sysctl of namespace `ns` (`net.ipv4.icmp_echo_ignore_all`).
    pub fn sysctl(&self, ns: &str, key: &str, value: &str) {
        self.exec(ns, "sysctl", &["-q", "-w", &format!("{key}={value}")]);
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace removes its veth end, which removes the peer,
        // and its nft tables. Errors are ignored: a half-built pair has
        // fewer parts to remove.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `f` on a new thread that has entered network namespace `ns`, and
/// returns its result.
pub fn in_netns<T, F>(ns: &str, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_in_netns(ns, f)
        .join()
        .expect("thread in netns panicked")
}

/// Starts a thread that enters network namespace `ns`, then runs `f`.
pub fn spawn_in_netns<T, F>(ns: &str, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    std::thread::spawn(move || {
        // SAFETY: `file` is an open namespace file for the whole call;
        // setns affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns({path}): {}", io::Error::last_os_error());
        f()
    })
}

/// What the responder sends for each echo request, after its delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponderMode {
    /// Only the real reply.
    Plain,
    /// First a reply with another identifier, one with another sequence
    /// number, one with a bad checksum and one cut short, then the real
    /// reply, then a duplicate of it.
    WithJunk,
}

/// An ICMPv4 echo responder in a namespace (with the kernel's echo replies
/// switched off there); stopped and joined on drop.
pub struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u32>>,
}

/// How often the responder thread checks whether it should stop.
const RESPONDER_POLL: Duration = Duration::from_millis(20);

impl Responder {
    /// Starts answering echo requests to namespace `pair.b` after `delay`.
    pub fn start(pair: &NetnsPair, delay: Duration, mode: ResponderMode) -> Responder {
        pair.sysctl(&pair.b, "net.ipv4.icmp_echo_ignore_all", "1");
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stop2 = stop.clone();
        let thread = spawn_in_netns(&pair.b, move || {
            let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
                .expect("responder: raw icmp socket");
            ready_tx.send(()).unwrap();
            respond(&socket, delay, mode, &stop2)
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("responder thread did not start");
        Responder {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the responder; returns how many requests it answered.
    pub fn stop(mut self) -> u32 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .unwrap()
            .join()
            .expect("responder panicked")
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The responder loop: collects requests, answers each when its delay is up.
fn respond(socket: &Socket, delay: Duration, mode: ResponderMode, stop: &AtomicBool) -> u32 {
    let mut pending: Vec<(Instant, SocketAddr, Vec<u8>)> = Vec::new();
    let mut answered = 0;
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        // Answer what is due.
        let mut i = 0;
        while i < pending.len() {
            if pending[i].0 <= now {
                let (_, to, request) = pending.remove(i);
                for packet in replies_for(&request, mode) {
                    let _ = socket.send_to(&packet, &SockAddr::from(to));
                }
                answered += 1;
            } else {
                i += 1;
            }
        }
        let wait = pending
            .iter()
            .map(|p| p.0.saturating_duration_since(now))
            .min()
            .unwrap_or(RESPONDER_POLL)
            .min(RESPONDER_POLL);
        // poll(2) rather than SO_RCVTIMEO, which the kernel rounds up to
        // whole jiffies (4 ms at HZ=250) and would make every reply late.
        let mut pfd = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = wait.as_nanos().div_ceil(1_000_000) as libc::c_int;
        // SAFETY: one valid pollfd, count 1.
        if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
            continue;
        }
        let Ok((n, from)) = socket.recv_from_with_flags(&mut buf, libc::MSG_DONTWAIT) else {
            continue;
        };
        let arrived = Instant::now();
        // SAFETY: recv_from initialised the first `n` bytes.
        let packet: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        if packet.len() >= ihl + 8 && packet[ihl] == 8 {
            if let Some(from) = from.as_socket() {
                pending.push((arrived + delay, from, packet[ihl..].to_vec()));
            }
        }
    }
    answered
}

/// The packets sent back for one echo `request` (ICMP part only).
fn replies_for(request: &[u8], mode: ResponderMode) -> Vec<Vec<u8>> {
    let real = echo_reply(request, |_| {});
    match mode {
        ResponderMode::Plain => vec![real],
        ResponderMode::WithJunk => {
            let wrong_ident = echo_reply(request, |p| p[4] ^= 0x5a);
            let wrong_seq = echo_reply(request, |p| p[6] ^= 0x80);
            let mut bad_checksum = real.clone();
            bad_checksum[2] ^= 0x01;
            // Cut after 4 payload bytes, with a checksum valid for what is
            // left: only the payload comparison can reject it.
            let truncated = echo_reply(&request[..12.min(request.len())], |_| {});
            vec![
                wrong_ident,
                wrong_seq,
                bad_checksum,
                truncated,
                real.clone(),
                real,
            ]
        }
    }
}

/// An echo reply to `request` after `tweak` edits it, with its checksum.
fn echo_reply(request: &[u8], tweak: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut p = request.to_vec();
    p[0] = 0; // echo reply
    tweak(&mut p);
    p[2] = 0;
    p[3] = 0;
    let c = inet_checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// RFC 1071 checksum, written again here so the tests do not trust the
/// code under test.
fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `ip` as the `host` string of a `PingConfig`.
pub fn host(ip: impl Into<IpAddr>) -> String {
    ip.into().to_string()
}
