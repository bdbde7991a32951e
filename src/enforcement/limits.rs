//! Steps 4 and 5 of the pipeline: rate limits and the plan allowance, exact under
//! concurrency and across instances because each decision is one conditional write.
//!
//! Each decision takes the connection it runs on: the pipeline's admissions run in the
//! writer's batch transactions (`enforcement::writer`).
//!
//! The per-token cap is GCRA (the generic cell rate algorithm) over units: each unit costs
//! `60 s / cap` of "theoretical arrival time", and a call is admitted while that time stays
//! within one minute of now. It admits the full cap in a burst and refills smoothly. Tools with
//! their own limit also count calls in fixed 60-second windows.

use sqlx::AnyConnection;

use crate::storage::Db;

pub const WINDOW_MS: i64 = 60_000;

/// What the rate limiter said, for the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Takes `units` from the token's per-minute cap, or refuses without taking anything.
pub async fn take_units(
    conn: &mut AnyConnection,
    token_id: i64,
    units: i64,
    cap: i64,
    now: i64,
) -> Result<Admission, sqlx::Error> {
    let per_unit = WINDOW_MS / cap.max(1);
    let key = token_key(token_id);
    if units == 0 {
        let tat = current_tat(conn, &key).await?.unwrap_or(now);
        return Ok(Admission::Admitted(state(cap, per_unit, tat, now)));
    }
    // One statement: the first call inserts, later ones move the arrival time if it fits.
    let cost = units * per_unit;
    let admitted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO rate_limits (key, tat) SELECT $1, $2 + $3 WHERE $3 <= $4 \
         ON CONFLICT (key) DO UPDATE SET tat = (CASE WHEN rate_limits.tat > $2 THEN rate_limits.tat ELSE $2 END) + $3 \
         WHERE (CASE WHEN rate_limits.tat > $2 THEN rate_limits.tat ELSE $2 END) + $3 - $2 <= $4 RETURNING tat",
    )
    .bind(&key)
    .bind(now)
    .bind(cost)
    .bind(WINDOW_MS)
    .fetch_optional(&mut *conn)
    .await?;
    match admitted {
        Some((tat,)) => Ok(Admission::Admitted(state(cap, per_unit, tat, now))),
        None => {
            let tat = current_tat(conn, &key).await?.unwrap_or(now).max(now);
            let wait_ms = tat + cost - now - WINDOW_MS;
            Ok(Admission::Refused {
                retry_after: ceil_seconds(wait_ms),
                state: state(cap, per_unit, tat, now),
            })
        }
    }
}

async fn current_tat(conn: &mut AnyConnection, key: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT tat FROM rate_limits WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|(tat,)| tat))
}

fn state(cap: i64, per_unit: i64, tat: i64, now: i64) -> RateState {
    let used = (tat - now).max(0);
    RateState {
        limit: cap,
        remaining: ((WINDOW_MS - used) / per_unit).clamp(0, cap),
    }
}

fn ceil_seconds(ms: i64) -> i64 {
    ((ms.max(1) + 999) / 1000).max(1)
}

/// Counts one call of `tool` in the token's current 60-second window, refusing past `limit`.
/// Returns the seconds until the window ends when refused.
pub async fn take_call(
    conn: &mut AnyConnection,
    token_id: i64,
    tool: &str,
    limit: i64,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let window_start = now - now.rem_euclid(WINDOW_MS);
    let key = window_key(token_id, tool, now);
    let counted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO rate_windows (key, count, expires_at) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET count = rate_windows.count + 1 WHERE rate_windows.count < $3 RETURNING count",
    )
    .bind(&key)
    .bind(window_start + WINDOW_MS)
    .bind(limit)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match counted {
        Some(_) => None,
        None => Some(ceil_seconds(window_start + WINDOW_MS - now)),
    })
}

/// Drops windows that have ended.
pub async fn sweep(db: &Db, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM rate_windows WHERE expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// An organization's plan period: [start, end) and its unit allowance (None: unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub start: i64,
    pub end: i64,
    pub allowance: Option<i64>,
}

const DAY_MS: i64 = 86_400_000;

