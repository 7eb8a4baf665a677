//! Probes: the `Probe` actor (one per enabled task) and one folder per
//! plugin.
//!
//! A probe runs its plugin on the task's interval, off the event loop
//! (plugins block on sockets), stamps the samples with the run's start time
//! in milliseconds, encodes the run as WAL records on the same thread and
//! sends them to the WAL, one `AppendRecord` each (several, one after the
//! other, past `APPEND_MAX_SAMPLES`: a task of thousands of hosts, a large
//! page). A page (scrape, exec) goes from its text to records in one pass
//! (`textformat::encode`), the task's labels encoded once ([`TaskCache`]);
//! the other plugins give samples whose label sets the task builds once.
//! Telemetry keeps the latest run (the samples, or a page's records,
//! decoded when `/metrics` asks). A probe never talks to a backend. A run still going when the next is due makes the
//! next one skip (counted as `result="skipped"`), so a slow target never
//! piles up threads.
//!
//! # Plugins
//!
//! A plugin lives in one folder, `probe/<name>/`: `mod.rs` runs it,
//! `config.rs` holds its config type, which implements [`Plugin`]: the
//! keys of `tasks[].config` and their reader (defaults and validation),
//! the `trigger` arguments and how they become that same config, its
//! metric names and which of them the status page reads. The
//! [`plugins!`] line below registers it: the module, the `PluginConfig`
//! variant, [`run_once`]'s arm and the row of [`PLUGINS`], which the
//! config loader, `list-plugins`, `trigger`, `/metrics` and the status
//! page all read.

pub mod error;
pub mod icmp;
pub mod net;
pub mod pinger;
pub mod textformat;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::config::plugin::{plugin_table, Loader, Node, Table};
use crate::config::{AgentConfig, ConfigError, TaskConfig};
use crate::sample::{now_ms, Labels, Sample};
use crate::telemetry::{LastRun, Telemetry};
use crate::wal::record::{self, EncodedLabels};
use crate::wal::{Append, AppendRecord, Wal};

pub use error::ProbeError;

/// Extra time a run may take past its task's timeout before it is
/// abandoned, for thread scheduling and name resolution.
const RUN_GRACE: Duration = Duration::from_secs(2);

/// What a plugin is, implemented by its config type (in
/// `probe/<name>/config.rs`). Its name is the one it is registered under
/// in [`plugins!`].
pub(crate) trait Plugin: Sized + Into<PluginConfig> {
    /// One line for `list-plugins`.
    const ABOUT: &'static str;
    /// The keys allowed under `tasks[].config`.
    const KEYS: &'static [&'static str];
    /// Notes `list-plugins` prints after some keys: `(key, note)`.
    const KEY_NOTES: &'static [(&'static str, &'static str)] = &[];
    /// Its metric families and the series the status page reads.
    const INFO: PluginInfo;
    /// The help line of `sentinel trigger <name>`.
    const TRIGGER_ABOUT: &'static str;
    /// The arguments of `sentinel trigger <name>` (`--json` is added to
    /// every plugin's).
    type Args: clap::Args + clap::FromArgMatches;
    /// Arguments `Args` accepts, like `["127.0.0.1"]`: the tests parse
    /// `sentinel trigger <name> --json` with them.
    const TRIGGER_EXAMPLE: &'static [&'static str];

    /// The key a task's `config` needs first and what it takes, for the
    /// error when the task has no `config`: `("host", "the host to ...")`.
    const REQUIRED: (&'static str, &'static str);
    /// Reads `tasks[i].config`, given as a table whose keys are known to
    /// be among `KEYS`; `task_timeout` caps the plugin's default timeout.
    /// The plugin file's `read` function.
    const READ: ReadConfig<Self>;

    /// The longest one run can take; must fit in the task's timeout.
    fn max_run_time(&self) -> Duration;

    /// How `max_run_time` adds up, for the error when it does not fit.
    fn run_time_terms(&self) -> String {
        format!(
            "its timeout = {}",
            crate::config::units::format_duration(self.max_run_time())
        )
    }

    /// One run, blocking; the samples carry `base` plus the plugin's own
    /// labels, stamped `ts`.
    fn run(&self, base: &Labels, ts: i64) -> Result<RunOutput, ProbeError>;

    /// One run of a task, blocking, with what the task keeps from one
    /// run to the next (`cache.base` is its base labels). A plugin that
    /// reads a page (scrape, exec) writes it into WAL records in one pass
    /// ([`RunOutput::records`]); the others reuse their targets' label
    /// sets. By default [`Plugin::run`].
    fn run_cached(&self, cache: &TaskCache, ts: i64) -> Result<RunOutput, ProbeError> {
        self.run(&cache.base, ts)
    }

    /// `sentinel trigger <name>`: the arguments made into the plugin's
    /// config by the config's own validators, run once.
    fn trigger(args: Self::Args) -> anyhow::Result<Triggered>;
}

