//! The tool surfaces through the real router on real databases: authentication, binding,
//! scopes, metering, and the error shapes of spec §6 on `/v1` and `/mcp`.

use crate::support::{founder, join, on_each_engine, ORIGIN, T0};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tollgate::config::Environment;
use tollgate::model::{Binding, Role, Scope};
use tollgate::services::tokens::{self, NewToken};
use tollgate::storage::Db;
use tower::ServiceExt;

async fn post(
    app: &Router,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    crate::support::post_json(
        app,
        path,
        token,
        &[("accept", "application/json, text/event-stream")],
        body,
    )
    .await
}

async fn personal_token(
    db: &Db,
    actor: &tollgate::services::organizations::Actor,
    scopes: Vec<Scope>,
) -> String {
    let new = NewToken {
        label: "t".into(),
        scopes,
        binding: Binding::User,
        workspace_id: None,
        profile_id: None,
        expires_at: None,
    };
    tokens::create(db, actor, Environment::Live, new, None, T0)
        .await
        .unwrap()
        .token
}

async fn usage_count(db: &Db) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM usage_events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn authentication_errors_are_401_with_the_bearer_challenge() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let token = personal_token(&db, &owner, vec![Scope::CreditsRead]).await;
        let revoked = personal_token(&db, &owner, vec![Scope::AnalyticsRead]).await;
        tokens::revoke(&db, &owner, 2, None, T0).await.unwrap();
        // One character changed (never to itself: a token with 'x' there would stay valid).
        let changed = if &token[20..21] == "x" { "y" } else { "x" };
        let typo = format!("{}{changed}{}", &token[..20], &token[21..]);
        for (credential, code) in [
            (None, "missing_token"),
            (Some("not-a-token"), "invalid_token"),
            (Some(typo.as_str()), "invalid_token"),
            (Some(revoked.as_str()), "invalid_token"),
        ] {
            for path in ["/v1/tools/list_workspaces", "/mcp"] {
                let (status, headers, body) = post(&app, path, credential, json!({})).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {credential:?}");
                // `/mcp`'s challenge also points OAuth clients to its metadata (tests/oauth.rs).
                let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
                assert!(
                    challenge.starts_with("Bearer realm=\"tollgate\", error=\"invalid_token\""),
                    "{challenge}"
                );
                assert_eq!(body["error"]["code"], code);
                assert_eq!(body["error"]["status"], 401);
                assert_eq!(
                    body["error"]["request_id"],
                    headers["x-request-id"].to_str().unwrap()
                );
            }
        }
        // A foreign Host is refused before authentication (DNS rebinding).
        let request = Request::post("/mcp")
            .header(header::HOST, "evil.example")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            app.clone().oneshot(request).await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
        let request = Request::post("/v1/tools/list_workspaces")
            .header(header::HOST, "127.0.0.1:3999")
            .header(header::ORIGIN, "https://evil.example")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            app.clone().oneshot(request).await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(usage_count(&db).await, 0);
    })
    .await;
}

