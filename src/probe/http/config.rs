//! The http plugin's configuration: `tasks[].config` (keys, defaults,
//! validation) and the arguments of `sentinel trigger http`, made into the
//! same config by the same validators.

use std::path::PathBuf;
use std::time::Duration;

use serde_yaml::Value;

use crate::cli::args::{duration_arg, readable_file_arg};
use crate::cli::UsageError;
use crate::config::plugin::{
    basic_auth_pair, check_probe_url, join, probe_timeout, probe_url, read_headers, Ctx, Loader,
    Node, Table,
};
use crate::config::{ConfigError, Secret};
use crate::probe::{Plugin, PluginInfo, ProbeError, ReadConfig, RunOutput, TaskCache, Triggered};
use crate::sample::Labels;

/// `method` of the http probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Head,
}

/// `plugin: http`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpProbeConfig {
    /// `http://` or `https://` URL; the `url` label.
    pub url: String,
    pub method: HttpMethod,
    /// Bound on the whole run: request, body and certificate check.
    pub timeout: Duration,
    /// Status codes that count as up, as inclusive ranges (`2xx` is
    /// `200..=299`). Default 2xx and 3xx.
    pub accepted_status: Vec<(u16, u16)>,
    /// A regular expression (regex-lite syntax) the body must match for
    /// `http_up` 1; checked at load.
    pub body_regex: Option<String>,
    /// Headers, basic auth and TLS.
    pub client: HttpClientConfig,
}

/// The HTTP client settings the http and scrape plugins share: the keys
/// of `HTTP_CLIENT_KEYS`, read and checked by [`read_client`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpClientConfig {
    /// Extra request headers, in file order.
    pub headers: Vec<(String, String)>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// A PEM file of CA certificates to trust for https.
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

/// The keys of [`HttpClientConfig`], last in the http and scrape plugins'
/// key lists.
pub(crate) const HTTP_CLIENT_KEYS: [&str; 6] = [
    "headers",
    "username",
    "password",
    "password_file",
    "ca_file",
    "insecure_skip_verify",
];

/// `head` followed by [`HTTP_CLIENT_KEYS`]: a plugin's key list.
pub(crate) const fn with_client_keys<const N: usize>(head: &[&'static str]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < head.len() {
        out[i] = head[i];
        i += 1;
    }
    let mut j = 0;
    while j < HTTP_CLIENT_KEYS.len() {
        out[i + j] = HTTP_CLIENT_KEYS[j];
        j += 1;
    }
    assert!(i + j == N, "N is the length of head plus HTTP_CLIENT_KEYS");
    out
}

/// What `url` takes.
const URL_WHAT: &str = "the URL to request (like https://192.0.2.1/)";

const HTTP_PROBE_KEYS: &[&str] =
    &with_client_keys::<11>(&["url", "method", "timeout", "accepted_status", "body_regex"]);

/// Reads the keys of `HTTP_CLIENT_KEYS`: `headers`, `username`,
/// `password`/`password_file`, `ca_file` and `insecure_skip_verify` (with
/// its warning naming `plugin`).
pub(crate) fn read_client(
    loader: &mut Loader,
    t: &Table,
    plugin: &str,
) -> Result<HttpClientConfig, ConfigError> {
    let ctx = &loader.ctx;
    let headers = match t.get("headers") {
        Some(n) => read_headers(ctx, &n, "X-Api-Key", |_| None)?,
        None => Vec::new(),
    };
    let username = match t.get("username") {
        Some(n) => Some(ctx.string(&n, "a user name")?),
        None => None,
    };
    let password = loader.secret(t, "password", "password_file", true)?;
    let ctx = &loader.ctx;
    basic_auth_pair(ctx, t, &username, &password)?;
    if username.is_some() {
        if let Some((n, _)) = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        {
            return Err(ctx.err(
                &join(&join(&t.path, "headers"), n),
                "found an Authorization header and username/password, expected only one way to authenticate",
            ));
        }
    }
    let ca_file = loader.ca_file(t, true)?;
    let insecure_skip_verify = match t.get("insecure_skip_verify") {
        Some(n) => loader.ctx.bool(&n)?,
        None => false,
    };
    if insecure_skip_verify {
        loader.warn(format!(
            "{}: {}.insecure_skip_verify is true: the {plugin} probe does not check the TLS certificate it is shown; prefer ca_file",
            loader.ctx.file, t.path
        ));
    }
    Ok(HttpClientConfig {
        headers,
        username,
        password,
        ca_file,
        insecure_skip_verify,
    })
}

