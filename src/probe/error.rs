//! `ProbeError`: why a probe run could not produce a measurement at all.
//!
//! Lost echoes are not errors (they are what a ping measures: loss 100 %,
//! `ping_reachable` 0). An error here means the probe could not even try:
//! the host name does not resolve, the agent may not open an ICMP socket,
//! or the kernel refused a socket option. Every message names the value
//! and, where the operator can act, says how to fix it.

use std::io;

/// Why a probe run failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Neither an unprivileged ICMP datagram socket nor a raw socket may be
    /// opened by this process.
    #[error(
        "no permission to open an icmp{version} socket: run sentinel as root, \
         or give the binary CAP_NET_RAW (`setcap cap_net_raw+ep /usr/bin/sentinel`, \
         or `AmbientCapabilities=CAP_NET_RAW` in the systemd unit), \
         or allow unprivileged ping for its group with \
         `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` \
         (current net.ipv4.ping_group_range: {ping_group_range})"
    )]
    NoPermission {
        /// `""` for ICMPv4, `"v6"` for ICMPv6.
        version: &'static str,
        /// The contents of /proc/sys/net/ipv4/ping_group_range, or why it
        /// could not be read.
        ping_group_range: String,
    },

    /// Opening the socket failed for another reason than permissions
    /// (IPv6 disabled, out of file descriptors ...).
    #[error("cannot open an icmp{version} socket: {source}")]
    Socket {
        version: &'static str,
        #[source]
        source: io::Error,
    },

    /// The kernel refused a socket option, e.g. `ttl: 0`.
    #[error("cannot set {option} to {value} on the icmp socket: {source}")]
    SocketOption {
        option: &'static str,
        value: u32,
        #[source]
        source: io::Error,
    },

    /// The host name did not resolve.
    #[error("cannot resolve host {host:?}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },

    /// The host resolved, but not to an address of the wanted IP version
    /// (or an IP literal of the other version was configured).
    #[error("host {host:?} has no {wanted} address; set ip_version to match the host")]
    NoAddress { host: String, wanted: &'static str },

    /// Receiving from the socket failed with an error other than a timeout.
    #[error("cannot receive echo replies from {target}: {source}")]
    Receive {
        target: std::net::IpAddr,
        #[source]
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_permission_spells_out_every_fix() {
        let e = ProbeError::NoPermission {
            version: "",
            ping_group_range: "1\t0".into(),
        };
        let text = e.to_string();
        assert_eq!(
            text,
            "no permission to open an icmp socket: run sentinel as root, or give the binary \
             CAP_NET_RAW (`setcap cap_net_raw+ep /usr/bin/sentinel`, or \
             `AmbientCapabilities=CAP_NET_RAW` in the systemd unit), or allow unprivileged \
             ping for its group with `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` \
             (current net.ipv4.ping_group_range: 1\t0)"
        );
    }

    #[test]
    fn messages_name_the_value() {
        let e = ProbeError::NoAddress {
            host: "example.org".into(),
            wanted: "IPv6",
        };
        assert_eq!(
            e.to_string(),
            "host \"example.org\" has no IPv6 address; set ip_version to match the host"
        );
        let e = ProbeError::SocketOption {
            option: "ttl",
            value: 0,
            source: io::Error::from_raw_os_error(libc::EINVAL),
        };
        assert!(e
            .to_string()
            .starts_with("cannot set ttl to 0 on the icmp socket: "));
        let e = ProbeError::Socket {
            version: "v6",
            source: io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
        };
        assert!(e.to_string().starts_with("cannot open an icmpv6 socket: "));
    }
}
