//! Step-up authorization for OAuth clients on `/mcp` (MCP authorization, "Runtime Insufficient
//! Scope Errors"): a tool call whose scope the token was not granted is answered HTTP 403 with
//! `error="insufficient_scope"` and every scope the client should ask for (those granted and the
//! one missing: clients do not all add them up), so that it can ask its user for more.
//! Pasted tokens keep the pipeline's `missing_scope` tool error: nobody would act on a 403.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{Guard, MAX_BODY_BYTES};
use crate::enforcement::Caller;
use crate::model::Scope;
use crate::services::oauth::Issuer;
use crate::tools::ToolError;

#[derive(Deserialize)]
struct Message {
    method: Option<String>,
    params: Option<Params>,
}

#[derive(Deserialize)]
struct Params {
    name: Option<String>,
}

/// The request, read and put back together, when the caller may go on; otherwise the 403 (or
/// the 413 of a body over the limit).
pub(super) async fn check(
    request: Request,
    caller: &Caller,
    guard: &Guard,
    request_id: &str,
) -> Result<Request, Response> {
    if request.method() != Method::POST {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        let err = ToolError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        };
        return Err(super::error_response(&err, request_id));
    };
    let needed = serde_json::from_slice::<Message>(&bytes)
        .ok()
        .filter(|m| m.method.as_deref() == Some("tools/call"))
        .and_then(|m| m.params?.name)
        .and_then(|name| crate::tools::find(&name)?.scope)
        .filter(|scope| !caller.token.scopes.contains(scope));
    match needed {
        Some(scope) => Err(insufficient_scope(guard, caller, scope, request_id)),
        None => Ok(Request::from_parts(parts, Body::from(bytes))),
    }
}

fn insufficient_scope(guard: &Guard, caller: &Caller, needed: Scope, request_id: &str) -> Response {
    let scopes: Vec<&str> = Scope::ALL
        .into_iter()
        .filter(|s| *s == needed || caller.token.scopes.contains(s))
        .map(|s| s.as_str())
        .collect();
    let description = format!("this call needs the {} scope", needed.as_str());
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}\", error_description=\"{description}\"",
        scopes.join(" "),
        Issuer::of(&guard.state.config).resource_metadata(),
    );
    let err = ToolError::MissingScope {
        scope: needed.as_str(),
        limited_by: None,
    };
    let mut response = (StatusCode::FORBIDDEN, Json(err.http_body(request_id))).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
