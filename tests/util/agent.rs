//! The `sentinel` binary as a child process, for the end-to-end tests.
//!
//! `Agent::start(yaml)` writes the config into a temp dir, which is also
//! the agent's `STATE_DIRECTORY` (so the WAL is `<dir>/wal` unless the
//! config says otherwise), and runs `sentinel start -c FILE` with
//! `RUST_LOG=debug`. Its stdout and stderr are appended to `<dir>/agent.log`
//! across restarts, with a marker line from the harness at every start and
//! end of a run, so a test can count what each run accepted. `Drop` kills
//! the agent, also when the test panics.
//!
//! The log is the agent's account of what it accepted: the durability
//! contract (docs/DESIGN.md) is checked by comparing it with what the backend
//! stored. See `accepted_samples`.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a graceful stop may take: probes, WAL flush, a bounded last
/// attempt per backend.
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(30);
/// Last log lines quoted in a failure message.
const LOG_TAIL_LINES: usize = 25;
/// Markers, warnings and errors quoted in a failure message.
const LOG_NOTABLE_LINES: usize = 30;

/// The key of the harness's own marker lines in the agent log.
const MARKER: &str = "test_harness";

/// `buffer.sync`, which decides when an appended sample counts as accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Durable before "Samples appended." is logged.
    Always,
    /// Durable once a "WAL synced." line covers its seq.
    Interval,
}

impl SyncMode {
    pub fn as_yaml(self) -> &'static str {
        match self {
            SyncMode::Always => "always",
            SyncMode::Interval => "interval",
        }
    }
}

/// How a run of the agent ended, as the harness saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Still running.
    Running,
    /// SIGTERM: ordered stop with a final WAL flush.
    Terminated,
    /// SIGKILL: only what was durable survives.
    Killed,
    /// It exited on its own (a crash, or a config error).
    Exited,
}

/// The log lines of one run of the agent.
#[derive(Debug, Clone)]
pub struct Run {
    pub lines: Vec<Value>,
    pub end: RunEnd,
}

impl Run {
    /// Lines whose `msg` is exactly `msg`.
    pub fn with_msg<'a>(&'a self, msg: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.lines.iter().filter(move |l| l["msg"] == msg)
    }
}

/// What the agent's log says it accepted, over all its runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Samples the contract says must arrive.
    pub samples: u64,
    /// Samples appended in all (sync-interval: also the unsynced ones).
    pub appended: u64,
    /// "Samples appended." lines counted in `samples`.
    pub appends: u64,
}

/// A running (or stopped) `sentinel start` with its own config and state.
pub struct Agent {
    /// Config, state (`STATE_DIRECTORY`) and the log; removed on drop.
    dir: tempfile::TempDir,
    config_path: PathBuf,
    log_path: PathBuf,
    /// `None` while stopped.
    child: Option<Child>,
    /// Runs started so far, for the marker lines.
    runs: usize,
}

