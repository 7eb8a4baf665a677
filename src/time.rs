//! Civil (proleptic Gregorian, UTC) dates and days since 1970-01-01, both
//! ways, after Howard Hinnant's algorithms: the log's RFC 3339 timestamps
//! and the http probe's certificate expiry. (httpdate, already a
//! dependency, reads and writes only HTTP dates, and keeps its date fields
//! to itself.)

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn round_trip() {
        // 1600-01-01 to 2400-12-31: leap centuries (1600, 2000, 2400) and
        // common ones (1700, 1900, 2100) both ways.
        let first = days_from_civil(1600, 1, 1);
        let last = days_from_civil(2400, 12, 31);
        let mut prev: Option<(i64, u32, u32)> = None;
        for z in first..=last {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(
                days_from_civil(y, i64::from(m), i64::from(d)),
                z,
                "{y}-{m}-{d}"
            );
            if let Some((py, pm, pd)) = prev {
                assert!((y, m, d) > (py, pm, pd), "{y}-{m}-{d} after {py}-{pm}-{pd}");
            }
            prev = Some((y, m, d));
        }
        assert_eq!(
            civil_from_days(days_from_civil(2100, 3, 1) - 1),
            (2100, 2, 28)
        );
        assert_eq!(
            civil_from_days(days_from_civil(2400, 3, 1) - 1),
            (2400, 2, 29)
        );
    }
}