/// What `sentinel trigger` prints: the config it ran, the lines above the
/// sample table, the samples, and whether it went well (exit 0 or 1).
#[derive(Debug)]
pub struct Triggered {
    pub config: PluginConfig,
    pub lines: Vec<String>,
    pub samples: Vec<Sample>,
    pub up: bool,
}

/// One row of [`PLUGINS`]: what the rest of the agent needs of a plugin,
/// without its type.
pub struct PluginEntry {
    pub name: &'static str,
    pub about: &'static str,
    pub keys: &'static [&'static str],
    pub key_notes: &'static [(&'static str, &'static str)],
    pub info: PluginInfo,
    pub trigger_about: &'static str,
    /// Arguments its `trigger` accepts (`Plugin::TRIGGER_EXAMPLE`).
    pub trigger_example: &'static [&'static str],
    pub(crate) read: ReadFn,
    pub(crate) trigger_args: fn(clap::Command) -> clap::Command,
    pub(crate) trigger: fn(&clap::ArgMatches) -> anyhow::Result<Triggered>,
}

/// How the config loader reads a task's `config`: the loader, the node
/// (`None` when the task has none), its path and the task's timeout.
type ReadFn = fn(&mut Loader, Option<&Node>, &str, Duration) -> Result<PluginConfig, ConfigError>;

/// A plugin's reader of a task's `config`: the loader, the table of its
/// keys and the task's timeout (the cap of the plugin's default timeout).
pub(crate) type ReadConfig<T> = fn(&mut Loader, &Table, Duration) -> Result<T, ConfigError>;

impl PluginEntry {
    /// The config keys as `list-plugins` shows them.
    pub fn keys_help(&self) -> String {
        self.keys
            .iter()
            .map(|k| match self.key_notes.iter().find(|(n, _)| n == k) {
                Some((_, note)) => format!("{k} ({note})"),
                None => k.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn read_as<P: Plugin>(
    loader: &mut Loader,
    node: Option<&Node>,
    path: &str,
    task_timeout: Duration,
) -> Result<PluginConfig, ConfigError> {
    let (key, what) = P::REQUIRED;
    let t = plugin_table(&loader.ctx, node, path, P::KEYS, key, what)?;
    (P::READ)(loader, &t, task_timeout).map(Into::into)
}

fn trigger_as<P: Plugin>(m: &clap::ArgMatches) -> anyhow::Result<Triggered> {
    let args = <P::Args as clap::FromArgMatches>::from_arg_matches(m)?;
    P::trigger(args)
}

/// Registers the plugins: `module => Variant(ConfigType)` makes
/// `probe::module`, the `PluginConfig::Variant` holding its config, and
/// its row of `PLUGINS` (named `module`). The config type must implement
/// [`Plugin`].
macro_rules! plugins {
    ($($module:ident => $variant:ident($config:ident)),* $(,)?) => {
        $(pub mod $module;)*

        /// The plugin-specific part of a task, `tasks[i].config`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum PluginConfig {
            $($variant($module::$config),)*
        }

        $(impl From<$module::$config> for PluginConfig {
            fn from(c: $module::$config) -> PluginConfig {
                PluginConfig::$variant(c)
            }
        })*

        impl PluginConfig {
            pub fn name(&self) -> &'static str {
                match self {
                    $(PluginConfig::$variant(_) => stringify!($module),)*
                }
            }

            /// The longest one run of the plugin can take; must fit in
            /// the task's timeout.
            pub fn max_run_time(&self) -> Duration {
                match self {
                    $(PluginConfig::$variant(c) => c.max_run_time(),)*
                }
            }

            /// How `max_run_time` adds up, for messages.
            pub fn run_time_terms(&self) -> String {
                match self {
                    $(PluginConfig::$variant(c) => c.run_time_terms(),)*
                }
            }

            fn run_cached(&self, cache: &TaskCache, ts: i64) -> Result<RunOutput, ProbeError> {
                match self {
                    $(PluginConfig::$variant(c) => c.run_cached(cache, ts),)*
                }
            }
        }

        /// The plugins this build knows, in the order `list-plugins` and
        /// `trigger --help` show them.
        pub static PLUGINS: &[PluginEntry] = &[$(PluginEntry {
            name: stringify!($module),
            about: <$module::$config as Plugin>::ABOUT,
            keys: <$module::$config as Plugin>::KEYS,
            key_notes: <$module::$config as Plugin>::KEY_NOTES,
            info: <$module::$config as Plugin>::INFO,
            trigger_about: <$module::$config as Plugin>::TRIGGER_ABOUT,
            trigger_example: <$module::$config as Plugin>::TRIGGER_EXAMPLE,
            read: read_as::<$module::$config>,
            trigger_args: <<$module::$config as Plugin>::Args as clap::Args>::augment_args,
            trigger: trigger_as::<$module::$config>,
        },)*];
    };
}

plugins! {
    ping => Ping(PingConfig),
    tcp => Tcp(TcpConfig),
    http => Http(HttpProbeConfig),
    dns => Dns(DnsConfig),
    exec => Exec(ExecConfig),
    scrape => Scrape(ScrapeConfig),
}

/// The plugin named `name`.
pub fn plugin(name: &str) -> Option<&'static PluginEntry> {
    PLUGINS.iter().find(|p| p.name == name)
}

/// The type of a metric family, for the `# TYPE` line of `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    Counter,
    /// `<name>_bucket`, `<name>_sum` and `<name>_count`.
    Histogram,
}

