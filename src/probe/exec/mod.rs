//! The exec plugin: runs a local command (a modem-signal script, a UPS
//! query, anything) and reads Prometheus text format from its stdout.
//! Blocking, bounded by the plugin's `timeout`; no actix.
//!
//! The command runs in a process group of its own (`process_group(0)`), so
//! everything it starts can be killed at once with `kill(-pgid)`: on
//! timeout, and also right after it exits, so a background job it left
//! behind never outlives the run. The group is killed before the command
//! itself is reaped, so its id cannot have been reused by then.
//!
//! stdout and stderr are read on the calling thread with `poll(2)` (no
//! reader threads) until the command itself exits; then what is still in
//! the pipes is read without blocking, and the pipes are closed. The end
//! of the output is not waited for: a process the command left behind
//! with `setsid` escapes the group kill and may hold the pipes for as long
//! as it lives (`setsid sleep 121 &`), so waiting for EOF would lose the
//! output. Such a process is found by the pipe it holds (`/proc/*/fd`) and
//! killed too: nothing that writes into a run outlives it.
//!
//! stdin is `/dev/null`; stdout is kept up to `MAX_STDOUT` and parsed by
//! `textformat`; the start of stderr goes into the error when the command
//! fails. Errors say which: it could not start, it exited non-zero or was
//! killed by a signal, it hung, or it printed something else than the
//! format.

mod config;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::textformat::{Encoded, SeriesKeys};
use super::{textformat, ProbeError, RunOutput, APPEND_MAX_SAMPLES};
use crate::sample::{Labels, Sample};
use crate::wal::record::{EncodedLabels, RunWriter};
pub use config::{ExecArgs, ExecConfig};

/// The most stdout read from a command; more is an error (it is not a
/// metrics page).
pub const MAX_STDOUT: u64 = 16 << 20;
/// How much of stderr is kept for error messages.
const STDERR_KEEP: usize = 512;
/// The longest wait between two checks whether the command exited.
const MAX_POLL: Duration = Duration::from_millis(20);
/// How long a command is shown in messages.
const SHOWN_LEN: usize = 80;
/// One read from a pipe (the size of a Linux pipe buffer).
const READ_CHUNK: usize = 64 << 10;

/// What the command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

/// The command as the operator wrote it, shortened for messages.
pub fn shown(command: &[String]) -> String {
    let s = match command {
        [sh, c, script] if sh == "/bin/sh" && c == "-c" => script.clone(),
        _ => command.join(" "),
    };
    if s.chars().count() > SHOWN_LEN {
        format!("{}...", s.chars().take(SHOWN_LEN).collect::<String>())
    } else {
        s
    }
}

/// Runs the command once and returns its output when it exits 0 in time.
pub fn run(cfg: &ExecConfig) -> Result<ExecOutput, ProbeError> {
    let command = shown(&cfg.command);
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let mut child = Command::new(&cfg.command[0])
        .args(&cfg.command[1..])
        .envs(cfg.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| ProbeError::ExecSpawn {
            command: command.clone(),
            hint: match source.kind() {
                std::io::ErrorKind::NotFound => {
                    " (is the program installed, and its path absolute or on PATH?)"
                }
                std::io::ErrorKind::PermissionDenied => {
                    " (is the file executable by the agent's user? `chmod +x`)"
                }
                _ => "",
            },
            os_error: source,
        })?;
    let pgid = child.id() as libc::pid_t;
    running().insert(pgid);
    let mut pipes = [
        Pipe::new(child.stdout.take().map(OwnedFd::from), MAX_STDOUT + 1),
        Pipe::new(
            child.stderr.take().map(OwnedFd::from),
            STDERR_KEEP as u64 * 4,
        ),
    ];
    let exited = read_until_exit(&child, &mut pipes, deadline);
    if exited {
        // What the command wrote before it exited is in the pipes now.
        read_buffered(&mut pipes, deadline);
    }
    // The whole group: on timeout the command itself, and in every case
    // whatever it left running.
    kill_group(&child);
    running().remove(&pgid);
    // A pipe still open for writing is held by a process the group kill
    // missed (it left the group with setsid) or one still dying: every
    // holder goes.
    let held: Vec<u64> = pipes
        .iter()
        .filter(|p| !p.eof)
        .filter_map(|p| p.inode)
        .collect();
    if !held.is_empty() {
        kill_pipe_holders(&held);
    }
    let [stdout, stderr] = pipes.map(Pipe::into_output);
    let status = child.wait();
    if !exited {
        return Err(ProbeError::ExecTimeout {
            command,
            timeout_ms: cfg.timeout.as_millis() as u64,
        });
    }
    let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
    let status = status.map_err(|source| ProbeError::ExecSpawn {
        command: command.clone(),
        os_error: source,
        hint: "",
    })?;
    if !status.success() {
        return Err(ProbeError::ExecFailed {
            command,
            status: describe_status(status),
            stderr: if stderr.is_empty() {
                "(empty)".into()
            } else {
                stderr.chars().take(STDERR_KEEP).collect()
            },
        });
    }
    if stdout.len() as u64 > MAX_STDOUT {
        return Err(ProbeError::ExecFailed {
            command,
            status: format!("printed more than {MAX_STDOUT} bytes"),
            stderr: "(not read)".into(),
        });
    }
    Ok(ExecOutput {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr,
        duration: started.elapsed(),
    })
}

