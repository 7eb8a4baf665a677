//! `logging:`: level, format and where the log goes.

use super::*;

impl Loader<'_> {
    pub(super) fn logging(&self, node: Option<Node>) -> Result<LoggingConfig, ConfigError> {
        let t = self.section(node.as_ref(), "logging", LOGGING_KEYS)?;
        let level = match t.get("level") {
            Some(n) => match self
                .ctx
                .choice(&n, &["error", "warn", "info", "debug", "trace"])?
            {
                "error" => log::LevelFilter::Error,
                "warn" => log::LevelFilter::Warn,
                "info" => log::LevelFilter::Info,
                "debug" => log::LevelFilter::Debug,
                _ => log::LevelFilter::Trace,
            },
            None => log::LevelFilter::Info,
        };
        let format = match t.get("format") {
            Some(n) => match self.ctx.choice(&n, &["auto", "json", "text"])? {
                "auto" => LogFormat::Auto,
                "json" => LogFormat::Json,
                _ => LogFormat::Text,
            },
            None => LogFormat::Auto,
        };
        let output = match t.get("output") {
            Some(n) => match self.ctx.choice(&n, &["stdout", "file"])? {
                "stdout" => LogOutput::Stdout,
                _ => LogOutput::File,
            },
            None => LogOutput::Stdout,
        };
        let file_path = match t.get("file_path") {
            Some(n) => self.path(&n)?,
            None => PathBuf::from(DEFAULT_LOG_FILE),
        };
        Ok(LoggingConfig {
            level,
            format,
            output,
            file_path,
        })
    }
}