impl MetricType {
    /// As written after `# TYPE name`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
            MetricType::Histogram => "histogram",
        }
    }
}

/// A metric family a plugin writes: declared once, next to the plugin's
/// code, and printed as `# HELP` and `# TYPE` on `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDoc {
    pub name: &'static str,
    pub kind: MetricType,
    pub help: &'static str,
}

impl MetricDoc {
    pub const fn gauge(name: &'static str, help: &'static str) -> MetricDoc {
        MetricDoc {
            name,
            kind: MetricType::Gauge,
            help,
        }
    }

    pub const fn histogram(name: &'static str, help: &'static str) -> MetricDoc {
        MetricDoc {
            name,
            kind: MetricType::Histogram,
            help,
        }
    }
}

/// Which of a plugin's series tell the status page whether its targets
/// answered and how fast: declared once per plugin, next to its code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Health {
    /// 1 for each target that answered, 0 for each that did not. A run
    /// without it (exec; a scrape before it has an `up`) counts as one
    /// target that answered: the run itself worked.
    pub up: Option<&'static str>,
    /// The latency of a target and the factor that makes it milliseconds.
    pub latency: Option<(&'static str, f64)>,
    /// The fastest and slowest answer of a target, in milliseconds.
    pub latency_min: Option<&'static str>,
    pub latency_max: Option<&'static str>,
    /// Loss in percent.
    pub loss: Option<&'static str>,
}

impl Health {
    /// An up metric and a latency in milliseconds.
    pub const fn up_and_ms(up: &'static str, latency_ms: &'static str) -> Health {
        Health {
            up: Some(up),
            latency: Some((latency_ms, 1.0)),
            latency_min: None,
            latency_max: None,
            loss: None,
        }
    }
}

/// What a plugin declares about its series.
#[derive(Debug, Clone, Copy)]
pub struct PluginInfo {
    pub metrics: &'static [MetricDoc],
    pub health: Health,
}

/// The declarations of the plugin named `plugin` (`ping`, `tcp`, ...).
pub fn plugin_info(plugin: &str) -> Option<&'static PluginInfo> {
    self::plugin(plugin).map(|p| &p.info)
}

/// The declared family a series named `name` belongs to (a histogram's
/// `_bucket`, `_sum` and `_count` belong to the histogram); `None` for
/// series no plugin declares (what exec and scrape read from a page).
pub fn metric_doc(name: &str) -> Option<&'static MetricDoc> {
    let docs = || PLUGINS.iter().flat_map(|p| p.info.metrics.iter());
    docs().find(|d| d.name == name).or_else(|| {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))?;
        docs().find(|d| d.name == base && d.kind == MetricType::Histogram)
    })
}

/// The labels every series of `task` carries: the agent's (`sentinel`,
/// `region`, `sentinel.labels`), the task's `labels`, then `device_id` and
/// `task_id`. Later ones win on equal names.
pub fn base_labels(agent: &AgentConfig, task: &TaskConfig) -> Labels {
    let mut l = agent.labels.clone();
    l.insert("sentinel", agent.name.as_str());
    l.insert("region", agent.region.as_str());
    l.extend(&task.labels);
    l.insert("device_id", task.device_id.as_str());
    l.insert("task_id", task.id.as_str());
    l
}

/// What one run of a plugin gives: its samples and, when it reports its
/// target (or some of its targets) down, why. Every plugin returns this
/// from [`run_once`]; the probe actor logs the reason (thinned, like a
/// failing probe) and telemetry shows it in `/api/status` (`reason`) and
/// on the status page. A plugin that can report "down" with samples (a
/// failed scrape's `up 0`) sets `down`; a run that gives no result at
/// all is a [`ProbeError`] instead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutput {
    /// The run's samples; when `records` is not empty, only those of its
    /// series that the status page reads (a scrape's `up` and duration),
    /// which the records hold too.
    pub samples: Vec<Sample>,
    /// The whole run written as WAL records in one pass (scrape, exec),
    /// in order; empty for a run given as `samples`.
    pub records: Vec<Vec<u8>>,
    /// Why the run reports its target down (`tcp_up 0`: "connection
    /// refused"); `None` while every target answers.
    pub down: Option<String>,
}

