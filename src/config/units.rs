//! Durations (`10s`, `1m30s`, `500ms`, `1.5s`, `7d`, bare seconds) and
//! sizes (`64MiB`, `1GB`, `512KiB`, `100kB`, bare bytes) as the config
//! spells them.
//!
//! Pure string parsing with no YAML in sight: the config walker hands the
//! scalar text here (after `${VAR}` expansion) and wraps a `UnitError` into
//! a `ConfigError` that names the file and the path.
//!
//! Durations are one or more `<number><unit>` parts, largest unit first
//! (`1h30m`, not `30m1h`), each unit at most once, units `w d h m s ms us ns`
//! (also `µs`). The number may have a fraction (`1.5s`, as Go's
//! `time.ParseDuration` allows, since the original Sentinel is a Go program).
//! A bare number means seconds.
//!
//! Sizes are a number and an optional unit: `B`, the decimal `kB MB GB TB`
//! (powers of 1000) or the binary `KiB MiB GiB TiB` (powers of 1024).
//! Units are matched case-insensitively (`mb` is `MB`), so `K` and `k` both
//! mean 1000 and only the `i` forms mean 1024. A bare number means bytes.

use std::fmt;
use std::time::Duration;

/// What a duration looks like, for error messages.
pub const DURATION_EXPECTED: &str = "a duration like 10s, 1m30s, 500ms or a number of seconds";

/// What a size looks like, for error messages.
pub const SIZE_EXPECTED: &str = "a size like 64MiB, 1GB, 512KiB, 100kB or a number of bytes";

/// Duration units, largest first, with their length in nanoseconds.
const DURATION_UNITS: &[(&str, u128)] = &[
    ("w", 7 * 24 * 3600 * NANOS_PER_SEC),
    ("d", 24 * 3600 * NANOS_PER_SEC),
    ("h", 3600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("µs", 1_000),
    ("ns", 1),
];

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Size units (lower-cased) and their length in bytes.
const SIZE_UNITS: &[(&str, u128)] = &[
    ("b", 1),
    ("kb", 1_000),
    ("k", 1_000),
    ("mb", 1_000_000),
    ("m", 1_000_000),
    ("gb", 1_000_000_000),
    ("g", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("t", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("ki", 1 << 10),
    ("mib", 1 << 20),
    ("mi", 1 << 20),
    ("gib", 1 << 30),
    ("gi", 1 << 30),
    ("tib", 1 << 40),
    ("ti", 1 << 40),
];

/// A duration or size that does not parse: what was found, what a valid
/// one looks like, and, when it helps, what exactly is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitError {
    /// The text as written.
    pub found: String,
    /// `DURATION_EXPECTED` or `SIZE_EXPECTED`.
    pub expected: &'static str,
    /// The specific problem (`unknown unit "x"`), if there is one to name.
    pub detail: Option<String>,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, found {:?}", self.expected, self.found)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnitError {}

/// For clap value parsers, which want `Result<_, String>`.
impl From<UnitError> for String {
    fn from(e: UnitError) -> String {
        e.to_string()
    }
}

fn duration_error(found: &str, detail: Option<String>) -> UnitError {
    UnitError {
        found: found.to_string(),
        expected: DURATION_EXPECTED,
        detail,
    }
}

fn too_long(found: &str) -> UnitError {
    duration_error(
        found,
        Some("it is too long, the most is 3650d (ten years)".into()),
    )
}

fn size_error(found: &str, detail: Option<String>) -> UnitError {
    UnitError {
        found: found.to_string(),
        expected: SIZE_EXPECTED,
        detail,
    }
}

/// A non-negative decimal number split at the point: `1.25` is
/// `(1, "25")`. Returns the number and the rest of `s`.
fn split_number(s: &str) -> Option<((u128, &str), &str)> {
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (int_part, rest) = s.split_at(int_len);
    let (frac, rest) = match rest.strip_prefix('.') {
        Some(r) => {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            r.split_at(n)
        }
        None => ("", rest),
    };
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    // A u128 holds 38 digits; anything longer overflows every unit anyway.
    if int_part.len() > 30 {
        return None;
    }
    let int = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    Some(((int, frac), rest))
}

/// `int.frac * unit`, rounded down, or `None` on overflow.
fn scale(int: u128, frac: &str, unit: u128) -> Option<u128> {
    let mut total = int.checked_mul(unit)?;
    let mut div: u128 = 1;
    let mut frac_val: u128 = 0;
    // Digits past the 18th cannot change a nanosecond or byte count of a
    // sane value; ignore them rather than overflow.
    for d in frac.bytes().take(18) {
        frac_val = frac_val * 10 + u128::from(d - b'0');
        div *= 10;
    }
    total = total.checked_add(frac_val.checked_mul(unit)? / div)?;
    Some(total)
}

/// The longest duration accepted anywhere: ten years. Longer ones mean
/// nothing to an agent and overflow clock arithmetic (`Instant + timeout`).
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

fn nanos_to_duration(nanos: u128) -> Option<Duration> {
    if nanos > MAX_DURATION.as_nanos() {
        return None;
    }
    let secs = u64::try_from(nanos / NANOS_PER_SEC).ok()?;
    Some(Duration::new(secs, (nanos % NANOS_PER_SEC) as u32))
}

/// Parses `10s`, `1m30s`, `500ms`, `1.5s`, `7d` or a bare number of
/// seconds (`30`, `0.5`).
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(duration_error(text, Some("it is empty".into())));
    }
    if s.starts_with('-') {
        return Err(duration_error(
            text,
            Some("a duration cannot be negative".into()),
        ));
    }
    let mut rest = s;
    let mut total: u128 = 0;
    // Index into DURATION_UNITS of the last unit seen, to enforce order.
    let mut last_unit: Option<usize> = None;
    let mut parts = 0;
    while !rest.is_empty() {
        let Some(((int, frac), after)) = split_number(rest) else {
            return Err(duration_error(
                text,
                Some(format!("expected a number at {rest:?}")),
            ));
        };
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let unit = unit.trim();
        if unit.is_empty() {
            if parts == 0 && after.is_empty() {
                // A bare number: seconds.
                let nanos = scale(int, frac, NANOS_PER_SEC)
                    .and_then(nanos_to_duration)
                    .ok_or_else(|| too_long(text))?;
                return Ok(nanos);
            }
            return Err(duration_error(
                text,
                Some("every number needs a unit (w, d, h, m, s, ms, us, ns)".into()),
            ));
        }
        let Some(idx) = DURATION_UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(duration_error(
                text,
                Some(format!(
                    "unknown unit {unit:?}, expected one of w, d, h, m, s, ms, us, ns"
                )),
            ));
        };
        // µs and us are the same unit: compare by length, not position.
        let unit_nanos = DURATION_UNITS[idx].1;
        if let Some(last) = last_unit {
            if DURATION_UNITS[last].1 <= unit_nanos {
                return Err(duration_error(
                    text,
                    Some("write units largest first, each once, as in 1h30m".into()),
                ));
            }
        }
        last_unit = Some(idx);
        total = scale(int, frac, unit_nanos)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| too_long(text))?;
        rest = after;
        parts += 1;
    }
    nanos_to_duration(total).ok_or_else(|| too_long(text))
}

