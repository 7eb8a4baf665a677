//! ICMP echo: the socket and the packets. Plain blocking code, no actix.
//!
//! `create_socket` opens the socket the way `ping(8)` does: first an
//! unprivileged ICMP datagram socket (`SOCK_DGRAM`, allowed for the groups
//! in `net.ipv4.ping_group_range`), then a raw socket (root or
//! `CAP_NET_RAW`). When neither is allowed, the error tells the operator
//! both fixes. The two kinds behave differently, and `IcmpSocket` hides
//! only what must be hidden:
//!
//! | | `SOCK_DGRAM` | `SOCK_RAW` |
//! |---|---|---|
//! | echo identifier | the kernel replaces ours with the socket's local port (`IcmpSocket::ident`) | ours, as sent |
//! | what it receives | only replies to this socket, ICMP header first | every ICMP packet of the host; IPv4 with its IP header, IPv6 without |
//! | checksums | kernel computes and verifies | IPv4: we compute and verify; ICMPv6: kernel computes and verifies |
//!
//! A raw socket sees the replies of every other pinger on the host,
//! including other tasks of this agent, so the pinger (`pinger.rs`) matches
//! each reply on identifier, sequence number and payload.
//!
//! The packet code (`encode_echo_request`, `parse_reply`, `checksum`) is
//! pure and tested at the end of this file on hex captures.

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::ProbeError;

/// Bytes of an ICMP echo header: type, code, checksum, identifier, sequence.
pub const ICMP_HEADER_LEN: usize = 8;
/// The shortest IPv4 header (IHL 5); raw IPv4 sockets deliver it first.
pub const IPV4_MIN_HEADER_LEN: usize = 20;
/// The longest IPv4 header (IHL 15, with options).
pub const IPV4_MAX_HEADER_LEN: usize = 60;
/// ICMP message types used here.
pub const ICMPV4_ECHO_REPLY: u8 = 0;
pub const ICMPV4_ECHO_REQUEST: u8 = 8;
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
pub const ICMPV6_ECHO_REPLY: u8 = 129;
/// IP protocol number of ICMP, as found in an IPv4 header.
const IPPROTO_ICMP: u8 = 1;
/// Where the kernel shows which groups may open ICMP datagram sockets.
pub const PING_GROUP_RANGE_PATH: &str = "/proc/sys/net/ipv4/ping_group_range";

/// The IP version an ICMP socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The family of `ip`.
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// `""` or `"v6"`, as in "icmp" / "icmpv6" in messages.
    fn suffix(self) -> &'static str {
        match self {
            Family::V4 => "",
            Family::V6 => "v6",
        }
    }

    fn echo_request(self) -> u8 {
        match self {
            Family::V4 => ICMPV4_ECHO_REQUEST,
            Family::V6 => ICMPV6_ECHO_REQUEST,
        }
    }

    fn echo_reply(self) -> u8 {
        match self {
            Family::V4 => ICMPV4_ECHO_REPLY,
            Family::V6 => ICMPV6_ECHO_REPLY,
        }
    }
}

/// Which kind of ICMP socket the kernel granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// Unprivileged "ping socket" (`SOCK_DGRAM`, `IPPROTO_ICMP`/`ICMPV6`).
    Dgram,
    /// `SOCK_RAW`: needs root or `CAP_NET_RAW`.
    Raw,
}

/// An open ICMP socket of one family.
#[derive(Debug)]
pub struct IcmpSocket {
    socket: Socket,
    family: Family,
    kind: SocketKind,
    /// For `Dgram`, the identifier the kernel writes into every request
    /// (the socket's local "port"); `None` for `Raw`, where ours is kept.
    kernel_ident: Option<u16>,
}

/// Opens an ICMP socket for `family`: a datagram socket when
/// `ping_group_range` allows it, else a raw socket. When both are refused
/// for lack of permission, the error spells out the fixes.
pub fn create_socket(family: Family) -> Result<IcmpSocket, ProbeError> {
    let dgram_err = match open(family, SocketKind::Dgram) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    match open(family, SocketKind::Raw) {
        Ok(s) => Ok(s),
        Err(raw_err) if is_permission(&raw_err) && is_permission(&dgram_err) => {
            Err(ProbeError::NoPermission {
                version: family.suffix(),
                ping_group_range: read_ping_group_range(),
            })
        }
        // A permission error on one side says less than the other error
        // (say EAFNOSUPPORT when IPv6 is off): report the other one.
        Err(raw_err) => Err(ProbeError::Socket {
            version: family.suffix(),
            source: if is_permission(&raw_err) {
                dgram_err
            } else {
                raw_err
            },
        }),
    }
}

