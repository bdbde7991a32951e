//! Workspaces: an organization's list (with each one's write-back state), creation and
//! renaming; which workspaces a token reaches, and whose a workspace is.

use crate::model::AuditAction;
use crate::model::{Binding, VerifiedToken, WorkspaceView, WorkspacesPage, WriteBackView};
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

/// A workspace a token reaches, with its organization.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ReachableWorkspace {
    pub id: i64,
    pub name: String,
    pub write_back_enabled: i64,
    pub org_id: i64,
    pub org_name: String,
}

/// The workspaces `token` reaches now: a personal token those of the organizations its user
/// belongs to today, an organization token its organization's, a workspace token its own.
pub async fn reachable(db: &Db, token: &VerifiedToken) -> ServiceResult<Vec<ReachableWorkspace>> {
    const COLUMNS: &str = "SELECT w.id, w.name, w.write_back_enabled, o.id AS org_id, \
                           o.name AS org_name FROM workspaces w JOIN organizations o ON o.id = w.org_id";
    let rows = match token.binding {
        Binding::User => {
            sqlx::query_as(&format!(
                "{COLUMNS} JOIN memberships m ON m.org_id = o.id WHERE m.user_id = $1 \
                 ORDER BY o.name, w.name"
            ))
            .bind(token.user_id.unwrap_or_default())
            .fetch_all(&db.pool)
            .await?
        }
        Binding::Organization | Binding::Workspace | Binding::Profile => {
            sqlx::query_as(&format!(
                "{COLUMNS} WHERE o.id = $1 AND ($2 = 0 OR w.id = $2) ORDER BY w.name"
            ))
            .bind(token.org_id)
            .bind(token.workspace_id.unwrap_or_default())
            .fetch_all(&db.pool)
            .await?
        }
    };
    Ok(rows)
}

/// The organization `workspace_id` belongs to, if it exists.
pub async fn org_of(db: &Db, workspace_id: i64) -> ServiceResult<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT org_id FROM workspaces WHERE id = $1")
        .bind(workspace_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|(org_id,)| org_id))
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
    let mut tx = db.begin_write().await?;
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
        AuditEntry::by(actor, AuditAction::WorkspaceCreated, &name, ip),
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
    let mut tx = db.begin_write().await?;
    // Write first: on SQLite a transaction that reads and then writes fails at once ("database
    // is locked") when another connection wrote or checkpointed meanwhile; a first write waits.
    super::organizations::lock_org(&mut tx, actor.org_id).await?;
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
        AuditEntry::by(actor, AuditAction::WorkspaceRenamed, &subject, ip),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
