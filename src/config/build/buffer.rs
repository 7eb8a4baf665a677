//! `buffer:`: the write-ahead log's path, caps and sync.

use super::*;

/// The shortest `buffer.sync_interval`.
const MIN_SYNC_INTERVAL: Duration = Duration::from_millis(10);

impl Loader<'_> {
    pub(super) fn buffer(&self, node: Option<Node>) -> Result<BufferConfig, ConfigError> {
        let t = self.section(node.as_ref(), "buffer", BUFFER_KEYS)?;
        let path = match t.get("path") {
            Some(n) => {
                let p = self.path(&n)?;
                // Missing is fine (created at start); a file is not.
                if p.exists() && !p.is_dir() {
                    return Err(self.ctx.err(
                        &n.path,
                        format!(
                            "found {}, which is a file; expected a directory for the WAL (it is created when missing)",
                            p.display()
                        ),
                    ));
                }
                p
            }
            None => default_buffer_path(self.ctx.env),
        };
        let max_size = match t.get("max_size") {
            Some(n) => {
                let v = self.ctx.size(&n)?;
                if v < MIN_BUFFER_SIZE {
                    return Err(self.ctx.err(
                        &n.path,
                        format!(
                            "found {} ({v} bytes), expected at least {} (the WAL needs room for its own files)",
                            describe(n.value),
                            format_size(MIN_BUFFER_SIZE)
                        ),
                    ));
                }
                v
            }
            None => DEFAULT_BUFFER_SIZE,
        };
        let max_age =
            self.positive_duration(&t, "max_age", DEFAULT_MAX_AGE, Duration::from_secs(1))?;
        let sync = match t.get("sync") {
            Some(n) => match self.ctx.choice(&n, &["always", "interval"])? {
                "always" => SyncMode::Always,
                _ => SyncMode::Interval,
            },
            None => SyncMode::Interval,
        };
        let sync_interval = self.positive_duration(
            &t,
            "sync_interval",
            DEFAULT_SYNC_INTERVAL,
            MIN_SYNC_INTERVAL,
        )?;
        let cache_size = match t.get("cache_size") {
            Some(n) => {
                let v = self.ctx.size(&n)?;
                if v < MIN_CACHE_SIZE {
                    return Err(self.ctx.err(
                        &n.path,
                        format!(
                            "found {} ({v} bytes), expected at least {}",
                            describe(n.value),
                            format_size(MIN_CACHE_SIZE)
                        ),
                    ));
                }
                v
            }
            None => DEFAULT_CACHE_SIZE,
        };
        Ok(BufferConfig {
            path,
            max_size,
            max_age,
            sync,
            sync_interval,
            cache_size,
        })
    }
}

/// `$STATE_DIRECTORY/wal` (the first directory when systemd lists
/// several), else `DEFAULT_STATE_DIR/wal`.
fn default_buffer_path(env: EnvLookup) -> PathBuf {
    let state = env("STATE_DIRECTORY")
        .and_then(|s| s.split(':').next().map(str::to_string))
        .filter(|s| !s.is_empty());
    let dir = state.unwrap_or_else(|| DEFAULT_STATE_DIR.to_string());
    Path::new(&dir).join("wal")
}