impl From<Vec<Sample>> for RunOutput {
    /// A run whose targets all answered.
    fn from(samples: Vec<Sample>) -> RunOutput {
        RunOutput {
            samples,
            ..RunOutput::default()
        }
    }
}

/// Runs `plugin` once, blocking, the way a task runs it; the samples
/// carry `base` plus the plugin's own labels, stamped with the start of
/// the run. A run written as records comes with all its samples, read
/// back from them.
pub fn run_once(plugin: &PluginConfig, base: &Labels) -> Result<RunOutput, ProbeError> {
    let mut out = run_task(plugin, &TaskCache::new(base.clone()))?;
    if !out.records.is_empty() {
        let mut samples = Vec::new();
        for r in &out.records {
            samples.extend(record::decode(r).map_err(ProbeError::plugin)?);
        }
        out.samples = samples;
    }
    Ok(out)
}

/// One run of a task, blocking, with its cache.
pub fn run_task(plugin: &PluginConfig, cache: &TaskCache) -> Result<RunOutput, ProbeError> {
    plugin.run_cached(cache, now_ms())
}

/// What a task keeps from one run to the next while its config is
/// unchanged: its base labels and what plugins derive from them once.
/// The probe owns it and drops it with the task; a reload that changes
/// the task starts a new probe with a new one.
#[derive(Debug, Default)]
pub struct TaskCache {
    /// The task's base labels ([`base_labels`]).
    pub base: Labels,
    /// scrape, exec: the label set of every series, sorted and encoded once.
    encoded: OnceLock<EncodedLabels>,
    /// ping, tcp, http, dns: the label set of each target, by target.
    targets: Mutex<HashMap<String, Labels>>,
}

impl TaskCache {
    pub fn new(base: Labels) -> TaskCache {
        TaskCache {
            base,
            ..TaskCache::default()
        }
    }

    /// The labels of a page's series, encoded once: `make(base)`, built
    /// at the first run.
    pub fn encoded(&self, make: impl FnOnce(&Labels) -> Labels) -> &EncodedLabels {
        self.encoded
            .get_or_init(|| EncodedLabels::new(&make(&self.base)))
    }

    /// The label set of `target`: `make(base)` at the first run that has
    /// it, the same shared set at every later one. A target the config no
    /// longer has is never asked for again (a reload that changes the
    /// task makes a new cache), so the map holds the config's targets.
    pub fn target(&self, target: &str, make: impl FnOnce(&Labels) -> Labels) -> Labels {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = targets.get(target) {
            return l.clone();
        }
        let l = make(&self.base);
        targets.insert(target.to_string(), l.clone());
        l
    }
}

/// The targets of one run that are down, for its down reason: the first
/// few named with why, the rest counted (a sweep of thousands of hosts
/// keeps three strings, not thousands).
#[derive(Debug, Default)]
pub struct DownTargets {
    named: Vec<(String, String)>,
    count: usize,
}

impl DownTargets {
    /// Targets named in the reason.
    const NAMED: usize = 3;

    /// `target` is down; `why` is asked only for the first few.
    pub fn push(&mut self, target: &str, why: impl FnOnce() -> String) {
        self.count += 1;
        if self.named.len() < Self::NAMED {
            self.named.push((target.to_string(), why()));
        }
    }

    /// `a: why; b: why (and 5 more targets down)`, or `None` when none is.
    pub fn reason(&self) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let mut out = self
            .named
            .iter()
            .map(|(t, why)| format!("{t}: {why}"))
            .collect::<Vec<_>>()
            .join("; ");
        if self.count > self.named.len() {
            out.push_str(&format!(
                "{MORE_PREFIX}{}{MORE_SUFFIX}",
                self.count - self.named.len()
            ));
        }
        Some(out)
    }
}

/// How [`DownTargets::reason`] counts the targets it does not name.
const MORE_PREFIX: &str = " (and ";
const MORE_SUFFIX: &str = " more targets down)";

/// The part of a down reason that decides whether it changed, for the
/// log: without the count of unnamed targets, so that a sweep whose
/// dead hosts come and go is not logged run after run.
fn reason_key(reason: &str) -> &str {
    reason
        .strip_suffix(MORE_SUFFIX)
        .and_then(|r| r.rsplit_once(MORE_PREFIX))
        .filter(|(_, n)| n.bytes().all(|b| b.is_ascii_digit()))
        .map_or(reason, |(named, _)| named)
}

/// Stop probing (shutdown, reload).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopProbe;

/// Time for the next run.
#[derive(Message)]
#[rtype(result = "()")]
struct Tick;

