//! The http plugin: one GET or HEAD of a URL per run, with ureq (blocking;
//! the probe actor runs it off the event loop). Also the HTTP client setup
//! the scrape plugin shares (`agent`, `request`).
//!
//! Samples, labelled with the task's labels plus `url`:
//! - `http_up`: 1 when a response came, its status is in
//!   `accepted_status` (default 2xx and 3xx; redirects are not followed)
//!   and, with `body_regex`, the body matches;
//! - `http_status_code` and `http_response_ms` (until the whole body is
//!   read) when a response came;
//! - `http_tls_cert_expiry_seconds` for https: seconds from now until the
//!   server certificate's notAfter, negative once it has expired.
//!
//! ureq does not show the peer certificate, so the expiry comes from a
//! second, separate TLS handshake over a plain `TcpStream` that accepts any
//! certificate (it only reads the leaf's validity; whether the certificate
//! is trusted is what the request itself checks, and a failure there makes
//! `http_up` 0). The notAfter field is read from the DER by `cert_not_after`
//! below, a few lines instead of an X.509 crate.
//!
//! The whole run, request and handshake, stays within the plugin's
//! `timeout`: the handshake gets what the request left, and is skipped when
//! nothing is left.

mod config;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::ProbeError;
use crate::sample::{Labels, Sample};
pub(crate) use config::{read_client, with_client_keys};
pub use config::{HttpArgs, HttpClientConfig, HttpMethod, HttpProbeConfig};

/// How much of a body is read to match `body_regex`; the rest is skipped.
pub const MAX_BODY_BYTES: u64 = 1 << 20;
/// The certificate handshake is skipped when less than this is left of
/// the run's timeout.
const MIN_HANDSHAKE_TIME: Duration = Duration::from_millis(10);
/// `User-Agent` of the http and scrape probes.
pub const USER_AGENT: &str = concat!("sentinel/", env!("CARGO_PKG_VERSION"));

/// The series of http, for `/metrics`, and what the status page reads.
pub const INFO: super::PluginInfo = super::PluginInfo {
    metrics: &[
        super::MetricDoc::gauge(
            "http_up",
            "1 when a response came with an accepted status (and the body matched body_regex), 0 otherwise.",
        ),
        super::MetricDoc::gauge("http_status_code", "Status code of the response."),
        super::MetricDoc::gauge(
            "http_response_ms",
            "Time from the request to the end of the response body, in ms.",
        ),
        super::MetricDoc::gauge(
            "http_tls_cert_expiry_seconds",
            "Seconds until the server certificate expires (https); negative once expired.",
        ),
    ],
    health: super::Health::up_and_ms("http_up", "http_response_ms"),
};

/// The result of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOutcome {
    /// The status, when a response came.
    pub status: Option<u16>,
    /// Request start to the end of the body, when a response came.
    pub response_ms: Option<f64>,
    pub up: bool,
    /// Seconds until the certificate's notAfter (https only).
    pub cert_expiry_seconds: Option<f64>,
    /// Why `up` is 0, or why the certificate could not be read.
    pub reason: Option<String>,
}

/// A ureq agent for the probes: `timeout` for the whole request, no
/// redirects, every status an `Ok`, TLS from the client's `ca_file` or
/// unchecked.
pub fn agent(timeout: Duration, client: &HttpClientConfig) -> Result<ureq::Agent, ProbeError> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(path) = client.ca_file.as_deref() {
        tls = tls.root_certs(crate::tls::load_ca_roots(path).map_err(|reason| {
            ProbeError::CaFile {
                path: path.display().to_string(),
                reason,
            }
        })?);
    }
    if client.insecure_skip_verify {
        tls = tls.disable_verification(true);
    }
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(timeout))
        .user_agent(USER_AGENT)
        .tls_config(tls.build())
        .build()
        .new_agent())
}

/// Headers for a probe request: basic auth first, then the configured ones.
pub fn request_headers(client: &HttpClientConfig) -> Vec<(String, String)> {
    let headers = &client.headers;
    let mut out = Vec::with_capacity(headers.len() + 1);
    if let Some(user) = client.username.as_deref() {
        let pass = client.password.as_ref().map_or("", |p| p.expose());
        out.push((
            "Authorization".to_string(),
            crate::tls::basic_auth(&format!("{user}:{pass}")),
        ));
    }
    out.extend(headers.iter().cloned());
    out
}

