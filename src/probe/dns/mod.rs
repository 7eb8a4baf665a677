//! The dns plugin: one query over UDP to a configured server per run, with
//! a small DNS codec of its own (RFC 1035 messages; A, AAAA, MX, TXT, NS,
//! CNAME records). Blocking, bounded by the plugin's `timeout`; no actix.
//!
//! The server is an IP address from the config, so the probe never asks
//! the system resolver anything. A reply counts when it comes from that
//! address, carries the query's random id and echoes its question; anything
//! else (late answers to an earlier run, spoofed packets) is ignored while
//! the wait goes on.
//!
//! Samples, labelled with the task's labels plus `server`, `name`, `type`:
//! - `dns_up`: 1 when the answer is NOERROR with at least one record of the
//!   asked type (a CNAME chain alone does not count);
//! - `dns_lookup_ms` and `dns_answers` (records of the asked type) when an
//!   answer came, NXDOMAIN and empty answers included.
//!
//! The codec (`encode_query`, `parse_response`) is pure and has property
//! tests at the end of this file: every well-formed message decodes to what
//! was encoded, and no input, however damaged, makes it panic or loop.

mod config;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::ProbeError;
use crate::sample::{Labels, Sample};
pub use config::{check_dns_name, DnsArgs, DnsConfig, DnsType, DEFAULT_DNS_PORT};

/// Bytes of a DNS message header.
const HEADER_LEN: usize = 12;
/// The largest UDP answer read (without EDNS a server sends at most 512;
/// some send more anyway).
const MAX_UDP_ANSWER: usize = 4096;
/// Compression pointers followed in one name at most: more is a loop.
const MAX_POINTERS: usize = 64;
/// Class IN.
const CLASS_IN: u16 = 1;

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    /// The RCODE (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED ...).
    pub rcode: u8,
    /// The answer was cut to fit a UDP datagram (TC bit).
    pub truncated: bool,
    /// The first question, as echoed: name and type.
    pub question: Option<(String, u16)>,
    /// The answer section.
    pub answers: Vec<Record>,
}

/// One resource record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub ttl: u32,
    pub data: RData,
}

/// A record's data, decoded for the supported types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx {
        preference: u16,
        exchange: String,
    },
    Txt(Vec<Vec<u8>>),
    /// NS and CNAME: a domain name.
    Name(String),
    Other(Vec<u8>),
}

impl std::fmt::Display for RData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RData::A(a) => write!(f, "{a}"),
            RData::Aaaa(a) => write!(f, "{a}"),
            RData::Mx {
                preference,
                exchange,
            } => write!(f, "{preference} {exchange}"),
            RData::Txt(parts) => {
                let parts: Vec<String> = parts
                    .iter()
                    .map(|p| format!("{:?}", String::from_utf8_lossy(p)))
                    .collect();
                f.write_str(&parts.join(" "))
            }
            RData::Name(n) => f.write_str(n),
            RData::Other(b) => write!(f, "({} bytes)", b.len()),
        }
    }
}

/// Why bytes are not a DNS message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message ends early at byte {at}")]
    Truncated { at: usize },
    #[error("name at byte {at} is malformed")]
    BadName { at: usize },
    #[error("not a response (QR bit clear)")]
    NotResponse,
}

/// The series of dns, for `/metrics`, and what the status page reads.
pub const INFO: super::PluginInfo = super::PluginInfo {
    metrics: &[
        super::MetricDoc::gauge(
            "dns_up",
            "1 when the server answered NOERROR with a record of the asked type, 0 otherwise.",
        ),
        super::MetricDoc::gauge("dns_lookup_ms", "Time until the server's answer, in ms."),
        super::MetricDoc::gauge("dns_answers", "Records of the asked type in the answer."),
    ],
    health: super::Health::up_and_ms("dns_up", "dns_lookup_ms"),
};

/// The result of one lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsOutcome {
    /// The answer, when one came in time.
    pub response: Option<Response>,
    pub lookup_ms: Option<f64>,
    /// Records of the asked type in the answer.
    pub answers: u32,
    pub up: bool,
    /// Why `up` is 0.
    pub reason: Option<String>,
}

