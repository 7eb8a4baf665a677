//! The ping plugin: one run sends `count` ICMP echo requests `interval`
//! apart to `host` and turns the replies into the `ping_*` samples of
//! DESIGN.md ("Data model").
//!
//! `run` is blocking and bounded: it returns at most `RUN_MARGIN` after
//! `PingConfig::max_run_time()` (the gaps between requests plus `timeout`),
//! and earlier once every echo is answered. The probe actor calls it off
//! the event loop; `sentinel trigger ping` calls it directly.
//!
//! Matching. Each run opens its own socket and picks a fresh identifier
//! and a random payload token. A reply counts when it carries our
//! identifier (the kernel's, for a datagram socket), the sequence number
//! of an echo already sent and not yet answered, our exact payload, comes
//! from the target, and arrives within `timeout` of its request. Everything
//! else (other pingers' replies on a raw socket, duplicates, damaged or
//! truncated packets, our own requests on loopback) is ignored, so several
//! runs in different threads never take each other's replies.
//!
//! A request the kernel refuses to send (no route, neighbour unreachable)
//! counts as sent and lost, like an unanswered one: for a monitoring agent
//! an unreachable host is a measurement (`ping_reachable 0`), not an error.
//! RTTs are measured on the monotonic clock (`Instant`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use super::icmp::{self, Family, ICMP_HEADER_LEN, IPV4_MAX_HEADER_LEN};
use super::ProbeError;
use crate::config::{IpVersion, PingConfig};
use crate::sample::{Labels, Sample};

/// How long past `max_run_time()` a run may last when sending fell behind
/// schedule (a busy machine): the last echo still gets most of its timeout,
/// and the caller's bound holds.
pub const RUN_MARGIN: Duration = Duration::from_millis(100);
/// Bytes of the random per-run token at the start of every payload.
pub const TOKEN_LEN: usize = 8;
/// Extra room in the receive buffer beyond the largest reply we expect, so
/// an oversized foreign packet is seen as "not ours" rather than cut to
/// look like ours.
const RECV_SLACK: usize = 64;

/// The result of one run, before it is turned into samples.
#[derive(Debug, Clone, PartialEq)]
pub struct PingOutcome {
    /// The configured host string, as given (the `host` label).
    pub host: String,
    /// The address that was pinged.
    pub target: IpAddr,
    /// Echo requests attempted (sent or refused by the kernel).
    pub sent: u32,
    /// Echo requests answered in time, each counted once.
    pub received: u32,
    /// Round-trip times of the answered requests, in sequence order.
    pub rtts_ms: Vec<f64>,
}