/// One task's probe.
pub struct Probe {
    task: TaskConfig,
    /// The task's plugin config, shared with each run's thread rather
    /// than copied per run (a ping task may list thousands of hosts).
    plugin: Arc<PluginConfig>,
    /// The task's base labels and what its runs derive from them once.
    cache: Arc<TaskCache>,
    wal: Addr<Wal>,
    telemetry: Arc<Telemetry>,
    /// A run is in flight.
    running: bool,
    /// Consecutive failed runs, for logging them without flooding.
    failing: Option<Failing>,
    /// Consecutive runs that reported the target down, likewise.
    down: Option<Failing>,
    /// What a run does: [`run_once`] (another function in tests).
    runner: Runner,
}

/// One run of a plugin, blocking.
type Runner = fn(&PluginConfig, &TaskCache) -> Result<RunOutput, ProbeError>;

/// A probe that fails run after run (or reports its target down run after
/// run): the first failure is logged as a warning, then only a changed
/// error or one every [`FAILURE_LOG_EVERY`]; the recovery is logged once.
struct Failing {
    since: Instant,
    logged: Logged,
}

/// An error as last logged, and when.
type Logged = (String, Instant);

/// How often a probe failing with the same error is logged again.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(600);

/// Records one more failure with `error` in `state` (kept from the first
/// failure on); whether it is worth a warning (see [`worth_logging`]).
fn note_failure(state: &mut Option<Failing>, error: &str) -> bool {
    let now = Instant::now();
    let log = worth_logging(state.as_ref().map(|f| &f.logged), error, now);
    if log {
        let since = state.as_ref().map_or(now, |f| f.since);
        *state = Some(Failing {
            since,
            logged: (error.to_string(), now),
        });
    }
    log
}

/// Whether a failure that repeats is worth a warning: the first one, a
/// changed error, or the same one [`FAILURE_LOG_EVERY`] after it was last
/// logged.
fn worth_logging(last: Option<&Logged>, error: &str, now: Instant) -> bool {
    last.is_none_or(|(e, at)| e != error || now.duration_since(*at) >= FAILURE_LOG_EVERY)
}

impl Probe {
    pub fn new(
        task: TaskConfig,
        agent: &AgentConfig,
        wal: Addr<Wal>,
        telemetry: Arc<Telemetry>,
    ) -> Probe {
        let base = base_labels(agent, &task);
        Probe {
            plugin: Arc::new(task.plugin.clone()),
            task,
            cache: Arc::new(TaskCache::new(base)),
            wal,
            telemetry,
            running: false,
            failing: None,
            down: None,
            runner: run_task,
        }
    }

    fn count(&self, result: &str) {
        self.count_by(result, 1.0);
    }

    fn count_by(&self, result: &str, by: f64) {
        self.telemetry.inc(
            "sentinel_probe_runs_total",
            "Probe runs, by task and result.",
            Labels::new()
                .with("task_id", self.task.id.as_str())
                .with("result", result),
            by,
        );
    }

    /// A run gave no result: count it on the status page, and log it
    /// unless it is the same error as a moment ago.
    fn failed(&mut self, error: String, msg: &'static str, level: log::Level) {
        self.telemetry
            .set_probe_error(self.task.id.as_str(), error.clone());
        let log = note_failure(&mut self.failing, &error);
        // A crash is a bug: always at its level, never thinned out.
        let level = if log || level == log::Level::Error {
            level
        } else {
            log::Level::Debug
        };
        log::log!(level, task_id = self.task.id.as_str(), error = error.as_str(); "{msg}");
    }

