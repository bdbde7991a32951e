//! Sign-in throttling: failures are counted per account (the email typed, whether or not it
//! exists) and per client IP over a sliding window, in the database so every instance agrees.

use crate::storage::Db;

use super::{ServiceError, ServiceResult};

pub const WINDOW_MS: i64 = 15 * 60 * 1000;
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_PER_IP: i64 = 30;

pub fn account_subject(email: &str) -> String {
    format!("account:{email}")
}

pub fn ip_subject(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Refuses with a message naming the wait when either subject is over its limit.
pub async fn check(db: &Db, subjects: &[(String, i64)], now: i64) -> ServiceResult<()> {
    for (subject, limit) in subjects {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM sign_in_failures WHERE subject = $1 AND created_at > $2",
        )
        .bind(subject)
        .bind(now - WINDOW_MS)
        .fetch_one(&db.pool)
        .await?;
        if count >= *limit {
            let wait_ms = oldest.unwrap_or(now) + WINDOW_MS - now;
            let minutes = (wait_ms + 59_999) / 60_000;
            return Err(ServiceError::Throttled(format!(
                "Too many failed sign-in attempts. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            )));
        }
    }
    Ok(())
}

pub async fn record_failure(db: &Db, subjects: &[(String, i64)], now: i64) -> ServiceResult<()> {
    for (subject, _) in subjects {
        sqlx::query("INSERT INTO sign_in_failures (subject, created_at) VALUES ($1, $2)")
            .bind(subject)
            .bind(now)
            .execute(&db.pool)
            .await?;
    }
    // Old rows are of no further use; keep the table small.
    sqlx::query("DELETE FROM sign_in_failures WHERE created_at <= $1")
        .bind(now - WINDOW_MS)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn clear(db: &Db, subject: &str) -> ServiceResult<()> {
    sqlx::query("DELETE FROM sign_in_failures WHERE subject = $1")
        .bind(subject)
        .execute(&db.pool)
        .await?;
    Ok(())
}
