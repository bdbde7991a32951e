//! The authorization request (RFC 6749 §4.1.1 with PKCE S256, RFC 8707's `resource`): checked
//! at `/authorize`, kept while the user decides on the consent page (found by a random id, so
//! the page's form carries no copy of the request), then answered on the redirect URI it named
//! with a one-time code, or an error, always with `state` and `iss` (RFC 9207).

use url::Url;

use super::clients::{self, Client};
use super::documents;
use super::redirect;
use super::{Issuer, CODE_TTL_MS, REQUEST_TTL_MS};
use crate::model::{Reach, Scope};
use crate::outbound::Outbound;
use crate::secrets::{random_base62, sha256_hex};
use crate::services::organizations::Actor;
use crate::services::throttle;
use crate::services::tokens::{self, GrantTo, NewToken, MAX_LABEL_CHARS};
use crate::services::{ServiceError, ServiceResult};
use crate::storage::Db;

/// The longest `state` kept: clients send a random value of a few dozen characters.
const MAX_STATE_CHARS: usize = 1024;

/// What is wrong with a request that cannot be sent back: without a client and one of its
/// redirect URIs, an error would go wherever the request says (RFC 6749 §4.1.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    MissingClientId,
    UnknownClient,
    ClientDocument(String),
    MissingRedirectUri,
    UnregisteredRedirectUri,
    RepeatedParameter(&'static str),
}

