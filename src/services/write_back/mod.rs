//! Write-back: conversions sent to a workspace's own endpoint through a durable outbox,
//! signed with HMAC-SHA256, retried with backoff, deduplicated on `event_id`. This file: the
//! workspace's settings, queueing events, the outbox's status and backlog; `delivery`: claiming,
//! signing, posting and retrying under leases whose tokens fence each outcome.

use serde_json::{json, Value};

use crate::model::AuditAction;
use crate::outbound::{AllowList, OutboundError};
use crate::storage::Db;

use super::audit::{self, AuditEntry};
use super::organizations::{require_admin, Actor};
use super::{ServiceError, ServiceResult};

mod delivery;

pub use delivery::{
    deliver_due, signature, Courier, DELIVERY_TIMEOUT, EVENT_ID_HEADER, MAX_ATTEMPTS,
    SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

/// What an admin saves as a workspace's write-back.
#[derive(Clone, Copy, Debug)]
pub struct Settings<'a> {
    pub enabled: bool,
    pub url: &'a str,
    /// Empty keeps the secret already set.
    pub secret: &'a str,
}

/// A well-formed http(s) URL whose host may be reached: an address it names or resolves to now
/// must be public or allowed (deliveries check again when they connect).
async fn check_url(url: &str, allow: &AllowList) -> ServiceResult<()> {
    let well_formed = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2000
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    let invalid = |why: &str| Err(ServiceError::Invalid(why.into()));
    if !well_formed {
        return invalid("Enter the endpoint as a full http:// or https:// URL.");
    }
    match allow.check(url).await {
        Ok(()) => Ok(()),
        Err(OutboundError::PrivateAddress) => invalid(
            "Write-back only goes to public addresses: this endpoint is a loopback, private or link-local address.",
        ),
        Err(_) => invalid("Enter the endpoint as a full http:// or https:// URL."),
    }
}

/// Admins switch write-back on or off and set the endpoint and signing secret.
pub async fn configure(
    db: &Db,
    actor: &Actor,
    workspace_id: i64,
    settings: Settings<'_>,
    allow: &AllowList,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<()> {
    require_admin(actor)?;
    let Settings {
        enabled,
        url,
        secret,
    } = settings;
    let url = url.trim();
    let current: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT name, write_back_secret FROM workspaces WHERE id = $1 AND org_id = $2",
    )
    .bind(workspace_id)
    .bind(actor.org_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some((workspace, current_secret)) = current else {
        return Err(ServiceError::NotFound(
            "No such workspace in this organization.".into(),
        ));
    };
    if !url.is_empty() {
        check_url(url, allow).await?;
    }
    if !secret.is_empty() && secret.chars().count() < 16 {
        return Err(ServiceError::Invalid(
            "Use a signing secret of at least 16 characters.".into(),
        ));
    }
    let secret = if secret.is_empty() {
        current_secret
    } else {
        Some(secret.to_string())
    };
    if enabled && (url.is_empty() || secret.is_none()) {
        return Err(ServiceError::Invalid(
            "Write-back needs an endpoint URL and a signing secret.".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE workspaces SET write_back_enabled = $1, write_back_url = $2, write_back_secret = $3 WHERE id = $4",
    )
    .bind(i64::from(enabled))
    .bind((!url.is_empty()).then_some(url))
    .bind(secret)
    .bind(workspace_id)
    .execute(&mut *tx)
    .await?;
    let subject = format!(
        "{workspace}: write-back {}",
        if enabled { "on" } else { "off" }
    );
    let entry = AuditEntry::by(actor, AuditAction::WorkspaceWriteBack, &subject, ip);
    audit::record(&mut *tx, entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Admins send a workspace's failed events again: pending from now, with a fresh run of
/// attempts. Returns how many.
pub async fn redeliver_failed(
    db: &Db,
    actor: &Actor,
    workspace_id: i64,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<u64> {
    require_admin(actor)?;
    let mut tx = db.begin_write().await?;
    // Write first: on SQLite a read followed by a write fails at once when another connection
    // (the delivery loop, the checkpointer) wrote in between; a first write waits its turn.
    crate::services::organizations::lock_org(&mut tx, actor.org_id).await?;
    let found: Option<(String,)> =
        sqlx::query_as("SELECT name FROM workspaces WHERE id = $1 AND org_id = $2")
            .bind(workspace_id)
            .bind(actor.org_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((workspace,)) = found else {
        return Err(ServiceError::NotFound(
            "No such workspace in this organization.".into(),
        ));
    };
    let redelivered = sqlx::query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, leased_until = 0, last_error = NULL \
         WHERE workspace_id = $2 AND status = 'failed'",
    )
    .bind(now)
    .bind(workspace_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let subject = format!("{workspace}: {redelivered} failed events sent again");
    let entry = AuditEntry::by(
        actor,
        AuditAction::WorkspaceWriteBackRedeliver,
        &subject,
        ip,
    );
    audit::record(&mut *tx, entry, now).await?;
    tx.commit().await?;
    Ok(redelivered)
}

pub async fn is_enabled(db: &Db, workspace_id: i64) -> ServiceResult<bool> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT write_back_enabled FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.is_some_and(|(on,)| on != 0))
}

/// Queues events for delivery; an `event_id` already queued for the workspace is skipped.
/// Returns (queued, duplicates).
pub async fn enqueue(
    db: &Db,
    workspace_id: i64,
    events: &[(String, Value)],
    now: i64,
) -> ServiceResult<(usize, usize)> {
    let mut queued = 0;
    let mut tx = db.begin_write().await?;
    for (event_id, event) in events {
        let payload = json!({ "workspace_id": workspace_id, "event_id": event_id, "event": event })
            .to_string();
        let inserted = sqlx::query(
            "INSERT INTO outbox (workspace_id, event_id, payload, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (workspace_id, event_id) DO NOTHING",
        )
        .bind(workspace_id)
        .bind(event_id)
        .bind(payload)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        queued += inserted.rows_affected() as usize;
    }
    tx.commit().await?;
    Ok((queued, events.len() - queued))
}

/// Outbox counts of a workspace: (pending, delivered, failed, last error).
pub async fn outbox_status(
    db: &Db,
    workspace_id: i64,
) -> ServiceResult<(i64, i64, i64, Option<String>)> {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM outbox WHERE workspace_id = $1 GROUP BY status",
    )
    .bind(workspace_id)
    .fetch_all(&db.pool)
    .await?;
    let count = |s: &str| {
        counts
            .iter()
            .find(|(status, _)| status == s)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let last_error: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT last_error FROM outbox WHERE workspace_id = $1 AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(workspace_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok((
        count("pending"),
        count("delivered"),
        count("failed"),
        last_error.and_then(|(e,)| e),
    ))
}

/// Events waiting for delivery, for the operator's metrics.
pub async fn backlog(db: &Db) -> ServiceResult<super::Backlog> {
    super::read_backlog(
        db,
        "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'",
    )
    .await
}
