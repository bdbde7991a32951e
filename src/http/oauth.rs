//! The OAuth endpoints (thin: the rules are `services::oauth`'s): the metadata documents
//! (RFC 9728, RFC 8414), `/authorize`, the consent page's decision, `/token`, `/register`
//! (RFC 7591) and `/revoke` (RFC 7009), and the one mapping of OAuth errors to responses.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tower_http::cors::{Any, CorsLayer};

use crate::model::{chosen_expiry, Reach, Scope};
use crate::services::oauth::{self, AuthorizeError, CodeExchange, Decision, Issuer, OAuthError};
use crate::services::ServiceError;
use crate::state::AppState;

/// The largest form or JSON body an OAuth endpoint reads.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The public protocol endpoints: no session, any origin (browser-based clients call them).
pub fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            "mcp-protocol-version".parse().expect("a header name"),
        ]);
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(server_metadata),
        )
        // The 2025-11-25 revision lets clients try the OpenID path too; same document.
        .route("/.well-known/openid-configuration", get(server_metadata))
        .route("/token", post(token))
        .route("/register", post(register))
        .route("/revoke", post(revoke))
        .layer(cors)
        .route("/authorize", get(authorize))
}

async fn resource_metadata(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "resource": state.config.mcp_resource(),
        "authorization_servers": [state.config.public_url],
        "scopes_supported": oauth::default_scopes().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "bearer_methods_supported": ["header"],
        "resource_name": "Tollgate",
    }))
}

async fn server_metadata(State(state): State<AppState>) -> Json<Value> {
    let base = &state.config.public_url;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "registration_endpoint": format!("{base}/register"),
        "revocation_endpoint": format!("{base}/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
    }))
}

/// A form body's fields in order (repeats kept: a repeated parameter is an error).
fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// The one value of `name` in `pairs`; a repeat is `invalid_request` (RFC 6749 §3.2).
fn single<'a>(
    pairs: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, OAuthError> {
    oauth::single_param(pairs, name)
        .map_err(|name| OAuthError::InvalidRequest(format!("{name} was given more than once")))
}

fn required<'a>(pairs: &'a [(String, String)], name: &'static str) -> Result<&'a str, OAuthError> {
    single(pairs, name)?.ok_or_else(|| OAuthError::InvalidRequest(format!("{name} is required")))
}

async fn read_body(
    request: Request,
) -> Result<(axum::http::request::Parts, axum::body::Bytes), OAuthError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            OAuthError::InvalidRequest(format!("the body is over {MAX_BODY_BYTES} bytes"))
        })?;
    Ok((parts, bytes))
}

/// Token responses are never cached (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The one mapping of OAuth errors to responses: `{error, error_description}` (RFC 6749 §5.2).
impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match &self {
            OAuthError::Database(e) => {
                tracing::error!(error = %e, "OAuth endpoint");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            OAuthError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        };
        let description = match &self {
            OAuthError::Database(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        let body = json!({ "error": self.code(), "error_description": description });
        no_store((status, Json(body)).into_response())
    }
}

/// The longest authorization request read (its query): clients send well under 2 KB.
const MAX_QUERY_BYTES: usize = 8 * 1024;

async fn authorize(State(state): State<AppState>, request: Request) -> Response {
    let query = request.uri().query().unwrap_or_default();
    if query.len() > MAX_QUERY_BYTES {
        return no_store(Redirect::to("/authorize/failed?reason=too_long").into_response());
    }
    let params = form_pairs(query.as_bytes());
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = state.config.client_ip(request.headers(), peer);
    let issuer = Issuer::of(&state.config);
    let now = crate::storage::now_ms();
    let begun = oauth::begin(
        &state.db,
        &state.client_documents,
        &issuer,
        &params,
        &ip,
        now,
    )
    .await;
    let response = match begun {
        Ok(id) => Redirect::to(&format!("/consent/{id}")).into_response(),
        Err(AuthorizeError::Refused { to, error }) => refused_page(&to, &error),
        Err(AuthorizeError::Show(problem)) => {
            if let oauth::Problem::ClientDocument(why) = &problem {
                tracing::info!(why, "client metadata document refused");
            }
            Redirect::to(&format!("/authorize/failed?reason={}", problem.code())).into_response()
        }
        Err(AuthorizeError::Database(e)) => return OAuthError::Database(e).into_response(),
    };
    no_store(response)
}

async fn token(State(state): State<AppState>, request: Request) -> Response {
    let result = async {
        let (_, body) = read_body(request).await?;
        let pairs = form_pairs(&body);
        let issuer = Issuer::of(&state.config);
        let now = crate::storage::now_ms();
        let client_id = required(&pairs, "client_id")?;
        let resource = single(&pairs, "resource")?;
        match required(&pairs, "grant_type")? {
            "authorization_code" => {
                let exchange = CodeExchange {
                    code: required(&pairs, "code")?,
                    code_verifier: required(&pairs, "code_verifier")?,
                    client_id,
                    redirect_uri: single(&pairs, "redirect_uri")?,
                    resource,
                };
                oauth::exchange_code(&state.db, &issuer, exchange, now).await
            }
            "refresh_token" => {
                if resource.is_some_and(|r| r != issuer.resource) {
                    return Err(OAuthError::InvalidTarget(format!(
                        "tokens are issued for {} only",
                        issuer.resource
                    )));
                }
                let refresh_token = required(&pairs, "refresh_token")?;
                let scope = single(&pairs, "scope")?;
                oauth::refresh(&state.db, &issuer, refresh_token, client_id, scope, now).await
            }
            _ => Err(OAuthError::UnsupportedGrantType),
        }
    }
    .await;
    match result {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(err) => err.into_response(),
    }
}

async fn register(State(state): State<AppState>, request: Request) -> Response {
    let result = async {
        let (parts, body) = read_body(request).await?;
        let registration: oauth::Registration = serde_json::from_slice(&body).map_err(|e| {
            OAuthError::InvalidClientMetadata(format!("the body is not a registration: {e}"))
        })?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let ip = state.config.client_ip(&parts.headers, peer);
        oauth::register(&state.db, registration, &ip, crate::storage::now_ms()).await
    }
    .await;
    match result {
        Ok(client) => no_store((StatusCode::CREATED, Json(client)).into_response()),
        Err(err) => err.into_response(),
    }
}

async fn revoke(State(state): State<AppState>, request: Request) -> Response {
    let result = async {
        let (_, body) = read_body(request).await?;
        let pairs = form_pairs(&body);
        let token = required(&pairs, "token")?;
        let client_id = required(&pairs, "client_id")?;
        match single(&pairs, "token_type_hint")? {
            None | Some("access_token" | "refresh_token") => {}
            Some(_) => return Err(OAuthError::UnsupportedTokenType),
        }
        oauth::revoke_token(&state.db, token, client_id, crate::storage::now_ms()).await
    }
    .await;
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(err) => err.into_response(),
    }
}

