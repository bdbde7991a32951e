//! Throttles of costly or abusable actions: sign-in failures per account (the email typed,
//! whether or not it exists) and per client IP, sign-ups per IP, organizations created per
//! user, OAuth clients registered and authorization requests per IP, client documents fetched
//! per URL. Attempts are counted over a sliding window in the database, so every instance agrees.
//!
//! An attempt is recorded *before* the work it guards and counted with it: of any number of
//! parallel attempts at most `max` get through (a check made before recording let a burst of
//! parallel guesses all pass).

use crate::storage::Db;

use super::{ServiceError, ServiceResult};

const MINUTE_MS: i64 = 60_000;
pub const SIGN_IN_WINDOW_MS: i64 = 15 * MINUTE_MS;
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_PER_IP: i64 = 30;
pub const SIGN_UP_WINDOW_MS: i64 = 60 * MINUTE_MS;
pub const ORG_CREATION_WINDOW_MS: i64 = 60 * MINUTE_MS;
pub const MAX_ORG_CREATIONS_PER_USER: i64 = 5;
pub const OAUTH_WINDOW_MS: i64 = 60 * MINUTE_MS;
pub const MAX_CLIENT_REGISTRATIONS_PER_IP: i64 = 30;
pub const MAX_CLIENT_DOCUMENT_FETCHES: i64 = 60;
pub const MAX_AUTHORIZATIONS_PER_IP: i64 = 120;
/// Rows older than the longest window are of no further use.
const LONGEST_WINDOW_MS: i64 = 60 * MINUTE_MS;

/// One limit: at most `max` attempts of `subject` within `window_ms`.
pub struct Limit {
    /// Which limit, for metrics: never the subject (an email, an address).
    kind: &'static str,
    subject: String,
    max: i64,
    window_ms: i64,
    /// The refusal's first sentence, e.g. "Too many failed sign-in attempts."
    refusal: &'static str,
}

const SIGN_IN_REFUSAL: &str = "Too many failed sign-in attempts.";

pub fn sign_in_by_account(email: &str) -> Limit {
    Limit {
        kind: "sign_in_account",
        subject: format!("account:{email}"),
        max: MAX_FAILURES_PER_ACCOUNT,
        window_ms: SIGN_IN_WINDOW_MS,
        refusal: SIGN_IN_REFUSAL,
    }
}

pub fn sign_in_by_ip(ip: &str) -> Limit {
    Limit {
        kind: "sign_in_ip",
        subject: format!("ip:{ip}"),
        max: MAX_FAILURES_PER_IP,
        window_ms: SIGN_IN_WINDOW_MS,
        refusal: SIGN_IN_REFUSAL,
    }
}

/// `max` is the operator's (`TOLLGATE_SIGN_UPS_PER_IP`, an hour).
pub fn sign_up_by_ip(ip: &str, max: i64) -> Limit {
    Limit {
        kind: "sign_up_ip",
        subject: format!("sign-up:{ip}"),
        max,
        window_ms: SIGN_UP_WINDOW_MS,
        refusal: "Too many accounts were created from this network recently.",
    }
}

pub fn org_creation_by_user(user_id: i64) -> Limit {
    Limit {
        kind: "org_creation",
        subject: format!("new-org:{user_id}"),
        max: MAX_ORG_CREATIONS_PER_USER,
        window_ms: ORG_CREATION_WINDOW_MS,
        refusal: "You have created several organizations recently.",
    }
}

pub fn client_registration_by_ip(ip: &str) -> Limit {
    Limit {
        kind: "client_registration_ip",
        subject: format!("oauth-register:{ip}"),
        max: MAX_CLIENT_REGISTRATIONS_PER_IP,
        window_ms: OAUTH_WINDOW_MS,
        refusal: "Too many OAuth clients were registered from this network recently.",
    }
}

/// Fetches of one OAuth client metadata document (by its URL: a stream of made-up URLs on a
/// popular client's host cannot use up that client's fetches).
pub fn client_document_fetch(url: &str) -> Limit {
    Limit {
        kind: "client_document",
        subject: format!("oauth-document:{url}"),
        max: MAX_CLIENT_DOCUMENT_FETCHES,
        window_ms: OAUTH_WINDOW_MS,
        refusal: "This client's description was fetched too often recently.",
    }
}

/// OAuth authorization requests from one client IP: each is kept until decided or ended.
pub fn authorization_by_ip(ip: &str) -> Limit {
    Limit {
        kind: "authorization_ip",
        subject: format!("oauth-authorize:{ip}"),
        max: MAX_AUTHORIZATIONS_PER_IP,
        window_ms: OAUTH_WINDOW_MS,
        refusal: "Too many authorization requests came from this network recently.",
    }
}

/// Attempts recorded by [`reserve`]: they count until their window ends, unless released.
#[must_use = "a reservation counts as an attempt until released"]
pub struct Reservation {
    ids: Vec<i64>,
}

/// Records one attempt against each of `limits`, then counts each window including it.
/// Refused (and nothing kept) when any count is over its limit; the message names the wait.
pub async fn reserve(db: &Db, limits: &[Limit], now: i64) -> ServiceResult<Reservation> {
    let mut reservation = Reservation { ids: Vec::new() };
    for limit in limits {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO throttle_attempts (subject, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(&limit.subject)
        .bind(now)
        .fetch_one(&db.pool)
        .await?;
        reservation.ids.push(id);
    }
    for limit in limits {
        let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM throttle_attempts WHERE subject = $1 AND created_at > $2",
        )
        .bind(&limit.subject)
        .bind(now - limit.window_ms)
        .fetch_one(&db.pool)
        .await?;
        if count > limit.max {
            metrics::counter!(crate::metrics::THROTTLED, "limit" => limit.kind).increment(1);
            release(db, reservation).await?;
            let wait_ms = oldest.unwrap_or(now) + limit.window_ms - now;
            let minutes = (wait_ms + MINUTE_MS - 1) / MINUTE_MS;
            return Err(ServiceError::Throttled(format!(
                "{} Try again in {minutes} minute{}.",
                limit.refusal,
                if minutes == 1 { "" } else { "s" }
            )));
        }
    }
    // Old rows are of no further use; keep the table small.
    sqlx::query("DELETE FROM throttle_attempts WHERE created_at <= $1")
        .bind(now - LONGEST_WINDOW_MS)
        .execute(&db.pool)
        .await?;
    Ok(reservation)
}

/// Takes the attempts back: what they guarded turned out fine (a good password).
pub async fn release(db: &Db, reservation: Reservation) -> ServiceResult<()> {
    for id in reservation.ids {
        sqlx::query("DELETE FROM throttle_attempts WHERE id = $1")
            .bind(id)
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// Forgets every attempt of `limit`'s subject (an account signed in: its failures are past).
pub async fn clear(db: &Db, limit: &Limit) -> ServiceResult<()> {
    sqlx::query("DELETE FROM throttle_attempts WHERE subject = $1")
        .bind(&limit.subject)
        .execute(&db.pool)
        .await?;
    Ok(())
}
