//! Bad input on both tool surfaces, as a table: each request and the exact answer it gets.
//! Only the good calls among them are metered.

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::support::{founder, on_each_engine, org_token, ORIGIN};

const MCP_ACCEPT: &str = "application/json, text/event-stream";

/// One request of the table. `auth` is the Authorization header as sent (`{token}` is replaced
/// by a valid token); `expect` is the status and the error code the answer carries:
/// `error.code` on `/v1`, the JSON-RPC `error.code` or the tool result's error code on `/mcp`.
struct Case {
    name: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    auth: &'static [&'static str],
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
}

fn case(name: &'static str, path: &'static str, body: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        path,
        content_type: Some("application/json"),
        auth: &["Bearer {token}"],
        body: body.into(),
        status: StatusCode::OK,
        code: "",
    }
}

impl Case {
    fn expect(mut self, status: StatusCode, code: &'static str) -> Case {
        self.status = status;
        self.code = code;
        self
    }
    fn content_type(mut self, value: Option<&'static str>) -> Case {
        self.content_type = value;
        self
    }
    fn auth(mut self, values: &'static [&'static str]) -> Case {
        self.auth = values;
        self
    }
}

fn rpc(method: &str, params: Value) -> Vec<u8> {
    json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params })
        .to_string()
        .into_bytes()
}

fn nested(depth: usize) -> Vec<u8> {
    let mut body = String::from("{\"workspace_id\":");
    body.push_str(&"[".repeat(depth));
    body.push_str(&"]".repeat(depth));
    body.push('}');
    body.into_bytes()
}