    /// A run completed: log why it reports its target down (thinned like
    /// a failing probe), or once that the target answers again.
    fn log_down(&mut self, down: Option<&str>) {
        let task_id = self.task.id.as_str();
        match down {
            Some(reason) => {
                if note_failure(&mut self.down, reason_key(reason)) {
                    log::warn!(task_id = task_id, reason = reason; "Target down.");
                } else {
                    log::debug!(task_id = task_id, reason = reason; "Target down.");
                }
            }
            None => {
                if let Some(f) = self.down.take() {
                    log::info!(
                        task_id = task_id,
                        duration_ms = f.since.elapsed().as_millis() as u64;
                        "Target answers again."
                    );
                }
            }
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            log::debug!(task_id = self.task.id.as_str(); "Previous run still going; skipping this one.");
            self.count("skipped");
            return;
        }
        self.running = true;
        let plugin = self.plugin.clone();
        let cache = self.cache.clone();
        let runner = self.runner;
        let limit = self.task.timeout + RUN_GRACE;
        // The records are written (and compressed) on the run's thread
        // too, not on the event loop.
        let mut run = actix_rt::task::spawn_blocking(move || {
            runner(&plugin, &cache).map(|out| Stored::of(out, APPEND_MAX_SAMPLES))
        });
        let fut = async move {
            match actix_rt::time::timeout(limit, &mut run).await {
                Ok(res) => Ok(res),
                Err(_) => Err(run),
            }
        }
        .into_actor(self)
        .map(move |res, act, ctx| {
            let stored = match res {
                Ok(Ok(Ok(stored))) => stored,
                Ok(Ok(Err(e))) => {
                    act.running = false;
                    act.count("error");
                    // A failed scrape still has its `up 0`: stored first,
                    // so that the status page shows the error after it.
                    let (e, samples) = e.into_parts();
                    if !samples.is_empty() {
                        act.store(Stored::of(samples.into(), APPEND_MAX_SAMPLES));
                    }
                    act.failed(e.to_string(), "Probe failed.", log::Level::Warn);
                    return;
                }
                Ok(Err(join)) => {
                    act.running = false;
                    act.count("error");
                    act.failed(
                        join.to_string(),
                        "Probe crashed; it runs again at the next interval.",
                        log::Level::Error,
                    );
                    return;
                }
                Err(abandoned) => {
                    act.count("timeout");
                    act.failed(
                        format!("the run did not finish within {} ms", limit.as_millis()),
                        "Probe did not finish in time.",
                        log::Level::Warn,
                    );
                    // Its thread cannot be stopped: the task's next run
                    // waits until it ends (the ticks between count as
                    // skipped), so that a run that never ends does not
                    // pile up threads, one per interval.
                    let wait = async move {
                        let _ = abandoned.await;
                    }
                    .into_actor(act)
                    .map(|_, act, _| {
                        log::debug!(task_id = act.task.id.as_str(); "A run abandoned at its timeout has ended; its result is dropped.");
                        act.running = false;
                    });
                    ctx.spawn(wait);
                    return;
                }
            };
            act.running = false;
            act.count("ok");
            if let Some(f) = act.failing.take() {
                log::info!(
                    task_id = act.task.id.as_str(),
                    duration_ms = f.since.elapsed().as_millis() as u64;
                    "Probe works again."
                );
            }
            act.log_down(stored.down.as_deref());
            log::debug!(
                task_id = act.task.id.as_str(),
                samples = stored.samples,
                result = summary(stored.summary()).as_str();
                "Probe finished."
            );
            act.store(stored);
        });
        ctx.spawn(fut);
    }

    /// Keeps a run: the latest result in telemetry, its records in the
    /// WAL.
    fn store(&mut self, stored: Stored) {
        // After a reload changed the task: stale markers for the
        // series of its former runs that this run no longer has.
        let Stored {
            run,
            summary,
            records,
            max_ts,
            down,
            ..
        } = stored;
        let mut retired = self.telemetry.take_retired(self.task.id.as_str(), &run);
        crate::sample::mark_stale(&mut retired, max_ts);
        let run = Arc::new(run);
        let summary = match &*run {
            LastRun::Samples(s) => s.as_slice(),
            LastRun::Records(_) => &summary,
        };
        self.telemetry
            .keep_run(self.task.id.as_str(), run.clone(), summary, down);
        // Appended one record at a time, each awaited before the next
        // is sent: at most one message of this run in the WAL's
        // mailbox. A task of its own, so a probe stopped meanwhile
        // (reload) does not cut a run's records short.
        let wal = self.wal.clone();
        let task_id = self.task.id.clone();
        actix_rt::spawn(async move {
            if !retired.is_empty() {
                log::info!(task_id = task_id.as_str(), samples = retired.len(); "Series of the task before its change marked stale.");
                let append = Append {
                    task_id: task_id.clone(),
                    samples: retired,
                };
                if let Ok(Err(e)) = wal.send(append).await {
                    log::error!(task_id = task_id.as_str(), error:% = e; "Writing samples to the WAL failed.");
                }
            }
            for record in records {
                let append = AppendRecord {
                    task_id: task_id.clone(),
                    record,
                };
                match wal.send(append).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        log::error!(task_id = task_id.as_str(), error:% = e; "Writing samples to the WAL failed.");
                    }
                    Err(e) => {
                        log::error!(task_id = task_id.as_str(), error:% = e; "The WAL actor is gone.");
                        return;
                    }
                }
            }
        });
    }
}

/// A run as the probe keeps it: what telemetry holds, the WAL records,
/// and what the log and the status page read.
struct Stored {
    /// For telemetry: the samples of a run of few series, or the records
    /// of one written in one pass (a copy of the compressed bytes).
    run: LastRun,
    /// What the status page reads of a run written in one pass (see
    /// [`RunOutput::samples`]); empty for a run of samples, which is read
    /// whole ([`Stored::summary`]).
    summary: Vec<Sample>,
    records: Vec<Vec<u8>>,
    /// Samples in the run.
    samples: usize,
    /// Its newest timestamp: stale markers of series it no longer has
    /// follow it.
    max_ts: i64,
    down: Option<String>,
}