/// Requests `cfg.url` once.
pub fn run(cfg: &HttpProbeConfig) -> Result<HttpOutcome, ProbeError> {
    let started = Instant::now();
    let agent = agent(cfg.timeout, &cfg.client)?;
    let regex = match &cfg.body_regex {
        Some(re) => Some(
            regex_lite::Regex::new(re).map_err(|e| ProbeError::BodyRegex {
                regex: re.clone(),
                reason: e.to_string(),
            })?,
        ),
        None => None,
    };
    let headers = request_headers(&cfg.client);
    let result = match cfg.method {
        HttpMethod::Get => {
            let mut req = agent.get(&cfg.url);
            for (n, v) in &headers {
                req = req.header(n, v);
            }
            req.call()
        }
        HttpMethod::Head => {
            let mut req = agent.head(&cfg.url);
            for (n, v) in &headers {
                req = req.header(n, v);
            }
            req.call()
        }
    };
    let mut outcome = HttpOutcome {
        status: None,
        response_ms: None,
        up: false,
        cert_expiry_seconds: None,
        reason: None,
    };
    match result {
        Err(e) => outcome.reason = Some(describe_error(&e, cfg.timeout)),
        Ok(mut response) => {
            let status = response.status().as_u16();
            let (body, drained) = read_body(cfg.method, &mut response);
            outcome.status = Some(status);
            outcome.response_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            let accepted = cfg
                .accepted_status
                .iter()
                .any(|(lo, hi)| (*lo..=*hi).contains(&status));
            outcome.up = accepted;
            if let Err(e) = drained {
                outcome.up = false;
                outcome.reason = Some(format!("reading the body failed: {}", describe_io(&e)));
            } else if !accepted {
                outcome.reason = Some(format!(
                    "status {status} is not in accepted_status ({})",
                    format_ranges(&cfg.accepted_status)
                ));
            } else if let Some(re) = &regex {
                let text =
                    String::from_utf8_lossy(&body[..body.len().min(MAX_BODY_BYTES as usize)]);
                if !re.is_match(&text) {
                    outcome.up = false;
                    let cut = if body.len() as u64 > MAX_BODY_BYTES {
                        " (only its first 1 MiB is searched)"
                    } else {
                        ""
                    };
                    outcome.reason = Some(format!(
                        "the body does not match body_regex {:?}{cut}",
                        re.as_str()
                    ));
                }
            }
        }
    }
    let left = cfg.timeout.saturating_sub(started.elapsed());
    if left < MIN_HANDSHAKE_TIME {
        return Ok(outcome);
    }
    if let Some((host, addr)) = https_target(&cfg.url, left) {
        let left = cfg.timeout.saturating_sub(started.elapsed());
        if left >= MIN_HANDSHAKE_TIME {
            match peer_cert_not_after(&host, addr, left) {
                Ok(not_after) => outcome.cert_expiry_seconds = Some(not_after - unix_now()),
                Err(why) => {
                    log::debug!(error:% = why; "Reading the server certificate failed.");
                    if outcome.reason.is_none() {
                        outcome.reason = Some(format!("cannot read the certificate: {why}"));
                    }
                }
            }
        }
    }
    Ok(outcome)
}

/// Reads the body of `response`: up to [`MAX_BODY_BYTES`] kept (for
/// `body_regex`), the rest read and dropped so that the time covers the
/// whole body. Returns what was kept and whether reading worked.
///
/// One reader for the whole body: ureq decodes `Content-Encoding: gzip`
/// in the reader, and a second reader would start a second gzip stream
/// in the middle of the first (or at its end: "unexpected end of file"),
/// which made every gzip server (VictoriaMetrics, Prometheus) look down.
/// A response that has no body by definition (to HEAD; 1xx, 204, 304) is
/// not read at all: servers still send `Content-Encoding: gzip` there. A
/// body that ends before the first gzip byte (an empty body declared
/// gzip, as some servers send) is an empty body, not an error.
fn read_body(
    method: HttpMethod,
    response: &mut ureq::http::Response<ureq::Body>,
) -> (Vec<u8>, std::io::Result<()>) {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    if method == HttpMethod::Head || (100..200).contains(&status) || status == 204 || status == 304
    {
        return (body, Ok(()));
    }
    let mut reader = response.body_mut().as_reader();
    let read = (&mut reader)
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut body)
        .and_then(|_| std::io::copy(&mut reader, &mut std::io::sink()).map(|_| ()));
    match read {
        Err(e) if body.is_empty() && is_empty_gzip(&e) => (body, Ok(())),
        other => (body, other),
    }
}

/// Whether `e` is ureq's gzip decoder finding no gzip data at all.
fn is_empty_gzip(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|u| {
            matches!(u, ureq::Error::Decompress(_, io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
        })
}

/// An error while reading a body, in words: ureq's own errors (a timeout)
/// as [`describe_error`] puts them.
fn describe_io(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        Some(ureq::Error::Timeout(phase)) => format!("no complete answer in time ({phase})"),
        _ => e.to_string(),
    }
}

