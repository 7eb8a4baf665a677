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
    #[error("host {host:?} has no {wanted} address; set ip_version (-4 or -6 with trigger) to match the host")]
    NoAddress { host: String, wanted: &'static str },

    /// Receiving from the socket failed with an error other than a timeout.
    #[error("cannot receive echo replies from {target}: {source}")]
    Receive {
        target: std::net::IpAddr,
        #[source]
        source: io::Error,
    },

    /// The http or scrape plugin's `ca_file` cannot be used.
    #[error("cannot use ca_file {path}: {reason}; expected a PEM file of CA certificates")]
    CaFile { path: String, reason: String },

    /// `body_regex` does not compile (the config loader checks it first).
    #[error("body_regex {regex:?} is not a valid regular expression: {reason}")]
    BodyRegex { regex: String, reason: String },

    /// The dns plugin cannot open or use its UDP socket.
    #[error("cannot query dns server {server}: {source}")]
    DnsSocket {
        server: std::net::SocketAddr,
        #[source]
        source: io::Error,
    },

    /// The exec plugin's command cannot be started.
    #[error("cannot run command `{command}`: {os_error}{hint}")]
    ExecSpawn {
        /// The command as configured, shortened.
        command: String,
        /// Shown in the message, not as a source: the message already
        /// says it, and a one-line error chain would say it twice.
        os_error: io::Error,
        /// What to check, from the kind of error (`""` when nothing useful).
        hint: &'static str,
    },

    /// The command ran but failed.
    #[error("command `{command}` {status}; stderr: {stderr}")]
    ExecFailed {
        command: String,
        /// `exited with status 3`, `was killed by signal 9`.
        status: String,
        /// The start of its stderr, or `(empty)`.
        stderr: String,
    },

    /// The command did not finish in time and was killed with its children.
    #[error(
        "command `{command}` did not finish within {timeout_ms} ms; it and every process it \
         started were killed (make it faster, or raise the plugin's timeout)"
    )]
    ExecTimeout { command: String, timeout_ms: u64 },

    /// The command's stdout is not the Prometheus text format.
    #[error("command `{command}` printed output that is not the Prometheus text format: {source}")]
    ExecOutput {
        command: String,
        #[source]
        source: super::textformat::ParseError,
    },

    /// The scrape request failed before an answer (connection, timeout, TLS).
    #[error("cannot scrape {url}: {detail}")]
    Scrape { url: String, detail: String },

    /// The endpoint answered with a status other than 200.
    #[error("scraping {url} got status {status}, expected 200: {body}")]
    ScrapeStatus {
        url: String,
        status: u16,
        /// The start of the answer's body.
        body: String,
    },

    /// A run that failed but has samples to keep all the same: a failed
    /// scrape still gives `up 0`, `scrape_duration_seconds` and
    /// `scrape_samples_scraped`, as Prometheus writes them. Reads as its
    /// `error`; the probe stores the samples and reports the error like
    /// any failed run's.
    #[error("{error}")]
    WithSamples {
        error: Box<ProbeError>,
        samples: Vec<crate::sample::Sample>,
    },

    /// The endpoint's body is not the Prometheus text format.
    #[error("{url} did not return the Prometheus text format: {source}")]
    ScrapeFormat {
        url: String,
        #[source]
        source: super::textformat::ParseError,
    },

    /// A plugin's own error type, declared next to its code: a new plugin
    /// need not add a variant here. Shown as its own message.
    #[error(transparent)]
    Plugin(Box<dyn std::error::Error + Send + Sync>),
}

impl ProbeError {
    /// `err`, a plugin's own error, as a `ProbeError`.
    pub fn plugin(err: impl std::error::Error + Send + Sync + 'static) -> ProbeError {
        ProbeError::Plugin(Box::new(err))
    }

    /// The error itself, and the samples the run still gave (none but
    /// for [`ProbeError::WithSamples`]).
    pub fn into_parts(self) -> (ProbeError, Vec<crate::sample::Sample>) {
        match self {
            ProbeError::WithSamples { error, samples } => (*error, samples),
            e => (e, Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugin's own error reads as its own message, with its causes.
    #[test]
    fn a_plugins_own_error_keeps_its_message_and_source() {
        #[derive(Debug, thiserror::Error)]
        #[error("modem answered AT+CSQ with ERROR")]
        struct ModemError(#[source] std::io::Error);
        let e = ProbeError::plugin(ModemError(std::io::Error::other("line busy")));
        assert_eq!(e.to_string(), "modem answered AT+CSQ with ERROR");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("line busy"));
    }

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
            "host \"example.org\" has no IPv6 address; set ip_version (-4 or -6 with trigger) to match the host"
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

    #[test]
    fn plugin_messages_name_the_value_and_the_fix() {
        let e = ProbeError::ExecTimeout {
            command: "sleep 60".into(),
            timeout_ms: 500,
        };
        assert_eq!(
            e.to_string(),
            "command `sleep 60` did not finish within 500 ms; it and every process it started \
             were killed (make it faster, or raise the plugin's timeout)"
        );
        let e = ProbeError::ExecFailed {
            command: "/usr/local/bin/ups".into(),
            status: "exited with status 3".into(),
            stderr: "no ups found".into(),
        };
        assert_eq!(
            e.to_string(),
            "command `/usr/local/bin/ups` exited with status 3; stderr: no ups found"
        );
        let e = ProbeError::ExecSpawn {
            command: "/nope".into(),
            os_error: io::Error::from_raw_os_error(libc::ENOENT),
            hint: " (is the program installed, and its path absolute or on PATH?)",
        };
        assert_eq!(
            e.to_string(),
            "cannot run command `/nope`: No such file or directory (os error 2) (is the program \
             installed, and its path absolute or on PATH?)"
        );
        let e = ProbeError::ScrapeStatus {
            url: "http://127.0.0.1:9100/metrics".into(),
            status: 404,
            body: "not found".into(),
        };
        assert_eq!(
            e.to_string(),
            "scraping http://127.0.0.1:9100/metrics got status 404, expected 200: not found"
        );
        let e = ProbeError::CaFile {
            path: "/etc/ca.pem".into(),
            reason: "no certificate found in it".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot use ca_file /etc/ca.pem: no certificate found in it; expected a PEM file of CA certificates"
        );
    }
}