/// Trial: 14 days from the start, then nothing until a plan is chosen. Other plans: calendar
/// months from the subscription start (the same day of each month, clamped to its length).
pub fn period(plan: &str, anchor: i64, now: i64) -> Period {
    let allowance = match plan {
        "trial" => Some(2_000),
        "starter" => Some(20_000),
        "growth" => Some(200_000),
        "agency" => Some(2_000_000),
        _ => None,
    };
    if plan == "trial" {
        let end = anchor + 14 * DAY_MS;
        return if now < end {
            Period {
                start: anchor,
                end,
                allowance,
            }
        } else {
            Period {
                start: end,
                end: i64::MAX,
                allowance: Some(0),
            }
        };
    }
    let mut months = 0;
    loop {
        let start = add_months(anchor, months);
        let end = add_months(anchor, months + 1);
        if now < end || months > 1200 {
            return Period {
                start,
                end,
                allowance,
            };
        }
        months += 1;
    }
}

/// `at` moved `months` calendar months on, keeping the time of day; the 31st becomes the
/// last day of a shorter month.
fn add_months(at: i64, months: i64) -> i64 {
    let day = at.div_euclid(DAY_MS);
    let time = at.rem_euclid(DAY_MS);
    let date = crate::model::day_string(day);
    let (y, m, d): (i64, i64, i64) = (
        date[..4].parse().unwrap_or(1970),
        date[5..7].parse().unwrap_or(1),
        date[8..].parse().unwrap_or(1),
    );
    let total = y * 12 + (m - 1) + months;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let mut nd = d;
    loop {
        if let Some(day) = crate::model::parse_day(&format!("{ny:04}-{nm:02}-{nd:02}")) {
            return day * DAY_MS + time;
        }
        nd -= 1;
    }
}

/// Reserves `units` of the period's allowance, or refuses (false) without reserving.
pub async fn reserve(
    conn: &mut AnyConnection,
    org_id: i64,
    period: Period,
    units: i64,
) -> Result<bool, sqlx::Error> {
    if units == 0 {
        return Ok(true);
    }
    let reserved = sqlx::query(
        "INSERT INTO period_usage (org_id, period_start, units) SELECT $1, $2, $3 WHERE $4 < 0 OR $3 <= $4 \
         ON CONFLICT (org_id, period_start) DO UPDATE SET units = period_usage.units + $3 \
         WHERE $4 < 0 OR period_usage.units + $3 <= $4",
    )
    .bind(org_id)
    .bind(period.start)
    .bind(units)
    .bind(period.allowance.unwrap_or(-1))
    .execute(&mut *conn)
    .await?;
    Ok(reserved.rows_affected() == 1)
}

/// Gives back what a failed call reserved: failed calls debit nothing.
pub async fn release(
    conn: &mut AnyConnection,
    org_id: i64,
    period: Period,
    units: i64,
) -> Result<(), sqlx::Error> {
    if units > 0 {
        sqlx::query(
            "UPDATE period_usage SET units = units - $3 WHERE org_id = $1 AND period_start = $2",
        )
        .bind(org_id)
        .bind(period.start)
        .bind(units)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_day;

    fn at(date: &str) -> i64 {
        parse_day(date).unwrap() * DAY_MS
    }

    #[test]
    fn trial_periods_last_fourteen_days_then_allow_nothing() {
        let start = at("2026-11-01");
        assert_eq!(
            period("trial", start, at("2026-11-14")),
            Period {
                start,
                end: at("2026-11-15"),
                allowance: Some(2_000)
            }
        );
        assert_eq!(period("trial", start, at("2026-11-15")).allowance, Some(0));
    }

    #[test]
    fn monthly_periods_follow_the_subscription_day() {
        let p = period("starter", at("2026-01-31"), at("2026-03-05"));
        assert_eq!((p.start, p.end), (at("2026-02-28"), at("2026-03-31")));
        assert_eq!(p.allowance, Some(20_000));
        let p = period("growth", at("2026-01-15"), at("2026-01-15"));
        assert_eq!((p.start, p.end), (at("2026-01-15"), at("2026-02-15")));
        assert_eq!(
            period("enterprise", at("2026-01-15"), at("2026-06-01")).allowance,
            None
        );
    }
}
