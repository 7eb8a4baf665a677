//! The `Supervisor`: builds the agent from a `Config`, reloads it on SIGHUP
//! and stops it in order on SIGTERM/SIGINT.
//!
//! Stop order (docs/DESIGN.md): probes first, so nothing new arrives; then a WAL
//! flush, so everything accepted is durable; then each shipper gets one
//! bounded last attempt; then one `Sender stopped.` line per backend with
//! `requests_ok`, `requests_failed` and `samples_sent`; then a final flush of
//! the cursors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::config::{self, Config, TaskConfig};
use crate::probe::{Probe, StopProbe};
use crate::sample::BackendId;
use crate::ship::{Drain, Shipper};
use crate::telemetry::Telemetry;
use crate::wal::{self, Flush, SetBackends, Wal};

/// How long the shippers get for their last attempt at stop. systemd's
/// `TimeoutStopSec` must stay above this plus a few seconds.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The value Prometheus reads as "this series ended" (a NaN with this
/// exact bit pattern); sent for every series of a removed task.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// The `task_id` of the agent's own metrics in the WAL and the logs.
pub const SELF_TASK_ID: &str = "sentinel_self";

/// Re-read the config file and apply it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload;

/// Stop everything in order, then the actix system.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Owns every actor of the running agent.
pub struct Supervisor {
    config: Config,
    telemetry: Arc<Telemetry>,
    wal: Addr<Wal>,
    /// Keeps the WAL's thread alive.
    _wal_arbiter: Arbiter,
    probes: BTreeMap<String, (TaskConfig, Addr<Probe>)>,
    shippers: BTreeMap<BackendId, Addr<Shipper>>,
    stopping: bool,
    /// The timer writing the agent's own metrics into the WAL.
    self_metrics: Option<SpawnHandle>,
}

/// Runs the agent until SIGTERM/SIGINT. Errors here are start-up failures
/// (the WAL cannot be opened, a backend's TLS setup fails).
pub fn run(config: Config) -> anyhow::Result<()> {
    let store = wal::open_or_recover(&config.buffer)?;
    log::info!(
        path = config.buffer.path.display().to_string().as_str();
        "WAL opened."
    );
    let system = actix::System::new();
    let result = system.block_on(async move {
        let telemetry = Arc::new(Telemetry::new());
        let arbiter = Arbiter::new();
        let buffer = config.buffer.clone();
        let t = telemetry.clone();
        let wal = Wal::start_in_arbiter(&arbiter.handle(), move |_| Wal::new(store, &buffer, t));
        let sup = Supervisor {
            config,
            telemetry,
            wal,
            _wal_arbiter: arbiter,
            probes: BTreeMap::new(),
            shippers: BTreeMap::new(),
            stopping: false,
            self_metrics: None,
        };
        if sup.config.http.enabled {
            let endpoints = crate::telemetry::server::Endpoints {
                telemetry: sup.telemetry.clone(),
                wal: sup.wal.clone(),
                arbiter: actix_rt::Arbiter::current(),
                agent: sup.config.agent.name.clone(),
                region: sup.config.agent.region.clone(),
            };
            match crate::telemetry::server::start(&sup.config.http.listen, endpoints) {
                Ok(()) => log::info!(
                    listen = sup.config.http.listen.as_str();
                    "Serving /metrics and /healthz."
                ),
                // Probing matters more than the listener: keep going.
                Err(e) => {
                    log::error!(error = e.as_str(); "HTTP listener failed; probing goes on, and the listener is tried again every 30 s.")
                }
            }
        }
        let addr = sup.start();
        listen_for_signals(addr.clone());
        Ok::<_, anyhow::Error>(())
    });
    result?;
    system.run()?;
    Ok(())
}

/// How long the runtime may take to wind down once everything is flushed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The runtime waits for its blocking tasks when it shuts down, and a
/// request to a backend that accepted the connection but never answers
/// holds one for up to `sender.timeout`: longer than systemd waits before
/// it kills. Everything is flushed by now (what that request carried is
/// still in the WAL, unacknowledged), so after a short grace the process
/// ends itself.
fn exit_if_stuck() {
    std::thread::spawn(|| {
        std::thread::sleep(EXIT_GRACE);
        log::warn!(
            duration_ms = EXIT_GRACE.as_millis() as u64;
            "Work still running at stop (a request a backend holds open, or a probe run); exiting without it. Unacknowledged samples stay in the WAL."
        );
        // Commands of exec probes still running would outlive us.
        crate::probe::exec::kill_running();
        log::logger().flush();
        std::process::exit(0);
    });
}