/// The name of an RCODE.
pub fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "an unknown rcode",
    }
}

/// Asks `cfg.server` once for `cfg.name` / `cfg.record_type`.
pub fn run(cfg: &DnsConfig) -> Result<DnsOutcome, ProbeError> {
    let local: SocketAddr = match cfg.server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket_err = |source| ProbeError::DnsSocket {
        server: cfg.server,
        source,
    };
    let socket = UdpSocket::bind(local).map_err(socket_err)?;
    // Connected: the kernel passes on only the server's datagrams, and an
    // ICMP port unreachable shows as "connection refused" at once.
    socket.connect(cfg.server).map_err(socket_err)?;
    let id = crate::random::random_u16();
    let mut query = encode_query_edns(id, &cfg.name, cfg.record_type.code());
    let mut edns = true;
    // A reply from the server that could not be used, for the reason when
    // no usable one comes.
    let mut unusable: Option<String> = None;
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let mut outcome = DnsOutcome {
        response: None,
        lookup_ms: None,
        answers: 0,
        up: false,
        reason: None,
    };
    if let Err(e) = socket.send(&query) {
        outcome.reason = Some(format!("sending the query failed: {e}"));
        return Ok(outcome);
    }
    let mut buf = vec![0u8; MAX_UDP_ANSWER];
    let response = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            outcome.reason = Some(match &unusable {
                Some(why) => format!(
                    "no usable answer within the timeout of {} ms; the server sent {why}",
                    cfg.timeout.as_millis()
                ),
                None => format!(
                    "no answer within the timeout of {} ms",
                    cfg.timeout.as_millis()
                ),
            });
            return Ok(outcome);
        }
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .map_err(socket_err)?;
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            // ICMP port unreachable, reported on the next receive.
            Err(e) => {
                outcome.reason = Some(format!("the server did not answer: {e}"));
                return Ok(outcome);
            }
        };
        if from != cfg.server {
            continue;
        }
        let r = match parse_response(&buf[..len]) {
            Ok(r) => r,
            Err(e) => {
                unusable = Some(format!("a malformed reply ({e})"));
                continue;
            }
        };
        if r.id != id {
            unusable = Some("a reply to another query (wrong id)".into());
            continue;
        }
        // FORMERR to an EDNS query: an old server (often without echoing
        // the question); ask again without EDNS.
        if r.rcode == 1 && edns {
            edns = false;
            query = encode_query(id, &cfg.name, cfg.record_type.code());
            if let Err(e) = socket.send(&query) {
                outcome.reason = Some(format!("sending the query failed: {e}"));
                return Ok(outcome);
            }
            continue;
        }
        let asked = r.question.as_ref().is_some_and(|(n, t)| {
            n.eq_ignore_ascii_case(&cfg.name) && *t == cfg.record_type.code()
        });
        if !asked {
            unusable = Some("a reply for a different question".into());
            continue;
        }
        break r;
    };
    outcome.lookup_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    let answers = response
        .answers
        .iter()
        .filter(|a| a.rtype == cfg.record_type.code())
        .count() as u32;
    outcome.answers = answers;
    outcome.up = response.rcode == 0 && answers > 0;
    if response.rcode != 0 {
        outcome.reason = Some(format!(
            "the server answered {}",
            rcode_name(response.rcode)
        ));
    } else if response.truncated {
        // The records that fit are real: the name resolves, but the count
        // is short.
        outcome.reason = Some(format!(
            "the answer was truncated (TC flag): {answers} record(s) fit in {} bytes of UDP, \
             and this probe does not retry over TCP",
            if edns { EDNS_PAYLOAD } else { 512 }
        ));
    } else if answers == 0 {
        outcome.reason = Some(format!(
            "the answer holds no {} record",
            cfg.record_type.as_str()
        ));
    }
    outcome.response = Some(response);
    Ok(outcome)
}

