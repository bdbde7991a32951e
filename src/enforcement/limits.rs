//! Steps 4 and 5 of the pipeline as plain rules: the per-token unit cap, the per-tool window and
//! the plan allowance. Each rule takes the stored state of its row and returns the new state or
//! a refusal; `enforcement::writer` reads and locks the rows, applies these rules to a batch of
//! calls in arrival order, and writes the rows back in the same transaction, which keeps every
//! limit exact under concurrency and across instances.
//!
//! The per-token cap is GCRA (the generic cell rate algorithm) over units: each unit costs
//! `60 s / cap` of "theoretical arrival time", and a call is admitted while that time stays
//! within one minute of now. It admits the full cap in a burst and refills smoothly. Tools with
//! their own limit also count calls in fixed 60-second windows.

use crate::model::Period;
use crate::storage::Db;

pub const WINDOW_MS: i64 = 60_000;

/// What the rate limiter said, for the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateState {
    pub limit: i64,
    pub remaining: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted(RateState),
    /// Refused; retry after this many seconds.
    Refused {
        retry_after: i64,
        state: RateState,
    },
}

/// The row of a token's cap.
pub fn token_key(token_id: i64) -> String {
    format!("token:{token_id}")
}

/// The row of a token's calls of `tool` in the window around `now`.
pub fn window_key(token_id: i64, tool: &str, now: i64) -> String {
    format!("tool:{token_id}:{tool}:{}", now - now.rem_euclid(WINDOW_MS))
}

/// A token's cap after a call asked for `units`: its new arrival time, or a refusal that
/// takes nothing. `tat` is the stored arrival time (0 when the token has none yet).
pub fn take_units(tat: i64, units: i64, cap: i64, now: i64) -> (i64, Admission) {
    let per_unit = WINDOW_MS / cap.max(1);
    let start = tat.max(now);
    let cost = units * per_unit;
    let after = start + cost;
    if units == 0 || after - now <= WINDOW_MS {
        let tat = if units == 0 { tat } else { after };
        (tat, Admission::Admitted(state(cap, per_unit, tat, now)))
    } else {
        let retry_after = ceil_seconds(after - now - WINDOW_MS);
        let state = state(cap, per_unit, start, now);
        (tat, Admission::Refused { retry_after, state })
    }
}

fn state(cap: i64, per_unit: i64, tat: i64, now: i64) -> RateState {
    let used = (tat - now).max(0);
    RateState {
        limit: cap,
        remaining: ((WINDOW_MS - used) / per_unit.max(1)).clamp(0, cap),
    }
}

fn ceil_seconds(ms: i64) -> i64 {
    ((ms.max(1) + 999) / 1000).max(1)
}

/// When the window holding `now` ends (the expiry of its row).
pub fn window_end(now: i64) -> i64 {
    now - now.rem_euclid(WINDOW_MS) + WINDOW_MS
}

/// A tool's window after one more call: the new count, or the seconds until the window ends.
pub fn take_call(count: i64, limit: i64, now: i64) -> Result<i64, i64> {
    if count < limit {
        Ok(count + 1)
    } else {
        Err(ceil_seconds(window_end(now) - now))
    }
}

/// Drops windows that have ended.
pub async fn sweep(db: &Db, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM rate_windows WHERE expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The period's units after reserving `units` more, or None when that passes the allowance.
pub fn reserve(used: i64, period: Period, units: i64) -> Option<i64> {
    match period.allowance {
        Some(allowance) if used + units > allowance => None,
        _ => Some(used + units),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{parse_day, Plan, DAY_MS};

    fn at(date: &str) -> i64 {
        parse_day(date).unwrap() * DAY_MS
    }

    #[test]
    fn the_unit_cap_admits_a_burst_then_refills_by_the_unit() {
        let now = at("2026-11-01");
        let mut tat = 0;
        let mut admitted = 0;
        for _ in 0..500 {
            let (next, admission) = take_units(tat, 1, 120, now);
            tat = next;
            admitted += usize::from(matches!(admission, Admission::Admitted(_)));
        }
        assert_eq!(admitted, 120);
        // Weighted: with the cap spent, a 5-unit call waits for 5 units (2.5 s → 3 s) and takes nothing.
        let refused = Admission::Refused {
            retry_after: 3,
            state: RateState {
                limit: 120,
                remaining: 0,
            },
        };
        assert_eq!(take_units(tat, 5, 120, now), (tat, refused));
        // Half a minute later 60 units are back, and no more.
        let (tat, admission) = take_units(tat, 60, 120, now + 30_000);
        assert!(matches!(
            admission,
            Admission::Admitted(RateState { remaining: 0, .. })
        ));
        assert!(matches!(
            take_units(tat, 1, 120, now + 30_000).1,
            Admission::Refused { .. }
        ));
        // A free call is never refused and takes nothing; it still reports the state.
        assert_eq!(
            take_units(tat, 0, 120, now + 30_000),
            (
                tat,
                Admission::Admitted(RateState {
                    limit: 120,
                    remaining: 0
                })
            )
        );
        assert_eq!(
            take_units(0, 1, 120, now).1,
            Admission::Admitted(RateState {
                limit: 120,
                remaining: 119
            })
        );
    }

    #[test]
    fn tool_windows_count_calls_per_minute_aligned_to_the_minute() {
        let start = at("2026-11-01");
        assert_eq!(take_call(0, 20, start), Ok(1));
        assert_eq!(take_call(19, 20, start), Ok(20));
        assert_eq!(take_call(20, 20, start), Err(60));
        assert_eq!(take_call(20, 20, start + 59_001), Err(1));
        assert_eq!(
            window_key(7, "t", start + 59_999),
            window_key(7, "t", start)
        );
        assert_ne!(
            window_key(7, "t", start + 60_000),
            window_key(7, "t", start)
        );
        assert_eq!(window_end(start + 1), start + WINDOW_MS);
    }

    #[test]
    fn allowances_reserve_up_to_the_last_unit() {
        let trial = Plan::Trial.period(at("2026-11-01"), at("2026-11-01"));
        assert_eq!(reserve(1_995, trial, 5), Some(2_000));
        assert_eq!(reserve(1_996, trial, 5), None);
        assert_eq!(reserve(2_000, trial, 0), Some(2_000));
        let unlimited = Plan::Enterprise.period(at("2026-11-01"), at("2026-11-01"));
        assert_eq!(reserve(i64::MAX / 2, unlimited, 5), Some(i64::MAX / 2 + 5));
    }
}
