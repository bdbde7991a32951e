//! The tool surfaces: MCP (`/mcp`) and plain HTTP (`/v1/tools`), both over the one registry
//! and the one enforcement pipeline. Bearer-authenticated: no cookies, no sessions, no CSRF.

pub mod http;
pub mod mcp;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{middleware, routing, Json, Router};

use crate::enforcement::ToolError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/v1/tools", routing::get(http::catalog))
        .route("/v1/tools/{name}", routing::post(http::call_tool))
        .nest_service("/mcp", mcp::service(&state))
        .layer(middleware::from_fn_with_state(state, guard))
}

/// `Origin` and `Host` are checked before authentication (DNS-rebinding defence); then the
/// bearer token, whose refusal is HTTP 401 with the RFC 6750 challenge on both surfaces.
async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let request_id = request_id(request.headers());
    if let Err(why) = check_host_and_origin(request.headers(), &state) {
        let body = serde_json::json!({ "error": {
            "code": "forbidden_origin", "message": why, "status": 403, "request_id": request_id } });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    if request.uri().path() == "/v1/tools" {
        return next.run(request).await; // the catalog is public
    }
    match crate::enforcement::authenticate(&state, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(err) => error_response(&err, &request_id),
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

fn check_host_and_origin(headers: &HeaderMap, state: &AppState) -> Result<(), String> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !allowed_hosts(state)
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host))
    {
        return Err(format!("host {host:?} is not served here"));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let same_host = origin
            .split_once("://")
            .is_some_and(|(_, h)| h.eq_ignore_ascii_case(host));
        if origin != state.config.public_origin() && !same_host {
            return Err(format!("origin {origin:?} is not allowed"));
        }
    }
    Ok(())
}
