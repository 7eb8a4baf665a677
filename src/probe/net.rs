//! Name resolution for the probes (ping, tcp, http): a host as written in
//! the config, an IP literal or a name, made into socket addresses of the
//! wanted IP version, with a bound on how long the system resolver may
//! take.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::ProbeError;
use crate::config::IpVersion;

/// `host` as a socket address of the wanted IP version: an IP literal as
/// is, a name through the system resolver (first matching address).
/// A lookup is given up after `within`.
pub fn resolve(
    host: &str,
    ip_version: IpVersion,
    within: Duration,
) -> Result<SocketAddr, ProbeError> {
    Ok(resolve_all(host, ip_version, within)?[0])
}

/// Every address of `host` of the wanted IP version, in the resolver's
/// order (at least one); a name's lookup is given up after `within`.
pub fn resolve_all(
    host: &str,
    ip_version: IpVersion,
    within: Duration,
) -> Result<Vec<SocketAddr>, ProbeError> {
    resolve_many(&[host], ip_version, within).remove(0)
}

/// Name lookups that may run at once, in the whole process: with a dead
/// DNS server each holds a thread for several seconds after it was given
/// up, and a router has few threads to spare.
const MAX_LOOKUPS: usize = 64;

/// Lookups running now (their threads not yet finished).
static LOOKUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// [`resolve_all`] for several hosts: the names are looked up at once,
/// each on a thread of its own, and all are given up together after
/// `within` (getaddrinfo has no timeout of its own; an unreachable DNS
/// server holds it for 5 s per attempt). A given-up lookup finishes in
/// the background.
pub fn resolve_many(
    hosts: &[&str],
    ip_version: IpVersion,
    within: Duration,
) -> Vec<Result<Vec<SocketAddr>, ProbeError>> {
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;
    type Answer = std::io::Result<Vec<SocketAddr>>;
    let deadline = Instant::now() + within;
    let pending: Vec<Result<Answer, mpsc::Receiver<Answer>>> = hosts
        .iter()
        .map(|host| {
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(Ok(vec![SocketAddr::new(ip, 0)]));
            }
            if LOOKUPS.fetch_add(1, Ordering::AcqRel) >= MAX_LOOKUPS {
                LOOKUPS.fetch_sub(1, Ordering::AcqRel);
                return Ok(Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!(
                        "{MAX_LOOKUPS} name lookups are still pending (is the DNS server reachable?)"
                    ),
                )));
            }
            let (tx, rx) = mpsc::channel();
            let name = host.to_string();
            let spawned = std::thread::Builder::new()
                .name("resolve".into())
                .spawn(move || {
                    let r = (name.as_str(), 0).to_socket_addrs().map(|a| a.collect());
                    LOOKUPS.fetch_sub(1, Ordering::AcqRel);
                    let _ = tx.send(r);
                });
            match spawned {
                Ok(_) => Err(rx),
                Err(e) => {
                    LOOKUPS.fetch_sub(1, Ordering::AcqRel);
                    Ok(Err(e))
                }
            }
        })
        .collect();
    hosts
        .iter()
        .zip(pending)
        .map(|(host, p)| {
            let answer = p.unwrap_or_else(|rx| {
                let left = deadline.saturating_duration_since(Instant::now());
                rx.recv_timeout(left).unwrap_or_else(|_| {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "the name lookup did not finish within {} ms (is the DNS server reachable?)",
                            within.as_millis()
                        ),
                    ))
                })
            });
            let addrs = answer.map_err(|source| ProbeError::Resolve {
                host: host.to_string(),
                source,
            })?;
            pick_version(host, addrs, ip_version)
        })
        .collect()
}

/// The addresses of the wanted IP version, without repeats (at least one).
fn pick_version(
    host: &str,
    addrs: Vec<SocketAddr>,
    ip_version: IpVersion,
) -> Result<Vec<SocketAddr>, ProbeError> {
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
    let mut fitting: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for a in addrs.into_iter().filter(fits) {
        if !fitting.contains(&a) {
            fitting.push(a);
        }
    }
    if fitting.is_empty() {
        return Err(ProbeError::NoAddress {
            host: host.to_string(),
            wanted,
        });
    }
    Ok(fitting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_literals_by_version() {
        let a = resolve("127.0.0.1", IpVersion::Any, Duration::from_secs(5)).unwrap();
        assert_eq!(a.ip().to_string(), "127.0.0.1");
        let a = resolve("::1", IpVersion::V6, Duration::from_secs(5)).unwrap();
        assert_eq!(a.ip().to_string(), "::1");
        let e = resolve("::1", IpVersion::V4, Duration::from_secs(5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "host \"::1\" has no IPv4 address; set ip_version (-4 or -6 with trigger) to match the host"
        );
        // Host names go to the system resolver; "localhost" is answered
        // from /etc/hosts, without a DNS query leaving the machine.
        let a = resolve("localhost", IpVersion::V4, Duration::from_secs(5)).unwrap();
        assert!(a.ip().is_loopback(), "{a}");
    }
}
