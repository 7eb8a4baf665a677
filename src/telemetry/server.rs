//! The HTTP listener on `http.listen` (loopback by default): `/metrics`
//! (Prometheus text format: the agent's own metrics and the latest result
//! of every probe, for pull mode), `/healthz` (200 while the agent runs,
//! with each backend's state and backlog), and `/api/wal/stats` (JSON, for
//! `sentinel wal stats` while the agent holds the WAL's lock), and the
//! status page for the person on site (`/`, `/api/status`, see `status.rs`).
//!
//! tiny_http is blocking: the listener has its own thread and never runs on
//! the actix event loop. It asks the WAL actor for stats by spawning the
//! request on the system arbiter and waiting on a channel, bounded in time.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::telemetry::Telemetry;
use crate::wal::{GetStats, Wal, WalStats};

/// How long `/api/wal/stats` waits for the WAL actor.
const STATS_TIMEOUT: Duration = Duration::from_secs(5);

/// What the listener needs to answer.
#[derive(Clone)]
pub struct Endpoints {
    pub telemetry: Arc<Telemetry>,
    pub wal: Addr<Wal>,
    /// Where to run the `GetStats` request (the actix system's arbiter).
    pub arbiter: actix_rt::ArbiterHandle,
    /// Agent name, for the /healthz header line and the status page.
    pub agent: String,
    /// Agent region, for the status page.
    pub region: String,
}

/// Binds `listen` and serves on a thread of its own.
/// How often a listen address that was busy or refused is tried again.
pub const BIND_RETRY: Duration = Duration::from_secs(30);

/// Serves the endpoints on `listen` from a thread of their own. When the
/// address cannot be bound (another process holds the port), the error is
/// returned for the caller to log, and the thread tries again every
/// [`BIND_RETRY`] until it can: the agent probes meanwhile.
pub fn start(listen: &str, endpoints: Endpoints) -> Result<(), String> {
    let bind = |listen: &str| {
        tiny_http::Server::http(listen)
            .map_err(|e| format!("cannot listen on {listen} (http.listen): {e}"))
    };
    let first = bind(listen);
    let failed = first.as_ref().err().cloned();
    let listen_owned = listen.to_string();
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            let server = match first {
                Ok(server) => server,
                Err(_) => loop {
                    std::thread::sleep(BIND_RETRY);
                    if let Ok(server) = bind(&listen_owned) {
                        log::info!(listen = listen_owned.as_str(); "HTTP listener is up after all; serving /metrics and /healthz.");
                        break server;
                    }
                },
            };
            for request in server.incoming_requests() {
                let (status, content_type, body) = route(&request, &endpoints);
                let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type)
                    .expect("static header");
                let response = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(header);
                let _ = request.respond(response);
            }
        })
        .map_err(|e| format!("cannot start the http thread: {e}"))?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn route(request: &tiny_http::Request, ep: &Endpoints) -> (u16, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    const PROM: &str = "text/plain; version=0.0.4; charset=utf-8";
    const JSON: &str = "application/json";
    if *request.method() != tiny_http::Method::Get && *request.method() != tiny_http::Method::Head {
        return (405, TEXT, "only GET is served here\n".into());
    }
    let path = request.url().split('?').next().unwrap_or("");
    match path {
        "/metrics" => (200, PROM, ep.telemetry.render()),
        "/healthz" => (200, TEXT, healthz(ep)),
        "/api/wal/stats" => match wal_stats(ep) {
            Ok(stats) => (
                200,
                JSON,
                serde_json::to_string(&stats).unwrap_or_else(|_| "{}".into()),
            ),
            Err(e) => (503, TEXT, format!("{e}\n")),
        },
        "/" => (
            200,
            "text/html; charset=utf-8",
            super::status::render_html(&ep.telemetry.status(&ep.agent, &ep.region)),
        ),
        "/api/status" => (
            200,
            JSON,
            serde_json::to_string(&ep.telemetry.status(&ep.agent, &ep.region))
                .unwrap_or_else(|_| "{}".into()),
        ),
        _ => (404, TEXT, format!("no such page: {path}\n")),
    }
}

/// Asks the WAL actor for its stats from this (non-actix) thread.
fn wal_stats(ep: &Endpoints) -> Result<WalStats, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let wal = ep.wal.clone();
    ep.arbiter.spawn(async move {
        let _ = tx.send(wal.send(GetStats).await);
    });
    match rx.recv_timeout(STATS_TIMEOUT) {
        Ok(Ok(Ok(stats))) => Ok(stats),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(format!("the WAL actor is gone: {e}")),
        Err(_) => Err("the WAL did not answer in time".into()),
    }
}

/// One line for the agent, one per backend: ok or in outage since when,
/// with the backlog.
fn healthz(ep: &Endpoints) -> String {
    let t = &ep.telemetry;
    // 200 either way (the agent runs); the first line says at a glance
    // whether every backend takes the data.
    let down = t.backend_health().iter().filter(|(_, h)| !h.ok).count();
    let mut out = if down == 0 {
        format!(
            "ok: sentinel {} running for {}s\n",
            ep.agent,
            t.uptime_seconds() as u64
        )
    } else {
        format!(
            "degraded: sentinel {} running for {}s, {down} backend(s) not storing\n",
            ep.agent,
            t.uptime_seconds() as u64
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for (name, h) in t.backend_health() {
        let l = crate::sample::Labels::new().with("backend", name.as_str());
        let backlog = t.get("sentinel_wal_samples_pending", &l) as u64;
        let age = t.get("sentinel_wal_oldest_sample_age_seconds", &l) as u64;
        if h.ok {
            out.push_str(&format!(
                "backend {name}: ok, backlog {backlog} samples, oldest {age}s\n"
            ));
        } else {
            out.push_str(&format!(
                "backend {name}: OUTAGE since {} ({}s, {}), backlog {backlog} samples, oldest {age}s: {}\n",
                crate::logging::rfc3339_ms(h.since_unix as i64 * 1000),
                now.saturating_sub(h.since_unix),
                h.reason,
                h.error
            ));
        }
    }
    out
}