/// Pings `cfg.host` once: `cfg.count` echoes `cfg.interval` apart, then
/// waits up to `cfg.timeout` for the last replies.
pub fn run(cfg: &PingConfig) -> Result<PingOutcome, ProbeError> {
    let target = resolve(&cfg.host, cfg.ip_version)?;
    let socket = icmp::create_socket(Family::of(&target.ip()))?;
    if let Some(ttl) = cfg.ttl {
        socket.set_ttl(ttl)?;
    }
    let (our_ident, token) = fresh_ident_and_token();
    let ident = socket.ident(our_ident);
    let payload = make_payload(&token, cfg.size);
    let count = cfg.count as usize;

    let start = Instant::now();
    let hard_deadline = start + cfg.max_run_time() + RUN_MARGIN;
    // When each request left, `None` until sent or when sending failed.
    let mut sent_at: Vec<Option<Instant>> = vec![None; count];
    let mut rtts: Vec<Option<f64>> = vec![None; count];
    let mut received = 0usize;
    let mut next = 0usize;
    // Set once the last request is out: its send time plus `timeout`.
    let mut deadline = hard_deadline;
    let mut buf = vec![0u8; IPV4_MAX_HEADER_LEN + ICMP_HEADER_LEN + cfg.size + RECV_SLACK];

    loop {
        let now = Instant::now();
        if next < count && now >= start + cfg.interval * next as u32 {
            let seq = next as u16;
            let packet = icmp::encode_echo_request(socket.family(), our_ident, seq, &payload);
            match socket.send_to(&packet, target) {
                Ok(_) => sent_at[next] = Some(Instant::now()),
                Err(e) => log::debug!(error:% = e; "Echo request not sent."),
            }
            next += 1;
            if next == count {
                deadline = (Instant::now() + cfg.timeout).min(hard_deadline);
            }
            continue;
        }
        if next == count && (received == count || now >= deadline) {
            break;
        }
        let wake = if next < count {
            start + cfg.interval * next as u32
        } else {
            deadline
        };
        let Some((len, from)) = recv(&socket, &mut buf, wake.saturating_duration_since(now))
            .map_err(|source| ProbeError::Receive {
                target: target.ip(),
                source,
            })?
        else {
            continue;
        };
        let arrived = Instant::now();
        if from != target.ip() {
            continue;
        }
        let reply =
            match icmp::parse_reply(socket.family(), socket.has_ip_header(), &buf[..len], ident) {
                Ok(r) => r,
                Err(_) => continue,
            };
        let seq = usize::from(reply.seq);
        if seq >= next || reply.payload != payload.as_slice() || rtts[seq].is_some() {
            continue;
        }
        let Some(at) = sent_at[seq] else { continue };
        let rtt = arrived.duration_since(at);
        if rtt <= cfg.timeout {
            rtts[seq] = Some(rtt.as_secs_f64() * 1000.0);
            received += 1;
        }
    }

    Ok(PingOutcome {
        host: cfg.host.clone(),
        target: target.ip(),
        sent: count as u32,
        received: received as u32,
        rtts_ms: rtts.into_iter().flatten().collect(),
    })
}

/// One receive; errors the kernel reports for earlier requests (an ICMP
/// error queued on the socket) are part of what is measured, not failures.
fn recv(
    socket: &icmp::IcmpSocket,
    buf: &mut [u8],
    timeout: Duration,
) -> io::Result<Option<(usize, IpAddr)>> {
    match socket.recv_from(buf, timeout) {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(
                    libc::EHOSTUNREACH
                        | libc::ENETUNREACH
                        | libc::ECONNREFUSED
                        | libc::EHOSTDOWN
                        | libc::ENETDOWN
                        | libc::EMSGSIZE
                )
            ) =>
        {
            Ok(None)
        }
        r => r,
    }
}

/// `host` as a socket address of the wanted IP version: an IP literal as
/// is, a name through the system resolver (first matching address).
pub fn resolve(host: &str, ip_version: IpVersion) -> Result<SocketAddr, ProbeError> {
    let wanted = match ip_version {
        IpVersion::Any => "IP",
        IpVersion::V4 => "IPv4",
        IpVersion::V6 => "IPv6",
    };
    let fits = |a: &SocketAddr| match ip_version {
        IpVersion::Any => true,
        IpVersion::V4 => a.is_ipv4(),
        IpVersion::V6 => a.is_ipv6(),
    };
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, 0)],
        Err(_) => (host, 0)
            .to_socket_addrs()
            .map_err(|source| ProbeError::Resolve {
                host: host.to_string(),
                source,
            })?
            .collect(),
    };
    addrs
        .into_iter()
        .find(fits)
        .ok_or_else(|| ProbeError::NoAddress {
            host: host.to_string(),
            wanted,
        })
}

/// A fresh echo identifier and payload token for one run. Identifiers of
/// runs in this process differ (a counter over a random base); the random
/// token tells our replies from another process's that happens to use the
/// same identifier.
fn fresh_ident_and_token() -> (u16, [u8; TOKEN_LEN]) {
    static BASE: OnceLock<u16> = OnceLock::new();
    static COUNTER: AtomicU16 = AtomicU16::new(0);
    let base = *BASE.get_or_init(|| random_u64() as u16);
    let ident = base.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed));
    (ident, random_u64().to_be_bytes())
}

