//! Abuse of the costly and shared parts: parallel password guesses, sign-up floods, spoofed
//! client addresses, scope-denial floods in the audit log, organization creation.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use leptos::server_fn::ServerFn;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::support::{
    founder, issue_token, on_each_engine, post_json, TestDb, ORIGIN, PASSWORD, T0,
};
use tollgate::model::{Binding, Scope};
use tollgate::services::throttle::MAX_FAILURES_PER_ACCOUNT;
use tollgate::services::{accounts, audit, organizations, ServiceError};

/// 50 wrong passwords for one account at once, from 50 addresses: the attempt is counted
/// before the password is checked, so at most the limit are verified (checking first and
/// recording after let the whole burst through).
#[tokio::test]
async fn parallel_wrong_sign_ins_verify_at_most_the_limit() {
    on_each_engine(|db| async move {
        accounts::create_user(&db, "ana@example.com", PASSWORD, T0)
            .await
            .unwrap();
        let mut guesses = tokio::task::JoinSet::new();
        for i in 0..50 {
            let db = db.clone();
            guesses.spawn(async move {
                let ip = format!("198.51.100.{i}");
                accounts::authenticate(&db, "ana@example.com", "wrong password!!", &ip, T0).await
            });
        }
        let (mut verified, mut throttled) = (0, 0);
        while let Some(outcome) = guesses.join_next().await {
            match outcome.unwrap() {
                Err(ServiceError::Invalid(_)) => verified += 1,
                Err(ServiceError::Throttled(_)) => throttled += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        // All fifty may be refused (each counts the others' reservations); never more than the
        // limit verified.
        assert!(
            verified <= MAX_FAILURES_PER_ACCOUNT,
            "{verified} guesses were verified"
        );
        assert_eq!(verified + throttled, 50);
        // The refused guesses left nothing behind; the verified ones count as failures.
        let (kept,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM throttle_attempts WHERE subject = 'account:ana@example.com'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(kept, verified);
    })
    .await;
}

fn sign_up_request(email: &str, forwarded_for: &str) -> Request<Body> {
    let form = format!(
        "email={}&password=correct+horse+battery&invite=",
        email.replace('@', "%40")
    );
    Request::post(tollgate::api::auth::SignUp::PATH)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "127.0.0.1:3999")
        .header(header::ORIGIN, ORIGIN)
        .header("x-forwarded-for", forwarded_for)
        .body(Body::from(form))
        .unwrap()
}

/// The router behind one trusted proxy, as `TOLLGATE_TRUSTED_PROXIES=1` runs it.
fn behind_a_proxy(db: &tollgate::storage::Db) -> Router {
    let mut state = crate::support::app_state(db, ORIGIN);
    state.config = Arc::new(tollgate::config::Config {
        trusted_proxies: 1,
        ..(*state.config).clone()
    });
    tollgate::http::router(state)
}

/// Behind a trusted proxy the client address is what the proxy appended: a client writing its
/// own first `X-Forwarded-For` entry changes neither the sign-up throttle's address nor the
/// audit log's.
#[tokio::test]
async fn a_spoofed_forwarded_address_changes_neither_the_throttle_nor_the_audit_ip() {
    on_each_engine(|db| async move {
        let app = behind_a_proxy(&db);
        let mut statuses = Vec::new();
        for i in 0..11 {
            let spoofed = format!("6.6.6.{i}, 203.0.113.5");
            let response = app
                .clone()
                .oneshot(sign_up_request(&format!("u{i}@example.com"), &spoofed))
                .await
                .unwrap();
            statuses.push(response.status());
        }
        assert!(
            statuses[..10]
                .iter()
                .all(|s| s.is_success() || s.is_redirection()),
            "{statuses:?}"
        );
        assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
        // Another address still signs up.
        let other = app
            .clone()
            .oneshot(sign_up_request("v@example.com", "6.6.6.6, 203.0.113.6"))
            .await
            .unwrap();
        assert!(other.status().is_redirection() || other.status().is_success());

        // A token created with a spoofed first entry is audited with the proxy's entry.
        let cookie =
            crate::support::sign_in_cookie(&app, "u0@example.com", "6.6.6.6, 203.0.113.5").await;
        let create = Request::post(tollgate::api::tokens::CreateToken::PATH)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:3999")
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, &cookie)
            .header("x-forwarded-for", "6.6.6.7, 203.0.113.5")
            .body(Body::from(
                "label=T&scopes[0]=analytics:read&reach=user&expiry=none",
            ))
            .unwrap();
        let response = app.clone().oneshot(create).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let (ip,): (Option<String>,) =
            sqlx::query_as("SELECT ip FROM audit_events WHERE action = 'token.created'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(ip.as_deref(), Some("203.0.113.5"));
    })
    .await;
}

/// A burst of sign-ups (argon2 each) beside `/mcp` calls on a two-thread runtime: every
/// call is answered, and every sign-up too; a taken email is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_keeps_answering_through_a_stream_of_sign_ups() {
    let test_db = TestDb::sqlite().await;
    let db = test_db.db().clone();
    let app = behind_a_proxy(&db);
    let owner = founder(&db, "owner@example.com").await;
    let token = issue_token(
        &db,
        &owner,
        vec![Scope::AnalyticsRead],
        Binding::Organization,
        None,
    )
    .await;
    let workspace = crate::support::first_workspace(&db, &owner).await;

    // Each sign-up also writes its organization's demo dataset in one transaction: on SQLite
    // they queue for the one writer, so the stream is kept to what that queue drains in time.
    let mut sign_ups = tokio::task::JoinSet::new();
    for i in 0..16 {
        let app = app.clone();
        sign_ups.spawn(async move {
            let from = format!("203.0.113.5, 198.51.100.{i}");
            let response = app
                .oneshot(sign_up_request(&format!("stream{i}@example.com"), &from))
                .await
                .unwrap();
            response.status()
        });
    }
    let mut failures = Vec::new();
    for id in 0..30 {
        let call = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": "get_performance_summary", "arguments": { "workspace_id": workspace } }
        });
        let (status, _, body) = post_json(
            &app,
            "/mcp",
            Some(&token),
            &[("accept", "application/json, text/event-stream")],
            call,
        )
        .await;
        if status != StatusCode::OK || body["result"]["isError"] != Value::Bool(false) {
            failures.push(format!("{status} {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    while let Some(status) = sign_ups.join_next().await {
        let status = status.unwrap();
        assert!(status.is_redirection() || status.is_success(), "{status}");
    }
    let taken = app
        .clone()
        .oneshot(sign_up_request(
            "stream0@example.com",
            "203.0.113.5, 198.51.100.200",
        ))
        .await
        .unwrap();
    assert_eq!(taken.status(), StatusCode::CONFLICT);
}

/// A token refused a scope in a loop: the audit log gets one row per token, tool, scope and
/// minute with a count, not one per call; and the log is read a page at a time.
#[tokio::test]
async fn scope_denials_are_recorded_once_a_minute_with_a_count_and_the_log_pages() {
    on_each_engine(|db| async move {
        let app = tollgate::http::router(crate::support::app_state(&db, ORIGIN));
        let owner = founder(&db, "owner@example.com").await;
        let token = issue_token(&db, &owner, vec![Scope::CreditsRead], Binding::Organization, None).await;
        let workspace = crate::support::first_workspace(&db, &owner).await;
        for _ in 0..40 {
            let (status, _, _) = post_json(
                &app,
                "/v1/tools/get_performance_summary",
                Some(&token),
                &[],
                json!({ "workspace_id": workspace }),
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
        let log = audit::page(&db, &owner, tollgate::model::AuditFilter::default(), None).await.unwrap().rows;
        let denials: Vec<_> = log.iter().filter(|r| r.action == "token.scope_denied").collect();
        // Forty calls within a minute or two: at most two rows, counting all forty.
        assert!((1..=2).contains(&denials.len()), "{denials:?}");
        assert_eq!(denials.iter().map(|r| r.repeats).sum::<i64>(), 40);

        // 250 more events: pages of 100, newest first, each continuing the one before.
        for i in 0..250 {
            sqlx::query(
                "INSERT INTO audit_events (org_id, action, subject, created_at) VALUES ($1, 'test.event', $2, $3)",
            )
            .bind(owner.org_id)
            .bind(format!("event {i}"))
            .bind(T0 + i)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        let (mut seen, mut before, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = audit::page(&db, &owner, tollgate::model::AuditFilter::default(), before).await.unwrap();
            assert!(page.rows.len() <= audit::PAGE_SIZE as usize);
            seen.extend(page.rows.iter().map(|r| r.id));
            pages += 1;
            match page.older {
                Some(older) => before = Some(older),
                None => break,
            }
        }
        let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE org_id = $1")
            .bind(owner.org_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(seen.len() as i64, total);
        assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats");
        assert_eq!(pages, (total + 99) / 100);
    })
    .await;
}

/// Each organization brings a demo dataset: a user owns at most the operator's number, also
/// when creating several at once, and creations are throttled per user.
#[tokio::test]
async fn organizations_a_user_may_own_are_capped_and_creation_is_throttled() {
    on_each_engine(|db| async move {
        let owner = founder(&db, "owner@example.com").await;
        let mut creations = tokio::task::JoinSet::new();
        for i in 0..4 {
            let db = db.clone();
            creations.spawn(async move {
                organizations::create_another(&db, owner.user_id, &format!("Org {i}"), 3, T0).await
            });
        }
        let mut created = 0;
        while let Some(outcome) = creations.join_next().await {
            match outcome.unwrap() {
                Ok(_) => created += 1,
                Err(ServiceError::Conflict(message)) => assert!(message.contains("own 3")),
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert_eq!(
            created, 2,
            "the founder owned one already; the cap is three"
        );

        // Another user, with a generous cap: the sixth creation within the hour is throttled.
        let busy = founder(&db, "busy@example.com").await;
        for i in 0..5 {
            organizations::create_another(&db, busy.user_id, &format!("B{i}"), 100, T0 + i)
                .await
                .unwrap();
        }
        let throttled = organizations::create_another(&db, busy.user_id, "B6", 100, T0 + 10).await;
        assert!(
            matches!(throttled, Err(ServiceError::Throttled(_))),
            "{throttled:?}"
        );
        organizations::create_another(&db, busy.user_id, "B6", 100, T0 + 3_600_001)
            .await
            .unwrap();
    })
    .await;
}