/// Why the consent page refused a decision, by code (the page has the words: nothing a link
/// carries is shown as text).
fn refusal_code(err: &ServiceError) -> &'static str {
    match err {
        ServiceError::Forbidden(_) => "not_allowed",
        ServiceError::Conflict(_) => "cap",
        ServiceError::NotFound(_) => "ended",
        _ => "invalid",
    }
}

/// The consent page's form (`POST /consent`, in the session's router): Approve or Deny. A
/// plain form post, so it works without JavaScript. The browser is sent back to the client by
/// a page that refreshes to it: a redirect would be blocked by the dashboard's CSP
/// `form-action 'self'`, which browsers apply to a form's redirects too.
pub async fn decide(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = match read_body(request).await {
        Ok(read) => read,
        Err(err) => return err.into_response(),
    };
    let pairs = form_pairs(&body);
    let field = |name: &'static str| single(&pairs, name).ok().flatten().unwrap_or_default();
    let id = field("id");
    let back = |code: &str| Redirect::to(&format!("/consent/{id}?refused={code}")).into_response();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Redirect::to("/authorize/failed?reason=ended").into_response();
    }
    let ctx = match crate::api::context::RequestContext::of(&parts) {
        Ok(ctx) => ctx,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let issuer = Issuer::of(&state.config);
    let now = crate::storage::now_ms();
    let outcome = match field("decision") {
        "deny" => oauth::deny(&state.db, &issuer, id, now).await,
        "approve" => {
            let actor = match ctx.actor().await {
                Ok(actor) => actor,
                Err(_) => {
                    return Redirect::to(&format!("/signin?next=/consent/{id}")).into_response()
                }
            };
            let scopes: Vec<Scope> = pairs
                .iter()
                .filter(|(n, _)| n == "scope")
                .filter_map(|(_, v)| Scope::parse(v))
                .collect();
            let (Some(reach), Ok(expires_at)) = (
                Reach::parse(field("reach")),
                chosen_expiry(field("expiry"), Some(field("expiry_date")), now),
            ) else {
                return back("invalid");
            };
            if scopes.is_empty() {
                return back("no_scope");
            }
            let decision = Decision {
                reach,
                scopes,
                expires_at,
            };
            oauth::approve(&state.db, &issuer, &actor, id, decision, Some(&ctx.ip), now).await
        }
        _ => return back("invalid"),
    };
    match outcome {
        Ok(to) => no_store(leave_for(&to)),
        Err(ServiceError::Database(e)) => OAuthError::Database(e).into_response(),
        Err(err) => back(refusal_code(&err)),
    }
}

/// A page that sends the browser on to `to` at once (and says where, for a browser that waits).
fn leave_for(to: &str) -> Response {
    let to = html_escape(to);
    page(
        "Returning to the app",
        &format!("<meta http-equiv=\"refresh\" content=\"0; url={to}\">"),
        &format!("<p>Returning to the app… <a href=\"{to}\">Continue</a></p>"),
    )
}

/// A refused authorization request: the error is shown here, and the user takes it back to
/// the client by a link. Sent on automatically, the redirect would make Tollgate's address a
/// way to any site that registered itself as a client (RFC 9700 §4.11.2).
fn refused_page(to: &str, error: &OAuthError) -> Response {
    let host = oauth::host_of(to);
    let body = format!(
        "<p class=\"notice notice-error\" role=\"alert\">{} ({})</p>\
         <p>Nothing was granted. <a href=\"{}\">Return to {}</a> to tell the app.</p>",
        html_escape(&error.to_string()),
        error.code(),
        html_escape(to),
        html_escape(&host),
    );
    page("The app's request was refused", "", &body)
}

/// A page of the protocol's own, outside the app, in the sign-in card's style; `head` and
/// `body` are HTML whose text the callers escaped.
fn page(title: &str, head: &str, body: &str) -> Response {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{head}\
         <title>{title} · Tollgate</title><link rel=\"stylesheet\" href=\"/pkg/tollgate.css\"></head>\
         <body><main class=\"auth-page\"><div class=\"auth-card\"><p class=\"brand\">\
         <span class=\"brand-mark\" aria-hidden=\"true\">◆</span>Tollgate</p><h1>{title}</h1>{body}</div></main></body></html>"
    ))
    .into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