impl Stored {
    /// `out` with its records: a run given as samples is encoded here,
    /// in records of about `max` samples ([`append_chunks`]).
    fn of(out: RunOutput, max: usize) -> Stored {
        let RunOutput {
            samples,
            records,
            down,
        } = out;
        let header = |r: &Vec<u8>| record::header(r).ok();
        if records.is_empty() {
            let records: Vec<Vec<u8>> = append_chunks(&samples, max).map(record::encode).collect();
            let max_ts = samples.iter().map(|s| s.timestamp_ms).max().unwrap_or(0);
            Stored {
                samples: samples.len(),
                run: LastRun::Samples(Arc::new(samples)),
                summary: Vec::new(),
                records,
                max_ts,
                down,
            }
        } else {
            let heads: Vec<_> = records.iter().filter_map(header).collect();
            Stored {
                run: LastRun::Records(records.clone()),
                summary: samples,
                samples: heads.iter().map(|h| h.samples as usize).sum(),
                max_ts: heads.iter().map(|h| h.max_ts_ms).max().unwrap_or(0),
                records,
                down,
            }
        }
    }

    /// The samples the status page and the log line read.
    fn summary(&self) -> &[Sample] {
        match &self.run {
            LastRun::Samples(s) => s,
            LastRun::Records(_) => &self.summary,
        }
    }
}

/// The most samples in one `Append` (one WAL record): about 1,000 ping
/// hosts. A run of a task with many hosts is written as several records,
/// one after the other, so that encoding a record (which groups its
/// samples into series) and shipping it stay bounded in memory however
/// many hosts the task lists. A run of a few hosts stays one record.
pub const APPEND_MAX_SAMPLES: usize = 8_192;

/// `samples` cut into chunks of about `max` samples: a chunk ends at the
/// first change of label set after `max` samples, so the series of one
/// host (which share their labels) stay in one record.
pub fn append_chunks(samples: &[Sample], max: usize) -> impl Iterator<Item = &[Sample]> {
    let max = max.max(1);
    let mut rest = samples;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = max.min(rest.len());
        while end < rest.len() && rest[end].labels.ptr_eq(&rest[end - 1].labels) {
            end += 1;
        }
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

/// Samples named in the debug log line; a run of thousands of hosts is
/// summed up by its first ones.
const SUMMARY_MAX_SAMPLES: usize = 16;

/// `ping_reachable=1 ping_rtt_ms=0.05 ...` for the log line.
fn summary(samples: &[Sample]) -> String {
    let mut out = samples
        .iter()
        .take(SUMMARY_MAX_SAMPLES)
        .map(|s| format!("{}={}", s.name, (s.value * 1e6).round() / 1e6))
        .collect::<Vec<_>>()
        .join(" ");
    if samples.len() > SUMMARY_MAX_SAMPLES {
        out.push_str(&format!(
            " ... ({} more)",
            samples.len() - SUMMARY_MAX_SAMPLES
        ));
    }
    out
}

impl Actor for Probe {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        log::debug!(task_id = self.task.id.as_str(); "Probe started.");
        // Every result's counter exists from the start, at 0, so that
        // `increase()` sees the first error.
        for result in ["ok", "error", "timeout", "skipped"] {
            self.count_by(result, 0.0);
        }
        ctx.notify(Tick);
        ctx.run_interval(self.task.interval, |act, ctx| act.tick(ctx));
    }
}

impl Handler<Tick> for Probe {
    type Result = ();

    fn handle(&mut self, _: Tick, ctx: &mut Context<Self>) {
        self.tick(ctx);
    }
}

impl Handler<StopProbe> for Probe {
    type Result = ();

