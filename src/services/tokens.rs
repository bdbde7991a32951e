//! Access tokens: the format of spec §3, creation with caps, rotation with grace, revocation,
//! the verifier the MCP endpoint calls, and the token audit log.

use std::collections::HashMap;

use crate::config::Environment;
use crate::model::{
    Binding, Plan, Role, RotationGrace, Scope, TokenStatus, TokenView, VerifiedToken,
};
use crate::storage::Db;

use super::audit::{self, AuditEntry};
use super::organizations::{lock_org, Actor};
use super::{ServiceError, ServiceResult};
use crate::secrets::{random_base62, sha256_hex, BASE62};

const RANDOM_CHARS: usize = 32;
const CHECKSUM_CHARS: usize = 6;
const PREFIX_CHARS: usize = "tg_live_".len();
pub const TOKEN_CHARS: usize = PREFIX_CHARS + RANDOM_CHARS + CHECKSUM_CHARS;
pub const MAX_LABEL_CHARS: usize = 60;

fn prefix(env: Environment) -> &'static str {
    match env {
        Environment::Live => "tg_live_",
        Environment::Test => "tg_test_",
    }
}

/// CRC32 of `body` as 6 base62 digits, most significant first (62^6 > 2^32).
fn checksum(body: &str) -> String {
    let mut n = u64::from(crc32fast::hash(body.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 is ASCII")
}

/// A new token for `env`: prefix, 32 random base62 characters (190 bits), checksum.
pub fn generate(env: Environment) -> String {
    let body = format!("{}{}", prefix(env), random_base62(RANDOM_CHARS));
    let sum = checksum(&body);
    body + &sum
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the token does not start with tg_live_ or tg_test_")]
    Prefix,
    #[error("the token is {0} characters long; Tollgate tokens have 46")]
    Length(usize),
    #[error("the token contains a character that is not a letter or digit")]
    Alphabet,
    #[error("the token's checksum does not match: it was mistyped or cut short")]
    Checksum,
}

/// Checks prefix, length, alphabet and checksum without touching the database; returns the
/// token's environment.
pub fn parse(token: &str) -> Result<Environment, FormatError> {
    let env = if token.starts_with("tg_live_") {
        Environment::Live
    } else if token.starts_with("tg_test_") {
        Environment::Test
    } else {
        return Err(FormatError::Prefix);
    };
    if token.len() != TOKEN_CHARS {
        return Err(FormatError::Length(token.chars().count()));
    }
    // The alphabet first: only then is every byte a character, and the split safe.
    if !token.as_bytes()[PREFIX_CHARS..]
        .iter()
        .all(u8::is_ascii_alphanumeric)
    {
        return Err(FormatError::Alphabet);
    }
    let (body, sum) = token.split_at(PREFIX_CHARS + RANDOM_CHARS);
    if checksum(body) != sum {
        return Err(FormatError::Checksum);
    }
    Ok(env)
}

/// `tg_live_Ab3d…9xQz`: enough to recognise a token, far too little to use it.
pub fn hint(token: &str) -> String {
    let start = &token[..PREFIX_CHARS + 4];
    let end = &token[token.len() - 4..];
    format!("{start}…{end}")
}

/// What the creator chose.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub label: String,
    pub scopes: Vec<Scope>,
    pub binding: Binding,
    pub workspace_id: Option<i64>,
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
    let label = super::organizations::clean_name(&new.label, "token", MAX_LABEL_CHARS)?;
    if new.scopes.is_empty() {
        return Err(ServiceError::Invalid("Choose at least one scope.".into()));
    }
    check_grant(actor.role, &new.scopes)?;
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
    let mut tx = db.pool.begin().await?;
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
            lock_org(&mut tx, actor.org_id).await?;
            None
        }
        Binding::Workspace => {
            lock_org(&mut tx, actor.org_id).await?;
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
    };
    let cap = plan_of(&mut tx, actor.org_id).await?.token_cap();
    let counted_user = (new.binding == Binding::User).then_some(actor.user_id);
    if let Some(cap) = cap {
        if active_count(&mut tx, counted_user, actor.org_id, now).await? >= cap {
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
        label,
        scopes: new.scopes,
        expires_at: new.expires_at,
    };
    let issued = issue(&mut tx, &spec, env, actor.user_id, now).await?;
    let subject = format!(
        "{} ({}, {})",
        spec.label,
        hint(&issued.token),
        scopes_to_text(&spec.scopes)
    );
    let entry = AuditEntry {
        org_id: actor.org_id,
        actor_user_id: Some(actor.user_id),
        action: "token.created",
        subject: &subject,
        ip,
        token_id: Some(issued.id),
    };
    audit::record(&mut *tx, entry, now).await?;
    tx.commit().await?;
    Ok(issued)
}

/// What a token is, apart from its secret: a successor copies it.
struct TokenSpec {
    org_id: i64,
    binding: Binding,
    user_id: Option<i64>,
    workspace_id: Option<i64>,
    label: String,
    scopes: Vec<Scope>,
    expires_at: Option<i64>,
}

/// Generates a token for `spec` and stores its hash and hint.
async fn issue(
    conn: &mut sqlx::AnyConnection,
    spec: &TokenSpec,
    env: Environment,
    created_by: i64,
    now: i64,
) -> ServiceResult<Issued> {
    let token = generate(env);
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO tokens (org_id, binding, user_id, workspace_id, label, scopes, environment, token_hash, hint, \
         created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(spec.org_id)
    .bind(spec.binding.as_str())
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
    type Row = (
        i64,
        String,
        Option<i64>,
        Option<i64>,
        String,
        String,
        String,
        Option<i64>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT org_id, binding, user_id, workspace_id, label, scopes, hint, expires_at FROM tokens WHERE id = $1",
    )
    .bind(token_id)
    .fetch_optional(conn)
    .await?;
    let (org_id, binding, user_id, workspace_id, label, scopes, hint, expires_at) =
        row.ok_or_else(not_found)?;
    let binding = Binding::parse(&binding).ok_or_else(not_found)?;
    // Members manage their own personal tokens; admins of the token's organization manage its
    // organization and workspace tokens. Anything else looks like a token that does not exist.
    let allowed = match binding {
        Binding::User => user_id == Some(actor.user_id),
        Binding::Organization | Binding::Workspace => {
            org_id == actor.org_id && actor.role.is_admin()
        }
    };
    if !allowed {
        return Err(not_found());
    }
    let spec = TokenSpec {
        org_id,
        binding,
        user_id,
        workspace_id,
        label,
        scopes: scopes_from_text(&scopes),
        expires_at,
    };
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
    let mut tx = db.pool.begin().await?;
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
    if claimed.rows_affected() == 0 {
        return Err(ServiceError::Conflict(
            "Only an active token can be rotated.".into(),
        ));
    }
    check_grant(actor.role, &old.scopes)?;
    let issued = issue(&mut tx, &old, env, actor.user_id, now).await?;
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
    let entry = AuditEntry {
        org_id: old.org_id,
        actor_user_id: Some(actor.user_id),
        action: "token.rotated",
        subject: &subject,
        ip,
        token_id: Some(token_id),
    };
    audit::record(&mut *tx, entry, now).await?;
    let announced = db.announce_token_change(&mut tx, token_id).await?;
    tx.commit().await?;
    db.token_changed(token_id, announced).await;
    Ok(issued)
}

pub async fn revoke(
    db: &Db,
    actor: &Actor,
    token_id: i64,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<()> {
    let mut tx = db.pool.begin().await?;
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
    let subject = format!("{} ({token_hint})", token.label);
    let entry = AuditEntry {
        org_id: token.org_id,
        actor_user_id: Some(actor.user_id),
        action: "token.revoked",
        subject: &subject,
        ip,
        token_id: Some(token_id),
    };
    audit::record(&mut *tx, entry, now).await?;
    let announced = db.announce_token_change(&mut tx, token_id).await?;
    tx.commit().await?;
    db.token_changed(token_id, announced).await;
    Ok(())
}

/// The tokens the actor may see: their own personal tokens, and (admins) the organization's.
pub async fn list(db: &Db, actor: &Actor, now: i64) -> ServiceResult<Vec<TokenView>> {
    type Row = (
        i64,
        String,
        String,
        String,
        String,
        Option<String>,
        String,
        i64,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.id, t.label, t.hint, t.scopes, t.binding, w.name, u.email, t.created_at, t.last_used_at, \
         t.last_client, t.expires_at, t.revoked_at, t.grace_until \
         FROM tokens t JOIN users u ON u.id = t.created_by LEFT JOIN workspaces w ON w.id = t.workspace_id \
         WHERE (t.binding = 'user' AND t.user_id = $1) OR (t.binding <> 'user' AND t.org_id = $2 AND $3 = 1) \
         ORDER BY t.created_at DESC, t.id DESC",
    )
    .bind(actor.user_id)
    .bind(actor.org_id)
    .bind(i64::from(actor.role.is_admin()))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(
                id,
                label,
                hint,
                scopes,
                binding,
                workspace,
                created_by,
                created_at,
                last_used_at,
                last_client,
                expires_at,
                revoked_at,
                grace_until,
            )| {
                Some(TokenView {
                    id,
                    label,
                    hint,
                    scopes: scopes_from_text(&scopes),
                    binding: Binding::parse(&binding)?,
                    workspace,
                    created_by,
                    created_at,
                    last_used_at,
                    last_client,
                    expires_at,
                    status: TokenStatus::of(revoked_at, grace_until, expires_at, now),
                })
            },
        )
        .collect())
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token: {0}")]
    Format(#[from] FormatError),
    #[error("this is a {token} token; this server accepts {server} tokens")]
    Environment {
        token: &'static str,
        server: &'static str,
    },
    #[error("unknown token")]
    Unknown,
    #[error("the token was revoked")]
    Revoked,
    #[error("the token was rotated and its grace period has ended")]
    Rotated,
    #[error("the token has expired")]
    Expired,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The one check every enforced call makes: format and checksum first (no database work for
/// a mistyped token), then the SHA-256 lookup and the token's status at `now`.
pub async fn verify(
    db: &Db,
    token: &str,
    server_env: Environment,
    now: i64,
) -> Result<VerifiedToken, VerifyError> {
    let token_env = parse(token)?;
    if token_env != server_env {
        return Err(VerifyError::Environment {
            token: token_env.as_str(),
            server: server_env.as_str(),
        });
    }
    let hash = crate::secrets::sha256(token);
    if let Some(cached) = db.token_cache.get(&hash, now) {
        // Revocation evicts; the expiry and the grace period are checked here.
        if let TokenStatus::Active | TokenStatus::InGrace { .. } =
            TokenStatus::of(None, cached.grace_until, cached.expires_at, now)
        {
            return Ok(cached.token);
        }
    }
    type Row = (
        i64,
        i64,
        String,
        Option<i64>,
        Option<i64>,
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let generation = db.token_cache.generation();
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, org_id, binding, user_id, workspace_id, scopes, expires_at, revoked_at, grace_until \
         FROM tokens WHERE token_hash = $1",
    )
    .bind(crate::secrets::hex(&hash))
    .fetch_optional(&db.pool)
    .await?;
    let (id, org_id, binding, user_id, workspace_id, scopes, expires_at, revoked_at, grace_until) =
        row.ok_or(VerifyError::Unknown)?;
    match TokenStatus::of(revoked_at, grace_until, expires_at, now) {
        TokenStatus::Active | TokenStatus::InGrace { .. } => {
            let verified = VerifiedToken {
                id,
                org_id,
                binding: Binding::parse(&binding).ok_or(VerifyError::Unknown)?,
                user_id,
                workspace_id,
                scopes: scopes_from_text(&scopes),
            };
            db.token_cache.insert(
                hash,
                verified.clone(),
                expires_at,
                grace_until,
                generation,
                now,
            );
            Ok(verified)
        }
        TokenStatus::Revoked { .. } => Err(VerifyError::Revoked),
        TokenStatus::Rotated { .. } => Err(VerifyError::Rotated),
        TokenStatus::Expired { at } => {
            // The first refused use after expiry puts the expiry in the audit log, once.
            sqlx::query(
                "INSERT INTO audit_events (org_id, actor_user_id, action, subject, ip, token_id, created_at) \
                 SELECT $1, NULL, 'token.expired', $2, NULL, $3, $4 WHERE NOT EXISTS \
                 (SELECT 1 FROM audit_events WHERE token_id = $3 AND action = 'token.expired')",
            )
            .bind(org_id)
            .bind(format!("expired at {}", crate::model::format_time(at)))
            .bind(id)
            .bind(now)
            .execute(&db.pool)
            .await?;
            Err(VerifyError::Expired)
        }
    }
}

/// What decides whether a token still works, as stored now: revocation, grace end, expiry.
#[derive(Clone, Copy, Debug)]
pub struct StoredStatus {
    pub revoked_at: Option<i64>,
    pub grace_until: Option<i64>,
    pub expires_at: Option<i64>,
}

/// Why token `id` no longer works at `now` by `statuses` (from [`stored_statuses`]), or None
/// while it does.
pub fn stored_refusal(
    statuses: &HashMap<i64, StoredStatus>,
    id: i64,
    now: i64,
) -> Option<VerifyError> {
    let Some(s) = statuses.get(&id) else {
        return Some(VerifyError::Unknown);
    };
    match TokenStatus::of(s.revoked_at, s.grace_until, s.expires_at, now) {
        TokenStatus::Active | TokenStatus::InGrace { .. } => None,
        TokenStatus::Revoked { .. } => Some(VerifyError::Revoked),
        TokenStatus::Rotated { .. } => Some(VerifyError::Rotated),
        TokenStatus::Expired { .. } => Some(VerifyError::Expired),
    }
}

/// The stored status of each of `ids` (a deleted token is missing), in one query: the check
/// behind the verified-token cache (the writer's batch makes the same check of every admission
/// with its own query), so that a token revoked or rotated on any instance runs nothing anywhere
/// once that is answered.
pub async fn stored_statuses(
    conn: &mut sqlx::AnyConnection,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, StoredStatus>, sqlx::Error> {
    let select = "SELECT id, revoked_at, grace_until, expires_at FROM tokens WHERE id IN";
    let rows: Vec<(i64, Option<i64>, Option<i64>, Option<i64>)> =
        crate::storage::fetch_by_ids(conn, select, ids).await?;
    Ok(rows
        .into_iter()
        .map(|(id, revoked_at, grace_until, expires_at)| {
            let status = StoredStatus {
                revoked_at,
                grace_until,
                expires_at,
            };
            (id, status)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_spec_format() {
        let token = generate(Environment::Live);
        assert_eq!(token.len(), 46);
        assert!(token.starts_with("tg_live_"));
        assert_eq!(parse(&token), Ok(Environment::Live));
        assert_eq!(parse(&generate(Environment::Test)), Ok(Environment::Test));
        assert_eq!(&token[40..], checksum(&token[..40]));
    }

    #[test]
    fn the_parser_rejects_bad_prefix_length_alphabet_and_checksum() {
        let token = generate(Environment::Live);
        assert_eq!(
            parse(&token.replacen("tg_live_", "tg_prod_", 1)),
            Err(FormatError::Prefix)
        );
        assert_eq!(parse(&token[..45]), Err(FormatError::Length(45)));
        assert_eq!(parse(&format!("{token}x")), Err(FormatError::Length(47)));
        let mut bad_char = token.clone().into_bytes();
        bad_char[20] = b'-';
        assert_eq!(
            parse(&String::from_utf8(bad_char).unwrap()),
            Err(FormatError::Alphabet)
        );
        // One changed character anywhere in the random part breaks the checksum.
        let mut typo = token.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            parse(&String::from_utf8(typo).unwrap()),
            Err(FormatError::Checksum)
        );
        assert_eq!(parse(""), Err(FormatError::Prefix));
        assert_eq!(parse("tg_live_é"), Err(FormatError::Length(9)));
    }

    #[test]
    fn multibyte_input_is_refused_not_a_panic() {
        // 46 bytes whose 40th falls inside a two-byte character: splitting there panicked.
        let token = format!("tg_live_{}é{}", "a".repeat(31), "b".repeat(5));
        assert_eq!(token.len(), TOKEN_CHARS);
        assert_eq!(parse(&token), Err(FormatError::Alphabet));
    }

    #[test]
    fn checksums_are_zero_padded_base62() {
        assert_eq!(checksum(""), "000000"); // CRC32 of nothing is 0
        assert_eq!(checksum("tg_live_").len(), 6);
    }

    #[test]
    fn the_hint_shows_the_prefix_and_both_ends_only() {
        let token = generate(Environment::Live);
        let hint = hint(&token);
        assert_eq!(hint, format!("{}…{}", &token[..12], &token[42..]));
        assert!(!hint.contains(&token[12..42]));
    }

    #[test]
    fn ten_thousand_tokens_are_distinct_and_all_parse() {
        let tokens: std::collections::HashSet<String> =
            (0..10_000).map(|_| generate(Environment::Live)).collect();
        assert_eq!(tokens.len(), 10_000);
        assert!(tokens.iter().all(|t| parse(t) == Ok(Environment::Live)));
    }
}
