//! Tollgate as the OAuth 2.1 authorization server of its own `/mcp` (spec §11, the MCP
//! authorization specification): clients (registered, or described by a metadata document),
//! the authorization request and its consent, the token endpoint's grants with rotating
//! refresh tokens, revocation, and the connected apps a user sees.
//!
//! A grant is a token row with a client: everything that holds for a token (scopes, binding,
//! caps, limits, metering, audit, revocation on every instance) holds for it.

mod authorize;
mod clients;
mod documents;
mod grants;
mod redirect;

pub use authorize::{approve, begin, deny, pending, AuthorizeError, Decision, Problem};
pub use clients::{register, Registration};
pub use grants::{
    connected_apps, exchange_code, refresh, revoke_token, CodeExchange, TokenResponse,
};
pub use redirect::{all_loopback, host_of};

use crate::config::{Config, Environment};
use crate::model::Scope;
use crate::services::tokens;

/// How long an access token works; the client refreshes it after.
pub const ACCESS_TOKEN_TTL_MS: i64 = 3_600_000;
/// How long an authorization code may wait for its exchange (OAuth 2.1 says at most 10 minutes).
pub const CODE_TTL_MS: i64 = 60_000;
/// How long a user has to decide on the consent page.
pub const REQUEST_TTL_MS: i64 = 10 * 60_000;

/// The authorization server as the protocol sees it: its issuer (the public URL), the one
/// resource it issues tokens for (`<issuer>/mcp`) and the environment of those tokens.
#[derive(Clone, Debug)]
pub struct Issuer {
    pub url: String,
    pub resource: String,
    pub environment: Environment,
}

impl Issuer {
    pub fn of(config: &Config) -> Issuer {
        Issuer {
            url: config.public_url.clone(),
            resource: config.mcp_resource(),
            environment: config.environment,
        }
    }

    /// Where `/mcp`'s protected resource metadata is (RFC 9728, path-suffixed): what the 401
    /// and 403 challenges point clients to.
    pub fn resource_metadata(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.url)
    }

    /// Whether a request's `resource` names this server's `/mcp` (RFC 8707): scheme and host
    /// compared without case, a default port as if left out (URL parsing does both), the rest
    /// exactly. The one comparison of `/authorize` and `/token`.
    pub fn names_resource(&self, resource: &str) -> bool {
        match (url::Url::parse(resource), url::Url::parse(&self.resource)) {
            (Ok(asked), Ok(ours)) => asked == ours,
            _ => false,
        }
    }
}

/// Deletes what the protocol left behind: unused registrations, undecided requests, unexchanged
/// codes (with the grants made for them), long-spent refresh tokens.
pub async fn sweep(db: &crate::storage::Db, now: i64) -> Result<(), sqlx::Error> {
    authorize::sweep(db, now).await?;
    clients::sweep(db, now).await?;
    grants::sweep(db, now).await
}

/// The one value of parameter `name` among a request's `pairs` (a query or a form, in order);
/// `Err(name)` when it is given more than once (RFC 6749 §3.1, §3.2).
pub fn single_param<'a>(
    pairs: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, &'static str> {
    let mut values = pairs
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    match values.next() {
        None => Ok(first),
        Some(_) => Err(name),
    }
}

/// What a client gets when it asks for no scope: the read scopes a new token gets by default.
pub fn default_scopes() -> Vec<Scope> {
    Scope::ALL.into_iter().filter(|s| s.is_default()).collect()
}

/// [`default_scopes`] as a `scope` parameter: what a client should ask for when it knows
/// nothing else (RFC 9728 `scopes_supported`, the 401's `scope`).
pub fn default_scope_text() -> String {
    tokens::scopes_to_text(&default_scopes())
}

/// The scopes of a space-separated `scope` parameter that Tollgate knows, in the catalog's
/// order; others (`offline_access`, another server's) are dropped (RFC 6749 §3.3).
pub fn known_scopes(scope: &str) -> Vec<Scope> {
    let asked: Vec<&str> = scope.split_whitespace().collect();
    Scope::ALL
        .into_iter()
        .filter(|s| asked.contains(&s.as_str()))
        .collect()
}

/// An OAuth protocol error: a registered code (RFC 6749 §4.1.2.1 and §5.2, RFC 7009, RFC 7591,
/// RFC 8707) and a description for the client's developer.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("grant_type must be authorization_code or refresh_token")]
    UnsupportedGrantType,
    #[error("response_type must be code")]
    UnsupportedResponseType,
    #[error("token_type_hint must be access_token or refresh_token")]
    UnsupportedTokenType,
    #[error("the user did not allow the access")]
    AccessDenied,
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("{0}")]
    InvalidClientMetadata(String),
    #[error("{0}")]
    Throttled(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidTarget(_) => "invalid_target",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::UnsupportedResponseType => "unsupported_response_type",
            OAuthError::UnsupportedTokenType => "unsupported_token_type",
            OAuthError::AccessDenied => "access_denied",
            OAuthError::InvalidRedirectUri(_) => "invalid_redirect_uri",
            OAuthError::InvalidClientMetadata(_) => "invalid_client_metadata",
            OAuthError::Throttled(_) => "temporarily_unavailable",
            OAuthError::Database(_) => "server_error",
        }
    }
}

impl From<crate::services::ServiceError> for OAuthError {
    fn from(err: crate::services::ServiceError) -> Self {
        use crate::services::ServiceError;
        match err {
            ServiceError::Database(e) => OAuthError::Database(e),
            ServiceError::Throttled(m) => OAuthError::Throttled(m),
            other => OAuthError::InvalidRequest(other.to_string()),
        }
    }
}