/// 16 random bits (a DNS query id).
pub(crate) fn random_u16() -> u16 {
    random_u64() as u16
}

/// Runs every host of a ping task and returns their samples (interim:
/// the single host).
pub fn run_task(cfg: &PingConfig, base: &Labels, ts_ms: i64) -> Result<Vec<Sample>, ProbeError> {
    let outcome = run(cfg)?;
    Ok(samples(&outcome, base, ts_ms))
}

/// 64 random-enough bits from std alone: `RandomState` is seeded from the
/// OS per thread and perturbed per instance; the clock adds the rest.
fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    if let Ok(d) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.write_u32(std::process::id());
    h.finish()
}

/// `size` payload bytes: the token (cut short if `size` is smaller), then
/// the byte pattern 0, 1, 2 ... that `ping(8)` also uses.
fn make_payload(token: &[u8; TOKEN_LEN], size: usize) -> Vec<u8> {
    token
        .iter()
        .copied()
        .chain((0..).map(|i: usize| i as u8))
        .take(size)
        .collect()
}

/// The `ping_*` samples of one run, labelled with `base` plus `host`.
/// When nothing came back there are no `ping_rtt_*` samples.
pub fn samples(outcome: &PingOutcome, base: &Labels, ts_ms: i64) -> Vec<Sample> {
    let labels = base.clone().with("host", outcome.host.as_str());
    let mut out = Vec::with_capacity(8);
    let mut push = |name: &str, value: f64| {
        out.push(Sample::new(name, labels.clone(), value, ts_ms));
    };
    push(
        "ping_reachable",
        if outcome.received > 0 { 1.0 } else { 0.0 },
    );
    if let Some(stats) = RttStats::of(&outcome.rtts_ms) {
        push("ping_rtt_ms", stats.mean);
        push("ping_rtt_min_ms", stats.min);
        push("ping_rtt_max_ms", stats.max);
        push("ping_rtt_stddev_ms", stats.stddev);
    }
    push(
        "ping_packet_loss",
        loss_percent(outcome.sent, outcome.received),
    );
    push("ping_packets_sent", f64::from(outcome.sent));
    push("ping_packets_received", f64::from(outcome.received));
    out
}

/// Lost share of the requests, percent; 100 when nothing was sent.
fn loss_percent(sent: u32, received: u32) -> f64 {
    if sent == 0 {
        return 100.0;
    }
    f64::from(sent.saturating_sub(received)) * 100.0 / f64::from(sent)
}

/// Summary of the RTTs of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RttStats {
    mean: f64,
    min: f64,
    max: f64,
    /// Population standard deviation, as `ping(8)` prints it as `mdev`.
    stddev: f64,
}