/// The `dns_*` samples of one lookup.
pub fn samples(cfg: &DnsConfig, outcome: &DnsOutcome, base: &Labels, ts_ms: i64) -> Vec<Sample> {
    samples_labelled(outcome, &labels(cfg, base), ts_ms)
}

/// The label set of the task's series: `base` plus `server`, `name` and
/// `type`.
pub fn labels(cfg: &DnsConfig, base: &Labels) -> Labels {
    base.clone()
        .with("server", cfg.server.to_string())
        .with("name", cfg.name.as_str())
        .with("type", cfg.record_type.as_str())
}

/// [`samples`] with the label set given.
pub fn samples_labelled(outcome: &DnsOutcome, labels: &Labels, ts_ms: i64) -> Vec<Sample> {
    let mut out = vec![Sample::new(
        "dns_up",
        labels.clone(),
        if outcome.up { 1.0 } else { 0.0 },
        ts_ms,
    )];
    if let Some(ms) = outcome.lookup_ms {
        out.push(Sample::new("dns_lookup_ms", labels.clone(), ms, ts_ms));
        out.push(Sample::new(
            "dns_answers",
            labels.clone(),
            f64::from(outcome.answers),
            ts_ms,
        ));
    }
    out
}

/// The UDP payload size announced with EDNS0: answers up to this size come
/// whole instead of truncated at 512 bytes (1232 avoids IP fragmentation,
/// the DNS Flag Day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;

/// [`encode_query`] with an EDNS0 OPT record announcing [`EDNS_PAYLOAD`].
pub fn encode_query_edns(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = encode_query(id, name, qtype);
    m[10..12].copy_from_slice(&1u16.to_be_bytes()); // ARCOUNT
    m.push(0); // root name
    m.extend_from_slice(&41u16.to_be_bytes()); // TYPE OPT
    m.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes()); // CLASS: payload size
    m.extend_from_slice(&[0; 4]); // extended rcode, version 0, flags
    m.extend_from_slice(&[0; 2]); // RDLEN
    m
}

/// A standard query with recursion desired for `name` (no trailing dot)
/// of type `qtype`, class IN.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    m.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    m.extend_from_slice(&[0; 6]); // AN, NS, AR counts
    encode_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    m
}

/// Appends `name` as labels; empty labels (from `a..b`) are skipped and
/// labels are cut at 63 bytes (the config loader rejects both).
pub fn encode_name(m: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        m.push(bytes.len() as u8);
        m.extend_from_slice(bytes);
    }
    m.push(0);
}

/// A big-endian u16 at `at`.
fn u16_at(m: &[u8], at: usize) -> Result<u16, DecodeError> {
    m.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(DecodeError::Truncated { at })
}

/// The name at `at` (following compression pointers) and the offset just
/// past it in the message.
pub fn decode_name(m: &[u8], mut at: usize) -> Result<(String, usize), DecodeError> {
    let start = at;
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    let mut len_total = 0usize;
    loop {
        let &len = m.get(at).ok_or(DecodeError::Truncated { at })?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    let end = end.unwrap_or(at + 1);
                    return Ok((labels.join("."), end));
                }
                let label = m
                    .get(at + 1..at + 1 + usize::from(len))
                    .ok_or(DecodeError::Truncated { at })?;
                len_total += label.len() + 1;
                if len_total > 255 {
                    return Err(DecodeError::BadName { at: start });
                }
                labels.push(String::from_utf8_lossy(label).into_owned());
                at += 1 + usize::from(len);
            }
            0xc0 => {
                let target = usize::from(u16_at(m, at)? & 0x3fff);
                jumps += 1;
                if jumps > MAX_POINTERS {
                    return Err(DecodeError::BadName { at: start });
                }
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return Err(DecodeError::BadName { at }),
        }
    }
}

