//! Invitations by email. No mail is sent: the admin is shown a link to pass on. Only the
//! link code's SHA-256 is stored, and only the invited email can accept it.

use crate::model::AuditAction;
use crate::model::{InviteDetails, InviteState, PendingInvite, Role};
use crate::storage::Db;

use super::accounts::normalize_email;
use super::audit::{self, AuditEntry};
use super::organizations::{check_role_assignment, Actor};
use super::{ServiceError, ServiceResult};
use crate::secrets::{random_base62, sha256_hex};

pub const INVITE_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

pub struct NewInvite {
    pub id: i64,
    /// The secret part of the link, returned once.
    pub code: String,
}

pub async fn create(
    db: &Db,
    actor: &Actor,
    email: &str,
    role: Role,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<NewInvite> {
    check_role_assignment(actor, None, role)?;
    let email = normalize_email(email)?;
    let already: Option<(i64,)> = sqlx::query_as(
        "SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id WHERE u.email = $1 AND m.org_id = $2",
    )
    .bind(&email)
    .bind(actor.org_id)
    .fetch_optional(&db.pool)
    .await?;
    if already.is_some() {
        return Err(ServiceError::Conflict(format!(
            "{email} is already a member of this organization."
        )));
    }
    let code = random_base62(32);
    let mut tx = db.begin_write().await?;
    // A new invite replaces an open one for the same address, so only the newest link works.
    sqlx::query(
        "UPDATE invites SET revoked_at = $1 WHERE org_id = $2 AND email = $3 \
         AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(actor.org_id)
    .bind(&email)
    .execute(&mut *tx)
    .await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO invites (org_id, email, role, code_hash, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(actor.org_id)
    .bind(&email)
    .bind(role.as_str())
    .bind(sha256_hex(&code))
    .bind(actor.user_id)
    .bind(now)
    .bind(now + INVITE_TTL_MS)
    .fetch_one(&mut *tx)
    .await?;
    let subject = format!("{email} as {}", role.as_str());
    audit::record(
        &mut *tx,
        AuditEntry::by(actor, AuditAction::MemberInvited, &subject, ip),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(NewInvite { id, code })
}

pub async fn pending(db: &Db, org_id: i64, now: i64) -> ServiceResult<Vec<PendingInvite>> {
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT i.id, i.email, i.role, u.email, i.expires_at FROM invites i JOIN users u ON u.id = i.invited_by \
         WHERE i.org_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2 \
         ORDER BY i.created_at DESC",
    )
    .bind(org_id)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, email, role, invited_by, expires_at)| {
            Some(PendingInvite {
                id,
                email,
                role: Role::parse(&role)?,
                invited_by,
                expires_at,
            })
        })
        .collect())
}

struct InviteRow {
    id: i64,
    org_id: i64,
    org_name: String,
    email: String,
    role: Role,
    state: InviteState,
}

async fn find(db: &Db, code: &str, now: i64) -> ServiceResult<InviteRow> {
    let not_found = || {
        ServiceError::NotFound("This invite link is not valid. Ask an admin for a new one.".into())
    };
    if code.len() != 32 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(not_found());
    }
    type Row = (
        i64,
        i64,
        String,
        String,
        String,
        i64,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT i.id, i.org_id, o.name, i.email, i.role, i.expires_at, i.accepted_at, i.revoked_at \
         FROM invites i JOIN organizations o ON o.id = i.org_id WHERE i.code_hash = $1",
    )
    .bind(sha256_hex(code))
    .fetch_optional(&db.pool)
    .await?;
    let (id, org_id, org_name, email, role, expires_at, accepted_at, revoked_at) =
        row.ok_or_else(not_found)?;
    let state = if accepted_at.is_some() {
        InviteState::Accepted
    } else if revoked_at.is_some() {
        InviteState::Revoked
    } else if expires_at <= now {
        InviteState::Expired
    } else {
        InviteState::Open
    };
    Ok(InviteRow {
        id,
        org_id,
        org_name,
        email,
        role: Role::parse(&role).unwrap_or(Role::Member),
        state,
    })
}

pub async fn details(db: &Db, code: &str, now: i64) -> ServiceResult<InviteDetails> {
    let row = find(db, code, now).await?;
    Ok(InviteDetails {
        org_name: row.org_name,
        email: row.email,
        role: row.role,
        state: row.state,
    })
}

/// Joins `user_id` to the invite's organization with its role; returns the organization.
pub async fn accept(
    db: &Db,
    code: &str,
    user_id: i64,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<i64> {
    let row = find(db, code, now).await?;
    match row.state {
        InviteState::Open => {}
        InviteState::Accepted => {
            return Err(ServiceError::Conflict(
                "This invite has already been used.".into(),
            ))
        }
        InviteState::Revoked => {
            return Err(ServiceError::Conflict(
                "This invite was withdrawn. Ask an admin for a new one.".into(),
            ))
        }
        InviteState::Expired => {
            return Err(ServiceError::Conflict(
                "This invite has expired. Ask an admin for a new one.".into(),
            ))
        }
    }
    let email = super::accounts::email_of(db, user_id)
        .await?
        .unwrap_or_default();
    if email != row.email {
        return Err(ServiceError::Forbidden(format!(
            "This invite is for {}. Sign in with that email to accept it.",
            row.email
        )));
    }
    let mut tx = db.begin_write().await?;
    // Claim the invite first: of two concurrent accepts only one updates a row.
    let claimed = sqlx::query(
        "UPDATE invites SET accepted_at = $1, accepted_by = $2 WHERE id = $3 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(row.id)
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(ServiceError::Conflict(
            "This invite has already been used.".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, user_id) DO NOTHING",
    )
    .bind(row.org_id)
    .bind(user_id)
    .bind(row.role.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let subject = format!("{} as {}", row.email, row.role.as_str());
    audit::record(
        &mut *tx,
        AuditEntry {
            org_id: row.org_id,
            actor_user_id: Some(user_id),
            action: AuditAction::MemberJoined,
            subject: &subject,
            ip,
            token_id: None,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(row.org_id)
}

pub async fn revoke(
    db: &Db,
    actor: &Actor,
    invite_id: i64,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<String> {
    super::organizations::require_admin(actor)?;
    let mut tx = db.begin_write().await?;
    let withdrawn: Option<(String, String)> = sqlx::query_as(
        "UPDATE invites SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND accepted_at IS NULL AND revoked_at IS NULL \
         RETURNING email, role",
    )
    .bind(now)
    .bind(invite_id)
    .bind(actor.org_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((email, role)) = withdrawn else {
        return Err(ServiceError::NotFound(
            "No open invite with that id in this organization.".into(),
        ));
    };
    let subject = format!("{email} as {role}");
    audit::record(
        &mut *tx,
        AuditEntry::by(actor, AuditAction::InviteRevoked, &subject, ip),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(email)
}
