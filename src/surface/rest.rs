//! The REST endpoints of spec §12: `GET <path>` of every registry entry that has one. The
//! query and path parameters become the entry's arguments, typed by the entry's own schema,
//! and the call goes through the one pipeline, answered as `/v1/tools` answers it.

use axum::extract::{RawPathParams, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Map, Value};

use super::{error_response, request_id};
use crate::enforcement::{self, Caller};
use crate::state::AppState;
use crate::tools::{ToolError, ToolSpec, TOOLS};

pub fn routes() -> Router<AppState> {
    TOOLS
        .iter()
        .filter_map(|tool| Some((tool.path?, tool)))
        .fold(Router::new(), |router, (path, tool)| {
            let handler = move |state: State<AppState>,
                                caller: Extension<Caller>,
                                params: RawPathParams,
                                query: RawQuery,
                                headers: HeaderMap| {
                endpoint(tool, state, caller, params, query, headers)
            };
            router.route(path, get(handler))
        })
}

async fn endpoint(
    tool: &'static ToolSpec,
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    params: RawPathParams,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let request_id = request_id(&headers);
    let query = query.unwrap_or_default();
    let query = url::form_urlencoded::parse(query.as_bytes()).into_owned();
    let path = params
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()));
    let args = match arguments(tool, query.chain(path)) {
        Ok(args) => args,
        Err(err) => return error_response(&err, &request_id),
    };
    let outcome = enforcement::call(&state.enforcer, &caller, tool.name, args, None).await;
    let mut response = super::http::respond(outcome, &request_id);
    // Answers may hold customers' details: no cache keeps them.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// The parameters as the entry's JSON arguments: integers and booleans where its schema says
/// so; a parameter given twice, or not of its type, is `invalid_parameter` (unknown ones are
/// passed on, and the entry's decoder names them).
fn arguments(
    tool: &ToolSpec,
    params: impl Iterator<Item = (String, String)>,
) -> Result<Value, ToolError> {
    let properties = &tool.schema()["properties"];
    let mut args = Map::new();
    for (name, value) in params {
        let kind = properties[&name]["type"].clone();
        let is = |wanted: &str| {
            kind == wanted
                || kind
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == wanted))
        };
        let bad = |what: &str| ToolError::InvalidParameter(format!("{name} must be {what}"));
        let typed = if is("integer") {
            Value::from(value.parse::<i64>().map_err(|_| bad("an integer"))?)
        } else if is("boolean") {
            Value::from(value.parse::<bool>().map_err(|_| bad("true or false"))?)
        } else {
            Value::from(value)
        };
        if args.insert(name.clone(), typed).is_some() {
            return Err(ToolError::InvalidParameter(format!(
                "{name} was given more than once"
            )));
        }
    }
    Ok(Value::Object(args))
}