/// Decodes a response message: header, first question, answer section
/// (the authority and additional sections are not needed).
pub fn parse_response(m: &[u8]) -> Result<Response, DecodeError> {
    if m.len() < HEADER_LEN {
        return Err(DecodeError::Truncated { at: m.len() });
    }
    let id = u16_at(m, 0)?;
    let flags = u16_at(m, 2)?;
    if flags & 0x8000 == 0 {
        return Err(DecodeError::NotResponse);
    }
    let qdcount = u16_at(m, 4)?;
    let ancount = u16_at(m, 6)?;
    let mut at = HEADER_LEN;
    let mut question = None;
    for i in 0..qdcount {
        let (name, next) = decode_name(m, at)?;
        let qtype = u16_at(m, next)?;
        u16_at(m, next + 2)?;
        if i == 0 {
            question = Some((name, qtype));
        }
        at = next + 4;
    }
    let mut answers = Vec::with_capacity(usize::from(ancount).min(64));
    for _ in 0..ancount {
        let (name, next) = decode_name(m, at)?;
        let rtype = u16_at(m, next)?;
        let ttl_hi = u16_at(m, next + 4)?;
        let ttl_lo = u16_at(m, next + 6)?;
        let rdlen = usize::from(u16_at(m, next + 8)?);
        let rstart = next + 10;
        let rdata = m
            .get(rstart..rstart + rdlen)
            .ok_or(DecodeError::Truncated { at: rstart })?;
        let data = decode_rdata(m, rtype, rstart, rdata)?;
        answers.push(Record {
            name,
            rtype,
            ttl: (u32::from(ttl_hi) << 16) | u32::from(ttl_lo),
            data,
        });
        at = rstart + rdlen;
    }
    Ok(Response {
        id,
        rcode: (flags & 0x000f) as u8,
        truncated: flags & 0x0200 != 0,
        question,
        answers,
    })
}

/// One record's data; names inside may point anywhere in `m`.
fn decode_rdata(m: &[u8], rtype: u16, start: usize, rdata: &[u8]) -> Result<RData, DecodeError> {
    let bad = DecodeError::Truncated { at: start };
    Ok(match rtype {
        1 => RData::A(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).map_err(|_| bad)?)),
        28 => RData::Aaaa(Ipv6Addr::from(
            <[u8; 16]>::try_from(rdata).map_err(|_| bad)?,
        )),
        15 => {
            if rdata.len() < 3 {
                return Err(bad);
            }
            RData::Mx {
                preference: u16::from_be_bytes([rdata[0], rdata[1]]),
                exchange: decode_name(m, start + 2)?.0,
            }
        }
        16 => {
            let mut parts = Vec::new();
            let mut i = 0;
            while i < rdata.len() {
                let len = usize::from(rdata[i]);
                let part = rdata
                    .get(i + 1..i + 1 + len)
                    .ok_or(DecodeError::Truncated { at: start + i })?;
                parts.push(part.to_vec());
                i += 1 + len;
            }
            RData::Txt(parts)
        }
        2 | 5 => RData::Name(decode_name(m, start)?.0),
        _ => RData::Other(rdata.to_vec()),
    })
}

