//! The append-only audit log of what was done in an organization, by whom and from where.

use super::ServiceResult;

pub struct AuditEntry<'a> {
    pub org_id: i64,
    pub actor_user_id: Option<i64>,
    pub action: &'a str,
    pub subject: &'a str,
    pub ip: Option<&'a str>,
    /// The token an entry is about, for the audit log's filter.
    pub token_id: Option<i64>,
}

pub async fn record<'e, E>(executor: E, entry: AuditEntry<'_>, now: i64) -> ServiceResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_events (org_id, actor_user_id, action, subject, ip, token_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.org_id)
    .bind(entry.actor_user_id)
    .bind(entry.action)
    .bind(entry.subject)
    .bind(entry.ip)
    .bind(entry.token_id)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}
