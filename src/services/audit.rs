//! The append-only audit log of what was done in an organization, by whom and from where.

use crate::model::{AuditAction, AuditFilter, AuditPage, AuditRow};
use crate::storage::Db;

use super::organizations::{require_admin, Actor};
use super::ServiceResult;

/// Events a page of the audit log shows.
pub const PAGE_SIZE: i64 = 100;
/// The most events one CSV export holds (the newest); a filter narrows it.
pub const EXPORT_LIMIT: i64 = 50_000;

pub struct AuditEntry<'a> {
    pub org_id: i64,
    pub actor_user_id: Option<i64>,
    pub action: AuditAction,
    pub subject: &'a str,
    pub ip: Option<&'a str>,
    /// The token an entry is about, for the audit log's filter.
    pub token_id: Option<i64>,
}

impl<'a> AuditEntry<'a> {
    /// `actor` did `action` to `subject`, in their organization, from `ip`.
    pub fn by(
        actor: &Actor,
        action: AuditAction,
        subject: &'a str,
        ip: Option<&'a str>,
    ) -> AuditEntry<'a> {
        AuditEntry {
            org_id: actor.org_id,
            actor_user_id: Some(actor.user_id),
            action,
            subject,
            ip,
            token_id: None,
        }
    }

    /// The entry belongs to `org_id`'s log rather than the actor's current organization's.
    pub fn in_org(self, org_id: i64) -> AuditEntry<'a> {
        AuditEntry { org_id, ..self }
    }

    /// The entry is about one token (the audit log filters by it).
    pub fn about_token(self, token_id: i64) -> AuditEntry<'a> {
        AuditEntry {
            token_id: Some(token_id),
            ..self
        }
    }
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
    .bind(entry.action.as_str())
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
         VALUES ($1, NULL, $2, $3, NULL, $4, $5, $6) \
         ON CONFLICT (repeat_key) DO UPDATE SET repeats = audit_events.repeats + 1",
    )
    .bind(org_id)
    .bind(AuditAction::TokenScopeDenied.as_str())
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
    token_label: Option<String>,
    token_hint: Option<String>,
    repeats: i64,
}

impl From<StoredEvent> for AuditRow {
    fn from(e: StoredEvent) -> AuditRow {
        let token = match (e.token_label, e.token_hint) {
            (Some(label), Some(hint)) => Some(format!("{label} ({hint})")),
            _ => None,
        };
        AuditRow {
            id: e.id,
            at: e.created_at,
            action: e.action,
            subject: e.subject,
            actor: e.email,
            ip: e.ip,
            token_id: e.token_id,
            token,
            repeats: e.repeats,
        }
    }
}

/// The organization's events matching `filter` older than `before` (an event id), newest
/// first, at most `limit`; the people and tokens they name read by name.
async fn events(
    db: &Db,
    actor: &Actor,
    filter: AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> ServiceResult<Vec<StoredEvent>> {
    require_admin(actor)?;
    Ok(sqlx::query_as(
        "SELECT a.id, a.created_at, a.action, a.subject, u.email, a.ip, a.token_id, \
         t.label AS token_label, t.hint AS token_hint, a.repeats \
         FROM audit_events a LEFT JOIN users u ON u.id = a.actor_user_id LEFT JOIN tokens t ON t.id = a.token_id \
         WHERE a.org_id = $1 AND ($2 = 0 OR a.token_id = $3) AND ($4 = '' OR a.action = $4) AND a.id < $5 \
         ORDER BY a.id DESC LIMIT $6",
    )
    .bind(actor.org_id)
    .bind(i64::from(filter.token_id.is_some()))
    .bind(filter.token_id.unwrap_or_default())
    .bind(filter.action.map_or("", |a| a.as_str()))
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

/// Admins read the organization's audit log, newest first, a page at a time: the events
/// matching `filter` older than `before` (an event id).
pub async fn page(
    db: &Db,
    actor: &Actor,
    filter: AuditFilter,
    before: Option<i64>,
) -> ServiceResult<AuditPage> {
    let mut events = events(db, actor, filter, before, PAGE_SIZE + 1).await?;
    let more = events.len() as i64 > PAGE_SIZE;
    events.truncate(PAGE_SIZE as usize);
    let older = more.then(|| events.last().map(|e| e.id)).flatten();
    let rows = events.into_iter().map(AuditRow::from).collect();
    Ok(AuditPage { rows, older })
}

/// The events matching `filter` as CSV (RFC 4180), newest first, at most [`EXPORT_LIMIT`].
pub async fn export_csv(db: &Db, actor: &Actor, filter: AuditFilter) -> ServiceResult<String> {
    let events = events(db, actor, filter, None, EXPORT_LIMIT).await?;
    let mut csv = String::from("time_utc,action,details,token,actor,ip,repeats\r\n");
    for row in events.into_iter().map(AuditRow::from) {
        let fields = [
            crate::model::iso_time(row.at),
            row.action,
            row.subject,
            row.token.unwrap_or_default(),
            row.actor.unwrap_or_default(),
            row.ip.unwrap_or_default(),
            row.repeats.to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        csv.push_str(&line.join(","));
        csv.push_str("\r\n");
    }
    Ok(csv)
}

/// One CSV field: quoted when it holds a comma, quote or line break. A field a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@` first) is prefixed with `'`.
fn csv_field(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("a, \"b\""), "\"a, \"\"b\"\"\"");
        assert_eq!(super::csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(super::csv_field("-1,2"), "\"'-1,2\"");
    }
}
