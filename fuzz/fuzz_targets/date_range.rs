//! Date ranges: whatever the bounds, a range is valid (start ≤ end, at most 366 days) or an
//! `invalid_date_range` error; a date that parses formats back to the same day.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::model::{day_string, parse_day, DateRange};
use tollgate::tools::ToolError;

fuzz_target!(|input: (Option<&str>, Option<&str>, u16)| {
    let (start, end, offset) = input;
    let today = 10_000 + i64::from(offset);
    match DateRange::parse(start, end, today) {
        Ok(range) => {
            assert!(range.start <= range.end);
            assert!(range.days() <= 366);
            if end.is_none() {
                assert_eq!(range.end, today - 1);
            }
        }
        Err(err) => assert_eq!(ToolError::from(err).code(), "invalid_date_range"),
    }
    for text in [start, end].into_iter().flatten() {
        if let Some(day) = parse_day(text) {
            assert_eq!(parse_day(&day_string(day)), Some(day), "{text:?}");
        }
    }
});
