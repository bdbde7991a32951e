//! The tool surfaces: MCP (`/mcp`), plain HTTP (`/v1/tools`) and the REST endpoints (`GET
//! /v1/…`), described by `/v1/openapi.json`, all over the one registry and the one enforcement
//! pipeline.
//! Bearer-authenticated: no cookies, no sessions, no CSRF.

#[cfg(feature = "bench")]
mod bench;
pub mod http;
pub mod mcp;
mod openapi;
mod rate_limit;
mod rest;
mod step_up;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{middleware, routing, Json, Router};

use tower_http::limit::RequestBodyLimitLayer;

use crate::enforcement::Surface;
use crate::services::oauth::Issuer;
use crate::state::AppState;
use crate::tools::ToolError;

/// The largest request body either surface reads (a tool call's arguments are small).
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub fn router(state: AppState) -> Router<AppState> {
    let router = Router::new()
        .route("/v1/tools", routing::get(http::catalog))
        .route("/v1/openapi.json", routing::get(openapi::document))
        .route("/v1/tools/{name}", routing::post(http::call_tool))
        .merge(rest::routes())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // rmcp reads the body itself and stops at the same limit.
        .nest_service("/mcp", mcp::service(&state))
        .layer(middleware::from_fn_with_state(Guard::new(&state), guard));
    #[cfg(feature = "bench")]
    let router = match bench::service(&state) {
        Some(bare) => router.nest_service("/bench/bare/mcp", bare),
        None => router,
    };
    router
}

/// What the guard reads, fixed at start; each request clones only the `Arc` around it (cloning
/// the whole `AppState` and building the list of hosts for every request were 2 % of a call's
/// CPU).
struct Guard {
    state: AppState,
    hosts: Vec<String>,
    /// `/mcp`'s 401 challenge: it points OAuth clients to the protected resource metadata.
    challenge: HeaderValue,
}

impl Guard {
    fn new(state: &AppState) -> Arc<Guard> {
        let hosts = allowed_hosts(state);
        let challenge = format!(
            "Bearer realm=\"tollgate\", error=\"invalid_token\", resource_metadata=\"{}\", scope=\"{}\"",
            Issuer::of(&state.config).resource_metadata(),
            crate::services::oauth::default_scope_text()
        );
        let challenge =
            HeaderValue::from_str(&challenge).expect("the public URL is a valid header value");
        let state = state.clone();
        Arc::new(Guard {
            state,
            hosts,
            challenge,
        })
    }
}

/// `Origin` and `Host` are checked before authentication (DNS-rebinding defence); then the
/// bearer token, whose refusal is HTTP 401 with the RFC 6750 challenge on both surfaces.
async fn guard(State(guard): State<Arc<Guard>>, mut request: Request, next: Next) -> Response {
    let state = &guard.state;
    let request_id = request_id(request.headers());
    if let Err(why) = check_host_and_origin(request.headers(), &guard) {
        let body = serde_json::json!({ "error": {
            "code": "forbidden_origin", "message": why, "status": 403, "request_id": request_id } });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    if matches!(request.uri().path(), "/v1/tools" | "/v1/openapi.json") {
        return next.run(request).await; // the catalog and its description are public
    }
    let surface = match request.uri().path().starts_with("/mcp") {
        true => Surface::Mcp,
        false => Surface::Http,
    };
    match crate::enforcement::authenticate(&state.enforcer, request.headers(), surface).await {
        Ok(caller) => {
            if caller.token.audience.is_some() {
                // An OAuth client can ask its user for more scopes: it hears it at HTTP level.
                request = match step_up::check(request, &caller, &guard, &request_id).await {
                    Ok(request) => request,
                    Err(refused) => return refused,
                };
            }
            request.extensions_mut().insert(caller);
            let declared_json = is_json(request.headers());
            let response = next.run(request).await;
            plain_errors_as_json(response, declared_json, &request_id).await
        }
        Err(err) => {
            let mut response = error_response(&err, &request_id);
            if surface == Surface::Mcp {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, guard.challenge.clone());
            }
            response
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The body limit and rmcp answer some refusals in plain text; clients get JSON: the error
/// object for a body over the limit, and for a JSON body rmcp could not decode (rmcp says 415)
/// the JSON-RPC parse error.
async fn plain_errors_as_json(
    response: Response,
    declared_json: bool,
    request_id: &str,
) -> Response {
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            let err = ToolError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            };
            error_response(&err, request_id)
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE if declared_json => {
            let detail = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap_or_default();
            let body = serde_json::json!({ "jsonrpc": "2.0", "id": null, "error": {
                "code": -32700,
                "message": format!("Parse error: the body is not a JSON-RPC message ({})",
                    String::from_utf8_lossy(&detail)),
            } });
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
        _ => response,
    }
}

pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The `/v1` error response; 401s carry the challenge (and so do `/mcp`'s).
pub fn error_response(err: &ToolError, request_id: &str) -> Response {
    let mut response = (err.status(), Json(err.http_body(request_id))).into_response();
    if err.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tollgate\", error=\"invalid_token\""),
        );
    }
    if let Some(seconds) = err.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The hosts a request may address: the public URL's, and the listening address.
pub fn allowed_hosts(state: &AppState) -> Vec<String> {
    let public = state
        .config
        .public_origin()
        .split_once("://")
        .map(|(_, h)| h.to_string())
        .unwrap_or_default();
    let mut hosts = vec![public, state.config.addr.to_string()];
    if state.config.addr.ip().is_loopback() {
        let port = state.config.addr.port();
        hosts.extend([format!("localhost:{port}"), format!("127.0.0.1:{port}")]);
    }
    hosts
}

fn check_host_and_origin(headers: &HeaderMap, guard: &Guard) -> Result<(), String> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !guard.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Err(format!("host {host:?} is not served here"));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let same_host = origin
            .split_once("://")
            .is_some_and(|(_, h)| h.eq_ignore_ascii_case(host));
        if origin != guard.state.config.public_origin() && !same_host {
            return Err(format!("origin {origin:?} is not allowed"));
        }
    }
    Ok(())
}