/// The samples the command printed, with `base` added.
pub fn samples(
    cfg: &ExecConfig,
    output: &ExecOutput,
    base: &Labels,
    ts_ms: i64,
) -> Result<Vec<Sample>, ProbeError> {
    textformat::parse(&output.stdout, base, ts_ms).map_err(|source| ProbeError::ExecOutput {
        command: shown(&cfg.command),
        source,
    })
}

/// The samples the command printed, with `labels` (the task's, encoded
/// once) added, written as WAL records in one pass; read as samples
/// ([`samples`]) when it printed one series twice.
pub fn records(
    cfg: &ExecConfig,
    output: &ExecOutput,
    labels: &EncodedLabels,
    ts_ms: i64,
) -> Result<RunOutput, ProbeError> {
    let mut writer = RunWriter::new(APPEND_MAX_SAMPLES);
    let written = textformat::encode(
        &output.stdout,
        labels,
        ts_ms,
        &mut writer,
        &mut SeriesKeys::default(),
    )
    .map_err(|source| ProbeError::ExecOutput {
        command: shown(&cfg.command),
        source,
    })?;
    match written {
        Encoded::Series(_) => Ok(RunOutput {
            records: writer.finish(),
            ..RunOutput::default()
        }),
        Encoded::Repeated => samples(cfg, output, labels.labels(), ts_ms).map(Into::into),
    }
}

/// `exited with status 3` or `was killed by signal 9`.
fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => format!("ended with {status}"),
    }
}

/// The read end of one of the command's output pipes and what came out
/// of it so far.
struct Pipe {
    /// `None` when there is none (never when spawned with `piped()`).
    file: Option<std::fs::File>,
    /// `pipe:[inode]` in `/proc/<pid>/fd` of every process holding it.
    inode: Option<u64>,
    /// The first `keep` bytes; the rest is read and dropped, so the writer
    /// never blocks on a full pipe.
    kept: Vec<u8>,
    keep: usize,
    /// Every writer closed its end.
    eof: bool,
}

impl Pipe {
    fn new(fd: Option<OwnedFd>, keep: u64) -> Pipe {
        let inode = fd.as_ref().and_then(|fd| {
            // SAFETY: `st` is a valid, zeroed stat buffer for fstat.
            unsafe {
                let mut st: libc::stat = std::mem::zeroed();
                (libc::fstat(fd.as_raw_fd(), &mut st) == 0).then_some(st.st_ino)
            }
        });
        Pipe {
            eof: fd.is_none(),
            file: fd.map(std::fs::File::from),
            inode,
            kept: Vec::new(),
            keep: keep as usize,
        }
    }

