//! A range of whole days as calls name it: `YYYY-MM-DD` bounds, inclusive, at most a year.

use serde_json::{json, Value};

use super::time::{day_string, parse_day};

/// Why a range was refused, in a sentence naming the bad bound.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DateRangeError(pub String);

pub const MAX_RANGE_DAYS: i64 = 366;
const DEFAULT_RANGE_DAYS: i64 = 30;

/// An inclusive range of days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateRange {
    pub start: i64,
    pub end: i64,
}

impl DateRange {
    /// From optional `YYYY-MM-DD` bounds; by default the 30 days up to yesterday.
    pub fn parse(
        start: Option<&str>,
        end: Option<&str>,
        today: i64,
    ) -> Result<DateRange, DateRangeError> {
        DateRange::parse_named(start, end, today, ["start_date", "end_date"])
    }

    /// [`DateRange::parse`], its errors naming the bounds as the caller's parameters do (the
    /// REST API's are `start` and `end`).
    pub fn parse_named(
        start: Option<&str>,
        end: Option<&str>,
        today: i64,
        [start_name, end_name]: [&str; 2],
    ) -> Result<DateRange, DateRangeError> {
        let day = |name: &str, value: &str| {
            parse_day(value).ok_or_else(|| {
                let shown: String = value.chars().take(40).collect();
                DateRangeError(format!("{name} {shown:?} is not a date (YYYY-MM-DD)"))
            })
        };
        let end = match end {
            Some(v) => day(end_name, v)?,
            None => today - 1,
        };
        let start = match start {
            Some(v) => day(start_name, v)?,
            None => end - (DEFAULT_RANGE_DAYS - 1),
        };
        if start > end {
            return Err(DateRangeError(format!("{start_name} is after {end_name}")));
        }
        if end - start + 1 > MAX_RANGE_DAYS {
            return Err(DateRangeError(format!(
                "the range is longer than {MAX_RANGE_DAYS} days"
            )));
        }
        Ok(DateRange { start, end })
    }

    pub fn days(self) -> i64 {
        self.end - self.start + 1
    }

    /// The range of the same length just before this one.
    pub fn previous(self) -> DateRange {
        DateRange {
            start: self.start - self.days(),
            end: self.start - 1,
        }
    }

    /// The first and last day as `YYYY-MM-DD`, as the database stores days.
    pub fn bounds(self) -> (String, String) {
        (day_string(self.start), day_string(self.end))
    }

    /// `{"start_date", "end_date", "days"}`, as answers show the range they cover.
    pub fn json(self) -> Value {
        json!({ "start_date": day_string(self.start), "end_date": day_string(self.end), "days": self.days() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{day_string, parse_day};

    #[test]
    fn date_ranges_default_and_validate() {
        let today = parse_day("2026-11-23").unwrap();
        let default = DateRange::parse(None, None, today).unwrap();
        assert_eq!(default.bounds(), ("2026-10-24".into(), "2026-11-22".into()));
        assert_eq!(default.days(), 30);
        let previous = default.previous();
        assert_eq!(previous.end, default.start - 1);
        assert_eq!(previous.days(), default.days());
        assert!(matches!(
            DateRange::parse(Some("2026-11-02"), Some("2026-11-01"), today),
            Err(DateRangeError(_))
        ));
        assert!(matches!(
            DateRange::parse(Some("2025-01-01"), Some("2026-01-02"), today),
            Err(DateRangeError(_))
        ));
        assert!(DateRange::parse(Some("2025-01-01"), Some("2026-01-01"), today).is_ok()); // 366 days
        assert!(matches!(
            DateRange::parse(Some("yesterday"), None, today),
            Err(DateRangeError(_))
        ));
    }
}