    fn handle(&mut self, _: StopProbe, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs of [`slow_run`] going on now, the most at once, and begun.
    static NOW: AtomicUsize = AtomicUsize::new(0);
    static MOST: AtomicUsize = AtomicUsize::new(0);
    static BEGUN: AtomicUsize = AtomicUsize::new(0);
    /// How long [`slow_run`] takes: past its task's timeout plus the grace.
    const SLOW: Duration = Duration::from_millis(3_000);

    /// A run that outlives its timeout (a parse that takes minutes, a
    /// lookup that hangs), counting how many run at once.
    fn slow_run(_: &PluginConfig, _: &TaskCache) -> Result<RunOutput, ProbeError> {
        BEGUN.fetch_add(1, Ordering::SeqCst);
        let now = NOW.fetch_add(1, Ordering::SeqCst) + 1;
        MOST.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(SLOW);
        NOW.fetch_sub(1, Ordering::SeqCst);
        Ok(RunOutput::default())
    }

    #[actix_rt::test]
    async fn an_abandoned_run_ends_before_the_next_begins() {
        let dir = tempfile::tempdir().unwrap();
        let buffer = crate::config::BufferConfig {
            path: dir.path().join("wal"),
            max_size: 16 << 20,
            max_age: Duration::from_secs(3600),
            sync: crate::config::SyncMode::Interval,
            sync_interval: Duration::from_secs(1),
            cache_size: 1 << 20,
        };
        let telemetry = Arc::new(Telemetry::new());
        let store = crate::wal::open_or_recover(&buffer).unwrap();
        let wal = Wal::new(store, &buffer, telemetry.clone()).start();
        let task = TaskConfig {
            id: crate::sample::TaskId("slow".into()),
            device_id: "d".into(),
            interval: Duration::from_millis(200),
            // Abandoned at 100 ms + RUN_GRACE, while it runs 3 s.
            timeout: Duration::from_millis(100),
            enabled: true,
            labels: Labels::new(),
            plugin: PluginConfig::Exec(exec::ExecConfig {
                command: vec!["true".into()],
                timeout: Duration::from_millis(100),
                env: vec![],
            }),
        };
        let agent = AgentConfig {
            name: "a".into(),
            region: String::new(),
            labels: Labels::new(),
            self_metrics_interval: None,
        };
        let mut probe = Probe::new(task, &agent, wal, telemetry.clone());
        probe.runner = slow_run;
        let addr = probe.start();
        // The first run is abandoned at 2.1 s and ends at 3 s; the old
        // probe began the next one at 2.2 s, beside it.
        actix_rt::time::sleep(SLOW + RUN_GRACE).await;
        addr.do_send(StopProbe);
        let count = |result: &str| {
            telemetry.get(
                "sentinel_probe_runs_total",
                &Labels::new().with("task_id", "slow").with("result", result),
            )
        };
        assert_eq!(
            MOST.load(Ordering::SeqCst),
            1,
            "runs of one task overlapped"
        );
        assert_eq!(BEGUN.load(Ordering::SeqCst), 2);
        assert!(count("timeout") >= 1.0);
        assert!(count("skipped") >= 3.0, "{}", count("skipped"));
    }

    /// A task's runs share their label sets (built at the first run, from
    /// the task's cache); another task (or the same one after a reload
    /// changed it: a new probe, a new cache) builds its own.
    #[test]
    fn a_tasks_label_sets_are_built_once() {
        // A loopback port nothing listens on: refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let plugin = PluginConfig::Tcp(tcp::TcpConfig {
            host: "127.0.0.1".into(),
            port,
            timeout: Duration::from_secs(1),
            ip_version: crate::config::IpVersion::Any,
        });
        let cache = TaskCache::new(Labels::new().with("task_id", "t"));
        let first = run_task(&plugin, &cache).unwrap().samples;
        let second = run_task(&plugin, &cache).unwrap().samples;
        assert_eq!(first[0].name, "tcp_up");
        assert_eq!(first[0].labels.get("port"), Some(port.to_string().as_str()));
        assert!(first[0].labels.ptr_eq(&second[0].labels));
        let other = run_task(&plugin, &TaskCache::new(cache.base.clone()))
            .unwrap()
            .samples;
        assert_eq!(other[0].labels, first[0].labels);
        assert!(!other[0].labels.ptr_eq(&first[0].labels));
    }

    #[test]
    fn down_reasons_name_three_targets_and_count_the_rest() {
        let mut d = DownTargets::default();
        assert_eq!(d.reason(), None);
        for h in ["a", "b", "c", "d", "e"] {
            d.push(h, || format!("{h} is gone"));
        }
        let r = d.reason().unwrap();
        assert_eq!(
            r,
            "a: a is gone; b: b is gone; c: c is gone (and 2 more targets down)"
        );
        // The log compares the named part only: a changing count of
        // unnamed hosts is not a new reason.
        assert_eq!(reason_key(&r), "a: a is gone; b: b is gone; c: c is gone");
        assert_eq!(reason_key("connection refused"), "connection refused");
        let mut state = None;
        assert!(note_failure(&mut state, reason_key(&r)));
        let more = r.replace("2 more", "7 more");
        assert!(!note_failure(&mut state, reason_key(&more)));
        assert!(note_failure(&mut state, "a: a is gone"));
    }

    #[test]
    fn chunks_keep_a_host_together() {
        let base = Labels::new().with("task_id", "t");
        let mut samples = Vec::new();
        for h in 0..10 {
            let l = base.clone().with("host", format!("h{h}"));
            for n in ["a", "b", "c"] {
                samples.push(Sample::new(n, l.clone(), 1.0, 1));
            }
        }
        let chunks: Vec<&[Sample]> = append_chunks(&samples, 4).collect();
        // 4 samples, then the rest of that host: 6 per chunk.
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [6, 6, 6, 6, 6]
        );
        assert_eq!(chunks.concat(), samples);
        for w in chunks.windows(2) {
            let (last, first) = (&w[0][w[0].len() - 1], &w[1][0]);
            assert!(!last.labels.ptr_eq(&first.labels));
        }
        assert_eq!(append_chunks(&samples, 100).count(), 1);
        assert_eq!(append_chunks(&[], 4).count(), 0);
        let summary = summary(&samples);
        assert!(summary.starts_with("a=1 b=1 c=1 a=1"), "{summary}");
        assert!(summary.ends_with(" ... (14 more)"), "{summary}");
    }
}