impl RttStats {
    fn of(rtts: &[f64]) -> Option<RttStats> {
        if rtts.is_empty() {
            return None;
        }
        let n = rtts.len() as f64;
        let mean = rtts.iter().sum::<f64>() / n;
        let var = rtts.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / n;
        Some(RttStats {
            mean,
            min: rtts.iter().copied().fold(f64::INFINITY, f64::min),
            max: rtts.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            stddev: var.sqrt(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(sent: u32, rtts: &[f64]) -> PingOutcome {
        PingOutcome {
            host: "router-1.example".into(),
            target: "192.0.2.1".parse().unwrap(),
            sent,
            received: rtts.len() as u32,
            rtts_ms: rtts.to_vec(),
        }
    }

    fn base() -> Labels {
        Labels::new()
            .with("device_id", "r1")
            .with("task_id", "t1")
            .with("sentinel", "agent")
    }

    fn value(samples: &[Sample], name: &str) -> Option<f64> {
        samples.iter().find(|s| s.name == name).map(|s| s.value)
    }

    #[test]
    fn samples_of_a_partly_answered_run() {
        let s = samples(&outcome(4, &[1.0, 2.0, 3.0]), &base(), 1_700_000_000_000);
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ping_reachable",
                "ping_rtt_ms",
                "ping_rtt_min_ms",
                "ping_rtt_max_ms",
                "ping_rtt_stddev_ms",
                "ping_packet_loss",
                "ping_packets_sent",
                "ping_packets_received",
            ]
        );
        assert_eq!(value(&s, "ping_reachable"), Some(1.0));
        assert_eq!(value(&s, "ping_rtt_ms"), Some(2.0));
        assert_eq!(value(&s, "ping_rtt_min_ms"), Some(1.0));
        assert_eq!(value(&s, "ping_rtt_max_ms"), Some(3.0));
        // Population stddev of 1, 2, 3: sqrt(2/3), as ping(8)'s mdev.
        let sd = value(&s, "ping_rtt_stddev_ms").unwrap();
        assert!((sd - (2.0f64 / 3.0).sqrt()).abs() < 1e-12, "{sd}");
        assert_eq!(value(&s, "ping_packet_loss"), Some(25.0));
        assert_eq!(value(&s, "ping_packets_sent"), Some(4.0));
        assert_eq!(value(&s, "ping_packets_received"), Some(3.0));
        for sample in &s {
            assert_eq!(sample.timestamp_ms, 1_700_000_000_000);
            let names: Vec<_> = sample.labels.iter().map(|(n, _)| n).collect();
            assert_eq!(names, ["device_id", "host", "sentinel", "task_id"]);
            assert_eq!(sample.labels.get("host"), Some("router-1.example"));
        }
    }

    #[test]
    fn total_loss_has_no_rtt_series() {
        let s = samples(&outcome(3, &[]), &base(), 1);
        assert_eq!(value(&s, "ping_reachable"), Some(0.0));
        assert_eq!(value(&s, "ping_packet_loss"), Some(100.0));
        assert_eq!(value(&s, "ping_packets_received"), Some(0.0));
        assert!(s.iter().all(|s| !s.name.starts_with("ping_rtt")), "{s:?}");
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn loss_is_a_percentage() {
        assert_eq!(loss_percent(200, 140), 30.0);
        assert_eq!(loss_percent(1, 1), 0.0);
        assert_eq!(loss_percent(0, 0), 100.0);
    }

    #[test]
    fn payload_starts_with_token_and_has_the_size() {
        let token = [9u8; TOKEN_LEN];
        let p = make_payload(&token, 12);
        assert_eq!(p, [9, 9, 9, 9, 9, 9, 9, 9, 0, 1, 2, 3]);
        assert_eq!(make_payload(&token, 3), [9, 9, 9]);
        assert!(make_payload(&token, 0).is_empty());
        assert_eq!(make_payload(&token, 65_507).len(), 65_507);
    }

    #[test]
    fn identifiers_and_tokens_differ_between_runs() {
        let (i1, t1) = fresh_ident_and_token();
        let (i2, t2) = fresh_ident_and_token();
        assert_ne!(i1, i2);
        assert_ne!(t1, t2);
    }

    #[test]
    fn resolves_literals_by_version() {
        let a = resolve("127.0.0.1", IpVersion::Any).unwrap();
        assert_eq!(a.ip().to_string(), "127.0.0.1");
        let a = resolve("::1", IpVersion::V6).unwrap();
        assert_eq!(a.ip().to_string(), "::1");
        let e = resolve("::1", IpVersion::V4).unwrap_err();
        assert_eq!(
            e.to_string(),
            "host \"::1\" has no IPv4 address; set ip_version to match the host"
        );
        // Host names go to the system resolver; "localhost" is answered
        // from /etc/hosts, without a DNS query leaving the machine.
        let a = resolve("localhost", IpVersion::V4).unwrap();
        assert!(a.ip().is_loopback(), "{a}");
    }
}
