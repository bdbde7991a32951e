//! Keys bound to one profile (spec §12's API keys): the profile is theirs on every surface, no
//! other; 60 units a minute; rotation keeps the pin; only admins make them.

use axum::http::{header, StatusCode};
use serde_json::{json, Value};
use tollgate::config::Environment;
use tollgate::model::{Binding, Role, RotationGrace, Scope};
use tollgate::services::tokens::{self, NewToken};

use crate::support::{
    first_workspace, founder, issue_token, join, on_each_engine, DEMO, ORIGIN, T0,
};

fn key_for(profile_id: i64) -> NewToken {
    NewToken {
        label: "api key".into(),
        scopes: vec![
            Scope::CampaignsRead,
            Scope::CustomersRead,
            Scope::AnalyticsRead,
        ],
        binding: Binding::Profile,
        workspace_id: None,
        profile_id: Some(profile_id),
        expires_at: None,
    }
}

async fn get(
    app: &axum::Router,
    token: &str,
    path: &str,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    crate::support::rest_get(app, Some(token), path).await
}

/// A stateless (2026-07-28) `tools/call` of `tool`, its arguments to be set.
fn call_json(tool: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": {},
        "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
                   "io.modelcontextprotocol/clientInfo": { "name": "t", "version": "1" } } } })
}

#[tokio::test]
async fn a_profile_key_reaches_its_profile_and_nothing_else() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = first_workspace(&db, &owner).await;
        let profiles: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM profiles WHERE workspace_id = $1 ORDER BY id")
                .bind(ws)
                .fetch_all(&db.pool)
                .await
                .unwrap();
        let (a, b) = (profiles[0].0, profiles[1].0);
        let key = tokens::create(&db, &owner, Environment::Live, key_for(a), None, T0)
            .await
            .unwrap()
            .token;
        let workspace = issue_token(
            &db,
            &owner,
            vec![
                Scope::CampaignsRead,
                Scope::CustomersRead,
                Scope::AnalyticsRead,
            ],
            Binding::Workspace,
            Some(ws),
        )
        .await;

        // REST: the profile filled in, and the same as a workspace token asking for it.
        let (status, headers, mine) = get(&app, &key, &format!("/v1/campaigns?{DEMO}")).await;
        assert_eq!(status, StatusCode::OK, "{mine}");
        assert_eq!(headers["x-ratelimit-limit"], "60");
        let (_, _, asked) = get(
            &app,
            &workspace,
            &format!("/v1/campaigns?{DEMO}&profile_id={a}"),
        )
        .await;
        assert_eq!(mine["totals"], asked["totals"]);
        let (_, _, all) = get(&app, &workspace, &format!("/v1/campaigns?{DEMO}")).await;
        assert_ne!(
            mine["totals"], all["totals"],
            "one profile is not the whole workspace"
        );
        let (status, _, body) =
            get(&app, &key, &format!("/v1/campaigns?{DEMO}&profile_id={b}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("workspace_not_accessible"))
        );
        let (_, _, customers) = get(&app, &key, &format!("/v1/customers?{DEMO}&limit=100")).await;
        let listed = customers["customers"].as_array().unwrap();
        assert!(
            !listed.is_empty() && listed.iter().all(|c| c["profile_id"] == a),
            "{customers}"
        );
        // Another profile's customer is not found; the key's own is.
        let (b_customer,): (i64,) =
            sqlx::query_as("SELECT id FROM customers WHERE profile_id = $1 LIMIT 1")
                .bind(b)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let (status, _, _) = get(&app, &key, &format!("/v1/customers/{b_customer}/journey")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = get(
            &app,
            &key,
            &format!("/v1/customers/{}/journey", listed[0]["id"]),
        )
        .await;
        assert_eq!(status, StatusCode::OK);

        // The same on /v1/tools and /mcp.
        let summary = |token: String, args: Value| {
            let app = app.clone();
            async move {
                crate::support::post_json(
                    &app,
                    "/v1/tools/get_performance_summary",
                    Some(&token),
                    &[],
                    args,
                )
                .await
            }
        };
        let range = json!({ "start_date": "2026-08-25", "end_date": "2026-11-22" });
        let (_, _, by_key) = summary(key.clone(), range.clone()).await;
        let mut for_a = range.clone();
        for_a["profile_id"] = json!(a);
        let (_, _, by_workspace) = summary(workspace.clone(), for_a).await;
        assert_eq!(by_key["totals"], by_workspace["totals"]);
        let mut for_b = range.clone();
        for_b["profile_id"] = json!(b);
        let (status, _, body) = summary(key.clone(), for_b).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("workspace_not_accessible"))
        );
        // Its profiles are its own; a tool that is not about one profile is refused.
        let (_, _, listed) =
            crate::support::post_json(&app, "/v1/tools/list_profiles", Some(&key), &[], json!({}))
                .await;
        let ids: Vec<i64> = listed["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![a], "{listed}");
        let (status, _, body) = crate::support::post_json(
            &app,
            "/v1/tools/explain_campaign",
            Some(&key),
            &[],
            json!({ "campaign_id": 1 }),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("workspace_not_accessible")),
            "{body}"
        );
        let mut call = call_json("top_campaigns");
        call["params"]["arguments"] = json!({ "profile_id": b });
        let headers = [
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "top_campaigns"),
        ];
        let (status, _, body) =
            crate::support::post_json(&app, "/mcp", Some(&key), &headers, call).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["result"]["structuredContent"]["error"]["code"], "workspace_not_accessible",
            "{body}"
        );
        // The REST endpoints are not MCP tools, not even by name.
        let mut by_name = call_json("customers_list");
        by_name["params"]["arguments"] = json!({});
        let headers = [
            headers[0],
            headers[1],
            headers[2],
            ("mcp-name", "customers_list"),
        ];
        let (_, _, body) =
            crate::support::post_json(&app, "/mcp", Some(&workspace), &headers, by_name).await;
        assert_eq!(
            body["result"]["structuredContent"]["error"]["code"], "unknown_tool",
            "{body}"
        );

        // Rotation keeps the pin.
        let key_id = crate::support::token_id(&db, &key).await;
        let successor = tokens::rotate(
            &db,
            &owner,
            key_id,
            RotationGrace::None,
            Environment::Live,
            None,
            tollgate::storage::now_ms(),
        )
        .await
        .unwrap()
        .token;
        let (status, headers, _) = get(
            &app,
            &successor,
            &format!("/v1/campaigns?{DEMO}&profile_id={b}"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, headers_ok, _) = get(&app, &successor, &format!("/v1/campaigns?{DEMO}")).await;
        assert_eq!(headers_ok["x-ratelimit-limit"], "60");
        let _ = headers;
        let listed = tokens::list(&db, &owner, tollgate::storage::now_ms())
            .await
            .unwrap();
        let shown = listed
            .iter()
            .find(|t| t.binding == Binding::Profile && t.status.is_usable())
            .unwrap();
        assert!(
            shown.reach_label().starts_with("Profile: "),
            "{}",
            shown.reach_label()
        );

        // Only admins make them; a profile of another organization is not found.
        let member = join(&db, &owner, "member@example.com", Role::Member).await;
        let refused = tokens::create(&db, &member, Environment::Live, key_for(a), None, T0).await;
        assert!(refused.is_err());
        let other = founder(&db, "other@example.com").await;
        let refused = tokens::create(&db, &other, Environment::Live, key_for(a), None, T0).await;
        assert!(refused.is_err());

        // The key goes with its profile.
        sqlx::query("DELETE FROM profiles WHERE id = $1")
            .bind(a)
            .execute(&db.pool)
            .await
            .unwrap();
        let (status, _, _) = get(&app, &successor, &format!("/v1/campaigns?{DEMO}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn a_profile_key_spends_sixty_units_a_minute() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = first_workspace(&db, &owner).await;
        let (a,): (i64,) =
            sqlx::query_as("SELECT id FROM profiles WHERE workspace_id = $1 ORDER BY id LIMIT 1")
                .bind(ws)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let key = tokens::create(&db, &owner, Environment::Live, key_for(a), None, T0)
            .await
            .unwrap()
            .token;
        // Heavy calls cost 3 units: 20 fit in the minute, the 21st waits.
        for i in 0..20 {
            let (status, _, body) = get(&app, &key, &format!("/v1/customers?{DEMO}&limit=1")).await;
            assert_eq!(status, StatusCode::OK, "call {i}: {body}");
        }
        let (status, headers, body) =
            get(&app, &key, &format!("/v1/customers?{DEMO}&limit=1")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
            "{body}"
        );
        let retry: i64 = headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1, "{retry}");
        assert_eq!(headers["x-ratelimit-remaining"], "0");
    })
    .await;
}