/// A `Name: value` header from the command line.
pub fn parse_header_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((n, v))
            if !n.trim().is_empty() && n.trim().bytes().all(crate::config::is_header_char) =>
        {
            Ok((n.trim().to_string(), v.trim().to_string()))
        }
        Some((n, _)) if !n.trim().is_empty() => Err(format!(
            "found header name {:?}, expected letters, digits and !#$%&'*+-.^_`|~",
            n.trim()
        )),
        _ => Err(format!("found {s:?}, expected `Name: value`")),
    }
}

/// `200,3xx,401-403` from the command line, as inclusive ranges.
pub fn parse_status_arg(s: &str) -> Result<Vec<(u16, u16)>, String> {
    let code = |t: &str| {
        t.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    s.split(',')
        .map(|item| {
            let item = item.trim().to_ascii_lowercase();
            let r = if let Some(class) = item.strip_suffix("xx") {
                class
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (1..=5).contains(c))
                    .map(|c| (c * 100, c * 100 + 99))
            } else if let Some((lo, hi)) = item.split_once('-') {
                code(lo).zip(code(hi)).filter(|(lo, hi)| lo <= hi)
            } else {
                code(&item).map(|c| (c, c))
            };
            r.ok_or_else(|| {
                format!(
                    "found {item:?}, expected status codes, classes or ranges like 200,3xx,401-403"
                )
            })
        })
        .collect()
}

