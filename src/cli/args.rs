//! Value parsers and conversions the `trigger` arguments of every plugin
//! share (each plugin's arguments are in its `probe/<name>/config.rs`).

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{self, IpVersion};

/// A file argument that must exist and be readable.
pub(crate) fn readable_file_arg(s: &str) -> Result<PathBuf, String> {
    std::fs::File::open(s)
        .map(|_| PathBuf::from(s))
        .map_err(|e| format!("cannot read {s}: {e}"))
}

/// A duration argument (`5s`, `500ms`), above zero.
pub(crate) fn duration_arg(s: &str) -> Result<Duration, String> {
    let d = config::units::parse_duration(s)?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// `-4`/`-6` as an `IpVersion`.
pub(crate) fn ip_version_arg(v4: bool, v6: bool) -> IpVersion {
    match (v4, v6) {
        (true, _) => IpVersion::V4,
        (_, true) => IpVersion::V6,
        _ => IpVersion::Any,
    }
}