/// Parses `64MiB`, `1GB`, `512KiB`, `100kB`, `1.5GiB` or a bare number of
/// bytes. Fractions of a byte are rounded down.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(size_error(text, Some("it is empty".into())));
    }
    if s.starts_with('-') {
        return Err(size_error(text, Some("a size cannot be negative".into())));
    }
    let Some(((int, frac), unit)) = split_number(s) else {
        return Err(size_error(text, None));
    };
    let unit = unit.trim().to_ascii_lowercase();
    let mult = if unit.is_empty() {
        1
    } else {
        match SIZE_UNITS.iter().find(|(u, _)| *u == unit) {
            Some((_, m)) => *m,
            None => {
                return Err(size_error(
                    text,
                    Some(format!(
                        "unknown unit {:?}, expected one of B, kB, MB, GB, TB, KiB, MiB, GiB, TiB",
                        unit
                    )),
                ))
            }
        }
    };
    scale(int, frac, mult)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| size_error(text, Some("it is too large".into())))
}

/// Formats a duration the way the config spells it, for messages and
/// `check` output: whole units down to minutes, then seconds with up to
/// three decimals (`1m30s`, `22.007s`, `2d3h4m5.006s`); under a second,
/// milliseconds and below (`500ms`, `1ms500us`). What it prints parses
/// back to the same duration (to the millisecond, from a second up).
pub fn format_duration(d: Duration) -> String {
    let mut nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if nanos >= NANOS_PER_SEC {
        for (unit, len) in DURATION_UNITS {
            if matches!(*unit, "d" | "h" | "m") && nanos >= *len {
                out.push_str(&format!("{}{unit}", nanos / len));
                nanos %= len;
            }
        }
        let ms = nanos / 1_000_000;
        match (ms / 1000, ms % 1000) {
            (0, 0) => {}
            (secs, 0) => out.push_str(&format!("{secs}s")),
            (secs, frac) => {
                let frac = format!("{frac:03}");
                out.push_str(&format!("{secs}.{}s", frac.trim_end_matches('0')));
            }
        }
        return out;
    }
    for (unit, len) in DURATION_UNITS {
        if *unit != "µs" && nanos >= *len {
            out.push_str(&format!("{}{unit}", nanos / len));
            nanos %= len;
        }
    }
    out
}