#[tokio::test]
async fn binding_scopes_and_metering_on_v1() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let member = join(&db, &owner, "member@example.com", Role::Member).await;
        let other = founder(&db, "other@example.com").await;
        let own_ws = crate::support::first_workspace(&db, &owner).await;
        let other_ws = crate::support::first_workspace(&db, &other).await;
        let token = personal_token(&db, &member, vec![Scope::CreditsRead]).await;
        let no_scope = personal_token(&db, &member, vec![Scope::AnalyticsRead]).await;

        let (status, _, body) =
            post(&app, "/v1/tools/list_workspaces", Some(&token), json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["workspaces"][0]["id"], own_ws);
        assert_eq!(body["workspaces"].as_array().unwrap().len(), 1);

        let (status, _, body) = post(
            &app,
            "/v1/tools/check_credits",
            Some(&token),
            json!({ "workspace_id": own_ws }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["balance"], 100);
        assert_eq!(body["ledger"][0]["kind"], "grant");

        let (status, _, body) =
            post(&app, "/v1/tools/check_credits", Some(&token), json!({})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_parameter"))
        );
        let (status, _, body) = post(
            &app,
            "/v1/tools/check_credits",
            Some(&token),
            json!({ "workspace_id": other_ws }),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("workspace_not_accessible"))
        );
        let (status, _, body) = post(
            &app,
            "/v1/tools/check_credits",
            Some(&no_scope),
            json!({ "workspace_id": own_ws }),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("missing_scope"))
        );
        assert_eq!(body["error"]["required_scope"], "credits:read");
        let (status, _, body) = post(&app, "/v1/tools/nope", Some(&token), json!({})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("unknown_tool"))
        );
        let (status, _, body) = post(
            &app,
            "/v1/tools/check_credits",
            Some(&token),
            json!({ "workspace_id": "x" }),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_parameter"))
        );

        // Two successful calls were metered; refusals were not. The scope denial is audited.
        assert_eq!(usage_count(&db).await, 2);
        let log = tollgate::services::audit::page(
            &db,
            &owner,
            tollgate::model::AuditFilter::default(),
            None,
        )
        .await
        .unwrap()
        .rows;
        assert!(log
            .iter()
            .any(|r| r.action == "token.scope_denied"
                && r.subject == "check_credits needs credits:read"));

        // Leaving the organization cuts a personal token off at once.
        tollgate::services::members::remove_member(&db, &owner, member.user_id, None, T0)
            .await
            .unwrap();
        let (status, _, body) = post(
            &app,
            "/v1/tools/check_credits",
            Some(&token),
            json!({ "workspace_id": own_ws }),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("workspace_not_accessible"))
        );
        let (_, _, body) = post(&app, "/v1/tools/list_workspaces", Some(&token), json!({})).await;
        assert_eq!(body["workspaces"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn organization_and_workspace_tokens_reach_only_their_own() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let first = crate::support::first_workspace(&db, &owner).await;
        let second =
            tollgate::services::workspaces::create_workspace(&db, &owner, "Second", None, T0)
                .await
                .unwrap();
        let scopes = vec![Scope::CreditsRead];
        let org = NewToken {
            label: "o".into(),
            scopes: scopes.clone(),
            binding: Binding::Organization,
            workspace_id: None,
            profile_id: None,
            expires_at: None,
        };
        let org = tokens::create(&db, &owner, Environment::Live, org, None, T0)
            .await
            .unwrap()
            .token;
        let ws = NewToken {
            label: "w".into(),
            scopes,
            binding: Binding::Workspace,
            workspace_id: Some(second),
            profile_id: None,
            expires_at: None,
        };
        let ws = tokens::create(&db, &owner, Environment::Live, ws, None, T0)
            .await
            .unwrap()
            .token;

        let (_, _, body) = post(&app, "/v1/tools/list_workspaces", Some(&org), json!({})).await;
        assert_eq!(body["workspaces"].as_array().unwrap().len(), 2);
        let (status, _, _) = post(&app, "/v1/tools/check_credits", Some(&org), json!({})).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "organization tokens default to their organization"
        );

        let (_, _, body) = post(&app, "/v1/tools/list_workspaces", Some(&ws), json!({})).await;
        assert_eq!(body["workspaces"].as_array().unwrap().len(), 1);
        assert_eq!(body["workspaces"][0]["id"], second);
        let (status, _, _) = post(&app, "/v1/tools/check_credits", Some(&ws), json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, body) = post(
            &app,
            "/v1/tools/check_credits",
            Some(&ws),
            json!({ "workspace_id": first }),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("workspace_not_accessible"))
        );
    })
    .await;
}

