//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a client named
//! by an https URL describes itself in a JSON document at that URL. It is fetched through the
//! outbound guard (public addresses only unless the operator allows a range for these fetches,
//! `TOLLGATE_CLIENT_DOCUMENT_ALLOW`; no redirects),
//! bounded in size and time, and kept as long as its HTTP caching says (5 minutes to a day);
//! an invalid document is never kept.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use url::Url;

use super::authorize::{AuthorizeError, Problem};
use super::clients::{checked_redirect_uris, clean_name, Client};
use crate::outbound::{self, Outbound};
use crate::services::throttle;
use crate::storage::Db;

/// The document size the draft recommends as a maximum (§6.6).
const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
const MIN_FRESH_MS: i64 = 5 * 60_000;
const MAX_FRESH_MS: i64 = 24 * 60 * 60_000;
/// Fetches one instance makes at once.
static FETCHES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(8);

/// Whether `client_id` names a metadata document (registered clients' ids never start so).
pub(super) fn is_document_id(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

/// The URL rules of §3: https, a path other than `/`, no fragment, user info, query or dot
/// segments (it must be the one string the document itself states).
fn check_url(client_id: &str) -> Result<Url, String> {
    let url = Url::parse(client_id).map_err(|e| format!("not a URL: {e}"))?;
    let raw_path = client_id
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("");
    if url.scheme() != "https" || url.path() == "/" || raw_path.is_empty() {
        return Err("must be an https URL with a path".into());
    }
    if url.fragment().is_some()
        || url.query().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err("must have no query, fragment or user info".into());
    }
    if raw_path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("must have no dot segments".into());
    }
    Ok(url)
}

/// The fields of a document Tollgate reads; the others are ignored.
#[derive(Deserialize)]
struct Document {
    client_id: String,
    client_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    client_secret: Option<serde_json::Value>,
    client_secret_expires_at: Option<serde_json::Value>,
}

/// How long a fetched document may be used, from its `Cache-Control` (milliseconds).
fn freshness(cache_control: Option<&str>) -> i64 {
    let Some(value) = cache_control else {
        return MIN_FRESH_MS;
    };
    let mut fresh = MIN_FRESH_MS;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return 0;
        }
        if let Some(seconds) = directive
            .strip_prefix("max-age=")
            .and_then(|s| s.parse::<i64>().ok())
        {
            fresh = (seconds.saturating_mul(1000)).clamp(MIN_FRESH_MS, MAX_FRESH_MS);
        }
    }
    fresh
}

fn refused(why: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Show(Problem::ClientDocument(why.into()))
}

/// The client a metadata document at `client_id` describes: the stored copy while fresh,
/// else fetched, checked and stored.
pub(super) async fn resolve(
    db: &Db,
    outbound: &Outbound,
    client_id: &str,
    now: i64,
) -> Result<Client, AuthorizeError> {
    let fresh: Option<(i64,)> = sqlx::query_as(
        "SELECT fresh_until FROM oauth_clients WHERE client_id = $1 AND kind = 'document' AND fresh_until > $2",
    )
    .bind(client_id)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    if fresh.is_some() {
        let mut conn = db.pool.acquire().await?;
        if let Some(client) = super::clients::stored(&mut conn, client_id).await? {
            return Ok(client);
        }
    }
    let url = check_url(client_id).map_err(|why| refused(format!("client_id {why}")))?;
    let host = url.host_str().unwrap_or_default().to_string();
    let _counted = throttle::reserve(db, &[throttle::client_document_fetch(client_id)], now)
        .await
        .map_err(|e| refused(e.to_string()))?;
    // Anyone can name any URL: this instance fetches a few at a time, whatever the hosts.
    let _slot = FETCHES
        .try_acquire()
        .map_err(|_| refused("too many client descriptions are being fetched right now"))?;
    let (document, fresh_ms) = fetch(outbound, url).await.map_err(refused)?;
    if document.client_id != client_id {
        return Err(refused("the document's client_id is not its own URL"));
    }
    if document.client_secret.is_some() || document.client_secret_expires_at.is_some() {
        return Err(refused("a metadata document may not hold a client secret"));
    }
    if document
        .token_endpoint_auth_method
        .as_deref()
        .is_some_and(|m| m != "none")
    {
        return Err(refused(
            "only public clients (token_endpoint_auth_method none) are supported",
        ));
    }
    checked_redirect_uris(&document.redirect_uris).map_err(|e| refused(e.to_string()))?;
    let name = document
        .client_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| refused("the document has no client_name"))?;
    let client = Client {
        id: client_id.to_string(),
        name: clean_name(Some(name), &host),
        redirect_uris: document.redirect_uris,
        from_document: true,
    };
    sqlx::query(
        "INSERT INTO oauth_clients (client_id, kind, name, redirect_uris, created_at, fresh_until) \
         VALUES ($1, 'document', $2, $3, $4, $5) ON CONFLICT (client_id) DO UPDATE \
         SET name = excluded.name, redirect_uris = excluded.redirect_uris, fresh_until = excluded.fresh_until",
    )
    .bind(&client.id)
    .bind(&client.name)
    .bind(client.redirect_uris.join("\n"))
    .bind(now)
    .bind(now + fresh_ms)
    .execute(&db.pool)
    .await?;
    Ok(client)
}

/// GETs the document: 200, JSON, at most [`MAX_DOCUMENT_BYTES`], within [`FETCH_TIMEOUT`].
async fn fetch(outbound: &Outbound, url: Url) -> Result<(Document, i64), String> {
    let request = outbound
        .request(Method::GET, url.as_str())
        .map_err(|e| e.to_string())?
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(FETCH_TIMEOUT);
    let mut response = request
        .send()
        .await
        .map_err(|e| outbound::failure(&e).to_string())?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!(
            "the document answered HTTP {}",
            response.status().as_u16()
        ));
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !(mime.starts_with("application/") && mime.ends_with("+json"))
    {
        return Err(format!("the document is {mime:?}, not JSON"));
    }
    let fresh_ms = freshness(header(reqwest::header::CACHE_CONTROL).as_deref());
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| outbound::failure(&e).to_string())?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "the document is larger than {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
    }
    let document = serde_json::from_slice(&body)
        .map_err(|e| format!("the document is not a client description: {e}"))?;
    Ok((document, fresh_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_urls_follow_the_drafts_rules() {
        assert!(check_url("https://claude.ai/oauth/claude-code-client-metadata").is_ok());
        for bad in [
            "http://app.example/client",
            "https://app.example",
            "https://app.example/",
            "https://app.example/client?x=1",
            "https://app.example/client#f",
            "https://user@app.example/client",
            "https://app.example/a/../client",
            "https://app.example/./client",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn caching_is_honoured_within_bounds() {
        assert_eq!(freshness(None), MIN_FRESH_MS);
        assert_eq!(freshness(Some("public, max-age=3600")), 3_600_000);
        assert_eq!(freshness(Some("max-age=10")), MIN_FRESH_MS);
        assert_eq!(freshness(Some("max-age=999999")), MAX_FRESH_MS);
        assert_eq!(freshness(Some("no-store")), 0);
    }
}
