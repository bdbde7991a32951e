//! `GET /v1/tools` (the catalog) and `POST /v1/tools/{name}` (a call, same arguments as MCP),
//! and the answer both they and the REST endpoints give.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};

use super::{error_response, request_id};
use crate::enforcement::{self, Caller};
use crate::state::AppState;
use crate::tools::ToolError;
use crate::tools::TOOLS;

pub async fn catalog() -> Json<Value> {
    static CATALOG: LazyLock<Value> = LazyLock::new(|| {
        let tools: Vec<Value> = TOOLS
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "title": t.title,
                    "description": t.description,
                    "scope": t.scope.map(|s| s.as_str()),
                    "units": t.units,
                    "read_only": t.read_only,
                    "destructive": t.destructive,
                    "idempotent": t.idempotent,
                    "input_schema": t.schema(),
                    "path": t.path,
                })
            })
            .collect();
        json!({ "tools": tools })
    });
    Json(CATALOG.clone())
}

pub async fn call_tool(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = request_id(&headers);
    if headers.contains_key(axum::http::header::CONTENT_TYPE) && !super::is_json(&headers) {
        return error_response(&ToolError::UnsupportedMediaType, &request_id);
    }
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(args) => args,
            Err(e) => {
                let err = ToolError::InvalidParameter(format!("the body is not valid JSON: {e}"));
                return error_response(&err, &request_id);
            }
        }
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let outcome = enforcement::call(&state.enforcer, &caller, &name, args, key).await;
    respond(outcome, &request_id)
}

/// A call's answer on the plain-HTTP surfaces (`/v1/tools` and the REST endpoints): its JSON
/// or its error, with the rate-limit headers once the call met its limits.
pub(super) fn respond(outcome: enforcement::Outcome, request_id: &str) -> Response {
    let mut response = match outcome.result {
        Ok(result) => Json(result).into_response(),
        Err(err) => error_response(&err, request_id),
    };
    if let Some(rate) = &outcome.rate {
        super::rate_limit::insert_headers(response.headers_mut(), rate);
    }
    response
}