impl Problem {
    /// The code the error page is addressed by (its text is the page's, never the URL's).
    pub fn code(&self) -> &'static str {
        match self {
            Problem::MissingClientId => "missing_client_id",
            Problem::UnknownClient => "unknown_client",
            Problem::ClientDocument(_) => "client_document",
            Problem::MissingRedirectUri => "missing_redirect_uri",
            Problem::UnregisteredRedirectUri => "unregistered_redirect_uri",
            Problem::RepeatedParameter(_) => "repeated_parameter",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// Shown on Tollgate's own page.
    #[error("the authorization request cannot be answered: {0:?}")]
    Show(Problem),
    /// To be sent back to the client: `to` is its redirect URI with `error`, `state` and `iss`.
    #[error("the authorization request was refused: {error}")]
    Refused {
        to: String,
        error: super::OAuthError,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The redirect URI with `pairs` and the issuer added to its query.
fn answer(redirect_uri: &str, pairs: &[(&str, &str)], issuer: &Issuer) -> String {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_string();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        query.append_pair("iss", &issuer.url);
    }
    url.into()
}

fn error_answer(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &Issuer,
    err: &super::OAuthError,
) -> String {
    let description = err.to_string();
    let mut pairs = vec![
        ("error", err.code()),
        ("error_description", description.as_str()),
    ];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    answer(redirect_uri, &pairs, issuer)
}

/// A PKCE S256 challenge: 43 base64url characters (a SHA-256).
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks an authorization request (`params`: its query, in order) and keeps it for the
/// consent page; returns the page's id.
pub async fn begin(
    db: &Db,
    outbound: &Outbound,
    issuer: &Issuer,
    params: &[(String, String)],
    ip: &str,
    now: i64,
) -> Result<String, AuthorizeError> {
    let one = |name: &'static str| super::single_param(params, name);
    let show = |p: Problem| AuthorizeError::Show(p);
    let client_id = one("client_id")
        .map_err(|n| show(Problem::RepeatedParameter(n)))?
        .ok_or(show(Problem::MissingClientId))?;
    let client: Client = match documents::is_document_id(client_id) {
        true => documents::resolve(db, outbound, client_id, now).await?,
        false => {
            let mut conn = db.pool.acquire().await?;
            clients::stored(&mut conn, client_id)
                .await?
                .ok_or(show(Problem::UnknownClient))?
        }
    };
    let redirect_uri = one("redirect_uri")
        .map_err(|n| show(Problem::RepeatedParameter(n)))?
        .ok_or(show(Problem::MissingRedirectUri))?;
    if !redirect::is_registered(&client.redirect_uris, redirect_uri) {
        return Err(show(Problem::UnregisteredRedirectUri));
    }
    // From here on the client is told, on its own redirect URI.
    use super::OAuthError as E;
    let state = one("state").ok().flatten();
    let refused_with = |state: Option<&str>, error: E| AuthorizeError::Refused {
        to: error_answer(redirect_uri, state, issuer, &error),
        error,
    };
    let refuse = |error: E| refused_with(state, error);
    let repeated = |name: &str| {
        refuse(E::InvalidRequest(format!(
            "{name} was given more than once"
        )))
    };
    let state = one("state").map_err(repeated)?;
    if state.is_some_and(|s| s.len() > MAX_STATE_CHARS) {
        let error = E::InvalidRequest(format!("state is longer than {MAX_STATE_CHARS} characters"));
        return Err(refused_with(None, error));
    }
    if one("response_type").map_err(repeated)? != Some("code") {
        return Err(refuse(E::UnsupportedResponseType));
    }
    let challenge = one("code_challenge").map_err(repeated)?.ok_or_else(|| {
        refuse(E::InvalidRequest(
            "code_challenge is required (PKCE with S256)".into(),
        ))
    })?;
    if one("code_challenge_method").map_err(repeated)? != Some("S256") {
        return Err(refuse(E::InvalidRequest(
            "code_challenge_method must be S256".into(),
        )));
    }
    if !is_s256_challenge(challenge) {
        return Err(refuse(E::InvalidRequest(
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)".into(),
        )));
    }
    let resource = match one("resource") {
        Err(_) => {
            return Err(refuse(E::InvalidTarget(
                "one resource only: this server issues tokens for its /mcp".into(),
            )))
        }
        Ok(None) => issuer.resource.clone(),
        Ok(Some(asked)) if issuer.names_resource(asked) => issuer.resource.clone(),
        Ok(Some(asked)) => {
            return Err(refuse(E::InvalidTarget(format!(
                "{asked} is not served here; the resource is {}",
                issuer.resource
            ))))
        }
    };
    let scopes = match one("scope").map_err(repeated)? {
        None => super::default_scopes(),
        Some(asked) => {
            let known = super::known_scopes(asked);
            if known.is_empty() {
                return Err(refuse(E::InvalidScope(format!(
                    "none of {asked:?} is a scope of this server"
                ))));
            }
            known
        }
    };
    // Each request is a row until it is decided or ends: a client's requests are counted per
    // address, and ended ones go as new ones come.
    let _counted = throttle::reserve(db, &[throttle::authorization_by_ip(ip)], now)
        .await
        .map_err(|e| refuse(E::from(e)))?;
    sqlx::query("DELETE FROM oauth_authorizations WHERE code_hash IS NULL AND expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    let id = random_base62(32);
    sqlx::query(
        "INSERT INTO oauth_authorizations (id_hash, client_id, redirect_uri, state, code_challenge, resource, \
         scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(sha256_hex(&id))
    .bind(&client.id)
    .bind(redirect_uri)
    .bind(state)
    .bind(challenge)
    .bind(&resource)
    .bind(tokens::scopes_to_text(&scopes))
    .bind(now)
    .bind(now + REQUEST_TTL_MS)
    .execute(&db.pool)
    .await?;
    Ok(id)
}

/// A request waiting for the user's decision, as the consent page shows it.
#[derive(Clone, Debug)]
pub struct Pending {
    pub client: Client,
    pub redirect_uri: String,
    pub scopes: Vec<Scope>,
    pub expires_at: i64,
}

fn ended() -> ServiceError {
    ServiceError::NotFound(
        "This authorization request has ended (they last 10 minutes and are answered once). \
         Go back to the app and connect again."
            .into(),
    )
}

/// The request behind consent page `id`, while it waits for a decision.
pub async fn pending(db: &Db, id: &str, now: i64) -> ServiceResult<Pending> {
    let mut conn = db.pool.acquire().await?;
    let row: Option<(String, String, String, i64)> = sqlx::query_as(
        "SELECT client_id, redirect_uri, scopes, expires_at FROM oauth_authorizations \
         WHERE id_hash = $1 AND code_hash IS NULL AND expires_at > $2",
    )
    .bind(sha256_hex(id))
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let (client_id, redirect_uri, scopes, expires_at) = row.ok_or_else(ended)?;
    let client = clients::stored(&mut conn, &client_id)
        .await?
        .ok_or_else(ended)?;
    Ok(Pending {
        client,
        redirect_uri,
        scopes: tokens::scopes_from_text(&scopes),
        expires_at,
    })
}

/// What the user chose on the consent page.
#[derive(Clone, Debug)]
pub struct Decision {
    pub reach: Reach,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<i64>,
}

/// Approves consent page `id` as `actor`: makes the grant (under the rules of any token the
/// actor creates) and a one-time code for it; returns where the browser goes next.
pub async fn approve(
    db: &Db,
    issuer: &Issuer,
    actor: &Actor,
    id: &str,
    decision: Decision,
    ip: Option<&str>,
    now: i64,
) -> ServiceResult<String> {
    if decision.reach.profile_id().is_some() {
        return Err(ServiceError::Invalid(
            "A connected app reaches a workspace, an organization or your own: keys for one profile are made on Developer › Tokens.".into(),
        ));
    }
    let code = random_base62(43);
    let mut tx = db.begin_write().await?;
    // Claim the request first: of two approvals only one gets it.
    let claimed = sqlx::query(
        "UPDATE oauth_authorizations SET code_hash = $1, code_expires_at = $2 \
         WHERE id_hash = $3 AND code_hash IS NULL AND expires_at > $4",
    )
    .bind(sha256_hex(&code))
    .bind(now + CODE_TTL_MS)
    .bind(sha256_hex(id))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(ended());
    }
    let (client_id, redirect_uri, state, resource, asked): (String, String, Option<String>, String, String) =
        sqlx::query_as(
            "SELECT client_id, redirect_uri, state, resource, scopes FROM oauth_authorizations WHERE id_hash = $1",
        )
        .bind(sha256_hex(id))
        .fetch_one(&mut *tx)
        .await?;
    let asked = tokens::scopes_from_text(&asked);
    if let Some(extra) = decision.scopes.iter().find(|s| !asked.contains(s)) {
        return Err(ServiceError::Invalid(format!(
            "The app did not ask for {}.",
            extra.as_str()
        )));
    }
    let client = clients::stored(&mut tx, &client_id)
        .await?
        .ok_or_else(ended)?;
    let new = NewToken {
        label: client.name.chars().take(MAX_LABEL_CHARS).collect(),
        scopes: decision.scopes,
        binding: decision.reach.binding(),
        workspace_id: decision.reach.workspace_id(),
        profile_id: None,
        expires_at: decision.expires_at,
    };
    let to = GrantTo {
        client_id: &client_id,
        audience: &resource,
    };
    let token_id =
        tokens::create_grant(&mut tx, actor, issuer.environment, new, to, ip, now).await?;
    sqlx::query("UPDATE oauth_authorizations SET token_id = $1 WHERE id_hash = $2")
        .bind(token_id)
        .bind(sha256_hex(id))
        .execute(&mut *tx)
        .await?;
    // A registered client is one installation: its new grant (after a step-up, or after it lost
    // its tokens) replaces the user's earlier ones. A metadata document names every
    // installation of an app at once, so its grants stay side by side.
    let replaced: Vec<(i64,)> = match client.from_document {
        true => Vec::new(),
        false => {
            sqlx::query_as(
                "UPDATE tokens SET revoked_at = $1 WHERE client_id = $2 AND created_by = $3 AND id <> $4 \
                 AND revoked_at IS NULL RETURNING id",
            )
            .bind(now)
            .bind(&client_id)
            .bind(actor.user_id)
            .bind(token_id)
            .fetch_all(&mut *tx)
            .await?
        }
    };
    let mut announced = Vec::new();
    for (old,) in &replaced {
        announced.push((*old, db.announce_token_change(&mut tx, *old).await?));
    }
    tx.commit().await?;
    for (old, waiter) in announced {
        db.token_changed(old, waiter).await;
    }
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = state.as_deref() {
        pairs.push(("state", state));
    }
    Ok(answer(&redirect_uri, &pairs, issuer))
}

/// Denies consent page `id`: the client hears `access_denied`.
pub async fn deny(db: &Db, issuer: &Issuer, id: &str, now: i64) -> ServiceResult<String> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "DELETE FROM oauth_authorizations WHERE id_hash = $1 AND code_hash IS NULL AND expires_at > $2 \
         RETURNING redirect_uri, state",
    )
    .bind(sha256_hex(id))
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    let (redirect_uri, state) = row.ok_or_else(ended)?;
    Ok(error_answer(
        &redirect_uri,
        state.as_deref(),
        issuer,
        &super::OAuthError::AccessDenied,
    ))
}

/// Deletes requests nobody decided on, and grants whose code ended without giving them a
/// token (they never had a usable one).
pub(super) async fn sweep(db: &Db, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM tokens WHERE id IN (SELECT token_id FROM oauth_authorizations WHERE code_expires_at <= $1) \
         AND NOT EXISTS (SELECT 1 FROM oauth_refresh_tokens r WHERE r.token_id = tokens.id)",
    )
    .bind(now)
    .execute(&db.pool)
    .await?;
    sqlx::query("DELETE FROM oauth_authorizations WHERE code_hash IS NULL AND expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    // Used codes are remembered for a day, to catch their reuse.
    sqlx::query("DELETE FROM oauth_authorizations WHERE code_expires_at <= $1")
        .bind(now - crate::model::DAY_MS)
        .execute(&db.pool)
        .await?;
    Ok(())
}