/// The name of a record type number, for `trigger dns`.
pub fn type_name(rtype: u16) -> String {
    DnsType::ALL
        .iter()
        .find(|t| t.code() == rtype)
        .map(|t| t.as_str().to_string())
        .unwrap_or_else(|| format!("TYPE{rtype}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;
    use proptest::prelude::*;

    /// A server that answers every query with `reply(query)`: the lookup
    /// names what was wrong with it instead of "no answer".
    fn lookup_against(reply: fn(&[u8]) -> Vec<u8>) -> DnsOutcome {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&reply(&buf[..n]), from).unwrap();
        });
        let outcome = run(&DnsConfig {
            server: addr,
            name: "a.sentinel.test".into(),
            record_type: DnsType::A,
            timeout: Duration::from_millis(300),
        })
        .unwrap();
        t.join().unwrap();
        outcome
    }

    #[test]
    fn unusable_replies_are_named() {
        let o = lookup_against(|q| {
            let mut r = q[..2].to_vec();
            r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1]); // counts, then garbage
            r
        });
        let reason = o.reason.unwrap();
        assert!(reason.contains("a malformed reply"), "{reason}");
        let o = lookup_against(|q| {
            let mut r = q.to_vec();
            r[0] ^= 0xff; // another id
            r[2] |= 0x80;
            r
        });
        let reason = o.reason.unwrap();
        assert!(reason.contains("wrong id"), "{reason}");
    }

    /// An old server answers FORMERR, without the question, to a query
    /// with EDNS0; the probe asks again without it and takes the answer.
    #[test]
    fn formerr_to_edns_is_retried_plain() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            for _ in 0..2 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                let q = &buf[..n];
                let arcount = u16::from_be_bytes([q[10], q[11]]);
                let reply = if arcount > 0 {
                    // Header only: id, QR + FORMERR, no sections.
                    let mut r = q[..2].to_vec();
                    r.extend_from_slice(&[0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
                    r
                } else {
                    // The question echoed, one A record 192.0.2.1.
                    let mut r = q.to_vec();
                    r[2] = 0x81;
                    r[3] = 0x80;
                    r[6..8].copy_from_slice(&1u16.to_be_bytes());
                    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
                    r
                };
                server.send_to(&reply, from).unwrap();
            }
        });
        let o = run(&DnsConfig {
            server: addr,
            name: "a.sentinel.test".into(),
            record_type: DnsType::A,
            timeout: Duration::from_secs(2),
        })
        .unwrap();
        t.join().unwrap();
        assert!(o.up, "{o:?}");
        assert_eq!(o.answers, 1);
    }

    #[test]
    fn queries_carry_edns0() {
        let q = encode_query_edns(7, "a.b", 1);
        assert_eq!(u16::from_be_bytes([q[10], q[11]]), 1, "ARCOUNT");
        let opt = &q[q.len() - 11..];
        assert_eq!(opt[..3], [0, 0, 41], "root name, TYPE OPT");
        assert_eq!(u16::from_be_bytes([opt[3], opt[4]]), EDNS_PAYLOAD);
    }

    /// Encodes a response the way a server would, without compression
    /// unless `compress` (then every record name points at the question).
    fn encode_response(r: &Response, compress: bool) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&r.id.to_be_bytes());
        let flags = 0x8180u16 | u16::from(r.rcode) | if r.truncated { 0x0200 } else { 0 };
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&u16::from(r.question.is_some()).to_be_bytes());
        m.extend_from_slice(&(r.answers.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0; 4]);
        if let Some((name, qtype)) = &r.question {
            encode_name(&mut m, name);
            m.extend_from_slice(&qtype.to_be_bytes());
            m.extend_from_slice(&CLASS_IN.to_be_bytes());
        }
        for a in &r.answers {
            if compress && r.question.as_ref().is_some_and(|(n, _)| *n == a.name) {
                m.extend_from_slice(&0xc00cu16.to_be_bytes());
            } else {
                encode_name(&mut m, &a.name);
            }
            m.extend_from_slice(&a.rtype.to_be_bytes());
            m.extend_from_slice(&CLASS_IN.to_be_bytes());
            m.extend_from_slice(&a.ttl.to_be_bytes());
            let mut rdata = Vec::new();
            match &a.data {
                RData::A(ip) => rdata.extend_from_slice(&ip.octets()),
                RData::Aaaa(ip) => rdata.extend_from_slice(&ip.octets()),
                RData::Mx {
                    preference,
                    exchange,
                } => {
                    rdata.extend_from_slice(&preference.to_be_bytes());
                    encode_name(&mut rdata, exchange);
                }
                RData::Txt(parts) => {
                    for p in parts {
                        rdata.push(p.len() as u8);
                        rdata.extend_from_slice(p);
                    }
                }
                RData::Name(n) => encode_name(&mut rdata, n),
                RData::Other(b) => rdata.extend_from_slice(b),
            }
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(&rdata);
        }
        m
    }

    /// An answer laid out as dnsmasq sends it for `A a.sentinel.test` (id
    /// 0x1234, flags QR AA RD RA): the answer's name is a pointer to the
    /// question's.
    const CAPTURE: &str = "1234 8580 0001 0001 0000 0000 \
                           01 61 08 73656e74696e656c 04 74657374 00 0001 0001 \
                           c00c 0001 0001 00000000 0004 c000020a";

    #[test]
    fn query_encoding() {
        assert_eq!(
            encode_query(0x1234, "a.sentinel.test", 1),
            hex("1234 0100 0001 0000 0000 0000 01 61 08 73656e74696e656c 04 74657374 00 0001 0001")
        );
    }

    #[test]
    fn decodes_a_capture() {
        let r = parse_response(&hex(CAPTURE)).unwrap();
        assert_eq!(r.id, 0x1234);
        assert_eq!(r.rcode, 0);
        assert_eq!(r.question, Some(("a.sentinel.test".into(), 1)));
        assert_eq!(
            r.answers,
            [Record {
                name: "a.sentinel.test".into(),
                rtype: 1,
                ttl: 0,
                data: RData::A(Ipv4Addr::new(192, 0, 2, 10)),
            }]
        );
    }

    #[test]
    fn rejects_queries_pointer_loops_and_short_messages() {
        assert_eq!(
            parse_response(&encode_query(1, "x", 1)),
            Err(DecodeError::NotResponse)
        );
        assert_eq!(
            parse_response(&[0; 5]),
            Err(DecodeError::Truncated { at: 5 })
        );
        // A name that points at itself.
        let mut m = hex("0001 8180 0001 0000 0000 0000");
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        assert_eq!(parse_response(&m), Err(DecodeError::BadName { at: 12 }));
    }

    #[test]
    fn rcode_names() {
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(9), "an unknown rcode");
        assert_eq!(type_name(28), "AAAA");
        assert_eq!(type_name(99), "TYPE99");
    }

    fn name() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-z0-9_-]{1,20}", 1..5).prop_map(|l| l.join("."))
    }

    fn record() -> impl Strategy<Value = Record> {
        let data = prop_oneof![
            any::<[u8; 4]>().prop_map(|b| (1u16, RData::A(Ipv4Addr::from(b)))),
            any::<[u8; 16]>().prop_map(|b| (28u16, RData::Aaaa(Ipv6Addr::from(b)))),
            (any::<u16>(), name()).prop_map(|(preference, exchange)| (
                15u16,
                RData::Mx {
                    preference,
                    exchange
                }
            )),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..4)
                .prop_map(|p| (16u16, RData::Txt(p))),
            name().prop_map(|n| (5u16, RData::Name(n))),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| (99u16, RData::Other(b))),
        ];
        (name(), any::<u32>(), data).prop_map(|(name, ttl, (rtype, data))| Record {
            name,
            rtype,
            ttl,
            data,
        })
    }

    proptest! {
        #[test]
        fn responses_round_trip(
            id in any::<u16>(),
            rcode in 0u8..6,
            truncated in any::<bool>(),
            qname in name(),
            qtype in prop_oneof![Just(1u16), Just(28), Just(15), Just(16)],
            answers in proptest::collection::vec(record(), 0..6),
            compress in any::<bool>(),
        ) {
            let r = Response { id, rcode, truncated, question: Some((qname, qtype)), answers };
            let m = encode_response(&r, compress);
            prop_assert_eq!(parse_response(&m), Ok(r));
        }

        #[test]
        fn names_round_trip(n in name()) {
            let mut m = Vec::new();
            encode_name(&mut m, &n);
            prop_assert_eq!(decode_name(&m, 0), Ok((n, m.len())));
        }

        #[test]
        fn damaged_messages_never_panic(
            r in (any::<u16>(), name(), proptest::collection::vec(record(), 0..4)),
            cut in any::<prop::sample::Index>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        ) {
            let resp = Response { id: r.0, rcode: 0, truncated: false, question: Some((r.1, 1)), answers: r.2 };
            let mut m = encode_response(&resp, true);
            for (i, b) in flips {
                let i = i.index(m.len());
                m[i] = b;
            }
            let cut = cut.index(m.len() + 1);
            let _ = parse_response(&m[..cut]);
        }

        #[test]
        fn random_bytes_never_panic(m in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_response(&m);
        }
    }
}
