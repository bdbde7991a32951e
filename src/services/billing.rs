//! Plans and credits, changed by owners (no payment provider).

use crate::model::AuditAction;
use crate::model::{Plan, Role};
use crate::storage::Db;

use super::audit::{self, AuditEntry};
use super::organizations::Actor;
use super::{ServiceError, ServiceResult};

use crate::model::MAX_CREDIT_GRANT;

fn require_owner(actor: &Actor) -> ServiceResult<()> {
    if actor.role == Role::Owner {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "Only owners can change the plan or grant credits.".into(),
        ))
    }
}

/// Switches the plan from now on: the period keeps its dates and the units already used in it
/// count against the new allowance (switching plans back and forth resets nothing).
pub async fn change_plan(
    db: &Db,
    actor: &Actor,
    plan: &str,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<()> {
    require_owner(actor)?;
    let plan = Plan::parse(plan)
        .filter(|p| *p != Plan::Trial)
        .ok_or_else(|| {
            ServiceError::Invalid("Choose Starter, Growth, Agency or Enterprise.".into())
        })?
        .as_str();
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE organizations SET plan = $1 WHERE id = $2")
        .bind(plan)
        .bind(actor.org_id)
        .execute(&mut *tx)
        .await?;
    let entry = AuditEntry::by(actor, AuditAction::BillingPlanChanged, plan, ip);
    audit::record(&mut *tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds credits; the ledger row and the balance change in one transaction.
pub async fn grant_credits(
    db: &Db,
    actor: &Actor,
    amount: i64,
    note: &str,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<i64> {
    require_owner(actor)?;
    if !(1..=MAX_CREDIT_GRANT).contains(&amount) {
        return Err(ServiceError::Invalid(format!(
            "Grant between 1 and {MAX_CREDIT_GRANT} credits."
        )));
    }
    let note = match note.trim() {
        "" => "Granted by an owner".to_string(),
        n => n.chars().take(120).collect(),
    };
    let mut tx = db.begin_write().await?;
    let (balance,): (i64,) =
        sqlx::query_as("UPDATE organizations SET credit_balance = credit_balance + $1 WHERE id = $2 RETURNING credit_balance")
            .bind(amount)
            .bind(actor.org_id)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO credit_ledger (org_id, kind, amount, balance_after, note, actor_user_id, created_at) \
         VALUES ($1, 'grant', $2, $3, $4, $5, $6)",
    )
    .bind(actor.org_id)
    .bind(amount)
    .bind(balance)
    .bind(&note)
    .bind(actor.user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let subject = format!("{amount} credits: {note}");
    let entry = AuditEntry::by(actor, AuditAction::BillingCreditsGranted, &subject, ip);
    audit::record(&mut *tx, entry, now).await?;
    tx.commit().await?;
    Ok(balance)
}
