//! The shared pinger: one ICMP socket per address family (and network
//! namespace, and TTL) for every ping task of the agent, with one receiver
//! thread that matches each reply to the echo it answers. Plain threads, no
//! actix: the socket blocks.
//!
//! Why: a hub agent pings thousands of hosts every few seconds. A socket
//! and a thread per task and run cost file descriptors, wake-ups and, on a
//! raw socket, a copy of every ICMP packet of the host for each socket.
//! With one socket the kernel delivers each reply once.
//!
//! Matching. `send` files each echo under a key (identifier, sequence)
//! taken from a counter, before the packet leaves. On a raw socket the
//! identifier is ours (a random base plus the counter's high bits), so
//! 2^32 echoes can be in flight; on a datagram socket the kernel writes
//! its own identifier, so the 65,536 sequence numbers are the limit (a
//! taken key is skipped). The receiver thread takes a reply only when its
//! key is filed, it comes from the address the echo went to, its payload is
//! the run's (a random per-run token, the echo's sequence number, the
//! `ping(8)` pattern) and it came within the echo's timeout; it records the
//! RTT in the run's `EchoBoard` and wakes the run. Everything else (other
//! pingers' replies, duplicates, damaged or late packets) is dropped.
//!
//! RTTs: send time is taken just before `send_to`, arrival time right
//! after `recv_from` returns, both on the monotonic clock.
//!
//! Lifetime. `Pinger::get` finds or opens the pinger for the calling
//! thread's network namespace (tests ping from threads inside namespaces),
//! family and TTL. A pinger nobody has used for `LINGER` closes its socket
//! and its thread ends.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::icmp::{self, Family, IcmpSocket, ICMP_HEADER_LEN, IPV4_MAX_HEADER_LEN};
use super::ProbeError;

/// How long an unused pinger keeps its socket and thread.
pub const LINGER: Duration = Duration::from_secs(60);
/// Receive buffer asked for on the shared socket: room for a burst of a
/// few thousand replies while the receiver thread is descheduled.
pub const RECV_BUFFER_BYTES: usize = 8 << 20;
/// How often the receiver thread wakes with nothing to read, to notice
/// that it is no longer used.
const IDLE_WAKE: Duration = Duration::from_millis(500);
/// The largest packet received (an IPv4 header and a full-size echo).
const RECV_BUF_LEN: usize = IPV4_MAX_HEADER_LEN + ICMP_HEADER_LEN + 65_535;
/// Bytes of the per-run token at the start of every payload.
pub const TOKEN_LEN: usize = 8;

/// Which pinger: namespace inode, family, TTL.
type PingerKey = (u64, Family, Option<u32>);

/// Every open pinger. A pinger stays here while it lives; its receiver
/// thread removes it under this lock, only when nobody uses it.
fn registry() -> &'static Mutex<HashMap<PingerKey, Arc<Pinger>>> {
    static PINGERS: OnceLock<Mutex<HashMap<PingerKey, Arc<Pinger>>>> = OnceLock::new();
    PINGERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The network namespace of the calling thread, as its inode number.
fn current_netns() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// One echo in flight.
struct Pending {
    target: IpAddr,
    sent_at: Instant,
    timeout: Duration,
    board: Arc<EchoBoard>,
    /// Which echo of the run (`EchoBoard::rtts_ms` index).
    slot: usize,
}

/// The shared socket of one family, and the echoes in flight on it.
pub struct Pinger {
    socket: IcmpSocket,
    /// Random base of our identifiers (raw sockets).
    ident_base: u16,
    state: Mutex<State>,
}

struct State {
    /// Echoes sent so far: the low 16 bits are the sequence number.
    counter: u32,
    pending: HashMap<(u16, u16), Pending>,
    /// Runs holding this pinger (`Lease`s alive).
    users: usize,
    last_used: Instant,
}

/// A run's hold on a pinger; released on drop.
pub struct Lease {
    pinger: Arc<Pinger>,
}

impl std::ops::Deref for Lease {
    type Target = Pinger;
    fn deref(&self) -> &Pinger {
        &self.pinger
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut st = self.pinger.state.lock().unwrap_or_else(|e| e.into_inner());
        st.users -= 1;
        st.last_used = Instant::now();
    }
}

/// The RTTs of one run's echoes, filled in by the receiver thread.
pub struct EchoBoard {
    inner: Mutex<Board>,
    changed: Condvar,
    /// The payload every echo of the run carries (bytes 8..10 replaced by
    /// the echo's sequence number when there is room).
    payload: Vec<u8>,
}

struct Board {
    rtts_ms: Vec<Option<f64>>,
    answered: usize,
}

