//! Verification: the one check every enforced call makes, with the verified-token cache, and
//! the stored status reads the writer's batches make of every admission.

use std::collections::HashMap;

use crate::config::Environment;
use crate::model::{Binding, TokenStatus, VerifiedToken};
use crate::storage::Db;

use super::{parse, scopes_from_text, FormatError};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token: {0}")]
    Format(#[from] FormatError),
    #[error("this is a {token} token; this server accepts {server} tokens")]
    Environment {
        token: &'static str,
        server: &'static str,
    },
    #[error("unknown token")]
    Unknown,
    #[error("the token was revoked")]
    Revoked,
    #[error("the token was rotated and its grace period has ended")]
    Rotated,
    #[error("the token has expired")]
    Expired,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The one check every enforced call makes: format and checksum first (no database work for
/// a mistyped token), then the SHA-256 lookup and the token's status at `now`.
pub async fn verify(
    db: &Db,
    token: &str,
    server_env: Environment,
    now: i64,
) -> Result<VerifiedToken, VerifyError> {
    let token_env = parse(token)?;
    if token_env != server_env {
        return Err(VerifyError::Environment {
            token: token_env.as_str(),
            server: server_env.as_str(),
        });
    }
    let hash = crate::secrets::sha256(token);
    if let Some(cached) = db.token_cache.get(&hash, now) {
        // Revocation evicts; the expiry and the grace period are checked here.
        if let TokenStatus::Active | TokenStatus::InGrace { .. } =
            TokenStatus::of(None, cached.grace_until, cached.expires_at, now)
        {
            return Ok(cached.token);
        }
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        org_id: i64,
        binding: String,
        user_id: Option<i64>,
        workspace_id: Option<i64>,
        profile_id: Option<i64>,
        scopes: String,
        audience: Option<String>,
        expires_at: Option<i64>,
        stops_at: Option<i64>,
        revoked_at: Option<i64>,
        grace_until: Option<i64>,
    }
    let generation = db.token_cache.generation();
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT id, org_id, binding, user_id, workspace_id, profile_id, scopes, audience, expires_at, \
         {STOPS_AT} AS stops_at, revoked_at, grace_until FROM tokens WHERE token_hash = $1"
    ))
    .bind(crate::secrets::hex(&hash))
    .fetch_optional(&db.pool)
    .await?;
    let row = row.ok_or(VerifyError::Unknown)?;
    match TokenStatus::of(row.revoked_at, row.grace_until, row.stops_at, now) {
        TokenStatus::Active | TokenStatus::InGrace { .. } => {
            let verified = VerifiedToken {
                id: row.id,
                org_id: row.org_id,
                binding: Binding::stored(&row.binding, row.profile_id)
                    .ok_or(VerifyError::Unknown)?,
                user_id: row.user_id,
                workspace_id: row.workspace_id,
                profile_id: row.profile_id,
                scopes: scopes_from_text(&row.scopes),
                audience: row.audience.map(Into::into),
            };
            db.token_cache.insert(
                hash,
                verified.clone(),
                row.stops_at,
                row.grace_until,
                generation,
                now,
            );
            Ok(verified)
        }
        TokenStatus::Revoked { .. } => Err(VerifyError::Revoked),
        TokenStatus::Rotated { .. } => Err(VerifyError::Rotated),
        // An OAuth access token's hour ending is routine (the client refreshes); only the end of
        // what the token's creator chose goes in the audit log, once.
        TokenStatus::Expired { at } if Some(at) == row.expires_at => {
            sqlx::query(
                "INSERT INTO audit_events (org_id, actor_user_id, action, subject, ip, token_id, created_at) \
                 SELECT $1, NULL, 'token.expired', $2, NULL, $3, $4 WHERE NOT EXISTS \
                 (SELECT 1 FROM audit_events WHERE token_id = $3 AND action = 'token.expired')",
            )
            .bind(row.org_id)
            .bind(format!("expired at {}", crate::model::format_time(at)))
            .bind(row.id)
            .bind(now)
            .execute(&db.pool)
            .await?;
            Err(VerifyError::Expired)
        }
        TokenStatus::Expired { .. } => Err(VerifyError::Expired),
    }
}

/// A token row's end, in SQL: the earlier of its `expires_at` and its `access_expires_at`.
pub const STOPS_AT: &str = "CASE WHEN access_expires_at IS NOT NULL AND (expires_at IS NULL OR \
    access_expires_at < expires_at) THEN access_expires_at ELSE expires_at END";

/// What decides whether a token still works, as stored now: revocation, grace end, expiry (the
/// earlier of its own and, for an OAuth grant, its current access token's).
#[derive(Clone, Copy, Debug)]
pub struct StoredStatus {
    pub revoked_at: Option<i64>,
    pub grace_until: Option<i64>,
    pub expires_at: Option<i64>,
}

/// Why token `id` no longer works at `now` by `statuses` (from [`stored_statuses`]), or None
/// while it does.
pub fn stored_refusal(
    statuses: &HashMap<i64, StoredStatus>,
    id: i64,
    now: i64,
) -> Option<VerifyError> {
    let Some(s) = statuses.get(&id) else {
        return Some(VerifyError::Unknown);
    };
    match TokenStatus::of(s.revoked_at, s.grace_until, s.expires_at, now) {
        TokenStatus::Active | TokenStatus::InGrace { .. } => None,
        TokenStatus::Revoked { .. } => Some(VerifyError::Revoked),
        TokenStatus::Rotated { .. } => Some(VerifyError::Rotated),
        TokenStatus::Expired { .. } => Some(VerifyError::Expired),
    }
}

/// The stored status of each of `ids` (a deleted token is missing), in one query: the check
/// behind the verified-token cache (the writer's batch makes the same check of every admission
/// with its own query), so that a token revoked or rotated on any instance runs nothing anywhere
/// once that is answered.
pub async fn stored_statuses(
    conn: &mut sqlx::AnyConnection,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, StoredStatus>, sqlx::Error> {
    let select = format!("SELECT id, revoked_at, grace_until, {STOPS_AT} FROM tokens WHERE id IN");
    let rows: Vec<(i64, Option<i64>, Option<i64>, Option<i64>)> =
        crate::storage::fetch_by_ids(conn, &select, ids).await?;
    Ok(rows
        .into_iter()
        .map(|(id, revoked_at, grace_until, expires_at)| {
            let status = StoredStatus {
                revoked_at,
                grace_until,
                expires_at,
            };
            (id, status)
        })
        .collect())
}
