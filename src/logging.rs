//! Log lines: one JSON object a line (`ts`, `level`, `msg`, then the
//! record's key-value fields) or plain text, on stdout or in a file.
//!
//! Everything logs through `log` with fixed keys
//! (`warn!(backend = id.as_str(), error:% = err; "Remote write failed.")`);
//! this module only decides how a record looks. `RUST_LOG` overrides
//! `logging.level`.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use log::kv::{Key, Value, VisitSource};

use crate::config::{LogFormat, LogOutput, LoggingConfig};

/// Sets up the global logger. Call once; later calls are ignored, so tests
/// and `trigger` may call it freely.
pub fn init(cfg: &LoggingConfig) -> std::io::Result<()> {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(cfg.level);
    // Quiet the chatty dependencies unless asked for by RUST_LOG.
    // sled logs every failed flush (dozens of lines per ENOSPC); the WAL
    // reports its own failures, rate-limited.
    builder.filter_module("sled", log::LevelFilter::Off);
    builder.filter_module("ureq", log::LevelFilter::Warn);
    builder.filter_module("rustls", log::LevelFilter::Warn);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    let format = resolve(cfg.format, cfg.output, std::io::stdout().is_terminal());
    builder.format(move |buf, record| {
        let line = match format {
            LogFormat::Json | LogFormat::Auto => json_line(record),
            LogFormat::Text => text_line(record),
        };
        buf.write_all(line.as_bytes())
    });
    match cfg.output {
        LogOutput::Stdout => {
            builder.target(env_logger::Target::Stdout);
        }
        LogOutput::File => {
            if let Some(dir) = cfg.file_path.parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)?;
                }
            }
            let file = ReopenableFile::open(&cfg.file_path)?;
            let _ = LOG_FILE.set(file.clone());
            builder.target(env_logger::Target::Pipe(Box::new(file)));
        }
    }
    let _ = builder.try_init();
    Ok(())
}

/// `logging.format: auto` is text for a person at a terminal and JSON
/// for journald, a file or a pipe (one object a line, for log shippers).
fn resolve(format: LogFormat, output: LogOutput, stdout_is_terminal: bool) -> LogFormat {
    match (format, output) {
        (LogFormat::Auto, LogOutput::Stdout) if stdout_is_terminal => LogFormat::Text,
        (LogFormat::Auto, _) => LogFormat::Json,
        (f, _) => f,
    }
}

/// The log file, when `logging.output: file`; `reopen` swaps it.
static LOG_FILE: OnceLock<ReopenableFile> = OnceLock::new();

/// Reopens the log file (SIGHUP), so that logrotate's rename-and-signal
/// works. A no-op when logging to stdout.
pub fn reopen() -> std::io::Result<()> {
    match LOG_FILE.get() {
        Some(f) => f.reopen(),
        None => Ok(()),
    }
}

/// An append-mode file behind a lock that can be reopened in place.
#[derive(Clone)]
struct ReopenableFile {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl ReopenableFile {
    fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(ReopenableFile {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(file)),
        })
    }

    fn reopen(&self) -> std::io::Result<()> {
        let new = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = new;
        Ok(())
    }
}

impl Write for ReopenableFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

/// Logging for one-shot commands (`trigger`, `check`): warnings and errors
/// as text on stderr, so stdout holds only the command's answer.
pub fn init_for_command() {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(log::LevelFilter::Warn);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    builder.target(env_logger::Target::Stderr);
    builder.format(|buf, record| buf.write_all(text_line(record).as_bytes()));
    let _ = builder.try_init();
}

fn json_line(record: &log::Record<'_>) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("ts".into(), rfc3339_now().into());
    obj.insert(
        "level".into(),
        record.level().as_str().to_ascii_lowercase().into(),
    );
    obj.insert("msg".into(), record.args().to_string().into());
    if record.level() >= log::Level::Debug {
        obj.insert("target".into(), record.target().into());
    }
    let mut fields = JsonFields(&mut obj);
    let _ = record.key_values().visit(&mut fields);
    let mut line = serde_json::Value::Object(obj).to_string();
    line.push('\n');
    line
}

fn text_line(record: &log::Record<'_>) -> String {
    let mut line = format!("{} {:<5} {}", rfc3339_now(), record.level(), record.args());
    let mut fields = TextFields(&mut line);
    let _ = record.key_values().visit(&mut fields);
    line.push('\n');
    line
}

struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let json = if let Some(v) = value.to_u64() {
            v.into()
        } else if let Some(v) = value.to_i64() {
            v.into()
        } else if let Some(v) = value.to_f64() {
            serde_json::Number::from_f64(v)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| v.to_string().into())
        } else if let Some(v) = value.to_bool() {
            v.into()
        } else {
            value.to_string().into()
        };
        self.0.insert(key.as_str().to_string(), json);
        Ok(())
    }
}

struct TextFields<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for TextFields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let v = value.to_string();
        if v.is_empty() || v.contains(' ') || v.contains('"') {
            let _ = write!(self.0, " {key}={v:?}");
        } else {
            let _ = write!(self.0, " {key}={v}");
        }
        Ok(())
    }
}

/// The current UTC time as `2026-11-26T07:40:00.123Z`.
pub fn rfc3339_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_ms(d.as_millis() as i64)
}

/// Formats milliseconds since the epoch as RFC 3339 UTC.
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::time::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_text_at_a_terminal_and_json_elsewhere() {
        use LogFormat::*;
        use LogOutput::*;
        assert_eq!(resolve(Auto, Stdout, true), Text);
        assert_eq!(resolve(Auto, Stdout, false), Json);
        // A file is read by tools, whatever stdout is.
        assert_eq!(resolve(Auto, File, true), Json);
        // What the config says wins.
        assert_eq!(resolve(Json, Stdout, true), Json);
        assert_eq!(resolve(Text, Stdout, false), Text);
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_679_999_123), "2026-11-26T07:59:59.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn reopen_follows_a_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sentinel.log");
        let mut f = ReopenableFile::open(&path).unwrap();
        f.write_all(b"one\n").unwrap();
        std::fs::rename(&path, dir.path().join("sentinel.log.1")).unwrap();
        f.write_all(b"two\n").unwrap();
        f.reopen().unwrap();
        f.write_all(b"three\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sentinel.log.1")).unwrap(),
            "one\ntwo\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
    }

    #[test]
    fn json_line_carries_fields() {
        let kvs: &[(&str, u64)] = &[("samples", 8)];
        let record = log::Record::builder()
            .args(format_args!("Samples accepted."))
            .level(log::Level::Info)
            .key_values(&kvs)
            .build();
        let line = json_line(&record);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["msg"], "Samples accepted.");
        assert_eq!(v["level"], "info");
        assert_eq!(v["samples"], 8);
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
    }
}
