//! OAuth clients: dynamic registration (RFC 7591) and the lookup every request makes.

use serde::Deserialize;
use serde_json::{json, Value};

use super::redirect::check_registrable;
use super::OAuthError;
use crate::secrets::random_base62;
use crate::services::throttle;
use crate::storage::Db;

/// The longest client name kept; it is shown on the consent page and in Connected apps.
const MAX_NAME_CHARS: usize = 80;
const MAX_REDIRECT_URIS: usize = 10;
/// How long a client with no grant is kept.
const UNUSED_KEPT_MS: i64 = 30 * crate::model::DAY_MS;

/// A client as the authorization request needs it.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// Described by a metadata document at its id (a URL), rather than registered here.
    pub from_document: bool,
}

/// The fields of a registration request Tollgate uses; the rest are accepted and ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Registration {
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub scope: Option<String>,
}

/// A name fit to show: trimmed, without control characters, at most [`MAX_NAME_CHARS`].
pub(super) fn clean_name(name: Option<&str>, fallback: &str) -> String {
    let name: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    match name.is_empty() {
        true => fallback.to_string(),
        false => name,
    }
}

/// The redirect URIs of a registration or a metadata document, checked.
pub(super) fn checked_redirect_uris(uris: &[String]) -> Result<(), OAuthError> {
    if uris.is_empty() {
        return Err(OAuthError::InvalidRedirectUri(
            "redirect_uris must list at least one URI".into(),
        ));
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::InvalidRedirectUri(format!(
            "redirect_uris may list at most {MAX_REDIRECT_URIS} URIs"
        )));
    }
    for uri in uris {
        check_registrable(uri).map_err(OAuthError::InvalidRedirectUri)?;
    }
    Ok(())
}

/// Registers a public client and answers what was registered. It is always public (no
/// secret, `token_endpoint_auth_method: none`) whatever it asked for: RFC 7591 §3.2.1 lets the
/// server replace values, and clients use the method the answer names (claude.ai asks for
/// `client_secret_post`). Registrations are limited per client IP; clients unused for 30 days
/// are deleted ([`sweep`]).
pub async fn register(
    db: &Db,
    registration: Registration,
    ip: &str,
    now: i64,
) -> Result<Value, OAuthError> {
    checked_redirect_uris(&registration.redirect_uris)?;
    let _attempt = throttle::reserve(db, &[throttle::client_registration_by_ip(ip)], now).await?;
    let fallback = format!(
        "App at {}",
        super::redirect::host_of(&registration.redirect_uris[0])
    );
    let name = clean_name(registration.client_name.as_deref(), &fallback);
    let client_id = format!("tgc_{}", random_base62(24));
    sqlx::query(
        "INSERT INTO oauth_clients (client_id, kind, name, redirect_uris, client_uri, created_at) \
         VALUES ($1, 'registered', $2, $3, $4, $5)",
    )
    .bind(&client_id)
    .bind(&name)
    .bind(registration.redirect_uris.join("\n"))
    .bind(&registration.client_uri)
    .bind(now)
    .execute(&db.pool)
    .await?;
    let mut answer = json!({
        "client_id": client_id,
        "client_id_issued_at": now / 1000,
        "client_name": name,
        "redirect_uris": registration.redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    });
    if let Some(uri) = registration.client_uri {
        answer["client_uri"] = json!(uri);
    }
    if let Some(scope) = registration.scope {
        answer["scope"] = json!(scope);
    }
    Ok(answer)
}

/// The client stored under `client_id` (registered, or a metadata document's copy).
pub(super) async fn stored(
    conn: &mut sqlx::AnyConnection,
    client_id: &str,
) -> Result<Option<Client>, sqlx::Error> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT kind, name, redirect_uris FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(kind, name, uris)| Client {
        id: client_id.to_string(),
        name,
        redirect_uris: uris.lines().map(str::to_string).collect(),
        from_document: kind == "document",
    }))
}

/// Refuses a token request from a client that is not (or no longer) known: `invalid_client`
/// tells it to register again.
pub(super) async fn require(db: &Db, client_id: &str) -> Result<(), OAuthError> {
    let found: Option<(String,)> =
        sqlx::query_as("SELECT client_id FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&db.pool)
            .await?;
    found.map(|_| ()).ok_or_else(|| {
        OAuthError::InvalidClient(format!("unknown client {client_id:?}; register again"))
    })
}

/// Deletes clients nobody used for 30 days: registered ones without a grant or a request, and
/// copies of metadata documents without a grant (fetched again when they come back).
pub(super) async fn sweep(db: &Db, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM oauth_clients WHERE COALESCE(fresh_until, created_at) <= $1 \
         AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.client_id = oauth_clients.client_id) \
         AND NOT EXISTS (SELECT 1 FROM oauth_authorizations a WHERE a.client_id = oauth_clients.client_id)",
    )
    .bind(now - UNUSED_KEPT_MS)
    .execute(&db.pool)
    .await?;
    Ok(())
}
