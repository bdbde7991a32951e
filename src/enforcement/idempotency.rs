//! Step 7: a repeated call of a side-effecting tool with the same idempotency key (within 24
//! hours) returns the first result and charges nothing; the same key with other arguments is a
//! conflict. Concurrent duplicates wait for the one execution that claimed the key.

use std::time::Duration;

use serde_json::Value;

use super::ToolError;
use crate::secrets::sha256_hex;
use crate::storage::Db;

/// How long a key replays its first answer (24 hours).
pub const KEY_LIFETIME_MS: i64 = 24 * 3600 * 1000;
const MAX_KEY_CHARS: usize = 200;
/// How long a duplicate waits for the first execution before giving up.
const WAIT: Duration = Duration::from_secs(30);

pub enum Claim {
    /// This call owns the key: run the tool, then `complete` or `abandon`.
    Owner,
    /// An earlier call with the same key and arguments finished with this result.
    Replay(Value),
}

pub fn check_key(key: &str) -> Result<(), ToolError> {
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
        return Err(ToolError::InvalidParameter(format!(
            "idempotency_key must have 1 to {MAX_KEY_CHARS} printable characters"
        )));
    }
    Ok(())
}

/// The fingerprint of a request: the tool and its arguments (serde_json keeps object keys sorted).
pub fn request_hash(tool: &str, args: &Value) -> String {
    sha256_hex(&format!("{tool}\n{args}"))
}

pub async fn claim(
    db: &Db,
    token_id: i64,
    key: &str,
    tool: &str,
    hash: &str,
    now: i64,
) -> Result<Claim, ToolError> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        // Keys older than the window are forgotten.
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE token_id = $1 AND key = $2 AND created_at <= $3",
        )
        .bind(token_id)
        .bind(key)
        .bind(now - KEY_LIFETIME_MS)
        .execute(&db.pool)
        .await?;
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (token_id, key, tool, request_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (token_id, key) DO NOTHING",
        )
        .bind(token_id)
        .bind(key)
        .bind(tool)
        .bind(hash)
        .bind(now)
        .execute(&db.pool)
        .await?;
        if claimed.rows_affected() == 1 {
            return Ok(Claim::Owner);
        }
        let row: Option<(String, String, Option<String>)> =
            sqlx::query_as("SELECT tool, request_hash, response FROM idempotency_keys WHERE token_id = $1 AND key = $2")
                .bind(token_id)
                .bind(key)
                .fetch_optional(&db.pool)
                .await?;
        match row {
            // The first call failed and let go of the key meanwhile: try to claim it again.
            None => continue,
            Some((first_tool, first_hash, _)) if first_tool != tool || first_hash != hash => {
                return Err(ToolError::IdempotencyConflict);
            }
            Some((_, _, Some(response))) => {
                return serde_json::from_str(&response)
                    .map(Claim::Replay)
                    .map_err(|_| ToolError::Internal);
            }
            Some((_, _, None)) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(ToolError::Internal);
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }
}

/// Stores the result the key will replay.
pub async fn complete(db: &Db, token_id: i64, key: &str, result: &Value) -> Result<(), ToolError> {
    sqlx::query("UPDATE idempotency_keys SET response = $1 WHERE token_id = $2 AND key = $3")
        .bind(result.to_string())
        .bind(token_id)
        .bind(key)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Lets go of the key after a refusal or failure, so that a retry runs afresh.
pub async fn abandon(db: &Db, token_id: i64, key: &str) -> Result<(), ToolError> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE token_id = $1 AND key = $2 AND response IS NULL",
    )
    .bind(token_id)
    .bind(key)
    .execute(&db.pool)
    .await?;
    Ok(())
}
