//! Organizations, their members and roles, workspaces and settings.
//!
//! Every function that changes something takes an `Actor`: the signed-in user with the role
//! they hold in the organization *now* (read from the database on each request).

use crate::model::{
    MemberView, MembersPage, OrgSettings, OrgSummary, Role, RotationGrace, WorkspaceView,
    WorkspacesPage, WriteBackView,
};
use crate::storage::Db;

use super::audit::{self, AuditEntry};
use super::throttle;
use super::{is_unique_violation, ServiceError, ServiceResult};

pub const TRIAL_CREDITS: i64 = 100;
pub const FIRST_WORKSPACE_NAME: &str = "Main workspace";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub org_id: i64,
    pub role: Role,
}

/// What an admin-only action says to a member.
const ADMINS_ONLY: &str = "Only admins and owners of this organization can do that.";

pub fn require_admin(actor: &Actor) -> ServiceResult<()> {
    if actor.role.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(ADMINS_ONLY.into()))
    }
}

/// Who may give `new_role` to a member who now holds `current` (None: a new invitee).
/// Admins manage admins and members; only owners make or unmake owners.
pub fn check_role_assignment(
    actor: &Actor,
    current: Option<Role>,
    new_role: Role,
) -> ServiceResult<()> {
    require_admin(actor)?;
    if (current == Some(Role::Owner) || new_role == Role::Owner) && actor.role != Role::Owner {
        return Err(ServiceError::Forbidden(
            "Only an owner can grant or change the owner role.".into(),
        ));
    }
    Ok(())
}

pub fn clean_name(name: &str, what: &str, max: usize) -> ServiceResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::Invalid(format!("Give the {what} a name.")));
    }
    if name.chars().count() > max {
        return Err(ServiceError::Invalid(format!(
            "Keep the {what} name to {max} characters or fewer."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ServiceError::Invalid(format!(
            "The {what} name cannot contain control characters."
        )));
    }
    Ok(name.to_string())
}

/// A new organization on the Trial plan with 100 credits and its first workspace; `owner`
/// becomes its owner. For a new account's first organization: see [`create_another`].
pub async fn create_organization(db: &Db, owner: i64, name: &str, now: i64) -> ServiceResult<i64> {
    let name = clean_name(name, "organization", 80)?;
    create(db, owner, &name, None, now).await
}

/// An organization a signed-in user adds: each brings a demo dataset, so creations are
/// throttled per user and a user owns at most `max_owned` organizations.
pub async fn create_another(
    db: &Db,
    owner: i64,
    name: &str,
    max_owned: i64,
    now: i64,
) -> ServiceResult<i64> {
    let name = clean_name(name, "organization", 80)?;
    let _attempt = throttle::reserve(db, &[throttle::org_creation_by_user(owner)], now).await?;
    create(db, owner, &name, Some(max_owned), now).await
}

/// Creates the organization named `name` (already cleaned).
async fn create(
    db: &Db,
    owner: i64,
    name: &str,
    max_owned: Option<i64>,
    now: i64,
) -> ServiceResult<i64> {
    let mut tx = db.pool.begin().await?;
    if let Some(max) = max_owned {
        // The user's row is the lock: concurrent creations count one after the other.
        sqlx::query("UPDATE users SET email = email WHERE id = $1")
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        let (owned,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM memberships WHERE user_id = $1 AND role = 'owner'",
        )
        .bind(owner)
        .fetch_one(&mut *tx)
        .await?;
        if owned >= max {
            return Err(ServiceError::Conflict(format!(
                "You already own {owned} organizations, the most one person may own here. \
                 Use one of them, or ask the operator to raise the limit."
            )));
        }
    }
    let (org_id,): (i64,) = sqlx::query_as(
        "INSERT INTO organizations (name, plan, period_anchor, credit_balance, created_at) \
         VALUES ($1, 'trial', $2, $3, $2) RETURNING id",
    )
    .bind(name)
    .bind(now)
    .bind(TRIAL_CREDITS)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
    )
    .bind(org_id)
    .bind(owner)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let (workspace_id,): (i64,) = sqlx::query_as(
        "INSERT INTO workspaces (org_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(org_id)
    .bind(FIRST_WORKSPACE_NAME)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    super::demo::load(&mut tx, workspace_id, crate::model::day_of(now)).await?;
    sqlx::query(
        "INSERT INTO credit_ledger (org_id, kind, amount, balance_after, note, actor_user_id, created_at) \
         VALUES ($1, 'grant', $2, $2, 'Trial credits', NULL, $3)",
    )
    .bind(org_id)
    .bind(TRIAL_CREDITS)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        AuditEntry {
            org_id,
            actor_user_id: Some(owner),
            action: "organization.created",
            subject: name,
            ip: None,
            token_id: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(org_id)
}

pub async fn orgs_of_user(db: &Db, user_id: i64) -> ServiceResult<Vec<OrgSummary>> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organizations o ON o.id = m.org_id \
         WHERE m.user_id = $1 ORDER BY o.name, o.id",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, name, role)| {
            Some(OrgSummary {
                id,
                name,
                role: Role::parse(&role)?,
            })
        })
        .collect())
}

