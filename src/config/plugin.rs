//! Reading helpers the plugins' config readers share (each plugin's
//! reader is in its own `probe/<name>/config.rs`), and the validators
//! that `sentinel trigger` applies to its arguments, so that the command
//! line and the config file accept the same values.

use std::net::IpAddr;
use std::time::Duration;

pub(crate) use super::build::{
    basic_auth_pair, duration_at_least, read_headers, Loader, ABOVE_ZERO,
};
use super::build::{check_url, split_url};
pub(crate) use super::node::{describe, join, Ctx, Node, Table};
use super::{ConfigError, IpVersion, DEFAULT_PROBE_TIMEOUT};

/// A probe's target host as written: a name or an IP address, without a
/// port. `[::1]` is taken as `::1`. Returns the host to use.
pub fn check_host(host: &str) -> Result<String, String> {
    const WHAT: &str =
        "expected a host name or an IPv4/IPv6 address (like 192.168.1.1, ::1 or gw.example.net)";
    if host.is_empty()
        || host.len() > 253
        || host.starts_with('-')
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(format!("found {host:?}, {WHAT}"));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && host.parse::<std::net::Ipv4Addr>().is_err()
    {
        return Err(format!(
            "found {host:?}, which is not a valid IPv4 address; {WHAT}"
        ));
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if inner.parse::<std::net::Ipv6Addr>().is_ok() {
            return Ok(inner.to_string());
        }
    }
    if !host.contains(':') || host.parse::<std::net::Ipv6Addr>().is_ok() {
        if host.contains(['[', ']']) {
            return Err(format!("found {host:?}, {WHAT}"));
        }
        return Ok(host.to_string());
    }
    // A scoped IPv6 address (fe80::1%eth0) is for the resolver to judge.
    if host.contains('%') && !host.contains(['[', ']']) {
        return Ok(host.to_string());
    }
    let port_like = host.rsplit_once(':').is_some_and(|(h, p)| {
        let bracketed = h.len() > 2 && h.starts_with('[') && h.ends_with(']');
        let plain = !h.is_empty() && !h.contains([':', '[', ']']);
        (bracketed || plain) && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
    });
    if port_like {
        return Err(format!(
            "found {host:?}, a host with a port; expected the host alone (the tcp plugin takes the port under `port`)"
        ));
    }
    Err(format!(
        "found {host:?}, which is not a valid IPv6 address; {WHAT}"
    ))
}

/// `node` as a probe's target host, trimmed and checked.
pub(crate) fn host_value(ctx: &Ctx, node: &Node) -> Result<String, ConfigError> {
    let host = ctx
        .string(node, "a host name or an IP address")?
        .trim()
        .to_string();
    check_host(&host).map_err(|why| ctx.err(&node.path, why))
}

/// `ip_version`, checked against an IP literal in `hosts`.
pub(crate) fn ip_version_value(
    ctx: &Ctx,
    n: &Node,
    hosts: &[&str],
) -> Result<IpVersion, ConfigError> {
    const WHAT: &str = "one of 4, 6, ipv4, ipv6, any";
    let s = ctx.scalar(n, WHAT)?;
    let v = match s.text.trim().to_ascii_lowercase().as_str() {
        "4" | "ipv4" | "v4" => IpVersion::V4,
        "6" | "ipv6" | "v6" => IpVersion::V6,
        "any" | "auto" => IpVersion::Any,
        _ => return Err(ctx.err(&n.path, format!("found {}, expected {WHAT}", s.describe()))),
    };
    for host in hosts {
        let literal = host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .ok();
        let clash = match (v, literal) {
            (IpVersion::V4, Some(IpAddr::V6(_))) => Some("an IPv6 address"),
            (IpVersion::V6, Some(IpAddr::V4(_))) => Some("an IPv4 address"),
            _ => None,
        };
        if let Some(kind) = clash {
            return Err(ctx.err(
                &n.path,
                format!(
                    "found {}, but host {host:?} is {kind}; remove ip_version or make it match",
                    s.describe(),
                ),
            ));
        }
    }
    Ok(v)
}

/// A plugin's `timeout`: above zero and at most the task's timeout;
/// default `DEFAULT_PROBE_TIMEOUT` capped at the task's timeout.
pub(crate) fn probe_timeout(
    ctx: &Ctx,
    t: &Table,
    task_timeout: Duration,
) -> Result<Duration, ConfigError> {
    let Some(n) = t.get("timeout") else {
        return Ok(DEFAULT_PROBE_TIMEOUT.min(task_timeout));
    };
    let d = ctx.duration(&n)?;
    if d.is_zero() {
        return Err(ctx.err(
            &n.path,
            format!(
                "found {}, expected a duration above zero like 5s",
                describe(n.value)
            ),
        ));
    }
    Ok(d)
}

/// The plugin's table under `config`, or the error for a missing
/// `config` naming `required`, the first key it must have.
pub(crate) fn plugin_table<'v>(
    ctx: &Ctx,
    node: Option<&Node<'v>>,
    path: &str,
    keys: &[&str],
    required: &str,
    what: &str,
) -> Result<Table<'v>, ConfigError> {
    match node {
        Some(n) => ctx.table(n, keys),
        None => Err(ctx.err(
            &join(path, required),
            format!("is missing, expected {what} under config"),
        )),
    }
}

/// `url` of the http and scrape plugins.
pub(crate) fn probe_url(ctx: &Ctx, t: &Table, what: &str) -> Result<String, ConfigError> {
    let n = ctx.required(t, "url", what)?;
    let url = ctx
        .string(&n, "an http:// or https:// URL")?
        .trim()
        .to_string();
    if let Err(why) = check_url(&url) {
        let why = why.replace("http://127.0.0.1:8428/api/v1/write", "http://192.0.2.1/");
        return Err(ctx.err(&n.path, why));
    }
    Ok(url)
}

/// A probe's URL from the command line (`trigger http`, `trigger scrape`),
/// checked as the config checks it.
pub fn check_probe_url(url: &str) -> Result<String, String> {
    if split_url(url).is_some_and(|(authority, _)| authority.contains('@')) {
        return Err(
            "the URL holds credentials (user:password@), which would show in the output; use --user and $SENTINEL_HTTP_PASSWORD instead"
                .into(),
        );
    }
    check_url(url).map(|()| url.to_string())
}
