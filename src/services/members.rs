//! The members of an organization and their roles: the members page, role changes, removals.

use crate::model::AuditAction;
use crate::model::{MemberView, MembersPage, Role};
use crate::storage::Db;

use super::audit::{self, AuditEntry};
use super::organizations::{check_role_assignment, lock_org, require_admin, Actor};
use super::{ServiceError, ServiceResult};

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

async fn owner_count(conn: &mut sqlx::AnyConnection, org_id: i64) -> ServiceResult<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
            .bind(org_id)
            .fetch_one(conn)
            .await?;
    Ok(n)
}

/// A member's role and email.
async fn member_role(
    conn: &mut sqlx::AnyConnection,
    org_id: i64,
    user_id: i64,
) -> ServiceResult<(Role, String)> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT m.role, u.email FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 AND m.user_id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.and_then(|(role, email)| Some((Role::parse(&role)?, email)))
        .ok_or_else(|| {
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
) -> ServiceResult<String> {
    require_admin(actor)?;
    let mut tx = db.begin_write().await?;
    lock_org(&mut tx, actor.org_id).await?;
    let (current, email) = member_role(&mut tx, actor.org_id, target_user).await?;
    check_role_assignment(actor, Some(current), new_role)?;
    if current == new_role {
        return Ok(email);
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
    let subject = format!("{email}: {} → {}", current.as_str(), new_role.as_str());
    audit::record(
        &mut *tx,
        AuditEntry::by(actor, AuditAction::MemberRoleChanged, &subject, ip),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(email)
}

/// Admins remove others; anyone may leave. The last owner can do neither.
pub async fn remove_member(
    db: &Db,
    actor: &Actor,
    target_user: i64,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<String> {
    if target_user != actor.user_id {
        require_admin(actor)?;
    }
    let mut tx = db.begin_write().await?;
    lock_org(&mut tx, actor.org_id).await?;
    let (current, email) = member_role(&mut tx, actor.org_id, target_user).await?;
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
    let subject = format!("{email} ({})", current.as_str());
    audit::record(
        &mut *tx,
        AuditEntry::by(actor, AuditAction::MemberRemoved, &subject, ip),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(email)
}
