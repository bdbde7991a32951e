//! `GET /v1/openapi.json`: the plain-HTTP surface as an OpenAPI 3.1 document, generated from
//! the tool registry so that it cannot drift from the code. OpenAPI 3.1's schema objects are
//! JSON Schema 2020-12, which is what schemars already produces for each tool's arguments;
//! the document around them is built here as JSON (a typed OpenAPI model would re-model those
//! schemas, and lose what it does not know).

use std::sync::LazyLock;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::enforcement::{PROFILE_KEY_UNITS_PER_MINUTE, UNITS_PER_MINUTE};
use crate::state::AppState;
use crate::tools::{ToolSpec, TOOLS};

pub async fn document(State(state): State<AppState>) -> Json<Value> {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(build);
    let mut document = DOCUMENT.clone();
    document["servers"] = json!([{ "url": state.config.public_url.trim_end_matches('/') }]);
    Json(document)
}

/// The whole document but its `servers`, which name where this server is reached.
pub fn build() -> Value {
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    let mut paths = Map::new();
    paths.insert("/v1/tools".into(), catalog_path());
    for tool in TOOLS {
        let input = component_schema(tool, &mut schemas);
        if let Some(path) = tool.path {
            paths.insert(
                path.into(),
                json!({ "get": rest_operation(tool, input.clone()) }),
            );
        }
        paths.insert(
            format!("/v1/tools/{}", tool.name),
            json!({ "post": operation(tool, input) }),
        );
    }
    schemas.values_mut().for_each(rewrite_refs);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tollgate tools and REST API over HTTP",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "Every MCP tool of this server as `POST /v1/tools/{{name}}` with the same \
                 arguments, token, scopes, limits and metering, and the REST endpoints (`GET \
                 /v1/campaigns`, …) with their arguments in the query. Each call costs the tool's units \
                 (`x-tollgate-units`) against the token's cap of {UNITS_PER_MINUTE} units a \
                 minute ({PROFILE_KEY_UNITS_PER_MINUTE} for keys bound to one profile) and the \
                 organization's plan allowance; tools with their own limit \
                 (`x-tollgate-limit-per-minute`) also count calls a minute. Responses carry \
                 `X-RateLimit-*` and the IETF `RateLimit-Policy`/`RateLimit` fields with the \
                 policies \"units\", \"tool\" and \"allowance\" (the first and the last count \
                 weighted units, not requests)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A Tollgate access token. Each operation lists the scope it needs.",
                }
            },
            "headers": headers(),
            "responses": error_responses(),
        },
    })
}

