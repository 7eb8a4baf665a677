//! `http:`: the /metrics, /healthz and status page listener.

use super::*;

impl Loader<'_> {
    pub(super) fn http(&self, node: Option<Node>) -> Result<HttpConfig, ConfigError> {
        let t = self.section(node.as_ref(), "http", HTTP_KEYS)?;
        let enabled = match t.get("enabled") {
            Some(n) => self.ctx.bool(&n)?,
            None => true,
        };
        let listen = match t.get("listen") {
            Some(n) => {
                let s = self.ctx.string(&n, "host:port")?.trim().to_string();
                if let Err(why) = check_listen(&s) {
                    return Err(self.ctx.err(&n.path, why));
                }
                s
            }
            None => DEFAULT_LISTEN.to_string(),
        };
        Ok(HttpConfig { enabled, listen })
    }
}

/// Checks `http.listen`; the error is the whole reason.
fn check_listen(s: &str) -> Result<(), String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    if let Some(port) = s.strip_prefix(':') {
        return Err(format!(
            "found {s:?}, expected host:port; write 0.0.0.0:{port} to listen on every interface, or 127.0.0.1:{port} for this host only"
        ));
    }
    match s.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && !host.contains(':')
                && !host.chars().any(char::is_whitespace)
                && port.parse::<u16>().is_ok() =>
        {
            Ok(())
        }
        _ => Err(format!(
            "found {s:?}, expected host:port like {DEFAULT_LISTEN} (IPv6: [::1]:9851)"
        )),
    }
}
