//! The token endpoint's two grants (authorization code with PKCE, refresh token), revocation
//! (RFC 7009), and the connected apps a user sees.
//!
//! Every use of a refresh token spends it and issues the next, with a new access token whose
//! secret replaces the last one's (an old access token stops at once). A spent refresh token
//! presented again means two parties hold it: the whole grant is revoked (RFC 9700 §4.14.2).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Issuer, OAuthError, ACCESS_TOKEN_TTL_MS};
use crate::model::{AuditAction, Binding, ConnectedApp};
use crate::secrets::{random_base62, sha256_hex};
use crate::services::audit::{self, AuditEntry};
use crate::services::organizations::{self, Actor};
use crate::services::tokens;
use crate::services::ServiceResult;
use crate::storage::Db;

const REFRESH_PREFIX: &str = "tgr_";
/// How long a refresh token stays good unused: a grant nobody renews for this long ends.
const REFRESH_IDLE_MS: i64 = 30 * crate::model::DAY_MS;
/// How long a spent refresh token is remembered, to catch its reuse (its successor ends by
/// then too).
const SPENT_KEPT_MS: i64 = REFRESH_IDLE_MS;

/// A successful token response (RFC 6749 §5.1).
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub scope: String,
}

/// Debug output never contains the secrets.
impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A PKCE verifier (RFC 7636 §4.1: 43 to 128 unreserved characters) and whether its S256
/// digest is `challenge`.
fn verifies(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// Gives grant `token_id` its next access token and refresh token, in `tx`.
async fn mint(
    db: &Db,
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    issuer: &Issuer,
    token_id: i64,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let row: Option<(String, Option<i64>, String, i64, i64)> = sqlx::query_as(
        "SELECT scopes, expires_at, binding, org_id, created_by FROM tokens WHERE id = $1 \
         AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(token_id)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let (scopes, grant_ends, binding, org_id, approved_by) =
        row.ok_or_else(|| OAuthError::InvalidGrant("the grant was revoked or has ended".into()))?;
    // An organization or workspace grant is renewed only while its approver may still make one
    // (a personal grant's scopes follow its user's role at every call anyway).
    if binding != Binding::User.as_str() {
        let role = organizations::role_in(&mut *tx, org_id, approved_by).await?;
        if !role.is_some_and(|r| r.is_admin()) {
            return Err(OAuthError::InvalidGrant(
                "the user who approved this access is no longer an admin of its organization"
                    .into(),
            ));
        }
    }
    let access_token = tokens::generate(issuer.environment);
    let access_ends = grant_ends.map_or(now + ACCESS_TOKEN_TTL_MS, |end| {
        end.min(now + ACCESS_TOKEN_TTL_MS)
    });
    sqlx::query(
        "UPDATE tokens SET token_hash = $1, hint = $2, access_expires_at = $3 WHERE id = $4",
    )
    .bind(sha256_hex(&access_token))
    .bind(tokens::hint(&access_token))
    .bind(access_ends)
    .bind(token_id)
    .execute(&mut *tx)
    .await?;
    let refresh_token = format!("{REFRESH_PREFIX}{}", random_base62(43));
    sqlx::query(
        "INSERT INTO oauth_refresh_tokens (token_hash, token_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(sha256_hex(&refresh_token))
    .bind(token_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // The previous access token may be cached on any instance under its own hash.
    let announced = db.announce_token_change(&mut tx, token_id).await?;
    tx.commit().await?;
    db.token_changed(token_id, announced).await;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: (access_ends - now) / 1000,
        refresh_token,
        scope: scopes,
    })
}

/// Revokes grant `token_id` (its access and refresh tokens) with `why` in the audit log, when
/// a code or a refresh token turned up a second time.
async fn revoke_grant(db: &Db, token_id: i64, why: &str, now: i64) -> Result<(), OAuthError> {
    let mut tx = db.begin_write().await?;
    let row: Option<(i64, String)> = sqlx::query_as(
        "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING org_id, label",
    )
    .bind(now)
    .bind(token_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((org_id, label)) = row else {
        return Ok(()); // revoked already
    };
    let subject = format!("{label}: {why}");
    let entry = AuditEntry {
        org_id,
        actor_user_id: None,
        action: AuditAction::AppRevoked,
        subject: &subject,
        ip: None,
        token_id: Some(token_id),
    };
    audit::record(&mut *tx, entry, now).await?;
    let announced = db.announce_token_change(&mut tx, token_id).await?;
    tx.commit().await?;
    db.token_changed(token_id, announced).await;
    Ok(())
}

/// The fields of an authorization-code token request.
#[derive(Default)]
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub code_verifier: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub resource: Option<&'a str>,
}

/// Debug output never contains the code or the verifier.
impl std::fmt::Debug for CodeExchange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeExchange")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// `grant_type=authorization_code`: a code is spent by its first presentation, whatever
/// follows; a code presented again revokes the grant made from it.
pub async fn exchange_code(
    db: &Db,
    issuer: &Issuer,
    request: CodeExchange<'_>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    super::clients::require(db, request.client_id).await?;
    let code_hash = sha256_hex(request.code);
    let mut tx = db.begin_write().await?;
    // Spend the code first (the write takes the lock): of two exchanges only one gets it.
    type Row = (String, String, String, String, i64, i64);
    let spent: Option<Row> = sqlx::query_as(
        "UPDATE oauth_authorizations SET code_used_at = $1 WHERE code_hash = $2 AND code_used_at IS NULL \
         RETURNING client_id, redirect_uri, code_challenge, resource, code_expires_at, token_id",
    )
    .bind(now)
    .bind(&code_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((client_id, redirect_uri, challenge, resource, code_ends, token_id)) = spent else {
        drop(tx);
        let used: Option<(i64,)> =
            sqlx::query_as("SELECT token_id FROM oauth_authorizations WHERE code_hash = $1")
                .bind(&code_hash)
                .fetch_optional(&db.pool)
                .await?;
        if let Some((token_id,)) = used {
            revoke_grant(db, token_id, "its authorization code was used twice", now).await?;
            return Err(OAuthError::InvalidGrant(
                "the authorization code was already used; the access it gave is revoked".into(),
            ));
        }
        return Err(OAuthError::InvalidGrant(
            "unknown authorization code".into(),
        ));
    };
    let refusal = if client_id != request.client_id {
        Some(OAuthError::InvalidGrant(
            "the code was issued to another client".into(),
        ))
    } else if code_ends <= now {
        Some(OAuthError::InvalidGrant(
            "the authorization code has expired".into(),
        ))
    } else if request.redirect_uri.is_some_and(|r| r != redirect_uri) {
        Some(OAuthError::InvalidGrant(
            "redirect_uri differs from the authorization request's".into(),
        ))
    } else if request.resource.is_some_and(|r| !issuer.names_resource(r)) {
        Some(OAuthError::InvalidTarget(format!(
            "the code was issued for {resource}"
        )))
    } else if !verifies(request.code_verifier, &challenge) {
        Some(OAuthError::InvalidGrant(
            "code_verifier does not match the code_challenge (PKCE S256)".into(),
        ))
    } else {
        None
    };
    if let Some(refusal) = refusal {
        // The code is spent and its grant will never get a token: it goes (with the code), so
        // that it neither lingers unseen nor counts against the token caps.
        sqlx::query("DELETE FROM tokens WHERE id = $1")
            .bind(token_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Err(refusal);
    }
    mint(db, tx, issuer, token_id, now).await
}

/// `grant_type=refresh_token`: spends the refresh token and issues the next pair. `scope`, if
/// given, may not go beyond the grant's (the grant's scopes are issued either way).
pub async fn refresh(
    db: &Db,
    issuer: &Issuer,
    refresh_token: &str,
    client_id: &str,
    scope: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    super::clients::require(db, client_id).await?;
    let hash = sha256_hex(refresh_token);
    let mut tx = db.begin_write().await?;
    let spent: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE oauth_refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL \
         RETURNING token_id, created_at",
    )
    .bind(now)
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((token_id, issued_at)) = spent else {
        drop(tx);
        return Err(refused_reuse(db, &hash, now).await?);
    };
    if issued_at <= now - REFRESH_IDLE_MS {
        return Err(OAuthError::InvalidGrant(
            "the refresh token was not used for 30 days; connect the app again".into(),
        ));
    }
    let (owner, scopes): (Option<String>, String) =
        sqlx::query_as("SELECT client_id, scopes FROM tokens WHERE id = $1")
            .bind(token_id)
            .fetch_one(&mut *tx)
            .await?;
    if owner.as_deref() != Some(client_id) {
        return Err(OAuthError::InvalidGrant(
            "the refresh token was issued to another client".into(),
        ));
    }
    if let Some(asked) = scope {
        let granted = tokens::scopes_from_text(&scopes);
        let beyond = super::known_scopes(asked)
            .into_iter()
            .find(|s| !granted.contains(s));
        if let Some(beyond) = beyond {
            return Err(OAuthError::InvalidScope(format!(
                "{} was not granted; ask for it with a new authorization",
                beyond.as_str()
            )));
        }
    }
    mint(db, tx, issuer, token_id, now).await
}

/// The answer to a refresh token that is spent or unknown. A spent one means two parties
/// hold it: its grant is revoked, whoever presented it (no grace period: a client whose
/// processes share one store must refresh once, or it is disconnected).
async fn refused_reuse(db: &Db, hash: &str, now: i64) -> Result<OAuthError, OAuthError> {
    let spent: Option<(i64,)> =
        sqlx::query_as("SELECT token_id FROM oauth_refresh_tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&db.pool)
            .await?;
    let Some((token_id,)) = spent else {
        return Ok(OAuthError::InvalidGrant("unknown refresh token".into()));
    };
    revoke_grant(
        db,
        token_id,
        "a spent refresh token was presented again",
        now,
    )
    .await?;
    Ok(OAuthError::InvalidGrant(
        "the refresh token was already used; the grant is revoked".into(),
    ))
}

/// RFC 7009: revokes the grant of an access or refresh token that `client_id` holds. Unknown
/// tokens and other clients' tokens are left alone, and the answer is the same (nothing leaks).
pub async fn revoke_token(
    db: &Db,
    token: &str,
    client_id: &str,
    now: i64,
) -> Result<(), OAuthError> {
    let hash = sha256_hex(token);
    let found: Option<(i64, Option<String>)> = match token.starts_with(REFRESH_PREFIX) {
        true => {
            sqlx::query_as(
                "SELECT t.id, t.client_id FROM oauth_refresh_tokens r JOIN tokens t ON t.id = r.token_id \
                 WHERE r.token_hash = $1",
            )
            .bind(&hash)
            .fetch_optional(&db.pool)
            .await?
        }
        false => {
            sqlx::query_as("SELECT id, client_id FROM tokens WHERE token_hash = $1")
                .bind(&hash)
                .fetch_optional(&db.pool)
                .await?
        }
    };
    match found {
        Some((token_id, Some(owner))) if owner == client_id => {
            revoke_grant(db, token_id, "the app revoked its access", now).await
        }
        _ => Ok(()),
    }
}

/// The grants the actor may see, as Developer › Tokens shows tokens: their own personal
/// grants, and (admins) the organization's; newest first, each with its use this period.
pub async fn connected_apps(db: &Db, actor: &Actor, now: i64) -> ServiceResult<Vec<ConnectedApp>> {
    let used = crate::services::usage::per_token(db, actor, now).await?;
    Ok(tokens::apps(db, actor, now)
        .await?
        .into_iter()
        .map(|(grant, client_id)| {
            let (_, calls, units) = used
                .iter()
                .find(|(id, _, _)| *id == grant.id)
                .copied()
                .unwrap_or_default();
            ConnectedApp {
                // A metadata document's client is named by its URL: its host says who it is.
                client_host: client_id
                    .starts_with("https://")
                    .then(|| super::redirect::host_of(&client_id)),
                grant,
                calls,
                units,
            }
        })
        .collect())
}

/// Forgets refresh tokens spent or issued more than 30 days ago (their reuse is then only
/// `invalid_grant`) and those of ended grants.
pub(super) async fn sweep(db: &Db, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM oauth_refresh_tokens WHERE spent_at <= $1 OR created_at <= $2")
        .bind(now - SPENT_KEPT_MS)
        .bind(now - REFRESH_IDLE_MS)
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "DELETE FROM oauth_refresh_tokens WHERE token_id IN \
         (SELECT id FROM tokens WHERE revoked_at IS NOT NULL OR expires_at <= $1)",
    )
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_verifier_of_rfc_7636_appendix_b_verifies() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifies(verifier, challenge));
        assert!(!verifies(&verifier.replace('d', "e"), challenge));
        assert!(!verifies("short", challenge));
    }
}
