//! What an operator relies on: the probes a load balancer asks, and a stop (SIGTERM) that
//! finishes the calls in flight and writes everything they metered.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::support::{
    call_server, count, founder, free_port, issue_token, on_each_engine, start_server, wait_ready,
    TestDb, ORIGIN,
};
use tollgate::model::{Binding, Scope};

async fn probe(app: &axum::Router, path: &str) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// The names of the checks `/readyz` says are failing.
fn failing(body: &Value) -> Vec<&str> {
    body["not_ready"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn readiness_names_what_is_not_ready_and_liveness_touches_nothing() {
    on_each_engine(|db| async move {
        let state = crate::support::app_state(&db, ORIGIN);
        let lifecycle = state.lifecycle.clone();
        let app = tollgate::http::router(state);
        assert_eq!(
            probe(&app, "/healthz").await,
            (StatusCode::OK, json!({ "status": "ok" }))
        );
        // On PostgreSQL the token-invalidation listener subscribes in the background.
        let mut ready = probe(&app, "/readyz").await;
        for _ in 0..100 {
            if ready.0 == StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            ready = probe(&app, "/readyz").await;
        }
        assert_eq!(ready, (StatusCode::OK, json!({ "ready": true, "not_ready": [] })));

        // A database that lacks this build's latest migration is not ready (from the next
        // check: checks run at most once a second).
        sqlx::query(
            "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (status, body) = probe(&app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(failing(&body), ["migrations"]);

        // A stopping server is not ready either, while it still answers.
        lifecycle.begin_draining();
        let (status, body) = probe(&app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(failing(&body), ["shutdown", "migrations"]);
        assert_eq!(probe(&app, "/healthz").await.0, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn probes_answer_when_every_in_flight_slot_is_taken() {
    let test_db = TestDb::sqlite().await;
    let mut state = crate::support::app_state(test_db.db(), ORIGIN);
    state.config = std::sync::Arc::new(tollgate::config::Config {
        max_in_flight: 0,
        ..(*state.config).clone()
    });
    let app = tollgate::http::router(state);
    assert_eq!(
        probe(&app, "/v1/tools").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(probe(&app, "/healthz").await.0, StatusCode::OK);
    assert_eq!(probe(&app, "/readyz").await.0, StatusCode::OK);
}

/// How a call sent to a stopping server ended.
enum Ended {
    Answered(StatusCode),
    /// No answer: refused at connect, or reset while it waited in the listen queue when the
    /// listener closed. A call the server had taken would have been metered: the counts below
    /// would then exceed the answers.
    NotAnswered,
}

#[tokio::test]
async fn sigterm_finishes_the_calls_in_flight_and_writes_what_they_metered() {
    let test_db = TestDb::sqlite().await;
    let db = test_db.db().clone();
    let owner = founder(&db, "owner@example.com").await;
    let ws = crate::support::first_workspace(&db, &owner).await;
    let scopes = vec![Scope::AnalyticsRead];
    let token = issue_token(&db, &owner, scopes, Binding::Organization, None).await;
    // A connection per call, as separate clients would make them.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let port = free_port();
    let mut server = start_server(&test_db.url(), port);
    wait_ready(&client, port).await;

    // Calls keep coming while the server is told to stop; one in three lacks its scope (a
    // refusal the writer records after answering).
    let calls: Vec<_> = (0..60u64)
        .map(|i| {
            let (client, token) = (client.clone(), token.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 10)).await;
                let tool = match i % 3 {
                    0 => "generate_report",
                    _ => "get_performance_summary",
                };
                match call_server(&client, port, &token, tool, json!({ "workspace_id": ws })).await
                {
                    Ok(response) => Ended::Answered(response.status()),
                    Err(_) => Ended::NotAnswered,
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let (mut served, mut refused_scope, mut not_answered) = (0i64, 0i64, 0);
    for call in calls {
        match call.await.unwrap() {
            Ended::Answered(StatusCode::OK) => served += 1,
            Ended::Answered(StatusCode::FORBIDDEN) => refused_scope += 1,
            Ended::Answered(other) => panic!("unexpected answer {other}"),
            Ended::NotAnswered => not_answered += 1,
        }
    }
    let exit = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "the server stops cleanly: {exit}");
    eprintln!("{served} served, {refused_scope} refused for scope, {not_answered} not answered");
    assert!(
        served > 0 && not_answered > 0,
        "the stop came while calls were arriving"
    );
    // Exactly the answered calls are metered: none was taken and then cut without an answer.

    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM usage_events").await,
        served
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM refusals").await,
        refused_scope
    );
}

/// The last step of a stop: refusals are counted after their answer, so the writer may still
/// hold some; its flush returns only once they are committed.
#[tokio::test]
async fn the_writers_flush_returns_once_everything_sent_before_is_committed() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let writer = tollgate::enforcement::writer::Writer::start(db.clone());
        for _ in 0..5 {
            writer.record_refusal(tollgate::enforcement::writer::Refusal {
                org_id: owner.org_id,
                token_id: 1,
                tool: "generate_report",
                code: "missing_scope",
                at: tollgate::storage::now_ms(),
            });
        }
        writer.flush().await.unwrap();
        let (refusals,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM refusals")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(refusals, 5);
        // With nothing queued, a flush answers at once.
        writer.flush().await.unwrap();
        assert!(writer.is_running());
    })
    .await;
}

/// `TOLLGATE_LOG_FORMAT=json`: one JSON object a line; a request's lines carry its id and its
/// route, never its path (an invite link's path is a secret). A bad value stops the start.
#[tokio::test]
async fn json_logs_carry_the_request_id_and_route_and_never_the_path() {
    let test_db = TestDb::sqlite().await;
    let port = free_port();
    let server = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .env("DATABASE_URL", test_db.url())
        .env("TOLLGATE_ADDR", format!("127.0.0.1:{port}"))
        .env("TOLLGATE_LOG_FORMAT", "json")
        .env("RUST_LOG", "info,tower_http=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    wait_ready(&client, port).await;
    let secret = "Zq7secretInviteCode0000000000000";
    let response = client
        .get(format!("http://127.0.0.1:{port}/invite/{secret}"))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let output = tokio::task::spawn_blocking(move || server.wait_with_output().unwrap())
        .await
        .unwrap();
    let logs = String::from_utf8(output.stdout).unwrap();
    assert!(
        !logs.contains(secret),
        "the invite code reached the log:\n{logs}"
    );
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).expect("each log line is one JSON object"))
        .collect();
    let answered = lines
        .iter()
        .find(|l| l["span"]["request_id"] == request_id.as_str() && l["fields"]["status"] == 200)
        .unwrap_or_else(|| panic!("no line for {request_id}:\n{logs}"));
    assert_eq!(answered["span"]["route"], "/invite/{code}");
    assert!(answered["fields"]["latency"].is_string());

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .env("DATABASE_URL", test_db.url())
        .env("TOLLGATE_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("TOLLGATE_LOG_FORMAT"));
}

/// The value of the sample `series` (name and labels, as Prometheus prints them) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// `TOLLGATE_METRICS_ADDR`: the Prometheus text on a port of its own, never on the public one;
/// calls by surface, tool and code, refusals by kind, latency by route, the writer's batches,
/// the token cache and the queues; no token or email in any of it.
#[tokio::test]
async fn metrics_count_calls_and_refusals_on_their_own_port_only() {
    let test_db = TestDb::sqlite().await;
    let db = test_db.db().clone();
    let owner = founder(&db, "metrics-owner@example.com").await;
    let ws = crate::support::first_workspace(&db, &owner).await;
    let token = issue_token(
        &db,
        &owner,
        vec![Scope::AnalyticsRead],
        Binding::Organization,
        None,
    )
    .await;
    let (port, metrics_port) = (free_port(), free_port());
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .env("DATABASE_URL", test_db.url())
        .env("TOLLGATE_ADDR", format!("127.0.0.1:{port}"))
        .env("TOLLGATE_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("RUST_LOG", "error")
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    wait_ready(&client, port).await;

    let args = json!({ "workspace_id": ws });
    for _ in 0..3 {
        let ok = call_server(
            &client,
            port,
            &token,
            "get_performance_summary",
            args.clone(),
        )
        .await;
        assert_eq!(ok.unwrap().status(), 200);
    }
    let denied = call_server(&client, port, &token, "check_credits", args.clone()).await;
    assert_eq!(denied.unwrap().status(), 403);
    let anonymous = call_server(&client, port, "", "get_performance_summary", args.clone()).await;
    assert_eq!(anonymous.unwrap().status(), 401);
    // A stateless (2026-07-28) MCP call: no initialize needed.
    let mcp = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "get_performance_summary", "arguments": args,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": { "name": "metrics-test", "version": "1" }
        } } });
    let answered = client
        .post(format!("http://127.0.0.1:{port}/mcp"))
        .bearer_auth(&token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "get_performance_summary")
        .header("content-type", "application/json")
        .body(mcp.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);

    let public = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        public.status(),
        200,
        "metrics are not on the public port unless asked"
    );
    let scrape = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    let calls = |labels: &str| sample(&text, &format!("tollgate_tool_calls_total{{{labels}}}"));
    let ok = r#"surface="http",tool="get_performance_summary",code="ok""#;
    assert_eq!(calls(ok), Some(3.0), "{text}");
    let denied = r#"surface="http",tool="check_credits",code="missing_scope""#;
    assert_eq!(calls(denied), Some(1.0));
    let over_mcp = r#"surface="mcp",tool="get_performance_summary",code="ok""#;
    assert_eq!(calls(over_mcp), Some(1.0));
    let refusals = |code: &str| {
        sample(
            &text,
            &format!(r#"tollgate_refusals_total{{surface="http",code="{code}"}}"#),
        )
    };
    assert_eq!(refusals("missing_scope"), Some(1.0));
    assert_eq!(refusals("missing_token"), Some(1.0));
    let route = r#"tollgate_http_request_duration_seconds_count{method="POST",route="/v1/tools/{name}",status="200"}"#;
    assert_eq!(sample(&text, route), Some(3.0));
    // Every admission was written in some batch: the batch sizes add up to at least them.
    let batched = sample(&text, "tollgate_writer_batch_size_sum").unwrap();
    assert!(batched >= 4.0, "{batched}");
    assert!(sample(&text, "tollgate_writer_commit_duration_seconds_count").unwrap() >= 1.0);
    let lookups = sample(&text, r#"tollgate_token_cache_lookups_total{result="hit"}"#)
        .unwrap_or(0.0)
        + sample(
            &text,
            r#"tollgate_token_cache_lookups_total{result="miss"}"#,
        )
        .unwrap_or(0.0);
    assert!(lookups >= 5.0, "{lookups}");
    assert_eq!(
        sample(&text, r#"tollgate_queue_depth{queue="jobs"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"tollgate_queue_depth{queue="outbox"}"#),
        Some(0.0)
    );
    assert!(
        !text.contains(&token) && !text.contains("metrics-owner"),
        "{text}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