impl EchoBoard {
    /// A board for `echoes` echoes with a fresh payload of `size` bytes.
    pub fn new(echoes: usize, size: usize) -> Arc<EchoBoard> {
        let token = crate::random::random_u64().to_be_bytes();
        Arc::new(EchoBoard {
            inner: Mutex::new(Board {
                rtts_ms: vec![None; echoes],
                answered: 0,
            }),
            changed: Condvar::new(),
            payload: super::ping::make_payload(&token, size),
        })
    }

    /// The payload of the echo with sequence number `seq`.
    fn payload_for(&self, seq: u16) -> Vec<u8> {
        let mut p = self.payload.clone();
        if p.len() >= TOKEN_LEN + 2 {
            p[TOKEN_LEN..TOKEN_LEN + 2].copy_from_slice(&seq.to_be_bytes());
        }
        p
    }

    /// Whether `payload` is the one sent with `seq`.
    fn matches(&self, seq: u16, payload: &[u8]) -> bool {
        if payload.len() != self.payload.len() {
            return false;
        }
        if payload.len() >= TOKEN_LEN + 2 {
            payload[..TOKEN_LEN] == self.payload[..TOKEN_LEN]
                && payload[TOKEN_LEN..TOKEN_LEN + 2] == seq.to_be_bytes()
                && payload[TOKEN_LEN + 2..] == self.payload[TOKEN_LEN + 2..]
        } else {
            payload == self.payload.as_slice()
        }
    }

    /// Waits until every echo is answered, `until` passes, or `wake`
    /// passes (for the next send); `true` when all are answered.
    pub fn wait(&self, until: Instant) -> bool {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if b.answered == b.rtts_ms.len() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            b = self
                .changed
                .wait_timeout(b, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The RTTs, `None` for echoes not answered in time.
    pub fn rtts_ms(&self) -> Vec<Option<f64>> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rtts_ms
            .clone()
    }

    fn record(&self, slot: usize, rtt_ms: f64) {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if b.rtts_ms[slot].is_none() {
            b.rtts_ms[slot] = Some(rtt_ms);
            b.answered += 1;
            if b.answered == b.rtts_ms.len() {
                self.changed.notify_all();
            }
        }
    }
}

impl Pinger {
    /// The pinger for `family` and `ttl` in the calling thread's network
    /// namespace, opened (with its receiver thread) if there is none.
    pub fn get(family: Family, ttl: Option<u32>) -> Result<Lease, ProbeError> {
        let key = (current_netns(), family, ttl);
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = reg.get(&key) {
            p.state.lock().unwrap_or_else(|e| e.into_inner()).users += 1;
            return Ok(Lease { pinger: p.clone() });
        }
        let socket = icmp::create_socket(family)?;
        if let Some(ttl) = ttl {
            socket.set_ttl(ttl)?;
        }
        socket.grow_recv_buffer(RECV_BUFFER_BYTES);
        socket.only_echo_replies();
        let pinger = Arc::new(Pinger {
            socket,
            ident_base: crate::random::random_u64() as u16,
            state: Mutex::new(State {
                counter: 0,
                pending: HashMap::new(),
                users: 1,
                last_used: Instant::now(),
            }),
        });
        let weak = Arc::downgrade(&pinger);
        std::thread::Builder::new()
            .name(format!("pinger-{family:?}").to_lowercase())
            .spawn(move || receive_loop(weak, key))
            .map_err(|source| ProbeError::Socket {
                version: if family == Family::V4 { "" } else { "v6" },
                source,
            })?;
        reg.insert(key, pinger.clone());
        Ok(Lease { pinger })
    }

    /// Sends one echo to `target` for `board`'s echo `slot`; the reply
    /// counts within `timeout`. Returns the key to `forget` when the run
    /// ends, or `None` when the kernel refused to send (counted as lost).
    pub fn send(
        &self,
        target: SocketAddr,
        board: &Arc<EchoBoard>,
        slot: usize,
        timeout: Duration,
    ) -> Option<(u16, u16)> {
        let (key, packet) = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let mut key;
            let mut tries = 0u32;
            loop {
                let n = st.counter;
                st.counter = st.counter.wrapping_add(1);
                let ours = self.ident_base.wrapping_add((n >> 16) as u16);
                key = (self.socket.ident(ours), n as u16);
                tries += 1;
                if !st.pending.contains_key(&key) {
                    break;
                }
                if tries > 65_536 {
                    log::warn!(error = "more than 65536 echoes in flight on one datagram socket"; "Echo request not sent.");
                    return None;
                }
            }
            // A datagram socket overwrites the identifier with key.0 anyway.
            let packet = icmp::encode_echo_request(
                self.socket.family(),
                key.0,
                key.1,
                &board.payload_for(key.1),
            );
            st.pending.insert(
                key,
                Pending {
                    target: target.ip(),
                    // Filed before the packet leaves, so a fast reply finds
                    // it; the send follows right after the lock is released.
                    sent_at: Instant::now(),
                    timeout,
                    board: board.clone(),
                    slot,
                },
            );
            (key, packet)
        };
        match self.socket.send_to(&packet, target) {
            Ok(_) => Some(key),
            Err(e) => {
                log::debug!(error:% = e; "Echo request not sent.");
                self.forget(&[key]);
                None
            }
        }
    }

