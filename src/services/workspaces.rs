//! The workspaces of an organization: the list (with each one's write-back state), creation,
//! renaming.

use crate::model::AuditAction;
use crate::model::{WorkspaceView, WorkspacesPage, WriteBackView};
use crate::storage::Db;

use super::audit::{self, AuditEntry};
use super::organizations::{clean_name, require_admin, Actor};
use super::{is_unique_violation, ServiceError, ServiceResult};

pub async fn workspaces(db: &Db, actor: &Actor) -> ServiceResult<WorkspacesPage> {
    type Row = (i64, String, i64, i64, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, created_at, write_back_enabled, write_back_url, write_back_secret FROM workspaces \
         WHERE org_id = $1 ORDER BY created_at, id",
    )
    .bind(actor.org_id)
    .fetch_all(&db.pool)
    .await?;
    let mut workspaces = Vec::with_capacity(rows.len());
    for (id, name, created_at, enabled, url, secret) in rows {
        let (pending, delivered, failed, last_error) =
            super::write_back::outbox_status(db, id).await?;
        workspaces.push(WorkspaceView {
            id,
            name,
            created_at,
            write_back: WriteBackView {
                enabled: enabled != 0,
                // Only admins see where data goes; nobody sees the secret again.
                url: if actor.role.is_admin() { url } else { None },
                secret_set: secret.is_some(),
                pending,
                delivered,
                failed,
                last_error: if actor.role.is_admin() {
                    last_error
                } else {
                    None
                },
            },
        });
    }
    Ok(WorkspacesPage {
        can_manage: actor.role.is_admin(),
        workspaces,
    })
}

fn duplicate_workspace(e: sqlx::Error, name: &str) -> ServiceError {
    if is_unique_violation(&e) {
        ServiceError::Conflict(format!(
            "A workspace named “{name}” already exists in this organization."
        ))
    } else {
        e.into()
    }
}

pub async fn create_workspace(
    db: &Db,
    actor: &Actor,
    name: &str,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<i64> {
    require_admin(actor)?;
    let name = clean_name(name, "workspace", 60)?;
    let mut tx = db.pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO workspaces (org_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(actor.org_id)
    .bind(&name)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| duplicate_workspace(e, &name))?;
    audit::record(
        &mut *tx,
        AuditEntry {
            org_id: actor.org_id,
            actor_user_id: Some(actor.user_id),
            action: AuditAction::WorkspaceCreated,
            subject: &name,
            ip,
            token_id: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn rename_workspace(
    db: &Db,
    actor: &Actor,
    workspace_id: i64,
    name: &str,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<()> {
    require_admin(actor)?;
    let name = clean_name(name, "workspace", 60)?;
    let mut tx = db.pool.begin().await?;
    // The org_id condition keeps an id from another organization from matching at all.
    let old: Option<(String,)> =
        sqlx::query_as("SELECT name FROM workspaces WHERE id = $1 AND org_id = $2")
            .bind(workspace_id)
            .bind(actor.org_id)
            .fetch_optional(&mut *tx)
            .await?;
    let updated = sqlx::query("UPDATE workspaces SET name = $1 WHERE id = $2 AND org_id = $3")
        .bind(&name)
        .bind(workspace_id)
        .bind(actor.org_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| duplicate_workspace(e, &name))?;
    let Some((old,)) = old.filter(|_| updated.rows_affected() > 0) else {
        return Err(ServiceError::NotFound(
            "No such workspace in this organization.".into(),
        ));
    };
    let subject = format!("{old} → {name}");
    audit::record(
        &mut *tx,
        AuditEntry {
            org_id: actor.org_id,
            actor_user_id: Some(actor.user_id),
            action: AuditAction::WorkspaceRenamed,
            subject: &subject,
            ip,
            token_id: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
