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
//! stdin is `/dev/null`; stdout is read up to `MAX_STDOUT` and parsed by
//! `textformat`; the start of stderr goes into the error when the command
//! fails. Errors say which: it could not start, it exited non-zero or was
//! killed by a signal, it hung, or it printed something else than the
//! format.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{textformat, ProbeError};
use crate::config::ExecConfig;
use crate::sample::{Labels, Sample};

/// The most stdout read from a command; more is an error (it is not a
/// metrics page).
pub const MAX_STDOUT: u64 = 16 << 20;
/// How much of stderr is kept for error messages.
const STDERR_KEEP: usize = 512;
/// The longest wait between two checks whether the command exited.
const MAX_POLL: Duration = Duration::from_millis(20);
/// How long the pipe readers may still take once the process group is
/// gone (a process that left the group with `setsid` may hold the pipes).
const READER_GRACE: Duration = Duration::from_millis(200);
/// How long a command is shown in messages.
const SHOWN_LEN: usize = 80;

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
            source,
        })?;
    let pgid = child.id() as libc::pid_t;
    running().insert(pgid);
    let stdout = reader(child.stdout.take(), MAX_STDOUT + 1);
    let stderr = reader(child.stderr.take(), STDERR_KEEP as u64 * 4);
    let exited = wait_until(&child, started + cfg.timeout);
    // The whole group: on timeout the command itself, and in every case
    // whatever it left running.
    kill_group(&child);
    running().remove(&pgid);
    let status = child.wait();
    let stdout = stdout.recv_timeout(READER_GRACE).unwrap_or_default();
    let stderr = stderr.recv_timeout(READER_GRACE).unwrap_or_default();
    if !exited {
        return Err(ProbeError::ExecTimeout {
            command,
            timeout_ms: cfg.timeout.as_millis() as u64,
        });
    }
    let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
    let status = status.map_err(|source| ProbeError::ExecSpawn {
        command: command.clone(),
        source,
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

/// `exited with status 3` or `was killed by signal 9`.
fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => format!("ended with {status}"),
    }
}

/// Reads `pipe` to its end (at most `limit` bytes) on a thread; the
/// result arrives on the channel.
fn reader<R: Read + Send + 'static>(pipe: Option<R>, limit: u64) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(pipe) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut pipe = pipe.take(limit);
            let _ = pipe.read_to_end(&mut buf);
            // Keep reading (and dropping) so the writer never blocks on
            // a full pipe while we wait for it to exit.
            let _ = std::io::copy(&mut pipe.into_inner(), &mut std::io::sink());
            let _ = tx.send(buf);
        });
    }
    rx
}

/// Waits until `child` has exited (without reaping it) or `deadline`
/// passes; `true` if it exited.
fn wait_until(child: &Child, deadline: Instant) -> bool {
    let mut pause = Duration::from_millis(1);
    loop {
        if has_exited(child) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_POLL);
    }
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

    #[test]
    fn shown_commands_are_short() {
        assert_eq!(shown(&["/bin/a".into(), "-x".into()]), "/bin/a -x");
        let long = "x".repeat(100);
        assert_eq!(shown(&[long]).len(), SHOWN_LEN + 3);
    }
}
