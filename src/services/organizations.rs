//! Organizations: creation (with the first workspace and its demo data), who belongs where,
//! the acting user's role, and the organization's settings. Members and workspaces have
//! modules of their own.
//!
//! Every function that changes something takes an `Actor`: the signed-in user with the role
//! they hold in the organization *now* (read from the database on each request).

use crate::model::AuditAction;
use crate::model::{OrgSettings, OrgSummary, Role, RotationGrace};
use crate::storage::Db;

use super::audit::{self, AuditEntry};
use super::throttle;
use super::{ServiceError, ServiceResult};

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
    let mut tx = db.begin_write().await?;
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
    super::demo::load(&mut tx, workspace_id, now).await?;
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
            action: AuditAction::OrganizationCreated,
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

pub async fn role_in<'c>(
    conn: impl sqlx::Executor<'c, Database = sqlx::Any>,
    org_id: i64,
    user_id: i64,
) -> ServiceResult<Option<Role>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(role,)| Role::parse(&role)))
}

/// The user acting in `org_id`, refused when they are not (or no longer) a member.
pub async fn actor(db: &Db, user_id: i64, org_id: i64) -> ServiceResult<Actor> {
    match role_in(&db.pool, org_id, user_id).await? {
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

/// Serializes changes to one organization (memberships, token caps) on both engines: PostgreSQL locks the
/// row, SQLite takes its write lock on this first write.
pub(crate) async fn lock_org(conn: &mut sqlx::AnyConnection, org_id: i64) -> ServiceResult<()> {
    sqlx::query("UPDATE organizations SET name = name WHERE id = $1")
        .bind(org_id)
        .execute(conn)
        .await?;
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
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE organizations SET name = $1, default_rotation_grace = $2 WHERE id = $3")
        .bind(&name)
        .bind(grace.as_str())
        .bind(actor.org_id)
        .execute(&mut *tx)
        .await?;
    let subject = format!("name “{name}”, rotation grace {}", grace.as_str());
    audit::record(
        &mut *tx,
        AuditEntry::by(actor, AuditAction::OrganizationUpdated, &subject, ip),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
