//! The append-only audit log of what was done in an organization, by whom and from where.

use crate::model::{AuditPage, AuditRow};
use crate::storage::Db;

use super::organizations::{require_admin, Actor};
use super::ServiceResult;

/// Events a page of the audit log shows.
pub const PAGE_SIZE: i64 = 100;

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

/// A token refused a scope: recorded in `org_id` (the organization the call acted on) at most
/// once per token, tool, scope and minute; further refusals in that minute count on that row,
/// so a client retrying in a loop cannot flood the log.
pub async fn record_scope_denial(
    db: &crate::storage::Db,
    org_id: i64,
    token_id: i64,
    tool: &str,
    scope: &str,
    limited_by: Option<crate::model::Role>,
    now: i64,
) -> ServiceResult<()> {
    let subject = match limited_by {
        None => format!("{tool} needs {scope}"),
        Some(role) => format!(
            "{tool} needs {scope}: the token holds it, but its user is a {} here",
            role.as_str()
        ),
    };
    let repeat_key = format!("scope_denied:{token_id}:{tool}:{scope}:{}", now / 60_000);
    sqlx::query(
        "INSERT INTO audit_events (org_id, actor_user_id, action, subject, ip, token_id, created_at, repeat_key) \
         VALUES ($1, NULL, 'token.scope_denied', $2, NULL, $3, $4, $5) \
         ON CONFLICT (repeat_key) DO UPDATE SET repeats = audit_events.repeats + 1",
    )
    .bind(org_id)
    .bind(subject)
    .bind(token_id)
    .bind(now)
    .bind(repeat_key)
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StoredEvent {
    id: i64,
    created_at: i64,
    action: String,
    subject: String,
    email: Option<String>,
    ip: Option<String>,
    token_id: Option<i64>,
    repeats: i64,
}

/// Admins read the organization's audit log, newest first, a page at a time: the events
/// older than `before` (an event id), optionally of one token.
pub async fn page(
    db: &Db,
    actor: &Actor,
    token_id: Option<i64>,
    before: Option<i64>,
) -> ServiceResult<AuditPage> {
    require_admin(actor)?;
    let mut events: Vec<StoredEvent> = sqlx::query_as(
        "SELECT a.id, a.created_at, a.action, a.subject, u.email, a.ip, a.token_id, a.repeats \
         FROM audit_events a LEFT JOIN users u ON u.id = a.actor_user_id \
         WHERE a.org_id = $1 AND ($2 = 0 OR a.token_id = $3) AND a.id < $4 ORDER BY a.id DESC LIMIT $5",
    )
    .bind(actor.org_id)
    .bind(i64::from(token_id.is_some()))
    .bind(token_id.unwrap_or_default())
    .bind(before.unwrap_or(i64::MAX))
    .bind(PAGE_SIZE + 1)
    .fetch_all(&db.pool)
    .await?;
    let more = events.len() as i64 > PAGE_SIZE;
    events.truncate(PAGE_SIZE as usize);
    let older = more.then(|| events.last().map(|e| e.id)).flatten();
    let rows = events
        .into_iter()
        .map(|e| AuditRow {
            id: e.id,
            at: e.created_at,
            action: e.action,
            subject: e.subject,
            actor: e.email,
            ip: e.ip,
            token_id: e.token_id,
            repeats: e.repeats,
        })
        .collect();
    Ok(AuditPage { rows, older })
}