#[tokio::test]
async fn a_profile_key_sees_its_own_visitors_and_starts_with_the_apis_scopes() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let ws = first_workspace(&db, &owner).await;
        let profiles: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM profiles WHERE workspace_id = $1 ORDER BY id")
                .bind(ws)
                .fetch_all(&db.pool)
                .await
                .unwrap();
        let (a, b) = (profiles[0].0, profiles[1].0);
        let mut new = key_for(a);
        new.scopes = vec![Scope::AnalyticsRead, Scope::VisitorsRead, Scope::RealtimeRead];
        let key = tokens::create(&db, &owner, Environment::Live, new, None, T0)
            .await
            .unwrap()
            .token;

        // Traffic and visitors of profile A only.
        let (status, _, overview) = get(&app, &key, &format!("/v1/analytics/overview?{DEMO}")).await;
        assert_eq!(status, StatusCode::OK, "{overview}");
        let a_sessions = crate::support::count(
            &db,
            &format!("SELECT COUNT(*) FROM web_sessions WHERE profile_id = {a} AND day >= '2026-08-25' AND day <= '2026-11-22'"),
        )
        .await;
        assert_eq!(overview["sessions"], a_sessions);
        let (_, _, listed) = get(&app, &key, &format!("/v1/visitors?{DEMO}&limit=100")).await;
        let visitors = listed["visitors"].as_array().unwrap();
        assert!(!visitors.is_empty() && visitors.iter().all(|v| v["profile_id"] == a), "{listed}");
        let (b_visitor,): (i64,) =
            sqlx::query_as("SELECT id FROM web_visitors WHERE profile_id = $1 LIMIT 1")
                .bind(b)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let (status, _, _) = get(&app, &key, &format!("/v1/visitors/{b_visitor}/sessions")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "another profile's visitor is not found");
        for path in [
            format!("/v1/analytics/breakdowns/country?profile_id={b}"),
            format!("/v1/realtime?profile_id={b}"),
            format!("/v1/visitors?profile_id={b}"),
        ] {
            let (status, _, body) = get(&app, &key, &path).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("workspace_not_accessible")),
                "{path}"
            );
        }

        // A key for one profile cannot hold scopes no endpoint of one profile needs.
        for scope in [Scope::CreditsRead, Scope::ReportsRead, Scope::ReportsWrite, Scope::ConversionsWrite] {
            let mut new = key_for(a);
            new.scopes.push(scope);
            let refused = tokens::create(&db, &owner, Environment::Live, new, None, T0).await;
            let message = refused.expect_err("refused").to_string();
            assert!(message.contains(scope.as_str()), "{message}");
        }
    })
    .await;
}