/// `200-399` or `200, 301-302` for messages.
fn format_ranges(ranges: &[(u16, u16)]) -> String {
    ranges
        .iter()
        .map(|(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A ureq error as a short reason.
pub fn describe_error(e: &ureq::Error, timeout: Duration) -> String {
    match e {
        ureq::Error::Timeout(phase) => format!(
            "no complete answer within the timeout of {} ms ({phase})",
            timeout.as_millis()
        ),
        ureq::Error::HostNotFound => "the host name does not resolve".into(),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => with_tls_advice(e.to_string()),
        ureq::Error::Io(io)
            if io.kind() == std::io::ErrorKind::InvalidData
                && (io.to_string().contains("certificate")
                    || io.to_string().contains("InvalidContentType")) =>
        {
            with_tls_advice(io.to_string())
        }
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// A TLS failure followed by what to do about it.
fn with_tls_advice(detail: String) -> String {
    let advice = crate::tls::advice(&detail);
    format!("{detail}: {advice}")
}

/// For an https URL, the host (for SNI) and the first address of its
/// authority; `None` for http or a URL that does not resolve within
/// `within`.
fn https_target(url: &str, within: Duration) -> Option<(String, SocketAddr)> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    if uri.scheme_str() != Some("https") {
        return None;
    }
    let auth = uri.authority()?;
    let host = auth
        .host()
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    let port = auth.port_u16().unwrap_or(443);
    let mut addr = super::net::resolve(&host, crate::config::IpVersion::Any, within).ok()?;
    addr.set_port(port);
    Some((host, addr))
}

/// Completes a TLS handshake with `addr` within `timeout` and returns the
/// leaf certificate's notAfter as Unix seconds.
fn peer_cert_not_after(host: &str, addr: SocketAddr, timeout: Duration) -> Result<f64, String> {
    let deadline = Instant::now() + timeout;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("the TLS handshake did not finish in time".into());
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        sock.set_write_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("the server sent no certificate")?;
    cert_not_after(leaf.as_ref())
        .map(|s| s as f64)
        .ok_or_else(|| "the certificate's validity cannot be read".into())
}

/// Accepts every server certificate: this handshake only reads it.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One DER element: tag, contents, and what follows it.
fn der_next(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = data.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The notAfter of an X.509 certificate (DER) as Unix seconds:
/// Certificate → tbsCertificate → [version] serial signature issuer
/// validity → notAfter (UTCTime or GeneralizedTime).
pub fn cert_not_after(der: &[u8]) -> Option<i64> {
    const SEQUENCE: u8 = 0x30;
    let (tag, cert, _) = der_next(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = der_next(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    // The optional explicit [0] version.
    if tbs.first() == Some(&0xa0) {
        tbs = der_next(tbs)?.2;
    }
    for _ in 0..3 {
        tbs = der_next(tbs)?.2; // serialNumber, signature, issuer
    }
    let (tag, validity, _) = der_next(tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    let (_, _, rest) = der_next(validity)?; // notBefore
    let (tag, time, _) = der_next(rest)?;
    parse_asn1_time(tag, std::str::from_utf8(time).ok()?)
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`, tag 0x18) as Unix seconds; X.509 requires UTC and
/// whole seconds.
fn parse_asn1_time(tag: u8, s: &str) -> Option<i64> {
    let digits = s.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: i64 = digits[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (0x18, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| rest[i..i + 2].parse::<i64>().ok();
    let (month, day, hour, min, sec) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    Some(crate::time::days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

/// The `http_*` samples of one request, labelled with `base` plus `url`.
pub fn samples(
    cfg: &HttpProbeConfig,
    outcome: &HttpOutcome,
    base: &Labels,
    ts_ms: i64,
) -> Vec<Sample> {
    samples_labelled(outcome, &labels(cfg, base), ts_ms)
}

/// The label set of the task's series: `base` plus `url`.
pub fn labels(cfg: &HttpProbeConfig, base: &Labels) -> Labels {
    base.clone().with("url", cfg.url.as_str())
}

/// [`samples`] with the label set given.
pub fn samples_labelled(outcome: &HttpOutcome, labels: &Labels, ts_ms: i64) -> Vec<Sample> {
    let mut out = Vec::with_capacity(4);
    let mut push =
        |name: &str, value: f64| out.push(Sample::new(name, labels.clone(), value, ts_ms));
    push("http_up", if outcome.up { 1.0 } else { 0.0 });
    if let Some(status) = outcome.status {
        push("http_status_code", f64::from(status));
    }
    if let Some(ms) = outcome.response_ms {
        push("http_response_ms", ms);
    }
    if let Some(s) = outcome.cert_expiry_seconds {
        push("http_tls_cert_expiry_seconds", s.round());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    /// `openssl req -x509 -newkey ec ... -days 3650 -subj /CN=sentinel-test`:
    /// notAfter=Nov 23 07:52:47 2036 GMT (UTCTime).
    const CERT_UTCTIME: &str = "-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUF+Kwop4lD5/gHGiEL7kfTS5tVW8wCgYIKoZIzj0EAwIwGDEWMBQGA1UEAwwNc2VudGluZWwtdGVzdDAeFw0yNjExMjYwNzUyNDdaFw0zNjExMjMwNzUyNDdaMBgxFjAUBgNVBAMMDXNlbnRpbmVsLXRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARLMc6rt4o67dQ2jYoQjFZ2Ysn6RoKiZx4UD0qSP3EYsnsIbSuv+pp7ZfX+KG0M0asILnLlLeOo/3GxO11ZAUQao1MwUTAdBgNVHQ4EFgQUKn9xhs2RfwYzNnADwxqgt+WwfcwwHwYDVR0jBBgwFoAUKn9xhs2RfwYzNnADwxqgt+WwfcwwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiA1WB+dcgIeUObKnzSDervhmCw8YD/0rOtqmqjPGv2S/AIhAObn2Vh4YSzCdZCUVKSSu4M9mXzmsEgvcV58iu3rLZ8x
-----END CERTIFICATE-----
";
    /// An RSA certificate valid for 100 years: notAfter=Nov 2 07:52:47
    /// 2126 GMT, past 2049 and so a GeneralizedTime.
    const CERT_GENERALIZED: &str = "-----BEGIN CERTIFICATE-----
MIIDETCCAfmgAwIBAgIUMGPiY0+YqeO4CFQMH2IynKQNzzQwDQYJKoZIhvcNAQELBQAwFzEVMBMGA1UEAwwMc2VudGluZWwtZ2VuMCAXDTI2MTEyNjA3NTI0N1oYDzIxMjYxMTAyMDc1MjQ3WjAXMRUwEwYDVQQDDAxzZW50aW5lbC1nZW4wggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQC7dFlEEGCG065AhlZ1Glk1sH4Jm/8q6jHYgGcmC58OMSUgyIHEyniZkMD/d2T3lA+law9r7XPaNkT6uAGgGJLKLUDO2OyFXFXviFmsh+fVOOAVcLNIcALFPnpNvKmr0NlwRdDYwiCnGdbyEB4gBTlufB8EfEcX3VrCB+IT0Z61uqivtbaYDp391VT4Oqbwnxds/0S5o8M+5MeXt5cO3vletPxAmAmFMA1q3zla9sE5S465bwMsElUVmuOHw8CdQ/1FdnXlu6eRvJKuV37ILkexzWoTYJj45RimVnLll9DDWbtdo0I/y7B29DEwQ4/OZKY+Io8G82BWXcZ1Y2R5N1TPAgMBAAGjUzBRMB0GA1UdDgQWBBQ9fow+O3wveGfgGxe6asAEajXbbTAfBgNVHSMEGDAWgBQ9fow+O3wveGfgGxe6asAEajXbbTAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4IBAQC098X+nJjPljUynbspm4knsj7s9Xri1tWWHWNc/sgxHLsRMFJXsXgWm5VtbwX8QV0EncR6MZahz13vwQARSuLruNr3ZFivBAcAVh0XpoA6NjHI8XVlbHpGd91tqtGXWXwkJ+uHfcYOncYmZI2TuaoIixbuzzGQTfLx0VS0Ja/bnc8FGH1vNYkzzW5OT/M9vNh4b01L8E0yaNmFm56k09dP8isRGXh3QoiJ2+FqauzWlNSLiyhFBXM04XE1xgr1mMPVBnjW/nTuaMOkhJYnolHRmYCQ417CyoxaDVqxo41xDfSrYcraaw3YKNX7O0uQW3CXNqRFGBW09Y0jqHO5cj2C
-----END CERTIFICATE-----
";

    fn der(pem: &str) -> Vec<u8> {
        match ureq::tls::parse_pem(pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
        {
            ureq::tls::PemItem::Certificate(c) => c.der().to_vec(),
            _ => panic!("not a certificate"),
        }
    }

    #[test]
    fn not_after_of_real_certificates() {
        // `date -d "Nov 23 07:52:47 2036 GMT" +%s`
        assert_eq!(cert_not_after(&der(CERT_UTCTIME)), Some(2_111_039_567));
        assert_eq!(cert_not_after(&der(CERT_GENERALIZED)), Some(4_949_279_567));
    }

    #[test]
    fn damaged_certificates_give_none() {
        let d = der(CERT_UTCTIME);
        for cut in [0, 1, 2, 10, 60, 100] {
            assert_eq!(cert_not_after(&d[..cut]), None, "cut at {cut}");
        }
        assert_eq!(cert_not_after(b"\x04\x02ab"), None);
    }

    #[test]
    fn asn1_times() {
        assert_eq!(parse_asn1_time(0x17, "700101000000Z"), Some(0));
        assert_eq!(parse_asn1_time(0x17, "491231235959Z"), Some(2_524_607_999));
        assert_eq!(parse_asn1_time(0x18, "20000229120000Z"), Some(951_825_600));
        assert_eq!(parse_asn1_time(0x17, "20000229120000Z"), None);
        assert_eq!(parse_asn1_time(0x17, "701301000000Z"), None);
        assert_eq!(parse_asn1_time(0x17, "700101000000"), None);
    }

    #[test]
    fn basic_auth_header() {
        let h = request_headers(&HttpClientConfig {
            username: Some("admin".into()),
            password: Some(Secret("pa:ss".into())),
            headers: vec![("X-A".into(), "1".into())],
            ..HttpClientConfig::default()
        });
        assert_eq!(
            h,
            [
                (
                    "Authorization".to_string(),
                    "Basic YWRtaW46cGE6c3M=".to_string()
                ),
                ("X-A".to_string(), "1".to_string())
            ]
        );
    }

    #[test]
    fn command_line_arguments() {
        assert_eq!(
            parse_status_arg("200, 3xx,401-403"),
            Ok(vec![(200, 200), (300, 399), (401, 403)])
        );
        assert!(parse_status_arg("6xx").is_err());
        assert_eq!(
            parse_header_arg("X-A: b c"),
            Ok(("X-A".to_string(), "b c".to_string()))
        );
        assert!(parse_header_arg("nocolon").is_err());
    }

    #[test]
    fn ranges_in_messages() {
        assert_eq!(format_ranges(&[(200, 399)]), "200-399");
        assert_eq!(format_ranges(&[(200, 200), (301, 302)]), "200, 301-302");
    }

    #[test]
    fn samples_without_a_response() {
        let cfg = HttpProbeConfig {
            url: "http://127.0.0.1:1/".into(),
            method: HttpMethod::Get,
            timeout: Duration::from_secs(1),
            accepted_status: vec![(200, 399)],
            body_regex: None,
            client: HttpClientConfig::default(),
        };
        let o = HttpOutcome {
            status: None,
            response_ms: None,
            up: false,
            cert_expiry_seconds: None,
            reason: Some("connection refused".into()),
        };
        let s = samples(&cfg, &o, &Labels::new(), 1);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].name.as_str(), s[0].value), ("http_up", 0.0));
        assert_eq!(s[0].labels.get("url"), Some("http://127.0.0.1:1/"));
    }
}