pub async fn role_in(db: &Db, org_id: i64, user_id: i64) -> ServiceResult<Option<Role>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.and_then(|(role,)| Role::parse(&role)))
}

/// The user acting in `org_id`, refused when they are not (or no longer) a member.
pub async fn actor(db: &Db, user_id: i64, org_id: i64) -> ServiceResult<Actor> {
    match role_in(db, org_id, user_id).await? {
        Some(role) => Ok(Actor {
            user_id,
            org_id,
            role,
        }),
        None => Err(ServiceError::Forbidden(
            "You are not a member of that organization.".into(),
        )),
    }
}

pub async fn members_page(
    db: &Db,
    actor: &Actor,
    public_url: &str,
    now: i64,
) -> ServiceResult<MembersPage> {
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT u.id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 ORDER BY m.created_at, u.id",
    )
    .bind(actor.org_id)
    .fetch_all(&db.pool)
    .await?;
    let members = rows
        .into_iter()
        .filter_map(|(user_id, email, role, joined_at)| {
            Some(MemberView {
                user_id,
                email,
                role: Role::parse(&role)?,
                joined_at,
                is_me: user_id == actor.user_id,
            })
        })
        .collect();
    let invites = if actor.role.is_admin() {
        super::invites::pending(db, actor.org_id, now).await?
    } else {
        Vec::new()
    };
    Ok(MembersPage {
        my_role: actor.role,
        public_url: public_url.to_string(),
        members,
        invites,
    })
}

/// Serializes changes to one organization (memberships, token caps) on both engines: PostgreSQL locks the
/// row, SQLite takes its write lock on this first write.
pub(crate) async fn lock_org(conn: &mut sqlx::AnyConnection, org_id: i64) -> ServiceResult<()> {
    sqlx::query("UPDATE organizations SET name = name WHERE id = $1")
        .bind(org_id)
        .execute(conn)
        .await?;
    Ok(())
}

async fn owner_count(conn: &mut sqlx::AnyConnection, org_id: i64) -> ServiceResult<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
            .bind(org_id)
            .fetch_one(conn)
            .await?;
    Ok(n)
}

async fn member_role(
    conn: &mut sqlx::AnyConnection,
    org_id: i64,
    user_id: i64,
) -> ServiceResult<Role> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT m.role, u.email FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND m.user_id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.and_then(|(role, _)| Role::parse(&role)).ok_or_else(|| {
        ServiceError::NotFound("That person is not a member of this organization.".into())
    })
}

const LAST_OWNER: &str =
    "An organization needs at least one owner: make someone else an owner first.";

