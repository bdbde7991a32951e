//! Access tokens' lifecycle: creation within the plan's caps, rotation with grace, revocation,
//! the list a user sees. Their format and their verification have modules of their own.

mod format;
mod verify;

pub use format::{generate, hint, parse, FormatError, TOKEN_CHARS};
pub use verify::{stored_refusal, stored_statuses, verify, StoredStatus, VerifyError, STOPS_AT};

use crate::config::Environment;
use crate::model::AuditAction;
use crate::model::{Binding, Plan, Role, RotationGrace, Scope, TokenStatus, TokenView};
use crate::storage::Db;

use super::audit::{self, AuditEntry};
use super::organizations::{lock_org, Actor};
use super::{ServiceError, ServiceResult};
use crate::secrets::sha256_hex;

pub const MAX_LABEL_CHARS: usize = 60;

/// What the creator chose.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub label: String,
    pub scopes: Vec<Scope>,
    pub binding: Binding,
    pub workspace_id: Option<i64>,
    /// The profile of a profile key (its workspace is looked up).
    pub profile_id: Option<i64>,
    pub expires_at: Option<i64>,
}

pub struct Issued {
    pub id: i64,
    pub token: String,
    /// The label as stored (trimmed), for the page that shows the token once.
    pub label: String,
}

/// Debug output never contains the secret (it may end up in logs or panic messages).
impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .finish()
    }
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("No such token, or it is not yours to manage.".into())
}

pub fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn scopes_from_text(text: &str) -> Vec<Scope> {
    text.split_whitespace().filter_map(Scope::parse).collect()
}

fn check_grant(role: Role, scopes: &[Scope]) -> ServiceResult<()> {
    if let Some(denied) = scopes.iter().find(|s| !s.grantable_by(role)) {
        return Err(ServiceError::Forbidden(format!(
            "Only admins and owners can grant {}.",
            denied.as_str()
        )));
    }
    Ok(())
}

const ACTIVE: &str =
    "revoked_at IS NULL AND successor_id IS NULL AND (expires_at IS NULL OR expires_at > $2)";

async fn active_count(
    conn: &mut sqlx::AnyConnection,
    binding_user: Option<i64>,
    org_id: i64,
    now: i64,
) -> ServiceResult<i64> {
    let (n,): (i64,) = match binding_user {
        Some(user_id) => {
            sqlx::query_as(&format!(
                "SELECT COUNT(*) FROM tokens WHERE binding = 'user' AND user_id = $1 AND {ACTIVE}"
            ))
            .bind(user_id)
            .bind(now)
            .fetch_one(conn)
            .await?
        }
        None => {
            sqlx::query_as(&format!(
                "SELECT COUNT(*) FROM tokens WHERE binding <> 'user' AND org_id = $1 AND {ACTIVE}"
            ))
            .bind(org_id)
            .bind(now)
            .fetch_one(conn)
            .await?
        }
    };
    Ok(n)
}

async fn plan_of(conn: &mut sqlx::AnyConnection, org_id: i64) -> ServiceResult<Plan> {
    let (plan,): (String,) = sqlx::query_as("SELECT plan FROM organizations WHERE id = $1")
        .bind(org_id)
        .fetch_one(conn)
        .await?;
    Ok(Plan::stored(&plan))
}

/// How many more tokens of each kind the actor may create: (personal, organization).
pub async fn remaining(
    db: &Db,
    actor: &Actor,
    now: i64,
) -> ServiceResult<(Option<i64>, Option<i64>)> {
    let mut conn = db.pool.acquire().await?;
    let cap = plan_of(&mut conn, actor.org_id).await?.token_cap();
    let personal = active_count(&mut conn, Some(actor.user_id), actor.org_id, now).await?;
    let organization = active_count(&mut conn, None, actor.org_id, now).await?;
    Ok((
        cap.map(|c| (c - personal).max(0)),
        cap.map(|c| (c - organization).max(0)),
    ))
}