/// Opens an ICMP socket of exactly `kind`, with no fallback. `create_socket`
/// is what the agent uses; this is for tests that want one path.
pub fn open(family: Family, kind: SocketKind) -> io::Result<IcmpSocket> {
    let (domain, protocol) = match family {
        Family::V4 => (Domain::IPV4, Protocol::ICMPV4),
        Family::V6 => (Domain::IPV6, Protocol::ICMPV6),
    };
    let ty = match kind {
        SocketKind::Dgram => Type::DGRAM,
        SocketKind::Raw => Type::RAW,
    };
    let socket = Socket::new(domain, ty, Some(protocol))?;
    let kernel_ident = match kind {
        SocketKind::Raw => None,
        SocketKind::Dgram => {
            // Binding to port 0 makes the kernel pick the identifier now, so
            // replies can be matched against it from the first one.
            let any: SocketAddr = match family {
                Family::V4 => (Ipv4Addr::UNSPECIFIED, 0).into(),
                Family::V6 => (Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            socket.bind(&any.into())?;
            let local = socket
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("icmp socket has no local address"))?;
            Some(local.port())
        }
    };
    Ok(IcmpSocket {
        socket,
        family,
        kind,
        kernel_ident,
    })
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

/// The current `net.ipv4.ping_group_range`, for the permission hint.
fn read_ping_group_range() -> String {
    match std::fs::read_to_string(PING_GROUP_RANGE_PATH) {
        Ok(s) => format!("\"{}\"", s.trim().replace('\t', " ")),
        Err(e) => format!("unreadable ({e})"),
    }
}

impl IcmpSocket {
    pub fn family(&self) -> Family {
        self.family
    }

    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// The identifier the replies will carry when we send with `ours`: the
    /// kernel's for a datagram socket, `ours` for a raw one.
    pub fn ident(&self, ours: u16) -> u16 {
        self.kernel_ident.unwrap_or(ours)
    }

    /// Whether received packets start with an IPv4 header (raw IPv4 only).
    pub fn has_ip_header(&self) -> bool {
        self.family == Family::V4 && self.kind == SocketKind::Raw
    }

    /// Sets the IPv4 TTL or the IPv6 unicast hop limit of outgoing echoes.
    pub fn set_ttl(&self, ttl: u32) -> Result<(), ProbeError> {
        let (option, result) = match self.family {
            Family::V4 => ("ttl", self.socket.set_ttl_v4(ttl)),
            Family::V6 => ("hop limit", self.socket.set_unicast_hops_v6(ttl)),
        };
        result.map_err(|source| ProbeError::SocketOption {
            option,
            value: ttl,
            source,
        })
    }

    /// Asks for a receive buffer of `bytes`, beyond `net.core.rmem_max`
    /// when the process may (`SO_RCVBUFFORCE`, root), else as much as the
    /// limit allows: a shared socket takes the replies of thousands of
    /// hosts in bursts. Best effort; the size granted is returned.
    pub fn grow_recv_buffer(&self, bytes: usize) -> usize {
        let v = bytes.min(i32::MAX as usize) as libc::c_int;
        // SAFETY: setsockopt with a valid fd and a c_int option value.
        let forced = unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if forced != 0 {
            let _ = self.socket.set_recv_buffer_size(bytes);
        }
        self.socket.recv_buffer_size().unwrap_or(0)
    }

    /// On a raw ICMPv4 socket, has the kernel pass on only echo replies
    /// (`ICMP_FILTER`), not every other ICMP message of the host (our own
    /// requests on loopback, unreachables ...). Best effort; other sockets
    /// are left as they are.
    pub fn only_echo_replies(&self) {
        if !self.has_ip_header() {
            return;
        }
        /// `ICMP_FILTER` from linux/icmp.h: a bit mask of types to drop.
        const ICMP_FILTER: libc::c_int = 1;
        let mask: u32 = !(1u32 << ICMPV4_ECHO_REPLY);
        // SAFETY: setsockopt with a valid fd and a u32 option value, the
        // layout of `struct icmp_filter`.
        unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_RAW,
                ICMP_FILTER,
                (&mask as *const u32).cast(),
                std::mem::size_of::<u32>() as libc::socklen_t,
            );
        }
    }

    /// Sends one ICMP message to `target`.
    pub fn send_to(&self, packet: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.socket.send_to(packet, &SockAddr::from(target))
    }

    /// Receives one packet into `buf`, waiting at most `timeout`. Returns
    /// `None` when nothing arrived in time (or a signal interrupted the
    /// wait), else the length and the sender's address.
    ///
    /// The wait is `poll(2)`, not `SO_RCVTIMEO`: the kernel rounds socket
    /// timeouts up to whole jiffies (4 ms at HZ=250), which would make
    /// every send after a wait that much late.
    pub fn recv_from(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, IpAddr)>> {
        if !wait_readable(&self.socket, timeout)? {
            return Ok(None);
        }
        // SAFETY: socket2 documents that `recv*` never writes uninitialised
        // bytes into the buffer, so viewing initialised bytes as
        // `MaybeUninit` for the call is sound (see `Socket::recv`).
        let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
        match self.socket.recv_from_with_flags(uninit, libc::MSG_DONTWAIT) {
            Ok((n, from)) => {
                let ip = from
                    .as_socket()
                    .map(|a| a.ip())
                    .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                Ok(Some((n, ip)))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Waits up to `timeout` (rounded up to whole milliseconds) until `socket`
/// has something to read; `false` on timeout or interruption.
fn wait_readable(socket: &Socket, timeout: Duration) -> io::Result<bool> {
    let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
    let mut pfd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid pollfd for the duration of the call and
    // the count passed is 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    match rc {
        0 => Ok(false),
        n if n > 0 => Ok(true),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// The Internet checksum (RFC 1071) of `data`: the one's complement of the
/// one's complement sum of its 16-bit big-endian words. Over a message
/// that carries its correct checksum the result is 0.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request of `family` with `ident`, `seq` and `payload`. The
/// ICMPv4 checksum is filled in; the ICMPv6 one is left 0 for the kernel,
/// which computes it for every ICMPv6 socket (it needs the IPv6 addresses).
pub fn encode_echo_request(family: Family, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(ICMP_HEADER_LEN + payload.len());
    p.push(family.echo_request());
    p.push(0); // code
    p.extend_from_slice(&[0, 0]); // checksum
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if family == Family::V4 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// A decoded echo reply; `payload` borrows from the received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply<'a> {
    pub ident: u16,
    pub seq: u16,
    pub payload: &'a [u8],
}

/// Why a received packet is not an echo reply for us. Such packets are
/// ignored (a raw socket sees all ICMP traffic of the host), never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("packet of {len} bytes is truncated, {need} needed")]
    Truncated { len: usize, need: usize },
    #[error("ipv4 packet carries protocol {protocol}, not icmp")]
    NotIcmp { protocol: u8 },
    #[error("not an ipv4 packet (version {version})")]
    NotIpv4 { version: u8 },
    #[error("icmp type {icmp_type} is not an echo reply")]
    NotEchoReply { icmp_type: u8 },
    #[error("icmp checksum {found:#06x} is wrong")]
    BadChecksum { found: u16 },
    #[error("echo reply identifier {found} is not ours ({expected})")]
    WrongIdent { found: u16, expected: u16 },
}

/// Decodes `packet` as an echo reply of `family` carrying identifier
/// `ident`. With `has_ip_header` (raw IPv4 sockets) the packet starts with
/// the IPv4 header, which is checked and skipped. ICMPv4 checksums are
/// verified; ICMPv6 ones were verified by the kernel, which alone knows the
/// pseudo-header.
pub fn parse_reply(
    family: Family,
    has_ip_header: bool,
    packet: &[u8],
    ident: u16,
) -> Result<EchoReply<'_>, ParseError> {
    let icmp = if has_ip_header {
        strip_ipv4_header(packet)?
    } else {
        packet
    };
    if icmp.len() < ICMP_HEADER_LEN {
        return Err(ParseError::Truncated {
            len: icmp.len(),
            need: ICMP_HEADER_LEN,
        });
    }
    if icmp[0] != family.echo_reply() {
        return Err(ParseError::NotEchoReply { icmp_type: icmp[0] });
    }
    if family == Family::V4 && checksum(icmp) != 0 {
        return Err(ParseError::BadChecksum {
            found: u16::from_be_bytes([icmp[2], icmp[3]]),
        });
    }
    let found = u16::from_be_bytes([icmp[4], icmp[5]]);
    if found != ident {
        return Err(ParseError::WrongIdent {
            found,
            expected: ident,
        });
    }
    Ok(EchoReply {
        ident: found,
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        payload: &icmp[ICMP_HEADER_LEN..],
    })
}

/// The ICMP message inside an IPv4 packet, bounded by its total length.
fn strip_ipv4_header(packet: &[u8]) -> Result<&[u8], ParseError> {
    if packet.len() < IPV4_MIN_HEADER_LEN {
        return Err(ParseError::Truncated {
            len: packet.len(),
            need: IPV4_MIN_HEADER_LEN,
        });
    }
    let version = packet[0] >> 4;
    if version != 4 {
        return Err(ParseError::NotIpv4 { version });
    }
    let header_len = usize::from(packet[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let need = total_len.max(header_len).max(IPV4_MIN_HEADER_LEN);
    if packet.len() < need {
        return Err(ParseError::Truncated {
            len: packet.len(),
            need,
        });
    }
    if packet[9] != IPPROTO_ICMP {
        return Err(ParseError::NotIcmp {
            protocol: packet[9],
        });
    }
    // A total length below the header length is malformed; the slice
    // below is then empty and the ICMP check reports it as truncated.
    let start = header_len.max(IPV4_MIN_HEADER_LEN);
    Ok(&packet[start..total_len.max(start)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    /// The payload of every capture below: an 8-byte token, then 0..8.
    const PAYLOAD: &str = "a1b2c3d4e5f60718 0001020304050607";

    /// Echo request, identifier 0x1c2b, sequence 1, as sent on the wire.
    const REQUEST_V4: &str = "08 00 7d2d 1c2b 0001 a1b2c3d4e5f60718 0001020304050607";

    /// The kernel's reply on lo as a raw IPv4 socket receives it: IPv4
    /// header (IHL 5, total length 44, TTL 64, proto 1, 127.0.0.1 →
    /// 127.0.0.1), then the echo reply.
    const REPLY_V4_RAW: &str = "4500 002c 8e3f 0000 4001 ee8f 7f000001 7f000001 \
                                00 00 852d 1c2b 0001 a1b2c3d4e5f60718 0001020304050607";

    /// The same reply as a datagram socket receives it: no IP header.
    const REPLY_V4_DGRAM: &str = "00 00 852d 1c2b 0001 a1b2c3d4e5f60718 0001020304050607";

    /// ICMPv6 echo reply from ::1 (raw and datagram sockets alike receive
    /// no IPv6 header); the checksum covers a pseudo-header and is checked
    /// by the kernel.
    const REPLY_V6: &str = "81 00 4f1a 1c2b 0001 a1b2c3d4e5f60718 0001020304050607";

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(checksum(&hex("0001 f203 f4f5 f6f7")), !0xddf2);
        // Odd length: the last byte is padded with a zero.
        assert_eq!(checksum(&hex("01")), !0x0100);
        // A message carrying its checksum sums to zero.
        assert_eq!(checksum(&hex(REQUEST_V4)), 0);
    }

    #[test]
    fn encodes_v4_request_like_the_capture() {
        let p = encode_echo_request(Family::V4, 0x1c2b, 1, &hex(PAYLOAD));
        assert_eq!(p, hex(REQUEST_V4));
    }

    #[test]
    fn encodes_v6_request_with_checksum_left_to_kernel() {
        let p = encode_echo_request(Family::V6, 0x1c2b, 1, &hex(PAYLOAD));
        assert_eq!(
            p,
            hex("80 00 0000 1c2b 0001 a1b2c3d4e5f60718 0001020304050607")
        );
    }

    #[test]
    fn parses_v4_reply_with_ip_header() {
        let packet = hex(REPLY_V4_RAW);
        let r = parse_reply(Family::V4, true, &packet, 0x1c2b).unwrap();
        assert_eq!(r.ident, 0x1c2b);
        assert_eq!(r.seq, 1);
        assert_eq!(r.payload, &hex(PAYLOAD)[..]);
    }

    #[test]
    fn parses_v4_reply_without_ip_header() {
        let packet = hex(REPLY_V4_DGRAM);
        let r = parse_reply(Family::V4, false, &packet, 0x1c2b).unwrap();
        assert_eq!((r.ident, r.seq), (0x1c2b, 1));
        assert_eq!(r.payload, &hex(PAYLOAD)[..]);
    }

    #[test]
    fn parses_v6_reply() {
        let packet = hex(REPLY_V6);
        let r = parse_reply(Family::V6, false, &packet, 0x1c2b).unwrap();
        assert_eq!((r.ident, r.seq), (0x1c2b, 1));
        assert_eq!(r.payload, &hex(PAYLOAD)[..]);
    }

    #[test]
    fn ip_header_options_are_skipped() {
        // IHL 6: one 4-byte option word (NOP NOP NOP EOL) before the ICMP part.
        let mut packet = hex(REPLY_V4_RAW);
        packet[0] = 0x46;
        packet.splice(20..20, [1, 1, 1, 0]);
        packet[3] += 4;
        let r = parse_reply(Family::V4, true, &packet, 0x1c2b).unwrap();
        assert_eq!(r.seq, 1);
        assert_eq!(r.payload, &hex(PAYLOAD)[..]);
    }

    #[test]
    fn rejects_truncated() {
        let packet = hex(REPLY_V4_RAW);
        // Cut inside the IP header.
        assert_eq!(
            parse_reply(Family::V4, true, &packet[..12], 0x1c2b),
            Err(ParseError::Truncated { len: 12, need: 20 })
        );
        // Cut before the total length the header announces.
        assert_eq!(
            parse_reply(Family::V4, true, &packet[..30], 0x1c2b),
            Err(ParseError::Truncated { len: 30, need: 44 })
        );
        // An ICMP header cut short.
        assert_eq!(
            parse_reply(Family::V6, false, &hex(REPLY_V6)[..5], 0x1c2b),
            Err(ParseError::Truncated { len: 5, need: 8 })
        );
        // Total length covering only the IP header.
        let mut short = packet.clone();
        short[3] = 20;
        assert!(matches!(
            parse_reply(Family::V4, true, &short, 0x1c2b),
            Err(ParseError::Truncated { len: 0, need: 8 })
        ));
    }

    #[test]
    fn rejects_bad_v4_checksum() {
        let mut packet = hex(REPLY_V4_DGRAM);
        packet[12] ^= 0xff; // flip a payload byte
        assert_eq!(
            parse_reply(Family::V4, false, &packet, 0x1c2b),
            Err(ParseError::BadChecksum { found: 0x852d })
        );
    }

    #[test]
    fn rejects_wrong_type() {
        // Our own request, seen by a raw socket when pinging ourselves.
        assert_eq!(
            parse_reply(Family::V4, false, &hex(REQUEST_V4), 0x1c2b),
            Err(ParseError::NotEchoReply { icmp_type: 8 })
        );
        // Destination unreachable (type 3) from a router, IP header first.
        let mut packet = hex(REPLY_V4_RAW);
        packet[20] = 3;
        assert_eq!(
            parse_reply(Family::V4, true, &packet, 0x1c2b),
            Err(ParseError::NotEchoReply { icmp_type: 3 })
        );
        // An ICMPv4 reply type read as ICMPv6.
        assert_eq!(
            parse_reply(Family::V6, false, &hex(REPLY_V4_DGRAM), 0x1c2b),
            Err(ParseError::NotEchoReply { icmp_type: 0 })
        );
    }

    #[test]
    fn rejects_non_icmp_and_non_ipv4() {
        let mut packet = hex(REPLY_V4_RAW);
        packet[9] = 17;
        assert_eq!(
            parse_reply(Family::V4, true, &packet, 0x1c2b),
            Err(ParseError::NotIcmp { protocol: 17 })
        );
        assert_eq!(
            parse_reply(Family::V4, true, &hex(REPLY_V4_DGRAM), 0x1c2b),
            Err(ParseError::NotIpv4 { version: 0 })
        );
    }

    #[test]
    fn rejects_wrong_identifier() {
        assert_eq!(
            parse_reply(Family::V4, true, &hex(REPLY_V4_RAW), 0x1c2c),
            Err(ParseError::WrongIdent {
                found: 0x1c2b,
                expected: 0x1c2c
            })
        );
        assert_eq!(
            parse_reply(Family::V6, false, &hex(REPLY_V6), 7),
            Err(ParseError::WrongIdent {
                found: 0x1c2b,
                expected: 7
            })
        );
    }

    #[test]
    fn raw_socket_opens_as_root_or_fails_with_the_fix() {
        // Only checks the error path's shape; the network tests send.
        match create_socket(Family::V4) {
            Ok(s) => assert_eq!(s.family(), Family::V4),
            Err(ProbeError::NoPermission {
                ping_group_range, ..
            }) => assert!(!ping_group_range.is_empty()),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}
