//! Time as Tollgate counts it: epoch milliseconds in UTC, days since 1970-01-01, and the
//! few calendar conversions and formats the product shows.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Whole seconds from `now` until `at` (rounded up; 0 once it has come): how long a client waits.
pub fn seconds_until(at: i64, now: i64) -> i64 {
    ((at - now).max(0) + 999) / 1000
}

/// The day number (days since 1970-01-01, UTC) of epoch milliseconds `ms`.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// `2026-11-23 05:22 UTC` from epoch milliseconds, the same on server and browser.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(DAY_MS / 1000);
    let rem = secs.rem_euclid(DAY_MS / 1000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// `2026-11-23T05:22:07Z` (RFC 3339, UTC) from epoch milliseconds: for `<time datetime>`
/// and exports.
pub fn iso_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let rem = secs.rem_euclid(DAY_MS / 1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(DAY_MS / 1000));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// "in 3 days", "in 5 h": how far off a future moment is, for the token list.
pub fn from_now(then: i64, now: i64) -> String {
    let secs = (then - now).max(0) / 1000;
    match secs {
        0..=59 => "in under a minute".into(),
        60..=3599 => format!("in {} min", secs / 60),
        3600..=86_399 => format!("in {} h", secs / 3600),
        _ => format!("in {} days", secs / 86_400),
    }
}

/// `3 Mar 2027` from epoch milliseconds (UTC).
pub fn short_date(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = civil_from_days(day_of(ms));
    format!("{d} {} {y}", MONTHS[m as usize - 1])
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// "3 min ago", "2 days ago": how long ago a token was last used, on the tokens page.
pub fn ago(then: i64, now: i64) -> String {
    let secs = (now - then).max(0) / 1000;
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// Epoch milliseconds of the end (23:59:59.999 UTC) of a `YYYY-MM-DD` date.
pub fn end_of_date(date: &str) -> Option<i64> {
    // Exactly YYYY-MM-DD: four-digit years keep the arithmetic below far from overflow.
    let date = date.trim().as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        date[range].iter().try_fold(0i64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
        })
    };
    if date.len() != 10 || date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m as u32, d as u32) {
        return None; // e.g. 2026-02-30
    }
    Some((days + 1) * DAY_MS - 1)
}

/// The day count since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// days_from_civil, the inverse of [`civil_from_days`]); a day past the month's end counts on
/// into the next month.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
pub fn day_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of a `YYYY-MM-DD` date; None when it is not a real date.
pub fn parse_day(date: &str) -> Option<i64> {
    end_of_date(date).map(day_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_to_the_end_of_the_day() {
        assert_eq!(end_of_date("1970-01-01"), Some(DAY_MS - 1));
        assert_eq!(
            format_time(end_of_date("2026-12-31").unwrap()),
            "2026-12-31 23:59 UTC"
        );
        assert_eq!(end_of_date("2026-02-30"), None);
        assert_eq!(end_of_date("2026-13-01"), None);
        assert_eq!(end_of_date("soon"), None);
        // Found by fuzzing (fuzz/fuzz_targets/date_range.rs): a 12-digit year overflowed.
        assert_eq!(end_of_date("999999999998-02-24"), None);
        assert_eq!(end_of_date("+2026-01-05"), None);
        assert_eq!(end_of_date("2026-1-5"), None);
        assert_eq!(end_of_date(" 2026-01-05 "), end_of_date("2026-01-05"));
    }

    #[test]
    fn formats_epoch_and_leap_days() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(format_time(1_795_411_320_000), "2026-11-23 05:22 UTC");
        assert_eq!(iso_time(1_795_411_327_000), "2026-11-23T05:22:07Z");
        assert_eq!(from_now(3 * DAY_MS + 5, 0), "in 3 days");
        assert_eq!(ago(0, 90_000), "1 min ago");
    }
}