pub async fn create(
    db: &Db,
    actor: &Actor,
    env: Environment,
    new: NewToken,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<Issued> {
    let mut tx = db.begin_write().await?;
    let issued = create_in(&mut tx, actor, env, new, None, ip, now).await?;
    tx.commit().await?;
    Ok(issued)
}

/// The OAuth client a grant is made for, and the resource its access tokens are good for.
#[derive(Clone, Copy, Debug)]
pub struct GrantTo<'a> {
    pub client_id: &'a str,
    pub audience: &'a str,
}

/// Creates the token of an OAuth grant in `tx`, under the same rules and caps as any token
/// (a connected app counts as one active token of its reach). It has no usable secret yet:
/// the code exchange gives it its first access token.
pub async fn create_grant(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    env: Environment,
    new: NewToken,
    to: GrantTo<'_>,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<i64> {
    Ok(create_in(tx, actor, env, new, Some(to), ip, now).await?.id)
}

async fn create_in(
    tx: &mut sqlx::AnyConnection,
    actor: &Actor,
    env: Environment,
    new: NewToken,
    grant: Option<GrantTo<'_>>,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<Issued> {
    let label = super::organizations::clean_name(&new.label, "token", MAX_LABEL_CHARS)?;
    if new.scopes.is_empty() {
        return Err(ServiceError::Invalid("Choose at least one scope.".into()));
    }
    check_grant(actor.role, &new.scopes)?;
    if new.binding == Binding::Profile {
        if let Some(unusable) = new.scopes.iter().find(|s| !s.for_profile_keys()) {
            return Err(ServiceError::Invalid(format!(
                "A key for one profile cannot use {}: leave it out, or choose a workspace or organization reach.",
                unusable.as_str()
            )));
        }
    }
    if new.binding != Binding::User {
        super::organizations::require_admin(actor).map_err(|_| {
            ServiceError::Forbidden(
                "Only admins and owners can create organization or workspace tokens.".into(),
            )
        })?;
    }
    if let Some(at) = new.expires_at {
        if at <= now {
            return Err(ServiceError::Invalid(
                "Choose an expiry date in the future.".into(),
            ));
        }
    }
    // Lock what the cap counts (the user's row, or the organization's) so that concurrent
    // creations cannot both slip under it.
    let workspace_id = match new.binding {
        Binding::User => {
            sqlx::query("UPDATE users SET email = email WHERE id = $1")
                .bind(actor.user_id)
                .execute(&mut *tx)
                .await?;
            None
        }
        Binding::Organization => {
            lock_org(tx, actor.org_id).await?;
            None
        }
        Binding::Workspace => {
            lock_org(tx, actor.org_id).await?;
            let id = new.workspace_id.ok_or_else(|| {
                ServiceError::Invalid("Choose the workspace the token is for.".into())
            })?;
            let found: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM workspaces WHERE id = $1 AND org_id = $2")
                    .bind(id)
                    .bind(actor.org_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            found.ok_or_else(|| {
                ServiceError::NotFound("No such workspace in this organization.".into())
            })?;
            Some(id)
        }
        Binding::Profile => {
            lock_org(tx, actor.org_id).await?;
            let id = new.profile_id.ok_or_else(|| {
                ServiceError::Invalid("Choose the profile the key is for.".into())
            })?;
            let found: Option<(i64,)> = sqlx::query_as(
                "SELECT p.workspace_id FROM profiles p JOIN workspaces w ON w.id = p.workspace_id \
                 WHERE p.id = $1 AND w.org_id = $2",
            )
            .bind(id)
            .bind(actor.org_id)
            .fetch_optional(&mut *tx)
            .await?;
            let (workspace_id,) = found.ok_or_else(|| {
                ServiceError::NotFound("No such profile in this organization.".into())
            })?;
            Some(workspace_id)
        }
    };
    let cap = plan_of(tx, actor.org_id).await?.token_cap();
    let counted_user = (new.binding == Binding::User).then_some(actor.user_id);
    if let Some(cap) = cap {
        if active_count(tx, counted_user, actor.org_id, now).await? >= cap {
            let what = if counted_user.is_some() {
                "personal tokens"
            } else {
                "organization tokens"
            };
            return Err(ServiceError::Conflict(format!(
                "You have reached the limit of {cap} active {what} on this plan. Revoke one you no longer use, or upgrade the plan."
            )));
        }
    }
    let spec = TokenSpec {
        org_id: actor.org_id,
        binding: new.binding,
        user_id: counted_user,
        workspace_id,
        profile_id: new.profile_id.filter(|_| new.binding == Binding::Profile),
        label,
        scopes: new.scopes,
        expires_at: new.expires_at,
        client_id: grant.map(|g| g.client_id.to_string()),
    };
    let issued = issue(tx, &spec, env, actor.user_id, grant, now).await?;
    let (action, subject) = match grant {
        None => (
            AuditAction::TokenCreated,
            format!(
                "{} ({}, {})",
                spec.label,
                hint(&issued.token),
                scopes_to_text(&spec.scopes)
            ),
        ),
        Some(_) => (
            AuditAction::AppConnected,
            format!("{} ({})", spec.label, scopes_to_text(&spec.scopes)),
        ),
    };
    let entry = AuditEntry::by(actor, action, &subject, ip).about_token(issued.id);
    audit::record(&mut *tx, entry, now).await?;
    Ok(issued)
}

/// What a token is, apart from its secret: a successor copies it.
struct TokenSpec {
    org_id: i64,
    binding: Binding,
    user_id: Option<i64>,
    workspace_id: Option<i64>,
    profile_id: Option<i64>,
    label: String,
    scopes: Vec<Scope>,
    expires_at: Option<i64>,
    /// The OAuth client of a grant: its tokens come from the token endpoint, not rotation.
    client_id: Option<String>,
}

/// Generates a token for `spec` and stores its hash and hint; an OAuth grant's token is made
/// with its access time already over (its secret is never handed out).
async fn issue(
    conn: &mut sqlx::AnyConnection,
    spec: &TokenSpec,
    env: Environment,
    created_by: i64,
    grant: Option<GrantTo<'_>>,
    now: i64,
) -> ServiceResult<Issued> {
    let token = generate(env);
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO tokens (org_id, binding, user_id, workspace_id, label, scopes, environment, token_hash, hint, \
         created_by, created_at, expires_at, client_id, audience, access_expires_at, profile_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
    )
    .bind(spec.org_id)
    .bind(spec.binding.column())
    .bind(spec.user_id)
    .bind(spec.workspace_id)
    .bind(&spec.label)
    .bind(scopes_to_text(&spec.scopes))
    .bind(env.as_str())
    .bind(sha256_hex(&token))
    .bind(hint(&token))
    .bind(created_by)
    .bind(now)
    .bind(spec.expires_at)
    .bind(grant.map(|g| g.client_id))
    .bind(grant.map(|g| g.audience))
    .bind(grant.map(|_| now))
    .bind(spec.profile_id)
    .fetch_one(conn)
    .await?;
    Ok(Issued {
        id,
        token,
        label: spec.label.clone(),
    })
}

/// The token and its hint, if the actor may manage it.
async fn load_manageable(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    token_id: i64,
) -> ServiceResult<(TokenSpec, String)> {
    #[derive(sqlx::FromRow)]
    struct Row {
        org_id: i64,
        binding: String,
        user_id: Option<i64>,
        workspace_id: Option<i64>,
        profile_id: Option<i64>,
        label: String,
        scopes: String,
        hint: String,
        expires_at: Option<i64>,
        client_id: Option<String>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT org_id, binding, user_id, workspace_id, profile_id, label, scopes, hint, expires_at, client_id \
         FROM tokens WHERE id = $1",
    )
    .bind(token_id)
    .fetch_optional(conn)
    .await?;
    let row = row.ok_or_else(not_found)?;
    let binding = Binding::stored(&row.binding, row.profile_id).ok_or_else(not_found)?;
    // Members manage their own personal tokens; admins of the token's organization manage its
    // organization, workspace and profile tokens. Anything else looks like a token that does
    // not exist.
    let allowed = match binding {
        Binding::User => row.user_id == Some(actor.user_id),
        Binding::Organization | Binding::Workspace | Binding::Profile => {
            row.org_id == actor.org_id && actor.role.is_admin()
        }
    };
    if !allowed {
        return Err(not_found());
    }
    let spec = TokenSpec {
        org_id: row.org_id,
        binding,
        user_id: row.user_id,
        workspace_id: row.workspace_id,
        profile_id: row.profile_id,
        label: row.label,
        scopes: scopes_from_text(&row.scopes),
        expires_at: row.expires_at,
        client_id: row.client_id,
    };
    let hint = row.hint;
    Ok((spec, hint))
}

/// Issues a successor with the same label, scopes, binding and expiry; the old token keeps
/// working for `grace`, then stops.
pub async fn rotate(
    db: &Db,
    actor: &Actor,
    token_id: i64,
    grace: RotationGrace,
    env: Environment,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<Issued> {
    let mut tx = db.begin_write().await?;
    // Claim the token first (the write takes the lock): of two concurrent rotations only one
    // matches, and an ended token matches none.
    let claimed = sqlx::query(
        "UPDATE tokens SET grace_until = $1 WHERE id = $2 AND successor_id IS NULL AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $3)",
    )
    .bind(now + grace.millis())
    .bind(token_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let (old, old_hint) = load_manageable(&mut tx, actor, token_id).await?;
    if old.client_id.is_some() {
        return Err(ServiceError::Conflict(
            "A connected app gets new tokens by itself; revoke it instead.".into(),
        ));
    }
    if claimed.rows_affected() == 0 {
        return Err(ServiceError::Conflict(
            "Only an active token can be rotated.".into(),
        ));
    }
    check_grant(actor.role, &old.scopes)?;
    let issued = issue(&mut tx, &old, env, actor.user_id, None, now).await?;
    sqlx::query("UPDATE tokens SET successor_id = $1 WHERE id = $2")
        .bind(issued.id)
        .bind(token_id)
        .execute(&mut *tx)
        .await?;
    let subject = format!(
        "{} ({old_hint} → {}), old token stops: {}",
        old.label,
        hint(&issued.token),
        grace.label().to_lowercase()
    );
    let entry = AuditEntry::by(actor, AuditAction::TokenRotated, &subject, ip)
        .about_token(token_id)
        .in_org(old.org_id);
    audit::record(&mut *tx, entry, now).await?;
    let announced = db.announce_token_change(&mut tx, token_id).await?;
    tx.commit().await?;
    db.token_changed(token_id, announced).await;
    Ok(issued)
}

/// Revokes a token the actor may manage (a connected app's grant too: its refresh tokens die
/// with it); returns its label.
pub async fn revoke(
    db: &Db,
    actor: &Actor,
    token_id: i64,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<String> {
    let mut tx = db.begin_write().await?;
    let updated =
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(token_id)
            .execute(&mut *tx)
            .await?;
    let (token, token_hint) = load_manageable(&mut tx, actor, token_id).await?;
    if updated.rows_affected() == 0 {
        return Err(ServiceError::Conflict(
            "This token is already revoked.".into(),
        ));
    }
    let (action, subject) = match token.client_id {
        None => (
            AuditAction::TokenRevoked,
            format!("{} ({token_hint})", token.label),
        ),
        Some(_) => (AuditAction::AppRevoked, token.label.clone()),
    };
    let entry = AuditEntry::by(actor, action, &subject, ip)
        .about_token(token_id)
        .in_org(token.org_id);
    audit::record(&mut *tx, entry, now).await?;
    let announced = db.announce_token_change(&mut tx, token_id).await?;
    tx.commit().await?;
    db.token_changed(token_id, announced).await;
    Ok(token.label)
}

#[derive(sqlx::FromRow)]
struct ListedToken {
    id: i64,
    label: String,
    hint: String,
    scopes: String,
    binding: String,
    workspace: Option<String>,
    profile_id: Option<i64>,
    profile: Option<String>,
    created_by: String,
    created_at: i64,
    last_used_at: Option<i64>,
    last_client: Option<String>,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    grace_until: Option<i64>,
    successor_id: Option<i64>,
    client_id: Option<String>,
}

impl ListedToken {
    fn view(self, now: i64) -> Option<TokenView> {
        Some(TokenView {
            id: self.id,
            label: self.label,
            hint: self.hint,
            scopes: scopes_from_text(&self.scopes),
            binding: Binding::stored(&self.binding, self.profile_id)?,
            workspace: self.workspace,
            profile: self.profile,
            created_by: self.created_by,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            last_client: self.last_client,
            expires_at: self.expires_at,
            status: TokenStatus::of(self.revoked_at, self.grace_until, self.expires_at, now),
            successor_id: self.successor_id,
        })
    }
}

/// Which tokens a list shows: those made on Developer › Tokens, or connected apps' grants
/// (once their code was exchanged).
#[derive(Clone, Copy)]
enum Listing {
    Tokens,
    Apps,
}

/// The tokens the actor may see (their own personal tokens, and admins the organization's),
/// newest first; only `token_id` when it is given.
async fn visible(
    db: &Db,
    actor: &Actor,
    listing: Listing,
    token_id: Option<i64>,
) -> ServiceResult<Vec<ListedToken>> {
    let kind = match listing {
        Listing::Tokens => "t.client_id IS NULL",
        Listing::Apps => {
            "t.client_id IS NOT NULL AND EXISTS (SELECT 1 FROM oauth_refresh_tokens r WHERE r.token_id = t.id)"
        }
    };
    Ok(sqlx::query_as(&format!(
        "SELECT t.id, t.label, t.hint, t.scopes, t.binding, w.name AS workspace, t.profile_id, pr.name AS profile, \
         u.email AS created_by, t.created_at, t.last_used_at, t.last_client, t.expires_at, t.revoked_at, t.grace_until, \
         t.successor_id, t.client_id FROM tokens t JOIN users u ON u.id = t.created_by \
         LEFT JOIN workspaces w ON w.id = t.workspace_id LEFT JOIN profiles pr ON pr.id = t.profile_id \
         WHERE ((t.binding = 'user' AND t.user_id = $1) OR (t.binding <> 'user' AND t.org_id = $2 AND $3 = 1)) \
         AND ($4 = 0 OR t.id = $5) AND {kind} \
         ORDER BY t.created_at DESC, t.id DESC"
    ))
    .bind(actor.user_id)
    .bind(actor.org_id)
    .bind(i64::from(actor.role.is_admin()))
    .bind(i64::from(token_id.is_some()))
    .bind(token_id.unwrap_or_default())
    .fetch_all(&db.pool)
    .await?)
}

/// The tokens the actor may see: their own personal tokens, and (admins) the organization's.
pub async fn list(db: &Db, actor: &Actor, now: i64) -> ServiceResult<Vec<TokenView>> {
    let rows = visible(db, actor, Listing::Tokens, None).await?;
    Ok(rows.into_iter().filter_map(|row| row.view(now)).collect())
}

/// The connected apps' grants the actor may see, as [`list`] lists tokens, each with its
/// client's id.
pub async fn apps(db: &Db, actor: &Actor, now: i64) -> ServiceResult<Vec<(TokenView, String)>> {
    let rows = visible(db, actor, Listing::Apps, None).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let client_id = row.client_id.clone()?;
            Some((row.view(now)?, client_id))
        })
        .collect())
}

/// One token the actor may see, or NotFound.
pub async fn one(db: &Db, actor: &Actor, token_id: i64, now: i64) -> ServiceResult<TokenView> {
    visible(db, actor, Listing::Tokens, Some(token_id))
        .await?
        .pop()
        .and_then(|row| row.view(now))
        .ok_or_else(|| ServiceError::NotFound("No such token here.".into()))
}