#[tokio::test]
async fn mcp_tool_errors_are_results_with_is_error_and_the_error_object() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let token = personal_token(&db, &owner, vec![Scope::AnalyticsRead]).await;
        let ws = crate::support::first_workspace(&db, &owner).await;
        let rpc = |id: i64, method: &str, params: Value| json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let init = rpc(1, "initialize", json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "surface-test", "version": "1.0" }
        }));
        let (status, _, body) = post(&app, "/mcp", Some(&token), init).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["result"]["serverInfo"]["name"], "tollgate");

        let (_, _, body) = post(&app, "/mcp", Some(&token), rpc(2, "tools/list", json!({}))).await;
        let tools = body["result"]["tools"].as_array().unwrap();
        let credits = tools.iter().find(|t| t["name"] == "check_credits").unwrap();
        assert_eq!(credits["annotations"]["readOnlyHint"], true);
        assert_eq!(credits["annotations"]["destructiveHint"], false);
        assert_eq!(credits["inputSchema"]["type"], "object");

        let call = rpc(3, "tools/call", json!({ "name": "check_credits", "arguments": { "workspace_id": ws } }));
        let (status, _, body) = post(&app, "/mcp", Some(&token), call).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["result"]["isError"], true, "{body}");
        assert_eq!(body["result"]["structuredContent"]["error"]["code"], "missing_scope");

        let call = rpc(4, "tools/call", json!({ "name": "list_workspaces", "arguments": {} }));
        let (_, _, body) = post(&app, "/mcp", Some(&token), call).await;
        assert_ne!(body["result"]["isError"], true, "{body}");
        assert_eq!(body["result"]["structuredContent"]["workspaces"][0]["id"], ws);

        // The unit cap spent: the refusal carries what `/v1` tells in its rate-limit headers.
        let args = json!({ "name": "get_performance_summary", "arguments": { "workspace_id": ws } });
        let (_, _, body) = post(&app, "/mcp", Some(&token), rpc(5, "tools/call", args.clone())).await;
        assert_eq!(body["result"]["isError"], false, "{body}");
        // Two minutes' worth: refused however slowly the next call comes.
        sqlx::query("UPDATE rate_limits SET tat = $1")
            .bind(tollgate::storage::now_ms() + 120_000)
            .execute(&db.pool)
            .await
            .unwrap();
        let (_, _, body) = post(&app, "/mcp", Some(&token), rpc(6, "tools/call", args)).await;
        let error = &body["result"]["structuredContent"]["error"];
        assert_eq!(error["code"], "rate_limited", "{body}");
        let units = &error["rate_limit"]["units"];
        assert_eq!((&units["limit"], &units["remaining"], &units["window"]), (&json!(120), &json!(0), &json!(60)));
        let reset = units["reset"].as_i64().unwrap();
        assert!((100..=120).contains(&reset), "{reset}");
    })
    .await;
}

#[tokio::test]
async fn the_stateless_2026_07_28_revision_calls_tools_without_initialize() {
    on_each_engine(|db| async move {
        let state = crate::support::app_state(&db, ORIGIN);
        let app = tollgate::http::router(state.clone());
        let owner = founder(&db, "owner@example.com").await;
        let token = personal_token(&db, &owner, vec![Scope::AnalyticsRead]).await;
        let body = json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {
                "name": "list_workspaces", "arguments": {},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": { "name": "stateless-client", "version": "2" }
                }
            }
        });
        let request = Request::post("/mcp")
            .header(header::HOST, "127.0.0.1:3999")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "list_workspaces")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("mcp-session-id").is_none(), "no sessions in this revision");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let reply: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(reply["result"]["isError"], false, "{reply}");
        assert_eq!(reply["result"]["structuredContent"]["workspaces"].as_array().unwrap().len(), 1);
        // The client named in _meta is what the dashboard will show as the last client.
        state.enforcer.last_used.flush(&db).await.unwrap();
        let (client,): (Option<String>,) = sqlx::query_as("SELECT last_client FROM tokens").fetch_one(&db.pool).await.unwrap();
        assert_eq!(client.as_deref(), Some("stateless-client 2"));
    })
    .await;
}
