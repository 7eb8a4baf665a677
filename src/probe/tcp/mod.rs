//! The tcp plugin: one TCP connect to `host:port` per run, timed. Blocking,
//! bounded by the plugin's `timeout`; no actix.
//!
//! `tcp_up` is 1 when the three-way handshake completed, and
//! `tcp_connect_ms` is how long it took (not emitted when the port is
//! closed, filtered or the time ran out: no made-up zero). A refused or
//! timed-out connect is a measurement, not an error; so is a host name
//! that does not resolve (`tcp_up` 0, as ping reports such a host
//! unreachable). The connection is closed at once, without sending
//! anything.

mod config;

use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::net::resolve_all;
use super::ProbeError;
use crate::sample::{Labels, Sample};
pub use config::{TcpArgs, TcpConfig};

/// The series of tcp, for `/metrics`, and what the status page reads.
pub const INFO: super::PluginInfo = super::PluginInfo {
    metrics: &[
        super::MetricDoc::gauge(
            "tcp_up",
            "1 when the TCP handshake with host:port completed, 0 otherwise.",
        ),
        super::MetricDoc::gauge("tcp_connect_ms", "Time the TCP handshake took, in ms."),
    ],
    health: super::Health::up_and_ms("tcp_up", "tcp_connect_ms"),
};

/// The result of one connect.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpOutcome {
    /// The address connected to; `None` when the host did not resolve.
    pub target: Option<SocketAddr>,
    /// Connect time when the handshake completed.
    pub connect_ms: Option<f64>,
    /// Why the port is down (`connection refused`, `timed out` ...).
    pub reason: Option<String>,
}

/// Connects to `cfg.host:cfg.port`: to each of the host's addresses in
/// the resolver's order until one takes the connection (a name with an
/// IPv6 address whose service listens on IPv4 only is up, as for curl),
/// all within `cfg.timeout`. `connect_ms` times the connect that worked.
pub fn run(cfg: &TcpConfig) -> Result<TcpOutcome, ProbeError> {
    let started = Instant::now();
    let targets = match resolve_all(&cfg.host, cfg.ip_version, cfg.timeout) {
        Ok(t) => t,
        Err(e) => {
            return Ok(TcpOutcome {
                target: None,
                connect_ms: None,
                reason: Some(e.to_string()),
            })
        }
    };
    Ok(connect_first(targets, cfg.port, cfg.timeout, started))
}

/// Tries `targets` (with `port`) in order until one connects, all within
/// `timeout` from `started`.
fn connect_first(
    targets: Vec<SocketAddr>,
    port: u16,
    timeout: std::time::Duration,
    started: Instant,
) -> TcpOutcome {
    let mut failures: Vec<String> = Vec::new();
    let mut last = None;
    let n = targets.len();
    for (i, mut target) in targets.into_iter().enumerate() {
        target.set_port(port);
        last = Some(target);
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            failures.push(format!("{target}: no time left"));
            break;
        }
        // Each address gets its share of the time left, so that one whose
        // packets are dropped (a filtered IPv6 route) leaves time for the
        // next; the last gets all of it.
        let share = left / (n - i) as u32;
        let t0 = Instant::now();
        match TcpStream::connect_timeout(&target, share.max(std::time::Duration::from_millis(1))) {
            Ok(stream) => {
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                drop(stream);
                return TcpOutcome {
                    target: Some(target),
                    connect_ms: Some(ms),
                    reason: None,
                };
            }
            Err(e) => failures.push(format!("{target}: {e}")),
        }
    }
    let reason = if failures.len() == 1 {
        // One address: the error alone, the address is printed beside it.
        failures[0]
            .split_once(": ")
            .map_or(failures[0].clone(), |(_, e)| e.to_string())
    } else {
        failures.join("; ")
    };
    TcpOutcome {
        target: last,
        connect_ms: None,
        reason: Some(reason),
    }
}

/// `tcp_up` and `tcp_connect_ms`, labelled with `base` plus `host` and `port`.
pub fn samples(cfg: &TcpConfig, outcome: &TcpOutcome, base: &Labels, ts_ms: i64) -> Vec<Sample> {
    samples_labelled(outcome, &labels(cfg, base), ts_ms)
}

/// The label set of the task's series: `base` plus `host` and `port`.
pub fn labels(cfg: &TcpConfig, base: &Labels) -> Labels {
    base.clone()
        .with("host", cfg.host.as_str())
        .with("port", cfg.port.to_string())
}

/// [`samples`] with the label set given.
pub fn samples_labelled(outcome: &TcpOutcome, labels: &Labels, ts_ms: i64) -> Vec<Sample> {
    let mut out = vec![Sample::new(
        "tcp_up",
        labels.clone(),
        if outcome.connect_ms.is_some() {
            1.0
        } else {
            0.0
        },
        ts_ms,
    )];
    if let Some(ms) = outcome.connect_ms {
        out.push(Sample::new("tcp_connect_ms", labels.clone(), ms, ts_ms));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn the_next_address_is_tried_when_one_refuses() {
        // Like a name with an IPv6 address whose service listens on IPv4
        // only: ::1 refuses, 127.0.0.1 takes it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let targets: Vec<SocketAddr> =
            vec!["[::1]:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()];
        let o = connect_first(targets, port, Duration::from_secs(2), Instant::now());
        assert_eq!(
            o.target,
            Some(SocketAddr::from(([127, 0, 0, 1], port))),
            "{o:?}"
        );
        assert!(o.connect_ms.is_some() && o.reason.is_none(), "{o:?}");
        drop(listener);
        // Keep the port ours (bound, not listening: connects are refused),
        // so a parallel test cannot take it.
        let _hold = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .and_then(|s| {
                s.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())
                    .map(|()| s)
            });
        // Both refuse: each address is named in the reason.
        let targets: Vec<SocketAddr> =
            vec!["[::1]:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()];
        let o = connect_first(targets, port, Duration::from_secs(2), Instant::now());
        let reason = o.reason.unwrap();
        assert!(
            reason.contains(&format!("[::1]:{port}"))
                && reason.contains(&format!("127.0.0.1:{port}")),
            "{reason}"
        );
    }
    use super::*;
    use crate::config::IpVersion;

    fn cfg(port: u16) -> TcpConfig {
        TcpConfig {
            host: "127.0.0.1".into(),
            port,
            timeout: Duration::from_secs(2),
            ip_version: IpVersion::Any,
        }
    }

    #[test]
    fn open_port_is_up_with_a_connect_time() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = cfg(listener.local_addr().unwrap().port());
        let o = run(&c).unwrap();
        assert!(o.connect_ms.unwrap() >= 0.0);
        let s = samples(&c, &o, &Labels::new().with("task_id", "t"), 5);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].name.as_str(), s[0].value), ("tcp_up", 1.0));
        assert_eq!(s[1].name, "tcp_connect_ms");
        assert_eq!(s[1].labels.get("port"), Some(c.port.to_string().as_str()));
        assert_eq!(s[1].labels.get("host"), Some("127.0.0.1"));
    }

    #[test]
    fn closed_port_is_down_without_a_connect_time() {
        // Bind, learn the port, close: nothing listens there now.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = cfg(port);
        let o = run(&c).unwrap();
        assert_eq!(o.connect_ms, None);
        assert!(o.reason.as_deref().unwrap().contains("refused"), "{o:?}");
        let s = samples(&c, &o, &Labels::new(), 5);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].name.as_str(), s[0].value), ("tcp_up", 0.0));
    }
}