/// SIGTERM and SIGINT stop the agent, SIGHUP reloads it.
fn listen_for_signals(sup: Addr<Supervisor>) {
    use actix_rt::signal::unix::{signal, SignalKind};
    let stop = sup.clone();
    actix_rt::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            log::error!("Cannot listen for SIGTERM/SIGINT.");
            return;
        };
        tokio_select(&mut term, &mut int).await;
        log::info!("Stop requested; shutting down.");
        stop.do_send(Shutdown);
    });
    actix_rt::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            sup.do_send(Reload);
        }
    });
}

/// Waits for whichever of two signals comes first.
async fn tokio_select(
    a: &mut actix_rt::signal::unix::Signal,
    b: &mut actix_rt::signal::unix::Signal,
) {
    use std::future::poll_fn;
    use std::task::Poll;
    poll_fn(|cx| {
        if a.poll_recv(cx).is_ready() || b.poll_recv(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

impl Supervisor {
    /// Starts shippers and probes to match `self.config`, stopping what no
    /// longer belongs.
    fn apply(&mut self, ctx: &mut Context<Self>, agent_changed: bool) {
        // Backends.
        let wanted: BTreeMap<BackendId, _> = self
            .config
            .sender
            .backends
            .iter()
            .filter(|b| b.enabled)
            .map(|b| (b.id.clone(), b.clone()))
            .collect();
        let backends: Vec<BackendId> = wanted.keys().cloned().collect();
        let set = self.wal.send(SetBackends {
            backends: backends.clone(),
        });
        let removed: Vec<BackendId> = self
            .shippers
            .keys()
            .filter(|b| !wanted.contains_key(*b))
            .cloned()
            .collect();
        for b in removed {
            self.telemetry.remove_backend(b.as_str());
            if let Some(addr) = self.shippers.remove(&b) {
                addr.do_send(Drain {
                    deadline: Instant::now(),
                });
                log::info!(backend = b.as_str(); "Backend removed.");
            }
        }
        let sender = self.config.sender.clone();
        let new: Vec<_> = wanted
            .into_iter()
            .filter(|(id, _)| !self.shippers.contains_key(id))
            .collect();
        let wal = self.wal.clone();
        let telemetry = self.telemetry.clone();
        // Shippers start only once the WAL knows their cursors.
        let fut = set.into_actor(self).map(move |res, act, _| {
            match res {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::error!(error:% = e; "Setting the WAL's backends failed."),
                Err(e) => log::error!(error:% = e; "The WAL actor is gone."),
            }
            for (id, backend) in new {
                match Shipper::new(&backend, &sender, wal.clone(), telemetry.clone()) {
                    Ok(s) => {
                        act.shippers.insert(id, s.start());
                    }
                    Err(e) => {
                        log::error!(backend = id.as_str(), error:% = e; "Backend cannot be used; its data stays in the WAL.")
                    }
                }
            }
        });
        ctx.spawn(fut);
        if backends.is_empty() {
            log::warn!("No backend is enabled; samples are kept in the WAL only.");
        }

        // Tasks.
        let tasks: BTreeMap<String, TaskConfig> = self
            .config
            .tasks
            .iter()
            .filter(|t| t.enabled)
            .map(|t| (t.id.0.clone(), t.clone()))
            .collect();
        let stale: Vec<String> = self
            .probes
            .iter()
            .filter(|(id, (cfg, _))| agent_changed || tasks.get(*id) != Some(cfg))
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some((_, addr)) = self.probes.remove(&id) {
                addr.do_send(StopProbe);
                if tasks.contains_key(&id) {
                    // Changed: series the new run no longer has are marked
                    // stale by the probe after that run.
                    self.telemetry.retire_series(&id);
                } else {
                    self.mark_stale(&id);
                    log::info!(task_id = id.as_str(); "Task removed.");
                }
            }
        }
        for (id, task) in tasks {
            if self.probes.contains_key(&id) {
                continue;
            }
            self.telemetry
                .register_task(&id, &task.device_id, task.plugin.name(), task.interval);
            let probe = Probe::new(
                task.clone(),
                &self.config.agent,
                self.wal.clone(),
                self.telemetry.clone(),
            )
            .start();
            self.probes.insert(id, (task, probe));
        }
        self.telemetry.set(
            "sentinel_tasks",
            "Enabled tasks.",
            crate::sample::Labels::new(),
            self.probes.len() as f64,
        );
    }

    /// Writes Prometheus stale markers for every series of a removed task,
    /// so dashboards stop drawing them at once.
    fn mark_stale(&self, task_id: &str) {
        let last = self.telemetry.probe_result(task_id);
        self.telemetry.remove_probe(task_id);
        if last.is_empty() {
            return;
        }
        let ts =
            crate::sample::now_ms().max(last.iter().map(|s| s.timestamp_ms + 1).max().unwrap_or(0));
        let samples = last
            .into_iter()
            .map(|mut s| {
                s.value = f64::from_bits(STALE_NAN);
                s.timestamp_ms = ts;
                s
            })
            .collect();
        self.wal.do_send(crate::wal::Append {
            task_id: crate::sample::TaskId(task_id.to_string()),
            samples,
        });
    }

    /// (Re)starts the timer that records the agent's own metrics into the WAL.
    fn schedule_self_metrics(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.self_metrics.take() {
            ctx.cancel_future(h);
        }
        let Some(every) = self.config.agent.self_metrics_interval else {
            return;
        };
        let handle = ctx.run_interval(every, |act, _| {
            let agent = &act.config.agent;
            let mut base = agent.labels.clone();
            base.insert("sentinel", agent.name.as_str());
            base.insert("region", agent.region.as_str());
            let samples = act.telemetry.own_samples(&base, crate::sample::now_ms());
            act.wal.do_send(crate::wal::Append {
                task_id: crate::sample::TaskId(SELF_TASK_ID.to_string()),
                samples,
            });
        });
        self.self_metrics = Some(handle);
    }

    fn config_path(&self) -> PathBuf {
        self.config.file.clone()
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for w in &self.config.warnings {
            log::warn!(error = w.as_str(); "Config warning.");
        }
        self.apply(ctx, false);
        self.schedule_self_metrics(ctx);
        log::info!(
            tasks = self.probes.len(),
            version = env!("CARGO_PKG_VERSION");
            "Sentinel started."
        );
    }
}

impl Handler<Reload> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: Reload, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        if let Err(e) = crate::logging::reopen() {
            log::error!(error:% = e; "Reopening the log file failed.");
        }
        let path = self.config_path();
        match config::load(&path) {
            Ok(mut new) => {
                // What only a restart can change stays as it runs, so that
                // the next reload compares with what is running.
                if new.buffer.path != self.config.buffer.path {
                    log::warn!(
                        "buffer.path changed; the new path takes effect at the next restart."
                    );
                    new.buffer.path = self.config.buffer.path.clone();
                }
                if new.logging != self.config.logging {
                    log::warn!("logging settings changed; they take effect at the next restart.");
                    new.logging = self.config.logging.clone();
                }
                let agent_changed = new.agent.name != self.config.agent.name
                    || new.agent.region != self.config.agent.region
                    || new.agent.labels != self.config.agent.labels;
                // A backend whose settings changed is restarted.
                let changed: Vec<BackendId> = new
                    .sender
                    .backends
                    .iter()
                    .filter(|b| {
                        self.config
                            .sender
                            .backends
                            .iter()
                            .find(|o| o.id == b.id)
                            .is_some_and(|o| format!("{o:?}") != format!("{b:?}"))
                    })
                    .map(|b| b.id.clone())
                    .collect();
                for b in changed {
                    if let Some(addr) = self.shippers.remove(&b) {
                        addr.do_send(Drain {
                            deadline: Instant::now(),
                        });
                    }
                }
                let http_changed = new.http.listen != self.config.http.listen
                    || new.http.enabled != self.config.http.enabled;
                if http_changed {
                    log::warn!("http settings changed; they take effect at the next restart.");
                    new.http = self.config.http.clone();
                }
                self.config = new;
                self.apply(ctx, agent_changed);
                self.schedule_self_metrics(ctx);
                log::info!("Config reloaded.");
            }
            Err(e) => {
                log::error!(error:% = e; "Config reload failed; keeping the running config.");
            }
        }
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        for (_, (_, probe)) in std::mem::take(&mut self.probes) {
            probe.do_send(StopProbe);
        }
        let wal = self.wal.clone();
        let shippers: Vec<_> = self.shippers.clone().into_iter().collect();
        Box::pin(
            async move {
                if let Ok(Err(e)) = wal.send(Flush).await {
                    log::error!(error:% = e; "WAL flush at stop failed.");
                }
                let deadline = Instant::now() + DRAIN_TIMEOUT;
                let mut summaries = Vec::new();
                let drains: Vec<_> = shippers
                    .iter()
                    .map(|(id, addr)| (id.clone(), addr.send(Drain { deadline })))
                    .collect();
                for (id, d) in drains {
                    let limit =
                        deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
                    let s = actix_rt::time::timeout(limit, d).await;
                    summaries.push((id, s.ok().and_then(|r| r.ok()).unwrap_or_default()));
                }
                if let Ok(Err(e)) = wal.send(Flush).await {
                    log::error!(error:% = e; "WAL flush at stop failed.");
                }
                for (id, s) in summaries {
                    log::info!(
                        backend = id.as_str(),
                        requests_ok = s.requests_ok,
                        requests_failed = s.requests_failed,
                        samples_sent = s.samples_sent;
                        "Sender stopped."
                    );
                }
            }
            .into_actor(self)
            .map(|_, _, _| {
                System::current().stop();
                exit_if_stuck();
            }),
        )
    }
}
