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

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::ping::resolve;
use super::ProbeError;
use crate::config::TcpConfig;
use crate::sample::{Labels, Sample};

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

/// Connects once to `cfg.host:cfg.port`.
pub fn run(cfg: &TcpConfig) -> Result<TcpOutcome, ProbeError> {
    let started = Instant::now();
    let mut target = match resolve(&cfg.host, cfg.ip_version) {
        Ok(t) => t,
        Err(e) => {
            return Ok(TcpOutcome {
                target: None,
                connect_ms: None,
                reason: Some(e.to_string()),
            })
        }
    };
    target.set_port(cfg.port);
    let left = cfg
        .timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    let t0 = Instant::now();
    match TcpStream::connect_timeout(&target, left) {
        Ok(stream) => {
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            drop(stream);
            Ok(TcpOutcome {
                target: Some(target),
                connect_ms: Some(ms),
                reason: None,
            })
        }
        Err(e) => Ok(TcpOutcome {
            target: Some(target),
            connect_ms: None,
            reason: Some(e.to_string()),
        }),
    }
}

/// `tcp_up` and `tcp_connect_ms`, labelled with `base` plus `host` and `port`.
pub fn samples(cfg: &TcpConfig, outcome: &TcpOutcome, base: &Labels, ts_ms: i64) -> Vec<Sample> {
    let labels = base
        .clone()
        .with("host", cfg.host.as_str())
        .with("port", cfg.port.to_string());
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
        out.push(Sample::new("tcp_connect_ms", labels, ms, ts_ms));
    }
    out
}

#[cfg(test)]
mod tests {
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