fn table(ws: i64) -> Vec<Case> {
    use StatusCode as S;
    let over_limit = vec![b' '; tollgate::surface::MAX_BODY_BYTES + 1];
    let huge_string = format!(
        "{{\"workspace_id\":{ws},\"start_date\":\"{}\"}}",
        "9".repeat(900_000)
    );
    let long_bearer: &'static str =
        Box::leak(format!("Bearer tg_live_{}", "a".repeat(8_000)).into_boxed_str());
    let list = "/v1/tools/list_workspaces";
    let summary = "/v1/tools/get_performance_summary";
    vec![
        case("good call", list, "{}"),
        case("empty body means no arguments", list, ""),
        case("body over the limit", list, over_limit.clone())
            .expect(S::PAYLOAD_TOO_LARGE, "payload_too_large"),
        case("malformed JSON", list, "{\"workspace_id\":")
            .expect(S::BAD_REQUEST, "invalid_parameter"),
        case("arguments not an object", list, "[1,2]")
            .expect(S::BAD_REQUEST, "invalid_parameter"),
        case("invalid UTF-8", list, vec![b'"', 0xff, 0xfe, b'"'])
            .expect(S::BAD_REQUEST, "invalid_parameter"),
        case("nesting 100,000 deep", list, nested(100_000))
            .expect(S::BAD_REQUEST, "invalid_parameter"),
        case("form content type", list, "{}")
            .content_type(Some("application/x-www-form-urlencoded"))
            .expect(S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        case("JSON with charset", list, "{}").content_type(Some("application/json; charset=utf-8")),
        case("unknown tool", "/v1/tools/drop_tables", "{}").expect(S::NOT_FOUND, "unknown_tool"),
        case("wrong argument type", summary, "{\"workspace_id\":\"one\"}")
            .expect(S::BAD_REQUEST, "invalid_parameter"),
        case("900 KB date", summary, huge_string.clone())
            .expect(S::BAD_REQUEST, "invalid_date_range"),
        case("no Authorization", list, "{}")
            .auth(&[])
            .expect(S::UNAUTHORIZED, "missing_token"),
        case("Bearer twice", list, "{}")
            .auth(&["Bearer {token}", "Bearer {token}"])
            .expect(S::UNAUTHORIZED, "invalid_token"),
        case("lowercase scheme", list, "{}").auth(&["bearer {token}"]),
        case("surrounding whitespace", list, "{}").auth(&["  Bearer    {token}  "]),
        case("two tokens in one header", list, "{}")
            .auth(&["Bearer {token} {token}"])
            .expect(S::UNAUTHORIZED, "invalid_token"),
        case("Basic scheme", list, "{}")
            .auth(&["Basic dXNlcjpwYXNzd29yZA=="])
            .expect(S::UNAUTHORIZED, "missing_token"),
        case("scheme without token", list, "{}")
            .auth(&["Bearer "])
            .expect(S::UNAUTHORIZED, "missing_token"),
        case("8 KB token", list, "{}")
            .auth(Box::leak(Box::new([long_bearer])))
            .expect(S::UNAUTHORIZED, "invalid_token"),
        case("Latin-1 byte in the header", list, "{}")
            .auth(&["Bearer tg_live_\u{e9}"])
            .expect(S::UNAUTHORIZED, "invalid_token"),
        // MCP: JSON-RPC errors for the protocol, tool results for the tools.
        case("MCP good call", "/mcp", rpc("tools/call", json!({ "name": "list_workspaces" }))),
        case("MCP body over the limit", "/mcp", over_limit)
            .expect(S::PAYLOAD_TOO_LARGE, "payload_too_large"),
        case("MCP malformed JSON", "/mcp", "{\"jsonrpc\":")
            .expect(S::BAD_REQUEST, "-32700"),
        case("MCP invalid UTF-8", "/mcp", vec![b'{', 0xff, b'}'])
            .expect(S::BAD_REQUEST, "-32700"),
        case("MCP nesting 100,000 deep", "/mcp", nested(100_000))
            .expect(S::BAD_REQUEST, "-32700"),
        case("MCP not JSON-RPC", "/mcp", "{\"hello\":1}").expect(S::BAD_REQUEST, "-32700"),
        case("MCP text/plain", "/mcp", rpc("tools/list", json!({})))
            .content_type(Some("text/plain"))
            .expect(S::UNSUPPORTED_MEDIA_TYPE, ""),
        case("MCP unknown method", "/mcp", rpc("tools/destroy", json!({})))
            .expect(S::OK, "-32601"),
        case("MCP unknown tool", "/mcp", rpc("tools/call", json!({ "name": "drop_tables" })))
            .expect(S::OK, "unknown_tool"),
        case(
            "MCP arguments of the wrong type",
            "/mcp",
            rpc("tools/call", json!({ "name": "list_profiles", "arguments": { "workspace_id": [] } })),
        )
        .expect(S::OK, "invalid_parameter"),
        case("MCP 900 KB date", "/mcp", rpc("tools/call", json!({ "name": "get_performance_summary", "arguments": { "workspace_id": ws, "start_date": "9".repeat(900_000) } })))
            .expect(S::OK, "invalid_date_range"),
        case("MCP Bearer twice", "/mcp", rpc("tools/list", json!({})))
            .auth(&["Bearer {token}", "Bearer {token}"])
            .expect(S::UNAUTHORIZED, "invalid_token"),
    ]
}

async fn send(app: &Router, case: &Case, token: &str) -> (StatusCode, Value) {
    let mut request = Request::post(case.path)
        .header("host", "127.0.0.1:3999")
        .header("accept", MCP_ACCEPT)
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(content_type) = case.content_type {
        request = request.header("content-type", content_type);
    }
    for auth in case.auth {
        let value = auth.replace("{token}", token);
        // Header values may carry Latin-1 bytes; send them as bytes.
        let bytes: Vec<u8> = value.chars().map(|c| c as u32 as u8).collect();
        request = request.header("authorization", HeaderValue::from_bytes(&bytes).unwrap());
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(case.body.clone())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The error code an answer carries, whichever surface gave it.
fn code_of(body: &Value) -> String {
    if let Some(code) = body["error"]["code"].as_str() {
        return code.to_string(); // /v1
    }
    if let Some(code) = body["error"]["code"].as_i64() {
        return code.to_string(); // JSON-RPC
    }
    body["result"]["structuredContent"]["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn every_bad_request_gets_its_exact_error_and_only_good_calls_are_metered() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let token = org_token(&db, &owner).await;
        let mut failures = Vec::new();
        let mut succeeded = 0;
        let ws = crate::support::first_workspace(&db, &owner).await;
        for case in table(ws) {
            let (status, body) = send(&app, &case, &token).await;
            let code = code_of(&body);
            if status == StatusCode::OK && code.is_empty() {
                succeeded += 1;
            }
            if status != case.status || code != case.code {
                failures.push(format!(
                    "{}: got {status} {code:?}, expected {} {:?}",
                    case.name, case.status, case.code
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let (metered,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM usage_events")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            metered, succeeded,
            "only the calls that succeeded are metered"
        );
    })
    .await;
}
