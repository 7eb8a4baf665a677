//! `sentinel:`: who this agent is (name, region, labels) and its own
//! metrics interval.

use super::*;

/// The shortest `sentinel.self_metrics_interval` (0 turns it off).
const MIN_SELF_METRICS_INTERVAL: Duration = Duration::from_secs(1);

impl Loader<'_> {
    pub(super) fn agent(&mut self, node: Option<Node>) -> Result<AgentConfig, ConfigError> {
        let t = self.section(node.as_ref(), "sentinel", SENTINEL_KEYS)?;
        let name = match t.get("name") {
            Some(n) => {
                let s = self.ctx.string(&n, "the agent's name")?.trim().to_string();
                if s.is_empty() {
                    return Err(self.ctx.err(
                        &n.path,
                        "found \"\", expected the agent's name (leave the key out to use the host name)",
                    ));
                }
                check_label_value(&self.ctx, &n, &s, "the agent's name")?;
                s
            }
            None => match default_agent_name() {
                Some(h) => h,
                None => {
                    self.warn(format!(
                        "{}: sentinel.name is not set and the host name cannot be read; using {DEFAULT_AGENT_NAME:?}",
                        self.ctx.file
                    ));
                    DEFAULT_AGENT_NAME.to_string()
                }
            },
        };
        let region = match t.get("region") {
            Some(n) => self.ctx.string(&n, "a region name")?,
            None => String::new(),
        };
        let labels = match t.get("labels") {
            Some(n) => self.labels(&n)?,
            None => Labels::new(),
        };
        // The agent's own sentinel_* series go into the WAL this often;
        // 0 turns it off.
        let self_metrics_interval = match t.get("self_metrics_interval") {
            Some(n) if self.ctx.duration(&n)?.is_zero() => None,
            Some(n) => Some(duration_at_least(
                &self.ctx,
                &n,
                MIN_SELF_METRICS_INTERVAL,
                DEFAULT_SELF_METRICS_INTERVAL,
            )?),
            None => Some(DEFAULT_SELF_METRICS_INTERVAL),
        };
        Ok(AgentConfig {
            name,
            region,
            labels,
            self_metrics_interval,
        })
    }
}

/// The host name, the default `sentinel.name`.
pub fn default_agent_name() -> Option<String> {
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let s = s.trim();
        if !s.is_empty() {
            return Some(s.to_string());
        }
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes and we stop at the first NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let s = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}
