//! The credit balance and its append-only ledger. A charge is one conditional update, so the
//! balance never goes negative, also under concurrency and across instances.

use super::ServiceResult;

/// Not enough credits: (required, available).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insufficient {
    pub required: i64,
    pub available: i64,
}

async fn ledger(
    conn: &mut sqlx::AnyConnection,
    org_id: i64,
    kind: &str,
    amount: i64,
    balance: i64,
    note: &str,
    now: i64,
) -> ServiceResult<()> {
    sqlx::query(
        "INSERT INTO credit_ledger (org_id, kind, amount, balance_after, note, actor_user_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, NULL, $6)",
    )
    .bind(org_id)
    .bind(kind)
    .bind(amount)
    .bind(balance)
    .bind(note)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes `amount` credits (with its ledger row) inside the caller's transaction, or reports
/// how many there are.
pub async fn charge(
    conn: &mut sqlx::AnyConnection,
    org_id: i64,
    amount: i64,
    note: &str,
    now: i64,
) -> ServiceResult<Result<i64, Insufficient>> {
    let charged: Option<(i64,)> = sqlx::query_as(
        "UPDATE organizations SET credit_balance = credit_balance - $1 WHERE id = $2 AND credit_balance >= $1 \
         RETURNING credit_balance",
    )
    .bind(amount)
    .bind(org_id)
    .fetch_optional(&mut *conn)
    .await?;
    match charged {
        Some((balance,)) => {
            ledger(conn, org_id, "charge", amount, balance, note, now).await?;
            Ok(Ok(balance))
        }
        None => Ok(Err(Insufficient {
            required: amount,
            available: balance(conn, org_id).await?,
        })),
    }
}

pub async fn refund(
    conn: &mut sqlx::AnyConnection,
    org_id: i64,
    amount: i64,
    note: &str,
    now: i64,
) -> ServiceResult<i64> {
    let (balance,): (i64,) =
        sqlx::query_as("UPDATE organizations SET credit_balance = credit_balance + $1 WHERE id = $2 RETURNING credit_balance")
            .bind(amount)
            .bind(org_id)
            .fetch_one(&mut *conn)
            .await?;
    ledger(conn, org_id, "refund", amount, balance, note, now).await?;
    Ok(balance)
}

pub async fn balance(conn: &mut sqlx::AnyConnection, org_id: i64) -> ServiceResult<i64> {
    let (balance,): (i64,) =
        sqlx::query_as("SELECT credit_balance FROM organizations WHERE id = $1")
            .bind(org_id)
            .fetch_one(conn)
            .await?;
    Ok(balance)
}