/// Formats a byte count with the largest binary unit that divides it
/// (`256MiB`), or as bytes.
pub fn format_size(bytes: u64) -> String {
    for (unit, len) in [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ] {
        if bytes >= len && bytes % len == 0 {
            return format!("{}{unit}", bytes / len);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Duration {
        parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn durations_parse() {
        assert_eq!(d("10s"), Duration::from_secs(10));
        assert_eq!(d("1m30s"), Duration::from_secs(90));
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("2h"), Duration::from_secs(7200));
        assert_eq!(d("7d"), Duration::from_secs(7 * 86400));
        assert_eq!(d("1w"), Duration::from_secs(7 * 86400));
        assert_eq!(d("1h30m15s"), Duration::from_secs(5415));
        assert_eq!(d("1s500ms"), Duration::from_millis(1500));
        assert_eq!(d("1.5s"), Duration::from_millis(1500));
        assert_eq!(d(".5s"), Duration::from_millis(500));
        assert_eq!(d("250us"), Duration::from_micros(250));
        assert_eq!(d("250µs"), Duration::from_micros(250));
        assert_eq!(d("10ns"), Duration::from_nanos(10));
        assert_eq!(d("30"), Duration::from_secs(30));
        assert_eq!(d("0.25"), Duration::from_millis(250));
        assert_eq!(d(" 5s "), Duration::from_secs(5));
        assert_eq!(d("0s"), Duration::ZERO);
        assert_eq!(d("300s"), Duration::from_secs(300));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        let e = parse_duration("abc").unwrap_err();
        assert_eq!(e.found, "abc");
        assert!(e.to_string().starts_with(
            "expected a duration like 10s, 1m30s, 500ms or a number of seconds, found \"abc\""
        ));
        let e = parse_duration("10x").unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some("unknown unit \"x\", expected one of w, d, h, m, s, ms, us, ns")
        );
        let e = parse_duration("30m1h").unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some("write units largest first, each once, as in 1h30m")
        );
        assert!(parse_duration("1s1s").is_err());
        assert!(parse_duration("1m30")
            .unwrap_err()
            .detail
            .unwrap()
            .contains("needs a unit"));
        assert!(parse_duration("-5s")
            .unwrap_err()
            .detail
            .unwrap()
            .contains("negative"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        for huge in ["10000000000000000000s", "3651d", "522w", "315360001"] {
            assert_eq!(
                parse_duration(huge).unwrap_err().detail.as_deref(),
                Some("it is too long, the most is 3650d (ten years)"),
                "{huge}"
            );
        }
        assert_eq!(parse_duration("3650d").unwrap(), MAX_DURATION);
        assert!(parse_duration(".s").is_err());
        assert!(parse_duration("99999999999999999999999999999999w").is_err());
        assert!(parse_duration("100000000000000000000000s").is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("100kB"), Ok(100_000));
        assert_eq!(parse_size("100KB"), Ok(100_000));
        assert_eq!(parse_size("4mib"), Ok(4 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        let e = parse_size("lots").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected a size like 64MiB, 1GB, 512KiB, 100kB or a number of bytes, found \"lots\""
        );
        let e = parse_size("5XB").unwrap_err();
        assert!(e.detail.unwrap().starts_with("unknown unit \"xb\""));
        assert!(parse_size("-1MiB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999TiB").is_err());
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(7 * 86400)), "7d");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        for s in [
            "1m30s",
            "500ms",
            "7d",
            "1h1s",
            "2d3h4m5.006s",
            "1ms500us",
            "1.5s",
        ] {
            assert_eq!(format_duration(d(s)), s);
        }
        // See: issue 12 item 10. Seconds with decimals, not `22s7ms`.
        assert_eq!(format_duration(Duration::from_millis(22_007)), "22.007s");
        assert_eq!(format_duration(Duration::from_millis(2_111)), "2.111s");
        assert_eq!(format_duration(Duration::from_millis(150)), "150ms");
        assert_eq!(format_duration(Duration::from_millis(61_050)), "1m1.05s");
        assert_eq!(format_duration(Duration::from_micros(2_000_999)), "2s");
        assert_eq!(format_size(256 << 20), "256MiB");
        assert_eq!(format_size(4 << 20), "4MiB");
        assert_eq!(format_size(1000), "1000B");
    }
}
