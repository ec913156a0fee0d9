//! The crate's one clock helper: times as Unix seconds (what the exposition, the exemptions and
//! the audit compare), RFC 3339 for people, and the ISO 8601 times AWS writes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in whole Unix seconds.
pub(crate) fn now() -> i64 {
    seconds(SystemTime::now())
}

/// `time` in whole Unix seconds; zero for times before the epoch.
pub(crate) fn seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// `time` in Unix seconds with fractions; zero for times before the epoch.
pub(crate) fn seconds_f64(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// The time `seconds` after the epoch (the epoch itself for negative ones).
pub(crate) fn from_seconds(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds.max(0) as u64)
}

/// RFC 3339 for a time AWS gave; clamped to what the format can show (years 1970-9999), so an
/// absurd date from the service is printed oddly instead of crashing the caller.
pub(crate) fn rfc3339(seconds: i64) -> String {
    const LAST_SECOND_OF_9999: i64 = 253_402_300_799;
    humantime::format_rfc3339_seconds(from_seconds(seconds.min(LAST_SECOND_OF_9999))).to_string()
}

/// An RFC 3339 time (`2026-12-31T18:00:00Z`, also with fractions) or a bare date
/// (`2026-12-31`, its first second, UTC), in Unix seconds.
pub(crate) fn parse_rfc3339_or_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let time = if text.len() == 10 {
        humantime::parse_rfc3339(&format!("{text}T00:00:00Z")).ok()?
    } else {
        humantime::parse_rfc3339(text).ok()?
    };
    time.duration_since(UNIX_EPOCH)
        .ok()
        .map(|since| since.as_secs() as i64)
}

/// An ISO 8601 time as AWS writes it (`2024-05-01T12:00:00+00:00`, also with `Z`, fractions or
/// another offset), in Unix seconds.
pub(crate) fn parse_iso8601(value: &str) -> Option<i64> {
    let bytes = value.as_bytes();
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') || bytes[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let text = value.get(range)?;
        text.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| text.parse().ok())
            .flatten()
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = &value[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let offset = &rest[1..];
            let (h, m) = match offset.len() {
                5 if offset.as_bytes()[2] == b':' => (&offset[..2], &offset[3..]),
                4 => (&offset[..2], &offset[2..]),
                _ => return None,
            };
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            sign * (h * 3600 + m * 60)
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_the_formats_aws_and_people_use() {
        assert_eq!(
            parse_iso8601("2024-05-01T12:00:00+00:00"),
            Some(1_714_564_800)
        );
        assert_eq!(
            parse_iso8601("2024-05-01T14:00:00.5+02:00"),
            Some(1_714_564_800)
        );
        assert_eq!(parse_iso8601("2024-13-01T00:00:00Z"), None);
        assert_eq!(rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(parse_rfc3339_or_date("2024-05-01"), Some(1_714_521_600));
        assert_eq!(
            parse_rfc3339_or_date("2024-05-01T12:00:00Z"),
            Some(1_714_564_800)
        );
        assert_eq!(seconds(from_seconds(42)), 42);
        assert_eq!(seconds_f64(from_seconds(-1)), 0.0);
    }
}
