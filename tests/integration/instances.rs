//! Three real server processes on one PostgreSQL database, calls spread across them: the
//! per-token cap, idempotency keys and the credit balance hold exactly, and a revocation
//! answered by one instance is honoured by all of them at once, also when their invalidation
//! listeners have just been cut off.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::support::{
    credit_balance, first_workspace, founder, free_port, issue_token, ledger_sum, start_server,
    wait_ready, TestDb, PASSWORD,
};
use tollgate::model::{Binding, Scope};
use tollgate::storage::now_ms;

struct Instances {
    ports: Vec<u16>,
    children: Vec<std::process::Child>,
}

impl Drop for Instances {
    fn drop(&mut self) {
        for child in &mut self.children {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

async fn call(
    client: &Client,
    port: u16,
    token: &str,
    tool: &str,
    args: serde_json::Value,
    idempotency_key: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut request = client
        .post(format!("http://127.0.0.1:{port}/v1/tools/{tool}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(args.to_string());
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("the instance answers");
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

async fn action_url(
    client: &Client,
    base: &str,
    page: &str,
    name: &str,
    cookie: Option<&str>,
) -> String {
    let mut request = client.get(format!("{base}{page}"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let html = request.send().await.unwrap().text().await.unwrap();
    let start = html
        .find(&format!("action=\"/api/{name}"))
        .expect("the form is on the page")
        + "action=\"".len();
    html[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn three_instances_share_limits_credits_keys_and_revocations() {
    if std::env::var("TOLLGATE_TEST_ENGINES").is_ok_and(|e| !e.contains("postgres")) {
        return; // several instances need PostgreSQL
    }
    let test_db = TestDb::postgres().await;
    let db = test_db.db().clone();
    let owner = founder(&db, "owner@example.com").await;
    let ws = first_workspace(&db, &owner).await;
    let workspace_token = |scopes: Vec<Scope>| {
        let (db, owner) = (db.clone(), owner.clone());
        async move { issue_token(&db, &owner, scopes, Binding::Workspace, Some(ws)).await }
    };
    let capped = workspace_token(vec![Scope::AnalyticsRead]).await;
    let mut reporters = Vec::new();
    for _ in 0..4 {
        reporters.push(workspace_token(vec![Scope::ReportsWrite]).await);
    }
    let revoked = workspace_token(vec![Scope::AnalyticsRead]).await;
    let cut_off = workspace_token(vec![Scope::AnalyticsRead]).await;

    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut instances = Instances {
        ports: Vec::new(),
        children: Vec::new(),
    };
    for _ in 0..3 {
        let port = free_port();
        instances.children.push(start_server(&test_db.url(), port));
        instances.ports.push(port);
    }
    for &port in &instances.ports {
        wait_ready(&client, port).await;
    }
    let ports = instances.ports.clone();
    let yesterday = tollgate::model::day_string(now_ms().div_euclid(86_400_000) - 1);
    let one_day = json!({ "workspace_id": ws, "start_date": yesterday, "end_date": yesterday });

    // The per-token cap: 200 parallel 1-unit calls, round robin over the instances.
    let started = Instant::now();
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let (client, token, args) = (client.clone(), capped.clone(), one_day.clone());
            let port = ports[i % 3];
            tokio::spawn(async move {
                call(&client, port, &token, "get_performance_summary", args, None)
                    .await
                    .0
            })
        })
        .collect();
    let mut admitted = 0;
    for call in calls {
        match call.await.unwrap() {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected status {other}"),
        }
    }
    // GCRA refills 2 units a second: what the test's own duration allows on top of the cap.
    let refilled = started.elapsed().as_millis() as i64 / 500;
    eprintln!("admitted {admitted} of 200 in {:?}", started.elapsed());
    assert!(
        (120..=120 + refilled).contains(&admitted),
        "admitted {admitted}: the cap of 120 (+{refilled} refilled) holds across instances"
    );

    // One idempotency key sent to all instances at once: one job, one charge.
    let calls: Vec<_> = (0..12)
        .map(|i| {
            let (client, token) = (client.clone(), reporters[0].clone());
            let port = ports[i % 3];
            tokio::spawn(async move {
                call(
                    &client,
                    port,
                    &token,
                    "generate_report",
                    json!({ "workspace_id": ws }),
                    Some("same-report"),
                )
                .await
            })
        })
        .collect();
    let mut jobs = Vec::new();
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        jobs.push(body["job_id"].as_i64().unwrap());
    }
    jobs.dedup();
    assert_eq!(jobs.len(), 1, "every duplicate got the first job");
    assert_eq!(credit_balance(&db, owner.org_id).await, 90);

    // 30 parallel dispatches on 90 credits at 10 each: exactly 9 are charged.
    let calls: Vec<_> = (0..30)
        .map(|i| {
            // Fresh tokens: the first one's report window already counts its dispatch.
            let (client, token) = (client.clone(), reporters[1 + i % 3].clone());
            let port = ports[(i / 3) % 3];
            tokio::spawn(async move {
                call(
                    &client,
                    port,
                    &token,
                    "generate_report",
                    json!({ "workspace_id": ws }),
                    None,
                )
                .await
            })
        })
        .collect();
    let mut dispatched = 0;
    for call in calls {
        let (status, body) = call.await.unwrap();
        match status {
            StatusCode::OK => dispatched += 1,
            StatusCode::PAYMENT_REQUIRED => {
                assert_eq!(body["error"]["code"], "insufficient_credits")
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(dispatched, 9);
    let (charges,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM credit_ledger WHERE kind = 'charge'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(charges, 10);
    let balance = credit_balance(&db, owner.org_id).await;
    assert!(balance >= 0);
    assert_eq!(balance, ledger_sum(&db, owner.org_id).await);

    // Revocation through one instance's dashboard: refused by every instance at once, though
    // each had the token cached.
    for &port in &ports {
        for _ in 0..2 {
            let (status, _) =
                call(&client, port, &revoked, "list_workspaces", json!({}), None).await;
            assert_eq!(status, StatusCode::OK);
        }
    }
    let base = format!("http://127.0.0.1:{}", ports[0]);
    let cookie = crate::support::sign_in_http(&client, &base, "owner@example.com", PASSWORD).await;
    let id = crate::support::token_id(&db, &revoked).await;
    let dialog = format!("/tokens?revoke={id}");
    let revoke = action_url(&client, &base, &dialog, "revoke_token", Some(&cookie)).await;
    let answer = client
        .post(format!("{base}{revoke}"))
        .header("origin", &base)
        .header("cookie", &cookie)
        .form(&[("token_id", id.to_string())])
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success() || answer.status().is_redirection(),
        "revoked: {}",
        answer.status()
    );
    for &port in ports.iter().rev() {
        let (status, body) =
            call(&client, port, &revoked, "list_workspaces", json!({}), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "instance {port}: {body}");
        assert_eq!(body["error"]["code"], "invalid_token");
    }

    // The invalidation channel dropped: a revocation whose notification nobody hears is
    // still honoured (each instance empties and bypasses its cache until it listens again).
    for &port in &ports {
        let (status, _) = call(&client, port, &cut_off, "list_workspaces", json!({}), None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (cut,): (i64,) = sqlx::query_as(
        "SELECT CAST(COUNT(pg_terminate_backend(pid)) AS BIGINT) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(cut, 3, "each instance had a listener");
    let id = crate::support::token_id(&db, &cut_off).await;
    tollgate::services::tokens::revoke(&db, &owner, id, None, now_ms())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for &port in &ports {
        let (status, _) = call(&client, port, &cut_off, "list_workspaces", json!({}), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "instance {port}");
    }
}
