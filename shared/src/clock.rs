//! Time: the few conversions Autoheal needs between epoch seconds, civil UTC dates and the
//! timestamp spellings AWS events use (chrono, already in the tree through aws_lambda_events).

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, Utc};

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

/// Civil UTC date (year, month, day) of an epoch second.
pub fn civil_date(epoch_secs: i64) -> (i64, u32, u32) {
    let d = utc(epoch_secs);
    (i64::from(d.year()), d.month(), d.day())
}

/// RFC 3339 UTC with seconds: `2026-11-28T10:25:00Z`.
pub fn rfc3339(epoch_secs: i64) -> String {
    utc(epoch_secs).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The instant of an epoch second; out-of-range values (never produced by AWS) pin to the epoch.
fn utc(epoch_secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(epoch_secs, 0).unwrap_or_default()
}

/// Parses the spellings found in AWS events: `2026-11-28T10:15:00Z`, `…00.121+0000`, `…00.121+00:00`.
/// Returns epoch seconds, or `None` for anything else.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.timestamp())
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
            assert_eq!(civil_date(secs + 86_399 - secs.rem_euclid(86_400)), date);
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
