//! Time without a date-time crate: the few conversions Autoheal needs between epoch seconds, civil
//! UTC dates and the timestamp spellings AWS events use.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Sub-second nanoseconds, now: a cheap uniquifier for record names.
pub fn now_nanos_part() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// Civil UTC date (year, month, day) of an epoch second (Howard Hinnant's days-from-civil inverse).
pub fn civil_date(epoch_secs: i64) -> (i64, u32, u32) {
    let z = epoch_secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 UTC with seconds: `2026-11-28T10:25:00Z`.
pub fn rfc3339(epoch_secs: i64) -> String {
    let (y, m, d) = civil_date(epoch_secs);
    let s = epoch_secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Parses the spellings found in AWS events: `2026-11-28T10:15:00Z`, `…00.121+0000`, `…00.121+00:00`.
/// Returns epoch seconds, or `None` for anything else.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = std::str::from_utf8(b.get(r)?).ok()?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i) {
        None | Some(b'Z') | Some(b'z') => {
            if b.len() > i + 1 {
                return None;
            }
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let rest = std::str::from_utf8(&b[i + 1..]).ok()?.replace(':', "");
            if rest.len() != 4 || !rest.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let hh: i64 = rest[..2].parse().ok()?;
            let mm: i64 = rest[2..].parse().ok()?;
            let o = hh * 3600 + mm * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_across_leap_days_and_midnight() {
        for &(secs, date) in &[
            (0, (1970, 1, 1)),
            (951_782_400, (2000, 2, 29)),
            (1_795_823_999, (2026, 11, 27)),
            (1_795_824_000, (2026, 11, 28)),
        ] {
            assert_eq!(civil_date(secs), date, "{secs}");
            assert_eq!(
                days_from_civil(date.0, date.1, date.2) * 86_400,
                secs - secs.rem_euclid(86_400)
            );
        }
    }

    #[test]
    fn parses_the_aws_spellings() {
        let base = parse_timestamp("2026-11-28T10:25:00Z").unwrap();
        assert_eq!(rfc3339(base), "2026-11-28T10:25:00Z");
        assert_eq!(parse_timestamp("2026-11-28T10:25:00.093+0000"), Some(base));
        assert_eq!(parse_timestamp("2026-11-28T11:25:00.5+01:00"), Some(base));
        assert_eq!(parse_timestamp("2026-11-28T05:25:00-0500"), Some(base));
        for bad in [
            "",
            "yesterday",
            "2026-13-28T10:25:00Z",
            "2026-11-28T10:25:00+5",
            "2026-11-28T10:25:00Zjunk",
            "2026-11-28T10:25:0xZ",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
