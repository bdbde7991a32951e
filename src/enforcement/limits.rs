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

use crate::model::{seconds_until, Period};
use crate::storage::Db;

/// The length of the unit cap's window and of each tool's window.
pub const RATE_WINDOW_MS: i64 = 60_000;

/// One limit a call counts against, as the rate-limit headers report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Quota {
    pub limit: i64,
    pub remaining: i64,
    /// The limit's window in seconds: a minute, or the allowance's period (None for the
    /// period after a trial, which has no end).
    pub window: Option<i64>,
    /// Seconds until what is used comes back (None: it does not, as a trial's units).
    pub reset: Option<i64>,
}

/// The limits a call met: the token's unit cap, its tool's own window (if it has one) and
/// the plan's allowance (unless unlimited).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RateState {
    pub units: Quota,
    pub tool: Option<Quota>,
    pub allowance: Option<Quota>,
}

/// What the unit cap said of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    Admitted(Quota),
    /// Refused; retry after this many seconds.
    Refused {
        retry_after: i64,
        quota: Quota,
    },
}

/// The row of a token's cap.
pub fn token_key(token_id: i64) -> String {
    format!("token:{token_id}")
}

/// The row of a token's calls of `tool` in the window around `now`.
pub fn window_key(token_id: i64, tool: &str, now: i64) -> String {
    format!(
        "tool:{token_id}:{tool}:{}",
        now - now.rem_euclid(RATE_WINDOW_MS)
    )
}

/// A token's cap after a call asked for `units`: its new arrival time, or a refusal that
/// takes nothing. `tat` is the stored arrival time (0 when the token has none yet).
pub fn take_units(tat: i64, units: i64, cap: i64, now: i64) -> (i64, Take) {
    let per_unit = RATE_WINDOW_MS / cap.max(1);
    let start = tat.max(now);
    let cost = units * per_unit;
    let after = start + cost;
    if units == 0 || after - now <= RATE_WINDOW_MS {
        let tat = if units == 0 { tat } else { after };
        (tat, Take::Admitted(cap_quota(cap, per_unit, tat, now)))
    } else {
        let retry_after = ceil_seconds(after - now - RATE_WINDOW_MS);
        let quota = cap_quota(cap, per_unit, start, now);
        (tat, Take::Refused { retry_after, quota })
    }
}

/// The cap with arrival time `tat`: what is left, and when all of it is back.
fn cap_quota(cap: i64, per_unit: i64, tat: i64, now: i64) -> Quota {
    let used = (tat - now).max(0);
    Quota {
        limit: cap,
        remaining: ((RATE_WINDOW_MS - used) / per_unit.max(1)).clamp(0, cap),
        window: Some(RATE_WINDOW_MS / 1000),
        reset: Some(seconds_until(tat, now)),
    }
}

fn ceil_seconds(ms: i64) -> i64 {
    ((ms.max(1) + 999) / 1000).max(1)
}

/// When the window holding `now` ends (the expiry of its row).
pub fn window_end(now: i64) -> i64 {
    now - now.rem_euclid(RATE_WINDOW_MS) + RATE_WINDOW_MS
}

/// A tool's window holding `count` calls of its `limit`.
pub fn window_quota(count: i64, limit: i64, now: i64) -> Quota {
    Quota {
        limit,
        remaining: (limit - count).max(0),
        window: Some(RATE_WINDOW_MS / 1000),
        reset: Some(seconds_until(window_end(now), now)),
    }
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

/// A limited allowance with `used` of its units taken; `resets_at` as the plan says.
pub fn allowance_quota(
    used: i64,
    period: Period,
    resets_at: Option<i64>,
    now: i64,
) -> Option<Quota> {
    Some(Quota {
        limit: period.allowance?,
        remaining: (period.allowance? - used).max(0),
        window: (period.end != i64::MAX).then(|| (period.end - period.start) / 1000),
        reset: resets_at.map(|at| seconds_until(at, now)),
    })
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
            let (next, take) = take_units(tat, 1, 120, now);
            tat = next;
            admitted += usize::from(matches!(take, Take::Admitted(_)));
        }
        assert_eq!(admitted, 120);
        // Weighted: with the cap spent, a 5-unit call waits for 5 units (2.5 s → 3 s) and takes
        // nothing; the whole cap is back in a minute.
        let spent = Quota {
            limit: 120,
            remaining: 0,
            window: Some(60),
            reset: Some(60),
        };
        let refused = Take::Refused {
            retry_after: 3,
            quota: spent,
        };
        assert_eq!(take_units(tat, 5, 120, now), (tat, refused));
        // Half a minute later 60 units are back, and no more.
        let (tat, take) = take_units(tat, 60, 120, now + 30_000);
        assert!(matches!(take, Take::Admitted(Quota { remaining: 0, .. })));
        assert!(matches!(
            take_units(tat, 1, 120, now + 30_000).1,
            Take::Refused { .. }
        ));
        // A free call is never refused and takes nothing; it still reports the state.
        assert_eq!(
            take_units(tat, 0, 120, now + 30_000),
            (tat, Take::Admitted(spent))
        );
        let first = take_units(0, 1, 120, now).1;
        let one_taken = Quota {
            remaining: 119,
            reset: Some(1),
            ..spent
        };
        assert_eq!(first, Take::Admitted(one_taken));
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
        assert_eq!(window_end(start + 1), start + RATE_WINDOW_MS);
        let quota = window_quota(19, 20, start + 45_500);
        assert_eq!((quota.remaining, quota.reset), (1, Some(15)));
    }

    #[test]
    fn allowances_reserve_up_to_the_last_unit() {
        let trial = Plan::Trial.period(at("2026-11-01"), at("2026-11-01"));
        assert_eq!(reserve(1_995, trial, 5), Some(2_000));
        assert_eq!(reserve(1_996, trial, 5), None);
        assert_eq!(reserve(2_000, trial, 0), Some(2_000));
        let unlimited = Plan::Enterprise.period(at("2026-11-01"), at("2026-11-01"));
        assert_eq!(reserve(i64::MAX / 2, unlimited, 5), Some(i64::MAX / 2 + 5));
        assert_eq!(allowance_quota(5, unlimited, None, 0), None);
        // A trial's units never come back; a paid plan's come back at the period's end.
        let now = at("2026-11-02");
        let quota = allowance_quota(1_996, trial, None, now).unwrap();
        assert_eq!(
            (quota.limit, quota.remaining, quota.reset),
            (2_000, 4, None)
        );
        assert_eq!(quota.window, Some(14 * 86_400));
        // After the trial: nothing left, no end to the period, nothing coming back.
        let ended = Plan::Trial.period(at("2026-11-01"), at("2026-12-01"));
        let quota = allowance_quota(0, ended, None, at("2026-12-01")).unwrap();
        assert_eq!(
            (quota.limit, quota.remaining, quota.window, quota.reset),
            (0, 0, None, None)
        );
        let starter = Plan::Starter.period(at("2026-11-01"), now);
        let quota = allowance_quota(10, starter, Plan::Starter.resets_at(starter), now).unwrap();
        assert_eq!(quota.reset, Some(29 * 86_400));
    }
}
