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

pub mod plan;

/// The longest a backend restarted by a reload waits for its old
/// shipper's batch in flight: in practice until that batch ends (each of
/// its requests ends at the backend's timeout); a bound only so that a
/// wait can never be endless.
const RESTART_WAIT: Duration = Duration::from_secs(3600);

/// How long the shippers get for their last attempt at stop. systemd's
/// `TimeoutStopSec` must stay above this plus a few seconds.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The `task_id` of the agent's own metrics in the WAL and the logs.
pub const SELF_TASK_ID: &str = "sentinel_self";

/// How long a thread of the runtime's blocking pool (probe runs, requests
/// to backends) waits for more work before it ends. Tokio's default, 10 s,
/// kept two idle threads alive for good with a task every 10 s; a thread
/// is cheap to start again for the next run.
pub const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(2);

/// The actix system's runtime: what `System::new` builds (one thread,
/// every driver), with a shorter [`BLOCKING_KEEP_ALIVE`].
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
}

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
    /// Backends whose shipper is being replaced (a reload changed their
    /// settings): the new one starts when the old one is idle.
    restarting: BTreeMap<BackendId, Addr<Shipper>>,
    /// A config load is running off the event loop.
    reloading: bool,
    /// SIGHUP arrived during that load: load again after it.
    reload_again: bool,
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
    let rt = runtime().map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))?;
    let system = actix::System::with_tokio_rt(|| rt);
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
            restarting: BTreeMap::new(),
            reloading: false,
            reload_again: false,
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
    /// longer belongs; `changed` names the tasks a reload changed (their
    /// probes restart).
    fn apply(&mut self, ctx: &mut Context<Self>, changed_tasks: &[String]) {
        // Backends.
        let backends: Vec<BackendId> = self
            .config
            .enabled_backends()
            .map(|b| b.id.clone())
            .collect();
        let set = self.wal.send(SetBackends {
            backends: backends.clone(),
        });
        let removed: Vec<BackendId> = self
            .shippers
            .keys()
            .filter(|b| !backends.contains(b))
            .cloned()
            .collect();
        for b in removed {
            self.telemetry.remove_backend(b.as_str());
            if let Some(addr) = self.shippers.remove(&b) {
                addr.do_send(Drain {
                    deadline: Instant::now(),
                    last_attempt: false,
                });
                log::info!(backend = b.as_str(); "Backend removed.");
            }
        }
        // Shippers start only once the WAL knows their cursors.
        let fut = set.into_actor(self).map(move |res, act, _| {
            match res {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::error!(error:% = e; "Setting the WAL's backends failed."),
                Err(e) => log::error!(error:% = e; "The WAL actor is gone."),
            }
            act.start_shippers();
        });
        ctx.spawn(fut);
        if backends.is_empty() {
            log::warn!("No backend is enabled; samples are kept in the WAL only.");
        }

        // Tasks.
        let tasks: BTreeMap<String, TaskConfig> = self
            .config
            .enabled_tasks()
            .map(|t| (t.id.0.clone(), t.clone()))
            .collect();
        let stale: Vec<String> = self
            .probes
            .keys()
            .filter(|id| !tasks.contains_key(*id) || changed_tasks.contains(id))
            .cloned()
            .collect();
        for id in stale {
            if let Some((_, addr)) = self.probes.remove(&id) {
                addr.do_send(StopProbe);
                // Process-wide state of the task: what its new config
                // (if any) no longer has goes with it.
                let hosts = match tasks.get(&id).map(|t| &t.plugin) {
                    Some(crate::probe::PluginConfig::Ping(p)) => p.targets(),
                    _ => Vec::new(),
                };
                crate::probe::ping::forget_histograms(&id, &hosts);
                if tasks.contains_key(&id) {
                    // Changed: series the new run no longer has are marked
                    // stale by the probe after that run.
                    self.telemetry.retire_series(&id);
                } else {
                    self.mark_stale(&id);
                    log::info!(task_id = id.as_str(); "Task removed; its series are marked stale.");
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

    /// Starts a shipper for every enabled backend that has none, except
    /// those whose previous shipper is still finishing its request.
    fn start_shippers(&mut self) {
        let sender = &self.config.sender;
        for backend in sender.backends.iter().filter(|b| b.enabled) {
            let id = &backend.id;
            if self.shippers.contains_key(id) || self.restarting.contains_key(id) {
                continue;
            }
            match Shipper::new(backend, sender, self.wal.clone(), self.telemetry.clone()) {
                Ok(s) => {
                    self.shippers.insert(id.clone(), s.start());
                }
                Err(e) => {
                    log::error!(backend = id.as_str(), error:% = e; "Backend cannot be used; its data stays in the WAL.")
                }
            }
        }
    }

    /// Carries out a reload: `new` was loaded off the event loop.
    fn reload(&mut self, new: Config, ctx: &mut Context<Self>) {
        let p = plan::plan(&self.config, new);
        for section in &p.needs_restart {
            log::warn!(section = *section; "Settings changed that take effect at the next restart.");
        }
        if p.agent_changed {
            log::info!(
                "sentinel.name, region or labels changed; every task restarts with the new labels."
            );
        }
        for id in &p.tasks.added {
            log::info!(task_id = id.as_str(); "Task added.");
        }
        for id in p.tasks.changed.iter().filter(|_| !p.agent_changed) {
            log::info!(task_id = id.as_str(); "Task changed; it restarts with its new settings.");
        }
        for id in &p.backends.added {
            log::info!(backend = id.as_str(); "Backend added.");
        }
        // A backend whose settings changed gets a new shipper once the old
        // one has finished the batch it has in flight (every request of it
        // ends at its timeout; a refused batch may take up to 64 of them),
        // so that no batch is sent twice; its cursor stays.
        for id in &p.backends.changed {
            let Some(old) = self.shippers.remove(id) else {
                continue;
            };
            log::info!(backend = id.as_str(); "Backend changed; it restarts with its new settings.");
            self.restarting.insert(id.clone(), old.clone());
            let stopped = old.send(Drain {
                deadline: Instant::now() + RESTART_WAIT,
                last_attempt: false,
            });
            let id = id.clone();
            ctx.spawn(stopped.into_actor(self).map(move |_, act, _| {
                act.restarting.remove(&id);
                if !act.stopping {
                    act.start_shippers();
                }
            }));
        }
        self.config = p.config;
        self.apply(ctx, &p.tasks.changed);
        self.schedule_self_metrics(ctx);
        log::info!(
            tasks = self.probes.len(),
            backends = self.config.enabled_backends().count();
            "Config reloaded."
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
        let mut samples = last;
        crate::sample::mark_stale(&mut samples, ts);
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
        self.apply(ctx, &[]);
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

    /// Loads the file off the event loop (a large or hostile file must not
    /// stall probing, shipping or a stop), then applies it. A SIGHUP during
    /// a load is remembered and loads again after it.
    fn handle(&mut self, _: Reload, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        if self.reloading {
            self.reload_again = true;
            return;
        }
        self.reloading = true;
        if let Err(e) = crate::logging::reopen() {
            log::error!(error:% = e; "Reopening the log file failed.");
        }
        let path = self.config_path();
        let load = actix_rt::task::spawn_blocking(move || config::load(&path));
        ctx.spawn(load.into_actor(self).map(|res, act, ctx| {
            act.reloading = false;
            if act.stopping {
                return;
            }
            match res {
                Ok(Ok(new)) => act.reload(new, ctx),
                Ok(Err(e)) => {
                    log::error!(error:% = e; "Config reload failed; keeping the running config.")
                }
                Err(e) => {
                    log::error!(error:% = e; "Config reload crashed; keeping the running config.")
                }
            }
            if std::mem::take(&mut act.reload_again) {
                ctx.notify(Reload);
            }
        }));
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
        // A shipper being replaced (reload) is still finishing its batch:
        // it is waited for too, without a last attempt of its own.
        let shippers: Vec<_> = self
            .shippers
            .iter()
            .map(|(id, a)| (id.clone(), a.clone(), true))
            .chain(
                self.restarting
                    .iter()
                    .map(|(id, a)| (id.clone(), a.clone(), false)),
            )
            .collect();
        Box::pin(
            async move {
                if let Ok(Err(e)) = wal.send(Flush).await {
                    log::error!(error:% = e; "WAL flush at stop failed.");
                }
                let deadline = Instant::now() + DRAIN_TIMEOUT;
                let mut summaries = Vec::new();
                let drains: Vec<_> = shippers
                    .iter()
                    .map(|(id, addr, last_attempt)| {
                        let drain = Drain {
                            deadline,
                            last_attempt: *last_attempt,
                        };
                        (id.clone(), addr.send(drain))
                    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A blocking-pool thread (a probe run's) ends soon after its work,
    /// instead of idling for tokio's default 10 s: with a task every 10 s
    /// that kept it alive for good.
    #[test]
    fn idle_blocking_threads_end() {
        let rt = runtime().unwrap();
        let tid = rt.block_on(async {
            // SAFETY: gettid has no preconditions.
            tokio::task::spawn_blocking(|| unsafe { libc::gettid() })
                .await
                .unwrap()
        });
        let task = format!("/proc/self/task/{tid}");
        assert!(std::path::Path::new(&task).exists(), "{task}");
        std::thread::sleep(BLOCKING_KEEP_ALIVE + Duration::from_secs(1));
        // The runtime is still alive: only the keep-alive can have ended it.
        assert!(!std::path::Path::new(&task).exists(), "{task} still runs");
        drop(rt);
    }
}