pub async fn change_role(
    db: &Db,
    actor: &Actor,
    target_user: i64,
    new_role: Role,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<()> {
    require_admin(actor)?;
    let mut tx = db.pool.begin().await?;
    lock_org(&mut tx, actor.org_id).await?;
    let current = member_role(&mut tx, actor.org_id, target_user).await?;
    check_role_assignment(actor, Some(current), new_role)?;
    if current == new_role {
        return Ok(());
    }
    if current == Role::Owner && owner_count(&mut tx, actor.org_id).await? <= 1 {
        return Err(ServiceError::Conflict(LAST_OWNER.into()));
    }
    sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
        .bind(new_role.as_str())
        .bind(actor.org_id)
        .bind(target_user)
        .execute(&mut *tx)
        .await?;
    let subject = format!(
        "user {target_user}: {} → {}",
        current.as_str(),
        new_role.as_str()
    );
    audit::record(
        &mut *tx,
        AuditEntry {
            org_id: actor.org_id,
            actor_user_id: Some(actor.user_id),
            action: "member.role_changed",
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

/// Admins remove others; anyone may leave. The last owner can do neither.
pub async fn remove_member(
    db: &Db,
    actor: &Actor,
    target_user: i64,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<()> {
    if target_user != actor.user_id {
        require_admin(actor)?;
    }
    let mut tx = db.pool.begin().await?;
    lock_org(&mut tx, actor.org_id).await?;
    let current = member_role(&mut tx, actor.org_id, target_user).await?;
    if target_user != actor.user_id && current == Role::Owner && actor.role != Role::Owner {
        return Err(ServiceError::Forbidden(
            "Only an owner can remove an owner.".into(),
        ));
    }
    if current == Role::Owner && owner_count(&mut tx, actor.org_id).await? <= 1 {
        return Err(ServiceError::Conflict(LAST_OWNER.into()));
    }
    sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(actor.org_id)
        .bind(target_user)
        .execute(&mut *tx)
        .await?;
    let subject = format!("user {target_user} ({})", current.as_str());
    audit::record(
        &mut *tx,
        AuditEntry {
            org_id: actor.org_id,
            actor_user_id: Some(actor.user_id),
            action: "member.removed",
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
            action: "workspace.created",
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
    let updated = sqlx::query("UPDATE workspaces SET name = $1 WHERE id = $2 AND org_id = $3")
        .bind(&name)
        .bind(workspace_id)
        .bind(actor.org_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| duplicate_workspace(e, &name))?;
    if updated.rows_affected() == 0 {
        return Err(ServiceError::NotFound(
            "No such workspace in this organization.".into(),
        ));
    }
    let subject = format!("workspace {workspace_id} → {name}");
    audit::record(
        &mut *tx,
        AuditEntry {
            org_id: actor.org_id,
            actor_user_id: Some(actor.user_id),
            action: "workspace.renamed",
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

pub async fn settings(db: &Db, actor: &Actor) -> ServiceResult<OrgSettings> {
    let (name, plan, credit_balance, grace, created_at): (String, String, i64, String, i64) = sqlx::query_as(
        "SELECT name, plan, credit_balance, default_rotation_grace, created_at FROM organizations WHERE id = $1",
    )
    .bind(actor.org_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(OrgSettings {
        name,
        plan: crate::model::Plan::stored(&plan),
        credit_balance,
        default_rotation_grace: RotationGrace::parse(&grace)
            .unwrap_or(RotationGrace::FifteenMinutes),
        can_edit: actor.role.is_admin(),
        created_at,
    })
}

pub async fn update_settings(
    db: &Db,
    actor: &Actor,
    name: &str,
    grace: RotationGrace,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<()> {
    require_admin(actor)?;
    let name = clean_name(name, "organization", 80)?;
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE organizations SET name = $1, default_rotation_grace = $2 WHERE id = $3")
        .bind(&name)
        .bind(grace.as_str())
        .bind(actor.org_id)
        .execute(&mut *tx)
        .await?;
    let subject = format!("name “{name}”, rotation grace {}", grace.as_str());
    audit::record(
        &mut *tx,
        AuditEntry {
            org_id: actor.org_id,
            actor_user_id: Some(actor.user_id),
            action: "organization.updated",
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