/// One `accepted_status` item: `200`, `"2xx"` or `"200-204"`.
fn status_range(ctx: &Ctx, n: &Node) -> Result<(u16, u16), ConfigError> {
    const WHAT: &str = "a status code from 100 to 599, a class like 2xx, or a range like 200-299";
    let s = ctx.scalar(n, WHAT)?;
    let text = s.text.trim().to_ascii_lowercase();
    let code = |t: &str| {
        t.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    let range = if let Some(class) = text.strip_suffix("xx") {
        class
            .parse::<u16>()
            .ok()
            .filter(|c| (1..=5).contains(c))
            .map(|c| (c * 100, c * 100 + 99))
    } else if let Some((lo, hi)) = text.split_once('-') {
        match (code(lo), code(hi)) {
            (Some(lo), Some(hi)) if lo <= hi => Some((lo, hi)),
            _ => None,
        }
    } else {
        code(&text).map(|c| (c, c))
    };
    range.ok_or_else(|| ctx.err(&n.path, format!("found {}, expected {WHAT}", s.describe())))
}

/// `plugin: http`.
fn read(
    loader: &mut Loader,
    t: &Table,
    task_timeout: Duration,
) -> Result<HttpProbeConfig, ConfigError> {
    let ctx = &loader.ctx;
    let url = probe_url(ctx, t, URL_WHAT)?;
    let method = match t.get("method") {
        Some(n) => match ctx.choice(&n, &["get", "head"])? {
            "head" => HttpMethod::Head,
            _ => HttpMethod::Get,
        },
        None => HttpMethod::Get,
    };
    let timeout = probe_timeout(ctx, t, task_timeout)?;
    let accepted_status = match t.get("accepted_status") {
        Some(n) => {
            let items = match n.value {
                Value::Sequence(_) => ctx.seq(&n, "a list of status codes")?,
                _ => vec![n.clone()],
            };
            if items.is_empty() {
                return Err(ctx.err(
                    &n.path,
                    "found an empty list, expected status codes like [200, 3xx]",
                ));
            }
            items
                .iter()
                .map(|i| status_range(ctx, i))
                .collect::<Result<Vec<_>, _>>()?
        }
        None => vec![(200, 399)],
    };
    let body_regex = match t.get("body_regex") {
        Some(n) => {
            let re = ctx.string(&n, "a regular expression")?;
            if let Err(e) = regex_lite::Regex::new(&re) {
                let e = e.to_string().replace('\n', " ");
                return Err(ctx.err(
                    &n.path,
                    format!("found {re:?}, expected a regular expression: {e}"),
                ));
            }
            Some(re)
        }
        None => None,
    };
    if method == HttpMethod::Head && body_regex.is_some() {
        return Err(ctx.err(
            &join(&t.path, "body_regex"),
            "is set with method HEAD, which gets no body; use method GET or remove body_regex",
        ));
    }
    let client = read_client(loader, t, "http")?;
    Ok(HttpProbeConfig {
        url,
        method,
        timeout,
        accepted_status,
        body_regex,
        client,
    })
}

impl Plugin for HttpProbeConfig {
    const ABOUT: &'static str = "HTTP(S) GET or HEAD: http_up, http_status_code, http_response_ms, http_tls_cert_expiry_seconds";
    const KEYS: &'static [&'static str] = HTTP_PROBE_KEYS;
    const INFO: PluginInfo = super::INFO;
    const TRIGGER_ABOUT: &'static str =
        "HTTP(S) request: status, response time, certificate expiry. Exits 1 when http_up is 0.";
    type Args = HttpArgs;
    const TRIGGER_EXAMPLE: &'static [&'static str] = &["http://127.0.0.1:1/"];

    const REQUIRED: (&'static str, &'static str) = ("url", URL_WHAT);
    const READ: ReadConfig<Self> = read;

    fn max_run_time(&self) -> Duration {
        self.timeout
    }

    fn run(&self, base: &Labels, ts: i64) -> Result<RunOutput, ProbeError> {
        self.run_labelled(&super::labels(self, base), ts)
    }

    fn run_cached(&self, cache: &TaskCache, ts: i64) -> Result<RunOutput, ProbeError> {
        self.run_labelled(&cache.target("", |base| super::labels(self, base)), ts)
    }

    fn trigger(a: HttpArgs) -> anyhow::Result<Triggered> {
        let password = std::env::var("SENTINEL_HTTP_PASSWORD").ok();
        if a.username.is_some() != password.is_some() {
            return Err(UsageError(
                "--user needs the password in $SENTINEL_HTTP_PASSWORD, and the variable needs --user".into(),
            )
            .into());
        }
        if let Some(re) = &a.body_regex {
            regex_lite::Regex::new(re)
                .map_err(|e| UsageError(format!("--body-regex {re:?}: {e}")))?;
        }
        let cfg = HttpProbeConfig {
            url: a.url.clone(),
            method: if a.head {
                HttpMethod::Head
            } else {
                HttpMethod::Get
            },
            timeout: a.timeout,
            accepted_status: a.accepted_status.clone(),
            body_regex: a.body_regex.clone(),
            client: HttpClientConfig {
                headers: a.headers.clone(),
                username: a.username.clone(),
                password: password.map(Secret),
                ca_file: a.ca_file.clone(),
                insecure_skip_verify: a.insecure,
            },
        };
        let outcome = super::run(&cfg)?;
        let samples = super::samples(&cfg, &outcome, &Labels::new(), crate::sample::now_ms());
        let line = match (&outcome.status, &outcome.reason) {
            (Some(st), None) => format!("http {}: {st}, up", a.url),
            (Some(st), Some(why)) => format!("http {}: {st}, {why}", a.url),
            (None, why) => format!("http {}: down: {}", a.url, why.as_deref().unwrap_or("")),
        };
        Ok(Triggered {
            lines: vec![line],
            samples,
            up: outcome.up,
            config: cfg.into(),
        })
    }
}