/// The tool's input schema under `components/schemas/<tool>_input`, its own `$defs` moved
/// beside it (a `$ref` to `#/$defs/…` would resolve against the document's root; `build`
/// rewrites them); a `$ref` to it is returned. Tools share argument types by name.
fn component_schema(tool: &ToolSpec, schemas: &mut Map<String, Value>) -> Value {
    let mut schema = tool.schema().clone();
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
        if let Some(Value::Object(defs)) = map.remove("$defs") {
            for (name, def) in defs {
                let known = schemas.get(&name);
                debug_assert!(known.is_none_or(|k| *k == def), "two types named {name}");
                schemas.insert(name, def);
            }
        }
    }
    let name = format!("{}_input", tool.name);
    schemas.insert(name.clone(), schema);
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(target) if key == "$ref" => {
                        if let Some(name) = target.strip_prefix("#/$defs/") {
                            *target = format!("#/components/schemas/{name}");
                        }
                    }
                    _ => rewrite_refs(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

fn operation(tool: &ToolSpec, input: Value) -> Value {
    let scopes: Vec<&str> = tool.scope.iter().map(|s| s.as_str()).collect();
    let mut description = format!("{}\n\nCosts {} unit(s).", tool.description, tool.units);
    if let Some(scope) = tool.scope {
        description.push_str(&format!(" Needs the `{}` scope.", scope.as_str()));
    }
    if let Some(limit) = tool.limit_per_minute {
        description.push_str(&format!(" At most {limit} calls a minute per token."));
    }
    if let Some(credits) = tool.credits {
        description.push_str(&format!(" Bills {credits} credits."));
    }
    let mut responses = json!({
        "200": {
            "description": "The tool's result.",
            "headers": header_refs(&RATE_HEADERS),
            "content": { "application/json": { "schema": { "type": "object" } } },
        },
        "400": { "$ref": "#/components/responses/BadRequest" },
        "401": { "$ref": "#/components/responses/Unauthorized" },
        "403": { "$ref": "#/components/responses/Forbidden" },
        "413": { "$ref": "#/components/responses/PayloadTooLarge" },
        "415": { "$ref": "#/components/responses/UnsupportedMediaType" },
        "429": { "$ref": "#/components/responses/TooManyRequests" },
        "500": { "$ref": "#/components/responses/InternalError" },
        "503": { "$ref": "#/components/responses/Overloaded" },
    });
    if tool.credits.is_some() {
        responses["402"] = json!({ "$ref": "#/components/responses/PaymentRequired" });
    }
    let mut parameters = Vec::new();
    if !tool.read_only && tool.idempotent {
        responses["409"] = json!({ "$ref": "#/components/responses/Conflict" });
        parameters.push(json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Repeat a call safely: the same key within 24 hours returns the first result and charges nothing.",
            "schema": { "type": "string", "maxLength": 200 },
        }));
    }
    let mut operation = json!({
        "operationId": tool.name,
        "summary": tool.title,
        "description": description,
        "tags": [tool.scope.map_or("discovery", |s| s.as_str())],
        "security": [{ "bearer": scopes }],
        "parameters": parameters,
        "requestBody": {
            "required": false,
            "content": { "application/json": { "schema": input } },
        },
        "responses": responses,
        "x-tollgate-units": tool.units,
        "x-tollgate-read-only": tool.read_only,
        "x-tollgate-destructive": tool.destructive,
    });
    if let Some(limit) = tool.limit_per_minute {
        operation["x-tollgate-limit-per-minute"] = json!(limit);
    }
    if let Some(credits) = tool.credits {
        operation["x-tollgate-credits"] = json!(credits);
    }
    operation
}

/// A REST endpoint's `GET`: the tool's operation with its arguments as query parameters (path
/// parameters where its path names them) instead of a body.
fn rest_operation(tool: &ToolSpec, input: Value) -> Value {
    let mut operation = operation(tool, input);
    let path = tool.path.unwrap_or_default();
    let properties = tool.schema()["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let parameters: Vec<Value> = properties
        .into_iter()
        .map(|(name, mut schema)| {
            let description = schema.as_object_mut().and_then(|s| s.remove("description"));
            rewrite_refs(&mut schema);
            let in_path = path.contains(&format!("{{{name}}}"));
            json!({
                "name": name,
                "in": if in_path { "path" } else { "query" },
                "required": in_path,
                "description": description.unwrap_or_default(),
                "schema": schema,
            })
        })
        .collect();
    if let Some(op) = operation.as_object_mut() {
        op.remove("requestBody");
        op.insert("operationId".into(), json!(format!("{}_get", tool.name)));
        op.insert("parameters".into(), json!(parameters));
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            responses.remove("413");
            responses.remove("415");
        }
    }
    operation
}

fn catalog_path() -> Value {
    json!({ "get": {
        "operationId": "list_tools",
        "summary": "The tool catalog",
        "description": "Every tool with its scope, units, annotations and input schema. No token needed.",
        "tags": ["discovery"],
        "security": [],
        "responses": { "200": {
            "description": "The catalog.",
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["tools"],
                "properties": { "tools": { "type": "array", "items": { "type": "object" } } },
            } } },
        } },
    } })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": { "error": {
            "type": "object",
            "required": ["code", "message", "status", "request_id"],
            "properties": {
                "code": { "type": "string", "description": "A stable machine-readable code, e.g. missing_scope, rate_limited, quota_exceeded." },
                "message": { "type": "string" },
                "status": { "type": "integer" },
                "request_id": { "type": "string" },
                "required_scope": { "type": "string", "description": "missing_scope: the scope the tool needs." },
                "role": { "type": "string", "description": "missing_scope: the role that limits a personal token." },
                "retry_after": { "type": "integer", "description": "Seconds to wait before retrying." },
                "retryable": { "type": "boolean" },
                "resets_at": { "type": ["integer", "null"], "description": "quota_exceeded: when the allowance comes back (ms since the epoch), null if it does not." },
                "required": { "type": "integer", "description": "insufficient_credits: the credits the tool bills." },
                "available": { "type": "integer", "description": "insufficient_credits: the organization's balance." },
            },
        } },
    })
}