    /// Drops the keys of a finished run (answered ones are gone already).
    pub fn forget(&self, keys: &[(u16, u16)]) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            st.pending.remove(k);
        }
    }

    /// Handles one received packet.
    fn take(&self, packet: &[u8], from: IpAddr, arrived: Instant) {
        let family = self.socket.family();
        let has_ip = self.socket.has_ip_header();
        // Decode without an identifier check first: the key decides.
        let Some((ident, seq)) = peek_key(family, has_ip, packet) else {
            return;
        };
        let Ok(reply) = icmp::parse_reply(family, has_ip, packet, ident) else {
            return;
        };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(p) = st.pending.get(&(ident, seq)) else {
            return;
        };
        if p.target != from || !p.board.matches(seq, reply.payload) {
            return;
        }
        let rtt = arrived.saturating_duration_since(p.sent_at);
        if rtt > p.timeout {
            return;
        }
        let p = st.pending.remove(&(ident, seq)).expect("present above");
        drop(st);
        p.board.record(p.slot, rtt.as_secs_f64() * 1000.0);
    }
}

/// The identifier and sequence number of an echo reply, if `packet` looks
/// like one (the full checks are `icmp::parse_reply`'s).
fn peek_key(family: Family, has_ip_header: bool, packet: &[u8]) -> Option<(u16, u16)> {
    let icmp = if has_ip_header {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        packet.get(ihl..)?
    } else {
        packet
    };
    let h = icmp.get(..ICMP_HEADER_LEN)?;
    let _ = family;
    Some((
        u16::from_be_bytes([h[4], h[5]]),
        u16::from_be_bytes([h[6], h[7]]),
    ))
}

/// The receiver thread: reads replies until the pinger has been unused for
/// `LINGER`, then removes it from the registry and ends.
fn receive_loop(weak: Weak<Pinger>, key: PingerKey) {
    let mut buf = vec![0u8; RECV_BUF_LEN];
    loop {
        let Some(pinger) = weak.upgrade() else { return };
        match pinger.socket.recv_from(&mut buf, IDLE_WAKE) {
            Ok(Some((len, from))) => {
                let arrived = Instant::now();
                pinger.take(&buf[..len], from, arrived);
                continue;
            }
            Ok(None) => {}
            // Queued ICMP errors for earlier requests: part of what is
            // measured (those echoes are lost), not a reason to stop.
            Err(e) => {
                log::debug!(error:% = e; "Receiving echo replies failed.");
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        }
        let idle = {
            let st = pinger.state.lock().unwrap_or_else(|e| e.into_inner());
            st.users == 0 && st.pending.is_empty() && st.last_used.elapsed() >= LINGER
        };
        if idle {
            let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
            // Re-check under the registry lock: `get` leases under it.
            let still_idle = pinger.state.lock().map(|st| st.users == 0).unwrap_or(false);
            if still_idle {
                if reg.get(&key).is_some_and(|p| Arc::ptr_eq(p, &pinger)) {
                    reg.remove(&key);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_the_sequence_number() {
        let b = EchoBoard::new(2, 16);
        let p = b.payload_for(0x0102);
        assert_eq!(p.len(), 16);
        assert_eq!(&p[8..10], &[1, 2]);
        assert!(b.matches(0x0102, &p));
        assert!(!b.matches(0x0103, &p));
        let mut other = p.clone();
        other[0] ^= 1;
        assert!(!b.matches(0x0102, &other));
        assert!(!b.matches(0x0102, &p[..15]));
        // Too small for the sequence number: the token alone.
        let small = EchoBoard::new(1, 4);
        assert!(small.matches(7, &small.payload_for(7)));
    }

    #[test]
    fn board_counts_each_echo_once() {
        let b = EchoBoard::new(2, 8);
        b.record(1, 2.0);
        b.record(1, 3.0);
        assert!(!b.wait(Instant::now()));
        b.record(0, 1.0);
        assert!(b.wait(Instant::now() + Duration::from_secs(1)));
        assert_eq!(b.rtts_ms(), [Some(1.0), Some(2.0)]);
    }

    #[test]
    fn keys_are_read_from_both_layouts() {
        let echo = icmp::encode_echo_request(Family::V4, 0x1c2b, 7, b"abc");
        assert_eq!(peek_key(Family::V4, false, &echo), Some((0x1c2b, 7)));
        let mut with_ip = vec![0x45; 20];
        with_ip.extend_from_slice(&echo);
        assert_eq!(peek_key(Family::V4, true, &with_ip), Some((0x1c2b, 7)));
        assert_eq!(peek_key(Family::V6, false, &echo[..7]), None);
    }
}