    /// One read into `chunk`; only called when `poll` said it would not
    /// block.
    fn read_some(&mut self, chunk: &mut [u8]) {
        let Some(mut file) = self.file.as_ref() else {
            self.eof = true;
            return;
        };
        match file.read(chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => {
                let room = self.keep.saturating_sub(self.kept.len());
                self.kept.extend_from_slice(&chunk[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => self.eof = true,
        }
    }

    /// Closes the pipe and returns what was kept.
    fn into_output(self) -> Vec<u8> {
        self.kept
    }
}

/// Reads both pipes as output arrives until `child` has exited (without
/// reaping it) or `deadline` passes; `true` if it exited.
fn read_until_exit(child: &Child, pipes: &mut [Pipe; 2], deadline: Instant) -> bool {
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut pause = Duration::from_millis(1);
    loop {
        if has_exited(child) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        // Output wakes this up at once; an exit is noticed within `pause`.
        poll_and_read(pipes, pause.min(deadline - now), &mut chunk);
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// Reads what is in the pipes now, without waiting for more: the command
/// has exited, and what it left behind may hold the pipes open forever.
/// Bounded by `deadline` against a leftover that writes without pause.
fn read_buffered(pipes: &mut [Pipe; 2], deadline: Instant) {
    let mut chunk = vec![0u8; READ_CHUNK];
    while poll_and_read(pipes, Duration::ZERO, &mut chunk) && Instant::now() < deadline {}
}

/// Waits up to `wait` for a pipe to be readable (or closed) and reads once
/// from each that is; `false` when none was. With both pipes at their
/// end, just sleeps `wait`.
fn poll_and_read(pipes: &mut [Pipe; 2], wait: Duration, chunk: &mut [u8]) -> bool {
    let open: Vec<usize> = (0..pipes.len()).filter(|&i| !pipes[i].eof).collect();
    if open.is_empty() {
        std::thread::sleep(wait);
        return false;
    }
    let mut fds: Vec<libc::pollfd> = open
        .iter()
        .map(|&i| libc::pollfd {
            fd: pipes[i].file.as_ref().map_or(-1, |f| f.as_raw_fd()),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Rounded up, so that a wait below a millisecond still waits.
    let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n <= 0 {
        return false;
    }
    for (fd, &i) in fds.iter().zip(&open) {
        if fd.revents != 0 {
            pipes[i].read_some(chunk);
        }
    }
    true
}

/// Whether `child` has exited, leaving it a zombie (`WNOWAIT`) so its pid,
/// and so its process group id, stays reserved until `wait`.
fn has_exited(child: &Child) -> bool {
    // SAFETY: `info` is a valid, zeroed siginfo_t for the call; waitid
    // with WNOHANG never blocks.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            child.id() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        // With WNOHANG, si_pid stays 0 while the child runs.
        rc == 0 && info.si_pid() != 0
    }
}

/// The process groups of the commands running now (their leaders not yet
/// reaped), so that an agent that exits without waiting for its probes
/// (see `supervisor::exit_if_stuck`) takes them along.
fn running() -> std::sync::MutexGuard<'static, std::collections::BTreeSet<libc::pid_t>> {
    static RUNNING: std::sync::Mutex<std::collections::BTreeSet<libc::pid_t>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// SIGKILL to the process group of every command still running.
pub fn kill_running() {
    for pgid in running().iter() {
        // SAFETY: plain syscall; each group's leader is not reaped yet
        // (it leaves the set before `wait`), so the id is still its own.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// SIGKILL to every other process that holds one of the pipes `inodes`
/// without close-on-exec: what the command left behind outside its
/// process group. Only the command and its descendants hold them so: the
/// agent's own descriptors are close-on-exec, so another command being
/// started at this moment (forked, not yet exec'd) holds them with that
/// flag and is spared.
fn kill_pipe_holders(inodes: &[u64]) {
    let links: Vec<String> = inodes.iter().map(|i| format!("pipe:[{i}]")).collect();
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| links.iter().any(|l| target.as_os_str() == l.as_str()))
                && !close_on_exec(pid, &fd.file_name())
        });
        if holds {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            // Said each time: a daemon the command (re)started without
            // closing its output would otherwise vanish without a word.
            log::warn!(
                pid = pid,
                process = comm.trim();
                "Killed a process the exec command left holding its output."
            );
            // SAFETY: plain syscall. The process held the pipe just now
            // (its pid could only be reused if it died and was reaped by
            // its parent in between, and then nothing would hold it).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

/// Whether descriptor `fd` of process `pid` has close-on-exec set
/// (`flags:` in `/proc/<pid>/fdinfo/<fd>`, octal).
fn close_on_exec(pid: u32, fd: &std::ffi::OsStr) -> bool {
    let path = std::path::Path::new("/proc")
        .join(pid.to_string())
        .join("fdinfo")
        .join(fd);
    std::fs::read_to_string(path)
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        })
        .is_some_and(|flags| flags & libc::O_CLOEXEC as u32 != 0)
}

/// SIGKILL to every process in the command's group.
fn kill_group(child: &Child) {
    // SAFETY: plain syscall; the group id is the child's pid, still
    // reserved because the child has not been reaped.
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(script: &str, timeout_ms: u64) -> ExecConfig {
        ExecConfig {
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            timeout: Duration::from_millis(timeout_ms),
            env: vec![("SENTINEL_X".into(), "7".into())],
        }
    }

    #[test]
    fn good_output_becomes_samples() {
        let c = cfg(
            "echo \"# TYPE x gauge\"; echo \"x{a=\\\"b\\\"} $SENTINEL_X\"",
            5000,
        );
        let out = run(&c).unwrap();
        let s = samples(&c, &out, &Labels::new().with("task_id", "t"), 9).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "x");
        assert_eq!(s[0].value, 7.0);
        assert_eq!(s[0].labels.get("a"), Some("b"));
        assert_eq!(s[0].labels.get("task_id"), Some("t"));
    }

    #[test]
    fn failures_are_told_apart() {
        let e = run(&cfg("echo oops >&2; exit 3", 5000)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "command `echo oops >&2; exit 3` exited with status 3; stderr: oops"
        );
        let e = run(&cfg("kill -9 $$", 5000)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "command `kill -9 $$` was killed by signal 9; stderr: (empty)"
        );
        let c = cfg("echo not metrics", 5000);
        let out = run(&c).unwrap();
        let e = samples(&c, &out, &Labels::new(), 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "command `echo not metrics` printed output that is not the Prometheus text format: line 1: value \"metrics\" is not a number (or +Inf, -Inf, NaN): \"not metrics\""
        );
        let e = run(&ExecConfig {
            command: vec!["/nonexistent/sentinel-probe".into()],
            timeout: Duration::from_secs(1),
            env: vec![],
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot run command `/nonexistent/sentinel-probe`: "),
            "{e}"
        );
        assert!(e
            .to_string()
            .ends_with("(is the program installed, and its path absolute or on PATH?)"));
    }

    /// The OS error of a command that cannot start is said once, also in
    /// the one-line form `sentinel trigger` prints.
    #[test]
    fn a_missing_program_is_named_once() {
        let e = run(&ExecConfig {
            command: vec!["/nonexistent/sentinel-probe".into()],
            timeout: Duration::from_secs(1),
            env: vec![],
        })
        .unwrap_err();
        let line = crate::cli::error_line(&anyhow::Error::from(e));
        assert_eq!(
            line,
            "cannot run command `/nonexistent/sentinel-probe`: No such file or directory \
             (os error 2) (is the program installed, and its path absolute or on PATH?)"
        );
    }

    /// Processes not reaped or not yet dead whose command line is `argv`.
    fn alive_with_cmdline(argv: &[&str]) -> Vec<u32> {
        let want: Vec<u8> = argv
            .iter()
            .flat_map(|a| [a.as_bytes(), b"\0"].concat())
            .collect();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
            .collect()
    }

    fn entries(dir: &str) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    // See: issue 17 item 4. A child that leaves the process group with
    // setsid keeps the stdout pipe open; the output printed before the
    // command exited is still delivered, within the timeout, and nothing
    // of the run stays behind: no process, thread or descriptor.
    #[test]
    fn r17_4_a_detached_child_neither_hides_the_output_nor_outlives_the_run() {
        // It counts the process's descriptors and threads.
        if !crate::testutil::runs_alone(
            "probe::exec::tests::r17_4_a_detached_child_neither_hides_the_output_nor_outlives_the_run",
        ) {
            return;
        }
        // A sleep length no other process uses, to find leftovers by.
        let secs = format!("121.{}", std::process::id());
        let c = cfg(&format!("setsid sleep {secs} & echo m 1"), 10_000);
        let runs = 6;
        let (fds, tasks) = (entries("/proc/self/fd"), entries("/proc/self/task"));
        let mut outputs = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let out = run(&c);
            let took = started.elapsed();
            assert!(took < c.timeout, "the run took {took:?}");
            outputs.push(out.map(|o| o.stdout));
        }
        let grown = (
            entries("/proc/self/fd").saturating_sub(fds),
            entries("/proc/self/task").saturating_sub(tasks),
        );
        // Killed orphans are reaped by init: give it a moment.
        let settle = Instant::now() + Duration::from_secs(5);
        let mut left = alive_with_cmdline(&["sleep", &secs]);
        while !left.is_empty() && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(50));
            left = alive_with_cmdline(&["sleep", &secs]);
        }
        for pid in &left {
            // SAFETY: plain syscall; the test's own leftovers.
            unsafe {
                libc::kill(*pid as libc::pid_t, libc::SIGKILL);
            }
        }
        for out in outputs {
            assert_eq!(out.unwrap(), "m 1\n");
        }
        assert!(
            left.is_empty(),
            "{} detached sleeps outlived their run",
            left.len()
        );
        // Other tests of this binary may run beside this one: a leak of
        // one per run is what is ruled out.
        assert!(
            grown.0 < runs && grown.1 < runs,
            "after {runs} runs: {} more descriptors, {} more threads",
            grown.0,
            grown.1
        );
    }

    /// Output larger than a pipe buffer, written by a command that exits
    /// at once, is read whole (the reading goes on as it is written).
    #[test]
    fn large_output_is_read_whole() {
        let c = cfg(
            "i=0; while [ $i -lt 20000 ]; do echo \"m{i=\\\"$i\\\"} 1\"; i=$((i+1)); done",
            30_000,
        );
        let out = run(&c).unwrap();
        assert_eq!(out.stdout.lines().count(), 20000);
    }

    #[test]
    fn shown_commands_are_short() {
        assert_eq!(shown(&["/bin/a".into(), "-x".into()]), "/bin/a -x");
        let long = "x".repeat(100);
        assert_eq!(shown(&[long]).len(), SHOWN_LEN + 3);
    }
}