impl Agent {
    /// Writes `config_yaml` to a temp dir and starts the agent on it.
    pub fn start(config_yaml: &str) -> Agent {
        let dir = tempfile::Builder::new()
            .prefix("sentinel-e2e-agent-")
            .tempdir()
            .expect("create a temp dir");
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config_yaml).expect("write the agent config");
        let log_path = dir.path().join("agent.log");
        let mut agent = Agent {
            dir,
            config_path,
            log_path,
            child: None,
            runs: 0,
        };
        agent.spawn();
        agent
    }

    /// The agent's `STATE_DIRECTORY`.
    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// `sentinel wal stats --json` on this agent's config, parsed (read
    /// from disk when the agent is stopped, asked of it when it runs).
    pub fn wal_stats_json(&self) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_sentinel"))
            .args(["wal", "stats", "--json", "-c"])
            .arg(self.config_path())
            .env("STATE_DIRECTORY", self.state_dir())
            .output()
            .expect("run sentinel wal stats");
        assert!(
            out.status.success(),
            "sentinel wal stats failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "wal stats is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The process id of the running agent (for /proc and prlimit).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the agent is not running").id()
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the agent is already running");
        self.runs += 1;
        self.mark(json!({ MARKER: "start", "run": self.runs }));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the agent log");
        let child = Command::new(env!("CARGO_BIN_EXE_sentinel"))
            .arg("start")
            .arg("-c")
            .arg(&self.config_path)
            .env("STATE_DIRECTORY", self.dir.path())
            .env("RUST_LOG", "debug")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn target/debug/sentinel");
        self.child = Some(child);
    }

    /// Appends a harness marker line to the log (only while the agent is
    /// not writing to it, or between its lines: one short `write`).
    fn mark(&self, line: Value) {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open the agent log");
        writeln!(log, "{line}").expect("write the agent log");
    }

    /// Whether the agent process is alive; notes an exit of its own.
    pub fn is_running(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        match child.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                self.child = None;
                self.mark(json!({ MARKER: "exited", "status": status.to_string() }));
                false
            }
            Err(e) => panic!("waiting for the agent: {e}"),
        }
    }

    /// SIGTERM, then waits (bounded) for the exit: the ordered stop.
    /// Panics with the log tail if it does not exit in time.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the agent is not running");
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) of the agent failed");
        let deadline = Instant::now() + TERMINATE_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait for the agent") {
                self.mark(json!({ MARKER: "terminated", "status": status.to_string() }));
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.mark(json!({ MARKER: "killed", "after": "terminate timeout" }));
                panic!(
                    "the agent did not exit within {TERMINATE_TIMEOUT:?} of SIGTERM; \
                     expected an ordered stop\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Replaces the config file (for a reload).
    pub fn rewrite_config(&self, config_yaml: &str) {
        std::fs::write(&self.config_path, config_yaml).expect("rewrite the agent config");
    }

    /// SIGHUP: reload the config, reopen the log file.
    pub fn hup(&mut self) {
        let child = self.child.as_ref().expect("the agent is not running");
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGHUP) };
        assert_eq!(rc, 0, "kill(SIGHUP) of the agent failed");
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the agent is not running");
        let _ = child.kill();
        let _ = child.wait();
        self.mark(json!({ MARKER: "killed" }));
    }

    /// Starts the agent again with the same config and state dir (after
    /// `terminate` or `kill9`; kills it first if it still runs).
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn();
    }

    /// Every line of the log so far, parsed as JSON; a line that is not
    /// JSON (a panic message, a stray print) is kept as a JSON string.
    pub fn log_lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| Value::String(l.to_string())))
            .collect()
    }

    /// The log split into the agent's runs, oldest first.
    pub fn runs(&self) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        for line in self.log_lines() {
            match line[MARKER].as_str() {
                Some("start") => runs.push(Run {
                    lines: Vec::new(),
                    end: RunEnd::Running,
                }),
                Some(end) => {
                    if let Some(run) = runs.last_mut() {
                        run.end = match end {
                            "terminated" => RunEnd::Terminated,
                            "killed" => RunEnd::Killed,
                            _ => RunEnd::Exited,
                        };
                    }
                }
                None => {
                    if let Some(run) = runs.last_mut() {
                        run.lines.push(line);
                    }
                }
            }
        }
        runs
    }

    /// Lines of all runs whose `msg` is exactly `msg`.
    pub fn lines_with_msg(&self, msg: &str) -> Vec<Value> {
        self.log_lines()
            .into_iter()
            .filter(|l| l["msg"] == msg)
            .collect()
    }

    /// Waits until a line of the current run satisfies `pred` and returns
    /// it; panics with `what` and the log tail on timeout or if the agent
    /// exits first.
    pub fn wait_for_log(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let current = self.runs().pop().map(|r| r.lines).unwrap_or_default();
            if let Some(line) = current.into_iter().find(&pred) {
                return line;
            }
            if !self.is_running() {
                panic!(
                    "expected {what} in the agent log, but the agent is not running\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {what} in the agent log within {timeout:?}\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the current run has logged `n` lines with `msg`.
    pub fn wait_for_count_in_run(&mut self, msg: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self
                .runs()
                .last()
                .map(|r| r.with_msg(msg).count())
                .unwrap_or(0);
            if count >= n {
                return;
            }
            if !self.is_running() {
                panic!(
                    "expected {n} {msg:?} lines in this run of the agent, saw {count} \
                     and the agent is not running\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {n} {msg:?} lines in this run of the agent within \
                     {timeout:?}, saw {count}\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the agent accepted over all its runs, by the durability
    /// contract:
    /// - `sync: always`: every "Samples appended." line (logged after the
    ///   fsync).
    /// - `sync: interval`: in a run that was killed or crashed, only appends
    ///   whose `seq` a later "WAL synced." covers; a run that ended with
    ///   SIGTERM (final flush) or is still running counts every append.
    pub fn accepted_samples(&self, sync: SyncMode) -> Accepted {
        let mut total = Accepted::default();
        for run in self.runs() {
            let synced = run
                .with_msg("WAL synced.")
                .filter_map(|l| l["seq"].as_u64())
                .max();
            let must_be_synced =
                sync == SyncMode::Interval && matches!(run.end, RunEnd::Killed | RunEnd::Exited);
            for line in run.with_msg("Samples appended.") {
                let samples = line["samples"].as_u64().unwrap_or_else(|| {
                    panic!("\"Samples appended.\" without a samples count: {line}")
                });
                total.appended += samples;
                let durable = !must_be_synced
                    || matches!((line["seq"].as_u64(), synced), (Some(seq), Some(s)) if seq <= s);
                if durable {
                    total.samples += samples;
                    total.appends += 1;
                }
            }
        }
        total
    }

    /// For failure messages: the harness markers, warnings and errors of
    /// all runs (the routine per-probe lines would bury them), then the
    /// last lines of the log as they are.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let notable: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| {
                serde_json::from_str::<Value>(l).map_or(true, |v| {
                    v.get(MARKER).is_some() || matches!(v["level"].as_str(), Some("warn" | "error"))
                })
            })
            .collect();
        let notable = &notable[notable.len().saturating_sub(LOG_NOTABLE_LINES)..];
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        format!(
            "--- agent log ({}): runs, warnings and errors (last {}):\n{}\n\
             --- agent log, last {} lines:\n{}",
            self.log_path.display(),
            notable.len(),
            notable.join("\n"),
            tail.len(),
            tail.join("\n")
        )
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