fn header(description: &str, kind: &str) -> Value {
    json!({ "description": description, "schema": { "type": kind } })
}

fn headers() -> Value {
    json!({
        "X-RateLimit-Limit": header("The token's cap of units a minute.", "integer"),
        "X-RateLimit-Remaining": header("Units left of the cap now.", "integer"),
        "RateLimit-Policy": header("The limits this call counts against (draft-ietf-httpapi-ratelimit-headers): \"units\" a minute, the tool's own \"tool\" calls a minute, the plan's \"allowance\" a period.", "string"),
        "RateLimit": header("What is left of each policy (r) and in how many seconds it is back (t).", "string"),
        "Retry-After": header("Seconds to wait before retrying.", "integer"),
        "X-Request-Id": header("The request's id, also in error bodies and the server's logs.", "string"),
        "WWW-Authenticate": header("The bearer challenge (RFC 6750).", "string"),
    })
}

fn header_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/headers/{name}") })
}

/// The rate-limit headers, sent on every answer of a call that reached admission.
const RATE_HEADERS: [&str; 4] = [
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "RateLimit-Policy",
    "RateLimit",
];

fn header_refs(names: &[&str]) -> Value {
    let mut refs = Map::new();
    refs.insert("X-Request-Id".into(), header_ref("X-Request-Id"));
    for name in names {
        refs.insert(name.to_string(), header_ref(name));
    }
    Value::Object(refs)
}

fn error_responses() -> Value {
    let response = |description: &str, headers: &[&str]| {
        json!({
            "description": description,
            "headers": header_refs(headers),
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
        })
    };
    let rate_and_retry: Vec<&str> = RATE_HEADERS
        .iter()
        .copied()
        .chain(["Retry-After"])
        .collect();
    json!({
        "BadRequest": response("invalid_parameter or invalid_date_range: the arguments are wrong; nothing was charged.", &[]),
        "Unauthorized": response("missing_token or invalid_token (unknown, expired, revoked, rotated).", &["WWW-Authenticate"]),
        "PaymentRequired": response("insufficient_credits: the organization's credit balance is below what the tool bills.", &RATE_HEADERS),
        "Forbidden": response("missing_scope, workspace_not_accessible, write_back_disabled or forbidden_origin.", &[]),
        "Conflict": response("idempotency_conflict: the key was used with other arguments in the last 24 hours.", &[]),
        "PayloadTooLarge": response("payload_too_large: the body is over 1 MiB.", &[]),
        "UnsupportedMediaType": response("unsupported_media_type: send the arguments as application/json.", &[]),
        "TooManyRequests": response("rate_limited (retry after Retry-After seconds) or quota_exceeded (the plan's allowance is used up).", &rate_and_retry),
        "InternalError": response("internal_error: the server failed; nothing was charged.", &[]),
        "Overloaded": response("overloaded: the server is busy; retry in a moment.", &["Retry-After"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_an_operation_with_its_scope_and_no_dangling_schema_ref() {
        let doc = build();
        for tool in TOOLS {
            let op = &doc["paths"][format!("/v1/tools/{}", tool.name)]["post"];
            assert_eq!(op["operationId"], tool.name);
            let scopes: Vec<&str> = tool.scope.iter().map(|s| s.as_str()).collect();
            assert_eq!(op["security"][0]["bearer"], json!(scopes));
            if let Some(path) = tool.path {
                let get = &doc["paths"][path]["get"];
                assert_eq!(get["security"][0]["bearer"], json!(scopes), "{path}");
                assert!(get.get("requestBody").is_none());
                let named: Vec<&str> = get["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                assert!(named.contains(&"workspace_id"), "{path}: {named:?}");
            }
        }
        let text = doc.to_string();
        assert!(
            !text.contains("#/$defs/"),
            "every $defs reference is rewritten"
        );
        let refs = text.split("\"$ref\":\"").skip(1);
        assert!(
            refs.clone().all(|r| r.starts_with("#/components/")),
            "{text}"
        );
        for target in text.split("\"$ref\":\"#/components/").skip(1) {
            let path = &target[..target.find('"').unwrap()];
            let mut node = &doc["components"];
            for part in path.split('/') {
                node = &node[part];
            }
            assert!(!node.is_null(), "{path} is defined");
        }
    }
}
