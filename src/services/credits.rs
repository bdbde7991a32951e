//! The credit balance and its append-only ledger. A charge is one conditional update, so the
//! balance never goes negative, also under concurrency and across instances.

use crate::model::LedgerRow;
use crate::storage::Db;

use super::ServiceResult;

/// How many ledger entries the usage page and `check_credits` show.
const LATEST_ENTRIES: i64 = 20;

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

/// The organization's balance now (outside any transaction).
pub async fn current_balance(db: &Db, org_id: i64) -> ServiceResult<i64> {
    balance(&mut *db.pool.acquire().await?, org_id).await
}

/// The organization's latest ledger entries, newest first. A plain sqlx error, so that it
/// joins the usage page's other reads.
pub async fn latest_entries(db: &Db, org_id: i64) -> Result<Vec<LedgerRow>, sqlx::Error> {
    let rows: Vec<(i64, String, i64, i64, String)> = sqlx::query_as(
        "SELECT created_at, kind, amount, balance_after, note FROM credit_ledger \
         WHERE org_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(org_id)
    .bind(LATEST_ENTRIES)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, kind, amount, balance_after, note)| LedgerRow {
            at,
            kind,
            amount,
            balance_after,
            note,
        })
        .collect())
}