/// `sentinel trigger http`.
#[derive(clap::Args, Debug)]
pub struct HttpArgs {
    /// The http:// or https:// URL.
    #[arg(value_parser = check_probe_url)]
    pub url: String,
    /// Send HEAD instead of GET.
    #[arg(long, conflicts_with = "body_regex")]
    pub head: bool,
    /// Timeout of the whole request (e.g. 10s).
    #[arg(short = 't', long = "timeout", default_value = "10s", value_parser = duration_arg)]
    pub timeout: Duration,
    /// Status codes counted as up, like 200,3xx,401-403.
    #[arg(long = "accept", default_value = "2xx,3xx", value_parser = super::parse_status_arg)]
    pub accepted_status: std::vec::Vec<(u16, u16)>,
    /// A regular expression the body must match.
    #[arg(long = "body-regex", value_name = "REGEX")]
    pub body_regex: Option<String>,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_parser = super::parse_header_arg)]
    pub headers: Vec<(String, String)>,
    /// Basic auth user; the password comes from $SENTINEL_HTTP_PASSWORD.
    #[arg(short = 'u', long = "user")]
    pub username: Option<String>,
    /// A PEM file of CA certificates to trust.
    #[arg(long = "ca-file", value_name = "FILE", value_parser = readable_file_arg)]
    pub ca_file: Option<PathBuf>,
    /// Do not check the server's certificate.
    #[arg(short = 'k', long = "insecure")]
    pub insecure: bool,
}

impl HttpProbeConfig {
    /// One run, its series labelled `labels`.
    fn run_labelled(&self, labels: &Labels, ts: i64) -> Result<RunOutput, ProbeError> {
        let outcome = super::run(self)?;
        Ok(RunOutput {
            samples: super::samples_labelled(&outcome, labels, ts),
            down: (!outcome.up).then(|| {
                let why = outcome.reason.clone().unwrap_or_else(|| "no answer".into());
                match outcome.status {
                    Some(status) if !why.starts_with("status ") => {
                        format!("status {status}, {why}")
                    }
                    _ => why,
                }
            }),
            ..RunOutput::default()
        })
    }
}
